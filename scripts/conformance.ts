/**
 * `npm run conformance`: every committed QEMU recording (test/fixtures/qemu-recordings/) held against irqpath
 * (src/tools/recording-conformance.ts), printed as the Markdown table of docs/conformance.md. `--gaps` prints the
 * named gaps instead, one line each, in the format of test/fixtures/qemu-recordings-known-gaps.txt.
 * test/tools/qemu-oracle.test.ts checks that docs/conformance.md holds this table.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { recordingConformance, type RecordingConformance, type RecordingFiles } from '../src/tools/recording-conformance.ts';

export const RECORDINGS = fileURLToPath(new URL('../test/fixtures/qemu-recordings/', import.meta.url));

export function recordingNames(): string[] {
  return readdirSync(RECORDINGS, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(RECORDINGS, e.name, 'provenance.json')))
    .map((e) => e.name)
    .sort();
}

/** A recording's files; the whole trace (trace-full.log.gz) when there is one, else the trimmed trace.log. */
export function readRecording(name: string): RecordingFiles {
  const file = (f: string) => (existsSync(join(RECORDINGS, name, f)) ? readFileSync(join(RECORDINGS, name, f), 'utf8') : undefined);
  const full = join(RECORDINGS, name, 'trace-full.log.gz');
  return {
    name,
    provenance: file('provenance.json')!,
    console: file('console.txt'),
    trace: existsSync(full) ? gunzipSync(readFileSync(full)).toString('utf8') : file('trace.log'),
    irt: file('irt.json'),
    monitorInfoPic: file('monitor-info-pic.txt'),
  };
}

export function conformanceResults(): RecordingConformance[] {
  return recordingNames().map((n) => recordingConformance(readRecording(n)));
}

/** The comment lines that open test/fixtures/qemu-recordings-known-gaps.txt. */
const GAPS_HEADER = [
  '# Named gaps between irqpath and the QEMU recordings (test/tools/qemu-oracle.test.ts): recording | check | row | reason.',
  '# Regenerate with: npx tsx scripts/conformance.ts --gaps > test/fixtures/qemu-recordings-known-gaps.txt',
];

/** One gap per line: `recording | check | row | reason`. */
export function gapLines(results: RecordingConformance[]): string[] {
  return results.flatMap((r) => r.gaps.map((g) => `${r.name} | ${g.check} | ${g.row} | ${g.reason}`));
}

const pair = (a: number, b: number) => `${a} / ${b}`;

export function conformanceTable(results: RecordingConformance[]): string {
  const head = [
    '| recording | decision lines agree / differ | requests replayed | false divergences (qemu profile) | hardware would differ | IRTE rows agree / gap | whole tables: IRTEs agree / differ | MSI-X entries and RTEs agree / differ | /proc/interrupts rows agree / gap |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const body = results.map((r) => {
    const cells = [
      r.name,
      r.decision ? pair(r.decision.agree, r.decision.differ) : r.booted ? '—' : 'not booted',
      r.replay ? String(r.replay.requests) : '—',
      r.replay ? String(r.replay.falseDivergences) : '—',
      r.replay ? String(r.replay.hardwareDifferences) : '—',
      r.irte ? pair(r.irte.agree, r.irte.gap) : '—',
      r.tables ? pair(r.tables.agree, r.tables.differ) : '—',
      r.sources ? pair(r.sources.agree, r.sources.differ) : '—',
      r.interrupts ? pair(r.interrupts.agree, r.interrupts.gap) : '—',
    ];
    return `| ${cells.join(' | ')} |`;
  });
  return [...head, ...body].join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const results = conformanceResults();
  process.stdout.write(process.argv.includes('--gaps') ? [...GAPS_HEADER, ...gapLines(results)].join('\n') + '\n' : conformanceTable(results));
}
