/**
 * Command-line numbers: an unsigned integer in hex (0x...) or decimal, optionally with `_` digit separators (the way
 * the docs write addresses, 0x0000_0000_FEE0_0000), no wider than its field. A bad value is commander's
 * InvalidArgumentError with exit code 2, so commander prints "option '--addr <n>' argument 'zz' is invalid. ..."
 * (naming the option and the value) and the program exits 2.
 */
import { InvalidArgumentError } from 'commander';

/** Exit code for a command line irqpath cannot use (bad number, missing or unknown option). */
export const USAGE_EXIT_CODE = 2;

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

/** A commander option parser for an unsigned number of at most `bits` bits. */
export function unsignedOption(bits: number): (text: string) => bigint {
  return (text: string) => {
    try {
      return parseUnsigned(text, bits);
    } catch (err) {
      const error = new InvalidArgumentError((err as Error).message);
      error.exitCode = USAGE_EXIT_CODE;
      throw error;
    }
  };
}
