/**
 * Numbers as people paste them: "0xfee00578", "fee00578", "0x1000_fee4_6000", "4031" (hex by default: every value
 * on this page is a register or message), or "#12" for decimal. A 128-bit value may also be given as four dwords,
 * lowest first, the way Linux dumps an AMD-Vi event entry: "00000020 28000000 fee00000 00000000".
 */
export class InputError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

export function parseHex(field: string, text: string, bits: number): bigint {
  const t = text.trim().replace(/_/g, '');
  if (t === '') throw new InputError(field, `${field}: enter a value (hex, e.g. 0xfee00000)`);
  const words = t.split(/[\s,]+/);
  if (words.length > 1) {
    if (bits !== 128 || words.length !== 4) throw new InputError(field, `${field}: one number, or for a 128-bit value four dwords lowest first`);
    return words.reduce((acc, w, k) => acc | (parseHex(field, w, 32) << BigInt(32 * k)), 0n);
  }
  let v: bigint;
  if (/^#\d+$/.test(t)) v = BigInt(t.slice(1));
  else if (/^(0x)?[0-9a-f]+$/i.test(t)) v = BigInt(t.startsWith('0x') || t.startsWith('0X') ? t : '0x' + t);
  else throw new InputError(field, `${field}: "${text}" is not a hex number`);
  if (v >> BigInt(bits) !== 0n) throw new InputError(field, `${field}: ${'0x' + v.toString(16)} does not fit in ${bits} bits`);
  return v;
}
