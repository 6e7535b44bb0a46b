import { describe, expect, it } from 'vitest';
import { createGuest } from '../../src/guest/create-guest.ts';
import { IRTA_REG } from '../../src/iommu-intel/registers.ts';
import { capture, machineWith, mmio64, MSI_DEV, MSIX_DEV, MSIX_DEV_RID, x2apicLogicalId } from './helpers.ts';

const DMAR_BASE = 0xfed90000;
const irrIrte = (m: ReturnType<typeof machineWith>, index: number) =>
  m.memory.read128(Number(mmio64(m, DMAR_BASE + IRTA_REG) & ~0xfffn) + index * 16);

describe('Windows on an AMD CPU with an Intel IR-only unit (quirk amdCpuAssumesAmdIommu)', () => {
  const m = machineWith(300, { cpuVendor: 'amd', iommu: { kind: 'intel', dmaTranslation: false } });
  const g = createGuest(m, { os: 'windows' });
  g.boot();

  it('starts every CPU in x2APIC mode, without a 255 limit', () => {
    expect(g.onlineCpus()).toHaveLength(300);
    expect(g.log.decisions.amdStyleMessagesOnIntelIommu).toBe(true);
  });

  it('fills the Intel IRTE for an I/O APIC pin correctly, in setup order (pin 2 first → IRTE 0, logical x2APIC dest, SVT 0)', () => {
    const p = g.setupInterrupt({ id: 'timer', kind: 'ioapic', pin: 2, cpu: 0 });
    // Published trace (test/fixtures/qemu-trace/windows-intel-host.log): pin 2, set up first, has IRTE 0.
    expect(p.irteIndex).toBe(0);
    // The trace's IRTE for APIC 0 is 0x1_00d1_0005 / 0: dest = logical 0x1, vector in 23:16, DM (bit 2) and P
    // (bit 0); the high qword (SID/SQ/SVT) is 0. Same shape with this model's vector.
    const [lo, hi] = irrIrte(m, 0);
    expect(lo).toBe((1n << 32n) | (BigInt(p.vector) << 16n) | 0x5n);
    expect(hi).toBe(0n);
    // And the AMD-style RTE message is the published AMD-host request exactly: addr 0xfee00004 data 0x0
    // (test/fixtures/qemu-trace/windows-amd-host.log) — the index 0 where the vector belongs.
    expect(p.message).toEqual({ addr: 0xfee00004n, data: 0 });
  });

  it('but programs the RTE AMD-style: index in the vector field, DM set, no format bit, dest 0', () => {
    // Pin 1 is the second interrupt set up: IRTE 1.
    const p = g.setupInterrupt({ id: 'kbd', kind: 'ioapic', pin: 1, cpu: 0 });
    expect(p.rte).toBe(0x801n);
    // I/O APIC message: addr 0xFEE00000 | DM << 2, data = vector field: the "addr 0xfee00004" of the qemu-devel trace (2024-07-11).
    expect(p.message).toEqual({ addr: 0xfee00004n, data: 1 });
    expect(p.encoding).toBe('amd-remappable');
  });

  it('so the Intel unit sees a compatibility-format request from the I/O APIC and blocks it (0x25)', () => {
    const c = capture(m);
    m.ioapic.pulse(2);
    expect(c.accepted).toEqual([]);
    expect(c.faults).toEqual([expect.objectContaining({ code: 0x25, sourceId: 0xff00 })]);
  });

  it('writes AMD-style MSIs with per-device indices from 0 and fills no IRTE for them', () => {
    const before = irrIrte(m, 0);
    const a = g.setupInterrupt({ id: 'nvme0', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 299 });
    const b = g.setupInterrupt({ id: 'nvme1', kind: 'msix', device: MSIX_DEV, vector: 1, cpu: 298 });
    const d = g.setupInterrupt({ id: 'blk', kind: 'msi', device: MSI_DEV, vector: 0, cpu: 297 });
    expect([a.message, b.message, d.message]).toEqual([
      { addr: 0xfee00000n, data: 0 },
      { addr: 0xfee00000n, data: 1 },
      { addr: 0xfee00000n, data: 0 },
    ]);
    expect(a.irteIndex).toBeUndefined();
    expect(irrIrte(m, 0)).toEqual(before); // index 0 (pin 2's entry) untouched: no IRTE written for the MSIs
    expect(before[0] & 1n).toBe(1n);
    const c = capture(m);
    m.device(MSIX_DEV).signal(0);
    expect(c.accepted).toEqual([]);
    expect(c.faults).toEqual([expect.objectContaining({ code: 0x25, sourceId: MSIX_DEV_RID })]);
  });
});

