import { describe, expect, it } from 'vitest';
import { createGuest } from '../../src/guest/create-guest.ts';
import { capture, machineWith, MSI_DEV, MSIX_DEV } from './helpers.ts';

describe('Linux, 300 vCPUs, no IOMMU, no extension (apic_limit = 255)', () => {
  const m = machineWith(300);
  const g = createGuest(m, { os: 'linux' });
  g.boot();

  it('brings up exactly the CPUs with APIC IDs 0..255', () => {
    expect(g.onlineCpus()).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect(g.log.decisions.apicLimit).toBe(255);
  });

  it('prints "x2apic entry ignored" once per CPU above the limit (256..299 = 44)', () => {
    expect(g.log.lines.filter((l) => l === 'ACPI: x2apic entry ignored')).toHaveLength(44);
    // The default kernel (6.12) prints the count from arch/x86/kernel/cpu/topology.c (pr_fmt "CPU topo: ").
    expect(g.log.has('CPU topo: Allowing 256 present CPUs')).toBe(true);
  });

  it('finds x2APIC enabled by the firmware and uses physical x2APIC routing', () => {
    expect(g.log.has('x2apic: enabled by BIOS, switching to x2apic ops')).toBe(true);
    expect(g.log.has('APIC: Switched APIC routing to: physical x2apic')).toBe(true);
    // In a VM Linux keeps x2APIC without IR instead of disabling it.
    expect(g.log.has("IRQ remapping doesn't support X2APIC mode")).toBe(false);
  });

  it('never starts the CPUs it ignored, not even the one whose xAPIC ID aliases an online CPU', () => {
    // APIC 299 = 0x12B: its 8-bit xAPIC view would be 0x2B = 43. Firmware put it in x2APIC mode, so the INIT/SIPI
    // Linux sent to APIC 43 did not reach it.
    expect(m.cpu(299).runState).toBe('wait-for-sipi');
    expect(m.cpu(43).runState).toBe('running');
  });

  it('an affinity request for an offline CPU falls back to CPU 0 with a note', () => {
    const p = g.setupInterrupt({ id: 'q1', kind: 'msix', device: MSIX_DEV, vector: 1, cpu: 299 });
    expect(p.status).toBe('programmed');
    expect(p.cpu).toBe(0);
    expect(p.apicId).toBe(0);
    expect(p.note).toBe('CPU 299 (APIC ID 299) is offline; effective affinity CPU 0');
    // Compatibility format, physical, dest 0, vector = first free device vector 0x21, Fixed, edge.
    expect(p.message).toEqual({ addr: 0xfee00000n, data: 0x21 });
    expect(p.encoding).toBe('compat');
  });

  it('multi-message MSI is refused without interrupt remapping (one MSI vector per device)', () => {
    const p = g.setupInterrupt({ id: 'm1', kind: 'msi', device: MSI_DEV, vector: 1, cpu: 1 });
    expect(p.status).toBe('refused');
  });

  it('an MSI-X vector aimed at CPU 255 is delivered there, then EOIed', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'q2', kind: 'msix', device: MSIX_DEV, vector: 2, cpu: 255 });
    // dest 255 = 0xFF in addr 19:12; vector 0x21 (the first on CPU 255).
    expect(p.message).toEqual({ addr: 0xfeeff000n, data: 0x21 });
    m.device(MSIX_DEV).signal(2);
    expect(c.accepted).toEqual([{ cpu: 255, apicId: 255, vector: 0x21 }]);
    expect(g.handleInterrupt(255)).toBe(0x21);
    expect(g.handleInterrupt(255)).toBeNull();
    expect(g.handledVectors(255)).toEqual([0x21]);
  });
});

describe('Linux, 300 vCPUs, hypervisor advertises the 15-bit extended destination ID', () => {
  const m = machineWith(300, { hypervisor: { extDestId: true } });
  const g = createGuest(m, { os: 'linux' });
  g.boot();

  it('brings all 300 CPUs online with apic_limit 32767 and ignores none', () => {
    expect(g.onlineCpus()).toHaveLength(300);
    expect(g.log.decisions.apicLimit).toBe(32767);
    expect(g.log.has('x2apic entry ignored')).toBe(false);
  });

  it('an MSI-X vector aimed at CPU 299 carries dest[14:8] in addr 11:5 and reaches APIC 299', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'q', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 299 });
    // 299 = 0x12B: dest[7:0] = 0x2B → addr 19:12; dest[14:8] = 1 → addr bit 5 (0x20). Vector 0x21.
    expect(p.message).toEqual({ addr: 0xfee2b020n, data: 0x21 });
    expect(p.encoding).toBe('ext-dest-id');
    m.device(MSIX_DEV).signal(0);
    expect(c.accepted).toEqual([{ cpu: 299, apicId: 299, vector: 0x21 }]);
  });

  it('an I/O APIC pin aimed at CPU 299 carries dest[14:8] in RTE 55:49', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'uart', kind: 'ioapic', pin: 4, cpu: 299 });
    // RTE: 0x2B in 63:56, 1 in 55:49 (bit 49), vector 0x22 (second on CPU 299), edge, unmasked.
    expect(p.rte).toBe(0x2b02_0000_0000_0022n);
    m.ioapic.pulse(4);
    expect(c.accepted).toEqual([{ cpu: 299, apicId: 299, vector: 0x22 }]);
  });
});

describe('Linux on Xen with PIRQ-over-MSI', () => {
  const m = machineWith(4, { hypervisor: { xenPirq: true } });
  const g = createGuest(m, { os: 'linux' });
  g.boot();

  it('binds MSI-X to a PIRQ: vector 0, PIRQ[7:0] in addr 19:12, PIRQ[31:8] in addr 63:40, ExtINT', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'net', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 1 });
    // PIRQ 4160 = 0x1040: 0x40 → addr 19:12, 0x10 → addr 63:40 = 0x1000_0000_0000. Data: ExtINT (7) << 8.
    expect(p.pirq).toBe(4160);
    expect(p.message).toEqual({ addr: 0x1000_fee4_0000n, data: 0x700 });
    expect(p.encoding).toBe('xen-pirq');
    m.device(MSIX_DEV).signal(0);
    expect(c.pirqs).toEqual([4160]);
    expect(c.accepted).toEqual([]);
  });

  it('gives each source its own PIRQ number', () => {
    const p = g.setupInterrupt({ id: 'blk', kind: 'msi', device: MSI_DEV, cpu: 2 });
    expect(p.pirq).toBe(4161);
  });
});
