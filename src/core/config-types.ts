/**
 * The public machine configuration accepted by `createMachine`. These names are the API users and tests program
 * against; README documents them. Validation lives in config.ts.
 */

/** Hypervisor behaviours layered on top of bare-metal hardware. All default to false (bare metal). */
export interface HypervisorOptions {
  /** The 15-bit extended destination ID (KVM/Xen/Hyper-V): MSI address bits 11:5 / RTE bits 55:49 = APIC ID 14:8. */
  extDestId?: boolean;
  /** Xen PIRQ messages: vector 0 routes to a PIRQ (event channel) numbered by addr 19:12 | addr 63:40. */
  xenPirq?: boolean;
  /** KVM's x2APIC MSI API (KVM_X2APIC_API_USE_32BIT_IDS): address_hi 31:8 carry APIC ID 31:8. */
  x2apicApi?: boolean;
  /** Accept Windows' "high bits in the address" layout: address bits 55:32 carry APIC ID 31:8. */
  windowsHighAddressBits?: boolean;
  /**
   * The proof-of-concept hack from the qemu-devel thread "More than 255 vcpus Windows VM setup without viommu ?" (2024-10-01): the Intel unit reads a compatibility-format (AMD-style) message as an
   * IRTE index taken from data 10:0, as an AMD IOMMU would.
   */
  intelIrAcceptsAmdFormat?: boolean;
}

export interface IoapicOptions {
  /** Number of input pins / redirection entries (default 24). */
  pins?: number;
  /** Version register value: 0x20 (PCI 2.2 I/OxAPIC with EOI register, default) or 0x11 (82093AA, no EOI register). */
  version?: 0x11 | 0x20;
  /** I/O APIC ID (bits 27:24 of the ID register), default 0. */
  id?: number;
}

export interface MsiOptions {
  /** Vectors requested (Multiple Message Capable), a power of two from 1 to 32. */
  vectors: number;
  /** 64-bit address capable (default true). */
  addr64?: boolean;
  /** Per-vector masking capable (default false). */
  perVectorMask?: boolean;
}

export interface MsixOptions {
  /** Table size, 1..2048. */
  entries: number;
  /** BAR holding the table and the PBA (default 0). */
  bar?: number;
  /** Offset of the table in the BAR (default 0), 8-byte aligned. */
  tableOffset?: number;
  /** Offset of the PBA in the BAR (default: the first 4 KiB boundary after the table), 8-byte aligned. */
  pbaOffset?: number;
}

export interface DeviceOptions {
  /** PCI address "bb:dd.f". */
  bdf: string;
  vendorId?: number;
  deviceId?: number;
  /** 24-bit class code (default 0xff0000, "unassigned class"). */
  classCode?: number;
  msi?: MsiOptions;
  msix?: MsixOptions;
  /** A short label for reports ("nvme", "virtio-net"). */
  name?: string;
  /**
   * An embedded interrupt controller in a memory BAR (ath11k/ath12k; "ath11k and vfio-pci support", linux-wireless, 2024-01): the driver writes an MSI address
   * at each `registers[k]` and its data 8 bytes above, and the device raises source k by a DMA write of them.
   */
  embeddedMsi?: EmbeddedMsiOptions;
  /** The function's INTx pin (Interrupt Pin register: A = 1 … D = 4). Default: none (MSI/MSI-X only). */
  intx?: 'A' | 'B' | 'C' | 'D';
  /**
   * PCI-to-PCI bridges between the root bus and this function, outermost first, as the device numbers each bridge
   * has on its parent bus. The INTx pin is swizzled at each one (PCI-to-PCI Bridge spec 9.1). Default: none (the
   * function sits on the root bus, and `bdf`'s device number is its slot there).
   */
  behindBridges?: number[];
}

/** The legacy half of the machine: the 8259 pair, the clocks of the LAPIC timer and TSC, the HPET. */
export interface LegacyOptions {
  /**
   * The 8259 pair: '8259a' (default) follows the Intel 8259A data sheet; 'qemu' follows QEMU's hw/intc/i8259.c
   * where it differs (an edge request stays latched after the line drops; ICW1 clears the ISR).
   */
  pic?: '8259a' | 'qemu';
  /** Nanoseconds per APIC bus clock, the LAPIC timer's input (default 1: KVM's and QEMU's 1 GHz APIC timer). */
  apicBusCycleNs?: number;
  /** TSC frequency in Hz (default 1 000 000 000). */
  tscHz?: number;
  /** HPET comparators, 3..32 (default 3, as QEMU's hpet "timers" property). */
  hpetTimers?: number;
}

