/**
 * `irqpath matrix`: run the guest models across a grid of machines and print which combinations deliver every
 * interrupt correctly, with the failure mode in each failing cell.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_AXES, renderMatrix, runMatrix, type MatrixAxes, type MatrixIommu } from '../guest/scenario/matrix.ts';
import { toJson } from '../guest/scenario/report.ts';
import { writeOut } from './output.ts';

function listOf<T extends string>(allowed: readonly T[], what: string) {
  return (value: string): T[] => {
    const items = value.split(',').map((s) => s.trim());
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item)) throw new InvalidArgumentError(`${what} "${item}" is not one of ${allowed.join(', ')}`);
    }
    return items as T[];
  };
}

function boolList(value: string): boolean[] {
  return value.split(',').map((s) => {
    if (s === 'on' || s === 'true') return true;
    if (s === 'off' || s === 'false') return false;
    throw new InvalidArgumentError(`"${s}" is not on or off`);
  });
}

function cpuList(value: string): number[] {
  return value.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 2 || n > 32768) throw new InvalidArgumentError(`vCPU count "${s}" must be an integer from 2 to 32768`);
    return n;
  });
}

export function registerMatrixCommand(program: Command): void {
  program
    .command('matrix')
    .description('run the guest models across guest × CPU vendor × IOMMU × hypervisor extension × VMM workarounds × vCPU count')
    .option('--guest <list>', 'linux,windows', listOf(['linux', 'windows'] as const, 'guest'))
    .option('--vendor <list>', 'intel,amd', listOf(['intel', 'amd'] as const, 'CPU vendor'))
    .option('--iommu <list>', 'none,intel-ir,intel-full,amd', listOf(['none', 'intel-ir', 'intel-full', 'amd'] as const satisfies readonly MatrixIommu[], 'IOMMU'))
    .option('--ext <list>', '15-bit extension: on,off', boolList)
    .option('--workarounds <list>', 'VMM workarounds: on,off', boolList)
    .option('--cpus <list>', 'vCPU counts, e.g. 64,255,300,1024', cpuList)
    .option('--json', 'print the cells as JSON')
    .option('--no-color', 'plain text even on a terminal')
    .action(function (this: Command, opts: { guest?: MatrixAxes['guests']; vendor?: MatrixAxes['vendors']; iommu?: MatrixIommu[]; ext?: boolean[]; workarounds?: boolean[]; cpus?: number[]; json?: boolean; color: boolean }) {
      const axes: MatrixAxes = {
        guests: opts.guest ?? DEFAULT_AXES.guests,
        vendors: opts.vendor ?? DEFAULT_AXES.vendors,
        iommus: opts.iommu ?? DEFAULT_AXES.iommus,
        extension: opts.ext ?? DEFAULT_AXES.extension,
        workarounds: opts.workarounds ?? DEFAULT_AXES.workarounds,
        cpus: opts.cpus ?? DEFAULT_AXES.cpus,
      };
      const cells = runMatrix(axes);
      if (opts.json) {
        writeOut(this, JSON.stringify(toJson(cells.map(({ result, ...c }) => ({ ...c, sources: result.sources.map((s) => ({ id: s.source.id, ok: s.ok, expected: s.expected, actual: s.actual })) }))), null, 2) + '\n');
      } else {
        writeOut(this, renderMatrix(cells, opts.color && process.stdout.isTTY === true) + '\n');
      }
    });
}
