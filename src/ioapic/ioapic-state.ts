/**
 * The I/O APIC's snapshot: a plain, JSON-serialisable object (numbers and hex strings) with a version, and the
 * validation that `Ioapic.restore` runs before it changes anything.
 */
import { UsageError } from '../core/errors.ts';
import { RTE_DELIVS } from '../msi/formats/ioapic-rte.ts';

export const IOAPIC_STATE_VERSION = 1;

/** Electrical level of an input pin: never driven (idle at its inactive level), low, or high. */
export const LINE_IDLE = -1;
export const LINE_LOW = 0;
export const LINE_HIGH = 1;

export interface IoapicState {
  version: typeof IOAPIC_STATE_VERSION;
  /** Number of pins; must match the device being restored. */
  pins: number;
  /** Version register value (0x11 or 0x20); must match the device being restored. */
  ioapicVersion: number;
  /** I/O APIC ID, 0..15 (ID register bits 27:24). */
  id: number;
  /** IOREGSEL, 0..255. */
  regsel: number;
  /** Each redirection-table entry as a 64-bit hex string ("0x0000000000010000"). */
  redirection: string[];
  /** Each input line's electrical level: -1 idle (never driven), 0 low, 1 high. */
  lines: number[];
}

/** A validated state split into the typed arrays the device uses. */
export interface DecodedIoapicState {
  id: number;
  regsel: number;
  rteLo: Uint32Array;
  rteHi: Uint32Array;
  lines: Int8Array;
}

const HEX64_RE = /^0x[0-9a-fA-F]{1,16}$/;

export function rteToHex(lo: number, hi: number): string {
  return '0x' + (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/** Check `state` against a device with `pins` pins and version `ioapicVersion`; throws UsageError naming the field. */
export function decodeIoapicState(state: unknown, pins: number, ioapicVersion: number): DecodedIoapicState {
  const bad = (field: string, why: string): never => {
    throw new UsageError(`I/O APIC state: ${field}: ${why}`);
  };
  if (typeof state !== 'object' || state === null) bad('state', 'not an object');
  const s = state as Record<string, unknown>;
  if (s.version !== IOAPIC_STATE_VERSION) bad('version', `expected ${IOAPIC_STATE_VERSION}, got ${String(s.version)}`);
  if (s.pins !== pins) bad('pins', `the state has ${String(s.pins)} pins, this I/O APIC has ${pins}`);
  if (s.ioapicVersion !== ioapicVersion) {
    bad('ioapicVersion', `the state is for version ${String(s.ioapicVersion)}, this I/O APIC is version 0x${ioapicVersion.toString(16)}`);
  }
  if (!isInt(s.id, 0, 15)) bad('id', `must be an integer 0..15, got ${String(s.id)}`);
  if (!isInt(s.regsel, 0, 0xff)) bad('regsel', `must be an integer 0..255, got ${String(s.regsel)}`);
  if (!Array.isArray(s.redirection) || s.redirection.length !== pins) bad('redirection', `must be an array of ${pins} hex strings`);
  if (!Array.isArray(s.lines) || s.lines.length !== pins) bad('lines', `must be an array of ${pins} numbers (-1, 0 or 1)`);
  const rteLo = new Uint32Array(pins);
  const rteHi = new Uint32Array(pins);
  const lines = new Int8Array(pins);
  const redirection = s.redirection as unknown[];
  const lineValues = s.lines as unknown[];
  for (let n = 0; n < pins; n++) {
    const text = redirection[n];
    if (typeof text !== 'string' || !HEX64_RE.test(text)) bad(`redirection[${n}]`, `"${String(text)}" is not a 64-bit hex string`);
    const value = BigInt(text as string);
    const lo = Number(value & 0xffffffffn);
    if (lo & RTE_DELIVS) bad(`redirection[${n}]`, 'delivery status (bit 12) is always 0: no send-pending state is modelled');
    rteLo[n] = lo;
    rteHi[n] = Number(value >> 32n);
    const line = lineValues[n];
    if (line !== LINE_IDLE && line !== LINE_LOW && line !== LINE_HIGH) bad(`lines[${n}]`, `must be -1, 0 or 1, got ${String(line)}`);
    lines[n] = line as number;
  }
  return { id: s.id as number, regsel: s.regsel as number, rteLo, rteHi, lines };
}
