/**
 * Chrome trace-event JSON (the "JSON trace format" ui.perfetto.dev and chrome://tracing load) for many interrupts:
 *
 * - one process per run and machine — "05-windows-amd-cpu-intel-ir-only [fixed-windows]", or "11-… · host" and
 *   "11-… · guest" for the two machines of a system, so host and guest never share a track;
 * - inside it, one thread (track) per component — PCI devices, I/O APIC, the machine bus, the IOMMU, the APIC bus
 *   (apic_deliver_irq: the message on its way, addressed to a destination) — and one per CPU that accepted an
 *   interrupt ("CPU 5 (APIC 0x5)", from irqpath_apic_accept);
 * - each hop a 1 µs slice named after its trace event, with its arguments (addresses and the other fields QEMU
 *   prints in hex as "0x…" strings), the run's name and index, the machine and the flow;
 * - one flow arrow per interrupt (`s` on its first hop, `t` on each middle hop, `f` on its last), numbered uniquely
 *   across runs and machines, since each machine numbers its flows from 1;
 * - time: a hop that carries real time (`ts`, from a recorded log such as a QEMU trace's `pid@seconds.micros:`
 *   prefix) is placed there; others on a virtual clock, one microsecond per hop, so the order is what you see.
 */
import { showValue, UsageError } from '../core/errors.ts';
import type { TraceHop, TraceValue } from '../core/events.ts';
import { formatTraceValue, isHexArg, participantOf } from './trace-values.ts';

/** One run: its hops and the name its process is given (the scenario and variant). */
export interface PerfettoRun {
  name?: string;
  hops: readonly TraceHop[];
}

const COMPONENT_TRACKS: Record<string, { tid: number; name: string }> = {
  Device: { tid: 1, name: 'PCI devices' },
  IOAPIC: { tid: 2, name: 'I/O APIC' },
  Bus: { tid: 3, name: 'machine bus' },
  VTd: { tid: 4, name: 'IOMMU' },
  AMDVi: { tid: 4, name: 'IOMMU' },
};
const APIC_BUS_TRACK = { tid: 5, name: 'APIC bus' };
/** Per-CPU tracks start here, ordered by CPU index after the component tracks. */
const CPU_TID_BASE = 100;

function argValue(key: string, v: TraceValue): string | number | boolean {
  if (typeof v === 'bigint' || (typeof v === 'number' && isHexArg(key))) return formatTraceValue(key, v);
  return v;
}

function argNumber(hop: TraceHop, key: string): number | null {
  const v = hop.args.find(([k]) => k === key)?.[1];
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : null;
}

/** The track of a hop: its component's; a message on its way to the local APICs on the APIC bus; an acceptance on its CPU's. */
function trackOf(hop: TraceHop): { tid: number; name: string } {
  const participant = participantOf(hop.name);
  if (participant !== 'LAPIC') return COMPONENT_TRACKS[participant] ?? COMPONENT_TRACKS.Bus;
  const cpu = hop.name === 'irqpath_apic_accept' ? argNumber(hop, 'cpu') : null;
  if (cpu === null) return APIC_BUS_TRACK;
  const apic = argNumber(hop, 'apic');
  return { tid: CPU_TID_BASE + cpu, name: `CPU ${cpu}${apic === null ? '' : ` (APIC 0x${apic.toString(16)})`}` };
}

function toRun(run: readonly TraceHop[] | PerfettoRun, i: number): PerfettoRun {
  if (Array.isArray(run)) return { hops: run };
  if (typeof run === 'object' && run !== null && Array.isArray((run as PerfettoRun).hops)) return run as PerfettoRun;
  throw new UsageError(`perfettoTrace: argument ${i + 1} must be a list of trace hops (what trace.stop() returns) or { name, hops }, got ${showValue(run)}`);
}

/** Trace-event JSON for one or more runs, each a list of hops or `{ name, hops }`. */
export function perfettoTrace(...runs: readonly (readonly TraceHop[] | PerfettoRun)[]): { traceEvents: Record<string, unknown>[] } {
  const named = runs.map(toRun);
  const meta: Record<string, unknown>[] = [];
  const events: Record<string, unknown>[] = [];
  const processes = new Map<string, number>();
  const threads = new Set<string>();
  let clock = 0;
  let nextFlowId = 1;
  named.forEach((run, runIndex) => {
    const runName = run.name ?? `run ${runIndex}`;
    // Hops per (machine, flow), to know each flow's first and last hop.
    const key = (hop: TraceHop) => `${hop.machine ?? ''}\u0000${hop.flow}`;
    const length = new Map<string, number>();
    for (const hop of run.hops) if (hop.flow > 0) length.set(key(hop), (length.get(key(hop)) ?? 0) + 1);
    const ids = new Map<string, number>();
    const seen = new Map<string, number>();
    for (const hop of run.hops) {
      const processName = hop.machine ? `${runName} · ${hop.machine}` : runName;
      const processKey = `${runIndex}\u0000${processName}`;
      let pid = processes.get(processKey);
      if (pid === undefined) {
        processes.set(processKey, (pid = processes.size + 1));
        meta.push({ ph: 'M', name: 'process_name', pid, tid: 0, args: { name: processName } });
        meta.push({ ph: 'M', name: 'process_sort_index', pid, tid: 0, args: { sort_index: pid } });
      }
      const track = trackOf(hop);
      if (!threads.has(`${pid}/${track.tid}`)) {
        threads.add(`${pid}/${track.tid}`);
        meta.push({ ph: 'M', name: 'thread_name', pid, tid: track.tid, args: { name: track.name } });
        meta.push({ ph: 'M', name: 'thread_sort_index', pid, tid: track.tid, args: { sort_index: track.tid } });
      }
      const ts = hop.ts ?? clock++;
      const args = Object.fromEntries(hop.args.map(([k, v]) => [k, argValue(k, v)]));
      events.push({
        ph: 'X', name: hop.name, cat: 'irqpath', pid, tid: track.tid, ts, dur: 1,
        args: { name: runName, run: runIndex, ...(hop.machine ? { machine: hop.machine } : {}), flow: hop.flow, ...args },
      });
      const hopsInFlow = length.get(key(hop)) ?? 0;
      if (hop.flow > 0 && hopsInFlow > 1) {
        let id = ids.get(key(hop));
        if (id === undefined) ids.set(key(hop), (id = nextFlowId++));
        const nth = (seen.get(key(hop)) ?? 0) + 1;
        seen.set(key(hop), nth);
        const ph = nth === 1 ? 's' : nth === hopsInFlow ? 'f' : 't';
        events.push({ ph, name: 'interrupt', cat: 'irqpath', id, pid, tid: track.tid, ts, ...(ph === 'f' ? { bp: 'e' } : {}) });
      }
    }
  });
  return { traceEvents: [...meta, ...events] };
}
