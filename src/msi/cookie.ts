/**
 * Route cookies: a number naming the one remapping-table entry a translation depended on, so that an IOMMU
 * invalidation can evict exactly the cached routes built from that entry (the "cookies needed for IOMMU invalidation" of qemu-devel, 2024-10-01).
 *
 * Encoded as a plain number (no allocation on the hot path):
 * - {@link NO_COOKIE} (-1): the translation read no remapping table (compatibility format, pass-through, PIRQ).
 * - Intel VT-d: INTEL_TAG * 2^32 + IRTE index (16 bits).
 * - AMD-Vi:     AMD_TAG * 2^32 + DeviceID * 2^16 + IRTE index (11 bits); evicted per DeviceID.
 */
export const NO_COOKIE = -1;
const TWO_32 = 0x1_0000_0000;
const INTEL_TAG = 1;
const AMD_TAG = 2;

export function intelCookie(index: number): number {
  return INTEL_TAG * TWO_32 + (index & 0xffff);
}

export function amdCookie(deviceId: number, index: number): number {
  return AMD_TAG * TWO_32 + (deviceId & 0xffff) * 0x10000 + (index & 0xffff);
}

export type DecodedCookie =
  | { kind: 'none' }
  | { kind: 'intel'; index: number }
  | { kind: 'amd'; deviceId: number; index: number };

export function decodeCookie(cookie: number): DecodedCookie {
  if (cookie < 0) return { kind: 'none' };
  const tag = Math.floor(cookie / TWO_32);
  const low = cookie % TWO_32;
  if (tag === INTEL_TAG) return { kind: 'intel', index: low & 0xffff };
  if (tag === AMD_TAG) return { kind: 'amd', deviceId: Math.floor(low / 0x10000) & 0xffff, index: low & 0xffff };
  return { kind: 'none' };
}

/** True when the cookie names an Intel IRTE index in [first, first + count). */
export function cookieInIntelRange(cookie: number, first: number, count: number): boolean {
  if (cookie < 0 || Math.floor(cookie / TWO_32) !== INTEL_TAG) return false;
  const index = cookie % TWO_32;
  return index >= first && index < first + count;
}

/** True when the cookie names any IRTE of the given AMD DeviceID. */
export function cookieIsAmdDevice(cookie: number, deviceId: number): boolean {
  if (cookie < 0 || Math.floor(cookie / TWO_32) !== AMD_TAG) return false;
  return Math.floor((cookie % TWO_32) / 0x10000) === deviceId;
}
