/**
 * The IOMMU's own PCI function (AMD IOMMU spec, IOMMU PCI capability block; QEMU amdvi_pci_realize): ID 1022:1419, class 0x0806 (system peripheral / IOMMU),
 * an IOMMU capability (ID 0x0F, CapType 011b) showing where the MMIO window is, and an MSI capability (64-bit, one
 * vector, no per-vector masking) the IOMMU signals through when Control.IntCapXTEn = 0.
 *
 * Built on the shared config space (src/pci/config-space.ts, type0-header.ts). The MSI capability's registers are
 * laid out here rather than with src/pci/msi-capability.ts because that class sends through the translation core,
 * and the IOMMU's own interrupt must never be remapped (it goes to IommuHost.sendOwnMsi).
 *
 * Capability Base Low has Enable (bit 0) set, which locks the capability registers (RW1S per the notes; firmware
 * leaves it set on real parts), so the whole IOMMU capability is read-only here. NpCache = 0 (a hardware-like
 * unit; Linux would otherwise switch to strict flushing "due to virtualization"). Not modelled: QEMU's extra
 * HyperTransport capability.
 */
import { UsageError } from '../core/errors.ts';
import { PciConfigSpace } from '../pci/config-space.ts';
import { PCI_COMMAND, initType0Header } from '../pci/type0-header.ts';

export const PCI_VENDOR_AMD = 0x1022;
export const PCI_DEVICE_AMD_IOMMU = 0x1419;
export const PCI_CLASS_IOMMU = 0x080600;

export const CAP_ID_IOMMU = 0x0f;
export const CAP_ID_MSI = 0x05;
/** IOMMU capability: header, Base Low, Base High, Range, MiscInfo0, MiscInfo1. */
const IOMMU_CAP_LENGTH = 0x18;
export const IOMMU_CAP_BASE_LO = 0x04;
export const IOMMU_CAP_BASE_HI = 0x08;
export const IOMMU_CAP_RANGE = 0x0c;
export const IOMMU_CAP_MISC0 = 0x10;
// Header bits (QEMU amdvi_pci_realize, VBox, OpenVMM IommuCapabilityData).
/** @public */
export const CAP_TYPE_SHIFT = 16;
export const CAP_TYPE_IOMMU = 0b011;
export const CAP_REV_SHIFT = 19;
/** @public */
export const CAP_IOTLB_SUP = 1 << 24;
/** @public */
export const CAP_HT_TUNNEL = 1 << 25;
/** @public */
export const CAP_NP_CACHE = 1 << 26;
export const CAP_EFR_SUP = 1 << 27;
const BASE_LO_ENABLE = 1;

// MSI capability (PCI Local Bus 3.0 §6.8.1): 64-bit layout without masking.
const MSI_CAP_LENGTH = 0x0e;
const MSI_CONTROL = 0x02;
const MSI_ADDR_LO = 0x04;
const MSI_ADDR_HI = 0x08;
const MSI_DATA = 0x0c;
const MSI_CONTROL_ENABLE = 1 << 0;
const MSI_CONTROL_64BIT = 1 << 7;

export const AMD_IOMMU_PCI_STATE_VERSION = 1;

export interface AmdIommuPciState {
  version: number;
  command: number;
  msiControl: number;
  msiAddrLo: number;
  msiAddrHi: number;
  msiData: number;
}

export class AmdIommuPciFunction {
  readonly space = new PciConfigSpace();
  readonly iommuCapOffset: number;
  readonly msiCapOffset: number;

