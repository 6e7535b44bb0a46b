import { describe, expect, it } from 'vitest';
import { createGuest } from '../../src/guest/create-guest.ts';
import { ioapicReadRte } from '../../src/guest/ioapic-access.ts';
import { capture, machineWith, mmio64, MSIX_DEV, MSIX_DEV_RID, x2apicLogicalId } from './helpers.ts';

const AMD_BASE = 0xfed80000;
/** Device Table Entry bits 191:128 of a DeviceID, read from the table the guest installed. */
function dteIrq(m: ReturnType<typeof machineWith>, devid: number): bigint {
  const devTab = Number(mmio64(m, AMD_BASE) & 0x000f_ffff_ffff_f000n);
  return m.memory.read64(devTab + devid * 32 + 16);
}

describe('Linux with an AMD IOMMU in XT mode (XTSup + GASup), 300 vCPUs', () => {
  const m = machineWith(300, { cpuVendor: 'amd', iommu: { kind: 'amd' } });
  const g = createGuest(m, { os: 'linux' });
  g.boot();

  it('enables interrupt remapping and X2APIC mode and brings all CPUs up', () => {
    expect(g.log.has('AMD-Vi: Interrupt remapping enabled')).toBe(true);
    expect(g.log.has('AMD-Vi: X2APIC enabled')).toBe(true);
    expect(g.log.has('AMD-Vi: Extended features (')).toBe(true);
    expect(g.onlineCpus()).toHaveLength(300);
  });

  it('an MSI-X vector for CPU 299: data = per-device index, address 0xFEE00000, delivered above 255', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'q', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 299 });
    expect(p.irteIndex).toBe(0); // first fit from 0 in 00:03.0's own table
    expect(p.message).toEqual({ addr: 0xfee00000n, data: 0 });
    // DTE[191:128] = table | IntCtl 10b << 60 | IntTabLen 9 (512 entries) << 1 | IV.
    const dte = dteIrq(m, MSIX_DEV_RID);
    const table = Number(dte & 0x000f_ffff_ffff_ffc0n);
    expect(dte & ~0x000f_ffff_ffff_ffc0n).toBe((2n << 60n) | (9n << 1n) | 1n);
    // 128-bit IRTE: RemapEn, Fixed, DM = logical (cluster driver) at bit 6, dest[23:0] at 31:8; vector at 71:64,
    // dest[31:24] at 127:120. Logical ID of APIC 299 = 0x00120800.
    const [lo, hi] = m.memory.read128(table);
    expect(lo).toBe(1n | (1n << 6n) | (BigInt(x2apicLogicalId(299) & 0xffffff) << 8n));
    expect(hi).toBe(BigInt(p.vector));
    m.device(MSIX_DEV).signal(0);
    expect(c.faults).toEqual([]);
    expect(c.accepted).toEqual([{ cpu: 299, apicId: 299, vector: p.vector }]);
    expect(g.handleInterrupt(299)).toBe(p.vector);
  });

  it('an I/O APIC pin uses index = pin in the I/O APIC\'s table; the RTE vector field is that index', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'lvl', kind: 'ioapic', pin: 5, cpu: 260, trigger: 'level' });
    expect(p.irteIndex).toBe(5);
    expect(p.rte).toBe(0x8005n); // vector field 5, delivery mode 000, DM 0, dest 0, level
    expect(p.message).toEqual({ addr: 0xfee00000n, data: 0x8005 });
    m.ioapic.assert(5);
    expect(c.accepted).toEqual([{ cpu: 260, apicId: 260, vector: p.vector }]);
    m.ioapic.deassert(5);
    expect(g.handleInterrupt(260)).toBe(p.vector);
    // Linux wrote the RTE vector field (5) to the EOI register: Remote IRR is clear again.
    expect((ioapicReadRte(m.cpu(0), 0xfec00000, 5) >> 14n) & 1n).toBe(0n);
    expect(c.accepted).toHaveLength(1);
  });
});

describe('Linux with an AMD IOMMU without XTSup', () => {
  const m = machineWith(300, { cpuVendor: 'amd', iommu: { kind: 'amd', xt: false } });
  const g = createGuest(m, { os: 'linux' });
  g.boot();

  it('remaps in xAPIC mode and keeps the 255 limit', () => {
    expect(g.log.has('AMD-Vi: Interrupt remapping enabled')).toBe(true);
    expect(g.log.has('AMD-Vi: X2APIC enabled')).toBe(false);
    expect(g.onlineCpus()).toHaveLength(256);
  });
});

describe('Linux with an AMD IOMMU without GASup (32-bit IRTEs)', () => {
  const m = machineWith(8, { cpuVendor: 'amd', iommu: { kind: 'amd', ga: false } });
  const g = createGuest(m, { os: 'linux' });
  g.boot();

  it('writes the 32-bit IRTE: RemapEn | dest[7:0] << 8 | vector << 16', () => {
    const c = capture(m);
    const p = g.setupInterrupt({ id: 'q', kind: 'msix', device: MSIX_DEV, vector: 3, cpu: 7 });
    const table = Number(dteIrq(m, MSIX_DEV_RID) & 0x000f_ffff_ffff_ffc0n);
    // Physical x2APIC routing (IR not in x2APIC mode): DM = 0, dest = APIC ID 7.
    expect(m.memory.read32(table + p.irteIndex! * 4)).toBe((1 | (7 << 8) | (p.vector << 16)) >>> 0);
    m.device(MSIX_DEV).signal(3);
    expect(c.accepted).toEqual([{ cpu: 7, apicId: 7, vector: p.vector }]);
  });
});

describe('Linux AMD-Vi event-log interrupt (XT mode)', () => {
  it('an interrupt hitting an IRTE without RemapEn is logged, signalled to CPU 0, and printed by Linux\'s handler', () => {
    const m = machineWith(4, { cpuVendor: 'amd', iommu: { kind: 'amd' } });
    const g = createGuest(m, { os: 'linux' });
    g.boot();
    g.setupInterrupt({ id: 'q', kind: 'msix', device: MSIX_DEV, vector: 0, cpu: 1 }); // creates 00:03.0's table
    const c = capture(m);
    m.device(MSIX_DEV).dmaWrite(0xfee00000, 5); // index 5 was never written: RemapEn = 0
    expect(c.faults).toHaveLength(1);
    const vector = g.log.decisions.amdViEventVector as number;
    expect(c.accepted).toEqual([{ cpu: 0, apicId: 0, vector }]);
    expect(g.handleInterrupt(0)).toBe(vector);
    expect(g.log.lines.at(-1)).toBe(c.faults[0].linuxLog);
    expect(g.log.lines.at(-1)).toMatch(/^AMD-Vi: Event logged \[IO_PAGE_FAULT device=0000:00:03\.0/);
  });
});
