/**
 * How a hop's arguments read, shared by every rendering of the hop stream (trace lines, Mermaid, Perfetto, the web
 * page): which argument names are printed in hex, and which component of the path each hop belongs to.
 */
import type { TraceValue } from '../core/events.ts';

/** For `irqpath_*` hops: argument names printed in hex; everything else numeric is decimal. */
const HEX_ARGS = new Set([
  'addr', 'addr2', 'data', 'data2', 'sid', 'devid', 'lo', 'hi', 'low', 'high', 'val', 'value', 'regsel', 'dest',
  'address', 'rte', 'irte', 'irte_lo', 'irte_hi', 'fsts', 'fectl', 'status', 'control', 'pda', 'iqa', 'iqh', 'iqt',
  'ctrl', 'entry', 'cmd', 'ics', 'offset', 'mask', 'apic', 'ndst', 'ga_tag',
]);

/** Whether a numeric argument of this name is printed in hex. */
export function isHexArg(key: string): boolean {
  return HEX_ARGS.has(key);
}

export function formatTraceValue(key: string, value: TraceValue): string {
  if (typeof value === 'bigint') return '0x' + value.toString(16);
  if (typeof value === 'number') {
    if (HEX_ARGS.has(key)) return '0x' + (value < 0 ? value >>> 0 : value).toString(16);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? '1' : '0';
  return value;
}

/** Which component a hop belongs to, for diagrams (Mermaid, Perfetto tracks, the web page's sequence view). */
export function participantOf(hopName: string): string {
  const name = hopName.startsWith('irqpath_') ? hopName.slice('irqpath_'.length) : hopName;
  if (name.startsWith('vtd_')) return 'VTd';
  if (name.startsWith('amdvi_')) return 'AMDVi';
  if (name.startsWith('ioapic_')) return 'IOAPIC';
  if (name.startsWith('apic_')) return 'LAPIC';
  // The bus hands every message to the translation core: irqpath_msi_route is the bus's hop, not the device's.
  if (name === 'msi_route') return 'Bus';
  if (name.startsWith('msi_') || name.startsWith('msix_') || name.startsWith('pci_')) return 'Device';
  return 'Bus';
}

/** Left-to-right order of the path; a hop that goes "back" (a line de-asserting after delivery) is drawn as a note. */
export const PATH_ORDER: Record<string, number> = { Device: 0, IOAPIC: 0, Bus: 1, VTd: 2, AMDVi: 2, LAPIC: 3 };
