/**
 * `irqpath qemu [--record DIR] [--time-limit S] -- <qemu command line>`: run the user's own QEMU command line with
 * every interrupt-path trace event the installed QEMU has (its `-trace help` list filtered by name: vtd_*, amdvi_*,
 * x86_iommu_*, apic_*, ioapic_*, msi*, pci_cfg_*, ...; qemu/trace-events.ts) written to a trace file, through the
 * recording harness's runner (qemu/run-qemu.ts, which also adds a QMP socket), pass the guest console through, and
 * when QEMU exits print (a) the machine irqpath derived — a `machine:` block for a scenario, from QEMU's options
 * completed by what the guest printed (src/tools/qemu-command-line.ts, qemu-machine.ts), (b) the replay summary of
 * the trace (src/tools/qemu-trace-replay.ts) and (c) the check of the Linux model's decision lines against the
 * guest's (src/tools/dmesg-check.ts). `--record DIR` keeps everything a bug report needs.
 *
 * Exit codes: 0; 1 when QEMU failed (a non-zero status it chose, not the time limit) or a decision line differs;
 * 2 when QEMU is not installed or the command line cannot be read.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import { parseQemuCommandLine } from '../tools/qemu-command-line.ts';
import { machineFromQemu } from '../tools/qemu-machine.ts';
import { checkRemappingLines } from '../tools/dmesg-check.ts';
import type { ReplayReport } from '../tools/qemu-trace-replay.ts';
import { renderDmesgMachine } from './from-dmesg-command.ts';
import { formatReplay, formatReplaySummary, replayFile, replayJson } from './replay-command.ts';
import { runQemu, shellQuote } from './qemu/run-qemu.ts';
import { parseTraceHelp, selectInterruptEvents } from './qemu/trace-events.ts';
import { setExitCode, writeErr, writeOut } from './output.ts';

/**
 * Ask the QEMU binary which trace events it has and keep the interrupt path's (qemu/trace-events.ts); a missing
 * binary is the user's problem (exit 2).
 */
export function interruptTraceEvents(program: string): string[] {
  const r = spawnSync(program, ['-trace', 'help'], { encoding: 'utf8' });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`QEMU is not installed: '${program}' was not found on PATH (install qemu-system-x86, or give the full path after --)`);
    throw new UsageError(`cannot run '${program}': ${r.error.message}`);
  }
  if (r.status !== 0) throw new UsageError(`'${program} -trace help' failed (status ${r.status}): ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}`);
  return selectInterruptEvents(parseTraceHelp(r.stdout));
}

