/**
 * The Windows "high bits in the address" layout (qemu-devel thread "More than 255 vcpus Windows VM setup without viommu ?", 2024-10-01, "Windows, part 2"): with no IOMMU and APIC IDs above 255,
 * Windows puts destination bits 31:8 into addr 55:32, the KVM x2APIC API layout shifted down by 8 bits.
 *
 *   address: 0 (63:56) | dest[31:8] (55:32) | compatibility-format low dword (dest[7:0] in 19:12)
 *   data:    as compatibility format
 *
 * On real hardware such a write misses the APIC at 0x00000000_FEEx_xxxx and lands in memory; a VMM may choose to
 * recognise it and deliver the interrupt.
 */
import type { MessageControl } from './compat.ts';
import { checkMessageControl, composeControlAddrLo, composeControlData, controlNotes, readMessageControl } from './compat.ts';
import { addrHi, addrLo, bitNote, bits32, checkField, checkMessage, joinAddr } from './field-check.ts';
import { windowsHighBits } from './hypervisor-dest.ts';

export const WINDOWS_HIGH_BITS_FORMAT = 'Windows high-bits layout';

export interface WindowsHighBitsFields extends MessageControl {
  /** 32-bit destination: bits 7:0 from addr 19:12, bits 31:8 from addr 55:32. */
  destination: number;
}

export type WindowsHighBitsInput = Pick<WindowsHighBitsFields, 'destination' | 'vector'> & Partial<MessageControl>;

export interface WindowsHighBitsDecoded extends WindowsHighBitsFields {
  reserved: string[];
}

export function encodeWindowsHighBits(input: WindowsHighBitsInput): { addr: bigint; data: number } {
  checkField(WINDOWS_HIGH_BITS_FORMAT, 'destination', input.destination, 32);
  const control = checkMessageControl(WINDOWS_HIGH_BITS_FORMAT, input);
  const lo = composeControlAddrLo(input.destination & 0xff, control);
  return { addr: joinAddr(input.destination >>> 8, lo), data: composeControlData(control) };
}

export function decodeWindowsHighBits(addr: bigint, data: number): WindowsHighBitsDecoded {
  checkMessage(WINDOWS_HIGH_BITS_FORMAT, addr, data);
  const lo = addrLo(addr);
  const hi = addrHi(addr);
  const reserved: string[] = [];
  if (bits32(hi, 31, 24) !== 0) reserved.push(bitNote('addr[63:56]', bits32(hi, 31, 24), `must be 0 in the ${WINDOWS_HIGH_BITS_FORMAT}`));
  controlNotes(WINDOWS_HIGH_BITS_FORMAT, lo, data, false, reserved);
  const destination = (bits32(lo, 19, 12) | windowsHighBits(hi)) >>> 0;
  return { destination, ...readMessageControl(lo, data), reserved };
}
