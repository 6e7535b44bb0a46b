/**
 * `irqpath matrix` across worker threads: the same cells, in grid order, as one thread gives; a bad --jobs is a
 * usage error.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { runMatrixParallel } from '../../src/cli/matrix-parallel.ts';
import { matrixCells, runMatrixCells, type MatrixCell } from '../../src/scenario/matrix.ts';

/** What a cell reports, without its run time. */
const outcome = (c: MatrixCell) => ({ guest: c.guest, vendor: c.vendor, iommu: c.iommu, extension: c.extension, workarounds: c.workarounds, cpus: c.cpus, ok: c.ok, mode: c.mode, delivered: c.delivered, total: c.total, onlineCpus: c.onlineCpus, actual: c.result.sources.map((s) => s.actual) });

describe('matrix on worker threads', () => {
  // 16 cells (2 × 2 × 2 × 2): both guests and vendors, no IOMMU or Intel IR-only, with and without the extension, at 64 vCPUs.
  const specs = matrixCells({ guests: ['linux', 'windows'], vendors: ['intel', 'amd'], iommus: ['none', 'intel-ir'], extension: [false, true], workarounds: [false], cpus: [64] });

  it('cells run on worker threads come back the same, in grid order, as in this thread', async () => {
    const seen: string[] = [];
    const run = await runMatrixParallel(specs, { jobs: 2, onCell: (c) => seen.push(`${c.guest}-${c.cpus}`) });
    // Both threads start, but which of them runs cells depends on how fast each starts on a busy machine.
    expect(run.workers).toBeGreaterThanOrEqual(1);
    expect(run.cells.map(outcome)).toEqual(runMatrixCells(specs).map(outcome));
    expect(seen).toHaveLength(specs.length);
  }, 60_000);

  it('--jobs 1 runs in this thread', async () => {
    const run = await runMatrixParallel(specs, { jobs: 1 });
    expect(run.workers).toBe(0);
    expect(run.cells).toHaveLength(specs.length);
  });

  it('--jobs 0 is a usage error', async () => {
    let err = '';
    const code = await runCli(['node', 'irqpath', 'matrix', '--jobs', '0'], { writeOut: () => {}, writeErr: (t) => (err += t) });
    expect(code).toBe(2);
    expect(err).toContain('--jobs "0" must be from 1 to 256');
  });
});