export function registerQemuCommand(program: Command): void {
  program
    .command('qemu')
    .description('run a QEMU command line with every interrupt-path trace event, then print the machine irqpath derives, the replay summary and the decision-line check')
    .argument('<qemu-command-line...>', 'the QEMU command line, after -- (e.g. -- qemu-system-x86_64 -M q35 -device intel-iommu,intremap=on ...)')
    .option('--record <dir>', 'keep everything for a bug report in DIR: command line, QEMU version, console, trace, derived machine, report')
    .option('--time-limit <seconds>', 'stop QEMU after this many seconds (a guest that never powers off)')
    .option('--full', 'print the whole replay report, not only its summary')
    .addHelpText('after', `
irqpath adds -trace events=FILE (the interrupt-path events of this QEMU's "-trace help") and -D FILE; leave -D out
of your command line. The guest console (stdout, e.g. with -nographic) is passed through and read for the guest's
DMAR/AMD-Vi and PCI lines. Exit: 0; 1 when QEMU failed or a decision line differs; 2 when QEMU is not installed
or the command line cannot be read. See docs/replay-and-qemu.md.`)
    .action(async function (this: Command, words: string[], opts: { record?: string; timeLimit?: string; full?: boolean }) {
      const cmd = parseQemuCommandLine(words);
      if (cmd.traceFile !== null) throw new UsageError(`irqpath qemu writes the trace file itself: remove -D ${cmd.traceFile} from the command line`);
      let timeLimit: number | null = null;
      if (opts.timeLimit !== undefined) {
        if (!/^\d+(\.\d+)?$/.test(opts.timeLimit) || Number(opts.timeLimit) <= 0) throw new UsageError(`--time-limit: expected a number of seconds, got '${opts.timeLimit}'`);
        timeLimit = Number(opts.timeLimit);
      }
      const events = interruptTraceEvents(cmd.program);
      const dir = opts.record !== undefined ? resolve(opts.record) : mkdtempSync(join(tmpdir(), 'irqpath-qemu-'));
      try {
        mkdirSync(dir, { recursive: true });
      } catch (e) {
        throw new UsageError(`--record ${opts.record}: cannot create the directory (${(e as Error).message})`);
      }
      const out = (t: string): void => writeOut(this, t);
      const err = (t: string): void => writeErr(this, t);
      try {
        const run = await runQemu({ qemu: cmd.program, args: words.slice(1), traceEvents: events, dir, onConsole: out, ...(timeLimit !== null ? { timeoutMs: timeLimit * 1000 } : {}) });
        const traceFile = run.traceFile;
        if (run.stderr) err(run.stderr);
        const report: string[] = [];
        report.push('', `── irqpath qemu: ${run.timedOut ? `stopped after the ${timeLimit} s time limit` : run.signal ? `QEMU ended by ${run.signal}` : `QEMU exited with status ${run.exitCode}`} ──`);
        const failed = !run.timedOut && (run.signal !== null || run.exitCode !== 0);
        // (a) the machine
        const derived = machineFromQemu(cmd, run.console);
        const machineYaml = renderDmesgMachine(derived, 'Machine irqpath derived from the QEMU command line and what the guest printed (irqpath qemu). Paste under a scenario, or run as is.');
        report.push('', machineYaml.trimEnd());
        // (b) the replay
        let replay: ReplayReport | null = null;
        if (existsSync(traceFile)) {
          try {
            replay = await replayFile(traceFile, {}, err, false);
          } catch (e) {
            if (!(e instanceof UsageError)) throw e;
            report.push('', `# replay: ${e.message}`);
          }
        } else {
          report.push('', '# replay: QEMU wrote no trace file');
        }
        // Without --record the trace file goes with the temporary directory: name it as what it is.
        const traceName = opts.record !== undefined ? traceFile : "QEMU's trace";
        if (replay) report.push('', ...formatReplaySummary(replay, traceName));
        // (c) the decision lines
        let differs = false;
        if (derived.kernel !== null) {
          const c = checkRemappingLines(derived);
          report.push('', `# check: Linux ${c.kernel} model on this machine: ${c.matched.length} of ${c.matched.length + c.missing.length} remapping lines of the guest reproduced`);
          for (const l of c.missing) report.push(`#   guest only: ${l}`);
          for (const l of c.extra) report.push(`#   model only: ${l}`);
          differs = c.missing.length > 0 || c.extra.length > 0;
        } else {
          report.push('', '# check: the guest printed no Linux boot log; no decision lines to compare');
        }
        if (failed) report.push('', `# QEMU failed (${run.signal ?? `status ${run.exitCode}`}); what it said is above and in the record`);
        const text = report.join('\n') + '\n';
        out(text);
        if (opts.record !== undefined) {
          const version = spawnSync(cmd.program, ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? '';
          writeFileSync(join(dir, 'command-line.txt'), shellQuote(run.argv) + '\n');
          writeFileSync(join(dir, 'qemu-version.txt'), version + '\n');
          writeFileSync(join(dir, 'console.txt'), run.console);
          writeFileSync(join(dir, 'qemu-stderr.txt'), run.stderr);
          writeFileSync(join(dir, 'machine.yaml'), machineYaml);
          writeFileSync(join(dir, 'report.txt'), text + (replay ? '\n' + formatReplay(replay, traceFile) : ''));
          if (replay) writeFileSync(join(dir, 'replay.json'), replayJson(replay));
          err(`irqpath qemu: recorded in ${dir}\n`);
        } else if (replay && opts.full) {
          out('\n' + formatReplay(replay, traceName));
        }
        setExitCode(this, failed || differs ? 1 : 0);
      } finally {
        if (opts.record === undefined) rmSync(dir, { recursive: true, force: true });
      }
    });
}
