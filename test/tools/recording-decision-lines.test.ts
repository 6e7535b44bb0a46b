/**
 * Issue 15, check 1, on every committed QEMU 7.2 + Linux 6.1 recording (test/fixtures/qemu-recordings/): the Linux
 * model, booted on the machine the recording describes — the units and CPU count its dmesg shows, the CPU's x2APIC
 * support from /proc/cpuinfo (cpuinfo-flags.txt) and the kernel command line from /proc/cmdline (cmdline.txt) —
 * prints exactly the interrupt-remapping, x2APIC and APIC-routing decision lines the real kernel printed. Strict
 * both ways: a decision line the model prints and the kernel did not is a difference too.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { machineFromDmesg } from '../../src/tools/from-dmesg.ts';
import { checkRemappingLines, isModelledRemappingLine } from '../../src/tools/dmesg-check.ts';
import { cpuHasX2apic, parseCmdline } from '../../src/tools/qemu-recording.ts';

const root = new URL('../fixtures/qemu-recordings/', import.meta.url).pathname;
const read = (name: string, file: string) => readFileSync(join(root, name, file), 'utf8');
const recordings = readdirSync(root, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'dmesg.txt')))
  .map((e) => e.name)
  .sort();

function check(name: string) {
  const fromLog = machineFromDmesg(read(name, 'dmesg.txt'));
  const machine = { ...fromLog.machine, cpu: { ...(fromLog.machine.cpu ?? {}), x2apic: cpuHasX2apic(read(name, 'cpuinfo-flags.txt')) } };
  return checkRemappingLines({ ...fromLog, machine, cmdline: parseCmdline(read(name, 'cmdline.txt')).raw });
}

describe('QEMU recordings: the Linux model prints the kernel\'s decision lines, no more, no fewer', () => {
  it('the recordings are there (booted ones; refusals have no dmesg)', () => {
    expect(recordings.length).toBeGreaterThanOrEqual(17);
  });

  it.each(recordings)('%s', (name) => {
    const c = check(name);
    expect(c.strict).toBe(true);
    expect({ missing: c.missing, extra: c.extra }).toEqual({ missing: [], extra: [] });
    // What was compared is what the kernel printed of these kinds (nothing left out).
    expect(c.matched).toEqual(read(name, 'dmesg.txt').split('\n').map((l) => l.replace(/^\[\s*\d+\.\d+\] /, '')).filter(isModelledRemappingLine));
  });

  it('the command line matters: intremap=off booted as if the option were absent prints DMAR-IR lines the kernel did not', () => {
    const fromLog = machineFromDmesg(read('intel-ir-k-intremap-off', 'dmesg.txt'));
    const c = checkRemappingLines({ ...fromLog, cmdline: '' });
    expect(c.extra).toEqual(['DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0', 'DMAR-IR: Enabled IRQ remapping in xapic mode']);
  });

  it('the CPU matters: an x2APIC-capable CPU on the 4-vCPU machine would print x2APIC lines the kernel did not', () => {
    const fromLog = machineFromDmesg(read('intel-ir-4cpu', 'dmesg.txt'));
    const c = checkRemappingLines({ ...fromLog, machine: { ...fromLog.machine, cpu: { x2apic: true } } });
    expect(c.extra).toContain("x2apic: IRQ remapping doesn't support X2APIC mode");
  });
});
