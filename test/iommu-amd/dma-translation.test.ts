/**
 * AMD-Vi DMA translation through host page tables. Tables are built here from the spec layout (AMD IOMMU spec
 * §2.2.2 DTE, §2.2.3 I/O page tables: PR bit 0, Next Level 11:9, address 51:12, IR 61, IW 62); expected events and
 * log lines come from the event layout (AMD IOMMU spec §2.5) and Linux's IO_PAGE_FAULT format.
 */
import { describe, expect, it } from 'vitest';
import { buildCommand } from '../../src/iommu-amd/command-buffer.ts';
import { formatRawEventEntry } from '../../src/iommu-amd/linux-log.ts';
import { DEV_TABLE, LinuxAmdDriver, MMIO } from './helpers.ts';

const DEV = 0x0300; // 03:00.0
const DOMAIN = 7;
const PR = 1n;
const IR = 1n << 61n;
const IW = 1n << 62n;

class Tables {
  private next = 0x80_0000;
  constructor(private readonly drv: LinuxAmdDriver) {}
  page(): number {
    const p = this.next;
    this.next += 0x1000;
    return p;
  }
  /** DTE qwords 0/1: V, TV, Mode, root, IR/IW; DomainID; SE (97) / SA (98) on request. */
  setDte(mode: number, root: number, o: { ir?: boolean; iw?: boolean; se?: boolean; sa?: boolean; v?: boolean } = {}): void {
    const q0 = (o.v === false ? 0n : 3n) | (BigInt(mode) << 9n) | BigInt(root) | (o.ir === false ? 0n : IR) | (o.iw === false ? 0n : IW);
    const q1 = BigInt(DOMAIN) | (o.se ? 1n << 33n : 0n) | (o.sa ? 1n << 34n : 0n);
    const m = this.drv.host.memory;
    m.write64(DEV_TABLE + DEV * 32, q0);
    m.write64(DEV_TABLE + DEV * 32 + 8, q1);
    this.drv.queue(buildCommand.invalidateDevtabEntry(DEV));
  }
  /** Map a 4 KiB page through `levels` levels (PDEs with NL = level - 1, IR/IW set). Returns the leaf PTE address. */
  map(root: number, levels: number, iova: number, pa: number, perm: bigint, leafLevel = 1): number {
    const m = this.drv.host.memory;
    let table = root;
    for (let level = levels; level > leafLevel; level--) {
      const at = table + (Math.floor(iova / 2 ** (12 + 9 * (level - 1))) % 512) * 8;
      let e = m.read64(at);
      if ((e & PR) === 0n) {
        e = BigInt(this.page()) | PR | (BigInt(level - 1) << 9n) | IR | IW;
        m.write64(at, e);
      }
      table = Number(e & 0x000f_ffff_ffff_f000n);
    }
    const at = table + (Math.floor(iova / 2 ** (12 + 9 * (leafLevel - 1))) % 512) * 8;
    m.write64(at, BigInt(pa) | PR | perm);
    return at;
  }
}

function setup(opts: { hostLevels?: 4 | 5 | 6 } = {}) {
  const drv = new LinuxAmdDriver(opts.hostLevels ? { hostLevels: opts.hostLevels } : {}).init();
  const t = new Tables(drv);
  return { drv, t, iommu: drv.iommu };
}

