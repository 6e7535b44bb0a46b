/**
 * I/O APIC redirection-table entry → interrupt message. The I/O APIC copies RTE bits 63:48 into address bits 19:4
 * (one rule for all three layouts: destination 7:0 in 63:56, the 15-bit extension's bits 14:8 in 55:49, and Intel's
 * remappable format flag in 48 with the handle in 63:49), RTE bit 11 into address bit 2, and vector, delivery mode
 * and trigger mode into the data (QEMU ioapic_entry_parse, Linux ioapic_setup_msg_from_msi).
 *
 * The three RTE layouts (82093AA / Linux `IO_APIC_route_entry`, 82093AA
 * §3.2.4 and VT-d spec §5.1.5.1):
 *
 *   bit    compatibility            15-bit extended destination      Intel remappable
 *   63:56  destination[7:0]         destination[7:0]                 index[14:7]    (63:49 = index[14:0])
 *   55:49  reserved                 destination[14:8]                index[6:0]
 *   48     reserved                 0                                format = 1
 *   47:17  reserved                 reserved                         reserved
 *   16     mask                     mask                             mask
 *   15     trigger mode             trigger mode                     trigger mode
 *   14     remote IRR (RO)          remote IRR (RO)                  remote IRR (RO)
 *   13     polarity                 polarity                         polarity
 *   12     delivery status (RO)     delivery status (RO)             delivery status (RO)
 *   11     destination mode         destination mode                 index[15]
 *   10:8   delivery mode            delivery mode                    000
 *   7:0    vector                   vector                           subhandle / pin (Linux writes the pin)
 *
 * The first half of this file is the non-allocating hot-path conversion; the second half the rich encoders,
 * decoders and RTE ⇄ message conversion used by tools and tests.
 */
import { UsageError } from '../../core/errors.ts';
import { DELIVERY_MODE_NAMES } from '../interrupt.ts';
import { isMsiDeliveryMode, MSI_ADDR_BASE, MSI_ADDR_DM, MSI_ADDR_RH } from './compat.ts';
import { addrHi, addrLo, bitNote, bits64, checkBit, checkField, checkMessage, checkU64 } from './field-check.ts';

export const RTE_VECTOR_MASK = 0xff;
export const RTE_DELMOD_SHIFT = 8;
export const RTE_DESTMOD = 1 << 11;
export const RTE_DELIVS = 1 << 12;
export const RTE_POLARITY = 1 << 13;
export const RTE_REMOTE_IRR = 1 << 14;
export const RTE_TRIGGER = 1 << 15;
export const RTE_MASK = 1 << 16;

/** Low address dword of the message an RTE sends (rteHi = RTE bits 63:32). */
export function rteMessageAddrLo(rteLo: number, rteHi: number): number {
  return (0xfee00000 | (((rteHi >>> 16) & 0xffff) << 4) | (((rteLo >>> 11) & 1) << 2)) >>> 0;
}

/** Data of the message an RTE sends: vector, delivery mode, trigger mode. Polarity is not propagated. */
export function rteMessageData(rteLo: number): number {
  return ((rteLo & 0xff) | (((rteLo >>> 8) & 7) << 8) | (rteLo & RTE_TRIGGER)) >>> 0;
}

// ---------------------------------------------------------------------------------------------------------------------
// Rich encoders / decoders (tools and tests; allocates, uses bigints).
// ---------------------------------------------------------------------------------------------------------------------

export const RTE_COMPAT_FORMAT = 'compatibility RTE';
export const RTE_EXT_DEST_FORMAT = 'extended-destination RTE';
export const RTE_REMAPPABLE_FORMAT = 'Intel remappable RTE';


/** The pin-control bits every layout shares (bits 16:12). */
export interface RtePinControl {
  /** Bit 12, read-only: a model reports it, software writes are ignored. */
  deliveryStatus: number;
  /** Bit 13: 1 = active low. Not propagated into the message. */
  polarity: number;
  /** Bit 14, read-only. */
  remoteIrr: number;
  /** Bit 15: 0 edge, 1 level. */
  triggerMode: number;
  /** Bit 16. */
  mask: number;
}

export interface CompatRteFields extends RtePinControl {
  vector: number;
  deliveryMode: number;
  /** Bit 11: 0 physical, 1 logical. */
  destMode: number;
  /** Bits 63:56 (8 bits) in the compatibility layout; 63:56 plus 55:49 (15 bits) in the extended layout. */
  destination: number;
}

export interface RemappableRteFields extends RtePinControl {
  /** Interrupt remapping table index: 14:0 from bits 63:49, 15 from bit 11. */
  index: number;
  /** Bits 7:0: not the real vector (that is in the IRTE) but the I/O APIC still matches EOIs against it. */
  vector: number;
}

