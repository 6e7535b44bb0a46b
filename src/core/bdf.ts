/** PCI bus/device/function ⇄ 16-bit requester ID ("source-id" on Intel, "DeviceID" on AMD). */
import { showValue, UsageError } from './errors.ts';

const BDF_RE = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/;

/** Parse "bb:dd.f" (or "ssss:bb:dd.f" with segment 0) into a requester ID. Throws UsageError naming the input. */
export function parseBdf(text: string): number {
  if (typeof text !== 'string') throw new UsageError(`${showValue(text)} is not a PCI address: expected a string "bb:dd.f" (e.g. "00:03.0")`);
  const m = BDF_RE.exec(text.trim());
  if (!m) throw new UsageError(`"${text}" is not a PCI address of the form bb:dd.f (e.g. 00:03.0)`);
  if (m[1] !== undefined && parseInt(m[1], 16) !== 0) throw new UsageError(`"${text}": only PCI segment 0 exists`);
  const bus = parseInt(m[2], 16);
  const dev = parseInt(m[3], 16);
  const fn = parseInt(m[4], 10);
  if (dev > 31) throw new UsageError(`"${text}": device number ${dev} is above 31`);
  return (bus << 8) | (dev << 3) | fn;
}

export function formatBdf(requesterId: number): string {
  const bus = (requesterId >> 8) & 0xff;
  const dev = (requesterId >> 3) & 0x1f;
  const fn = requesterId & 7;
  return `${bus.toString(16).padStart(2, '0')}:${dev.toString(16).padStart(2, '0')}.${fn}`;
}

export function isBdf(text: string): boolean {
  return typeof text === 'string' && BDF_RE.test(text.trim());
}
