/**
 * `irqpath log`: turn raw IOMMU fault records into the lines Linux prints, so a user can compare a register dump or
 * an event-log dump from a failing host with a real guest's dmesg.
 *
 *   irqpath log dmar --frcd <hi> <lo>        an Intel fault recording register (two 64-bit halves)
 *   irqpath log amdvi --entry <d0> <d1> <d2> <d3>  an AMD event-log entry (four 32-bit dwords)
 *
 * Values are read like every other number on the command line (parse-number.ts): 0x… is hex, anything else decimal.
 * `--kernel <version>` picks the format that kernel prints (default: DEFAULT_LINUX_VERSION).
 */
import type { Command } from 'commander';
import { linuxFrcdLine } from '../iommu-intel/linux-log.ts';
import { formatRawEventEntry } from '../iommu-amd/linux-log.ts';
import { ConfigError, UsageError } from '../core/errors.ts';
import { amdViDeviceStyle, DEFAULT_LINUX_VERSION, dmarFaultStyle, parseLinuxVersion, type LinuxVersion } from '../core/linux-version.ts';
import { parseUnsigned } from './parse-number.ts';
import { writeOut } from './output.ts';

/** One value of a variadic option, through the shared number parser; the error names which value is wrong. */
function parseValue(text: string, what: string, bits: 32 | 64): bigint {
  try {
    return parseUnsigned(text, bits);
  } catch (e) {
    throw new UsageError(`${what}: ${(e as Error).message}`);
  }
}

/**
 * Decode a VT-d FRCD (high qword: F 63, T 62, PV 59:40, FR 39:32, PP 31, SID 15:0; low qword: FI) the way Linux's
 * dmar_fault does: interrupt reasons print the IRTE index (FI 63:48), DMA reasons the request type from T, the PASID
 * when PP = 1, and the faulting page address from FI 63:12 — in the format of `kernel`.
 */
export function frcdToLinuxLine(hi: bigint, lo: bigint, kernel: LinuxVersion = parseLinuxVersion(DEFAULT_LINUX_VERSION, 'kernel')): string {
  const pending = (hi >> 63n) & 1n ? '' : '  (F = 0: this record is not pending)';
  return linuxFrcdLine(hi, lo, dmarFaultStyle(kernel)) + pending;
}

function kernelOption(text: string): LinuxVersion {
  try {
    return parseLinuxVersion(text, '--kernel');
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`--kernel: ${e.reason}`);
    throw e;
  }
}

export function registerLogCommand(program: Command): void {
  const log = program.command('log').description('format raw IOMMU fault records the way Linux prints them');
  log
    .command('dmar')
    .description('an Intel VT-d fault recording register, as "DMAR: [INTR-REMAP] ..." or "DMAR: [DMA Read NO_PASID] ..."')
    .requiredOption('--frcd <qwords...>', 'the record as two 64-bit values (hex 0x… or decimal): high qword (offset +8) then low qword (+0)')
    .option('--kernel <version>', `the Linux version whose format to print (<= 5.13, 5.14, >= 5.15)`, DEFAULT_LINUX_VERSION)
    .action(function (this: Command, opts: { frcd: string[]; kernel: string }) {
      if (opts.frcd.length !== 2) throw new UsageError(`--frcd takes two 64-bit values (high, low), got ${opts.frcd.length}`);
      const kernel = kernelOption(opts.kernel);
      writeOut(this, frcdToLinuxLine(parseValue(opts.frcd[0], '--frcd high qword', 64), parseValue(opts.frcd[1], '--frcd low qword', 64), kernel) + '\n');
    });
  log
    .command('amdvi')
    .description('an AMD-Vi event-log entry, as "AMD-Vi: Event logged [...]"')
    .requiredOption('--entry <dwords...>', 'the 128-bit entry as four 32-bit dwords (hex 0x… or decimal), lowest address first')
    .option('--kernel <version>', 'the Linux version whose format to print (< 6.0 without the PCI segment)', DEFAULT_LINUX_VERSION)
    .action(function (this: Command, opts: { entry: string[]; kernel: string }) {
      if (opts.entry.length !== 4) throw new UsageError(`--entry takes four 32-bit dwords, got ${opts.entry.length}`);
      const kernel = kernelOption(opts.kernel);
      const words = opts.entry.map((w, i) => Number(parseValue(w, `--entry dword ${i}`, 32)));
      writeOut(this, formatRawEventEntry(words, { style: amdViDeviceStyle(kernel) }) + '\n');
    });
}