export type CompatRteInput = Pick<CompatRteFields, 'vector' | 'destination'> & Partial<CompatRteFields>;
export type RemappableRteInput = Pick<RemappableRteFields, 'index' | 'vector'> & Partial<RemappableRteFields>;

export interface CompatRteDecoded extends CompatRteFields {
  reserved: string[];
}

export interface RemappableRteDecoded extends RemappableRteFields {
  reserved: string[];
}

function checkPinControl(format: string, input: Partial<RtePinControl>): RtePinControl {
  const control: RtePinControl = {
    deliveryStatus: input.deliveryStatus ?? 0,
    polarity: input.polarity ?? 0,
    remoteIrr: input.remoteIrr ?? 0,
    triggerMode: input.triggerMode ?? 0,
    mask: input.mask ?? 0,
  };
  for (const field of ['deliveryStatus', 'polarity', 'remoteIrr', 'triggerMode', 'mask'] as const) {
    checkBit(format, field, control[field]);
  }
  return control;
}

function pinControlBits(control: RtePinControl): number {
  return (
    ((control.deliveryStatus ? RTE_DELIVS : 0) |
      (control.polarity ? RTE_POLARITY : 0) |
      (control.remoteIrr ? RTE_REMOTE_IRR : 0) |
      (control.triggerMode ? RTE_TRIGGER : 0) |
      (control.mask ? RTE_MASK : 0)) >>>
    0
  );
}

function readPinControl(lo: number): RtePinControl {
  return {
    deliveryStatus: (lo >>> 12) & 1,
    polarity: (lo >>> 13) & 1,
    remoteIrr: (lo >>> 14) & 1,
    triggerMode: (lo >>> 15) & 1,
    mask: (lo >>> 16) & 1,
  };
}

function encodeCompatStyleRte(format: string, input: CompatRteInput, destBits: 8 | 15): bigint {
  checkField(format, 'destination', input.destination, destBits);
  checkField(format, 'vector', input.vector, 8);
  const deliveryMode = input.deliveryMode ?? 0;
  const destMode = input.destMode ?? 0;
  checkField(format, 'deliveryMode', deliveryMode, 3);
  if (!isMsiDeliveryMode(deliveryMode)) {
    throw new UsageError(`${format}: deliveryMode = ${deliveryMode} (${DELIVERY_MODE_NAMES[deliveryMode]}) is reserved in an RTE; use 0, 1, 2, 4, 5 or 7`);
  }
  checkBit(format, 'destMode', destMode);
  const lo = (input.vector | (deliveryMode << RTE_DELMOD_SHIFT) | (destMode ? RTE_DESTMOD : 0) | pinControlBits(checkPinControl(format, input))) >>> 0;
  const dest = BigInt(input.destination);
  return ((dest & 0xffn) << 56n) | ((dest >> 8n) << 49n) | BigInt(lo);
}

/** Compatibility RTE: 8-bit destination in bits 63:56. */
export function encodeRteCompat(input: CompatRteInput): bigint {
  return encodeCompatStyleRte(RTE_COMPAT_FORMAT, input, 8);
}

/** Extended-destination RTE (the 15-bit extension): destination bits 14:8 in RTE bits 55:49. */
export function encodeRteExtDest(input: CompatRteInput): bigint {
  return encodeCompatStyleRte(RTE_EXT_DEST_FORMAT, input, 15);
}

/** Intel remappable RTE: format bit 48, index 14:0 in 63:49, index 15 in bit 11, delivery mode 000. */
export function encodeRteRemappable(input: RemappableRteInput): bigint {
  checkField(RTE_REMAPPABLE_FORMAT, 'index', input.index, 16);
  checkField(RTE_REMAPPABLE_FORMAT, 'vector', input.vector, 8);
  const lo = (input.vector | (input.index & 0x8000 ? RTE_DESTMOD : 0) | pinControlBits(checkPinControl(RTE_REMAPPABLE_FORMAT, input))) >>> 0;
  return (BigInt(input.index & 0x7fff) << 49n) | (1n << 48n) | BigInt(lo);
}

function pushReserved4717(format: string, rte: bigint, notes: string[]): void {
  const field = bits64(rte, 47, 17);
  if (field !== 0) notes.push(bitNote('rte[47:17]', field, `is reserved in a ${format}`));
}

