/**
 * Reading a real `qemu -trace ...` log (the "log" trace backend): one event per line, `name ` + the event's format,
 * optionally after the `pid@seconds.micros:` prefix QEMU adds with `-msg timestamp=on` or by default in newer versions.
 *
 * Every event irqpath knows (qemu-trace-formats.ts) is read back into named values; text after the known arguments —
 * the `sid 0xffff do_fault 0` a patched QEMU appends to `vtd_ir_remap_msi_req` — is kept as extra `key value` pairs.
 * Events irqpath does not know (`kvm_irqchip_commit_routes`, ...) are skipped and counted by name; lines that are not
 * trace events at all (QEMU's warnings, a shell's `^C`) are counted too. Browser-safe: takes the text, not a file.
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

export interface TraceLog {
  events: TraceLogEvent[];
  /** Trace events irqpath does not read, by name, with how many lines each had. */
  skipped: Record<string, number>;
  /** Lines that are no trace event (QEMU's own messages, blank lines). */
  otherLines: number;
  /** Lines naming a known event whose arguments do not match its format. */
  malformed: { line: number; text: string }[];
}

const PREFIX = /^(\d+)@(\d+\.\d+):/;
const EVENT = /^([a-z][a-z0-9_]*)(?: (.*))?$/;

let compiled: Map<string, CompiledQemuEvent> | null = null;

function grammar(): Map<string, CompiledQemuEvent> {
  compiled ??= new Map(Object.entries(QEMU_TRACE_EVENTS).map(([name, ev]) => [name, compileQemuEvent(name, ev)]));
  return compiled;
}

/** Split `sid 0xffff do_fault 0` into { sid: '0xffff', do_fault: '0' }; a lone trailing word is kept under its own name. */
function extraPairs(text: string): Record<string, string> {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const out: Record<string, string> = {};
  for (let i = 0; i < words.length; i += 2) out[words[i]] = words[i + 1] ?? '';
  return out;
}

export function parseQemuTraceLog(text: string): TraceLog {
  const log: TraceLog = { events: [], skipped: {}, otherLines: 0, malformed: [] };
  const table = grammar();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    let body = raw;
    let pid: number | undefined;
    let time: string | undefined;
    const prefix = PREFIX.exec(body);
    if (prefix) {
      pid = Number(prefix[1]);
      time = prefix[2];
      body = body.slice(prefix[0].length);
    }
    const ev = EVENT.exec(body);
    if (!ev) {
      log.otherLines++;
      return;
    }
    const [, name, rest = ''] = ev;
    const known = table.get(name);
    if (!known) {
      log.skipped[name] = (log.skipped[name] ?? 0) + 1;
      return;
    }
    const m = known.pattern.exec(rest);
    if (!m) {
      log.malformed.push({ line: i + 1, text: raw });
      return;
    }
    const values: Record<string, TraceLogValue> = {};
    known.kinds.forEach((kind, k) => {
      const v = m[k + 1];
      values[known.event.args[k]] = kind === 's' ? v : BigInt(kind === 'x' ? '0x' + v : v);
    });
    const trailing = known.kinds.length < m.length - 1 ? m[m.length - 1] : '';
    const event: TraceLogEvent = { line: i + 1, name, values, extra: extraPairs(trailing ?? ''), text: body };
    if (pid !== undefined) event.pid = pid;
    if (time !== undefined) event.time = time;
    log.events.push(event);
  });
  return log;
}

/** "seconds.micros" as printed by QEMU → microseconds since the epoch, exactly (a bigint: the value passes 2^53). */
function micros(time: string): bigint {
  const [seconds, fraction = ''] = time.split('.');
  return BigInt(seconds) * 1_000_000n + BigInt((fraction + '000000').slice(0, 6));
}

/**
 * The log's events as trace hops, for the renderers (Perfetto, Mermaid): arguments in QEMU's order with the extra
 * pairs after them, `machine` naming the QEMU process (`qemu pid 1234`) when the line has the `pid@time:` prefix, and
 * `ts` the line's real time in microseconds after the log's first timestamp. A QEMU log does not say which lines
 * belong to one interrupt, so every hop has flow 0 (no arrows are drawn between them).
 */
export function traceLogHops(log: TraceLog): TraceHop[] {
  const first = log.events.find((e) => e.time !== undefined)?.time;
  const origin = first === undefined ? 0n : micros(first);
  return log.events.map((e) => {
    const args: [string, TraceValue][] = [...Object.entries(e.values), ...Object.entries(e.extra)];
    const hop: TraceHop = { flow: 0, name: e.name, args };
    if (e.pid !== undefined) hop.machine = `qemu pid ${e.pid}`;
    if (e.time !== undefined) hop.ts = Number(micros(e.time) - origin);
    return hop;
  });
}