  constructor(
    readonly requesterId: number,
    mmioBase: number,
  ) {
    const s = this.space;
    initType0Header(s, { vendorId: PCI_VENDOR_AMD, deviceId: PCI_DEVICE_AMD_IOMMU, classCode: PCI_CLASS_IOMMU });

    const cap = s.addCapability(CAP_ID_IOMMU, IOMMU_CAP_LENGTH);
    this.iommuCapOffset = cap;
    s.set16(cap + 2, (CAP_TYPE_IOMMU | (1 << (CAP_REV_SHIFT - 16)) | (CAP_EFR_SUP >>> 16)) & 0xffff);
    s.set32(cap + IOMMU_CAP_BASE_LO, ((mmioBase % 0x1_0000_0000) & 0xffffc000) | BASE_LO_ENABLE);
    s.set32(cap + IOMMU_CAP_BASE_HI, Math.floor(mmioBase / 0x1_0000_0000));
    s.set32(cap + IOMMU_CAP_RANGE, 0); // RngValid = 0: the IVRS table describes which devices are behind the unit
    // MiscInfo0: MsiNum [4:0] = 0 (the one MSI message), PAsize [14:8] = 48, VAsize [21:15] = 64.
    s.set32(cap + IOMMU_CAP_MISC0, (48 << 8) | (64 << 15));

    const msi = s.addCapability(CAP_ID_MSI, MSI_CAP_LENGTH);
    this.msiCapOffset = msi;
    s.set16(msi + MSI_CONTROL, MSI_CONTROL_64BIT); // MMC = 0: one vector
    s.setWritable(msi + MSI_CONTROL, 2, MSI_CONTROL_ENABLE); // MME stays 0 (only one message exists)
    s.setWritable(msi + MSI_ADDR_LO, 4, 0xfffffffc);
    s.setWritable(msi + MSI_ADDR_HI, 4, 0xffffffff);
    s.setWritable(msi + MSI_DATA, 2, 0xffff);
  }

  configRead(offset: number, size: number): number {
    return this.space.read(offset, size);
  }

  configWrite(offset: number, size: number, value: number): void {
    this.space.write(offset, size, value);
  }

  get msiEnabled(): boolean {
    return (this.space.get16(this.msiCapOffset + MSI_CONTROL) & MSI_CONTROL_ENABLE) !== 0;
  }

  get msiAddrLo(): number {
    return this.space.get32(this.msiCapOffset + MSI_ADDR_LO);
  }

  get msiAddrHi(): number {
    return this.space.get32(this.msiCapOffset + MSI_ADDR_HI);
  }

  get msiData(): number {
    return this.space.get16(this.msiCapOffset + MSI_DATA);
  }

  save(): AmdIommuPciState {
    return {
      version: AMD_IOMMU_PCI_STATE_VERSION,
      command: this.space.get16(PCI_COMMAND),
      msiControl: this.space.get16(this.msiCapOffset + MSI_CONTROL),
      msiAddrLo: this.msiAddrLo,
      msiAddrHi: this.msiAddrHi,
      msiData: this.msiData,
    };
  }

  /** Throw a UsageError naming the bad field if `state` cannot be restored. Changes nothing. */
  checkState(state: unknown): void {
    const bad = (why: string): never => {
      throw new UsageError(`AMD IOMMU PCI function ${this.requesterId.toString(16)} state: ${why}`);
    };
    if (state === null || typeof state !== 'object') bad('must be an object');
    const s = state as Record<string, unknown>;
    if (s.version !== AMD_IOMMU_PCI_STATE_VERSION) bad(`version must be ${AMD_IOMMU_PCI_STATE_VERSION}, got ${JSON.stringify(s.version)}`);
    const field = (name: string, max: number): void => {
      const v = s[name];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(`${name} must be an integer 0..0x${max.toString(16)}, got ${JSON.stringify(v)}`);
    };
    field('command', 0xffff);
    field('msiControl', 0xffff);
    field('msiAddrLo', 0xffffffff);
    field('msiAddrHi', 0xffffffff);
    field('msiData', 0xffff);
    if (((s.msiAddrLo as number) & 3) !== 0) bad('msiAddrLo bits 1:0 are reserved and read 0');
    if (((s.msiControl as number) & ~(MSI_CONTROL_ENABLE | MSI_CONTROL_64BIT)) !== 0) bad('msiControl has bits set this one-vector capability never holds');
  }

  restore(state: AmdIommuPciState): void {
    this.checkState(state);
    this.configWrite(PCI_COMMAND, 2, state.command);
    this.configWrite(this.msiCapOffset + MSI_CONTROL, 2, state.msiControl);
    this.configWrite(this.msiCapOffset + MSI_ADDR_LO, 4, state.msiAddrLo);
    this.configWrite(this.msiCapOffset + MSI_ADDR_HI, 4, state.msiAddrHi);
    this.configWrite(this.msiCapOffset + MSI_DATA, 2, state.msiData);
  }
}
