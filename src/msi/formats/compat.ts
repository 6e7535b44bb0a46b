/**
 * Compatibility-format MSI (Intel VT-d §5.1.2.1; SDM 10.11): the bare-metal layout.
 *
 *   address: 0xFEE (31:20) | destination ID 7:0 (19:12) | extended dest / reserved (11:4, bit 4 = Intel format)
 *            | RH (3) | DM (2) | don't care (1:0)
 *   data:    trigger mode (15) | level (14) | delivery mode (10:8) | vector (7:0); 31:16, 13:11 reserved
 *
 * The first half of this file holds the non-allocating readers the translation core uses on every interrupt; the
 * second half the rich encoder/decoder (`encodeCompat`, `decodeCompat`) used by tools, which reports reserved bits.
 */
import { UsageError } from '../../core/errors.ts';
import { DELIVERY_MODE_NAMES } from '../interrupt.ts';
import type { ApicMessage } from '../interrupt.ts';
import { addrHi, addrLo, bitNote, bits32, checkBit, checkField, checkMessage } from './field-check.ts';

export const MSI_ADDR_BASE = 0xfee00000;
export const MSI_ADDR_BASE_MASK = 0xfff00000;
export const MSI_ADDR_DEST_SHIFT = 12;
/** Intel "Interrupt Format" bit: 1 = remappable. */
export const MSI_ADDR_IF = 1 << 4;
export const MSI_ADDR_RH = 1 << 3;
export const MSI_ADDR_DM = 1 << 2;

export const MSI_DATA_VECTOR_MASK = 0xff;
export const MSI_DATA_DM_SHIFT = 8;

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

// ---------------------------------------------------------------------------------------------------------------------
// Rich encoder / decoder (tools and tests; allocates, uses bigints). The layouts that only widen the destination
// (15-bit extended destination ID, KVM x2APIC API, Windows high bits) reuse the control-field helpers below.
// ---------------------------------------------------------------------------------------------------------------------


export const COMPAT_FORMAT = 'compatibility format';

/** Everything a compatibility-style message carries apart from the destination. */
export interface MessageControl {
  /** addr bit 2: 0 physical, 1 logical. */
  destMode: number;
  /** addr bit 3. */
  redirectionHint: number;
  /** data 7:0. */
  vector: number;
  /** data 10:8; 011 and 110 are not valid in an MSI (SDM 10.11.2). */
  deliveryMode: number;
  /** data 15: 0 edge, 1 level. */
  triggerMode: number;
  /** data 14 as written (SDM "Level", Linux "active_low"); KVM and QEMU ignore it for MSIs. */
  level: number;
}

export interface CompatFields extends MessageControl {
  /** addr 19:12. */
  destination: number;
}

/** Encoder input: destination and vector are required, every other field defaults to 0. */
export type CompatInput = Pick<CompatFields, 'destination' | 'vector'> & Partial<MessageControl>;

export interface CompatDecoded extends CompatFields {
  /** Every bit the format does not define (or a value it forbids) that is set, one sentence each. */
  reserved: string[];
}

/** Delivery modes 011 (remote read) and 110 (StartUp) exist only in the ICR. */
export function isMsiDeliveryMode(mode: number): boolean {
  return mode !== 3 && mode !== 6;
}

/** Validate the control fields of an encoder input and fill the defaults. */
export function checkMessageControl(format: string, input: Partial<MessageControl> & { vector: number }): MessageControl {
  const control: MessageControl = {
    destMode: input.destMode ?? 0,
    redirectionHint: input.redirectionHint ?? 0,
    vector: input.vector,
    deliveryMode: input.deliveryMode ?? 0,
    triggerMode: input.triggerMode ?? 0,
    level: input.level ?? 0,
  };
  checkBit(format, 'destMode', control.destMode);
  checkBit(format, 'redirectionHint', control.redirectionHint);
  checkField(format, 'vector', control.vector, 8);
  checkField(format, 'deliveryMode', control.deliveryMode, 3);
  if (!isMsiDeliveryMode(control.deliveryMode)) {
    throw new UsageError(
      `${format}: deliveryMode = ${control.deliveryMode} (${DELIVERY_MODE_NAMES[control.deliveryMode]}) is not valid in an MSI; ` +
        'use 0 Fixed, 1 LowestPriority, 2 SMI, 4 NMI, 5 INIT or 7 ExtINT (SDM 10.11.2)',
    );
  }
  checkBit(format, 'triggerMode', control.triggerMode);
  checkBit(format, 'level', control.level);
  return control;
}

