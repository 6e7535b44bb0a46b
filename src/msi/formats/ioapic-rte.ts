/**
 * I/O APIC redirection-table entry → interrupt message. The I/O APIC copies RTE bits 63:48 into address bits 19:4
 * (one rule for all three layouts: destination 7:0 in 63:56, the 15-bit extension's bits 14:8 in 55:49, and Intel's
 * remappable format flag in 48 with the handle in 63:49), RTE bit 11 into address bit 2, and vector, delivery mode
 * and trigger mode into the data (QEMU ioapic_entry_parse, Linux ioapic_setup_msg_from_msi).
 */
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
