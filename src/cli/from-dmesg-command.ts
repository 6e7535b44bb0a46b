/**
 * `irqpath from-dmesg <file> [--check] [--scenario]`: print the `machine:` block a Linux boot log implies (YAML,
 * usable as is in a scenario file), with what the log did not determine as comments. `--scenario` prints a whole
 * scenario instead (title, machine, guest with the log's kernel version and command line, a source, and the log's
 * decision lines as boot-log expectations) that `irqpath run` accepts as it is. `--check` boots the Linux model on
 * that machine and compares its decision lines with the log's (stderr; exit 1 when they differ). Input with no
 * kernel line irqpath knows is a usage error (exit 2).
 */
import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { Document, isScalar, visit } from 'yaml';
import { UsageError } from '../core/errors.ts';
import { machinesFromReading, type DmesgMachine } from '../tools/from-dmesg.ts';
import { DmesgReader, parseBootChoice, type BootChoice } from '../tools/dmesg-reader.ts';
import { checkRemappingLines, isModelledRemappingLine } from '../tools/dmesg-check.ts';
import { setExitCode, writeErr, writeOut } from './output.ts';

const HEX_KEYS = new Set(['base', 'sourceId', 'vendorId', 'deviceId']);

function hexBases(doc: Document): void {
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && HEX_KEYS.has(String(pair.key.value)) && isScalar(pair.value) && typeof pair.value.value === 'number') {
        pair.value.format = 'HEX';
      }
    },
  });
}

function noteLines(d: DmesgMachine): string[] {
  return ['# Not determined by the log (assumed instead):', ...d.notes.map((n) => `#   - ${n}`)];
}

/** The YAML text: notes as comments, then `machine:` (register bases and PCI IDs in hex). */
export function renderDmesgMachine(d: DmesgMachine, title = 'Machine implied by a Linux boot log (irqpath from-dmesg). Paste under a scenario, or print a whole one with --scenario.'): string {
  const doc = new Document({ machine: d.machine });
  hexBases(doc);
  const guest = [d.kernel === null ? null : `version: '${d.kernel}'`, d.cmdline ? `cmdline: ${JSON.stringify(d.cmdline)}` : null].filter((x) => x !== null);
  const head = [
    `# ${title}`,
    d.kernel === null ? '# Kernel version: not in the log.' : `# Kernel: Linux ${d.kernel}.`,
    guest.length > 0 ? `# For the same kernel use guest: { os: linux, ${guest.join(', ')} }` : '# Guest: { os: linux }',
    ...noteLines(d),
  ];
  return head.join('\n') + '\n' + doc.toString({ lineWidth: 0 });
}

/**
 * A complete scenario: the machine, the guest as the log ran it, the legacy serial port's I/O APIC pin (ISA IRQ 4,
 * edge, identity-mapped: no MADT override names it) as the source, and the log's decision lines as boot-log facts.
 */
export function renderDmesgScenario(d: DmesgMachine, file: string): string {
  const guest: Record<string, string> = { os: 'linux' };
  if (d.kernel !== null) guest.version = d.kernel;
  if (d.cmdline) guest.cmdline = d.cmdline;
  const skip = (l: string): boolean => d.uncompared.some((re) => re.test(l));
  const bootLog = [...new Set(d.lines.filter((l) => isModelledRemappingLine(l) && !skip(l)))];
  const noapic = /(^|\s)noapic(\s|$)/.test(d.cmdline ?? '');
  const expect: Record<string, unknown> = { verdict: 'fixed' };
  if (d.onlineCpus !== null) expect.onlineCpus = d.onlineCpus;
  if (bootLog.length > 0) expect.bootLog = bootLog;
  expect.sources = { serial: noapic ? 'refused' : 'intended' };
  const doc = new Document({
    title: `Linux ${d.kernel ?? '(version not in the log)'} boot log${d.cmdline ? ` (${d.cmdline})` : ''}: ${describe(d)}`,
    story:
      'The machine, kernel version and command line a real boot log shows (irqpath from-dmesg --scenario). The Linux model boots on it and ' +
      'must print the decision lines the real kernel printed; the serial port (ISA IRQ 4) is set up on CPU 0 as the kernel would.',
    facts: [`boot log: ${file}`],
    machine: d.machine,
    guest,
    sources: [{ id: 'serial', kind: 'ioapic', pin: 4, trigger: 'edge', cpu: 0 }],
    expect,
  });
  hexBases(doc);
  const head = ['# Scenario implied by a Linux boot log (irqpath from-dmesg --scenario): save it and run it with `irqpath run <file>`.', ...noteLines(d)];
  return head.join('\n') + '\n' + doc.toString({ lineWidth: 0 });
}

