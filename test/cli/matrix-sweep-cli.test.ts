/**
 * `irqpath matrix` streaming: CSV and JSON lines on stdout, `--resume` runs exactly the cells a file does not hold
 * yet (a line cut short counts as not held), and the report follows.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { CSV_HEADER, parseMatrixRows } from '../../src/scenario/matrix-rows.ts';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'irqpath', 'matrix', ...args], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
  return { code, out, err };
}

// Four cells: Linux on Intel CPUs with x2APIC without an IOMMU, extension off and on, at 64 and 300 vCPUs.
const slice = ['--guest', 'linux', '--vendor', 'intel', '--iommu', 'none', '--ext', 'off,on', '--workarounds', 'off', '--cpus', '64,300', '--x2apic', 'on', '--jobs', '1'];
const names = ['linux-intel-none-64', 'linux-intel-none-300', 'linux-intel-none-ext-64', 'linux-intel-none-ext-300'];

describe('matrix streaming and resume', () => {
  it('--format jsonl writes one row per cell; --resume runs only the cells the file lacks', async () => {
    const first = await cli(...slice, '--format', 'jsonl', '--report');
    expect(first.code).toBe(0);
    const rows = parseMatrixRows(first.out);
    expect(rows.map((r) => r.cell)).toEqual(names);
    // Without the extension, 300 vCPUs on no IOMMU leave APIC IDs above 255 unreachable (today's words for it).
    expect(rows.find((r) => r.cell === 'linux-intel-none-300')?.mode).toBe('CPUs>255 offline');
    // The report ends a sweep that streams: on stderr.
    expect(first.err).toContain('3 of 4 cells ok; 1 fail in 1 way:');

    // An interrupted run: two whole lines and one cut short.
    const lines = first.out.split('\n');
    const file = join(mkdtempSync(join(tmpdir(), 'irqpath-sweep-')), 'out.jsonl');
    writeFileSync(file, `${lines[0]}\n${lines[2]}\n${lines[1].slice(0, 20)}`);
    const resumed = await cli(...slice, '--format', 'jsonl', '--report', '--resume', file);
    expect(resumed.code).toBe(0);
    expect(parseMatrixRows(resumed.out).map((r) => r.cell)).toEqual([names[1], names[3]]);
    // The report covers the recorded cells too.
    expect(resumed.err).toContain('3 of 4 cells ok');
  }, 60_000);

  it('--format csv writes the header once; resuming a CSV file does not repeat it', async () => {
    const first = await cli(...slice, '--format', 'csv');
    const lines = first.out.split('\n');
    expect(lines[0]).toBe(CSV_HEADER);
    expect(parseMatrixRows(first.out).map((r) => r.cell)).toEqual(names);
    const file = join(mkdtempSync(join(tmpdir(), 'irqpath-sweep-')), 'out.csv');
    writeFileSync(file, `${lines[0]}\n${lines[1]}\n${lines[2]}\n${lines[3]}\n`);
    const resumed = await cli(...slice, '--format', 'csv', '--resume', file);
    expect(resumed.out.split('\n')[0]).not.toBe(CSV_HEADER);
    expect(parseMatrixRows(`${CSV_HEADER}\n${resumed.out}`).map((r) => r.cell)).toEqual([names[3]]);
  }, 60_000);

  it('--resume without --format and a bad --format are usage errors', async () => {
    const a = await cli('--resume', 'x.jsonl');
    expect(a.code).toBe(2);
    expect(a.err).toContain('--resume needs --format csv or --format jsonl');
    const b = await cli('--format', 'xml');
    expect(b.code).toBe(2);
    expect(b.err).toContain('--format "xml" is not one of csv, jsonl');
  });
});
