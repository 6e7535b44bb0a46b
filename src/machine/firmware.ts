/**
 * What a guest can discover without programming anything: the firmware tables and CPUID bits a real guest reads at
 * boot (MADT, DMAR or IVRS, the hypervisor's CPUID leaves). Guest-OS models read this, then program the machine
 * only through registers, memory and config space.
 *
 * DMAR (Intel VT-d spec chapter 8): the header's Host Address Width and flags (bit 0 INTR_REMAP, bit 1
 * X2APIC_OPT_OUT), then one DRHD per remapping unit with its flags (bit 0 INCLUDE_PCI_ALL) and device scopes:
 * PCI endpoints, I/O APICs (scope type 3, enumeration ID = the I/O APIC's ID) and MSI-capable HPETs (type 4).
 * IVRS (AMD IOMMU spec, IVHD): the unit's register base and DeviceID, and IVHD special devices (variety I/O APIC or
 * HPET, handle = its ID) that tell the OS which DeviceID an I/O APIC's or HPET's interrupts carry.
 */
import type { ResolvedConfig } from './config.ts';

export interface DrhdUnit {
  registerBase: number;
  /** DRHD flag INCLUDE_PCI_ALL. */
  includePciAll: boolean;
  /** PCI endpoint scopes (requester IDs). */
  devices: number[];
  /** I/O APIC scopes: the I/O APIC's ID (MADT) and the source-id its interrupts carry. */
  ioapics: { id: number; sourceId: number }[];
  /** HPET scopes. */
  hpets: { id: number; sourceId: number }[];
}

export interface IvrsSpecialDevice {
  variety: 'ioapic' | 'hpet';
  /** The I/O APIC ID or HPET number. */
  handle: number;
  deviceId: number;
}

export interface FirmwareTables {
  cpuid: {
    vendor: 'GenuineIntel' | 'AuthenticAMD';
    /** CPUID.1:ECX[21]: the CPUs of this machine support x2APIC (config `cpu.x2apic`, default true). */
    x2apic: boolean;
    /** CPUID.1:ECX[31]: the machine is a virtual machine (false for a `bareMetal` machine). */
    hypervisorPresent: boolean;
    /** KVM_FEATURE_MSI_EXT_DEST_ID (CPUID 0x40000001 EAX bit 15) or its Xen/Hyper-V equivalents. */
    msiExtDestId: boolean;
    /** The hypervisor is Xen and offers PIRQ-over-MSI (XENFEAT / HVM PIRQs). */
    xenPirq: boolean;
  };
  /**
   * MADT: one local APIC entry per CPU, in CPU order (x2APIC entries for IDs ≥ 255), the I/O APIC, the interrupt
   * source overrides (ACPI 6.5 5.2.12.5) and the local APIC NMI entry (5.2.12.7).
   */
  madt: {
    apicIds: number[];
    ioapic: { id: number; address: number; gsiBase: 0 };
    interruptSourceOverrides: InterruptSourceOverride[];
    /** LAPIC NMI: ACPI processor UID 0xFF (all), flags 0 (bus default), LINT1. */
    localApicNmi: { processorUid: number; flags: number; lint: number };
  };
  /** ACPI HPET table: the event timer block's ID (its capabilities register bits 31:0), base and number. */
  hpet: { eventTimerBlockId: number; base: number; number: number; minimumTick: number };
  /**
   * ACPI DMAR: present with an Intel IOMMU. `registerBase` and `ioapicSourceId` describe the first unit (the one
   * covering the I/O APIC), kept for single-unit callers; `units` lists every DRHD in table order.
   */
  dmar: {
    registerBase: number;
    ioapicSourceId: number;
    hostAddressWidth: number;
    flags: { intrRemap: boolean; x2apicOptOut: boolean };
    units: DrhdUnit[];
  } | null;
  /** ACPI IVRS: present with an AMD IOMMU. `ioapicDeviceId` is the unit's view of the I/O APIC (null if unlisted). */
  ivrs: { registerBase: number; iommuDeviceId: number; ioapicDeviceId: number; specialDevices: IvrsSpecialDevice[] } | null;
}

export const IOAPIC_BASE = 0xfec00000;

/**
 * MADT Interrupt Source Override (ACPI 6.5 5.2.12.5, table 5.25): ISA IRQ `source` arrives at GSI `gsi`; `flags` are
 * MPS INTI flags: bits 1:0 polarity (00 bus default, 01 active high, 11 active low), bits 3:2 trigger (00 bus
 * default, 01 edge, 11 level).
 */
export interface InterruptSourceOverride {
  bus: 0;
  source: number;
  gsi: number;
  flags: number;
}

/** INTI flags "active high, level triggered" (0b1101). */
export const INTI_ACTIVE_HIGH_LEVEL = 0xd;

/**
 * The overrides QEMU's MADT carries on q35 and pc (hw/i386/acpi-common.c build_madt): IRQ0 → GSI 2 with bus-default
 * flags, and IRQ 5, 9, 10, 11 (x86 machines' pci_irq_mask) active high, level. Linux prints them as
 * "ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)", "… bus_irq 9 global_irq 9 high level". IRQ 9 is the
 * SCI (FADT SCI_INT = 9).
 */
