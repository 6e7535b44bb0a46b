/**
 * Bit layouts: which bits of a register, message or table entry mean what in one format, as data a tool can draw
 * (the web page's bit-field diagrams) or check (a reserved field that is not zero). Each layout states the spec
 * section it comes from in its module; the decoders stay the authority on what a value means, a layout only says
 * where the bits are.
 *
 * This is for people, not the hot path: it allocates and uses bigints.
 */

export interface BitField {
  /** Short name as the specification spells it ("DST", "vector", "handle[14:0]"). */
  name: string;
  hi: number;
  lo: number;
  /** Reserved (must be zero), or ignored by this format: drawn hatched, and flagged when set. */
  reserved?: 'reserved' | 'ignored';
  /** Bits that must hold one value for the format to apply (0xFEE in address bits 31:20). */
  fixed?: number;
}

/** One word of a layout (an MSI address, its data, an entry's 128 bits). Fields cover every bit, high to low. */
export interface BitWord {
  label: string;
  width: 32 | 64 | 128;
  fields: BitField[];
}

export interface FieldValue {
  field: BitField;
  value: bigint;
  /** The field is reserved/ignored and non-zero, or a fixed field holds the wrong value. */
  flagged: boolean;
}

/** Extract bits hi:lo of `value`. */
export function bitsOf(value: bigint, hi: number, lo: number): bigint {
  return (value >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

/** Read every field of one word. */
export function readWord(word: BitWord, value: bigint): FieldValue[] {
  return word.fields.map((field) => {
    const v = bitsOf(value, field.hi, field.lo);
    const flagged = (field.reserved !== undefined && v !== 0n) || (field.fixed !== undefined && v !== BigInt(field.fixed));
    return { field, value: v, flagged };
  });
}

/**
 * Check a word's layout is complete: fields run from width-1 down to 0 without gaps or overlaps. Layouts are written
 * by hand from the specifications; tests call this on every one.
 */
export function layoutGaps(word: BitWord): string[] {
  const problems: string[] = [];
  let next = word.width - 1;
  for (const f of word.fields) {
    if (f.hi !== next) problems.push(`${word.label}: ${f.name} starts at bit ${f.hi}, expected ${next}`);
    if (f.lo > f.hi) problems.push(`${word.label}: ${f.name} has lo ${f.lo} > hi ${f.hi}`);
    next = f.lo - 1;
  }
  if (next !== -1) problems.push(`${word.label}: bits ${next}:0 not described`);
  return problems;
}

/** Shorthand for layout tables: f('vector', 7, 0), r(31, 16) for a reserved span, i(1, 0) for an ignored one. */
export const f = (name: string, hi: number, lo = hi, fixed?: number): BitField => (fixed === undefined ? { name, hi, lo } : { name, hi, lo, fixed });
export const r = (hi: number, lo = hi, name = 'reserved'): BitField => ({ name, hi, lo, reserved: 'reserved' });
export const i = (hi: number, lo = hi, name = 'ignored'): BitField => ({ name, hi, lo, reserved: 'ignored' });