function decodeCompatStyleRte(format: string, rte: bigint, extended: boolean): CompatRteDecoded {
  checkU64(format, 'rte', rte);
  const lo = Number(rte & 0xffffffffn);
  const reserved: string[] = [];
  pushReserved4717(format, rte, reserved);
  if (bits64(rte, 48, 48)) reserved.push(bitNote('rte[48]', 1, `is the Intel remappable-format flag: not a ${format}`));
  if (!extended && bits64(rte, 55, 49) !== 0) {
    reserved.push(bitNote('rte[55:49]', bits64(rte, 55, 49), `is reserved in a ${format} (the 15-bit extension reads it as destination[14:8])`));
  }
  const deliveryMode = (lo >>> RTE_DELMOD_SHIFT) & 7;
  if (!isMsiDeliveryMode(deliveryMode)) {
    reserved.push(bitNote('rte[10:8]', deliveryMode, `(${DELIVERY_MODE_NAMES[deliveryMode]}) is a reserved delivery mode in a ${format}`));
  }
  const destination = bits64(rte, 63, 56) | (extended ? bits64(rte, 55, 49) << 8 : 0);
  return {
    vector: lo & RTE_VECTOR_MASK,
    deliveryMode,
    destMode: (lo >>> 11) & 1,
    destination,
    ...readPinControl(lo),
    reserved,
  };
}

export function decodeRteCompat(rte: bigint): CompatRteDecoded {
  return decodeCompatStyleRte(RTE_COMPAT_FORMAT, rte, false);
}

export function decodeRteExtDest(rte: bigint): CompatRteDecoded {
  return decodeCompatStyleRte(RTE_EXT_DEST_FORMAT, rte, true);
}

export function decodeRteRemappable(rte: bigint): RemappableRteDecoded {
  checkU64(RTE_REMAPPABLE_FORMAT, 'rte', rte);
  const lo = Number(rte & 0xffffffffn);
  const reserved: string[] = [];
  pushReserved4717(RTE_REMAPPABLE_FORMAT, rte, reserved);
  if (!bits64(rte, 48, 48)) reserved.push(bitNote('rte[48]', 0, `selects compatibility format; an ${RTE_REMAPPABLE_FORMAT} needs 1`));
  const mode = (lo >>> RTE_DELMOD_SHIFT) & 7;
  if (mode !== 0) reserved.push(bitNote('rte[10:8]', mode, `must be 000 in an ${RTE_REMAPPABLE_FORMAT}`));
  return {
    index: bits64(rte, 63, 49) | (((lo >>> 11) & 1) << 15),
    vector: lo & RTE_VECTOR_MASK,
    ...readPinControl(lo),
    reserved,
  };
}

/**
 * The message an I/O APIC sends for this RTE, whatever its layout (one rule for all three, QEMU ioapic_entry_parse):
 * addr = 0xFEE00000 | RTE[63:48] << 4 | RTE[11] << 2, data = vector | delivery mode << 8 | trigger << 15. Polarity,
 * mask and the read-only bits are pin state, not message content; data bit 14 is not set (QEMU does not set it).
 */
export function rteToMessage(rte: bigint): { addr: bigint; data: number } {
  checkU64('RTE', 'rte', rte);
  const lo = Number(rte & 0xffffffffn);
  const hi = Number(rte >> 32n);
  return { addr: BigInt(rteMessageAddrLo(lo, hi)), data: rteMessageData(lo) };
}

/**
 * The RTE that makes the I/O APIC send this message (Linux `ioapic_setup_msg_from_msi`), with the pin-control bits
 * from `pin`. Throws a UsageError for a message an RTE cannot express: address outside 0xFEEx_xxxx or with bits 63:32
 * set, RH/SHV (addr bit 3) or addr bits 1:0 set, data bits the RTE has no place for (31:16, 14:11).
 */
export function messageToRte(addr: bigint, data: number, pin: Partial<RtePinControl> = {}): bigint {
  checkMessage('RTE', addr, data);
  const lo = addrLo(addr);
  const hi = addrHi(addr);
  const problems: string[] = [];
  if (hi !== 0) problems.push(bitNote('addr[63:32]', hi, 'has no place in an RTE'));
  if ((lo & 0xfff00000) >>> 0 !== MSI_ADDR_BASE) problems.push(bitNote('addr[31:20]', lo >>> 20, 'is not 0xfee'));
  if (lo & MSI_ADDR_RH) problems.push(bitNote('addr[3]', 1, '(RH / SHV) cannot be expressed in an RTE'));
  if (lo & 3) problems.push(bitNote('addr[1:0]', lo & 3, 'cannot be expressed in an RTE'));
  if (data >>> 16 !== 0) problems.push(bitNote('data[31:16]', data >>> 16, 'cannot be expressed in an RTE'));
  if ((data >>> 11) & 0xf) problems.push(bitNote('data[14:11]', (data >>> 11) & 0xf, 'cannot be expressed in an RTE'));
  if (problems.length > 0) throw new UsageError(`message cannot be sent by an I/O APIC: ${problems.join('; ')}`);
  const control = checkPinControl('RTE', pin);
  const rteLo =
    ((data & 0x7ff) | (lo & MSI_ADDR_DM ? RTE_DESTMOD : 0) | pinControlBits({ ...control, triggerMode: (data >>> 15) & 1 })) >>> 0;
  return (BigInt((lo >>> 4) & 0xffff) << 48n) | BigInt(rteLo);
}