describe('Windows on an AMD CPU + Intel IR unit, with the qemu-devel 2024-10-01 hack in the Intel unit', () => {
  const m = machineWith(300, {
    cpuVendor: 'amd',
    iommu: { kind: 'intel', dmaTranslation: false },
    hypervisor: { intelIrAcceptsAmdFormat: true },
  });
  const g = createGuest(m, { os: 'windows' });
  g.boot();

  it('I/O APIC interrupts work; a PCI MSI reads IRTE 0, pin 0\'s entry, and lands on pin 0\'s vector and CPU', () => {
    const pin0 = g.setupInterrupt({ id: 'pit', kind: 'ioapic', pin: 0, cpu: 5 });
    const pin2 = g.setupInterrupt({ id: 'timer', kind: 'ioapic', pin: 2, cpu: 299 });
    const msix = g.setupInterrupt({ id: 'nvme0', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 298 });
    const c = capture(m);
    m.ioapic.pulse(2);
    m.device(MSIX_DEV).signal(0);
    expect(c.accepted).toEqual([
      { cpu: 299, apicId: 299, vector: pin2.vector },
      // Windows meant CPU 298 at msix.vector; the hypervisor can only follow index 0.
      { cpu: 5, apicId: 5, vector: pin0.vector },
    ]);
    expect(msix.cpu).toBe(298);
  });
});

describe('Windows on an AMD CPU + Intel IR unit, quirk switched off ("fixed Windows")', () => {
  const m = machineWith(300, { cpuVendor: 'amd', iommu: { kind: 'intel', dmaTranslation: false } });
  const g = createGuest(m, { os: 'windows', quirks: { amdCpuAssumesAmdIommu: false } });
  g.boot();

  it('programs a remappable RTE with the real vector in 7:0, and the pin is delivered', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'timer', kind: 'ioapic', pin: 2, cpu: 299 });
    // The first interrupt set up: IRTE 0 → RTE index field 63:49 = 0, format bit 48, the real vector in 7:0.
    expect(p.rte).toBe((1n << 48n) | BigInt(p.vector));
    m.ioapic.pulse(2);
    expect(c.accepted).toEqual([{ cpu: 299, apicId: 299, vector: p.vector }]);
  });

  it('programs Intel remappable MSIs from the same allocator as the pins, in setup order', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'nvme', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 299 });
    expect(p.irteIndex).toBe(1); // pin 2 took IRTE 0
    const [lo] = irrIrte(m, 1);
    expect(lo >> 32n).toBe(BigInt(x2apicLogicalId(299)));
    m.device(MSIX_DEV).signal(0);
    expect(c.accepted).toEqual([{ cpu: 299, apicId: 299, vector: p.vector }]);
  });
});

describe('Windows on an Intel CPU with an Intel IR-only unit', () => {
  const m = machineWith(300, { iommu: { kind: 'intel', dmaTranslation: false } });
  const g = createGuest(m, { os: 'windows' });
  g.boot();

  it('a level pin keeps the real vector in the RTE, so the local APIC\'s EOI broadcast clears Remote IRR', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'sci', kind: 'ioapic', pin: 9, cpu: 299, trigger: 'level' });
    expect(p.encoding).toBe('intel-remappable');
    m.ioapic.assert(9);
    m.ioapic.deassert(9);
    expect(g.handleInterrupt(299)).toBe(p.vector);
    m.ioapic.assert(9);
    expect(c.accepted).toHaveLength(2); // Remote IRR was cleared by the broadcast, so the next assertion is delivered
  });
});

