/**
 * The command line as a user and a CI meet it: one number syntax for every command, output files that cannot be
 * written, Perfetto flows across several runs, Mermaid output that pastes into Markdown, conflicting formats,
 * colour conventions, and the matrix's axes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { shouldColor, type ColorStream } from '../../src/cli/color.ts';
import { progressLine } from '../../src/cli/matrix-command.ts';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'irqpath', ...args], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'irqpath-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

describe('numbers: one parser for every command (0x… is hex, anything else decimal)', () => {
  it('log dmar reads 37 as decimal: SID 37 = 0x25 = bus 0, device 4, function 5', async () => {
    const r = await cli('log', 'dmar', '--frcd', '37', '0');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Request device [00:04.5]'); // read as hex, 0x37 would be 00:06.7
  });

  it('log dmar reads a decimal and a hex spelling of the same record the same way', async () => {
    // Fault reason 0x25 in bits 39:32, SID 0x18 (00:03.0): 0x25_0000_0018 = 37 · 2^32 + 24 = 158913789976.
    const hex = await cli('log', 'dmar', '--frcd', '0x2500000018', '0');
    const dec = await cli('log', 'dmar', '--frcd', '158913789976', '0');
    expect(hex.out).toContain('Request device [00:03.0] fault index 0x0 [fault reason 0x25]');
    expect(dec.out).toBe(hex.out);
  });

  it('log amdvi takes decimal dwords too, and names a bad one', async () => {
    // 0x8a000000 = 2315255808 (event code 8 in 31:28, flags 0xa00 in 27:16).
    const r = await cli('log', 'amdvi', '--entry', '0', '2315255808', '0xf8000000', '0xfffffffd');
    expect(r.out).toContain('Event logged [INVALID_DEVICE_REQUEST device=0000:00:00.0 pasid=0x00000 address=0xfffffffdf8000000 flags=0x0a00]');
    const bad = await cli('log', 'amdvi', '--entry', '0', '1', 'ff', '0');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--entry dword 2: 'ff' is not an unsigned number: use hex (0x...) or decimal");
  });

  it('matrix --cpus takes hex too; a repeated count is one column (1 cell, not 2)', async () => {
    const args = ['matrix', '--guest', 'linux', '--vendor', 'intel', '--iommu', 'none', '--ext', 'on', '--workarounds', 'off', '--no-color'];
    const r = await cli(...args, '--cpus', '300,300,0x12c');
    expect(r.code).toBe(0);
    expect(r.out).toContain('1 of 1 cells deliver every interrupt');
    const bad = await cli(...args, '--cpus', '1');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('vCPU count "1" must be from 2 to 32768');
  });
});

describe('irqpath run output', () => {
  it('an unwritable --perfetto path exits 2 with a message, not a stack trace', async () => {
    const path = join(dir, 'no-such-dir', 'trace.json');
    const r = await cli('run', '04', '--perfetto', path);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`irqpath: --perfetto ${path}: cannot write the file (ENOENT)\n`);
  });

  it('Perfetto flows of `run all` are unique across runs, each starts once, ends once, and stays in one run', async () => {
    const path = join(dir, 'all.json');
    const r = await cli('run', 'all', '--perfetto', path, '--json');
    expect(r.code).toBe(0);
    const events = (JSON.parse(readFileSync(path, 'utf8')) as { traceEvents: { ph: string; id?: number; ts?: number; args?: { run: number } }[] }).traceEvents;
    const runAt = new Map(events.filter((e) => e.ph === 'X').map((e) => [e.ts, e.args!.run]));
    const flows = new Map<number, { phases: string[]; runs: Set<number> }>();
    for (const e of events.filter((x) => x.ph === 's' || x.ph === 't' || x.ph === 'f')) {
      const f = flows.get(e.id!) ?? { phases: [], runs: new Set<number>() };
      f.phases.push(e.ph);
      f.runs.add(runAt.get(e.ts)!);
      flows.set(e.id!, f);
    }
    // One Perfetto run per scenario run (every file and its variants, as --json lists them), each with at least one
    // multi-hop interrupt. Counted from the report rather than written down, so adding a variant does not break it.
    const runs = (JSON.parse(r.out) as unknown[]).length;
    expect(runs).toBeGreaterThanOrEqual(36);
    expect(new Set(runAt.values()).size).toBe(runs);
    expect(flows.size).toBeGreaterThan(runs);
    for (const [id, f] of flows) {
      expect(f.phases[0], `flow ${id}`).toBe('s');
      expect(f.phases.at(-1), `flow ${id}`).toBe('f');
      expect(f.phases.filter((p) => p === 's' || p === 'f'), `flow ${id}`).toHaveLength(2);
      expect(f.runs.size, `flow ${id}`).toBe(1);
    }
  });

  it('--mermaid prints fenced diagrams with the %% caption inside the fence', async () => {
    const r = await cli('run', '05', '--mermaid');
    const blocks = r.out.split('\n\n').filter((b) => b.trim() !== '');
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      const lines = block.trim().split('\n');
      expect(lines[0]).toBe('```mermaid');
      expect(lines[1]).toBe('sequenceDiagram');
      expect(lines[2]).toMatch(/^ {2}%% 05-windows-amd-cpu-intel-ir-only( \[[\w-]+\])? — [\w-]+: /);
      expect(lines.at(-1)).toBe('```');
    }
  });

  it('--json with --mermaid is refused (exit 2) rather than silently dropping the JSON', async () => {
    const r = await cli('run', '05', '--json', '--mermaid');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain("option '--mermaid' cannot be used with option '--json'");
  });
});

describe('colour', () => {
  const tty = { isTTY: true, hasColors: () => true };
  const pipe = { isTTY: false };
  const cases: [ColorStream, boolean, NodeJS.ProcessEnv, boolean][] = [
    [tty, true, {}, true],
    [pipe, true, {}, false],
    [tty, true, { NO_COLOR: '1' }, false],
    [tty, true, { NO_COLOR: '' }, true], // no-color.org: only a non-empty value counts
    [tty, true, { NODE_DISABLE_COLORS: '1' }, false],
    [pipe, true, { FORCE_COLOR: '1' }, true],
    [pipe, true, { FORCE_COLOR: '' }, true],
    [tty, true, { FORCE_COLOR: '0' }, false],
    [tty, true, { FORCE_COLOR: '1', NO_COLOR: '1' }, true], // Node's order: FORCE_COLOR is checked first
    [tty, false, { FORCE_COLOR: '1' }, false], // --no-color is the user's last word
    [{ isTTY: true, hasColors: () => false }, true, {}, false], // TERM=dumb and friends
  ];
  it.each(cases)('stream %o, flag %s, env %o → %s', (stream, flag, env, expected) => {
    expect(shouldColor(stream, flag, env)).toBe(expected);
  });

  it('FORCE_COLOR colours the report, NO_COLOR and --no-color keep it plain', async () => {
    vi.stubEnv('NO_COLOR', undefined);
    vi.stubEnv('FORCE_COLOR', '1');
    expect((await cli('run', '04')).out).toContain('\x1b[32mFIXED\x1b[39m');
    expect((await cli('run', '04', '--no-color')).out).not.toContain('\x1b[');
    vi.stubEnv('FORCE_COLOR', undefined);
    vi.stubEnv('NO_COLOR', '1');
    expect((await cli('run', '04')).out).not.toContain('\x1b[');
  });
});

describe('matrix progress', () => {
  it('says how far the grid is and which cell finished', () => {
    expect(progressLine(7, 256, { guest: 'windows', vendor: 'amd', iommu: 'intel-ir', extension: true, workarounds: false, cpus: 1024 })).toBe('[  7/256] windows amd intel-ir ext-dest 1024 vCPUs');
  });

  async function matrixWithStderr(isTTY: boolean) {
    const saved = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    Object.defineProperty(process.stderr, 'isTTY', { value: isTTY, configurable: true });
    try {
      return await cli('matrix', '--guest', 'linux', '--vendor', 'intel', '--iommu', 'none', '--workarounds', 'off', '--cpus', '64', '--x2apic', 'on', '--no-color');
    } finally {
      if (saved) Object.defineProperty(process.stderr, 'isTTY', saved);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
    }
  }

  it('is rewritten in place on a terminal, once per cell, and erased at the end', async () => {
    const r = await matrixWithStderr(true);
    // 2 cells (--ext off,on); each line starts with CR and ends with "erase to end of line".
    expect(r.err).toBe('\r[1/2] linux intel none 64 vCPUs\x1b[K\r[2/2] linux intel none ext-dest 64 vCPUs\x1b[K\r\x1b[K');
    expect(r.out).toContain('2 of 2 cells');
  });

  it('is not written when stderr is not a terminal', async () => {
    expect((await matrixWithStderr(false)).err).toBe('');
  });
});
