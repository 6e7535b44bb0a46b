/**
 * `irqpath qemu -- <qemu command line>` (src/cli/qemu-command.ts). A fake `qemu-system-x86_64` on PATH (a shell
 * script) answers `-trace help` with a fixed list of event names, records the arguments it was given, copies a real
 * QEMU 7.2 trace (test/fixtures/qemu-trace/qemu-7.2) to the -D file and prints that recording's console; so the
 * command's own work — the events it adds, the machine, the replay, the exit codes — is checked without QEMU. A live
 * test boots the real QEMU where it is installed and says why it is skipped where it is not.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';

const fixture = (name: string) => new URL(`../fixtures/qemu-trace/qemu-7.2/${name}`, import.meta.url).pathname;

/** The events the fake QEMU lists: five of the interrupt path and two that are not. */
const FAKE_EVENTS = ['vtd_ir_remap_msi_req', 'vtd_ir_remap_msi', 'vtd_ir_enable', 'apic_deliver_irq', 'pci_cfg_write', 'qcow2_writev_start', 'virtio_queue_notify'];

const FAKE_QEMU = `#!/bin/sh
if [ "$1" = "-trace" ] && [ "$2" = "help" ]; then
  echo "Possible trace events:"
  ${FAKE_EVENTS.map((e) => `echo ${e}`).join('\n  ')}
  exit 0
fi
if [ "$1" = "--version" ]; then echo "QEMU emulator version 7.2.99 (fake)"; exit 0; fi
printf '%s\\n' "$@" > "$FAKE_ARGS"
out=""
prev=""
for a in "$@"; do
  if [ "$prev" = "-D" ]; then out="$a"; fi
  prev="$a"
done
[ -n "$FAKE_TRACE" ] && cp "$FAKE_TRACE" "$out"
[ -n "$FAKE_CONSOLE" ] && cat "$FAKE_CONSOLE"
[ -n "$FAKE_STDERR" ] && echo "$FAKE_STDERR" >&2
exit \${FAKE_STATUS:-0}
`;

let dir = '';
let savedPath = '';
const savedEnv: Record<string, string | undefined> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'irqpath-fake-qemu-'));
  writeFileSync(join(dir, 'qemu-system-x86_64'), FAKE_QEMU);
  chmodSync(join(dir, 'qemu-system-x86_64'), 0o755);
  savedPath = process.env.PATH ?? '';
  for (const k of ['FAKE_ARGS', 'FAKE_TRACE', 'FAKE_CONSOLE', 'FAKE_STATUS', 'FAKE_STDERR']) savedEnv[k] = process.env[k];
});

afterAll(() => {
  process.env.PATH = savedPath;
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(dir, { recursive: true, force: true });
});

