import { describe, expect, it } from 'vitest';
import { intelCookie } from '../../src/msi/cookie.ts';
import type { IntelIommu } from '../../src/iommu-intel/intel-iommu.ts';
import { linuxReadyUnit, QUEUE_BASE, remap, remappableAddress, remappedIrte, STATUS_BASE, TABLE_BASE, writeIrte } from './helpers.ts';

const DEV = 0x0318;
const FSTS = 0x34;
const IQE = 1 << 4;
const r32 = (u: IntelIommu, off: number) => Number(u.read(off, 4));
const vectorOf = (unit: IntelIommu, index: number) => remap(unit, DEV, remappableAddress(index, true), 0).out.msg.vector;

describe('interrupt entry cache', () => {
  it('a changed IRTE does not take effect until an index-selective IEC invalidation', () => {
    const { unit, host, driver } = linuxReadyUnit();
    writeIrte(host.memory, TABLE_BASE, 5, remappedIrte({ vector: 0x41, dest: 1, x2apic: true }));
    expect(vectorOf(unit, 5)).toBe(0x41);
    writeIrte(host.memory, TABLE_BASE, 5, remappedIrte({ vector: 0x42, dest: 1, x2apic: true })); // modify_irte without flush
    expect(vectorOf(unit, 5)).toBe(0x41); // stale, as on hardware
    expect(driver.indexIec(5, 0)).toBe(true);
    expect(vectorOf(unit, 5)).toBe(0x42);
  });

  it('an index-selective invalidation evicts exactly the routes of its 2^IM entries', () => {
    const { unit, host, driver } = linuxReadyUnit();
    for (const i of [7, 8, 11, 12]) writeIrte(host.memory, TABLE_BASE, i, remappedIrte({ vector: 0x40 + i, dest: 1, x2apic: true }));
    for (const i of [7, 8, 11, 12]) vectorOf(unit, i);
    for (const i of [7, 8, 11, 12]) writeIrte(host.memory, TABLE_BASE, i, remappedIrte({ vector: 0x80 + i, dest: 1, x2apic: true }));
    host.invalidations.length = 0;
    driver.indexIec(8, 2); // IM = 2: 4 entries, 8..11
    expect(host.invalidations).toHaveLength(1);
    const inv = host.invalidations[0];
    if (inv.kind !== 'match') throw new Error('expected a selective route invalidation');
    expect([7, 8, 9, 10, 11, 12].map((i) => inv.match(intelCookie(i)))).toEqual([false, true, true, true, true, false]);
    expect([7, 8, 11, 12].map((i) => vectorOf(unit, i))).toEqual([0x47, 0x88, 0x8b, 0x4c]);
  });

  it('a global IEC invalidation refreshes every entry and evicts every route', () => {
    const { unit, host, driver } = linuxReadyUnit();
    writeIrte(host.memory, TABLE_BASE, 3, remappedIrte({ vector: 0x41, dest: 1, x2apic: true }));
    vectorOf(unit, 3);
    writeIrte(host.memory, TABLE_BASE, 3, remappedIrte({ vector: 0x43, dest: 1, x2apic: true }));
    driver.globalIec();
    expect(host.invalidations).toEqual([{ kind: 'all' }]);
    expect(vectorOf(unit, 3)).toBe(0x43);
  });

  it('SIRTP drops the cache too', () => {
    const { unit, host, driver } = linuxReadyUnit();
    writeIrte(host.memory, TABLE_BASE, 3, remappedIrte({ vector: 0x41, dest: 1, x2apic: true }));
    vectorOf(unit, 3);
    writeIrte(host.memory, TABLE_BASE, 3, remappedIrte({ vector: 0x44, dest: 1, x2apic: true }));
    driver.writel(driver.gcmd | (1 << 24), 0x18);
    expect(vectorOf(unit, 3)).toBe(0x44);
  });

  it('a lookup with deliverNow = false does not fill the cache: the first real request reads memory', () => {
    // The IEC holds entries the hardware fetched for interrupt requests; a route precomputation / inspection is not a
    // request, so it must leave the cache as it was (otherwise it would pin an IRTE the hardware never read).
    const { unit, host } = linuxReadyUnit();
    writeIrte(host.memory, TABLE_BASE, 6, remappedIrte({ vector: 0x41, dest: 1, x2apic: true }));
    expect(remap(unit, DEV, remappableAddress(6, true), 0, 0, false).out.msg.vector).toBe(0x41);
    expect(unit.iec.has(6)).toBe(false);
    writeIrte(host.memory, TABLE_BASE, 6, remappedIrte({ vector: 0x46, dest: 1, x2apic: true }));
    expect(vectorOf(unit, 6)).toBe(0x46);
    expect(unit.iec.has(6)).toBe(true);
  });

  it('not-present entries are not cached (CAP.CM = 0): fixing one needs no invalidation', () => {
    const { unit, host } = linuxReadyUnit();
    expect(remap(unit, DEV, remappableAddress(4, true), 0).out.fault?.code).toBe(0x22);
    writeIrte(host.memory, TABLE_BASE, 4, remappedIrte({ vector: 0x45, dest: 1, x2apic: true }));
    expect(vectorOf(unit, 4)).toBe(0x45);
  });
});

