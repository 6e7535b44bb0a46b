/**
 * The contract every guest-OS model implements. A model programs the machine only through the public API — CPU
 * loads/stores and MSRs, guest memory, PCI config space, device MMIO — exactly as that OS does, reads only what a
 * real guest can discover (`machine.firmware`: MADT, DMAR/IVRS, CPUID), and records what it decided in a boot log.
 */
import type { Machine } from '../machine/machine.ts';
import type { Address } from '../machine/cpu.ts';
import type { BootLog } from './boot-log.ts';

/** A driver's request for one interrupt, with the CPU it wants the interrupt affine to. */
export interface InterruptRequest {
  /** Source name in the scenario ("nvme-q0", "uart"). */
  id: string;
  kind: 'msi' | 'msix' | 'ioapic';
  /** PCI device ("bb:dd.f") for msi / msix. */
  device?: string;
  /** Vector number within the device (MSI message k / MSI-X table entry k), default 0. */
  vector?: number;
  /** I/O APIC input pin for kind 'ioapic'. */
  pin?: number;
  /** I/O APIC pins: trigger mode and polarity (defaults: edge, active high). MSIs are always edge. */
  trigger?: 'edge' | 'level';
  polarity?: 'high' | 'low';
  /** CPU index the driver asks for (irq affinity). */
  cpu: number;
  /**
   * The interrupt's whole affinity mask, when the driver leaves the choice to the OS (a default-affinity
   * request_irq): the OS picks one online CPU of it instead of `cpu`. Linux asks its vector matrix
   * (kernel/irq/matrix.c matrix_find_best_cpu: the CPU with the most vectors available, the lowest-numbered among
   * equals); the Windows model takes the first online CPU of the mask (how Windows chooses is not public).
   */
  affinity?: number[];
  /**
   * A managed interrupt (Linux pci_alloc_irq_vectors_affinity with PCI_IRQ_AFFINITY: a per-queue vector spread by the
   * kernel): when every CPU of its affinity goes offline it is shut down rather than moved, and started again when
   * one comes back (kernel/irq/cpuhotplug.c migrate_one_irq, irq_restore_affinity_of_irq).
   */
  managed?: boolean;
}

/** What the OS actually programmed for a request: where it believes the interrupt will go. */
export interface ProgrammedInterrupt {
  request: InterruptRequest;
  /** 'programmed', or 'refused' when the OS could not set the source up at all (the reason is in `note`). */
  status: 'programmed' | 'refused';
  /** CPU index and APIC ID the OS intends the interrupt to reach (after any fallback the OS applied). */
  cpu: number;
  apicId: number;
  /** The vector the OS's handler for this source is installed at on that CPU. */
  vector: number;
  /** Why the OS deviated from the request (e.g. "CPU 299 is offline; effective affinity CPU 0"). */
  note?: string;
  /** The message written into the device (MSI/MSI-X) or the RTE (I/O APIC), as the device will send it. */
  message?: { addr: bigint; data: number };
  /** The raw RTE for I/O APIC sources. */
  rte?: bigint;
  /** Remapping-table entry the OS filled, if any. */
  irteIndex?: number;
  /** Xen PIRQ the OS bound, if any. */
  pirq?: number;
  /** How the message is encoded ("compat", "ext-dest-id", "intel-remappable", "amd-remappable", "xen-pirq", "windows-high-bits", ...). */
  encoding: string;
}

/** A buffer a driver mapped for its device's DMA (dma_map_single). */
export interface DmaMapping {
  /** The address the device is told to use. */
  iova: bigint;
  /** Where the buffer is in RAM. */
  physical: bigint;
  /** false when no IOMMU translates for the device (the IOVA is the physical address). */
  translated: boolean;
}

/** How the OS sets up an I/O APIC pin's RTE control bits (trigger, polarity, initial mask). */
export interface PinSetup {
  trigger: 'edge' | 'level';
  polarity: 'high' | 'low';
  masked?: boolean;
}

export interface GuestOs {
  /** "linux" or "windows". */
  readonly os: string;
  readonly machine: Machine;
  readonly log: BootLog;
  /** Bring the system up: local APICs, x2APIC decision, IOMMU/interrupt remapping, APs via INIT/SIPI. */
  boot(): void;
  /** Indices of the CPUs the OS brought online. */
  onlineCpus(): number[];
  /** Program one interrupt source the way this OS does. */
  setupInterrupt(request: InterruptRequest): ProgrammedInterrupt;
  /**
   * The OS's interrupt entry on `cpu`: acknowledge (INTA), run the handler, and signal end of interrupt the way this
   * OS does it (local APIC EOI, plus the I/O APIC EOI register for remapped level interrupts on Linux). Returns the
   * vector taken, or null when nothing was pending.
   */
  handleInterrupt(cpu: number): number | null;
  /**
   * End of interrupt for `vector` on `cpu` the way this OS does it (the second half of handleInterrupt), for
   * scenarios that acknowledge, service a device and only then EOI (level-triggered sharing).
   */
  endOfInterrupt(cpu: number, vector: number): void;
  /**
   * Map one 4 KiB buffer for `device`'s DMA at `iova` with these permissions, the way this OS's DMA API does; absent
   * on models that do not implement DMA mapping.
   */
  mapDma?(device: string, iova: Address, access: { read: boolean; write: boolean }): DmaMapping;
  /** Unmap a page mapped by mapDma (and invalidate the IOMMU's cached translation of it). */
  unmapDma?(device: string, iova: Address): void;
}