/** Address low dword for an 8-bit destination plus control fields; `extBits` goes into addr 11:5. */
export function composeControlAddrLo(dest8: number, control: MessageControl, extBits = 0): number {
  return (
    (MSI_ADDR_BASE | (dest8 << MSI_ADDR_DEST_SHIFT) | (extBits << 5) | (control.redirectionHint << 3) | (control.destMode << 2)) >>> 0
  );
}

export function composeControlData(control: MessageControl): number {
  return (control.vector | (control.deliveryMode << 8) | (control.level << 14) | (control.triggerMode << 15)) >>> 0;
}

/** Read the control fields of a compatibility-style message. */
export function readMessageControl(lo: number, data: number): MessageControl {
  return {
    destMode: bits32(lo, 2, 2),
    redirectionHint: bits32(lo, 3, 3),
    vector: bits32(data, 7, 0),
    deliveryMode: bits32(data, 10, 8),
    triggerMode: bits32(data, 15, 15),
    level: bits32(data, 14, 14),
  };
}

/**
 * Notes for the bits of a compatibility-style address low dword and data that a format leaves undefined.
 * `addr[11:5]` is reserved unless the format uses it (`extBitsAreField`).
 */
export function controlNotes(format: string, lo: number, data: number, extBitsAreField: boolean, notes: string[]): void {
  const base = bits32(lo, 31, 20);
  if (base !== 0xfee) notes.push(bitNote('addr[31:20]', base, `is not 0xfee: not an interrupt message (${format})`));
  if (!extBitsAreField && bits32(lo, 11, 5) !== 0) {
    notes.push(bitNote('addr[11:5]', bits32(lo, 11, 5), `is reserved in ${format} (the 15-bit extended destination ID reads it as dest[14:8])`));
  }
  if (lo & MSI_ADDR_IF) {
    notes.push(bitNote('addr[4]', 1, `is reserved in ${format} (it is the Intel remappable-format flag)`));
  }
  if (bits32(lo, 1, 0) !== 0) notes.push(bitNote('addr[1:0]', bits32(lo, 1, 0), `is don't-care in ${format} (ignored)`));
  if (bits32(data, 31, 16) !== 0) notes.push(bitNote('data[31:16]', bits32(data, 31, 16), `is reserved in ${format}`));
  if (bits32(data, 13, 11) !== 0) notes.push(bitNote('data[13:11]', bits32(data, 13, 11), `is reserved in ${format}`));
  const mode = bits32(data, 10, 8);
  if (!isMsiDeliveryMode(mode)) {
    notes.push(bitNote('data[10:8]', mode, `(${DELIVERY_MODE_NAMES[mode]}) is not a valid MSI delivery mode (SDM 10.11.2)`));
  }
}

/** Compatibility format (VT-d §5.1.2.1, SDM 10.11): an 8-bit destination in addr 19:12, addr 63:32 = 0. */
export function encodeCompat(input: CompatInput): { addr: bigint; data: number } {
  checkField(COMPAT_FORMAT, 'destination', input.destination, 8);
  const control = checkMessageControl(COMPAT_FORMAT, input);
  return { addr: BigInt(composeControlAddrLo(input.destination, control)), data: composeControlData(control) };
}

export function decodeCompat(addr: bigint, data: number): CompatDecoded {
  checkMessage(COMPAT_FORMAT, addr, data);
  const lo = addrLo(addr);
  const hi = addrHi(addr);
  const reserved: string[] = [];
  if (hi !== 0) reserved.push(bitNote('addr[63:32]', hi, `must be 0 in ${COMPAT_FORMAT}: the write misses the APIC window`));
  controlNotes(COMPAT_FORMAT, lo, data, false, reserved);
  return { destination: bits32(lo, 19, 12), ...readMessageControl(lo, data), reserved };
}