describe('invalidation wait', () => {
  /** Place descriptors at IQH and advance IQT past them. */
  function queue(unit: IntelIommu, host: { memory: { write128(a: number, lo: bigint, hi: bigint): void } }, descs: [bigint, bigint][]) {
    let tail = r32(unit, 0x88);
    for (const [lo, hi] of descs) {
      host.memory.write128(QUEUE_BASE + tail, lo, hi);
      tail = (tail + 16) % 4096;
    }
    unit.write(0x88, 4, BigInt(tail));
  }
  const WAIT = 5n;
  const IF = 1n << 4n;
  const SW = 1n << 5n;
  const statusData = (v: number) => BigInt(v) << 32n;

  function programCompletionEvent(unit: IntelIommu) {
    unit.write(0xa4, 4, 0xe1n); // IEDATA: vector 0xE1
    unit.write(0xa8, 4, 0xfee05000n); // IEADDR: dest 7:0 = 0x05
    unit.write(0xac, 4, 0x100n); // IEUADDR: dest 31:8 = 0x1 → x2APIC ID 0x105
  }

  it('SW writes the status data to the status address', () => {
    const { unit, host } = linuxReadyUnit();
    queue(unit, host, [[WAIT | SW | statusData(0xabcd1234), BigInt(STATUS_BASE + 0x100)]]);
    expect(host.memory.read32(STATUS_BASE + 0x100)).toBe(0xabcd1234);
    expect(r32(unit, 0x9c)).toBe(0); // no IWC without IF
    expect(host.sent).toEqual([]);
  });

  it('IF sets ICS.IWC and sends IEDATA/IEADDR/IEUADDR when unmasked; no new event while IWC is set', () => {
    const { unit, host } = linuxReadyUnit();
    programCompletionEvent(unit);
    unit.write(0xa0, 4, 0n); // IECTL.IM = 0
    queue(unit, host, [[WAIT | IF, 0n]]);
    expect(r32(unit, 0x9c)).toBe(1);
    expect(host.sent).toEqual([{ addrHi: 0x100, addrLo: 0xfee05000, data: 0xe1 }]);
    queue(unit, host, [[WAIT | IF, 0n]]);
    expect(host.sent).toHaveLength(1);
    unit.write(0x9c, 4, 1n); // W1C IWC
    expect(r32(unit, 0x9c)).toBe(0);
    queue(unit, host, [[WAIT | IF, 0n]]);
    expect(host.sent).toHaveLength(2);
  });

  it('IF while IECTL.IM = 1 leaves IP pending until IM is cleared', () => {
    const { unit, host } = linuxReadyUnit();
    programCompletionEvent(unit);
    queue(unit, host, [[WAIT | IF, 0n]]);
    expect(r32(unit, 0xa0)).toBe(0xc0000000); // IM | IP
    expect(host.sent).toEqual([]);
    unit.write(0xa0, 4, 0n);
    expect(host.sent).toHaveLength(1);
    expect(r32(unit, 0xa0)).toBe(0);
  });

  it('SW and IF together: the status is written and the completion event sent (QEMU crashed on this before 2025)', () => {
    const { unit, host } = linuxReadyUnit();
    programCompletionEvent(unit);
    unit.write(0xa0, 4, 0n);
    queue(unit, host, [[WAIT | IF | SW | statusData(7), BigInt(STATUS_BASE)]]);
    expect(host.memory.read32(STATUS_BASE)).toBe(7);
    expect(host.sent).toHaveLength(1);
    expect(r32(unit, 0x9c)).toBe(1);
  });

  it('context-cache and IOTLB descriptors are accepted', () => {
    const { driver } = linuxReadyUnit();
    expect(driver.submit(1n | (1n << 4n))).toBe(true); // context-cache, global
    expect(driver.submit(2n | (1n << 4n))).toBe(true); // IOTLB, global
  });
});

