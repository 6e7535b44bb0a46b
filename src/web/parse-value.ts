/**
 * Numbers as the page reads them: the command line's rule (src/core/unsigned-number.ts) — "0x…" is hex, digits alone
 * are decimal ("4031" is 4031, as `irqpath decode --data 4031` reads it), `_` separates digits. A 128-bit value may
 * also be given as four dwords, lowest first, the way Linux dumps an AMD-Vi event entry ("00000020 28000000 fee00000
 * 00000000", amd_iommu's dump_event prints each with %08x): in that form each dword is hex, with or without 0x.
 */
import { parseUnsigned } from '../core/unsigned-number.ts';

export class InputError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

const DWORD = /^(?:0x)?[0-9a-f]{1,8}$/i;

/** `text` as an unsigned number of at most `bits` bits; `label` names the field in the message. */
export function parseValue(field: string, label: string, text: string, bits: number): bigint {
  const t = text.trim();
  if (t === '') throw new InputError(field, `${label}: enter a number (0x… for hex, e.g. 0xfee00000; digits alone are decimal)`);
  const words = t.split(/[\s,]+/);
  if (words.length > 1) {
    if (bits !== 128 || words.length !== 4) throw new InputError(field, `${label}: one number, or for a 128-bit value four dwords lowest first`);
    return words.reduce((acc, w, k) => {
      if (!DWORD.test(w)) throw new InputError(field, `${label}: dword ${k} "${w}" is not a 32-bit hex dword`);
      return acc | (BigInt('0x' + w.replace(/^0x/i, '')) << BigInt(32 * k));
    }, 0n);
  }
  try {
    return parseUnsigned(t, bits);
  } catch (err) {
    throw new InputError(field, `${label}: ${(err as Error).message}`);
  }
}
