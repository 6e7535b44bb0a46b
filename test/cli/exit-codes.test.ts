/**
 * `irqpath run` exit codes as a CI sees them (docs/scenario-format.md, "Verdicts, exit codes and errors"): 0 when every run shows what its scenario states,
 * 1 when any run is UNEXPECTED, 2 for input irqpath cannot use — with the field path and no stack trace. The first
 * tests spawn the real CLI (the bug was in the process entry point overwriting the code); the table runs each bad
 * scenario through `runCli`, the function the entry point calls.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'irqpath-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function scenarioFile(text: string): string {
  const path = join(dir, `s${counter++}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** Run the CLI from source in a child process, as `npx irqpath` would (tsx as an in-process loader). */
function spawnCli(...args: string[]): { code: number | null; out: string; err: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'irqpath', ...args], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
  return { code, out, err };
}

// A 4-CPU machine with an MSI-X device (2 entries) and an MSI device (1 vector); the base scenario runs FIXED.
const MACHINE = `machine:
  cpus: 4
  devices:
    - { bdf: '00:03.0', msix: { entries: 2 } }
    - { bdf: '00:04.0', msi: { vectors: 1 } }
`;
const REST = `guest: { os: linux }
sources:
  - { id: a, kind: msix, device: '00:03.0', vector: 1, cpu: 1 }
  - { id: b, kind: msi, device: '00:04.0', cpu: 2 }
  - { id: p, kind: ioapic, pin: 3, cpu: 3 }
expect:
  verdict: fixed
  sources: { a: intended, b: intended, p: intended }
`;
const GOOD = `title: t\n${MACHINE}${REST}`;

describe('irqpath run exit codes (spawned CLI)', () => {
  it('exits 0 when every run reproduces or fixes what its file states', () => {
    const r = spawnCli('run', scenarioFile(GOOD));
    expect(r.err).toBe('');
    expect(r.out).toContain('FIXED');
    expect(r.code).toBe(0);
  });

  it('exits 1 when a run is UNEXPECTED, in the text report and with --json', () => {
    // Linux programs source a for CPU 1 as the driver asked; claiming it reaches CPU 3 cannot hold.
    const file = scenarioFile(GOOD.replace('a: intended', 'a: { reaches: { cpu: 3 } }'));
    const text = spawnCli('run', file);
    expect(text.out).toContain('UNEXPECTED');
    expect(text.code).toBe(1);
    const json = spawnCli('run', file, '--json');
    expect((JSON.parse(json.out) as { verdict: string }[])[0].verdict).toBe('UNEXPECTED');
    expect(json.code).toBe(1);
  });

  it('exits 2 for a scenario that does not validate, naming the field, without a stack trace', () => {
    const file = scenarioFile(GOOD.replace("device: '00:03.0'", "device: '00:09.0'"));
    const r = spawnCli('run', file);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    // Line 9 of the file, column 34: where the value '00:09.0' starts.
    expect(r.err).toBe(`irqpath: ${file}:9:34: sources[0].device: no device 00:09.0 in machine.devices (devices: 00:03.0, 00:04.0)\n`);
  });
});

