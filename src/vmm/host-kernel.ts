/**
 * What the VMM needs from the host kernel: vfio-pci's side of device assignment. The VMM never programs the host
 * IOMMU or the physical MSI capability itself — the host kernel does, exactly as vfio-pci + the kernel's MSI and
 * interrupt-remapping layers would. An implementation is supplied from above (the Linux model in src/guest), so
 * this layer stays below the OS models.
 */

/** A host interrupt vfio-pci requested for one vector of an assigned device. */
export interface HostVector {
  /** Host CPU index and APIC ID the kernel bound the interrupt to, and its vector there. */
  cpu: number;
  apicId: number;
  vector: number;
  /** The host IRTE the kernel filled (null without interrupt remapping). */
  irteIndex: number | null;
  /** The message the kernel wrote into the physical MSI capability / MSI-X table. */
  message: { addr: bigint; data: number };
}

/**
 * Where a posted host IRTE points: the posted-interrupt descriptor of a vCPU (VT-d) or its vAPIC backing page (AMD),
 * and the guest vector. AMD adds what amd_iommu_pi_data carries: the GA tag, and the vCPU's host APIC ID and
 * whether it runs (IRTE Destination and IsRun).
 */
export interface PostedTarget {
  descriptor: number;
  vector: number;
  urgent: boolean;
  amd?: { gaTag: number; dest: number; isRun: boolean };
}

/** The host INTx line vfio-pci requested for a device (request_irq on pdev->irq). */
export interface HostIntxLine {
  /** The I/O APIC input (GSI) the device's INTx reaches on the host (its ACPI _PRT routing). */
  gsi: number;
  /** Host CPU and vector the kernel bound the line to. */
  cpu: number;
  vector: number;
}

export interface HostKernel {
  /** The host's interrupt remapping, as the kernel enabled it at boot. */
  readonly remapping: 'intel' | 'amd' | null;
  /**
   * VFIO_DEVICE_SET_IRQS for vector `index` of the physical function: allocate a host vector (and IRTE), write the
   * physical MSI/MSI-X message, and register `handler` as the interrupt's handler (vfio_msihandler). Returns a
   * sentence when the kernel refuses.
   */
  enableVector(hostBdf: string, kind: 'msi' | 'msix', index: number, handler: () => void): HostVector | string;
  /**
   * A host interrupt for entry `index` of the device's IMS (device-specific storage): vector, IRTE and message from
   * the kernel's irq domain, `handler` registered; the caller stores the message in the device (LKML, "[PATCH v4 06/17] PCI: add SIOV and IMS capability detection", 2020-11-08).
   */
  enableImsVector(hostBdf: string, index: number, handler: () => void): HostVector | string;
  /**
   * request_irq(pdev->irq, handler, shared ? IRQF_SHARED : 0) for a device's INTx: the line is a level-triggered,
   * active-low I/O APIC input (set up the first time it is requested) and `handler` joins the line's chain; it returns
   * true when it handled the interrupt (IRQ_HANDLED). A sentence when the kernel refuses (-EBUSY: the line is held
   * by a handler without IRQF_SHARED, or this one wants it exclusively and it is taken).
   */
  requestIntx(hostBdf: string, shared: boolean, handler: () => boolean): HostIntxLine | string;
  /**
   * free_irq(pdev->irq, dev_id): `handler` leaves the line's chain; the last one to leave shuts the line down (its I/O
   * APIC entry masked) and any disable on it is forgotten.
   */
  freeIntx(line: HostIntxLine, handler: () => boolean): void;
  /** disable_irq_nosync on an INTx line: lazily — the line is masked at the I/O APIC when it next fires. */
  disableIntx(line: HostIntxLine): void;
  /** enable_irq: undo disableIntx; a line masked meanwhile is unmasked (a level still asserted fires again). */
  enableIntx(line: HostIntxLine): void;
  /** irq_set_vcpu_affinity(): rewrite the vector's IRTE in posted format (intel_ir_set_vcpu_affinity). */
  postVector(hostBdf: string, host: HostVector, target: PostedTarget): void;
  /** irq_set_vcpu_affinity(NULL): back to the remapped IRTE for the host vector. */
  unpostVector(hostBdf: string, host: HostVector): void;
  /**
   * AMD guest vAPIC: turn on GAMEn and the GA log with `notify` as the GA log notifier (KVM avic_ga_log_notifier).
   * False when the host IOMMU cannot (no EFR.GAMSup) — the VMM then refuses posting.
   */
  enableGuestVapic(notify: (gaTag: number) => void): boolean;
  /** amd_iommu_update_ga: the vCPU behind a posted vector was scheduled in on `dest` (IsRun = 1) or out. */
  updateGuestVapic(hostBdf: string, host: HostVector, isRun: boolean, dest: number): void;
  /** A host CPU took `vector`: run the kernel's interrupt entry if it owns it. True when it handled it. */
  interrupt(cpu: number, vector: number): boolean;
  /** Register a handler for a system vector on a host CPU (KVM's posted-interrupt and wake-up vectors). */
  requestSystemVector(cpu: number, vector: number, handler: () => void): void;
  /**
   * Let the host kernel take every interrupt still pending on its CPUs — its own, such as the host IOMMU's fault
   * event, whose handler prints the DMAR / AMD-Vi lines of the host's dmesg.
   */
  servicePending(): void;
  /** Host CPUs online now (CPU hotplug included). */
  onlineCpus(): number[];
  /**
   * CPU hotplug: take host CPU `cpu` offline, moving the vfio vectors bound to it to the CPUs left (each HostVector
   * the kernel returned is updated in place). Returns how many moved; a UsageError when it cannot go offline.
   */
  offlineCpu(cpu: number): number;
  /** Lines the host kernel printed (dmesg), e.g. its IOMMU fault handler's. */
  readonly log: readonly string[];
  /**
   * Host vectors the kernel has allocated so far (CPU offline's moves included). The kernel model is not part of a system snapshot, so a snapshot
   * restores only while this count is what it was when the snapshot was taken.
   */
  readonly allocations: number;
}
