import { describe, expect, it } from 'vitest';
import { createGuest } from '../../src/guest/create-guest.ts';
import { IRTA_REG, GSTS_REG, GSTS_IRES, GSTS_QIES, GSTS_CFIS } from '../../src/iommu-intel/registers.ts';
import { ioapicReadRte } from '../../src/guest/ioapic-access.ts';
import { capture, machineWith, mmio64, MSI_DEV, MSIX_DEV, MSIX_DEV_RID, x2apicLogicalId } from './helpers.ts';

const DMAR_BASE = 0xfed90000;

describe('Linux with an Intel IR-only unit (SAGAW = 0, EIM), 300 vCPUs', () => {
  const m = machineWith(300, { iommu: { kind: 'intel', dmaTranslation: false } });
  const g = createGuest(m, { os: 'linux' });
  g.boot();
  const irtBase = Number(mmio64(m, DMAR_BASE + IRTA_REG) & ~0xfffn);
  const irte = (index: number): [bigint, bigint] => m.memory.read128(irtBase + index * 16);

  it('prints the DMAR probe and IR enable lines Linux prints', () => {
    expect(g.log.has('DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap ')).toBe(true);
    expect(g.log.has('DMAR: dmar0: No supported address widths. Not attempting DMA translation.')).toBe(true);
    expect(g.log.has('DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0')).toBe(true);
    expect(g.log.has('DMAR-IR: Queued invalidation will be enabled to support x2apic and Intr-remapping.')).toBe(true);
    expect(g.log.has('DMAR-IR: Enabled IRQ remapping in x2apic mode')).toBe(true);
    expect(g.log.has('APIC: Switched APIC routing to: cluster x2apic')).toBe(true);
  });

  it('leaves the unit with QI and IR on, compatibility format off, IRTA = table | EIME | S=0xF', () => {
    const gsts = m.cpu(0).read32(DMAR_BASE + GSTS_REG);
    expect(gsts & GSTS_QIES).toBe(GSTS_QIES);
    expect(gsts & GSTS_IRES).toBe(GSTS_IRES);
    expect(gsts & GSTS_CFIS).toBe(0);
    const irta = mmio64(m, DMAR_BASE + IRTA_REG);
    expect(irta & 0xfffn).toBe(0x80fn); // EIME (bit 11) | S = 0xF (65536 entries)
  });

  it('brings all 300 CPUs online: no APIC-ID limit with IR in x2APIC mode', () => {
    expect(g.onlineCpus()).toHaveLength(300);
    expect(g.log.has('x2apic entry ignored')).toBe(false);
  });

  it('an MSI-X vector for CPU 299 is remapped through an IRTE Linux filled, and reaches APIC 299', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'q', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 299 });
    const index = p.irteIndex!;
    // Remappable: 0xFEE | handle[14:0] << 5 | format (bit 4) | SHV (bit 3); subhandle 0.
    expect(p.message).toEqual({ addr: BigInt((0xfee00000 | (index << 5) | 0x18) >>> 0), data: 0 });
    const [lo, hi] = irte(index);
    // prepare_irte: P, DM = logical (cluster driver), RH = 1, TM = edge, Fixed, vector; DST = logical ID of APIC 299
    // = cluster 18 (299 >> 4) in 31:16, bit 11 (299 & 15) → 0x00120800.
    const vector = p.vector;
    expect(lo).toBe((BigInt(x2apicLogicalId(299)) << 32n) | (BigInt(vector) << 16n) | 0b1101n);
    expect(x2apicLogicalId(299)).toBe(0x0012_0800);
    // SVT = 01 (verify requester), SQ = 00, SID = 00:03.0.
    expect(hi).toBe((1n << 18n) | BigInt(MSIX_DEV_RID));
    m.device(MSIX_DEV).signal(0);
    expect(c.faults).toEqual([]);
    expect(c.accepted).toEqual([{ cpu: 299, apicId: 299, vector }]);
    expect(g.handleInterrupt(299)).toBe(vector);
  });

  it('multi-message MSI gets an aligned IRTE block; message k uses subhandle k', () => {
    const c = capture(m);
    const p1 = g.setupInterrupt({ id: 'm1', kind: 'msi', device: MSI_DEV, vector: 1, cpu: 298 });
    const base = p1.irteIndex! - 1;
    expect(base % 4).toBe(0); // 4 messages → a 4-aligned block
    expect(p1.message).toEqual({ addr: BigInt((0xfee00000 | (base << 5) | 0x18) >>> 0), data: 1 });
    m.device(MSI_DEV).signal(1);
    expect(c.accepted).toEqual([{ cpu: 298, apicId: 298, vector: p1.vector }]);
    expect(g.handleInterrupt(298)).toBe(p1.vector);
  });

  it('a remapped level pin: pin number in the RTE vector field, edge at the LAPIC, EOI through the I/O APIC EOI register', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'lvl', kind: 'ioapic', pin: 10, cpu: 299, trigger: 'level', polarity: 'low' });
    const index = p.irteIndex!;
    // Remappable RTE: index 14:0 in 63:49, format bit 48, level (15), active low (13), vector field = pin 10.
    expect(p.rte).toBe((BigInt(index) << 49n) | (1n << 48n) | 0xa00an);
    // The I/O APIC IRTE carries the I/O APIC's source-id from the DMAR table (0xFF00) with SVT = 01.
    expect(irte(index)[1]).toBe((1n << 18n) | 0xff00n);
    m.ioapic.assert(10);
    expect(c.accepted).toEqual([{ cpu: 299, apicId: 299, vector: p.vector }]);
    const remoteIrr = () => (ioapicReadRte(m.cpu(0), 0xfec00000, 10) >> 14n) & 1n;
    expect(remoteIrr()).toBe(1n);
    // Still asserted and Remote IRR set: no second delivery.
    m.ioapic.deassert(10);
    // IRTE.TM = 0 makes the LAPIC see an edge interrupt: TMR bit clear, so its EOI broadcasts nothing.
    const tmrWord = Number(m.cpu(299).rdmsr(0x818 + (p.vector >> 5)));
    expect((tmrWord >>> (p.vector & 31)) & 1).toBe(0);
    expect(g.handleInterrupt(299)).toBe(p.vector);
    expect(remoteIrr()).toBe(0n); // cleared by the EOI-register write of the pin number
    expect(g.handleInterrupt(299)).toBeNull();
    expect(c.accepted).toHaveLength(1); // exactly once per assertion
  });

  it('a remapped pin keeps its one IRTE when it moves: the entry is rewritten, not another taken (intel_ir_set_affinity)', () => {
    const c = capture(m);
    const first = g.setupInterrupt({ id: 'gsi21', kind: 'ioapic', pin: 21, cpu: 5 });
    const moved = g.setupInterrupt({ id: 'gsi21', kind: 'ioapic', pin: 21, cpu: 7 });
    expect(moved.irteIndex).toBe(first.irteIndex);
    // VT-d 9.10: IRTE bits 23:16 hold the vector; the entry now carries the moved interrupt's.
    expect(Number((irte(moved.irteIndex!)[0] >> 16n) & 0xffn)).toBe(moved.vector);
    m.ioapic.assert(21);
    m.ioapic.deassert(21);
    expect(c.accepted).toEqual([{ cpu: 7, apicId: 7, vector: moved.vector }]);
    expect(g.handleInterrupt(7)).toBe(moved.vector);
  });

  it('a blocked compatibility-format request raises the DMAR fault interrupt on CPU 0 and Linux prints the record', () => {
    const c = capture(m);
    m.device(MSIX_DEV).dmaWrite(0xfee00000, 0x30);
    expect(c.faults.map((f) => f.code)).toEqual([0x25]);
    const vector = g.log.decisions.dmarFaultVector as number;
    expect(c.accepted).toEqual([{ cpu: 0, apicId: 0, vector }]);
    expect(g.handleInterrupt(0)).toBe(vector);
    expect(g.log.has('DMAR: DRHD: handling fault status reg 2')).toBe(true);
    expect(
      g.log.has('DMAR: [INTR-REMAP] Request device [00:03.0] fault index 0x0 [fault reason 0x25] Blocked a compatibility format interrupt request'),
    ).toBe(true);
  });
});

