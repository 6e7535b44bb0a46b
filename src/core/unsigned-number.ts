/**
 * How irqpath reads a number a person typed, on the command line and on the web page alike: an unsigned integer in
 * hex (0x...) or decimal, optionally with `_` digit separators (the way the docs write addresses,
 * 0x0000_0000_FEE0_0000), no wider than its field. A bare "4031" is decimal; hex needs its 0x.
 */
const HEX = /^0x[0-9a-f]+(?:_[0-9a-f]+)*$/i;
const DECIMAL = /^[0-9]+(?:_[0-9]+)*$/;

/** Parse `text` as an unsigned integer of at most `bits` bits, or throw a RangeError saying what is wrong with it. */
export function parseUnsigned(text: string, bits: number): bigint {
  const trimmed = text.trim();
  if (!HEX.test(trimmed) && !DECIMAL.test(trimmed)) {
    throw new RangeError(`'${text}' is not an unsigned number: use hex (0x...) or decimal`);
  }
  const value = BigInt(trimmed.replaceAll('_', ''));
  if (value >= 1n << BigInt(bits)) {
    throw new RangeError(`'${text}' does not fit in ${bits} bits (maximum 0x${((1n << BigInt(bits)) - 1n).toString(16)})`);
  }
  return value;
}
