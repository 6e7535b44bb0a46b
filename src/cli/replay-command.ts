/**
 * `irqpath replay <qemu-trace.log>`: read a QEMU trace log, rebuild each interrupt request with the unit state and
 * table entries it shows, and print what QEMU did next to what hardware does, marking every divergence
 * (src/tools/qemu-trace-replay.ts). The file is read here, as a stream: a new kind of diverging request is reported on
 * stderr as soon as it is found (and, with --progress, a line every 100 000 lines), the report follows at the end and
 * opens with the summary.
 *
 * Exit codes, so that a CI job can replay its QEMU's traces: 0 when every request ends as on hardware and irqpath's
 * qemu profile reproduces what QEMU did; 1 when a request diverges (QEMU differs from hardware) or the qemu profile
 * does not reproduce QEMU's outcome (irqpath's model of QEMU misses something); 2 when the input cannot be read (no
 * file, no trace event in it, a bad option).
 */
import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import {
  QemuTraceReplay, type AnyReplayedRequest, type ReplayedGroup, type ReplayOptions, type ReplayOutcome, type ReplayReport,
} from '../tools/qemu-trace-replay.ts';
import { setExitCode, writeErr, writeOut, writeOutputFile } from './output.ts';
import { QemuTraceLogReader, traceLogHopMaker } from '../tools/qemu-trace-log.ts';
import { perfettoTrace } from '../machine/perfetto-trace.ts';
import type { TraceHop } from '../core/events.ts';
import { basename } from 'node:path';

function onOff(text: string, option: string): boolean {
  if (text === 'on' || text === '1') return true;
  if (text === 'off' || text === '0') return false;
  throw new UsageError(`${option}: expected on or off, got '${text}'`);
}

const hex = (n: number | bigint) => '0x' + n.toString(16);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const PROGRESS_EVERY = 100_000;

/** What both units' requests print alike: the two outcomes, the divergences, the two traces. */
interface PrintedRequest {
  qemu: ReplayOutcome;
  hardware: ReplayOutcome;
  divergences: string[];
  trace: { qemu: string[]; irqpath: string[]; hardware?: string[] };
}

function formatOutcomes(out: string[], r: PrintedRequest, g: ReplayedGroup, profileLine: string, modelName: string): void {
  out.push(`   QEMU:      ${r.qemu.summary}`);
  out.push(`   hardware:  ${r.hardware.summary}`);
  if (r.hardware.fault?.linuxLog) out.push(`              ${r.hardware.fault.linuxLog}`);
  out.push(`   irqpath's qemu profile: ${profileLine}`);
  if (r.divergences.length === 0) out.push('   = same outcome');
  for (const d of r.divergences) out.push(`   ✗ ${d}`);
  const omitted = g.trace.notCaptured.length ? ` (not in the log's -trace filter, left out: ${g.trace.notCaptured.join(', ')})` : '';
  if (g.trace.same) {
    out.push(`   trace: ${modelName} prints QEMU's ${plural(r.trace.qemu.length, 'line')} exactly${omitted}`);
  } else {
    out.push('   trace (QEMU):');
    for (const l of r.trace.qemu) out.push(`     ${l}`);
    out.push(`   trace (${modelName})${omitted}:`);
    for (const l of r.trace.irqpath) if (!g.trace.notCaptured.includes(l.slice(0, l.indexOf(' ') >>> 0))) out.push(`     ${l}`);
  }
  const hw = r.trace.hardware;
  if (r.divergences.length > 0 && hw && hw.join('\n') !== r.trace.irqpath.join('\n')) {
    out.push('   trace (hardware model):');
    for (const l of hw) out.push(`     ${l}`);
  }
}

function lineSpan(g: ReplayedGroup): string {
  return g.count === 1 ? `line ${g.firstLine}` : `lines ${g.firstLine}–${g.lastLine} (×${g.count})`;
}

function formatGroup(out: string[], k: number, g: ReplayedGroup): void {
  out.push('');
  if (g.unit === 'intel-vtd') {
    const r = g.request as Extract<AnyReplayedRequest, { format: string }>;
    const ir = r.unit.irEnabled ? 'remapping on' : 'remapping off';
    out.push(`#${k} ${lineSpan(g)}: VT-d ${r.format}-format request addr ${hex(r.addr)} data ${hex(r.data)}${r.irte ? `, IRTE ${r.irte.index}` : ''}; ${ir} (${r.unit.irFrom || 'as assumed'})`);
    out.push(`   requester: ${r.sourceNote}`);
    formatOutcomes(out, r, g, `${r.qemuProfile.summary}${r.qemuProfile.matchesLog ? ' (as in the log)' : ' (NOT as in the log: the model of QEMU misses something)'}`, "irqpath's model of QEMU");
    return;
  }
  const r = g.request as Extract<AnyReplayedRequest, { deviceId: number }>;
  const dte = r.dte.iv
    ? `DTE IV = 1, IntCtl = ${r.dte.intCtl === null ? 'not read' : r.dte.intCtl.toString(2).padStart(2, '0') + 'b'}, IntTabLen = ${r.dte.intTabLen}`
    : 'DTE IV = 0';
  const irte = r.irte ? `, IRTE ${r.irte.index} = ${r.irte.ga ? `${hex(r.irte.hi)}:${hex(r.irte.lo)}` : hex(r.irte.lo)}` : '';
  out.push(`#${k} ${lineSpan(g)}: AMD-Vi request addr ${hex(r.addr)} data ${hex(r.data)} from DeviceID ${hex(r.deviceId)}; ${dte}${irte}`);
  formatOutcomes(out, r, g, `does not apply: ${r.qemuProfile.reason}`, "irqpath's hardware model");
}

