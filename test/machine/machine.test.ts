import { describe, expect, it } from 'vitest';
import { createMachine } from '../../src/machine/machine.ts';
import { ConfigError, GeneralProtectionFault, UsageError } from '../../src/core/errors.ts';
import type { MemoryWriteEvent, ApicAcceptEvent } from '../../src/core/events.ts';
import { enableLapic, programMsix } from '../../bench/program.ts';

const NVME = { bdf: '00:03.0', msix: { entries: 4 } };

describe('createMachine', () => {
  it('validates the config and names the bad field', () => {
    expect(() => createMachine({ cpus: 0 })).toThrow(ConfigError);
    expect(() => createMachine({ cpus: 2, devices: [{ bdf: '00:03.0', msi: { vectors: 6 } }] })).toThrow(/devices\[0\]\.msi\.vectors/);
  });

  it('starts every LAPIC in xAPIC mode, globally enabled, software-disabled (SVR = 0xFF), BSP flag on CPU 0 only', () => {
    const m = createMachine({ cpus: 2 });
    // IA32_APIC_BASE = 0xFEE00000 | EN (bit 11) | BSP (bit 8)
    expect(m.cpu(0).rdmsr(0x1b)).toBe(0xfee00900n);
    expect(m.cpu(1).rdmsr(0x1b)).toBe(0xfee00800n);
    expect(m.cpu(1).read32(0xfee000f0)).toBe(0xff);
    // xAPIC ID register holds the APIC ID in bits 31:24
    expect(m.cpu(1).read32(0xfee00020)).toBe(1 << 24);
  });

  it('gives CPU i the APIC ID apicIds[i]', () => {
    const m = createMachine({ cpus: 2, apicIds: [0, 0x120] });
    expect(m.cpu(1).apicId).toBe(0x120);
    // The xAPIC view of ID 0x120 is its low 8 bits (0x20) in ID[31:24].
    expect(m.cpu(1).read32(0xfee00020)).toBe(0x20 << 24);
  });

  it('raises #GP for MSRs the machine does not implement', () => {
    const m = createMachine({ cpus: 1 });
    expect(() => m.cpu(0).rdmsr(0x1a0)).toThrow(GeneralProtectionFault); // IA32_MISC_ENABLE
  });

  it('reads the TSC (MSR 0x10) from the simulated clock', () => {
    const m = createMachine({ cpus: 1, legacy: { tscHz: 3_000_000_000 } });
    m.advance(1000);
    expect(m.cpu(0).rdmsr(0x10)).toBe(3000n);
    expect(m.cpu(0).rdtsc()).toBe(3000n);
  });

  it('names a bad CPU index or an unknown device', () => {
    const m = createMachine({ cpus: 2, devices: [NVME] });
    expect(() => m.cpu(2)).toThrow(/CPUs 0\.\.1/);
    expect(() => m.device('00:09.0')).toThrow(/no PCI device at 00:09.0 \(devices: 00:03.0\)/);
    expect(() => m.device('zz')).toThrow(UsageError);
  });
});

describe('CPU address decoding', () => {
  it('reaches the I/O APIC at 0xFEC00000 through IOREGSEL/IOWIN', () => {
    const m = createMachine({ cpus: 1, ioapic: { pins: 24 } });
    m.cpu(0).write32(0xfec00000, 1); // select the version register
    // version 0x20, max redirection entry 23 in bits 23:16
    expect(m.cpu(0).read32(0xfec00010)).toBe(0x00170020);
  });

  it('reads and writes RAM everywhere outside the device windows', () => {
    const m = createMachine({ cpus: 1 });
    m.cpu(0).write64(0x1234_5678_0000n, 0x1122334455667788n);
    expect(m.memory.read64(0x1234_5678_0000)).toBe(0x1122334455667788n);
    expect(m.cpu(0).read32(0x1234_5678_0004)).toBe(0x11223344);
  });

  it('stops decoding the xAPIC page once the LAPIC is in x2APIC mode (reads all ones)', () => {
    const m = createMachine({ cpus: 1 });
    m.cpu(0).wrmsr(0x1b, m.cpu(0).rdmsr(0x1b) | (1n << 10n));
    expect(m.cpu(0).read32(0xfee00020)).toBe(0xffffffff);
    expect(m.cpu(0).rdmsr(0x802)).toBe(0n); // the x2APIC ID through the MSR instead
  });

  it('maps a device BAR (assigned by firmware) so the MSI-X table is reachable by CPU stores', () => {
    const m = createMachine({ cpus: 2, devices: [NVME] });
    enableLapic(m, 1, false);
    programMsix(m, '00:03.0', 2, 0xfee01000n, 0x51);
    m.device('00:03.0').signal(2);
    expect(m.cpu(1).acknowledge()).toBe(0x51);
  });
});