export const QEMU_INTERRUPT_SOURCE_OVERRIDES: readonly InterruptSourceOverride[] = [
  { bus: 0, source: 0, gsi: 2, flags: 0 },
  { bus: 0, source: 5, gsi: 5, flags: INTI_ACTIVE_HIGH_LEVEL },
  { bus: 0, source: 9, gsi: 9, flags: INTI_ACTIVE_HIGH_LEVEL },
  { bus: 0, source: 10, gsi: 10, flags: INTI_ACTIVE_HIGH_LEVEL },
  { bus: 0, source: 11, gsi: 11, flags: INTI_ACTIVE_HIGH_LEVEL },
];

/** The GSI ISA IRQ `irq` arrives at under `overrides` (identity when none names it; ACPI 5.2.12.5). */
export function isaIrqToGsi(irq: number, overrides: readonly InterruptSourceOverride[]): number {
  for (const o of overrides) if (o.source === irq) return o.gsi;
  return irq;
}

export const HPET_BASE = 0xfed00000;

/** What firmware knows about one Intel unit (from its resolved options). */
export interface IntelUnitFacts {
  kind: 'intel';
  base: number;
  awBits: number;
  ioapicSourceId: number;
  includePciAll: boolean;
  scopeDevices: number[];
  ioapicScope: boolean;
  hpet: { id: number; sourceId: number } | null;
}

export interface AmdUnitFacts {
  kind: 'amd';
  base: number;
  requesterId: number;
  ioapicDeviceId: number;
  ioapicInIvrs: boolean;
  hpet: { id: number; deviceId: number } | null;
}

/** What firmware reports about the HPET (its capabilities register low half is the table's Event Timer Block ID). */
export interface HpetFacts {
  capabilities: number;
  minimumTick: number;
}

export function buildFirmwareTables(config: ResolvedConfig, units: IntelUnitFacts[] | AmdUnitFacts | null, hpet: HpetFacts): FirmwareTables {
  const ioapicId = config.ioapic.id;
  let dmar: FirmwareTables['dmar'] = null;
  let ivrs: FirmwareTables['ivrs'] = null;
  if (Array.isArray(units) && units.length > 0) {
    // DMAR 8.3: an INCLUDE_PCI_ALL DRHD must be the last one of its segment.
    const ordered = [...units].sort((a, b) => Number(a.includePciAll) - Number(b.includePciAll));
    const drhds: DrhdUnit[] = ordered.map((u) => ({
      registerBase: u.base,
      includePciAll: u.includePciAll,
      devices: [...u.scopeDevices],
      // The scope's Enumeration ID names the I/O APIC by its MADT ID, unless the firmware got it wrong (dmar.ioapicScopeId).
      ioapics: u.ioapicScope ? [{ id: config.dmar.ioapicScopeId ?? ioapicId, sourceId: u.ioapicSourceId }] : [],
      hpets: u.hpet ? [{ ...u.hpet }] : [],
    }));
    const first = ordered.find((u) => u.ioapicScope) ?? ordered[0];
    dmar = {
      registerBase: first.base,
      ioapicSourceId: first.ioapicSourceId,
      hostAddressWidth: config.dmar.hostAddressWidth ?? first.awBits,
      flags: { intrRemap: config.dmar.intrRemap, x2apicOptOut: config.dmar.x2apicOptOut },
      units: drhds,
    };
  } else if (units !== null && !Array.isArray(units)) {
    const special: IvrsSpecialDevice[] = [];
    if (units.ioapicInIvrs) special.push({ variety: 'ioapic', handle: ioapicId, deviceId: units.ioapicDeviceId });
    if (units.hpet) special.push({ variety: 'hpet', handle: units.hpet.id, deviceId: units.hpet.deviceId });
    ivrs = { registerBase: units.base, iommuDeviceId: units.requesterId, ioapicDeviceId: units.ioapicDeviceId, specialDevices: special };
  }
  return {
    cpuid: {
      vendor: config.cpuVendor === 'amd' ? 'AuthenticAMD' : 'GenuineIntel',
      x2apic: config.cpuX2apic,
      hypervisorPresent: !config.bareMetal,
      msiExtDestId: config.hypervisor.extDestId,
      xenPirq: config.hypervisor.xenPirq,
    },
    madt: {
      apicIds: [...config.apicIds],
      ioapic: { id: ioapicId, address: IOAPIC_BASE, gsiBase: 0 },
      interruptSourceOverrides: QEMU_INTERRUPT_SOURCE_OVERRIDES.map((o) => ({ ...o })),
      localApicNmi: { processorUid: 0xff, flags: 0, lint: 1 },
    },
    hpet: { eventTimerBlockId: hpet.capabilities, base: HPET_BASE, number: 0, minimumTick: hpet.minimumTick },
    dmar,
    ivrs,
  };
}