describe('Windows with no IOMMU, 300 vCPUs (quirk msiHighAddressBits)', () => {
  it('puts destination bits 31:8 into address bits 55:32: the write misses the APIC and scribbles memory', () => {
    const m = machineWith(300);
    const g = createGuest(m, { os: 'windows' });
    g.boot();
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'nvme', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 299 });
    // 299 = 0x12B: 0x2B in addr 19:12, 0x1 in addr 55:32 → 0x00000001_FEE2B000.
    expect(p.message).toEqual({ addr: 0x1_fee2_b000n, data: p.vector });
    expect(p.encoding).toBe('windows-high-bits');
    m.device(MSIX_DEV).signal(0);
    expect(c.accepted).toEqual([]);
    expect(c.memory).toEqual([{ addr: 0x1_fee2_b000n, data: p.vector }]);
    expect(m.memory.read32(0x1_fee2_b000)).toBe(p.vector);
  });

  it('is delivered when the hypervisor accepts the Windows layout', () => {
    const m = machineWith(300, { hypervisor: { windowsHighAddressBits: true } });
    const g = createGuest(m, { os: 'windows' });
    g.boot();
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'nvme', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 299 });
    m.device(MSIX_DEV).signal(0);
    expect(c.accepted).toEqual([{ cpu: 299, apicId: 299, vector: p.vector }]);
  });

  it('an I/O APIC pin aimed above 255 keeps only destination bits 7:0 (model assumption, noted)', () => {
    const m = machineWith(300);
    const g = createGuest(m, { os: 'windows' });
    g.boot();
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'uart', kind: 'ioapic', pin: 4, cpu: 299 });
    expect(p.rte).toBe((0x2bn << 56n) | BigInt(p.vector));
    expect(p.note).toMatch(/destination bits 7:0/);
    m.ioapic.pulse(4);
    expect(c.accepted).toEqual([{ cpu: 43, apicId: 43, vector: p.vector }]);
  });

  it('with the quirk off and no extension, an unreachable CPU falls back to CPU 0', () => {
    const m = machineWith(300);
    const g = createGuest(m, { os: 'windows', quirks: { msiHighAddressBits: false } });
    g.boot();
    const p = g.setupInterrupt({ id: 'nvme', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 299 });
    expect(p.cpu).toBe(0);
    expect(p.message).toEqual({ addr: 0xfee00000n, data: p.vector });
    expect(p.note).toMatch(/effective affinity CPU 0/);
  });

  it('ignores the advertised 15-bit extension unless quirk ignoresExtDestId is off', () => {
    const m1 = machineWith(300, { hypervisor: { extDestId: true } });
    const g1 = createGuest(m1, { os: 'windows' });
    g1.boot();
    expect(g1.setupInterrupt({ id: 'a', kind: 'msix', device: MSIX_DEV, cpu: 299 }).encoding).toBe('windows-high-bits');
    const m2 = machineWith(300, { hypervisor: { extDestId: true } });
    const g2 = createGuest(m2, { os: 'windows', quirks: { ignoresExtDestId: false } });
    g2.boot();
    const p = g2.setupInterrupt({ id: 'a', kind: 'msix', device: MSIX_DEV, cpu: 299 });
    expect(p.encoding).toBe('ext-dest-id');
    expect(p.message).toEqual({ addr: 0xfee2b020n, data: p.vector });
  });
});

describe('Windows on an AMD CPU with an AMD IOMMU', () => {
  for (const dmaTranslation of [true, false]) {
    it(`works with DMA translation ${dmaTranslation ? 'advertised' : 'withheld (HATS = 11b)'}`, () => {
      const m = machineWith(300, { cpuVendor: 'amd', iommu: { kind: 'amd', dmaTranslation } });
      const g = createGuest(m, { os: 'windows' });
      g.boot();
      const c = capture(m);
      const msix = g.setupInterrupt({ id: 'nvme', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 299 });
      const pin = g.setupInterrupt({ id: 'timer', kind: 'ioapic', pin: 2, cpu: 298 });
      expect(msix.message).toEqual({ addr: 0xfee00000n, data: 0 });
      expect(pin.message).toEqual({ addr: 0xfee00004n, data: 2 });
      m.device(MSIX_DEV).signal(0);
      m.ioapic.pulse(2);
      expect(c.faults).toEqual([]);
      expect(c.accepted).toEqual([
        { cpu: 299, apicId: 299, vector: msix.vector },
        { cpu: 298, apicId: 298, vector: pin.vector },
      ]);
    });
  }
});