/** The summary block the report opens with (also what `irqpath qemu` prints). */
export function formatReplaySummary(report: ReplayReport, file: string): string[] {
  const out: string[] = [];
  const s = report.summary;
  out.push(`irqpath replay ${file}: ${plural(s.lines, 'line')}, ${plural(s.requests, 'interrupt request')} (${s.distinct} distinct): ${s.asOnHardware} as on hardware, ${s.diverging} diverging`);
  const width = Math.max(0, ...Object.keys(s.byKind).map((k) => k.length));
  for (const [kind, n] of Object.entries(s.byKind)) out.push(`   ${kind.padEnd(width)}  ${n}`);
  for (const [why, n] of Object.entries(s.divergences)) out.push(`   ✗ ${n} × ${why}`);
  for (const line of s.cutOff) out.push(`   the log ends inside the request at line ${line}: not replayed (what QEMU did with it is not in the log)`);
  return out;
}

export function formatReplay(report: ReplayReport, file: string, opts: { divergentOnly?: boolean } = {}): string {
  const out = formatReplaySummary(report, file);
  const v = report.vtd;
  if (v) {
    const m = v.machine;
    out.push(`   VT-d model: EIME = ${m.eime ? 1 : 0}, CFIS = ${m.cfis ? 1 : 0}, table at ${hex(m.tableBase)} (${m.tableEntries} entries), I/O APIC source-id ${hex(m.ioapicSourceId)}; remapping ${m.irEnabled ? 'on' : 'off'} at the end of the log`);
    for (const a of v.assumptions) out.push(`   note: ${a}`);
  }
  const amd = report.amd;
  if (amd) {
    out.push(`   AMD-Vi model: GAEn = ${amd.machine.ga ? 1 : 0}, XTEn = ${amd.machine.xtEn ? 1 : 0}, DTE.IntTabLen = ${amd.machine.intTabLen}, I/O APIC DeviceID ${hex(amd.machine.ioapicDeviceId)}`);
    for (const a of amd.assumptions) out.push(`   note: ${a}`);
  }
  const log = report.log;
  const skipped = Object.entries(log.skipped).map(([k, n]) => `${k} ×${n}`);
  if (skipped.length) out.push(`   events irqpath does not read: ${skipped.join(', ')}`);
  if (log.otherLines) out.push(`   lines that are no trace event: ${log.otherLines}`);
  if (log.malformedLines) out.push(`   lines that do not match their event's format: ${log.malformedLines}${log.malformedLines > log.malformed.length ? ` (the first ${log.malformed.length}:)` : ''}`);
  for (const bad of log.malformed) out.push(`   ! line ${bad.line}: ${bad.text}`);
  let k = 0;
  for (const g of report.groups) {
    k++;
    if (opts.divergentOnly && g.request.divergences.length === 0) continue;
    formatGroup(out, k, g);
  }
  return out.join('\n') + '\n';
}

/**
 * What makes `irqpath replay` exit 1: requests where QEMU's outcome differs from hardware's, and requests whose
 * outcome irqpath's qemu profile does not reproduce. Each reason once, with how many requests show it.
 */
export function replayFindings(report: ReplayReport): string[] {
  const out: string[] = [];
  if (report.summary.diverging > 0) out.push(`${plural(report.summary.diverging, 'request')} where QEMU differs from hardware`);
  let unmatched = 0;
  for (const g of report.groups) {
    const r = g.request as { qemuProfile?: { matchesLog?: boolean } };
    if (r.qemuProfile?.matchesLog === false) unmatched += g.count;
  }
  if (unmatched > 0) out.push(`${plural(unmatched, 'request')} whose outcome irqpath's qemu profile does not reproduce (its model of QEMU misses something)`);
  return out;
}

/** JSON with every bigint as a hex string (BigInt('0x…') reads it back). */
export function replayJson(report: ReplayReport, divergentOnly = false): string {
  const shown = divergentOnly ? { ...report, groups: report.groups.filter((g) => g.request.divergences.length > 0) } : report;
  return JSON.stringify(shown, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v), 2) + '\n';
}

/** Read options of `irqpath replay` (shared with `irqpath qemu`). */
export function replayOptionsFrom(opts: { eim?: string; cfis?: string; ir?: string; intTabLen?: string }): ReplayOptions {
  const options: ReplayOptions = {};
  if (opts.intTabLen !== undefined) {
    if (!/^\d{1,2}$/.test(opts.intTabLen) || Number(opts.intTabLen) > 11) throw new UsageError(`--int-tab-len: expected an integer 0..11, got '${opts.intTabLen}'`);
    options.intTabLen = Number(opts.intTabLen);
  }
  if (opts.eim !== undefined) options.eime = onOff(opts.eim, '--eim');
  if (opts.cfis !== undefined) options.cfis = onOff(opts.cfis, '--cfis');
  if (opts.ir !== undefined) options.irEnabled = onOff(opts.ir, '--ir');
  return options;
}

