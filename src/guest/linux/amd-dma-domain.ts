/**
 * A Linux DMA domain on an AMD IOMMU (drivers/iommu/amd/io_pgtable.c, v1 page tables): a 3-level host page table
 * (PAGE_MODE_3_LEVEL, Linux's starting mode), PDEs PR|IR|IW with Next Level = level − 1, 4 KiB PTEs PR|FC with IR/IW
 * from the mapping's permissions; the DTE gets the root, Mode, IR|IW|V|TV and the DomainID (set_dte_entry). Unmap
 * clears the PTE and flushes the page (domain_flush_pages → INVALIDATE_IOMMU_PAGES + COMPLETION_WAIT).
 */
import type { Cpu } from '../../machine/cpu.ts';
import type { Machine } from '../../machine/machine.ts';
import type { GuestPageAllocator } from '../guest-memory.ts';
import type { AmdIrDriver } from '../drivers/amd-ir.ts';

const PR = 1n;
const FC = 1n << 60n;
const IR = 1n << 61n;
const IW = 1n << 62n;
const ADDR_MASK = 0x000f_ffff_ffff_f000n;
const MODE = 3;

export class AmdDmaDomain {
  private readonly cpu: Cpu;
  readonly root: number;

  constructor(
    machine: Machine,
    private readonly mem: GuestPageAllocator,
    private readonly drv: AmdIrDriver,
    readonly domainId: number,
  ) {
    this.cpu = machine.cpu(0);
    this.root = mem.alloc(4096);
  }

  attach(devid: number): boolean {
    return this.drv.setDmaDomain(devid, this.root, MODE, this.domainId);
  }

  map(iova: number, pa: number, read: boolean, write: boolean): void {
    this.cpu.write64(this.leaf(iova), BigInt(pa) | PR | FC | (read ? IR : 0n) | (write ? IW : 0n));
  }

  unmap(iova: number): boolean {
    this.cpu.write64(this.leaf(iova), 0n);
    return this.drv.flushPage(this.domainId, iova);
  }

  private leaf(iova: number): number {
    let table = this.root;
    for (let level = MODE; level > 1; level--) {
      const at = table + (Math.floor(iova / 2 ** (12 + 9 * (level - 1))) % 512) * 8;
      let e = this.cpu.read64(at);
      if ((e & PR) === 0n) {
        e = BigInt(this.mem.alloc(4096)) | PR | IR | IW | (BigInt(level - 1) << 9n);
        this.cpu.write64(at, e);
      }
      table = Number(e & ADDR_MASK);
    }
    return table + (Math.floor(iova / 4096) % 512) * 8;
  }
}