async function cli(env: Record<string, string>, ...args: string[]) {
  process.env.PATH = env.PATH ?? `${dir}:${savedPath}`;
  for (const k of ['FAKE_TRACE', 'FAKE_CONSOLE', 'FAKE_STATUS', 'FAKE_STDERR']) delete process.env[k];
  process.env.FAKE_ARGS = join(dir, 'args.txt');
  Object.assign(process.env, env);
  let out = '';
  let err = '';
  const code = await runCli(['node', 'irqpath', ...args], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
  process.env.PATH = savedPath;
  return { code, out, err };
}

const CMD = ['qemu-system-x86_64', '-M', 'q35', '-m', '512', '-smp', '2', '-nographic', '-no-reboot', '-device', 'intel-iommu,intremap=on', '-kernel', '/boot/vmlinuz', '-append', 'console=ttyS0 panic=-1'];

describe('irqpath qemu with a fake QEMU', () => {
  it('adds -trace events=FILE listing exactly the interrupt-path events of this QEMU, and -D FILE', async () => {
    const r = await cli({ FAKE_TRACE: fixture('intel-ir.trace.log'), FAKE_CONSOLE: fixture('intel-ir.console.txt') }, 'qemu', '--record', join(dir, 'rec'), '--', ...CMD);
    const args = readFileSync(join(dir, 'args.txt'), 'utf8').trimEnd().split('\n');
    expect(args.slice(0, CMD.length - 1)).toEqual(CMD.slice(1));
    const events = args[args.indexOf('-trace') + 1];
    expect(events).toBe(`events=${join(dir, 'rec', 'trace-events.txt')}`);
    expect(readFileSync(join(dir, 'rec', 'trace-events.txt'), 'utf8')).toBe('vtd_ir_remap_msi_req\nvtd_ir_remap_msi\nvtd_ir_enable\napic_deliver_irq\npci_cfg_write\n');
    expect(args[args.indexOf('-D') + 1]).toBe(join(dir, 'rec', 'trace.log'));
    expect(r.err).toContain(`irqpath qemu: recorded in ${join(dir, 'rec')}`);
  });

  it('passes the console through, then prints the machine, the replay summary (449 requests, 0 diverging) and the check', async () => {
    const r = await cli({ FAKE_TRACE: fixture('intel-ir.trace.log'), FAKE_CONSOLE: fixture('intel-ir.console.txt') }, 'qemu', '--', ...CMD);
    const consoleText = readFileSync(fixture('intel-ir.console.txt'), 'utf8');
    expect(r.out.startsWith(consoleText)).toBe(true);
    const tail = r.out.slice(consoleText.length);
    expect(tail).toContain('── irqpath qemu: QEMU exited with status 0 ──');
    expect(tail).toMatch(/^machine:\n {2}cpus: 2\n {2}cpuVendor: amd\n/m);
    expect(tail).toContain('    - bdf: 00:02.0\n      name: e1000e\n      vendorId: 0x8086\n      deviceId: 0x10d3\n      msix:\n        entries: 5\n      intx: A');
    // 2934 lines and 449 `vtd_ir_remap_msi_req` lines in the recording (grep -c).
    expect(tail).toMatch(/^irqpath replay QEMU's trace: 2934 lines, 449 interrupt requests \(\d+ distinct\): 449 as on hardware, 0 diverging$/m);
    expect(tail).toMatch(/^# check: Linux 6\.1\.192 model on this machine: \d+ of \d+ remapping lines of the guest reproduced$/m);
  });

  it('--record keeps the command line, QEMU version, console, trace, machine and report', async () => {
    const rec = join(dir, 'rec2');
    await cli({ FAKE_TRACE: fixture('intel-ir.trace.log'), FAKE_CONSOLE: fixture('intel-ir.console.txt') }, 'qemu', '--record', rec, '--', ...CMD);
    for (const f of ['command-line.txt', 'qemu-version.txt', 'console.txt', 'qemu-stderr.txt', 'trace.log', 'trace-events.txt', 'machine.yaml', 'report.txt', 'replay.json']) {
      expect(existsSync(join(rec, f)), f).toBe(true);
    }
    expect(readFileSync(join(rec, 'qemu-version.txt'), 'utf8')).toBe('QEMU emulator version 7.2.99 (fake)\n');
    expect(readFileSync(join(rec, 'command-line.txt'), 'utf8')).toContain("-append 'console=ttyS0 panic=-1'");
    expect(JSON.parse(readFileSync(join(rec, 'replay.json'), 'utf8')).summary.requests).toBe(449);
  });

  it('QEMU not installed: a clear message and exit 2', async () => {
    const r = await cli({ PATH: join(dir, 'nowhere') }, 'qemu', '--', ...CMD);
    expect(r.code).toBe(2);
    expect(r.err).toBe("irqpath: QEMU is not installed: 'qemu-system-x86_64' was not found on PATH (install qemu-system-x86, or give the full path after --)\n");
  });

  it('a command line irqpath cannot read: exit 2 naming what, before QEMU runs', async () => {
    const missing = await cli({}, 'qemu', '--', 'qemu-system-x86_64', '-M', 'q35', '-device');
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('-device needs an argument and is the last word');
    const quoted = await cli({}, 'qemu', '--', 'qemu-system-x86_64', '-D', '/tmp/mine.log');
    expect(quoted.code).toBe(2);
    expect(quoted.err).toContain('remove -D /tmp/mine.log');
  });

  it('QEMU refusing the configuration: its message passes through and the exit is 1', async () => {
    const r = await cli({ FAKE_STATUS: '1', FAKE_STDERR: 'qemu-system-x86_64: -device intel-iommu,eim=on: eim=on requires accel=kvm,kernel-irqchip=split' }, 'qemu', '--', ...CMD);
    expect(r.code).toBe(1);
    expect(r.err).toContain('eim=on requires accel=kvm,kernel-irqchip=split');
    expect(r.out).toContain('── irqpath qemu: QEMU exited with status 1 ──');
    expect(r.out).toContain('# replay: QEMU wrote no trace file');
  });
});

const KERNEL = '/boot/vmlinuz-6.1.0-57-amd64';
const haveQemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
const why = !haveQemu ? 'qemu-system-x86_64 is not installed' : !existsSync(KERNEL) ? `no kernel at ${KERNEL}` : null;
if (why) console.log(`irqpath qemu live test skipped: ${why}`);

describe.skipIf(why !== null)('irqpath qemu with the real QEMU (live)', () => {
  it('boots Linux with an Intel vIOMMU until it panics for want of a root (or 90 s): the guest enables remapping and every request replays as QEMU did', async () => {
    let out = '';
    const code = await runCli(['node', 'irqpath', 'qemu', '--time-limit', '90', '--', 'qemu-system-x86_64', '-M', 'q35', '-m', '256', '-smp', '1', '-nographic', '-no-reboot',
      '-device', 'intel-iommu,intremap=on', '-kernel', KERNEL, '-append', 'console=ttyS0 panic=-1 lpj=1000000'], { writeOut: (t) => (out += t), writeErr: () => {} });
    expect(out).toMatch(/── irqpath qemu: (QEMU exited with status 0|stopped after the 90 s time limit) ──/);
    expect(out).toContain('DMAR-IR: Enabled IRQ remapping in xapic mode');
    const m = /interrupt requests? \(\d+ distinct\): (\d+) as on hardware, (\d+) diverging/.exec(out);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![2])).toBe(0);
    expect([0, 1]).toContain(code);
  }, 180_000);
});