/**
 * Replay a file, streaming: new kinds of divergence go to `notify` as they are found, and with `progress` a line
 * every 100 000 lines.
 */
export async function replayFile(file: string, options: ReplayOptions, notify: (text: string) => void, progress: boolean): Promise<ReplayReport> {
  const replay = new QemuTraceReplay(options, {
    onNewDivergent: (g) => notify(`irqpath replay: line ${g.firstLine}: ${g.request.kind} request diverges: ${g.request.divergences[0]}\n`),
  });
  let next = PROGRESS_EVERY;
  const stream = file === '-' ? process.stdin.setEncoding('utf8') : createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream) {
      replay.push(chunk as string);
      if (progress && replay.lines >= next) {
        const p = replay.progress();
        notify(`irqpath replay: ${p.lines} lines, ${p.requests} requests, ${p.diverging} diverging\n`);
        next = (Math.floor(replay.lines / PROGRESS_EVERY) + 1) * PROGRESS_EVERY;
      }
    }
  } catch (e) {
    // The file's own errors (missing, a directory, unreadable) are the user's; anything else is not ours to rename.
    if (typeof (e as NodeJS.ErrnoException).code === 'string' && !(e instanceof UsageError)) throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
    throw e;
  }
  return replay.finish();
}

/** `--perfetto`: the log's events as Perfetto trace JSON at the log's own timestamps (a second, streaming pass). */
async function writePerfetto(file: string, out: string): Promise<void> {
  const hops: TraceHop[] = [];
  const toHop = traceLogHopMaker();
  const reader = new QemuTraceLogReader((ev) => hops.push(toHop(ev)));
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) reader.push(chunk as string);
  reader.end();
  writeOutputFile(out, JSON.stringify(perfettoTrace({ name: basename(file), hops })), '--perfetto');
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description("replay a QEMU trace log (-trace 'vtd_*' ...): what QEMU did with each interrupt request next to what hardware does")
    .argument('<log>', 'the trace log ("-" reads standard input; lines with or without the pid@time: prefix; other lines are counted)')
    .option('--json', 'print the replay as JSON (numbers; 64-bit values as hex strings BigInt() reads)')
    .option('--perfetto <file>', "also write the log's events as Chrome/Perfetto trace JSON, at the log's own timestamps (open in ui.perfetto.dev)")
    .option('--divergent-only', 'list only the requests where hardware differs from QEMU (the summary counts all)')
    .option('--progress', 'report progress on stderr every 100 000 lines (new kinds of divergence are always reported there)')
    .option('--ir <on|off>', 'VT-d: interrupt remapping when the log starts, for a log that does not show it (default off, the reset value)')
    .option('--eim <on|off>', 'IRTA.EIME of the modelled unit (default: from the log\'s IRTA write, else inferred, else on)')
    .option('--cfis <on|off>', 'GSTS.CFIS of the modelled unit (default off)')
    .option('--int-tab-len <n>', 'AMD-Vi: DTE.IntTabLen of every requester, 0..11 (default 9, 512 entries, as Linux sets it)')
    .addHelpText('after', `
The log is read as a stream: a log of millions of lines replays in seconds. Identical requests are replayed once
and listed once (count, first and last line). The report opens with the summary: requests, how many end as on
hardware, how many diverge, by kind. The unit's state follows the log: requests before \`vtd_ir_enable enable 1\`
replay with remapping off. See docs/replay-and-qemu.md.

Exit: 0 when every request ends as on hardware and irqpath's qemu profile reproduces QEMU; 1 when a request
diverges (QEMU differs from hardware) or the qemu profile does not reproduce what QEMU did; 2 when the input
cannot be read (no such file, no QEMU trace event in it, a bad option).`)
    .action(async function (this: Command, file: string, opts: { json?: boolean; perfetto?: string; divergentOnly?: boolean; progress?: boolean; eim?: string; cfis?: string; ir?: string; intTabLen?: string }) {
      const options = replayOptionsFrom(opts);
      // Under --json the divergences are in the JSON; stderr stays quiet unless --progress asks for it.
      const notify = opts.json && !opts.progress ? () => {} : (t: string) => writeErr(this, t);
      const report = await replayFile(file, options, notify, opts.progress === true);
      if (opts.perfetto !== undefined) await writePerfetto(file, opts.perfetto);
      writeOut(this, opts.json ? replayJson(report, opts.divergentOnly) : formatReplay(report, file, { divergentOnly: opts.divergentOnly }));
      const findings = replayFindings(report);
      if (findings.length > 0 && !opts.json) writeErr(this, `irqpath replay: exit 1: ${findings.join('; ')}\n`);
      setExitCode(this, findings.length > 0 ? 1 : 0);
    });
}
