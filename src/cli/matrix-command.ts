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
import { runMatrixParallel, runMatrixParallelCompact } from './matrix-parallel.ts';
import { readFileSync, existsSync } from 'node:fs';
import { FULL_AXES, sweepCells } from '../scenario/matrix-sweep.ts';
import { cellName, type MatrixCellSpec } from '../scenario/matrix.ts';
import { CSV_HEADER, csvLine, jsonLine, matrixRow, parseMatrixRows, type MatrixRow } from '../scenario/matrix-rows.ts';
import { matrixReport, renderMatrixReport } from '../scenario/matrix-report.ts';
import { UsageError } from '../core/errors.ts';

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

/** A progress bar: "[#########...........]  4,210/11,072  38%". */
export function progressBar(done: number, total: number, width = 30): string {
  const filled = total === 0 ? width : Math.floor((done / total) * width);
  const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(done).padStart(String(total).length)}/${total} ${String(percent).padStart(3)}%`;
}

type StreamFormat = 'csv' | 'jsonl';

function streamFormat(value: string): StreamFormat {
  if (value !== 'csv' && value !== 'jsonl') throw usage(`--format "${value}" is not one of csv, jsonl`);
  return value;
}

/** What a previous run wrote (`--resume FILE`): its rows, and whether it has any text (a CSV header, say). */
function recorded(file: string | undefined): { rows: MatrixRow[]; started: boolean } {
  if (file === undefined || !existsSync(file)) return { rows: [], started: false };
  const text = readFileSync(file, 'utf8');
  return { rows: parseMatrixRows(text, file), started: text.trim() !== '' };
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
    .option('--x2apic <list>', 'CPUs with x2APIC: on,off (off only up to 255 vCPUs, as QEMU allows)', boolList)
    .option('--jobs <n>', 'worker threads to run cells on (default: one per core from 4 cores up or for 1,000 cells and more, else 1: this thread only)', jobCount)
    .option('--full', `the full sweep (${sweepCells().length} cells): the grid × Linux kernel version × CPU x2APIC × kernel command line, plus device-assignment cells (see docs/matrix.md)`)
    .option('--format <format>', 'stream one line per cell to stdout as it finishes: csv or jsonl', streamFormat)
    .option('--resume <file>', 'skip the cells already in this csv/jsonl output of an earlier run (append the new lines to it: >> FILE)')
    .option('--report', 'print the failures ranked and grouped by cause (stderr when lines stream to stdout)')
    .option('--json', 'print the cells as JSON')
    .option('--no-color', 'plain text even on a terminal')
    .action(async function (this: Command, opts: { guest?: MatrixAxes['guests']; vendor?: MatrixAxes['vendors']; iommu?: MatrixIommu[]; ext?: boolean[]; workarounds?: boolean[]; cpus?: number[]; x2apic?: boolean[]; jobs?: number; json?: boolean; color: boolean; full?: boolean; format?: StreamFormat; resume?: string; report?: boolean }) {
      if (opts.full || opts.format || opts.resume !== undefined || opts.report) return sweep(this, opts);
      const axes: MatrixAxes = chosenAxes(opts, DEFAULT_AXES);
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

/** The axes the command line chose (--guest, --vendor, …), each over `base`'s when not given. */
function chosenAxes<T extends MatrixAxes>(opts: { guest?: MatrixAxes['guests']; vendor?: MatrixAxes['vendors']; iommu?: MatrixIommu[]; ext?: boolean[]; workarounds?: boolean[]; cpus?: number[]; x2apic?: boolean[] }, base: T): T {
  return {
    ...base,
    guests: opts.guest ?? base.guests,
    vendors: opts.vendor ?? base.vendors,
    iommus: opts.iommu ?? base.iommus,
    extension: opts.ext ?? base.extension,
    workarounds: opts.workarounds ?? base.workarounds,
    cpus: opts.cpus ?? base.cpus,
    x2apicCpu: opts.x2apic ?? base.x2apicCpu,
  };
}

/**
 * The streaming form of the matrix: `--full`, `--format`, `--resume` or `--report`. Cells run on worker threads
 * without their scenario results; each finished cell is one line on stdout (csv/jsonl), a progress bar on a
 * terminal's stderr, and the report of failures at the end (stdout when nothing streams).
 */
async function sweep(command: Command, opts: { guest?: MatrixAxes['guests']; vendor?: MatrixAxes['vendors']; iommu?: MatrixIommu[]; ext?: boolean[]; workarounds?: boolean[]; cpus?: number[]; x2apic?: boolean[]; jobs?: number; json?: boolean; full?: boolean; format?: StreamFormat; resume?: string; report?: boolean }): Promise<void> {
  if (opts.json) throw new UsageError('--json prints the default grid; a sweep streams with --format csv or --format jsonl');
  if (opts.resume !== undefined && opts.format === undefined) throw new UsageError('--resume needs --format csv or --format jsonl (the lines appended to the file)');
  const base = opts.full ? FULL_AXES : { ...DEFAULT_AXES, versions: [], x2apicCpu: DEFAULT_AXES.x2apicCpu ?? [true], cmdlines: [] };
  const axes = chosenAxes(opts, base);
  const all: MatrixCellSpec[] = opts.full ? sweepCells(axes) : matrixCells(axes);
  const previous = recorded(opts.resume);
  const recordedNames = new Set(previous.rows.map((r) => r.cell));
  const specs = all.filter((s) => !recordedNames.has(cellName(s)));
  // The report covers this sweep's cells, recorded or run now.
  const names = new Set(all.map(cellName));
  const rows: MatrixRow[] = previous.rows.filter((r) => names.has(r.cell));
  const progress = process.stderr.isTTY === true;
  const format = opts.format;
  // A CSV file being resumed already has its header.
  if (format === 'csv' && !previous.started) writeOut(command, CSV_HEADER + '\n');
  if (progress && recordedNames.size > 0) writeErr(command, `resuming: ${all.length - specs.length} of ${all.length} cells already recorded in ${opts.resume}\n`);
  let done = 0;
  await runMatrixParallelCompact(specs, {
    jobs: opts.jobs,
    onCell: (cell) => {
      const row = matrixRow(cell);
      rows.push(row);
      if (format === 'csv') writeOut(command, csvLine(row) + '\n');
      else if (format === 'jsonl') writeOut(command, jsonLine(row) + '\n');
      if (progress) writeErr(command, REWRITE(progressBar(++done, specs.length)));
    },
  });
  if (progress) writeErr(command, REWRITE(''));
  if (format === undefined || opts.report || opts.full) {
    const text = renderMatrixReport(matrixReport(rows)) + '\n';
    if (format === undefined) writeOut(command, text);
    else writeErr(command, text);
  }
}
