/**
 * Destination-widening layouts that exist only because of hypervisors (and one Windows bug). Each extends an
 * otherwise compatibility-format message with destination bits above 7; the translation core applies them only
 * when the matching machine option is on.
 */

/** 15-bit extended destination ID: address bits 11:5 carry destination bits 14:8; bit 4 must stay 0. */
export function extDestIdHighBits(addrLo: number): number {
  if (addrLo & 0x10) return 0; // Intel remappable format: bits 19:5 are a handle, not a destination
  return ((addrLo >>> 5) & 0x7f) << 8;
}

/** KVM x2APIC API (KVM_X2APIC_API_USE_32BIT_IDS): address_hi 31:8 are destination bits 31:8. */
export function kvmX2apicHighBits(addrHi: number): number {
  return (addrHi & 0xffffff00) >>> 0;
}

/** KVM rejects (-EINVAL) an x2APIC-API route whose address_hi bits 7:0 are non-zero (kvm_msi_route_invalid). */
export function kvmX2apicRouteInvalid(addrHi: number): boolean {
  return (addrHi & 0xff) !== 0;
}

/** Windows' layout: address bits 55:32 (address_hi 23:0) carry destination bits 31:8. */
export function windowsHighBits(addrHi: number): number {
  return ((addrHi & 0x00ffffff) << 8) >>> 0;
}

/** The Windows layout leaves address bits 63:56 clear; anything there is not that bug. */
export function isWindowsHighBitsLayout(addrHi: number): boolean {
  return addrHi !== 0 && (addrHi & 0xff000000) === 0;
}

/** Xen PIRQ: a message with vector 0 names a PIRQ instead of an APIC destination. */
export function isXenPirqMessage(data: number): boolean {
  return (data & 0xff) === 0;
}

/** PIRQ number: bits 7:0 from address 19:12, bits 31:8 from address 63:40 (QEMU msi_pirq_target). */
export function xenPirqNumber(addrHi: number, addrLo: number): number {
  return (((addrLo >>> 12) & 0xff) | (addrHi & 0xffffff00)) >>> 0;
}