describe('AMD-Vi host page-table translation', () => {
  it('walks a 3-level table (DTE Mode = 3)', () => {
    const { iommu, t } = setup();
    const root = t.page();
    t.setDte(3, root);
    t.map(root, 3, 0x1234_5000, 0x9000, IR | IW);
    expect(iommu.translateDma(DEV, 0x1234_5010, true)).toBe(0x9010);
  });

  it('Next Level = 0 in a level-2 entry is a 2 MiB page', () => {
    const { iommu, t } = setup();
    const root = t.page();
    t.setDte(4, root);
    t.map(root, 4, 0x4000_0000, 0x60_0000 | 0, IR | IW, 2);
    expect(iommu.translateDma(DEV, 0x4012_3456, false)).toBe(0x60_0000 + 0x12_3456);
  });

  it('level skipping: a level-4 PDE pointing straight at a level-1 table (NL = 1)', () => {
    const { iommu, t, drv } = setup();
    const root = t.page();
    const l1 = t.page();
    t.setDte(4, root);
    drv.host.memory.write64(root, BigInt(l1) | PR | (1n << 9n) | IR | IW);
    drv.host.memory.write64(l1 + 5 * 8, 0xa000n | PR | IR | IW);
    expect(iommu.translateDma(DEV, 0x5008, true)).toBe(0xa008);
    // IOVA bits of the skipped levels (3 and 2) must be zero: 0x20_5008 sets a level-2 index bit → IO_PAGE_FAULT.
    expect(iommu.translateDma(DEV, 0x20_5008, true)).toBeNull();
  });

  it('NL = 7: page size encoded in the address (16 KiB page: one 1 at bit 12)', () => {
    const { iommu, t, drv } = setup();
    const root = t.page();
    const l1 = t.page();
    t.setDte(2, root);
    drv.host.memory.write64(root, BigInt(l1) | PR | (1n << 9n) | IR | IW);
    // Address 0x31000: bit 12 = 1, bit 13 = 0 → n = 1 → 2^14 = 16 KiB page at 0x30000.
    drv.host.memory.write64(l1 + 4 * 8, 0x31000n | PR | (7n << 9n) | IR | IW);
    expect(iommu.translateDma(DEV, 0x4000 + 0x123, false)).toBe(0x30123);
  });

  it('Mode = 0 with IR/IW: untranslated; DTE.V = 0: untranslated', () => {
    const a = setup();
    a.t.setDte(0, 0);
    expect(a.iommu.translateDma(DEV, 0xdead_b000, true)).toBe(0xdead_b000);
    const b = setup();
    b.t.setDte(3, b.t.page(), { v: false });
    expect(b.iommu.translateDma(DEV, 0x1000, true)).toBe(0x1000);
  });
});

describe('AMD-Vi DMA faults', () => {
  it('write to a read-only page: IO_PAGE_FAULT with PR, RW and PE, and the Linux line', () => {
    const { iommu, t, drv } = setup();
    const root = t.page();
    t.setDte(3, root);
    t.map(root, 3, 0x7000, 0xb000, IR);
    expect(iommu.translateDma(DEV, 0x7010, true)).toBeNull();
    const [entry] = drv.eventEntries();
    // dword1: code 2 << 28 | flags (PR 0x10 | RW 0x20 | PE 0x40 = 0x70) << 16 | DomainID 7.
    expect(entry).toEqual([DEV, ((2 << 28) | (0x70 << 16) | DOMAIN) >>> 0, 0x7010, 0]);
    expect(formatRawEventEntry(entry)).toBe('AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:03:00.0 domain=0x0007 address=0x7010 flags=0x0070]');
  });

  it('read of a not-present page: flags 0x0000 (PR = 0, RW = 0)', () => {
    const { iommu, t, drv } = setup();
    t.setDte(3, t.page());
    expect(iommu.translateDma(DEV, 0x9000, false)).toBeNull();
    expect(formatRawEventEntry(drv.eventEntries()[0])).toBe('AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:03:00.0 domain=0x0007 address=0x9000 flags=0x0000]');
  });

  it('reserved bits in a PTE: PR | RZ', () => {
    const { iommu, t, drv } = setup();
    const root = t.page();
    t.setDte(3, root);
    const pte = t.map(root, 3, 0x7000, 0xb000, IR | IW);
    drv.host.memory.write64(pte, drv.host.memory.read64(pte) | (1n << 55n));
    expect(iommu.translateDma(DEV, 0x7000, false)).toBeNull();
    expect((drv.eventEntries()[0][1] >>> 16) & 0xfff).toBe(0x90);
  });

  it('DTE Mode beyond EFR.HATS (5 levels on a 4-level IOMMU): ILLEGAL_DEV_TABLE_ENTRY', () => {
    const { iommu, t, drv } = setup({ hostLevels: 4 });
    expect((iommu.read(MMIO.EFR, 8) >> 10n) & 3n).toBe(0n); // HATS = 00b
    t.setDte(5, t.page());
    expect(iommu.translateDma(DEV, 0x1000, true)).toBeNull();
    expect(drv.eventEntries()[0][1] >>> 28).toBe(1);
  });

  it('DTE.SA suppresses every IO_PAGE_FAULT; DTE.SE all after the first until the DTE is invalidated', () => {
    const a = setup();
    a.t.setDte(3, a.t.page(), { sa: true });
    expect(a.iommu.translateDma(DEV, 0x1000, true)).toBeNull();
    expect(a.drv.eventEntries()).toHaveLength(0);
    const b = setup();
    b.t.setDte(3, b.t.page(), { se: true });
    b.iommu.translateDma(DEV, 0x1000, true);
    b.iommu.translateDma(DEV, 0x2000, true);
    expect(b.drv.eventEntries()).toHaveLength(1);
    b.drv.queue(buildCommand.invalidateDevtabEntry(DEV));
    b.iommu.translateDma(DEV, 0x3000, true);
    expect(b.drv.eventEntries()).toHaveLength(2);
  });
});