export interface EmbeddedMsiOptions {
  /** BAR slot (default 0). */
  bar?: number;
  /** BAR size in bytes, a power of two (default 0x200000, 2 MiB as on ath11k). */
  barSize?: number;
  /** BAR offsets of the sources' address registers, 4-byte aligned. */
  registers: number[];
}

export interface IntelIommuOptions {
  kind: 'intel';
  /** Register base (default 0xFED90000). */
  base?: number;
  /**
   * Guest address width in bits: 39, 48 or 57 (default 48); sets MGAW and the SAGAW bits (3/4/5-level second-level
   * tables). With a raw `cap`, MGAW + 1.
   */
  awBits?: number;
  /** Advertise DMA translation (default true). false: SAGAW = 0 and TE writes are ineffective (QEMU dma-translation=off). */
  dmaTranslation?: boolean;
  /** ECAP.IR (default true). */
  interruptRemapping?: boolean;
  /** ECAP.EIM (default true). */
  eim?: boolean;
  /** Number of fault recording registers, 1..256 (default 8). */
  faultRecords?: number;
  /** CAP.PI (default false). */
  postedInterrupts?: boolean;
  /** The I/O APIC's source-id on this unit (default 0xFF00, as QEMU's DMAR table describes it). */
  ioapicSourceId?: number;
  /**
   * Raw register values, as Linux prints them (`cap d2008c40660462 ecap f050da`): a hex string or a bigint. The unit
   * then reports exactly these and follows them (NFR/FRO, SAGAW/MGAW, PI; IR, EIM, QI, IRO). A friendly option
   * that contradicts them is an error.
   */
  cap?: bigint | string;
  ecap?: bigint | string;
  /** VER as Linux prints it ("1:0", the default). */
  ver?: string;
  /** DRHD flag INCLUDE_PCI_ALL (default true): every PCI device not listed under another unit is under this one. */
  includePciAll?: boolean;
  /** DRHD device scope (PCI endpoints "bb:dd.f") for a unit with includePciAll: false. */
  devices?: string[];
  /** The I/O APIC is in this unit's device scope (default true). false: no DRHD covers it. */
  ioapicScope?: boolean;
  /** An HPET in this unit's device scope (DMAR scope type MSI-capable HPET): its number and source-id. */
  hpet?: { id: number; sourceId: number };
}

export interface AmdIommuOptions {
  kind: 'amd';
  /** MMIO base (default 0xFED80000). */
  base?: number;
  /** EFR.XTSup (default true). */
  xt?: boolean;
  /** EFR.GASup, 128-bit IRTEs (default true). */
  ga?: boolean;
  /** EFR.GAMSup = 001b: guest virtual APIC posting (GuestMode = 1 IRTEs, the GA log; default false, needs ga). */
  vapic?: boolean;
  /** EFR2.NumIntRemapSup = 2K interrupts (default false). */
  intRemap2k?: boolean;
  /** Advertise DMA translation (default true); false sets EFR.HATS = 11b. */
  dmaTranslation?: boolean;
  /** Host page-table levels the IOMMU walks, EFR.HATS: 4 (00b), 5 (01b) or 6 (10b, default, as QEMU). */
  hostLevels?: 4 | 5 | 6;
  /** The I/O APIC's DeviceID (default '00:14.0'). */
  ioapicDeviceId?: string;
  /** The IOMMU's own PCI function (default '00:02.0'). */
  bdf?: string;
  /**
   * Raw Extended Feature Registers, as Linux prints EFR (`AMD-Vi: Extended features (0x...)`): a hex string or a
   * bigint. The unit reports exactly these; XTSup, GASup, IASup, HATS and NumIntRemapSup govern its behaviour.
   */
  efr?: bigint | string;
  efr2?: bigint | string;
  /** IVRS lists the I/O APIC (IVHD special device, variety IOAPIC) at ioapicDeviceId (default true). */
  ioapicInIvrs?: boolean;
  /** An HPET listed in IVRS as a special device: its number and DeviceID ("00:14.0"); null or absent: none. */
  hpet?: { id: number; deviceId: string } | null;
}

