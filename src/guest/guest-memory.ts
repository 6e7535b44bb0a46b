/**
 * The guest kernel's page allocator, reduced to what the models need: naturally aligned, zeroed blocks of guest RAM
 * for IOMMU tables, queues and completion words. Sparse RAM reads as zero until written, so "zeroed" costs nothing.
 * Allocations start at 16 MiB (clear of the real-mode area and the SIPI trampoline) and stay far below the PCI MMIO
 * window at 0xC0000000.
 */
import { UsageError } from '../core/errors.ts';

const ARENA_START = 0x0100_0000;
const ARENA_END = 0xc000_0000;

export class GuestPageAllocator {
  private next = ARENA_START;

  /** `bytes` of RAM aligned to `align` (a power of two, default 4 KiB); returns the physical address. */
  alloc(bytes: number, align = 4096): number {
    if (!Number.isInteger(bytes) || bytes <= 0) throw new UsageError(`guest allocation of ${bytes} bytes`);
    if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) throw new UsageError(`alignment ${align} is not a power of two`);
    const base = Math.ceil(this.next / align) * align;
    if (base + bytes > ARENA_END) throw new UsageError(`guest RAM arena exhausted allocating ${bytes} bytes`);
    this.next = base + bytes;
    return base;
  }
}