function describe(d: DmesgMachine): string {
  const m = d.machine;
  const iommu = m.iommu ? (m.iommu.kind === 'intel' ? 'Intel VT-d' : 'AMD-Vi') : m.iommus ? `${m.iommus.length} VT-d units` : 'no IOMMU';
  return `${m.cpus} CPU${m.cpus === 1 ? '' : 's'}, ${iommu}${m.bareMetal ? ', bare metal' : ''}`;
}

/**
 * Read a boot log as a stream, chunk by chunk, into the reader (memory bounded by what the reader keeps, not by the
 * file's size); "-" is standard input.
 */
async function readDmesgFile(file: string, choice: BootChoice): Promise<DmesgMachine[]> {
  const reader = new DmesgReader(choice);
  const stream = file === '-' ? process.stdin.setEncoding('utf8') : createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 16 });
  try {
    for await (const chunk of stream) reader.push(chunk as string);
  } catch (e) {
    throw new UsageError(`${file}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return machinesFromReading(reader.end());
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
}

export function registerFromDmesgCommand(program: Command): void {
  program
    .command('from-dmesg')
    .description('print the machine: block (YAML) a Linux boot log implies: IOMMU units with cap/ecap or EFR, DMAR flags, I/O APIC, CPUs, vendor and x2APIC, bare metal or VM; the kernel version and command line for the guest')
    .argument('<file>', 'a dmesg, journalctl -k, syslog or serial-console log ("-" reads standard input), read as a stream: its size does not matter')
    .option('--boot <n|last|all>', 'a file with several boots ("Linux version" lines, as journalctl -k without -b): read boot n (1 = the first), the last (default), or all, each printed as its own YAML document', 'last')
    .option('--check', 'boot the Linux model (the log\'s kernel version and command line) on that machine and compare its decision lines (interrupt remapping, x2APIC, APIC routing) with the log, strictly both ways on a whole boot log (stderr; exit 1 on a difference)')
    .option('--scenario', 'print a complete scenario (title, machine, guest, a source, the log\'s decision lines as expectations) that irqpath run accepts as is')
    .addHelpText('after', `
Several boots in one file: the last is read and a warning names the others' lines; --boot 2 reads the second,
--boot all prints each boot's machine (or scenario) as its own YAML document ("---", headed "# Boot 2 of 3").
Exit: 0; 1 when --check finds a difference; 2 when the file cannot be read, holds no Linux boot-log line, or has no
such boot. See docs/command-line.md.`)
    .action(async function (this: Command, file: string, opts: { boot: string; check?: boolean; scenario?: boolean }) {
      const machines = await readDmesgFile(file, parseBootChoice(opts.boot));
      const err = (s: string): void => writeErr(this, s);
      machines.forEach((d, i) => {
        const boot = d.boot && machines.length > 1 ? `boot ${d.boot.index}: ` : '';
        for (const w of d.warnings) err(`warning: ${file}: ${boot}${w}\n`);
        if (machines.length > 1) writeOut(this, `${i > 0 ? '---\n' : ''}# Boot ${d.boot!.index} of ${d.boot!.of} ("Linux version" at line ${d.boot!.line})\n`);
        writeOut(this, opts.scenario ? renderDmesgScenario(d, file === '-' ? '(standard input)' : file) : renderDmesgMachine(d));
        if (opts.check) {
          const c = checkRemappingLines(d);
          const how = c.strict ? 'a whole boot log, compared both ways' : 'an excerpt, compared for the kinds of line it shows';
          err(`# ${boot}check: Linux ${c.kernel} model on this machine (${how}): ${c.matched.length} of ${c.matched.length + c.missing.length} decision lines of the log reproduced, ${c.extra.length} printed that the log lacks\n`);
          for (const l of c.missing) err(`#   log only:   ${l}\n`);
          for (const l of c.extra) err(`#   model only: ${l}\n`);
          for (const l of c.uncompared) err(`#   not compared (the log does not determine it): ${l}\n`);
          if (c.missing.length > 0 || c.extra.length > 0) setExitCode(this, 1);
        }
      });
    });
}
