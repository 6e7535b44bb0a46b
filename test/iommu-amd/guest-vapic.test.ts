/**
 * Guest virtual APIC posting (GuestMode = 1 IRTEs, Control.GAMEn = 001b) and the GA log.
 *
 * IRTE words are written by hand from the 128-bit GuestMode = 1 layout (AMD IOMMU spec §2.2.5):
 *   w0: RemapEn 0, SupIOPF 1, GALogIntr 2, GAPPIDis 5, IsRun 6, GuestMode 7, Destination[23:0] 31:8
 *   w1: GATag
 *   w2: guest Vector 7:0, GA Root Ptr[31:12] in 31:12 (bits 115:76 of the entry = backing page [51:12])
 *   w3: GA Root Ptr[51:32] in 19:0, Destination[31:24] in 31:24
 * Backing page IRR: offset 0x200, eight 32-bit registers at a 16-byte stride (xAPIC layout, SDM 11.8.4).
 * GA log entry (Linux GA_TAG/GA_DEVID/GA_REQ_TYPE): [31:0] GATag, [47:32] DeviceID, [63:60] type 1 (GA_GUEST_NR).
 * Control: GAMEn 27:25, GALogEn 28, GAIntEn 29. Status: GALogRun 8, GAOverflow 9, GAInt 10. GA log base 0xE0,
 * tail address 0xE8, head 0x2040, tail 0x2048; GALogLen 1000b = 512 entries x 8 bytes (Linux GA_LOG_SIZE_512).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { amdCookie } from '../../src/msi/cookie.ts';
import { resolveAmdOptions } from '../../src/iommu-amd/options.ts';
import { CTRL, LinuxAmdDriver, MMIO } from './helpers.ts';

const DEV_A = 0x0018; // 00:03.0
const GA = { BASE: 0x00e0, TAIL_ADDR: 0x00e8, HEAD: 0x2040, TAIL: 0x2048 } as const;
const GAM_EN_VAPIC = 1n << 25n;
const GA_LOG_EN = 1n << 28n;
const GA_INT_EN = 1n << 29n;
const ST = { GA_LOG_RUN: 0x100, GA_OVERFLOW: 0x200, GA_INT: 0x400 } as const;
const GA_LOG = 0x0060_0000;
const GA_TAIL_BUF = 0x0061_0000;
const PAGE = 0x0050_0000;

function vapicDriver(extra: bigint = GAM_EN_VAPIC | GA_LOG_EN | GA_INT_EN, driver = {}): LinuxAmdDriver {
  const d = new LinuxAmdDriver({ vapic: true }, { msi: { addrLo: 0xfee01000, data: 0x4021 }, ...driver });
  // iommu_init_ga_log / iommu_ga_log_enable: base | 0x8 << 56, the tail buffer, head = tail = 0, then GALogEn/GAIntEn.
  d.write64(GA.BASE, BigInt(GA_LOG) | (8n << 56n));
  d.write64(GA.TAIL_ADDR, BigInt(GA_TAIL_BUF));
  d.init();
  d.setControl(d.control | extra);
  d.attachTable(DEV_A);
  return d;
}

interface GuestIrte { vector: number; page: number; dest: number; gaTag: number; isRun: boolean; gaLogIntr: boolean }

function writeGuestIrte(d: LinuxAmdDriver, index: number, e: GuestIrte, flush = true): void {
  const at = d.tables.get(DEV_A)! + index * 16;
  const w0 = 1 | (e.gaLogIntr ? 1 << 2 : 0) | (e.isRun ? 1 << 6 : 0) | (1 << 7) | ((e.dest & 0xffffff) << 8);
  const mem = d.host.memory;
  mem.write32(at, w0 >>> 0);
  mem.write32(at + 4, e.gaTag >>> 0);
  mem.write32(at + 8, ((e.page % 0x1_0000_0000) & 0xfffff000 | e.vector) >>> 0);
  mem.write32(at + 12, (Math.floor(e.page / 0x1_0000_0000) & 0xfffff | ((e.dest >>> 24) << 24)) >>> 0);
  if (flush) d.flushIrt(DEV_A);
}

function gaEntries(d: LinuxAmdDriver): [number, number][] {
  const head = Number(d.iommu.read(GA.HEAD, 4));
  const tail = Number(d.iommu.read(GA.TAIL, 4));
  const out: [number, number][] = [];
  for (let at = head; at !== tail; at = (at + 8) % 4096) out.push([d.host.memory.read32(GA_LOG + at), d.host.memory.read32(GA_LOG + at + 4)]);
  return out;
}

describe('AMD guest virtual APIC posting', () => {
  it('IsRun = 1: the vector lands in the backing page IRR and the doorbell goes to Destination; no GA log', () => {
    const d = vapicDriver();
    writeGuestIrte(d, 2, { vector: 0x61, page: PAGE, dest: 3, gaTag: 0x10001, isRun: true, gaLogIntr: true });
    const r = d.msi(DEV_A, 2);
    expect(r.kind).toBe('posted');
    expect(r.format).toBe('amd-vapic');
    expect(r.postedDescriptor).toBe(PAGE);
    expect(r.doorbellDest).toBe(3);
    expect(r.cookie).toBe(amdCookie(DEV_A, 2));
    // 0x61 = 97: IRR register 97 >> 5 = 3 at 0x200 + 3 x 16 = 0x230, bit 97 & 31 = 1.
    expect(d.host.memory.read32(PAGE + 0x230)).toBe(0x2);
    expect(gaEntries(d)).toEqual([]);
    expect(d.host.ownMsis).toEqual([]);
  });

  it('a backing page above 4 GiB and a 32-bit destination (XTEn) are assembled from w2/w3', () => {
    const d = vapicDriver(GAM_EN_VAPIC | GA_LOG_EN | GA_INT_EN, { xt: true });
    const page = 0x1_2345_6000;
    writeGuestIrte(d, 0, { vector: 0xfe, page, dest: 0x0100_0203, gaTag: 7, isRun: true, gaLogIntr: false });
    const r = d.msi(DEV_A, 0);
    expect(r.postedDescriptor).toBe(page);
    expect(r.doorbellDest).toBe(0x0100_0203);
    // 0xFE = 254: register 7 (0x270), bit 30.
    expect(d.host.memory.read32(page + 0x270)).toBe(0x4000_0000);
  });

  it('IsRun = 0, GALogIntr = 1: GA log entry (GATag, DeviceID, type 1), GAInt and one GA log MSI per 0→1 edge', () => {
    const d = vapicDriver();
    writeGuestIrte(d, 4, { vector: 0x40, page: PAGE, dest: 1, gaTag: 0xabcd0004, isRun: false, gaLogIntr: true });
    const r = d.msi(DEV_A, 4);
    expect(r.kind).toBe('posted');
    expect(r.doorbellDest).toBe(-1);
    expect(d.host.memory.read32(PAGE + 0x220)).toBe(0x1); // 0x40: register 2, bit 0
    expect(gaEntries(d)).toEqual([[0xabcd0004, (DEV_A | (1 << 28)) >>> 0]]);
    expect(d.status() & (ST.GA_INT | ST.GA_LOG_RUN)).toBe(ST.GA_INT | ST.GA_LOG_RUN);
    expect(d.host.ownMsis).toEqual([{ addrHi: 0, addrLo: 0xfee01000, data: 0x4021 }]);
    // The tail pointer is also stored at the GA Log Tail Address.
    expect(d.host.memory.read32(GA_TAIL_BUF)).toBe(8);
    // GAInt still set: a second entry is logged but sends no second interrupt.
    d.msi(DEV_A, 4);
    expect(gaEntries(d)).toHaveLength(2);
    expect(d.host.ownMsis).toHaveLength(1);
    // Software consumes (head = tail) and W1C GAInt: the next entry interrupts again.
    d.iommu.write(GA.HEAD, 4, d.iommu.read(GA.TAIL, 4));
    d.iommu.write(MMIO.STATUS, 4, BigInt(ST.GA_INT));
    d.msi(DEV_A, 4);
    expect(d.host.ownMsis).toHaveLength(2);
  });

  it('IsRun = 0, GALogIntr = 0: only the IRR bit, no log entry, no interrupt', () => {
    const d = vapicDriver();
    writeGuestIrte(d, 1, { vector: 0x21, page: PAGE, dest: 1, gaTag: 1, isRun: false, gaLogIntr: false });
    d.msi(DEV_A, 1);
    expect(d.host.memory.read32(PAGE + 0x210)).toBe(0x2);
    expect(gaEntries(d)).toEqual([]);
    expect(d.status() & ST.GA_INT).toBe(0);
  });

  it('the GA log interrupt uses XT register 0x180 when IntCapXTEn (not 0x170, which is the event log)', () => {
    const d = vapicDriver(GAM_EN_VAPIC | GA_LOG_EN | GA_INT_EN, { xt: true, intCapXt: { dest: 0x11, vector: 0x24 } });
    // union intcapxt: destid_0_23 31:8, vector 39:32 → dest 5, vector 0x25.
    d.write64(0x0180, (0x25n << 32n) | (5n << 8n));
    writeGuestIrte(d, 3, { vector: 0x33, page: PAGE, dest: 0, gaTag: 9, isRun: false, gaLogIntr: true });
    d.msi(DEV_A, 3);
    expect(d.host.apicBus.map((m) => [m.dest, m.vector])).toEqual([[5, 0x25]]);
  });

  it('GALogEn = 0: GALogRun stays clear and nothing is logged; the IRR bit is still set', () => {
    const d = vapicDriver(GAM_EN_VAPIC | GA_INT_EN);
    expect(d.status() & ST.GA_LOG_RUN).toBe(0);
    writeGuestIrte(d, 4, { vector: 0x40, page: PAGE, dest: 1, gaTag: 4, isRun: false, gaLogIntr: true });
    d.msi(DEV_A, 4);
    expect(d.host.memory.read32(PAGE + 0x220)).toBe(0x1);
    expect(gaEntries(d)).toEqual([]);
    expect(d.host.ownMsis).toEqual([]);
  });

  it('GA log overflow: entry dropped, GAOverflow set, GALogRun cleared, interrupt raised; logging stays off', () => {
    const d = vapicDriver();
    // Head 8, tail 0: Tail + 8 reaches Head, the log is full.
    d.iommu.write(GA.HEAD, 4, 8n);
    writeGuestIrte(d, 4, { vector: 0x40, page: PAGE, dest: 1, gaTag: 4, isRun: false, gaLogIntr: true });
    d.msi(DEV_A, 4);
    expect(Number(d.iommu.read(GA.TAIL, 4))).toBe(0);
    expect(d.status() & (ST.GA_OVERFLOW | ST.GA_LOG_RUN | ST.GA_INT)).toBe(ST.GA_OVERFLOW);
    expect(d.host.ownMsis).toHaveLength(1);
    d.iommu.write(GA.HEAD, 4, 0n);
    d.msi(DEV_A, 4);
    expect(Number(d.iommu.read(GA.TAIL, 4))).toBe(0); // still stopped until software restarts the log
    // Restart: clear GALogEn, W1C GAOverflow, set GALogEn.
    d.setControl(d.control & ~GA_LOG_EN);
    d.iommu.write(MMIO.STATUS, 4, BigInt(ST.GA_OVERFLOW));
    d.setControl(d.control | GA_LOG_EN);
    d.msi(DEV_A, 4);
    expect(gaEntries(d)).toEqual([[4, (DEV_A | (1 << 28)) >>> 0]]);
  });

  it('IsRun, Destination and GATag are not cached: changed without INVALIDATE_INTERRUPT_TABLE, they take effect', () => {
    const d = vapicDriver();
    writeGuestIrte(d, 5, { vector: 0x50, page: PAGE, dest: 1, gaTag: 5, isRun: false, gaLogIntr: true });
    d.msi(DEV_A, 5); // IRTE now cached
    expect(gaEntries(d)).toHaveLength(1);
    // avic_vcpu_load → amd_iommu_update_ga: IsRun = 1, Destination = 6, no flush.
    writeGuestIrte(d, 5, { vector: 0x50, page: PAGE, dest: 6, gaTag: 5, isRun: true, gaLogIntr: true }, false);
    const r = d.msi(DEV_A, 5);
    expect(r.doorbellDest).toBe(6);
    expect(gaEntries(d)).toHaveLength(1);
  });

  it('deliverNow = false reports the posting but writes nothing', () => {
    const d = vapicDriver();
    writeGuestIrte(d, 4, { vector: 0x40, page: PAGE, dest: 1, gaTag: 4, isRun: false, gaLogIntr: true });
    const r = d.msi(DEV_A, 4, 0xfee00000, false);
    expect([r.kind, r.postedDescriptor]).toEqual(['posted', PAGE]);
    expect(d.host.memory.read32(PAGE + 0x220)).toBe(0);
    expect(gaEntries(d)).toEqual([]);
  });

  it('without the vapic feature GAMEn/GALogEn/GAIntEn are not writable and the GA registers read 0', () => {
    const d = new LinuxAmdDriver({}, {}).init();
    d.setControl(d.control | GAM_EN_VAPIC | GA_LOG_EN | GA_INT_EN);
    expect(d.read64(MMIO.CONTROL) & (7n << 25n | GA_LOG_EN | GA_INT_EN)).toBe(0n);
    d.write64(GA.BASE, BigInt(GA_LOG) | (8n << 56n));
    expect(d.read64(GA.BASE)).toBe(0n);
    // EFR.GAMSup (23:21) = 001b only with vapic.
    expect((d.read64(MMIO.EFR) >> 21n) & 7n).toBe(0n);
    expect((new LinuxAmdDriver({ vapic: true }).read64(MMIO.EFR) >> 21n) & 7n).toBe(1n);
    expect(CTRL.GA_EN).toBe(1n << 17n);
  });

  it('vapic needs ga (128-bit IRTEs)', () => {
    expect(() => resolveAmdOptions({ kind: 'amd', vapic: true, ga: false })).toThrow(ConfigError);
    expect(() => resolveAmdOptions({ kind: 'amd', vapic: true, ga: false })).toThrow(/iommu\.vapic/);
  });

  it('a snapshot keeps the GA log registers', () => {
    const d = vapicDriver();
    writeGuestIrte(d, 4, { vector: 0x40, page: PAGE, dest: 1, gaTag: 4, isRun: false, gaLogIntr: true });
    d.msi(DEV_A, 4);
    const state = d.iommu.save();
    expect([state.gaLogBase, state.gaLogTail]).toEqual(['0x' + (BigInt(GA_LOG) | (8n << 56n)).toString(16), 8]);
    const e = new LinuxAmdDriver({ vapic: true });
    e.iommu.restore(state);
    expect(Number(e.iommu.read(GA.TAIL, 4))).toBe(8);
    expect(Number(e.iommu.read(MMIO.STATUS, 4)) & ST.GA_LOG_RUN).toBe(ST.GA_LOG_RUN);
  });
});
