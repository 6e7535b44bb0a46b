/**
 * Coverage over a whole stress campaign (scripts/stress.ts): each round's files report, per property, how many
 * sequences ran and how often each outcome they are about was reached (campaign-stats.ts); the sums are judged once,
 * at the end. An outcome never reached in at least as many sequences as the file's own default run means its
 * generators cannot reach it: a mismatch. With fewer sequences in all there is not enough to judge: a note.
 */
import type { FileStats } from './campaign-stats.ts';

interface Sum {
  runs: number;
  judgeFrom: number;
  required: string[];
  seen: Map<string, number>;
}

export class CampaignCoverage {
  private readonly sums = new Map<string, Sum>();

  add(stats: Pick<FileStats, 'file' | 'coverage'>): void {
    for (const c of stats.coverage ?? []) {
      const key = `${stats.file}: ${c.property}`;
      const sum = this.sums.get(key) ?? { runs: 0, judgeFrom: c.judgeFrom, required: c.required, seen: new Map<string, number>() };
      sum.runs += c.runs;
      for (const [what, n] of Object.entries(c.seen)) sum.seen.set(what, (sum.seen.get(what) ?? 0) + n);
      this.sums.set(key, sum);
    }
  }

  /** Mismatches (outcomes never reached in enough sequences) and notes (not enough sequences to judge). */
  verdict(): { mismatches: string[]; notes: string[] } {
    const mismatches: string[] = [];
    const notes: string[] = [];
    for (const [key, c] of this.sums) {
      const missing = c.required.filter((what) => (c.seen.get(what) ?? 0) === 0);
      if (missing.length === 0) continue;
      if (c.runs < c.judgeFrom) notes.push(`${key}: not enough runs to judge coverage (${c.runs} sequences, ${c.judgeFrom} needed): not reached yet: ${missing.join(', ')}`);
      else mismatches.push(`${key}: never exercised in ${c.runs} sequences: ${missing.join(', ')}`);
    }
    return { mismatches, notes };
  }
}
