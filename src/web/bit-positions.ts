/**
 * Which characters of a typed number hold which bits, for highlighting a bit field in the input it came from. Only
 * hex text maps digit by digit (each hex digit is four bits, the rightmost digit bits 3:0); decimal has no such map.
 */
/**
 * Character positions of `text` holding bits hi..lo: a single hex number ("0x…", `_` allowed) or four dwords lowest
 * first (each dword hex). Empty when the text is decimal or not a number.
 */
export function bitPositions(text: string, hi: number, lo: number): Set<number> {
  const out = new Set<number>();
  const tokens = [...text.matchAll(/\S+/g)];
  const hexToken = tokens.length === 1 ? /^0x/i.test(tokens[0][0]) : tokens.length === 4;
  if (!hexToken) return out;
  tokens.forEach((tok, k) => {
    const base = tokens.length === 4 ? 32 * k : 0;
    const body = tok[0];
    const start = tok.index! + (/^0x/i.test(body) ? 2 : 0);
    let nibble = 0;
    for (let i = tok.index! + body.length - 1; i >= start; i--) {
      if (text[i] === '_') continue;
      const bitLo = base + 4 * nibble;
      if (bitLo <= hi && bitLo + 3 >= lo) out.add(i);
      nibble++;
    }
  });
  return out;
}