describe('irqpath run: every field of a scenario is checked when the file loads (exit 2)', () => {
  const machine = (replace: string, by: string) => `title: t\n${MACHINE.replace(replace, by)}${REST}`;
  const sources = (replace: string, by: string) => `title: t\n${MACHINE}${REST.replace(replace, by)}`;
  const cases: [text: string, field: string][] = [
    // machine.cpus: 1..32768 (MAX_CPUS, the x2APIC-era limit the model supports); YAML `.nan` is a float NaN.
    [machine('cpus: 4', 'cpus: 0'), 'machine.cpus'],
    [machine('cpus: 4', 'cpus: -1'), 'machine.cpus'],
    [machine('cpus: 4', 'cpus: 2.5'), 'machine.cpus'],
    [machine('cpus: 4', 'cpus: 70000'), 'machine.cpus'],
    [machine('cpus: 4', 'cpus: four'), 'machine.cpus'],
    [machine('cpus: 4', 'cpus: .nan'), 'machine.cpus'],
    [machine('cpus: 4', 'cpus: 4\n  apicIds: [0, 2, 2, 6]'), 'machine.apicIds[2]'],
    // PCI: device numbers are 5 bits (0..31), a BDF needs bus:device.function, digits are hex.
    [machine("bdf: '00:03.0'", "bdf: '00:33.0'"), 'machine.devices[0].bdf'],
    [machine("bdf: '00:03.0'", "bdf: '0:3'"), 'machine.devices[0].bdf'],
    [machine("bdf: '00:03.0'", "bdf: 'zz:03.0'"), 'machine.devices[0].bdf'],
    [machine("bdf: '00:04.0'", "bdf: '00:03.0'"), 'machine.devices[1].bdf'],
    [machine('cpus: 4', 'cpus: 4\n  iommu: { kind: arm }'), 'machine.iommu.kind'],
    [machine('cpus: 4', 'cpus: 4\n  iommu: { kind: intel, faultRecords: 300 }'), 'machine.iommu.faultRecords'],
    [machine('cpus: 4', 'cpus: 4\n  iommu: { kind: amd, base: 0xfee00000 }'), 'machine.iommu.base'],
    [machine('cpus: 4', 'cpus: 4\n  vcpus: 4'), 'machine.vcpus'],
    // Sources against the machine they run on.
    [sources('cpu: 1 }', 'cpu: 9 }'), 'sources[0].cpu'],
    [sources('vector: 1,', 'vector: 5,'), 'sources[0].vector'],
    [sources("id: b, kind: msi, device: '00:04.0'", "id: b, kind: msi, device: '00:04.0', vector: 1"), 'sources[1].vector'],
    [sources("id: a, kind: msix, device: '00:03.0'", "id: a, kind: msi, device: '00:03.0'"), 'sources[0].kind'],
    [sources("id: b, kind: msi, device: '00:04.0'", "id: b, kind: msix, device: '00:04.0'"), 'sources[1].kind'],
    [sources("device: '00:03.0'", "device: '00:09.0'"), 'sources[0].device'],
    [sources('pin: 3', 'pin: 24'), 'sources[2].pin'],
    [sources('a: intended', 'a: { reaches: { cpu: 4 } }'), 'expect.sources.a.reaches.cpu'],
  ];
  it.each(cases.map(([text, field]) => [field, text]))('%s (case %#)', async (field, text) => {
    const file = scenarioFile(text);
    const r = await cli('run', file);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(new RegExp(`^irqpath: ${file.replace(/[.]/g, '\\.')}:\\d+:\\d+: ${field.replace(/[[\].]/g, '\\$&')}: \\S`));
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('names the variant whose merged machine or sources are wrong', async () => {
    const grown = scenarioFile(`${GOOD}variants:\n  - { name: huge, machine: { cpus: 70000 } }\n`);
    const r1 = await cli('run', grown);
    expect(r1.code).toBe(2);
    expect(r1.err).toContain(`${grown}:16:36 (variant huge): machine.cpus: must be between 1 and 32768, got 70000`);
    // Shrinking the machine to 2 CPUs strands sources aimed at CPUs 2 and 3.
    const shrunk = scenarioFile(`${GOOD}variants:\n  - { name: small, machine: { cpus: 2 } }\n`);
    const r2 = await cli('run', shrunk);
    expect(r2.code).toBe(2);
    expect(r2.err).toContain(`${shrunk}:10:49 (variant small): sources[1].cpu: CPU 2 does not exist: the machine has 2 CPUs (0–1)`);
  });

  it('gives the reasons a user needs to fix the file', async () => {
    const cases: [string, string][] = [
      [sources('cpu: 1 }', 'cpu: 9 }'), 'sources[0].cpu: CPU 9 does not exist: the machine has 4 CPUs (0–3)'],
      [sources('vector: 1,', 'vector: 5,'), 'sources[0].vector: MSI-X vector 5 does not exist: device 00:03.0 has 2 table entries (0–1)'],
      [sources("id: a, kind: msix, device: '00:03.0'", "id: a, kind: msi, device: '00:03.0'"), 'sources[0].kind: device 00:03.0 has no MSI capability (it has MSI-X: kind: msix)'],
      [machine("bdf: '00:03.0'", "bdf: '00:33.0'"), 'machine.devices[0].bdf: "00:33.0": device number 51 is above 31'],
      [machine('cpus: 4', 'cpus: 4\n  iommu: { kind: arm }'), 'machine.iommu.kind: must be "intel" or "amd", got "arm"'],
    ];
    for (const [text, message] of cases) expect((await cli('run', scenarioFile(text))).err).toContain(message);
  });
});

describe('irqpath run: every problem of a badly shaped file at once', () => {
  // Three independent mistakes: an unknown source kind (line 9, column 20), an unknown trigger (line 11, column 45), a verdict that is
  // neither reproduced nor fixed (line 13, column 12).
  const bad = GOOD.replace('kind: msix', 'kind: msx').replace('pin: 3,', 'pin: 3, trigger: sideways,').replace('verdict: fixed', 'verdict: works');

  it('lists each with its line and column in the text report', async () => {
    const file = scenarioFile(bad);
    const r = await cli('run', file);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toEqual([
      `irqpath: ${file}:9:20: sources[0].kind: must be msi, msix, ioapic, ims, isa, intx, lapic-timer, pit, hpet or rtc, got "msx"`,
      `${file}:11:45: sources[2].trigger: must be edge or level, got "sideways"`,
      `${file}:13:12: expect.verdict: must be reproduced (the run shows the failure) or fixed (the path works), got "works"`,
    ]);
  });

  it('prints them as JSON under --json, still exiting 2', async () => {
    const file = scenarioFile(bad);
    const r = await cli('run', file, '--json');
    expect(r.code).toBe(2);
    expect(r.err).toBe('');
    const { errors } = JSON.parse(r.out) as { errors: { file: string; field: string; line: number; column: number; variant: string | null }[] };
    expect(errors.map((e) => [e.field, e.line, e.column])).toEqual([
      ['sources[0].kind', 9, 20],
      ['sources[2].trigger', 11, 45],
      ['expect.verdict', 13, 12],
    ]);
    expect(errors.every((e) => e.file === file && e.variant === null)).toBe(true);
  });
});
