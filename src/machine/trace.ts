/**
 * Recording and rendering the hop stream. The golden format is QEMU's log backend line without the pid/timestamp
 * prefix — `vtd_ir_remap_msi_req addr 0xfee00010 data 0xd1 sid 0xff00 do_fault 1` — so a trace can be put next to
 * `qemu --trace "vtd_ir_*" --trace "apic_*"` output. Mermaid renders one interrupt as a sequence diagram.
 */
import type { EventHub, TraceHop, TraceValue } from './events.ts';

/** Argument names QEMU prints in hex. Everything else numeric is decimal (QEMU prints vectors and indices that way). */
const HEX_ARGS = new Set([
  'addr', 'addr2', 'data', 'data2', 'sid', 'devid', 'lo', 'hi', 'low', 'high', 'val', 'value', 'regsel', 'dest',
  'address', 'rte', 'irte', 'irte_lo', 'irte_hi', 'fsts', 'fectl', 'status', 'control', 'pda', 'iqa', 'iqh', 'iqt',
  'ctrl', 'entry', 'cmd', 'ics', 'offset', 'mask',
]);

export function formatTraceValue(key: string, value: TraceValue): string {
  if (typeof value === 'bigint') return '0x' + value.toString(16);
  if (typeof value === 'number') {
    if (HEX_ARGS.has(key)) return '0x' + (value < 0 ? value >>> 0 : value).toString(16);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? '1' : '0';
  return value;
}

/** One QEMU-style line: "name key value key value". */
export function formatHop(hop: TraceHop): string {
  let line = hop.name;
  for (const [key, value] of hop.args) line += ` ${key} ${formatTraceValue(key, value)}`;
  return line;
}

export class TraceRecorder {
  readonly hops: TraceHop[] = [];
  private listener: ((hop: TraceHop) => void) | null = null;

  constructor(private readonly hub: EventHub) {}

  start(): this {
    if (this.listener) return this;
    this.listener = (hop) => this.hops.push(hop);
    this.hub.on('hop', this.listener);
    return this;
  }

  stop(): TraceHop[] {
    if (this.listener) this.hub.off('hop', this.listener);
    this.listener = null;
    return this.hops;
  }

  lines(): string[] {
    return this.hops.map(formatHop);
  }

  /** Hops grouped by interrupt flow, in order. */
  flows(): Map<number, TraceHop[]> {
    const byFlow = new Map<number, TraceHop[]>();
    for (const hop of this.hops) {
      let list = byFlow.get(hop.flow);
      if (!list) byFlow.set(hop.flow, (list = []));
      list.push(hop);
    }
    return byFlow;
  }
}

/** Which component a hop belongs to, for diagrams. */
function participantOf(name: string): string {
  if (name.startsWith('vtd_')) return 'VTd';
  if (name.startsWith('amdvi_')) return 'AMDVi';
  if (name.startsWith('ioapic_')) return 'IOAPIC';
  if (name.startsWith('apic_')) return 'LAPIC';
  if (name.startsWith('msi') || name.startsWith('pci_')) return 'Device';
  return 'Bus';
}

/** A Mermaid sequence diagram of one interrupt flow (renders natively in GitHub issues). */
export function mermaidForFlow(hops: TraceHop[]): string {
  const out = ['sequenceDiagram', '  autonumber'];
  const order = ['Device', 'IOAPIC', 'Bus', 'VTd', 'AMDVi', 'LAPIC'];
  const used = new Set(hops.map((h) => participantOf(h.name)));
  for (const p of order) if (used.has(p)) out.push(`  participant ${p}`);
  let previous = hops.length ? participantOf(hops[0].name) : 'Bus';
  for (const hop of hops) {
    const to = participantOf(hop.name);
    // Mermaid treats "end" and ";" specially inside labels; the hop text contains neither keyword on its own.
    const label = formatHop(hop).replace(/;/g, ',');
    if (to === previous) out.push(`  Note over ${to}: ${label}`);
    else out.push(`  ${previous}->>${to}: ${label}`);
    previous = to;
  }
  return out.join('\n');
}
