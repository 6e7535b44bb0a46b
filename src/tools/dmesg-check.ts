/**
 * The round trip behind `irqpath from-dmesg --check`: boot the Linux model (the log's kernel version and command
 * line) on the machine a log implies and compare the decision lines it prints with the log's own: the DMAR table and
 * unit lines, every `DMAR-IR:` line, the x2APIC lines, the APIC routing line, `noapic`'s and `intel_iommu=`'s lines,
 * and the AMD-Vi feature, remapping, X2APIC, vAPIC and I/O APIC firmware-bug lines (RMRR, ATSR, ANDD, IVHD dumps,
 * IOMMU groups are outside the model).
 *
 * Strict both ways on a whole boot log: a decision line the model prints that the log lacks is a difference too. An
 * excerpt is held only to the kinds of line it shows, and kinds whose content the log did not determine (a unit line
 * with assumed CAP/ECAP) are not compared at all; both are reported.
 */
import { DEFAULT_LINUX_VERSION, parseLinuxVersion } from '../core/linux-version.ts';
import { ConfigError } from '../core/errors.ts';
import { createMachine } from '../machine/machine.ts';
import type { DmesgMachine } from './from-dmesg.ts';
import { createGuest } from '../guest/create-guest.ts';
import { DECISION_LINE_KINDS, isModelledRemappingLine } from './decision-lines.ts';

export { isModelledRemappingLine };

export interface RemappingCheck {
  /** The kernel version the model ran ("6.15" from the log, else the default). */
  kernel: string;
  /** The log's modelled lines the model printed too. */
  matched: string[];
  /** The log's modelled lines the model did not print. */
  missing: string[];
  /** Modelled lines the model printed that the log does not have (on an excerpt: of the kinds the log shows). */
  extra: string[];
  /** Whether extra lines of every kind count (a whole boot log) or only of the kinds the log shows (an excerpt). */
  strict: boolean;
  /** Model lines left out of the comparison because the log did not determine their content. */
  uncompared: string[];
  /** Everything the model printed at boot. */
  modelLines: string[];
}

/** Boot the Linux model on `d.machine` and compare its remapping lines with the log's (as sets of lines). */
export function checkRemappingLines(d: DmesgMachine): RemappingCheck {
  let kernel = DEFAULT_LINUX_VERSION;
  if (d.kernel !== null) {
    try {
      kernel = parseLinuxVersion(d.kernel, 'kernel').text;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
    }
  }
  const m = createMachine(d.machine);
  const g = createGuest(m, { os: 'linux', version: kernel, cmdline: d.cmdline ?? '' });
  g.boot();
  const modelLines = [...g.log.lines];
  const skip = (l: string): boolean => d.uncompared.some((re) => re.test(l));
  const logLines = d.lines.filter((l) => isModelledRemappingLine(l) && !skip(l));
  const printed = new Set(modelLines);
  const inLog = new Set(logLines);
  const strict = d.complete;
  // An excerpt may lack a whole kind of line (cut, or a kernel that prints it differently): only kinds it has count.
  const counted = (l: string): boolean => strict || DECISION_LINE_KINDS.some((re) => re.test(l) && logLines.some((x) => re.test(x)));
  return {
    kernel,
    matched: logLines.filter((l) => printed.has(l)),
    missing: logLines.filter((l) => !printed.has(l)),
    extra: modelLines.filter((l) => isModelledRemappingLine(l) && !skip(l) && !inLog.has(l) && counted(l)),
    strict,
    uncompared: modelLines.filter((l) => isModelledRemappingLine(l) && skip(l)),
    modelLines,
  };
}
