/**
 * `irqpath from-dmesg <file> [--check]`: print the `machine:` block a Linux boot log implies (YAML, usable as is in a
 * scenario file), with what the log did not determine as comments. `--check` boots the Linux model on that machine
 * and compares its interrupt-remapping lines with the log's (stderr; exit 1 when a modelled line differs).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Document, isScalar, visit } from 'yaml';
import { UsageError } from '../core/errors.ts';
import { machineFromDmesg, type DmesgMachine } from '../tools/from-dmesg.ts';
import { checkRemappingLines } from '../tools/dmesg-check.ts';
import { setExitCode, writeErr, writeOut } from './output.ts';

const HEX_KEYS = new Set(['base', 'sourceId', 'vendorId', 'deviceId']);

/** The YAML text: notes as comments, then `machine:` (register bases and PCI IDs in hex). */
export function renderDmesgMachine(d: DmesgMachine, title = 'Machine implied by a Linux boot log (irqpath from-dmesg). Paste under a scenario, or run as is.'): string {
  const doc = new Document({ machine: d.machine });
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && HEX_KEYS.has(String(pair.key.value)) && isScalar(pair.value) && typeof pair.value.value === 'number') {
        pair.value.format = 'HEX';
      }
    },
  });
  const head = [
    `# ${title}`,
    d.kernel === null ? '# Kernel version: not in the log.' : `# Kernel: Linux ${d.kernel} — for the same log formats use guest: { os: linux, version: '${d.kernel.split('.').slice(0, 2).join('.')}' }`,
    '# Not determined by the log (assumed instead):',
    ...d.notes.map((n) => `#   - ${n}`),
  ];
  return head.join('\n') + '\n' + doc.toString({ lineWidth: 0 });
}

export function registerFromDmesgCommand(program: Command): void {
  program
    .command('from-dmesg')
    .description('print the machine: block (YAML) a Linux boot log implies: IOMMU units with cap/ecap or EFR, DMAR flags, I/O APIC, CPUs, vendor, bare metal or VM')
    .argument('<file>', 'a dmesg, journalctl -k or syslog excerpt ("-" reads standard input)')
    .option('--check', 'boot the Linux model on that machine and compare its interrupt-remapping lines with the log (stderr; exit 1 on a difference)')
    .action(function (this: Command, file: string, opts: { check?: boolean }) {
      let text: string;
      try {
        text = readFileSync(file === '-' ? 0 : file, 'utf8');
      } catch (e) {
        throw new UsageError(`${file}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      const d = machineFromDmesg(text);
      writeOut(this, renderDmesgMachine(d));
      if (opts.check) {
        const c = checkRemappingLines(d);
        const err = (s: string): void => writeErr(this, s);
        err(`# check: Linux ${c.kernel} model on this machine: ${c.matched.length} of ${c.matched.length + c.missing.length} remapping lines of the log reproduced\n`);
        for (const l of c.missing) err(`#   log only:   ${l}\n`);
        for (const l of c.extra) err(`#   model only: ${l}\n`);
        if (c.missing.length > 0 || c.extra.length > 0) setExitCode(this, 1);
      }
    });
}
