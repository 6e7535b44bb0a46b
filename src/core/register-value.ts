/**
 * Raw register values in a configuration: a bigint, or a hex string exactly as Linux or a register dump prints it
 * ("d2008c40660462", "0xf050da", "0x0000_00f0_50da"). Numbers are refused for 64-bit registers: a JSON/YAML
 * number silently loses bits above 2^53.
 */
import { ConfigError } from './errors.ts';

export function parseRegisterValue(value: unknown, field: string, bits: number): bigint {
  let v: bigint;
  if (typeof value === 'bigint') {
    v = value;
  } else if (typeof value === 'string') {
    const text = value.trim().replace(/_/g, '');
    if (!/^(0x)?[0-9a-f]+$/i.test(text)) throw new ConfigError(field, `"${value}" is not a hexadecimal register value (write it as Linux prints it, e.g. "d2008c40660462")`);
    v = BigInt('0x' + text.replace(/^0x/i, ''));
  } else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && bits <= 32) {
    v = BigInt(value);
  } else {
    throw new ConfigError(field, `must be a hex string or a bigint (a ${bits}-bit register value), got ${JSON.stringify(typeof value === 'bigint' ? String(value) : value)}`);
  }
  if (v < 0n || v >> BigInt(bits) !== 0n) throw new ConfigError(field, `0x${v.toString(16)} does not fit in ${bits} bits`);
  return v;
}
