/**
 * Reading a real `qemu -trace ...` log (the "log" trace backend): one event per line, `name ` + the event's format,
 * optionally after the `pid@seconds.micros:` prefix QEMU adds with `-msg timestamp=on` or by default in newer versions.
 *
 * Every event irqpath knows (qemu-trace-formats.ts) can be read back into named values; text after the known
 * arguments — the `sid 0xffff do_fault 0` a patched QEMU appends to `vtd_ir_remap_msi_req` — is kept as extra
 * `key value` pairs. Events irqpath does not know (`kvm_irqchip_commit_routes`, ...) are counted by name; lines that
 * are not trace events at all (QEMU's warnings, a shell's `^C`, blank lines) are counted too. A final newline ends the
 * last line; it does not start another.
 *
 * The reader streams: it takes text in chunks of any size (or whole lines) and hands each event on as its line is
 * complete, holding nothing but the unfinished last line, so a log of millions of lines reads in constant memory.
 * A consumer that needs only some events says which: the others are counted by name without being decoded, which is
 * most of the time saved on a real log (`ioapic_set_irq` and `apic_*` lines outnumber the requests 100 to 1).
 * Browser-safe: takes text, not a file.
 */
import { compileQemuEvent, QEMU_TRACE_EVENTS, type CompiledQemuEvent } from '../machine/qemu-trace-formats.ts';
import type { TraceHop, TraceValue } from '../core/events.ts';

export type TraceLogValue = bigint | string;

export interface TraceLogEvent {
  /** 1-based line number in the input. */
  line: number;
  name: string;
  /** The event's arguments by QEMU's names (numbers as bigint, %s as string). */
  values: Record<string, TraceLogValue>;
  /** `key value` pairs after the known arguments (from patched QEMUs), values as written. */
  extra: Record<string, string>;
  pid?: number;
  /** Seconds since the epoch, as printed (`1720683990.123456`). */
  time?: string;
  /** The line as it was, without its prefix. */
  text: string;
}

/** What a whole log held, line by line: every line is counted exactly once in one of these. */
export interface TraceLogCounts {
  /** Lines read (a final newline ends the last line and adds none). */
  lines: number;
  /** Trace event lines by event name (known to irqpath or not, decoded or not; malformed lines not included). */
  events: Record<string, number>;
  /** Trace events irqpath does not know, by name (also counted in `events`). */
  skipped: Record<string, number>;
  /** Lines that are no trace event (QEMU's own messages, blank lines). */
  otherLines: number;
  /** Lines naming a known event whose arguments do not match its format: how many, and the first few. */
  malformedLines: number;
  malformed: { line: number; text: string }[];
}

export interface TraceLog extends Omit<TraceLogCounts, 'lines' | 'events' | 'malformedLines'> {
  events: TraceLogEvent[];
}

/** How many malformed lines are kept as examples (all are counted). */
const MALFORMED_EXAMPLES = 20;
const PREFIX = /^(\d+)@(\d+\.\d+):/;
const NAME = /^[a-z][a-z0-9_]*$/;

let compiled: Map<string, CompiledQemuEvent> | null = null;

function grammar(): Map<string, CompiledQemuEvent> {
  compiled ??= new Map(Object.entries(QEMU_TRACE_EVENTS).map(([name, ev]) => [name, compileQemuEvent(name, ev)]));
  return compiled;
}

/** Split `sid 0xffff do_fault 0` into { sid: '0xffff', do_fault: '0' }; a lone trailing word is kept under its own name. */
function extraPairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text === '') return out;
  const words = text.trim().split(/\s+/).filter(Boolean);
  for (let i = 0; i < words.length; i += 2) out[words[i]] = words[i + 1] ?? '';
  return out;
}

export interface TraceLogReaderOptions {
  /** Decode only the events this accepts (default: every event irqpath knows); the rest are counted by name. */
  decode?: (name: string) => boolean;
}

/** A streaming reader: push text, receive events; `end()` gives the counts. */
export class QemuTraceLogReader {
  private readonly table = grammar();
  private readonly decode: (name: string) => boolean;
  private partial = '';
  private readonly counts: TraceLogCounts = { lines: 0, events: {}, skipped: {}, otherLines: 0, malformedLines: 0, malformed: [] };
  private ended = false;

  constructor(private readonly onEvent: (ev: TraceLogEvent) => void, options: TraceLogReaderOptions = {}) {
    this.decode = options.decode ?? (() => true);
  }

  /** Lines read so far. */
  get lines(): number {
    return this.counts.lines;
  }

  /** Event names seen so far (with their counts so far). */
  get eventCounts(): Readonly<Record<string, number>> {
    return this.counts.events;
  }