describe('queue errors', () => {
  it('an unknown descriptor type sets IQE and IQERCD.IQEI = 3, leaves IQH at it, and stops; Linux recovery resumes', () => {
    const { unit, host, driver } = linuxReadyUnit();
    driver.writel(0xf0, 0x3c);
    driver.writel(0xfee00000, 0x40);
    driver.writel(0, 0x38); // fault event unmasked
    const head = r32(unit, 0x80);
    host.memory.write128(QUEUE_BASE + head, 3n, 0n); // type 3 device-TLB: ECAP.DT = 0, so invalid here
    host.memory.write128(QUEUE_BASE + head + 16, 5n | (1n << 5n) | (1n << 32n), BigInt(STATUS_BASE + 0x40));
    unit.write(0x88, 4, BigInt(head + 32));
    expect(r32(unit, FSTS)).toBe(IQE);
    expect(Number(unit.read(0xb0, 8) & 0xfn)).toBe(3);
    expect(r32(unit, 0x80)).toBe(head); // IQH at the bad descriptor
    expect(host.memory.read32(STATUS_BASE + 0x40)).toBe(0); // the wait behind it did not run
    expect(host.sent).toEqual([{ addrHi: 0, addrLo: 0xfee00000, data: 0xf0 }]); // IQE raises the fault event
    // Another IQT write while IQE is set fetches nothing.
    unit.write(0x88, 4, BigInt(head + 32));
    expect(r32(unit, 0x80)).toBe(head);
    // Linux qi_check_fault: copy the wait descriptor over the bad one, then W1C IQE.
    host.memory.write128(QUEUE_BASE + head, 5n | (1n << 5n) | (2n << 32n), BigInt(STATUS_BASE + 0x44));
    unit.write(FSTS, 4, BigInt(IQE));
    expect(r32(unit, FSTS)).toBe(0);
    expect(host.memory.read32(STATUS_BASE + 0x44)).toBe(2);
    expect(host.memory.read32(STATUS_BASE + 0x40)).toBe(1);
    expect(r32(unit, 0x80)).toBe(head + 32);
    expect(r32(unit, 0x38)).toBe(0); // IP cleared with IQE
  });

  it('reserved bits in an IEC descriptor → IQEI 4', () => {
    const { unit, host } = linuxReadyUnit();
    const head = r32(unit, 0x80);
    host.memory.write128(QUEUE_BASE + head, 4n | (1n << 5n), 0n); // bit 5 reserved
    unit.write(0x88, 4, BigInt(head + 16));
    expect(r32(unit, FSTS)).toBe(IQE);
    expect(Number(unit.read(0xb0, 8) & 0xfn)).toBe(4);
  });

  it('a tail beyond the queue → IQEI 1 (invalid tail)', () => {
    const { unit } = linuxReadyUnit(); // QS = 0: 256 descriptors, tail offsets 0..0xFF0
    unit.write(0x88, 4, 0x1000n);
    expect(r32(unit, FSTS)).toBe(IQE);
    expect(Number(unit.read(0xb0, 8) & 0xfn)).toBe(1);
  });

  it('a descriptor outside memory → IQEI 2 (fetch error)', () => {
    const { unit, driver } = linuxReadyUnit();
    driver.gcmd &= ~(1 << 26);
    driver.writel(driver.gcmd, 0x18); // QI off: IQH returns to 0
    expect(r32(unit, 0x80)).toBe(0);
    unit.write(0x88, 8, 0n);
    unit.write(0x90, 8, 0xfee00000n); // the queue in the interrupt window
    driver.gcmd |= 1 << 26;
    driver.writel(driver.gcmd, 0x18);
    unit.write(0x88, 4, 0x10n);
    expect(Number(unit.read(0xb0, 8) & 0xfn)).toBe(2);
  });

  it('IQA.DW = 1 (256-bit descriptors) without SMTS/ADMS → IQEI 5 and nothing is fetched', () => {
    // VT-d spec IQA_REG.DW: "When both scalable mode translation and abort-dma mode are not supported (SMTS = 0 and
    // ADMS = 0), hardware treats a value of 1 in this field as an Invalidation Queue Error"; IQERCD.IQEI 5 = "invalid
    // descriptor width programmed in IQA_REG" (VT-d spec §11.4.9.9, IQEI). This unit's ECAP has neither bit.
    const { unit, host, driver } = linuxReadyUnit();
    expect(Number((unit.read(0x10, 8) >> 43n) & 1n)).toBe(0); // ECAP.SMTS
    expect(Number((unit.read(0x10, 8) >> 52n) & 1n)).toBe(0); // ECAP.ADMS
    driver.gcmd &= ~(1 << 26);
    driver.writel(driver.gcmd, 0x18); // QI off: IQH = 0
    unit.write(0x88, 8, 0n);
    unit.write(0x90, 8, BigInt(QUEUE_BASE) | (1n << 11n)); // DW = 1, QS = 0
    driver.gcmd |= 1 << 26;
    driver.writel(driver.gcmd, 0x18);
    host.memory.write128(QUEUE_BASE, 5n | (1n << 5n) | (3n << 32n), BigInt(STATUS_BASE + 0xc0));
    unit.write(0x88, 4, 0x10n);
    expect(r32(unit, FSTS)).toBe(IQE);
    expect(Number(unit.read(0xb0, 8) & 0xfn)).toBe(5);
    expect(r32(unit, 0x80)).toBe(0);
    expect(host.memory.read32(STATUS_BASE + 0xc0)).toBe(0);
  });

  it('a tail written before QIE is set is processed when the queue is enabled (Windows order)', () => {
    const { unit, host, driver } = linuxReadyUnit();
    driver.gcmd &= ~(1 << 26);
    driver.writel(driver.gcmd, 0x18);
    host.memory.write128(QUEUE_BASE, 5n | (1n << 5n) | (9n << 32n), BigInt(STATUS_BASE + 0x80));
    unit.write(0x88, 4, 0x10n);
    expect(host.memory.read32(STATUS_BASE + 0x80)).toBe(0);
    driver.gcmd |= 1 << 26;
    driver.writel(driver.gcmd, 0x18);
    expect(host.memory.read32(STATUS_BASE + 0x80)).toBe(9);
  });
});
