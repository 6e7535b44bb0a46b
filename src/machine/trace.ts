/**
 * Recording and rendering the hop stream, in three forms (docs/architecture.md, "Events and traces"):
 * - QEMU's log-backend line without the pid/timestamp prefix — `vtd_ir_remap_msi_req addr 0xfee00010 data 0xd1` — in
 *   QEMU's own format for every event QEMU defines, to diff against `qemu -trace "vtd_ir_*" -trace "apic_*"` output;
 * - a Mermaid sequence diagram of one interrupt (renders in GitHub issues);
 * - Chrome / Perfetto trace JSON for many interrupts over time, with one flow arrow per interrupt.
 */
import { showValue, UsageError } from '../core/errors.ts';
import type { EventHub, TraceHop, TraceValue } from '../core/events.ts';
import { formatHopArgs, isQemuTraceEvent } from './qemu-trace-formats.ts';

/** For `irqpath_*` hops: argument names printed in hex; everything else numeric is decimal. */
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

/**
 * One line as QEMU's log backend prints it (without the `pid@time:` prefix): `name ` + QEMU's format string for an
 * event QEMU defines (qemu-trace-formats.ts), `name key value key value` for an `irqpath_*` hop.
 */
export function formatHop(hop: TraceHop): string {
  if (isQemuTraceEvent(hop.name)) return `${hop.name} ${formatHopArgs(hop, formatTraceValue)}`;
  return hop.args.length ? `${hop.name} ${formatHopArgs(hop, formatTraceValue)}` : hop.name;
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

/**
 * A Mermaid sequence diagram of one interrupt flow (renders natively in GitHub issues). A `caption` becomes a `%%`
 * comment line inside the diagram, so it travels with the diagram into a fenced block instead of showing up as stray
 * text in the Markdown around it.
 */
export function mermaidForFlow(hops: readonly TraceHop[], caption?: string): string {
  if (!Array.isArray(hops)) throw new UsageError(`mermaidForFlow: expected the hops of one interrupt (a value of trace.flows()), got ${showValue(hops)}`);
  const out = ['sequenceDiagram'];
  if (caption !== undefined) out.push(`  %% ${caption.replace(/[\r\n]+/g, ' ')}`);
  out.push('  autonumber');
  const order = ['Device', 'IOAPIC', 'Bus', 'VTd', 'AMDVi', 'LAPIC'];
  const used = new Set(hops.map((h) => participantOf(h.name)));
  for (const p of order) if (used.has(p)) out.push(`  participant ${p}`);
  let previous = hops.length ? participantOf(hops[0].name) : 'Bus';
  for (const hop of hops) {
    const to = participantOf(hop.name);
    // Mermaid treats "end" and ";" specially inside labels; the hop text contains neither keyword on its own.
    const label = formatHop(hop).replace(/;/g, ',');
    if (to === previous || PATH_ORDER[to] <= PATH_ORDER[previous]) out.push(`  Note over ${to}: ${label}`);
    else out.push(`  ${previous}->>${to}: ${label}`);
    previous = to;
  }
  return out.join('\n');
}

const PERFETTO_PROCESS: Record<string, number> = { Device: 1, IOAPIC: 2, Bus: 3, VTd: 4, AMDVi: 4, LAPIC: 5 };
const PERFETTO_NAMES: Record<number, string> = { 1: 'PCI devices', 2: 'I/O APIC', 3: 'machine bus', 4: 'IOMMU', 5: 'local APICs' };

function jsonValue(v: TraceValue): string | number | boolean {
  return typeof v === 'bigint' ? '0x' + v.toString(16) : v;
}

/**
 * Chrome trace-event JSON (loads in ui.perfetto.dev and chrome://tracing): each hop is a 1 µs slice on its
 * component's track, on a virtual clock (one tick per hop), and the hops of one interrupt are joined by a flow arrow
 * (`s` on its first hop, `t` on each middle hop, `f` on its last).
 *
 * Each argument is one run (the hops of one machine). Machines number their flows from 1, so flow ids are assigned
 * here, unique across all runs: otherwise the trace viewer joins interrupts of different runs into one arrow. A flow
 * of a single hop (an interrupt that stopped at its first component) has nothing to connect and gets no arrow, so every
 * arrow that starts also ends.
 */
export function perfettoTrace(...runs: readonly (readonly TraceHop[])[]): { traceEvents: Record<string, unknown>[] } {
  runs.forEach((hops, i) => {
    if (!Array.isArray(hops)) throw new UsageError(`perfettoTrace: argument ${i + 1} must be a list of trace hops (what trace.stop() returns), got ${showValue(hops)}`);
  });
  const events: Record<string, unknown>[] = Object.entries(PERFETTO_NAMES).map(([pid, name]) => ({ ph: 'M', name: 'process_name', pid: Number(pid), tid: 0, args: { name } }));
  let ts = 0;
  let nextId = 1;
  runs.forEach((hops, run) => {
    const length = new Map<number, number>();
    for (const hop of hops) if (hop.flow > 0) length.set(hop.flow, (length.get(hop.flow) ?? 0) + 1);
    const ids = new Map<number, number>();
    const seen = new Map<number, number>();
    for (const hop of hops) {
      const pid = PERFETTO_PROCESS[participantOf(hop.name)] ?? 3;
      const args = Object.fromEntries(hop.args.map(([k, v]) => [k, jsonValue(v)]));
      events.push({ ph: 'X', name: hop.name, cat: 'irqpath', pid, tid: 0, ts, dur: 1, args: { run, flow: hop.flow, ...args } });
      const hopsInFlow = length.get(hop.flow) ?? 0;
      if (hop.flow > 0 && hopsInFlow > 1) {
        let id = ids.get(hop.flow);
        if (id === undefined) ids.set(hop.flow, (id = nextId++));
        const nth = (seen.get(hop.flow) ?? 0) + 1;
        seen.set(hop.flow, nth);
        const ph = nth === 1 ? 's' : nth === hopsInFlow ? 'f' : 't';
        events.push({ ph, name: 'interrupt', cat: 'irqpath', id, pid, tid: 0, ts, ...(ph === 'f' ? { bp: 'e' } : {}) });
      }
      ts++;
    }
  });
  return { traceEvents: events };
}
