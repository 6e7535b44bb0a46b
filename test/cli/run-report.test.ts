/**
 * The shape of `irqpath run`'s text report: it opens with the summary (the total, then one line per run), ends with
 * the total again, and has a `--summary` form (only the opening) and a `--quiet` form (only the total, plus the full
 * report of any UNEXPECTED run). Counts take the right plural, and boot-log lines keep the kernel's own text with the
 * repeat count after it, so a grep for the real line finds it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { bootLogExcerpt } from '../../src/scenario/report.ts';

async function run(...args: string[]): Promise<{ code: number; lines: string[] }> {
  let out = '';
  const code = await runCli(['node', 'irqpath', 'run', '--no-color', ...args], { writeOut: (t) => (out += t) });
  return { code, lines: out.replace(/\n$/, '').split('\n') };
}

const dir = mkdtempSync(join(tmpdir(), 'irqpath-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Linux programs the MSI-X source for CPU 1 as the driver asked; the file claims it reaches CPU 0, which cannot hold.
const WRONG = join(dir, 'wrong.yaml');
writeFileSync(
  WRONG,
  `title: claims the wrong CPU
machine: { cpus: 2, devices: [{ bdf: '00:03.0', msix: { entries: 1 } }] }
guest: { os: linux }
sources:
  - { id: q, kind: msix, device: '00:03.0', vector: 0, cpu: 1 }
expect:
  verdict: fixed
  sources: { q: { reaches: { cpu: 0 } } }
`,
);

const TOTAL = /^\d+ scenario runs?: \d+ reproduced, \d+ fixed, \d+ unexpected in [\d.]+ s$/;

describe('irqpath run report', () => {
  it('opens with the total and one line per run, and ends with the total', async () => {
    const { code, lines } = await run('05');
    expect(code).toBe(0);
    expect(lines[0]).toMatch(/^2 scenario runs: 1 reproduced, 1 fixed, 0 unexpected in [\d.]+ s$/);
    expect(lines[1]).toMatch(/^  REPRODUCED  05-windows-amd-cpu-intel-ir-only  +Windows on an AMD CPU/);
    expect(lines[2]).toMatch(/^  FIXED       05-windows-amd-cpu-intel-ir-only \[fixed-windows\]  /);
    expect(lines[3]).toBe('');
    expect(lines[4]).toMatch(/^━━ 05-windows-amd-cpu-intel-ir-only  REPRODUCED/);
    expect(lines.at(-1)).toMatch(/^2 scenario runs: 1 reproduced, 1 fixed, 0 unexpected/);
  });

  it('says "1 scenario run" for one', async () => {
    const { lines } = await run('01', '--quiet');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^1 scenario run: 1 reproduced, 0 fixed, 0 unexpected in [\d.]+ s$/);
  });

  it('--summary prints only the opening summary', async () => {
    const { code, lines } = await run('05', '--summary');
    expect(code).toBe(0);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(TOTAL);
  });

  it('--quiet prints the total, then the full report of each UNEXPECTED run only (and exits 1)', async () => {
    const { code, lines } = await run('01', WRONG, '--quiet');
    expect(code).toBe(1);
    expect(lines[0]).toMatch(/^2 scenario runs: 1 reproduced, 0 fixed, 1 unexpected/);
    expect(lines.filter((l) => l.startsWith('━━ '))).toEqual([expect.stringMatching(/^━━ wrong  UNEXPECTED/)]);
  });

  it('--summary and --quiet do not combine with --json', async () => {
    expect((await run('05', '--summary', '--json')).code).toBe(2);
    expect((await run('05', '--quiet', '--json')).code).toBe(2);
  });

  it('keeps the kernel\'s line "ACPI: x2apic entry ignored" and counts it after: 300 CPUs, 256 online → 44', async () => {
    const { lines } = await run('01');
    expect(lines).toContain('   | ACPI: x2apic entry ignored  (×44)');
  });
});

describe('bootLogExcerpt', () => {
  it('shows each distinct line once, in order, with its count when repeated', () => {
    expect(bootLogExcerpt(['a', 'b', 'b', 'c', 'b'])).toEqual(['a', 'b  (×3)', 'c']);
  });

  it('shows 12 distinct lines, counts the rest, and still shows a repeated line from the rest', () => {
    const log = [...Array.from({ length: 14 }, (_, i) => `line ${i}`), 'again', 'again'];
    expect(bootLogExcerpt(log)).toEqual([...Array.from({ length: 12 }, (_, i) => `line ${i}`), '… 2 more lines', 'again  (×2)']);
  });
});
