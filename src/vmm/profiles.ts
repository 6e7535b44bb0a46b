/**
 * VMM profiles: named sets of behaviours in which a real VMM differs from hardware. The `hardware` profile has no
 * behaviours — the VMM is invisible and outcomes are those of real hardware — and is the reference every other
 * profile is compared against. Each behaviour names the VMM function it copies.
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
   * The proof-of-concept hack of qemu-devel, 2024-10-01: the Intel vIOMMU reads an AMD-style (compatibility-format) message as an IRTE
   * index taken from data 10:0, as an AMD IOMMU would. Implemented by the IOMMU model's `intelIrAcceptsAmdFormat`.
   */
  intelReadsAmdFormat: boolean;
}

export interface VmmProfile extends VmmBehaviours {
  name: VmmProfileName;
  description: string;
}

const NONE: VmmBehaviours = { vtdCompatPassThrough: false, ioapicInvalidSid: false, kvmX2apicSwizzle: false, intelReadsAmdFormat: false };

export const VMM_PROFILES: Record<VmmProfileName, VmmProfile> = {
  hardware: { name: 'hardware', description: 'no VMM behaviours: what real hardware would do', ...NONE },
  qemu: {
    name: 'qemu',
    description: 'QEMU with KVM (kernel-irqchip=split): compatibility requests pass the Intel vIOMMU, I/O APIC routes carry sid 0xFFFF, 15-bit destinations swizzled to the KVM x2APIC format',
    ...NONE,
    vtdCompatPassThrough: true,
    ioapicInvalidSid: true,
    kvmX2apicSwizzle: true,
  },
  'qemu-amd-hack': {
    name: 'qemu-amd-hack',
    description: "the 'qemu' profile plus the qemu-devel 2024-10-01 hack: the Intel vIOMMU reads AMD-style messages (IRTE index in data 10:0)",
    vtdCompatPassThrough: true,
    ioapicInvalidSid: true,
    kvmX2apicSwizzle: true,
    intelReadsAmdFormat: true,
  },
};
