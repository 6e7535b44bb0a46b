/**
 * `irqpath matrix`: run the guest models across a grid of machines and print which combinations deliver every
 * interrupt correctly, with the failure mode in each failing cell.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_AXES, matrixCells, renderMatrix, type MatrixAxes, type MatrixCell, type MatrixIommu } from '../scenario/matrix.ts';
import { toJson } from '../scenario/report.ts';
import { writeErr, writeOut } from './output.ts';
import { parseUnsigned, USAGE_EXIT_CODE } from './parse-number.ts';
import { painter, shouldColor } from './color.ts';
import { runMatrixParallel } from './matrix-parallel.ts';

function usage(message: string): InvalidArgumentError {
  const error = new InvalidArgumentError(message);
  error.exitCode = USAGE_EXIT_CODE;
  return error;
}

/** A comma-separated axis: each item parsed, repeats dropped (`--cpus 300,300` is one column, not two cells each). */
function axisList<T>(parse: (item: string) => T) {
  return (value: string): T[] => [...new Set(value.split(',').map((s) => parse(s.trim())))];
}

function oneOf<T extends string>(allowed: readonly T[], what: string) {
  return axisList((item): T => {
    if (!(allowed as readonly string[]).includes(item)) throw usage(`${what} "${item}" is not one of ${allowed.join(', ')}`);
    return item as T;
  });
}

const boolList = axisList((s): boolean => {
  if (s === 'on' || s === 'true') return true;
  if (s === 'off' || s === 'false') return false;
  throw usage(`"${s}" is not on or off`);
});

/** vCPU counts read like every other number (parse-number.ts); a matrix machine needs at least a BSP and an AP. */
const cpuList = axisList((s): number => {
  let n: bigint;
  try {
    n = parseUnsigned(s, 16);
  } catch (e) {
    throw usage(`vCPU count ${(e as Error).message}`);
  }
  if (n < 2n || n > 32768n) throw usage(`vCPU count "${s}" must be from 2 to 32768`);
  return Number(n);
});

/** Worker threads for the matrix: 1 or more (1 runs every cell in the CLI's own thread). */
function jobCount(value: string): number {
  let n: bigint;
  try {
    n = parseUnsigned(value.trim(), 16);
  } catch (e) {
    throw usage(`--jobs ${(e as Error).message}`);
  }
  if (n < 1n || n > 256n) throw usage(`--jobs "${value}" must be from 1 to 256`);
  return Number(n);
}

/** One status line, rewritten in place: "[ 37/256] windows amd intel-ir ext-dest vmm-wa 1024 vCPUs". */
export function progressLine(done: number, total: number, cell: Pick<MatrixCell, 'guest' | 'vendor' | 'iommu' | 'extension' | 'workarounds' | 'cpus'>): string {
  const count = `${String(done).padStart(String(total).length)}/${total}`;
  return `[${count}] ${cell.guest} ${cell.vendor} ${cell.iommu}${cell.extension ? ' ext-dest' : ''}${cell.workarounds ? ' vmm-wa' : ''} ${cell.cpus} vCPUs`;
}

/** Carriage return, the text, then "erase to end of line" (ECMA-48 EL, CSI K) so a shorter line leaves no tail. */
const REWRITE = (text: string) => `\r${text}\x1b[K`;

export function registerMatrixCommand(program: Command): void {
  program
    .command('matrix')
    .description('run the guest models across guest × CPU vendor × IOMMU × hypervisor extension × VMM workarounds × vCPU count')
    .option('--guest <list>', 'linux,windows', oneOf(['linux', 'windows'] as const, 'guest'))
    .option('--vendor <list>', 'intel,amd', oneOf(['intel', 'amd'] as const, 'CPU vendor'))
    .option('--iommu <list>', 'none,intel-ir,intel-full,amd', oneOf(['none', 'intel-ir', 'intel-full', 'amd'] as const satisfies readonly MatrixIommu[], 'IOMMU'))
    .option('--ext <list>', '15-bit extension: on,off', boolList)
    .option('--workarounds <list>', 'VMM workarounds: on,off', boolList)
    .option('--cpus <list>', 'vCPU counts, e.g. 64,255,300,1024', cpuList)
    .option('--jobs <n>', 'worker threads to run cells on (default: one per core from 4 cores up, else 1: this thread only)', jobCount)
    .option('--json', 'print the cells as JSON')
    .option('--no-color', 'plain text even on a terminal')
    .action(async function (this: Command, opts: { guest?: MatrixAxes['guests']; vendor?: MatrixAxes['vendors']; iommu?: MatrixIommu[]; ext?: boolean[]; workarounds?: boolean[]; cpus?: number[]; jobs?: number; json?: boolean; color: boolean }) {
      const axes: MatrixAxes = {
        guests: opts.guest ?? DEFAULT_AXES.guests,
        vendors: opts.vendor ?? DEFAULT_AXES.vendors,
        iommus: opts.iommu ?? DEFAULT_AXES.iommus,
        extension: opts.ext ?? DEFAULT_AXES.extension,
        workarounds: opts.workarounds ?? DEFAULT_AXES.workarounds,
        cpus: opts.cpus ?? DEFAULT_AXES.cpus,
      };
      // A progress line only for a person watching a terminal: never in a pipe, a log file or CI output.
      const specs = matrixCells(axes);
      const total = specs.length;
      const progress = process.stderr.isTTY === true;
      let done = 0;
      const { cells } = await runMatrixParallel(specs, {
        jobs: opts.jobs,
        onCell: progress ? (cell) => writeErr(this, REWRITE(progressLine(++done, total, cell))) : undefined,
      });
      if (progress) writeErr(this, REWRITE(''));
      if (opts.json) {
        writeOut(this, JSON.stringify(toJson(cells.map(({ result, ...c }) => ({ ...c, sources: result.sources.map((s) => ({ id: s.source.id, ok: s.ok, expected: s.expected, actual: s.actual })) }))), null, 2) + '\n');
      } else {
        writeOut(this, renderMatrix(cells, painter(shouldColor(process.stdout, opts.color))) + '\n');
      }
    });
}
