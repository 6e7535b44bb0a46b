/**
 * VMM profiles: named sets of behaviours in which a real VMM differs from hardware. The `hardware` profile has no
 * behaviours — the VMM is invisible and outcomes are those of real hardware — and is the reference every other
 * profile is compared against. Each behaviour names the QEMU or KVM function it copies.
 */

export const VMM_PROFILE_NAMES = ['hardware', 'qemu', 'qemu-amd-hack'] as const;
export type VmmProfileName = (typeof VMM_PROFILE_NAMES)[number];

export interface VmmBehaviours {
  /**
   * QEMU's Intel vIOMMU lets a compatibility-format request through unchanged where hardware would block it
   * (GSTS.CFIS = 0 or IRTA.EIME = 1: fault 0x25). hw/i386/intel_iommu.c `vtd_interrupt_remap_msi`: when the
   * request is not in remappable format it only traces "vtd_ir_remap_msi_req" and copies the message through.
   */
  vtdCompatPassThrough: boolean;
  /**
   * I/O APIC messages on the KVM route path carry requester ID 0xFFFF (X86_IOMMU_SID_INVALID) and skip the IRTE's
   * source-id check: hw/i386/kvm/ioapic.c / hw/intc/ioapic.c `ioapic_update_kvm_routes` call
   * `kvm_irqchip_update_msi_route(..., NULL)`, and target/i386/kvm/kvm.c `kvm_arch_fixup_msi_route` translates with
   * `pci_requester_id(dev)` only when a device is given; `vtd_irte_get` checks SVT/SQ only when
   * `sid != X86_IOMMU_SID_INVALID`.
   */
  ioapicInvalidSid: boolean;
  /**
   * A compatibility message carrying the 15-bit extended destination ID is swizzled into KVM's x2APIC MSI format
   * (address_hi = destination 31:8) before it becomes a KVM route: target/i386/kvm/kvm.c
   * `kvm_swizzle_msi_ext_dest_id`, called from `kvm_arch_fixup_msi_route`.
   */
  kvmX2apicSwizzle: boolean;
  /**
   * QEMU's Intel vIOMMU has no interrupt entry cache: `vtd_irte_get` reads the IRTE from guest memory
   * (`dma_memory_read`) for every request it translates, so a request QEMU itself translates (a masked vector
   * re-sent at unmask, an emulated device) always sees the table as it is now.
   */
  vtdUncachedIrte: boolean;
  /**
   * KVM routes are KVM's own copies of a translation, refreshed only when QEMU says so:
   * - built with do_fault = 0 (`kvm_arch_fixup_msi_route` → `vtd_int_remap` → `vtd_interrupt_remap_msi(..., false)`):
   *   no route translation is ever a guest-visible fault;
   * - every Intel vIOMMU IEC notification (`vtd_iec_notify_all`: any IEC invalidation, global or by index, and SIRTP)
   *   re-translates every enabled, unmasked MSI route (target/i386/kvm/kvm.c `kvm_update_msi_routes_all`);
   * - a re-translation that fails keeps the old route: `kvm_irqchip_update_msi_route` returns -EINVAL from
   *   `kvm_arch_fixup_msi_route` before `kvm_update_routing_entry`, and its callers ignore it (stale delivery, no
   *   fault);
   * - a vector whose first translation fails gets no route (`vfio_add_kvm_msi_virq`: virq < 0) and stays on QEMU's
   *   userspace path, `vfio_msi_interrupt` → `msi_send_message`, translated by the vIOMMU per interrupt with
   *   do_fault = 1.
   * Off (`hardware`): a route is a cache the vIOMMU's invalidations evict by the entry it depended on, translated
   * again at its next interrupt with deliverNow = true (the proposal in qemu-devel, "More than 255 vcpus Windows VM setup without viommu ?", 2024-10-01).
   */
  kvmRouteCopies: boolean;
  /**
   * The proof-of-concept hack of qemu-devel, "More than 255 vcpus Windows VM setup without viommu ?", 2024-10-01: QEMU's Intel vIOMMU accepts an AMD-format (compatibility) message and reads it
   * as an IRTE index taken from data 10:0, as an AMD IOMMU would. The same behaviour as the machine option
   * `hypervisor.intelIrAcceptsAmdFormat`, here applied by the VMM's QEMU front.
   */
  intelIrAcceptsAmdFormat: boolean;
}

export interface VmmProfile extends VmmBehaviours {
  name: VmmProfileName;
  description: string;
}

const NONE: VmmBehaviours = { vtdCompatPassThrough: false, ioapicInvalidSid: false, kvmX2apicSwizzle: false, vtdUncachedIrte: false, kvmRouteCopies: false, intelIrAcceptsAmdFormat: false };

const QEMU: VmmBehaviours = { ...NONE, vtdCompatPassThrough: true, ioapicInvalidSid: true, kvmX2apicSwizzle: true, vtdUncachedIrte: true, kvmRouteCopies: true };

export const VMM_PROFILES: Record<VmmProfileName, VmmProfile> = {
  hardware: { name: 'hardware', description: 'no VMM behaviours: what real hardware would do', ...NONE },
  qemu: {
    name: 'qemu',
    description:
      'QEMU with KVM (kernel-irqchip=split): compatibility requests pass the Intel vIOMMU, I/O APIC routes carry sid 0xFFFF, 15-bit destinations swizzled to the KVM x2APIC format, IRTEs read uncached, every IEC invalidation re-translates all MSI routes and a failed one keeps the old route',
    ...QEMU,
  },
  'qemu-amd-hack': {
    name: 'qemu-amd-hack',
    description: "the 'qemu' profile plus the qemu-devel 2024-10-01 hack: the Intel vIOMMU accepts AMD-format messages (IRTE index in data 10:0)",
    ...QEMU,
    intelIrAcceptsAmdFormat: true,
  },
};
