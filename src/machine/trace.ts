/**
 * Recording and rendering the hop stream, in three forms (docs/architecture.md, "Events and traces"):
 * - QEMU's log-backend line without the pid/timestamp prefix — `vtd_ir_remap_msi_req addr 0xfee00010 data 0xd1` — in
 *   QEMU's own format for every event QEMU defines, to diff against `qemu -trace "vtd_ir_*" -trace "apic_*"` output;
 * - a Mermaid sequence diagram of one interrupt (renders in GitHub issues);
 * - Chrome / Perfetto trace JSON for many interrupts over time, with one flow arrow per interrupt (perfetto-trace.ts).
 */
import { showValue, UsageError } from '../core/errors.ts';
import type { EventHub, TraceHop } from '../core/events.ts';
import { formatHopArgs, isQemuTraceEvent } from './qemu-trace-formats.ts';
import { formatTraceValue, participantOf, PATH_ORDER } from './trace-values.ts';

export { formatTraceValue, participantOf, PATH_ORDER } from './trace-values.ts';
// The web page and older callers import perfettoTrace from here.
export { perfettoTrace } from './perfetto-trace.ts';

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
