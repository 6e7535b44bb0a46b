/**
 * AMD remappable MSI (AMD IOMMU §2.2.5.1 Fig 14 as cited by QEMU `AMDVI_IRTE_OFFSET` and VirtualBox
 * `IOMMU_MSI_DATA_IRTE_OFFSET_MASK`).
 *
 *   address: 0xFEE (31:20); nothing else is interpreted, except DM (bit 2) in 2K-IRTE mode
 *   data:    IRTE index (10:0); bits 10:8 double as the message type (same encoding as a delivery mode)
 *
 * There is no format bit: once the device's DTE sets IntCtl = 10b every MSI from it is looked up, in that device's
 * own table. Only types 000 (fixed) and 001 (arbitrated) are remapped, so in legacy mode the usable index is data
 * 8:0 (0..511). In 2K mode (Control[44:43] = 01) the AMD-authored QEMU description says DM = 0 uses data 8:0 and
 * DM = 1 uses data 10:0 (OpenVMM's "always 10:0" disagrees; we follow AMD). Data bit 11 and up are left alone because
 * an I/O APIC's message carries its own meaning there.
 */
import { DELIVERY_MODE_NAMES } from '../interrupt.ts';
import { addrHi, addrLo, bitNote, bits32, checkBit, checkField, checkMessage } from './field-check.ts';
import { MSI_ADDR_BASE, MSI_ADDR_DM } from './compat.ts';

export const AMD_REMAPPABLE_FORMAT = 'AMD remappable format';

export const AMD_DATA_INDEX_MASK = 0x7ff;
export const AMD_DATA_INDEX_2K_DM0_MASK = 0x1ff;

/** Message types (data 10:8) the IOMMU handles without remapping, or refuses. */
export const AMD_MESSAGE_TYPE_HANDLING = [
  'fixed: remapped through the IRT',
  'arbitrated: remapped through the IRT',
  'SMI: not remapped (VirtualBox forwards it, QEMU rejects it)',
  'reserved: target abort',
  'NMI: not remapped, passed through iff DTE.NMIPass',
  'INIT: not remapped, passed through iff DTE.InitPass',
  'reserved: target abort',
  'ExtINT: not remapped, passed through iff DTE.EIntPass',
] as const;

export interface AmdRemappableFields {
  /** data 10:0. */
  index: number;
  /** addr bit 2; only meaningful in 2K mode, where it selects the index width. */
  destMode: number;
}

export type AmdRemappableInput = Pick<AmdRemappableFields, 'index'> & Partial<AmdRemappableFields>;

export interface AmdRemappableDecoded extends AmdRemappableFields {
  /** data 10:8 read as the message type. */
  messageType: number;
  messageTypeName: string;
  /**
   * Legacy mode: true when the IOMMU remaps this type (fixed / arbitrated) rather than passing it through or aborting
   * (see {@link AMD_MESSAGE_TYPE_HANDLING}). In 2K mode with DM = 1 these bits are index bits instead.
   */
  remapped: boolean;
  /** Index the IOMMU uses in 2K-IRTE mode: data 8:0 when DM = 0, data 10:0 when DM = 1. */
  index2k: number;
  reserved: string[];
}

/** Index an IOMMU in 2K mode uses for this message (non-allocating; `lo` is the address low dword). */
export function amdRemappableIndex2k(lo: number, data: number): number {
  return lo & MSI_ADDR_DM ? data & AMD_DATA_INDEX_MASK : data & AMD_DATA_INDEX_2K_DM0_MASK;
}

export function encodeAmdRemappable(input: AmdRemappableInput): { addr: bigint; data: number } {
  const destMode = input.destMode ?? 0;
  checkField(AMD_REMAPPABLE_FORMAT, 'index', input.index, 11);
  checkBit(AMD_REMAPPABLE_FORMAT, 'destMode', destMode);
  return { addr: BigInt((MSI_ADDR_BASE | (destMode ? MSI_ADDR_DM : 0)) >>> 0), data: input.index };
}

export function decodeAmdRemappable(addr: bigint, data: number): AmdRemappableDecoded {
  checkMessage(AMD_REMAPPABLE_FORMAT, addr, data);
  const lo = addrLo(addr);
  const hi = addrHi(addr);
  const messageType = bits32(data, 10, 8);
  const reserved: string[] = [];
  if (hi !== 0) reserved.push(bitNote('addr[63:32]', hi, `must be 0: outside the interrupt range 0xfee00000-0xfeefffff (${AMD_REMAPPABLE_FORMAT})`));
  const base = bits32(lo, 31, 20);
  // QEMU and VirtualBox both reject a remapping request outside 0xFEE0_0000-0xFEEF_FFFF.
  if (base !== 0xfee) reserved.push(bitNote('addr[31:20]', base, `is not 0xfee: outside the interrupt range (${AMD_REMAPPABLE_FORMAT})`));
  if (bits32(lo, 19, 3) !== 0) reserved.push(bitNote('addr[19:3]', bits32(lo, 19, 3), `is not interpreted in ${AMD_REMAPPABLE_FORMAT}`));
  if (bits32(lo, 1, 0) !== 0) reserved.push(bitNote('addr[1:0]', bits32(lo, 1, 0), `is not interpreted in ${AMD_REMAPPABLE_FORMAT}`));
  if (bits32(data, 31, 11) !== 0) reserved.push(bitNote('data[31:11]', bits32(data, 31, 11), `is not interpreted in ${AMD_REMAPPABLE_FORMAT}`));
  return {
    index: data & AMD_DATA_INDEX_MASK,
    destMode: bits32(lo, 2, 2),
    messageType,
    messageTypeName: messageType === 1 ? 'Arbitrated' : DELIVERY_MODE_NAMES[messageType],
    remapped: messageType <= 1,
    index2k: amdRemappableIndex2k(lo, data),
    reserved,
  };
}
