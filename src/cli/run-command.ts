/**
 * `irqpath run [scenario…|all] [--json] [--trace] [--summary | --quiet]`: run scenario files and print a readable
 * report (or JSON). The report opens with the summary — the total and one line per run — then each run in full, and
 * repeats the total at the end (where a terminal leaves you). `--summary` prints only the opening summary; `--quiet`
 * only the total and the full report of any UNEXPECTED run.
 * Exit code 0 when every run REPRODUCED or FIXED what it states, 1 when any is UNEXPECTED, 2 for bad input.
 */
import { Option, type Command } from 'commander';
import { mermaidForFlow } from '../machine/trace.ts';
import { perfettoTrace } from '../machine/perfetto-trace.ts';
import { runScenario } from '../scenario/run-scenario.ts';
import { renderScenario, renderSummary, renderSummaryTable, resultsToJson } from '../scenario/report.ts';
import { ScenarioError } from '../scenario/scenario-file.ts';
import { UsageError } from '../core/errors.ts';
import { setExitCode, writeOut, writeOutputFile } from './output.ts';
import { loadSelectedScenarios } from './scenario-files.ts';
import { painter, shouldColor } from './color.ts';

/** Exit code when a scenario run is UNEXPECTED (2 stays reserved for input irqpath cannot use). */
export const UNEXPECTED_EXIT_CODE = 1;

const DEVICE_ASSIGNMENT_HELP = `
Device-assignment scenarios (system: { host, guest, vmm }) — see docs/device-assignment.md:
  vmm.profile hardware | qemu | qemu-amd-hack; vmm.postedInterrupts, msiNoVirt, pvComposeMsi, athBar0Quirk, imsTrap,
  nointxmask
  source steps: retarget N, retarget-stale N, release, invalidate-iec <source>, mask, unmask,
                deschedule, preempt, resume, migrate N
  guest steps:  cpu-offline N, cpu-online N (Linux CPU hotplug; a source may be managed: true),
                apic-id C N, ldr C V, x2apic (the guest changes its APIC map)
  INTx: a pin source may name its device (device: '00:05.0'): raise / lower set the device's interrupt
        condition, mask / unmask its Interrupt Disable
  expect.vmm: translations, evictions, injections, posted, wakeups, faults, pended, nativeRemaps, resamples, resent

Legacy sources — see docs/scenario-format.md and docs/legacy-devices.md:
  kind isa (irq, via ioapic | extint | lint0-fixed), intx (device with intx: A..D), lapic-timer (mode one-shot |
  periodic | tsc-deadline, period), pit (mode rate-generator | square-wave | terminal-count | strobe, count), hpet
  (mode one-shot | periodic, period), rtc (mode periodic | update, rate 1..15)
  steps: advance <time> (250us, 4ms, 1s), raise/lower [bdf], pulse, disintx, enintx, read-c, mask, unmask, ack, eoi,
         handle
  expect: { held: { by: remote-irr | rte-masked | pic-imr | disintx | lapic-irr, delivered: N } }, { lost: { reason } }
`;

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run boot scenarios (built-in names or prefixes such as 05, "all", or paths to .yaml files) and report where every interrupt went')
    .argument('[scenarios...]', 'scenario names, prefixes, "all", or .yaml paths', [])
    .option('--json', 'print one JSON array of results instead of the text report')
    .option('--trace', 'print every hop of every interrupt, named after QEMU trace events')
    .addOption(new Option('--mermaid', 'print each interrupt source as a Mermaid sequence diagram (renders in GitHub issues)').conflicts('json'))
    .option('--perfetto <file>', 'write every hop of the run as Chrome/Perfetto trace JSON (open in ui.perfetto.dev)')
    .addOption(new Option('--summary', 'print only the summary: the total and one line per run').conflicts(['json', 'mermaid']))
    .addOption(new Option('-q, --quiet', 'print only the total, and the full report of any UNEXPECTED run').conflicts(['json', 'mermaid', 'summary']))
    .option('--no-color', 'plain text even on a terminal')
    .addHelpText('after', DEVICE_ASSIGNMENT_HELP)
    .action(function (this: Command, selectors: string[], opts: { json?: boolean; trace?: boolean; mermaid?: boolean; perfetto?: string; summary?: boolean; quiet?: boolean; color: boolean }) {
      let scenarios;
      try {
        scenarios = loadSelectedScenarios(selectors);
      } catch (e) {
        if (!(e instanceof ScenarioError)) throw e;
        // Every problem in the file, each at its line and column; under --json as data a tool can read.
        if (!opts.json) throw new UsageError(e.located());
        writeOut(this, JSON.stringify({ errors: e.toJSON() }, null, 2) + '\n');
        setExitCode(this, 2);
        return;
      }
      const traced = opts.trace === true || opts.mermaid === true || opts.perfetto !== undefined;
      const results = scenarios.map((s) => runScenario(s, { trace: traced }));
      // Exit 1 when any run did not show what its file states, whatever the output format (CI reads this code).
      if (results.some((r) => r.verdict === 'UNEXPECTED')) setExitCode(this, UNEXPECTED_EXIT_CODE);
      if (opts.perfetto !== undefined) {
        // One run per scenario run, named after it: perfettoTrace numbers the flows of all of them uniquely.
        const runs = results.map((r) => ({ name: r.scenario.variant ? `${r.scenario.id} [${r.scenario.variant}]` : r.scenario.id, hops: r.sources.flatMap((src) => src.hops) }));
        writeOutputFile(opts.perfetto, JSON.stringify(perfettoTrace(...runs)), '--perfetto');
      }
      if (opts.mermaid) {
        for (const r of results) {
          for (const src of r.sources) {
            const caption = `${r.scenario.id}${r.scenario.variant ? ` [${r.scenario.variant}]` : ''} — ${src.source.id}: ${src.actual}`;
            writeOut(this, `\`\`\`mermaid\n${mermaidForFlow(src.hops, caption)}\n\`\`\`\n\n`);
          }
        }
        return;
      }
      if (opts.json) {
        writeOut(this, JSON.stringify(resultsToJson(results), null, 2) + '\n');
      } else {
        const style = { paint: painter(shouldColor(process.stdout, opts.color)), trace: opts.trace === true };
        const details = (runs: typeof results) => runs.map((r) => renderScenario(r, style)).join('\n\n');
        if (opts.summary) writeOut(this, renderSummaryTable(results, style) + '\n');
        else if (opts.quiet) {
          const unexpected = results.filter((r) => r.verdict === 'UNEXPECTED');
          writeOut(this, renderSummary(results, style) + '\n' + (unexpected.length ? '\n' + details(unexpected) + '\n' : ''));
        } else writeOut(this, `${renderSummaryTable(results, style)}\n\n${details(results)}\n\n${renderSummary(results, style)}\n`);
      }
    });
}
