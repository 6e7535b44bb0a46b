/**
 * The physical address decoder for CPU accesses and for device DMA that is not an interrupt: memory-mapped register
 * windows first (I/O APIC, IOMMU, enabled PCI BARs), RAM everywhere else. The local APIC page is per CPU and is
 * decoded by the CPU itself (cpu.ts) before it gets here.
 */
import type { MmioDevice, MmioRegion } from '../core/mmio.ts';

export class AddressSpace {
  private readonly regions: MmioRegion[] = [];

  add(region: MmioRegion): void {
    this.regions.push(region);
  }

  /** The enabled region containing [addr, addr + size), or null (→ RAM). */
  find(addr: number, size: number): MmioRegion | null {
    for (const region of this.regions) {
      if (addr >= region.base && addr + size <= region.base + region.size && (region.enabled === undefined || region.enabled())) {
        return region;
      }
    }
    return null;
  }

  /** Regions as currently mapped, for reports. */
  describe(): { name: string; base: number; size: number; enabled: boolean }[] {
    return this.regions.map((r) => ({ name: r.device.name, base: r.base, size: r.size, enabled: r.enabled === undefined || r.enabled() }));
  }
}

/** An MMIO region whose base moves (a PCI BAR that software reprograms). */
export class MovableRegion implements MmioRegion {
  constructor(
    readonly device: MmioDevice,
    private readonly getBase: () => number,
    private readonly getSize: () => number,
    readonly enabled: () => boolean,
  ) {}

  get base(): number {
    return this.getBase();
  }

  get size(): number {
    return this.getSize();
  }
}
