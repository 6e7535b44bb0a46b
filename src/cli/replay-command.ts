/**
 * `irqpath replay <qemu-trace.log>`: read a QEMU trace log, rebuild each interrupt request with the table entries it
 * shows, and print what QEMU did next to what hardware does, marking every divergence (src/tools/qemu-trace-replay.ts).
 * The file is read here; parsing and replay are in the library.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import { replayQemuTrace, type ReplayOutcome, type ReplayReport } from '../tools/qemu-trace-replay.ts';
import { setExitCode, writeOut, writeOutputFile } from './output.ts';
import { parseQemuTraceLog, traceLogHops } from '../tools/qemu-trace-log.ts';
import { perfettoTrace } from '../machine/perfetto-trace.ts';
import { basename } from 'node:path';

function onOff(text: string, option: string): boolean {
  if (text === 'on' || text === '1') return true;
  if (text === 'off' || text === '0') return false;
  throw new UsageError(`${option}: expected on or off, got '${text}'`);
}

const hex = (n: number | bigint) => '0x' + n.toString(16);

/** What both units' requests print alike: the two outcomes, the divergences, the two traces. */
interface PrintedRequest {
  qemu: ReplayOutcome;
  hardware: ReplayOutcome;
  divergences: string[];
  trace: { qemu: string[]; irqpath: string[] };
}

