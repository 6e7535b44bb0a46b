/**
 * Shared arbitraries for the "nothing is dropped silently" properties: start from a valid encoded message and flip a
 * few random bits anywhere in the address and data, so the decoders see both clean and dirty messages.
 */
import { expect } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';

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

/**
 * The "nothing is dropped silently" property every format shares: encode valid fields, flip a few random bits, and
 * whenever the decoder reports no reserved or ignored bit, encoding what it decoded must give back exactly the
 * message it was handed.
 */
export function reencodesWhenNothingIsReported<E, F extends E>(
  fields: fc.Arbitrary<F>,
  encode: (f: E) => { addr: bigint; data: number },
  decode: (addr: bigint, data: number) => E & { reserved: string[] },
): void {
  fcTest.prop([fields, addrFlips, dataFlips])('a message with no reported bits re-encodes to itself', (f, af, df) => {
    const msg = encode(f);
    const addr = flipAddr(msg.addr, af);
    const data = flipData(msg.data, df);
    const decoded = decode(addr, data);
    if (decoded.reserved.length === 0) expect(encode(decoded)).toEqual({ addr, data });
  });
}