export type IommuOptions = IntelIommuOptions | AmdIommuOptions;

/** ACPI DMAR header fields a guest reads (an Intel IOMMU machine). */
export interface DmarTableOptions {
  /** "Host Address Width" (default: the unit's MGAW + 1). Linux prints it as "DMAR: Host address width N". */
  hostAddressWidth?: number;
  /** Flags bit 0, INTR_REMAP: the platform supports interrupt remapping (default true). */
  intrRemap?: boolean;
  /** Flags bit 1, X2APIC_OPT_OUT: firmware asks the OS not to use x2APIC mode (default false). */
  x2apicOptOut?: boolean;
  /**
   * The Enumeration ID of the DMAR I/O APIC device scope (VT-d 8.3.1), default the MADT's I/O APIC ID. Firmware that
   * gets it wrong names an I/O APIC the OS does not have; Linux then refuses interrupt remapping
   * ("[Firmware Bug]: ioapic N has no mapping iommu").
   */
  ioapicScopeId?: number;
}

/** The processor model every CPU of the machine is (CPUID leaf 0 vendor, CPUID.1:ECX). */
export interface CpuOptions {
  /** CPUID vendor string: GenuineIntel or AuthenticAMD (default intel). Same as the top-level `cpuVendor`. */
  vendor?: 'intel' | 'amd';
  /**
   * CPUID.1:ECX[21], x2APIC support (default true). Without it IA32_APIC_BASE.EXTD is reserved (WRMSR #GP), the
   * x2APIC MSRs #GP, and every APIC ID must fit the 8-bit xAPIC ID (0..254). QEMU's default TCG CPU (qemu64) and
   * QEMU 7.2 under TCG in general have no x2APIC.
   */
  x2apic?: boolean;
}

export interface MachineConfig {
  /** Number of CPUs, 1..32768. */
  cpus: number;
  /**
   * A physical machine: CPUID.1:ECX[31] (hypervisor present) reads 0, and no hypervisor CPUID leaves exist, so the
   * hypervisor options are unavailable. Default false: a virtual machine.
   */
  bareMetal?: boolean;
  /** DMAR flags and host address width (with an Intel IOMMU). */
  dmar?: DmarTableOptions;
  /** APIC ID of each CPU (default: CPU i has APIC ID i). Unique, 0..0xFFFFFFFE. */
  apicIds?: number[];
  cpuVendor?: 'intel' | 'amd';
  /** The CPU model: vendor and x2APIC support (`cpu.vendor` and `cpuVendor` are the same setting; give one). */
  cpu?: CpuOptions;
  /** null (a YAML key with nothing under it) means the defaults, as leaving it out does. */
  ioapic?: IoapicOptions | null;
  /** null (a YAML key with every option commented out) means none, as leaving it out does. */
  hypervisor?: HypervisorOptions | null;
  devices?: DeviceOptions[];
  iommu?: IommuOptions;
  /**
   * Several VT-d remapping units (one DRHD each), instead of `iommu`. A request goes to the unit whose device scope
   * lists its requester (the I/O APIC: the unit with ioapicScope; the HPET: the unit with hpet), else to the
   * INCLUDE_PCI_ALL unit, else it is not remapped at all.
   */
  iommus?: IntelIommuOptions[];
  /**
   * How a lowest-priority interrupt picks its CPU among the matching, software-enabled APICs:
   * 'priority' (default, hardware-like: a focus processor — one already holding the vector in IRR or ISR — wins,
   * then the lowest PPR, then the lowest APIC ID),
   * 'vector-hash' (KVM's default: the (vector mod N)-th match), 'first' (QEMU TCG: the first match).
   */
  lowestPriority?: 'priority' | 'vector-hash' | 'first';
  /** The 8259 pair, the timer clocks and the HPET (all quiet until software programs them). */
  legacy?: LegacyOptions;
}
