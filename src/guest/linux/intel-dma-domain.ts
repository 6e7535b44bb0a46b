/**
 * A Linux DMA domain on a VT-d unit in legacy mode (drivers/iommu/intel/iommu.c): the root table, one context table
 * per bus, and one second-level page table per domain, written the way Linux writes them — context entry with
 * TT = 00b, AW from the domain's agaw, DID; non-leaf entries R|W; 4 KiB leaves with the mapping's permissions. With
 * CAP.CM = 0 Linux invalidates nothing when it maps (not-present → present); an unmap is followed by a
 * page-selective IOTLB invalidation (iommu_flush_iotlb_psi).
 */
import type { Cpu } from '../../machine/cpu.ts';
import type { Machine } from '../../machine/machine.ts';
import type { GuestPageAllocator } from '../guest-memory.ts';
import { type IntelIrDriver, QI_GRAN_PAGE } from '../drivers/intel-ir.ts';

const R = 1n;
const W = 2n;
const ADDR_MASK = 0x000f_ffff_ffff_f000n;

export class IntelDmaDomain {
  private readonly cpu: Cpu;
  private root = 0;
  private readonly contextTables = new Map<number, number>();
  readonly pageTable: number;
  /** AW field: 2 (48-bit, 4-level) when SAGAW offers it, else 1 (39-bit, 3-level) — Linux's default agaw choice. */
  readonly aw: number;
  private translating = false;

  constructor(
    machine: Machine,
    private readonly mem: GuestPageAllocator,
    private readonly drv: IntelIrDriver,
    readonly did: number,
  ) {
    this.cpu = machine.cpu(0);
    const { sagaw } = drv.dmaCapabilities;
    this.aw = sagaw & 0x4 ? 2 : 1;
    this.pageTable = mem.alloc(4096);
  }

  get levels(): number {
    return this.aw + 2;
  }

  /** domain_context_mapping_one: the context entry for `sid`; turns translation on at the first device. */
  attach(sid: number): boolean {
    if (this.root === 0) this.root = this.mem.alloc(4096);
    const bus = sid >>> 8;
    let ctx = this.contextTables.get(bus);
    if (ctx === undefined) {
      ctx = this.mem.alloc(4096);
      this.contextTables.set(bus, ctx);
      this.cpu.write64(this.root + bus * 16, BigInt(ctx) | 1n);
    }
    const at = ctx + (sid & 0xff) * 16;
    this.cpu.write64(at + 8, BigInt(this.aw) | (BigInt(this.did) << 8n));
    this.cpu.write64(at, BigInt(this.pageTable) | 1n); // P = 1, TT = 00b, FPD = 0
    if (!this.translating) this.translating = this.drv.enableTranslation(this.root);
    return this.translating;
  }

  /** __domain_mapping of one 4 KiB page: intermediate tables on demand, the leaf with R/W as asked. */
  map(iova: number, pa: number, read: boolean, write: boolean): void {
    const at = this.leaf(iova);
    this.cpu.write64(at, BigInt(pa) | (read ? R : 0n) | (write ? W : 0n));
  }

  /** Unmap one page: clear the leaf, then invalidate that page in the IOTLB (PSI, AM = 0). */
  unmap(iova: number): boolean {
    this.cpu.write64(this.leaf(iova), 0n);
    return this.drv.flushIotlb(QI_GRAN_PAGE, this.did, iova - (iova % 4096));
  }

  private leaf(iova: number): number {
    let table = this.pageTable;
    for (let level = this.levels; level > 1; level--) {
      const at = table + (Math.floor(iova / 2 ** (12 + 9 * (level - 1))) % 512) * 8;
      let e = this.cpu.read64(at);
      if ((e & (R | W)) === 0n) {
        e = BigInt(this.mem.alloc(4096)) | R | W;
        this.cpu.write64(at, e);
      }
      table = Number(e & ADDR_MASK);
    }
    return table + (Math.floor(iova / 4096) % 512) * 8;
  }
}