  /** Text of any size: lines are cut at `\n` (a `\r` before it is dropped); an unfinished last line waits for more. */
  push(chunk: string): void {
    let start = 0;
    let nl = chunk.indexOf('\n');
    if (nl < 0) {
      this.partial += chunk;
      return;
    }
    if (this.partial !== '') {
      this.line(this.partial + chunk.slice(0, nl));
      this.partial = '';
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    while (nl >= 0) {
      this.line(chunk.slice(start, nl));
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    this.partial = chunk.slice(start);
  }

  /** One whole line (without its newline). */
  line(raw: string): void {
    if (this.ended) throw new Error('QemuTraceLogReader: line after end()');
    const n = ++this.counts.lines;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    let body = text;
    let pid: number | undefined;
    let time: string | undefined;
    const c = text.charCodeAt(0);
    if (c >= 48 && c <= 57) {
      const prefix = PREFIX.exec(text);
      if (prefix) {
        pid = Number(prefix[1]);
        time = prefix[2];
        body = text.slice(prefix[0].length);
      }
    }
    const space = body.indexOf(' ');
    const name = space < 0 ? body : body.slice(0, space);
    if (!NAME.test(name)) {
      this.counts.otherLines++;
      return;
    }
    const known = this.table.get(name);
    if (!known) {
      this.counts.events[name] = (this.counts.events[name] ?? 0) + 1;
      this.counts.skipped[name] = (this.counts.skipped[name] ?? 0) + 1;
      return;
    }
    if (!this.decode(name)) {
      this.counts.events[name] = (this.counts.events[name] ?? 0) + 1;
      return;
    }
    const rest = space < 0 ? '' : body.slice(space + 1);
    const m = known.pattern.exec(rest);
    if (!m) {
      this.counts.malformedLines++;
      if (this.counts.malformed.length < MALFORMED_EXAMPLES) this.counts.malformed.push({ line: n, text });
      return;
    }
    this.counts.events[name] = (this.counts.events[name] ?? 0) + 1;
    const values: Record<string, TraceLogValue> = {};
    const kinds = known.kinds;
    const args = known.event.args;
    for (let k = 0; k < kinds.length; k++) {
      const v = m[k + 1];
      values[args[k]] = kinds[k] === 's' ? v : BigInt(kinds[k] === 'x' ? '0x' + v : v);
    }
    const trailing = kinds.length < m.length - 1 ? m[m.length - 1] ?? '' : '';
    const event: TraceLogEvent = { line: n, name, values, extra: extraPairs(trailing), text: body };
    if (pid !== undefined) event.pid = pid;
    if (time !== undefined) event.time = time;
    this.onEvent(event);
  }

  /** The input is complete: an unfinished last line is a line. */
  end(): TraceLogCounts {
    if (!this.ended) {
      if (this.partial !== '') this.line(this.partial);
      this.partial = '';
      this.ended = true;
    }
    return this.counts;
  }
}

/** Read a whole log at once, keeping every event (small logs and tests; the replay streams instead). */
export function parseQemuTraceLog(text: string): TraceLog {
  const events: TraceLogEvent[] = [];
  const reader = new QemuTraceLogReader((ev) => events.push(ev));
  reader.push(text);
  const counts = reader.end();
  return { events, skipped: counts.skipped, otherLines: counts.otherLines, malformed: counts.malformed };
}

/** "seconds.micros" as printed by QEMU → microseconds since the epoch, exactly (a bigint: the value passes 2^53). */
function micros(time: string): bigint {
  const [seconds, fraction = ''] = time.split('.');
  return BigInt(seconds) * 1_000_000n + BigInt((fraction + '000000').slice(0, 6));
}

/**
 * Turns a log's events, in order, into trace hops for the renderers (Perfetto, Mermaid): arguments in QEMU's order
 * with the extra pairs after them, and `ts` the line's real time in microseconds after the first timestamp seen (the
 * `pid@seconds.micros:` prefix). A QEMU log does
 * not say which lines belong to one interrupt, so every hop has flow 0 (no arrows are drawn between them). Streams:
 * feed it the events a {@link QemuTraceLogReader} delivers.
 */
export function traceLogHopMaker(): (e: TraceLogEvent) => TraceHop {
  let origin: bigint | null = null;
  return (e) => {
    const args: [string, TraceValue][] = [...Object.entries(e.values), ...Object.entries(e.extra)];
    const hop: TraceHop = { flow: 0, name: e.name, args };
    if (e.time !== undefined) {
      const at = micros(e.time);
      origin ??= at;
      hop.ts = Number(at - origin);
    }
    return hop;
  };
}

/** {@link traceLogHopMaker} over a whole parsed log. */
export function traceLogHops(log: TraceLog): TraceHop[] {
  return log.events.map(traceLogHopMaker());
}
