/**
 * Shared arbitraries for the "nothing is dropped silently" properties: start from a valid encoded message and flip a
 * few random bits anywhere in the address and data, so the decoders see both clean and dirty messages.
 */
import { fc } from '@fast-check/vitest';

export const addrFlips = fc.array(fc.integer({ min: 0, max: 63 }), { maxLength: 3 });
export const dataFlips = fc.array(fc.integer({ min: 0, max: 31 }), { maxLength: 3 });

export function flipAddr(addr: bigint, bits: number[]): bigint {
  return bits.reduce((a, bit) => a ^ (1n << BigInt(bit)), addr);
}

export function flipData(data: number, bits: number[]): number {
  return bits.reduce((d, bit) => (d ^ (1 << bit)) >>> 0, data);
}

/** Delivery modes valid in an MSI / RTE (011 and 110 are ICR-only). */
export const validDeliveryMode = fc.constantFrom(0, 1, 2, 4, 5, 7);
export const bit = fc.integer({ min: 0, max: 1 });
export const u8 = fc.integer({ min: 0, max: 0xff });
