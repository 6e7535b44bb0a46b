/**
 * AMD IOMMU XT interrupt control registers (MMIO 0x170 event log, 0x178 PPR log, 0x180 GA log; identical layout),
 * used instead of the MSI capability when Control.IntCapXTEn = 1 (AMD IOMMU spec §3.4).
 *
 *   bits 63:56  destination[31:24]
 *   bits 55:41  reserved
 *   bit  40     IntType (Xen: "DM in IOMMU spec 3.04"; VirtualBox: "Delivery Mode"). 0 = fixed; 1 is taken to be
 *               lowest priority (the reference marks the exact meaning UNCONFIRMED)
 *   bits 39:32  vector
 *   bits 31:8   destination[23:0]
 *   bits 7:3    reserved
 *   bit  2      destination mode (0 physical, 1 logical)
 *   bits 1:0    reserved
 *
 * The IOMMU's own interrupt is not remapped: the register already names a 32-bit x2APIC destination.
 */
import type { ApicMessage } from '../interrupt.ts';
import { DeliveryMode } from '../interrupt.ts';
import { bitNote, bits64, checkBit, checkField, checkU64 } from './field-check.ts';

export const AMD_XT_INTCAP_FORMAT = 'AMD XT interrupt control register';

export const XT_EVENT_INTCAP_OFFSET = 0x170;
export const XT_PPR_INTCAP_OFFSET = 0x178;
export const XT_GA_INTCAP_OFFSET = 0x180;

export const XT_DEST_MODE = 1 << 2;
export const XT_DEST_LOW_SHIFT = 8;
/** In the high dword: vector 7:0, IntType bit 8, destination[31:24] in 31:24. */
export const XT_HI_VECTOR_MASK = 0xff;
export const XT_HI_INT_TYPE = 1 << 8;
export const XT_HI_DEST_HIGH_SHIFT = 24;
/** Bits 1:0 and 7:3 of the low dword, bits 55:41 (high dword 23:9). */
export const XT_LO_RESERVED_MASK = 0x000000fb;
export const XT_HI_RESERVED_MASK = 0x00fffe00;

export interface AmdXtIntCapFields {
  /** 32-bit destination: bits 23:0 from register 31:8, bits 31:24 from register 63:56. */
  destination: number;
  /** Bit 2: 0 physical, 1 logical. */
  destMode: number;
  /** Bits 39:32. */
  vector: number;
  /** Bit 40: 0 fixed, 1 (presumably) lowest priority. */
  intType: number;
}

export type AmdXtIntCapInput = Pick<AmdXtIntCapFields, 'destination' | 'vector'> & Partial<AmdXtIntCapFields>;

export interface AmdXtIntCapDecoded extends AmdXtIntCapFields {
  reserved: string[];
}

export function encodeAmdXtIntCap(input: AmdXtIntCapInput): bigint {
  const destMode = input.destMode ?? 0;
  const intType = input.intType ?? 0;
  checkField(AMD_XT_INTCAP_FORMAT, 'destination', input.destination, 32);
  checkBit(AMD_XT_INTCAP_FORMAT, 'destMode', destMode);
  checkField(AMD_XT_INTCAP_FORMAT, 'vector', input.vector, 8);
  checkBit(AMD_XT_INTCAP_FORMAT, 'intType', intType);
  const lo = (((input.destination & 0xffffff) << XT_DEST_LOW_SHIFT) | (destMode ? XT_DEST_MODE : 0)) >>> 0;
  const hi = (((input.destination >>> 24) << XT_HI_DEST_HIGH_SHIFT) | (intType ? XT_HI_INT_TYPE : 0) | input.vector) >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

export function decodeAmdXtIntCap(value: bigint): AmdXtIntCapDecoded {
  checkU64(AMD_XT_INTCAP_FORMAT, 'value', value);
  const reserved: string[] = [];
  for (const [hi, lo] of [
    [1, 0],
    [7, 3],
    [55, 41],
  ] as const) {
    const field = bits64(value, hi, lo);
    if (field !== 0) reserved.push(bitNote(`bits[${hi}:${lo}]`, field, `are reserved in the ${AMD_XT_INTCAP_FORMAT}`));
  }
  return {
    destination: (bits64(value, 31, 8) | (bits64(value, 63, 56) << 24)) >>> 0,
    destMode: bits64(value, 2, 2),
    vector: bits64(value, 39, 32),
    intType: bits64(value, 40, 40),
    reserved,
  };
}

/**
 * Decode the register (as two dwords, the way an MMIO model stores it) into `out` without allocating: the message
 * the IOMMU sends for its own event. Edge-triggered, 32-bit destination.
 */
export function decodeAmdXtIntCapInto(lo: number, hi: number, out: ApicMessage): ApicMessage {
  out.dest = (((lo >>> XT_DEST_LOW_SHIFT) & 0xffffff) | ((hi >>> XT_HI_DEST_HIGH_SHIFT) << 24)) >>> 0;
  out.destWidth = 32;
  out.destMode = (lo >>> 2) & 1;
  out.vector = hi & XT_HI_VECTOR_MASK;
  out.deliveryMode = hi & XT_HI_INT_TYPE ? DeliveryMode.LowestPriority : DeliveryMode.Fixed;
  out.trigger = 0;
  out.level = 1;
  out.redirectionHint = 0;
  return out;
}
