/**
 * How `npm run stress` judges coverage (test/stress/campaign-coverage.ts). Found running it with a tiny `--runs`:
 * every round failed on the model tests' "never exercised" check, reported as a mismatch, although two sequences
 * cannot be expected to reach a stale cache entry. Coverage is now summed over the rounds and judged against the
 * sequences the file itself needs (its default run count).
 */
import { describe, expect, it } from 'vitest';
import { CampaignCoverage } from './campaign-coverage.ts';

const round = (runs: number, seen: Record<string, number>) => ({
  file: 'vtd-remapping',
  coverage: [{ property: 'random sequences', runs, judgeFrom: 150, required: ['remapped', 'stale IEC entry used'], seen }],
});

describe('campaign coverage', () => {
  it('not enough runs to judge coverage: 2 sequences that miss an outcome are a note, not a mismatch', () => {
    const c = new CampaignCoverage();
    c.add(round(2, { remapped: 3 }));
    expect(c.verdict()).toEqual({
      mismatches: [],
      notes: ['vtd-remapping: random sequences: not enough runs to judge coverage (2 sequences, 150 needed): not reached yet: stale IEC entry used'],
    });
  });

  it('summed over the rounds: what one round missed another reached', () => {
    const c = new CampaignCoverage();
    c.add(round(100, { remapped: 3 }));
    c.add(round(100, { 'stale IEC entry used': 1 }));
    expect(c.verdict()).toEqual({ mismatches: [], notes: [] });
  });

  it('enough sequences in all and an outcome never reached: a mismatch', () => {
    const c = new CampaignCoverage();
    c.add(round(100, { remapped: 3 }));
    c.add(round(100, { remapped: 5 }));
    expect(c.verdict()).toEqual({ mismatches: ['vtd-remapping: random sequences: never exercised in 200 sequences: stale IEC entry used'], notes: [] });
  });
});
