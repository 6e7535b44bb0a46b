/**
 * Command-line numbers: an unsigned integer in hex (0x...) or decimal, optionally with `_` digit separators (the way
 * the docs write addresses, 0x0000_0000_FEE0_0000), no wider than its field. A bad value is commander's
 * InvalidArgumentError with exit code 2, so commander prints "option '--addr <n>' argument 'zz' is invalid. ..."
 * (naming the option and the value) and the program exits 2.
 */
import { InvalidArgumentError } from 'commander';
import { parseUnsigned } from '../core/unsigned-number.ts';

// The rule itself lives below the CLI so that the web page reads numbers the same way.
export { parseUnsigned };

/** Exit code for a command line irqpath cannot use (bad number, missing or unknown option). */
export const USAGE_EXIT_CODE = 2;

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
