/**
 * `irqpath replay`: take a real QEMU trace log (qemu-trace-log.ts), rebuild every interrupt request it shows with the
 * unit state and table entries the log printed up to then, run each through an IOMMU model programmed to match, and
 * put what QEMU did next to what hardware does, naming every divergence. The Intel VT-d requests are replayed by
 * vtd-trace-replay.ts, the AMD-Vi ones by amd-trace-replay.ts; identical requests are replayed once and counted
 * (replay-groups.ts).
 *
 * The replay streams: {@link QemuTraceReplay} takes the log in chunks (or line by line) and keeps only the request
 * being read, the distinct requests and the table entries seen, so a log of millions of lines replays in time linear
 * in its length and in flat memory; a new kind of divergent request is reported the moment it is replayed. The report
 * opens with the summary. Output is data (ReplayReport); the CLI formats it.
 *
 * Trace lines are compared only for events the log holds: a `-trace vtd_ir_remap*` log has no `vtd_ir_irte_get`
 * lines, and irqpath's model printing one is not a difference (such names are listed as not captured).
 */
import { UsageError } from '../core/errors.ts';
import { isQemuTraceEvent } from '../machine/qemu-trace-formats.ts';
import { QemuTraceLogReader, type TraceLogCounts, type TraceLogEvent } from './qemu-trace-log.ts';
import { ReplayGroups, type ReplayGroup, type ReplaySummary } from './replay-groups.ts';
import { VtdTraceReplay, type ReplayedRequest, type VtdReplayOptions, type VtdUnitReport } from './vtd-trace-replay.ts';
import { AmdTraceReplay, type AmdReplayedRequest, type AmdReplayOptions, type AmdUnitReport } from './amd-trace-replay.ts';

export interface ReplayOptions extends VtdReplayOptions, AmdReplayOptions {}

export type { ReplayOutcome } from './trace-replay-outcome.ts';
export type { ReplayedRequest } from './vtd-trace-replay.ts';
export type { AmdReplayedRequest } from './amd-trace-replay.ts';
export type { ReplayGroup, ReplaySummary } from './replay-groups.ts';

export type AnyReplayedRequest = ReplayedRequest | AmdReplayedRequest;

/** How a request's trace lines compare with the log's, over the events the log holds. */
export interface TraceComparison {
  /** irqpath's lines (those of events the log holds) are the log's lines for the request, in order. */
  same: boolean;
  /** Events irqpath's model printed for the request that the log's `-trace` filter did not capture. */
  notCaptured: string[];
}

export type ReplayedGroup = ReplayGroup<AnyReplayedRequest> & { trace: TraceComparison };

export interface ReplayReport {
  summary: ReplaySummary;
  /** The Intel VT-d unit as replayed (null: no VT-d request in the log). */
  vtd: VtdUnitReport | null;
  /** The AMD-Vi unit as replayed (null: no AMD-Vi request in the log). */
  amd: AmdUnitReport | null;
  /** The distinct requests, in the order of their first line. */
  groups: ReplayedGroup[];
  /** What the log held, line by line. */
  log: TraceLogCounts;
}

export interface ReplayHooks {
  /** A distinct request that diverges has just been replayed (its first occurrence). */
  onNewDivergent?: (group: ReplayGroup<AnyReplayedRequest>) => void;
}

export class QemuTraceReplay {
  private readonly groups: ReplayGroups<AnyReplayedRequest>;
  private readonly vtd: VtdTraceReplay;
  private readonly amd: AmdTraceReplay;
  private readonly reader: QemuTraceLogReader;

  constructor(options: ReplayOptions = {}, hooks: ReplayHooks = {}) {
    this.groups = new ReplayGroups(hooks.onNewDivergent);
    this.vtd = new VtdTraceReplay(options, (key, first, last, count, replay) => this.groups.add('intel-vtd', key, first, last, count, replay));
    this.amd = new AmdTraceReplay(options, (key, first, last, count, replay) => this.groups.add('amd-vi', key, first, last, count, replay));
    this.reader = new QemuTraceLogReader((ev) => this.event(ev), { decode: (name) => VtdTraceReplay.reads(name) || AmdTraceReplay.reads(name) });
  }

  /** Text of any size (a chunk of a file, a whole log). */
  push(chunk: string): void {
    this.reader.push(chunk);
  }

  /** One whole line, without its newline. */
  line(text: string): void {
    this.reader.line(text);
  }

  /** Lines read so far. */
  get lines(): number {
    return this.reader.lines;
  }

  /** Requests replayed so far, and how many of them diverge. */
  progress(): { lines: number; requests: number; diverging: number } {
    const s = this.groups.summary(this.reader.lines);
    return { lines: s.lines, requests: s.requests, diverging: s.diverging };
  }

  /** The log has ended: the report. A log with no QEMU trace event in it is a usage error. */
  finish(): ReplayReport {
    const log = this.reader.end();
    this.vtd.finish();
    this.amd.finish();
    if (!Object.keys(log.events).some(isQemuTraceEvent) && log.malformedLines === 0) {
      throw new UsageError("no QEMU trace events found: run QEMU with -trace 'vtd_*' (and amdvi_*, ioapic_*, apic_*, msi*, pci_cfg_*)");
    }
    const captured = (name: string) => (log.events[name] ?? 0) > 0;
    const groups = this.groups.groups().map((g): ReplayedGroup => ({ ...g, trace: compareTrace(g.request, captured) }));
    const summary = this.groups.summary(log.lines);
    summary.cutOff = [this.vtd.cutOff, this.amd.cutOff].filter((l): l is number => l !== null).sort((a, b) => a - b);
    return { summary, vtd: this.vtd.report(), amd: this.amd.report(), groups, log };
  }

  private event(ev: TraceLogEvent): void {
    if (ev.name.charCodeAt(0) === 0x76 /* v */) this.vtd.event(ev);
    else this.amd.event(ev);
  }
}

function compareTrace(r: AnyReplayedRequest, captured: (name: string) => boolean): TraceComparison {
  const notCaptured = new Set<string>();
  const shown = r.trace.irqpath.filter((l) => {
    const name = l.slice(0, l.indexOf(' ') >>> 0);
    if (captured(name)) return true;
    notCaptured.add(name);
    return false;
  });
  const q = r.trace.qemu;
  return { same: shown.length === q.length && shown.every((l, k) => l === q[k]), notCaptured: [...notCaptured] };
}

/** Replay a whole log: its text, or its lines one by one (an iterable of lines without their newlines). */
export function replayQemuTrace(input: string | Iterable<string>, options: ReplayOptions = {}, hooks: ReplayHooks = {}): ReplayReport {
  const replay = new QemuTraceReplay(options, hooks);
  if (typeof input === 'string') replay.push(input);
  else for (const line of input) replay.line(line);
  return replay.finish();
}
