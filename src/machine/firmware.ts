/**
 * What a guest can discover without programming anything: the firmware tables and CPUID bits a real guest reads at
 * boot (MADT, DMAR or IVRS, the hypervisor's CPUID leaves). Guest-OS models read this, then program the machine
 * only through registers, memory and config space.
 */
import type { ResolvedConfig } from './config.ts';

export interface FirmwareTables {
  cpuid: {
    vendor: 'GenuineIntel' | 'AuthenticAMD';
    /** CPUID.1:ECX[21]: every CPU of this machine supports x2APIC. */
    x2apic: true;
    /** CPUID.1:ECX[31]: the machine is a virtual machine (irqpath machines always are). */
    hypervisorPresent: true;
    /** KVM_FEATURE_MSI_EXT_DEST_ID (CPUID 0x40000001 EAX bit 15) or its Xen/Hyper-V equivalents. */
    msiExtDestId: boolean;
    /** The hypervisor is Xen and offers PIRQ-over-MSI (XENFEAT / HVM PIRQs). */
    xenPirq: boolean;
  };
  /** MADT: one local APIC entry per CPU, in CPU order (x2APIC entries for IDs ≥ 255). */
  madt: { apicIds: number[]; ioapic: { id: number; address: number; gsiBase: 0 } };
  /** ACPI DMAR: present with an Intel IOMMU. */
  dmar: { registerBase: number; ioapicSourceId: number; hostAddressWidth: number } | null;
  /** ACPI IVRS: present with an AMD IOMMU. */
  ivrs: { registerBase: number; iommuDeviceId: number; ioapicDeviceId: number } | null;
}

export const IOAPIC_BASE = 0xfec00000;
export const LAPIC_DEFAULT_BASE = 0xfee00000;

export function buildFirmwareTables(
  config: ResolvedConfig,
  iommu: { kind: 'intel'; base: number; ioapicSourceId: number; awBits: number } | { kind: 'amd'; base: number; requesterId: number; ioapicDeviceId: number } | null,
): FirmwareTables {
  return {
    cpuid: {
      vendor: config.cpuVendor === 'amd' ? 'AuthenticAMD' : 'GenuineIntel',
      x2apic: true,
      hypervisorPresent: true,
      msiExtDestId: config.hypervisor.extDestId,
      xenPirq: config.hypervisor.xenPirq,
    },
    madt: { apicIds: [...config.apicIds], ioapic: { id: config.ioapic.id, address: IOAPIC_BASE, gsiBase: 0 } },
    dmar: iommu?.kind === 'intel' ? { registerBase: iommu.base, ioapicSourceId: iommu.ioapicSourceId, hostAddressWidth: iommu.awBits } : null,
    ivrs: iommu?.kind === 'amd' ? { registerBase: iommu.base, iommuDeviceId: iommu.requesterId, ioapicDeviceId: iommu.ioapicDeviceId } : null,
  };
}