function formatOutcomes(out: string[], r: PrintedRequest, profileLine: string): void {
  out.push(`   QEMU:      ${r.qemu.summary}`);
  out.push(`   hardware:  ${r.hardware.summary}`);
  if (r.hardware.fault?.linuxLog) out.push(`              ${r.hardware.fault.linuxLog}`);
  out.push(`   irqpath's qemu profile: ${profileLine}`);
  if (r.divergences.length === 0) out.push('   = same outcome');
  for (const d of r.divergences) out.push(`   ✗ ${d}`);
  const same = r.trace.qemu.length === r.trace.irqpath.length && r.trace.qemu.every((l, k) => l === r.trace.irqpath[k]);
  if (same) out.push(`   trace: irqpath prints QEMU's ${r.trace.qemu.length} lines exactly`);
  else {
    out.push('   trace (QEMU):');
    for (const l of r.trace.qemu) out.push(`     ${l}`);
    out.push('   trace (irqpath):');
    for (const l of r.trace.irqpath) out.push(`     ${l}`);
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function formatReplay(report: ReplayReport, file: string): string {
  const out: string[] = [];
  const m = report.machine;
  const n = report.requests.length;
  const amd = report.amd;
  const units = [n > 0 || !amd ? `Intel VT-d, ${plural(n, 'interrupt request')}` : null, amd ? `AMD-Vi, ${plural(amd.requests.length, 'interrupt request')}` : null];
  out.push(`irqpath replay ${file}: ${units.filter(Boolean).join('; ')}`);
  if (n > 0 || !amd) {
    out.push(`   VT-d model: remapping ${m.irEnabled ? 'enabled' : 'disabled'}, EIME = ${m.eime ? 1 : 0}, CFIS = ${m.cfis ? 1 : 0}, table at ${hex(m.tableBase)} (${m.tableEntries} entries), I/O APIC source-id ${hex(m.ioapicSourceId)}`);
  }
  for (const a of report.assumptions) out.push(`   note: ${a}`);
  if (amd) {
    out.push(`   AMD-Vi model: GAEn = ${amd.machine.ga ? 1 : 0}, XTEn = ${amd.machine.xtEn ? 1 : 0}, DTE.IntTabLen = ${amd.machine.intTabLen}, I/O APIC DeviceID ${hex(amd.machine.ioapicDeviceId)}`);
    for (const a of amd.assumptions) out.push(`   note: ${a}`);
  }
  const skipped = Object.entries(report.skipped).map(([k, v]) => `${k} ×${v}`);
  if (skipped.length) out.push(`   skipped events: ${skipped.join(', ')}`);
  if (report.otherLines) out.push(`   lines that are no trace event: ${report.otherLines}`);
  for (const bad of report.malformed) out.push(`   ! line ${bad.line} does not match its event's format: ${bad.text}`);
  let k = 0;
  for (const r of report.requests) {
    out.push('');
    out.push(`#${++k} line ${r.line}: VT-d ${r.format}-format request addr ${hex(r.addr)} data ${hex(r.data)}${r.irte ? `, IRTE ${r.irte.index}` : ''}`);
    out.push(`   requester: ${r.sourceNote}`);
    formatOutcomes(out, r, `${r.qemuProfile.summary}${r.qemuProfile.matchesLog ? ' (as in the log)' : ' (NOT as in the log: the model of QEMU misses something)'}`);
  }
  for (const r of amd?.requests ?? []) {
    out.push('');
    const dte = r.dte.iv
      ? `DTE IV = 1, IntCtl = ${r.dte.intCtl === null ? 'not read' : r.dte.intCtl.toString(2).padStart(2, '0') + 'b'}, IntTabLen = ${r.dte.intTabLen}`
      : 'DTE IV = 0';
    const irte = r.irte ? `, IRTE ${r.irte.index} = ${r.irte.ga ? `${hex(r.irte.hi)}:${hex(r.irte.lo)}` : hex(r.irte.lo)}` : '';
    out.push(`#${++k} line ${r.line}: AMD-Vi request addr ${hex(r.addr)} data ${hex(r.data)} from DeviceID ${hex(r.deviceId)}; ${dte}${irte}`);
    formatOutcomes(out, r, `does not apply: ${r.qemuProfile.reason}`);
  }
  const all = [...report.requests, ...(amd?.requests ?? [])];
  const diverging = all.filter((r) => r.divergences.length > 0).length;
  out.push('');
  out.push(`${plural(all.length, 'request')}: ${all.length - diverging} as on hardware, ${diverging} diverging`);
  return out.join('\n') + '\n';
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description("replay a QEMU trace log (-trace 'vtd_*' ...): what QEMU did with each interrupt request next to what hardware does")
    .argument('<log>', 'the trace log (lines with or without the pid@time: prefix; other lines are skipped and counted)')
    .option('--json', 'print the replay as JSON')
    .option('--perfetto <file>', "write the log's events as Chrome/Perfetto trace JSON, at the log's own timestamps (open in ui.perfetto.dev)")
    .option('--eim <on|off>', 'IRTA.EIME of the modelled unit (default: inferred from the log, else on)')
    .option('--cfis <on|off>', 'GSTS.CFIS of the modelled unit (default off)')
    .option('--int-tab-len <n>', 'AMD-Vi: DTE.IntTabLen of every requester, 0..11 (default 9, 512 entries, as Linux sets it)')
    .action(function (this: Command, file: string, opts: { json?: boolean; perfetto?: string; eim?: string; cfis?: string; intTabLen?: string }) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
      }
      const options: { eime?: boolean; cfis?: boolean; intTabLen?: number } = {};
      if (opts.intTabLen !== undefined) {
        if (!/^\d{1,2}$/.test(opts.intTabLen) || Number(opts.intTabLen) > 11) throw new UsageError(`--int-tab-len: expected an integer 0..11, got '${opts.intTabLen}'`);
        options.intTabLen = Number(opts.intTabLen);
      }
      if (opts.eim !== undefined) options.eime = onOff(opts.eim, '--eim');
      if (opts.cfis !== undefined) options.cfis = onOff(opts.cfis, '--cfis');
      const report = replayQemuTrace(text, options);
      if (opts.perfetto !== undefined) {
        writeOutputFile(opts.perfetto, JSON.stringify(perfettoTrace({ name: basename(file), hops: traceLogHops(parseQemuTraceLog(text)) })), '--perfetto');
      }
      if (opts.json) {
        writeOut(this, JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v), 2) + '\n');
      } else {
        writeOut(this, formatReplay(report, file));
      }
      setExitCode(this, 0);
    });
}
