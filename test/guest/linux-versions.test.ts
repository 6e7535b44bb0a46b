/**
 * The Linux model's version switch (guest: { os: linux, version }): what each kernel prints for the same machine.
 * Expected lines are Linux's format strings filled in by hand (drivers/iommu/intel/dmar.c dmar_fault_do_one,
 * arch/x86/kernel/smpboot.c native_cpu_up, arch/x86/kernel/cpu/topology.c).
 */
import { describe, expect, it } from 'vitest';
import { createGuest } from '../../src/guest/create-guest.ts';
import { UsageError } from '../../src/core/errors.ts';
import { linuxFaultLine } from '../../src/iommu-intel/linux-log.ts';
import { frcdToLinuxLine } from '../../src/cli/log-command.ts';
import { parseLinuxVersion } from '../../src/core/linux-version.ts';
import { machineWith } from './helpers.ts';

describe('Linux versions: CPU enumeration and the >255-CPU path without remapping', () => {
  it('5.10 registers all 300 CPUs and refuses 256..299 at bring-up with "native_cpu_up: bad cpu N"', () => {
    const g = createGuest(machineWith(300), { os: 'linux', version: '5.10' });
    g.boot();
    expect(g.log.has('smpboot: Allowing 300 CPUs, 0 hotplug CPUs')).toBe(true);
    expect(g.log.has('ACPI: x2apic entry ignored')).toBe(false);
    expect(g.log.lines.filter((l) => /^smpboot: native_cpu_up: bad cpu \d+$/.test(l))).toHaveLength(44);
    expect(g.log.has('smpboot: native_cpu_up: bad cpu 256')).toBe(true);
    expect(g.onlineCpus()).toHaveLength(256);
  });

  it('6.6 names native_kick_ap (the 6.5 hotplug rework split native_cpu_up)', () => {
    const g = createGuest(machineWith(260), { os: 'linux', version: '6.6' });
    g.boot();
    expect(g.log.has('smpboot: native_kick_ap: bad cpu 256')).toBe(true);
  });

  it('6.9 and later ignore the MADT entries and print the count with "CPU topo: "', () => {
    const g = createGuest(machineWith(260), { os: 'linux', version: '6.9' });
    g.boot();
    expect(g.log.lines.filter((l) => l === 'ACPI: x2apic entry ignored')).toHaveLength(4);
    expect(g.log.has('CPU topo: Allowing 256 present CPUs plus 0 hotplug CPUs')).toBe(true);
  });

  it('kernels before 5.10 do not use the hypervisor\'s 15-bit extended destination ID', () => {
    const old = createGuest(machineWith(300, { hypervisor: { extDestId: true } }), { os: 'linux', version: '5.4' });
    old.boot();
    expect(old.log.decisions.apicLimit).toBe(255);
    const cur = createGuest(machineWith(300, { hypervisor: { extDestId: true } }), { os: 'linux', version: '5.10' });
    cur.boot();
    expect(cur.log.decisions.apicLimit).toBe(32767);
  });

  it('a bad version names the field; a Windows guest has no version', () => {
    expect(() => createGuest(machineWith(1), { os: 'linux', version: 'five' })).toThrow(/guest\.version/);
    expect(() => createGuest(machineWith(1), { os: 'windows', version: '6.1' })).toThrow(UsageError);
  });
});

describe('Linux versions: DMAR interrupt-remapping fault lines', () => {
  // A compatibility-format request blocked with reason 0x25 from 42:00.2 (SID 0x4202), index 0x1600.
  it('≤ 5.13: index without 0x, reason in decimal ("%llx" / "%02d")', () => {
    expect(linuxFaultLine(0x4202, 0x25, 0x1600, 'decimal')).toBe(
      'DMAR: [INTR-REMAP] Request device [42:00.2] fault index 1600 [fault reason 37] Blocked a compatibility format interrupt request',
    );
  });

  it('5.14: bus and device with 0x ("[0x%02x:0x%02x.%d]"), reason "0x%02x"', () => {
    expect(linuxFaultLine(0xc928, 0x25, 0x1600, 'hex-bdf')).toBe(
      'DMAR: [INTR-REMAP] Request device [0xc9:0x05.0] fault index 0x1600 [fault reason 0x25] Blocked a compatibility format interrupt request',
    );
  });

  it('irqpath log dmar --kernel picks the format', () => {
    const hi = (1n << 63n) | (0x25n << 32n) | 0x4202n;
    const lo = 0x1600n << 48n;
    expect(frcdToLinuxLine(hi, lo, parseLinuxVersion('5.4', 'kernel'))).toContain('fault index 1600 [fault reason 37]');
    expect(frcdToLinuxLine(hi, lo, parseLinuxVersion('5.14', 'kernel'))).toContain('[0x42:0x00.2] fault index 0x1600 [fault reason 0x25]');
    expect(frcdToLinuxLine(hi, lo)).toContain('[42:00.2] fault index 0x1600 [fault reason 0x25]');
  });
});

describe('Linux versions: AMD-Vi event lines', () => {
  it('irqpath log amdvi --kernel 5.15 prints the device without the PCI segment, 6.0 with it', async () => {
    const { runCli } = await import('../../src/cli/main.ts');
    // IO_PAGE_FAULT (code 2 in dword1 31:28) from DeviceID 0x0018 (00:03.0), domain 0, address 0x1000.
    const entry = ['0x00000018', '0x20000000', '0x00001000', '0x0'];
    const run = async (kernel: string) => {
      let out = '';
      await runCli(['node', 'irqpath', 'log', 'amdvi', '--entry', ...entry, '--kernel', kernel], { writeOut: (t) => (out += t), writeErr: () => {} });
      return out.trim();
    };
    expect(await run('5.15')).toBe('AMD-Vi: Event logged [IO_PAGE_FAULT device=00:03.0 domain=0x0000 address=0x1000 flags=0x0000]');
    expect(await run('6.0')).toBe('AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:00:03.0 domain=0x0000 address=0x1000 flags=0x0000]');
  });

  it('a bad --kernel is a usage error naming the option', async () => {
    const { runCli } = await import('../../src/cli/main.ts');
    let err = '';
    const code = await runCli(['node', 'irqpath', 'log', 'dmar', '--frcd', '0x0', '0x0', '--kernel', 'linux'], { writeOut: () => {}, writeErr: (t) => (err += t) });
    expect(code).toBe(2);
    expect(err).toContain('--kernel');
  });
});