describe('Linux with an Intel IR unit without EIM', () => {
  const m = machineWith(300, { iommu: { kind: 'intel', dmaTranslation: false, eim: false } });
  const g = createGuest(m, { os: 'linux' });
  g.boot();

  it('enables IR in xAPIC mode and keeps the 255 limit', () => {
    expect(g.log.has('DMAR-IR: dmar0 does not support EIM')).toBe(true);
    expect(g.log.has('DMAR-IR: Enabled IRQ remapping in xapic mode')).toBe(true);
    expect(g.onlineCpus()).toHaveLength(256);
    expect(g.log.has('APIC: Switched APIC routing to: physical x2apic')).toBe(true);
  });

  it('writes the 8-bit destination into IRTE bits 47:40', () => {
    const p = g.setupInterrupt({ id: 'q', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 200 });
    const irtBase = Number(mmio64(m, DMAR_BASE + IRTA_REG) & ~0xfffn);
    const [lo] = m.memory.read128(irtBase + p.irteIndex! * 16);
    // DM = physical, RH = 1, P = 1 → low bits 0b1001; DST = 200 << 8 in 63:32.
    expect(lo).toBe((BigInt(200 << 8) << 32n) | (BigInt(p.vector) << 16n) | 0b1001n);
  });
});

describe('Linux with Intel IR and an 82093AA-style I/O APIC (version 0x11, no EOI register)', () => {
  const m = machineWith(4, { iommu: { kind: 'intel', dmaTranslation: false }, ioapic: { version: 0x11 } });
  const g = createGuest(m, { os: 'linux' });
  g.boot();

  it('EOIs a remapped level pin by masking it edge-triggered and restoring it, which clears Remote IRR', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'lvl', kind: 'ioapic', pin: 11, cpu: 3, trigger: 'level' });
    m.ioapic.assert(11);
    const rte = () => ioapicReadRte(m.cpu(0), 0xfec00000, 11);
    expect((rte() >> 14n) & 1n).toBe(1n);
    m.ioapic.deassert(11);
    expect(g.handleInterrupt(3)).toBe(p.vector);
    expect((rte() >> 14n) & 1n).toBe(0n);
    expect(rte()).toBe(p.rte); // restored: level, unmasked
    m.ioapic.assert(11);
    expect(c.accepted).toHaveLength(2);
  });
});
