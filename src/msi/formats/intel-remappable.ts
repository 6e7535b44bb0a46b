/**
 * Intel remappable-format MSI (VT-d §5.1.2.2; VirtualBox iommu-intel.h, QEMU
 * include/hw/i386/intel_iommu.h, Linux arch/x86/include/asm/msi.h `dmar_*`, kvm-unit-tests `vtd_msi_addr`).
 *
 *   address: 0xFEE (31:20) | handle[14:0] (19:5) | interrupt format = 1 (4) | SHV (3) | handle[15] (2) | ignored (1:0)
 *   data:    reserved (31:16) | subhandle (15:0)
 *
 * IRTE index = SHV ? handle + subhandle : handle. QEMU and VirtualBox add in 16 bits, so the sum wraps mod 65536
 * (QEMU cites VT-d 5.1.2.2 / 5.1.3). With SHV = 0 the data's low bits are whatever the source put there (an I/O APIC
 * puts its vector and trigger mode there) and the IOMMU ignores them.
 */
import { addrHi, addrLo, bitNote, bits32, checkBit, checkField, checkMessage } from './field-check.ts';
import { MSI_ADDR_BASE, MSI_ADDR_IF } from './compat.ts';

export const INTEL_REMAPPABLE_FORMAT = 'Intel remappable format';

export const IR_ADDR_HANDLE_LOW_SHIFT = 5;
export const IR_ADDR_SHV = 1 << 3;
export const IR_ADDR_HANDLE_15 = 1 << 2;
export const IR_DATA_SUBHANDLE_MASK = 0xffff;

export interface IntelRemappableFields {
  /** 16-bit interrupt handle: bits 14:0 from addr 19:5, bit 15 from addr 2. */
  handle: number;
  /** Subhandle valid, addr bit 3. */
  shv: number;
  /** data 15:0; only added to the handle when SHV = 1. */
  subhandle: number;
}

export type IntelRemappableInput = Pick<IntelRemappableFields, 'handle'> & Partial<IntelRemappableFields>;

export interface IntelRemappableDecoded extends IntelRemappableFields {
  /** The interrupt remapping table index the IOMMU looks up. */
  index: number;
  reserved: string[];
}

/** IRTE index of a remappable request: handle, plus the subhandle when SHV = 1, mod 65536. */
export function intelRemappableIndex(handle: number, shv: number, subhandle: number): number {
  return shv ? (handle + subhandle) & 0xffff : handle;
}

export function encodeIntelRemappable(input: IntelRemappableInput): { addr: bigint; data: number } {
  const shv = input.shv ?? 0;
  const subhandle = input.subhandle ?? 0;
  checkField(INTEL_REMAPPABLE_FORMAT, 'handle', input.handle, 16);
  checkBit(INTEL_REMAPPABLE_FORMAT, 'shv', shv);
  checkField(INTEL_REMAPPABLE_FORMAT, 'subhandle', subhandle, 16);
  const lo =
    (MSI_ADDR_BASE |
      ((input.handle & 0x7fff) << IR_ADDR_HANDLE_LOW_SHIFT) |
      MSI_ADDR_IF |
      (shv ? IR_ADDR_SHV : 0) |
      (input.handle & 0x8000 ? IR_ADDR_HANDLE_15 : 0)) >>>
    0;
  return { addr: BigInt(lo), data: subhandle };
}

export function decodeIntelRemappable(addr: bigint, data: number): IntelRemappableDecoded {
  checkMessage(INTEL_REMAPPABLE_FORMAT, addr, data);
  const lo = addrLo(addr);
  const hi = addrHi(addr);
  const handle = bits32(lo, 19, 5) | (bits32(lo, 2, 2) << 15);
  const shv = bits32(lo, 3, 3);
  const subhandle = data & IR_DATA_SUBHANDLE_MASK;
  const reserved: string[] = [];
  // QEMU raises fault 0x20 for a request with addr[63:32] set; on hardware it is not an interrupt request at all.
  if (hi !== 0) reserved.push(bitNote('addr[63:32]', hi, `must be 0 in ${INTEL_REMAPPABLE_FORMAT}: the write misses the interrupt window`));
  const base = bits32(lo, 31, 20);
  if (base !== 0xfee) reserved.push(bitNote('addr[31:20]', base, `is not 0xfee: not an interrupt message (${INTEL_REMAPPABLE_FORMAT})`));
  if (!(lo & MSI_ADDR_IF)) reserved.push(bitNote('addr[4]', 0, `selects compatibility format; ${INTEL_REMAPPABLE_FORMAT} needs 1`));
  if (bits32(lo, 1, 0) !== 0) reserved.push(bitNote('addr[1:0]', bits32(lo, 1, 0), `is don't-care in ${INTEL_REMAPPABLE_FORMAT} (ignored)`));
  // VirtualBox faults 0x20 on these for every request; QEMU only when SHV = 1 and after the IRTE lookup.
  if (bits32(data, 31, 16) !== 0) reserved.push(bitNote('data[31:16]', bits32(data, 31, 16), `is reserved in ${INTEL_REMAPPABLE_FORMAT}`));
  return { handle, shv, subhandle, index: intelRemappableIndex(handle, shv, subhandle), reserved };
}