describe('device DMA on the machine bus', () => {
  it('sends a write to 0xFEEx_xxxx to the translation core and the APIC', () => {
    const m = createMachine({ cpus: 2, devices: [NVME] });
    enableLapic(m, 1, false);
    m.device('00:03.0').configWrite(4, 2, 0x6);
    m.device('00:03.0').dmaWrite(0xfee01000, 0x33);
    expect(m.cpu(1).acknowledge()).toBe(0x33);
  });

  it('writes RAM for any other address', () => {
    const m = createMachine({ cpus: 1, devices: [NVME] });
    m.device('00:03.0').configWrite(4, 2, 0x6);
    m.device('00:03.0').dmaWrite(0x8000, 0xcafef00d);
    expect(m.memory.read32(0x8000)).toBe(0xcafef00d);
  });

  it('blocks DMA while bus mastering is off', () => {
    const m = createMachine({ cpus: 1, devices: [NVME] });
    m.device('00:03.0').dmaWrite(0x8000, 1);
    expect(m.memory.read32(0x8000)).toBe(0);
  });

  it('lets a message with address bits 63:32 set scribble memory on bare metal, and reports it', () => {
    // Windows' layout for APIC 0x12345: 0x00000123_FEE45000 (qemu-devel thread "More than 255 vcpus Windows VM setup without viommu ?", "Windows, part 2")
    const m = createMachine({ cpus: 1, devices: [NVME] });
    const writes: MemoryWriteEvent[] = [];
    m.events.on('memory_write', (e) => writes.push(e));
    m.device('00:03.0').configWrite(4, 2, 0x6);
    m.device('00:03.0').dmaWrite(0x0000_0123_fee4_5000n, 0x41);
    expect(m.memory.read32(0x123_fee4_5000)).toBe(0x41);
    expect(writes).toHaveLength(1);
    expect(writes[0].addr).toBe(0x123_fee4_5000n);
  });

  it('delivers the same message when the VMM accepts the Windows layout', () => {
    const m = createMachine({ cpus: 2, apicIds: [0, 0x12345], hypervisor: { windowsHighAddressBits: true }, devices: [NVME] });
    enableLapic(m, 1, true);
    const accepted: ApicAcceptEvent[] = [];
    m.events.on('apic_accept', (e) => accepted.push(e));
    m.device('00:03.0').configWrite(4, 2, 0x6);
    m.device('00:03.0').dmaWrite(0x0000_0123_fee4_5000n, 0x41);
    expect(accepted.map((a) => [a.cpu, a.apicId, a.vector])).toEqual([[1, 0x12345, 0x41]]);
    expect(m.memory.isTouched(0x123_fee4_5000)).toBe(false);
  });
});

describe('trace', () => {
  it('records each hop with QEMU trace-event names and groups hops by interrupt', () => {
    const m = createMachine({ cpus: 2, devices: [NVME] });
    enableLapic(m, 1, false);
    programMsix(m, '00:03.0', 0, 0xfee01000n, 0x41);
    const rec = m.startTrace();
    m.device('00:03.0').signal(0);
    m.device('00:03.0').signal(0);
    rec.stop();
    const names = rec.hops.map((h) => h.name);
    expect(names).toContain('irqpath_msix_notify');
    expect(names).toContain('apic_deliver_irq');
    expect(rec.lines().find((l) => l.startsWith('apic_deliver_irq'))).toBe('apic_deliver_irq dest 1 dest_mode 0 delivery_mode 0 vector 65 trigger_mode 0');
    expect([...rec.flows().keys()]).toHaveLength(2);
  });
});

describe('snapshots', () => {
  it('restore(snapshot()) brings back registers, tables and RAM, and the same future', () => {
    const m = createMachine({ cpus: 2, devices: [NVME] });
    enableLapic(m, 1, false);
    programMsix(m, '00:03.0', 0, 0xfee01000n, 0x41);
    m.memory.write32(0x5000, 7);
    const snap = m.snapshot();
    // Change things: reprogram the vector, scribble RAM, leave an IRR bit set.
    programMsix(m, '00:03.0', 0, 0xfee01000n, 0x99);
    m.memory.write32(0x5000, 8);
    m.device('00:03.0').signal(0);
    m.restore(snap);
    expect(m.memory.read32(0x5000)).toBe(7);
    m.device('00:03.0').signal(0);
    expect(m.cpu(1).acknowledge()).toBe(0x41);
    expect(m.cpu(1).acknowledge()).toBeNull();
  });

  it('diffs two snapshots down to the registers that changed', () => {
    const m = createMachine({ cpus: 2 });
    const before = m.snapshot();
    m.cpu(1).write32(0xfee00080, 0x20); // TPR of CPU 1
    const changes = m.diff(before, m.snapshot());
    expect(changes.length).toBeGreaterThan(0);
    expect(changes.every((c) => c.path.startsWith('cpus.1.'))).toBe(true);
  });

  it('refuses a snapshot from a differently shaped machine and changes nothing', () => {
    const a = createMachine({ cpus: 2 });
    const b = createMachine({ cpus: 3 });
    b.memory.write32(0x100, 5);
    expect(() => b.restore(a.snapshot())).toThrow(/different configuration/);
    expect(b.memory.read32(0x100)).toBe(5);
  });

  it('snapshots are frozen', () => {
    const s = createMachine({ cpus: 1 }).snapshot();
    expect(Object.isFrozen(s.devices)).toBe(true);
  });
});
