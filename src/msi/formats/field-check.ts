/**
 * Argument checks and bit-note helpers shared by the rich MSI-format encoders and decoders.
 *
 * The rich codecs are for tools (explain, the CLI, tests, scenario builders), not the per-interrupt hot path, so they
 * may use bigints and build strings. A value a user gives that does not fit its field is a {@link UsageError} naming
 * the format, the field and the allowed range; bits a decoder cannot map to a field are reported as notes, never
 * dropped silently.
 */
import { UsageError } from '../../core/errors.ts';
import { hex } from '../interrupt.ts';

const U64_MAX = (1n << 64n) - 1n;

/** Largest value of an unsigned field `bits` wide (1..32). */
export function fieldMax(bits: number): number {
  return bits >= 32 ? 0xffffffff : 2 ** bits - 1;
}

/** Throw a UsageError unless `value` is an integer that fits an unsigned field `bits` wide. */
export function checkField(format: string, field: string, value: number, bits: number): void {
  const max = fieldMax(bits);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new UsageError(`${format}: ${field} = ${String(value)} is out of range 0..${max} (${hex(max)}, ${bits} bit${bits === 1 ? '' : 's'})`);
  }
}

/** Throw a UsageError unless `value` is 0 or 1 (a single-bit flag given as a number). */
export function checkBit(format: string, field: string, value: number): void {
  checkField(format, field, value, 1);
}

/** Validate a raw message given to a decoder: a 64-bit unsigned address and a 32-bit unsigned data word. */
export function checkMessage(format: string, addr: bigint, data: number): void {
  if (typeof addr !== 'bigint' || addr < 0n || addr > U64_MAX) {
    throw new UsageError(`${format}: addr = ${String(addr)} must be a bigint in 0..0xffffffffffffffff`);
  }
  if (typeof data !== 'number' || !Number.isInteger(data) || data < 0 || data > 0xffffffff) {
    throw new UsageError(`${format}: data = ${String(data)} must be an integer in 0..0xffffffff`);
  }
}

/** Validate a raw 64-bit register value (an RTE, the AMD XT interrupt control register). */
export function checkU64(format: string, what: string, value: bigint): void {
  if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
    throw new UsageError(`${format}: ${what} = ${String(value)} must be a bigint in 0..0xffffffffffffffff`);
  }
}

/** Address bits 31:0 as an unsigned number. */
export function addrLo(addr: bigint): number {
  return Number(addr & 0xffffffffn);
}

/** Address bits 63:32 as an unsigned number. */
export function addrHi(addr: bigint): number {
  return Number((addr >> 32n) & 0xffffffffn);
}

/** Join two unsigned dwords into a 64-bit address. */
export function joinAddr(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Extract bits hi:lo (inclusive, hi - lo < 32) of an unsigned 32-bit number. */
export function bits32(value: number, hi: number, lo: number): number {
  const width = hi - lo + 1;
  return width >= 32 ? value >>> 0 : (value >>> lo) & (2 ** width - 1);
}

/** Extract bits hi:lo (inclusive) of a 64-bit bigint as a number (width ≤ 32). */
export function bits64(value: bigint, hi: number, lo: number): number {
  const width = BigInt(hi - lo + 1);
  return Number((value >> BigInt(lo)) & ((1n << width) - 1n));
}

/** One note in a decoder's `reserved` list: "`where` = 0x… `text`". */
export function bitNote(where: string, value: number | bigint, text: string): string {
  return `${where} = ${hex(value)} ${text}`;
}

/** Render a 64-bit address the way the notes and verdicts print it: 0xhhhhhhhh_llllllll. */
export function formatAddr(addr: bigint): string {
  const hi = addrHi(addr).toString(16).padStart(8, '0');
  const lo = addrLo(addr).toString(16).padStart(8, '0');
  return `0x${hi}_${lo}`;
}
