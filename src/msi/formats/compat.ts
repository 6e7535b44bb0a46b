/**
 * Compatibility-format MSI (Intel VT-d §5.1.2.1; SDM 10.11): the bare-metal layout.
 *
 *   address: 0xFEE (31:20) | destination ID 7:0 (19:12) | extended dest / reserved (11:4, bit 4 = Intel format)
 *            | RH (3) | DM (2) | don't care (1:0)
 *   data:    trigger mode (15) | level (14) | delivery mode (10:8) | vector (7:0); 31:16, 13:11 reserved
 *
 * The functions here are the non-allocating readers the translation core uses on every interrupt.
 */
import type { ApicMessage } from '../interrupt.ts';

export const MSI_ADDR_BASE = 0xfee00000;
export const MSI_ADDR_BASE_MASK = 0xfff00000;
export const MSI_ADDR_DEST_SHIFT = 12;
export const MSI_ADDR_DEST_MASK = 0x000ff000;
export const MSI_ADDR_EXT_DEST_MASK = 0x00000ff0;
/** Intel "Interrupt Format" bit: 1 = remappable. */
export const MSI_ADDR_IF = 1 << 4;
export const MSI_ADDR_RH = 1 << 3;
export const MSI_ADDR_DM = 1 << 2;

export const MSI_DATA_VECTOR_MASK = 0xff;
export const MSI_DATA_DM_SHIFT = 8;
export const MSI_DATA_LEVEL = 1 << 14;
export const MSI_DATA_TRIGGER = 1 << 15;
/** Data bits the compatibility format defines; the rest (31:16, 13:11) are reserved. */
export const MSI_DATA_DEFINED = 0xc7ff;

/** True when a write to this low address dword reaches the interrupt window 0xFEEx_xxxx. */
export function isInterruptWindow(addrLo: number): boolean {
  return (addrLo & MSI_ADDR_BASE_MASK) >>> 0 === MSI_ADDR_BASE;
}

/**
 * Decode a compatibility-format message into `out` (8-bit destination). MSIs always assert: the level bit only has
 * meaning for IPIs, so `out.level` is 1 regardless of data bit 14 (as KVM and QEMU do).
 */
export function decodeCompatInto(addrLo: number, data: number, out: ApicMessage): ApicMessage {
  out.dest = (addrLo >>> MSI_ADDR_DEST_SHIFT) & 0xff;
  out.destWidth = 8;
  out.destMode = (addrLo >>> 2) & 1;
  out.redirectionHint = (addrLo >>> 3) & 1;
  out.vector = data & MSI_DATA_VECTOR_MASK;
  out.deliveryMode = (data >>> MSI_DATA_DM_SHIFT) & 7;
  out.trigger = (data >>> 15) & 1;
  out.level = 1;
  return out;
}

/** Compose a compatibility-format address (low dword) and data. */
export function composeCompatAddress(dest: number, destMode: number, redirectionHint = 0): number {
  return (MSI_ADDR_BASE | ((dest & 0xff) << MSI_ADDR_DEST_SHIFT) | ((redirectionHint & 1) << 3) | ((destMode & 1) << 2)) >>> 0;
}

export function composeCompatData(vector: number, deliveryMode: number, trigger: number, level = 1): number {
  return ((vector & 0xff) | ((deliveryMode & 7) << 8) | ((level & 1) << 14) | ((trigger & 1) << 15)) >>> 0;
}
