/**
 * `irqpath replay` exit codes as a CI job sees them (docs/replay-and-qemu.md): 0 when every request ends as on
 * hardware and irqpath's qemu profile reproduces QEMU, 1 when a request diverges or the profile does not reproduce
 * QEMU's outcome, 2 for input that cannot be read. The real CLI is spawned: the exit code is the process's.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/qemu-trace');
const dir = mkdtempSync(join(tmpdir(), 'irqpath-replay-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spawnCli(...args: string[]): { code: number | null; out: string; err: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function file(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

describe('irqpath replay exit codes (spawned CLI)', () => {
  it('0: every request as on hardware, the qemu profile reproduces QEMU', () => {
    const r = spawnCli('replay', join(FIXTURES, 'windows-intel-host.log'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('1: QEMU passes a compatibility-format request that hardware with EIME=1 blocks (fault 0x25)', () => {
    const r = spawnCli('replay', join(FIXTURES, 'windows-amd-host.log'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('irqpath replay: exit 1: 1 request where QEMU differs from hardware');
  });

  it("1: QEMU delivered a vector its IRTE does not hold, which irqpath's qemu profile does not reproduce", () => {
    // IRTE 0 upper-qword-as-"high" 0x100300001: P = 1, physical, vector 0x30 (bits 23:16), destination 1 (63:32).
    // QEMU's message carries vector 0x31 (data 7:0): neither hardware nor QEMU's own code would write that.
    const log = file('wrong-vector.log', [
      'vtd_ir_enable enable 1',
      'vtd_ir_remap_msi_req addr 0xfee00010 data 0x0',
      'vtd_ir_irte_get index 0 low 0x0 high 0x100300001',
      'vtd_ir_remap index 0 trigger 0 vector 48 deliver 0 dest 0x1 mode 0',
      'vtd_ir_remap_type IOAPIC',
      'vtd_ir_remap_msi (addr 0xfee00010, data 0x0) -> (addr 0xfee01000, data 0x4031)',
    ]);
    const r = spawnCli('replay', log, '--json');
    expect(r.code).toBe(1);
    const json = JSON.parse(r.out);
    expect(json.groups[0].request.qemuProfile.matchesLog).toBe(false);
    const text = spawnCli('replay', log);
    expect(text.code).toBe(1);
    expect(text.err).toContain("1 request whose outcome irqpath's qemu profile does not reproduce");
  });

  it('2: no such file; a file with no QEMU trace event in it; a bad option', () => {
    const missing = spawnCli('replay', join(dir, 'no-such.log'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^irqpath: cannot read .*no-such\.log/);
    const notATrace = spawnCli('replay', file('dmesg.txt', ['[    0.000000] Linux version 6.15.7', '[    0.100000] DMAR: IOMMU enabled']));
    expect(notATrace.code).toBe(2);
    expect(notATrace.err).toMatch(/no QEMU trace events/);
    expect(spawnCli('replay', join(FIXTURES, 'windows-intel-host.log'), '--cfis', 'maybe').code).toBe(2);
  });
});