describe('AMD-Vi IOTLB', () => {
  it('an unmapped PTE keeps translating until INVALIDATE_IOMMU_PAGES for its domain', () => {
    const { iommu, t, drv } = setup();
    const root = t.page();
    t.setDte(3, root);
    const pte = t.map(root, 3, 0x7000, 0xb000, IR | IW);
    expect(iommu.translateDma(DEV, 0x7000, true)).toBe(0xb000);
    drv.host.memory.write64(pte, 0n);
    expect(iommu.translateDma(DEV, 0x7000, true)).toBe(0xb000);
    // S = 0: the single page at 0x7000 of domain 7 (dword1 DomainID 47:32, dword2 Address 31:12).
    drv.queue([0, ((3 << 28) | DOMAIN) >>> 0, 0x7000, 0]);
    expect(iommu.translateDma(DEV, 0x7000, true)).toBeNull();
  });

  it('INVALIDATE_IOMMU_PAGES of another domain or page leaves the entry; INVALIDATE_IOMMU_ALL drops it', () => {
    const { iommu, t, drv } = setup();
    const root = t.page();
    t.setDte(3, root);
    const pte = t.map(root, 3, 0x7000, 0xb000, IR | IW);
    iommu.translateDma(DEV, 0x7000, false);
    drv.host.memory.write64(pte, 0xc000n | PR | IR | IW);
    drv.queue([0, ((3 << 28) | 8) >>> 0, 0x7000, 0]); // domain 8
    drv.queue([0, ((3 << 28) | DOMAIN) >>> 0, 0x8000, 0]); // page 0x8000
    expect(iommu.translateDma(DEV, 0x7000, false)).toBe(0xb000);
    drv.queue(buildCommand.invalidateIommuAll());
    expect(iommu.translateDma(DEV, 0x7000, false)).toBe(0xc000);
  });

  it('S = 1 with Linux\'s all-pages address flushes the whole domain', () => {
    const { iommu, t, drv } = setup();
    const root = t.page();
    t.setDte(3, root);
    const pte = t.map(root, 3, 0x4000_7000, 0xb000, IR | IW);
    iommu.translateDma(DEV, 0x4000_7000, false);
    drv.host.memory.write64(pte, 0n);
    drv.queue(buildCommand.invalidateIommuAllPages(DOMAIN));
    expect(iommu.translateDma(DEV, 0x4000_7000, false)).toBeNull();
  });
});
