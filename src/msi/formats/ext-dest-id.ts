/**
 * 15-bit extended destination ID (KVM `KVM_FEATURE_MSI_EXT_DEST_ID`, Xen `XEN_HVM_CPUID_EXT_DEST_ID`, Hyper-V
 * `EXTENDED_IOAPIC_RTE`): compatibility format plus destination bits 14:8 in addr 11:5.
 *
 *   address: 0xFEE (31:20) | dest[7:0] (19:12) | dest[14:8] (11:5) | 0 (4) | RH (3) | DM (2) | don't care (1:0)
 *   data:    as compatibility format
 *
 * Bit 4 stays 0 so the message cannot be mistaken for Intel remappable format; when it is 1, QEMU's swizzle
 * (`kvm_swizzle_msi_ext_dest_id`) leaves the address alone, so the destination is only 8 bits.
 */
import type { MessageControl } from './compat.ts';
import { checkMessageControl, composeControlAddrLo, composeControlData, controlNotes, MSI_ADDR_IF, readMessageControl } from './compat.ts';
import { addrHi, addrLo, bitNote, bits32, checkField, checkMessage } from './field-check.ts';
import { extDestIdHighBits } from './hypervisor-dest.ts';

export const EXT_DEST_ID_FORMAT = '15-bit extended destination ID format';

export interface ExtDestIdFields extends MessageControl {
  /** dest[7:0] from addr 19:12, dest[14:8] from addr 11:5. */
  destination: number;
}

export type ExtDestIdInput = Pick<ExtDestIdFields, 'destination' | 'vector'> & Partial<MessageControl>;

export interface ExtDestIdDecoded extends ExtDestIdFields {
  reserved: string[];
}

export function encodeExtDestId(input: ExtDestIdInput): { addr: bigint; data: number } {
  checkField(EXT_DEST_ID_FORMAT, 'destination', input.destination, 15);
  const control = checkMessageControl(EXT_DEST_ID_FORMAT, input);
  const lo = composeControlAddrLo(input.destination & 0xff, control, input.destination >>> 8);
  return { addr: BigInt(lo), data: composeControlData(control) };
}

export function decodeExtDestId(addr: bigint, data: number): ExtDestIdDecoded {
  checkMessage(EXT_DEST_ID_FORMAT, addr, data);
  const lo = addrLo(addr);
  const hi = addrHi(addr);
  const reserved: string[] = [];
  if (hi !== 0) reserved.push(bitNote('addr[63:32]', hi, `must be 0 in ${EXT_DEST_ID_FORMAT}: the write misses the APIC window`));
  if (lo & MSI_ADDR_IF && bits32(lo, 11, 5) !== 0) {
    reserved.push(bitNote('addr[11:5]', bits32(lo, 11, 5), 'is not a destination: addr[4] = 1 marks Intel remappable format'));
  }
  controlNotes(EXT_DEST_ID_FORMAT, lo, data, true, reserved);
  const destination = bits32(lo, 19, 12) | extDestIdHighBits(lo);
  return { destination, ...readMessageControl(lo, data), reserved };
}
