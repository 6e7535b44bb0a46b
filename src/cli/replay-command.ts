/**
 * `irqpath replay <qemu-trace.log>`: read a QEMU trace log, rebuild each interrupt request with the table entries it
 * shows, and print what QEMU did next to what hardware does, marking every divergence (src/vmm/qemu-trace-replay.ts).
 * The file is read here; parsing and replay are in the library.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import { replayQemuTrace, type ReplayReport } from '../vmm/qemu-trace-replay.ts';
import { setExitCode, writeOut } from './output.ts';

function onOff(text: string, option: string): boolean {
  if (text === 'on' || text === '1') return true;
  if (text === 'off' || text === '0') return false;
  throw new UsageError(`${option}: expected on or off, got '${text}'`);
}

const hex = (n: number | bigint) => '0x' + n.toString(16);

export function formatReplay(report: ReplayReport, file: string): string {
  const out: string[] = [];
  const m = report.machine;
  const n = report.requests.length;
  out.push(`irqpath replay ${file}: Intel VT-d, ${n} interrupt request${n === 1 ? '' : 's'}`);
  out.push(`   model: remapping ${m.irEnabled ? 'enabled' : 'disabled'}, EIME = ${m.eime ? 1 : 0}, CFIS = ${m.cfis ? 1 : 0}, table at ${hex(m.tableBase)} (${m.tableEntries} entries), I/O APIC source-id ${hex(m.ioapicSourceId)}`);
  for (const a of report.assumptions) out.push(`   note: ${a}`);
  const skipped = Object.entries(report.skipped).map(([k, v]) => `${k} ×${v}`);
  if (skipped.length) out.push(`   skipped events: ${skipped.join(', ')}`);
  if (report.otherLines) out.push(`   lines that are no trace event: ${report.otherLines}`);
  for (const bad of report.malformed) out.push(`   ! line ${bad.line} does not match its event's format: ${bad.text}`);
  if (report.amdRequests) out.push(`   ! ${report.amdRequests} amdvi_ir_remap_msi_req request(s) not replayed (AMD-Vi replay is not implemented)`);
  report.requests.forEach((r, i) => {
    out.push('');
    out.push(`#${i + 1} line ${r.line}: ${r.format}-format request addr ${hex(r.addr)} data ${hex(r.data)}${r.irte ? `, IRTE ${r.irte.index}` : ''}`);
    out.push(`   requester: ${r.sourceNote}`);
    out.push(`   QEMU:      ${r.qemu.summary}`);
    out.push(`   hardware:  ${r.hardware.summary}`);
    if (r.hardware.fault?.linuxLog) out.push(`              ${r.hardware.fault.linuxLog}`);
    out.push(`   irqpath's qemu profile: ${r.qemuProfile.summary}${r.qemuProfile.matchesLog ? ' (as in the log)' : ' (NOT as in the log: the model of QEMU misses something)'}`);
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
  });
  const diverging = report.requests.filter((r) => r.divergences.length > 0).length;
  out.push('');
  out.push(`${n} request${n === 1 ? '' : 's'}: ${n - diverging} as on hardware, ${diverging} diverging`);
  return out.join('\n') + '\n';
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description("replay a QEMU trace log (-trace 'vtd_*' ...): what QEMU did with each interrupt request next to what hardware does")
    .argument('<log>', 'the trace log (lines with or without the pid@time: prefix; other lines are skipped and counted)')
    .option('--json', 'print the replay as JSON')
    .option('--eim <on|off>', 'IRTA.EIME of the modelled unit (default: inferred from the log, else on)')
    .option('--cfis <on|off>', 'GSTS.CFIS of the modelled unit (default off)')
    .action(function (this: Command, file: string, opts: { json?: boolean; eim?: string; cfis?: string }) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
      }
      const options: { eime?: boolean; cfis?: boolean } = {};
      if (opts.eim !== undefined) options.eime = onOff(opts.eim, '--eim');
      if (opts.cfis !== undefined) options.cfis = onOff(opts.cfis, '--cfis');
      const report = replayQemuTrace(text, options);
      if (opts.json) {
        writeOut(this, JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v), 2) + '\n');
      } else {
        writeOut(this, formatReplay(report, file));
      }
      setExitCode(this, 0);
    });
}
