/**
 * Run matrix cells on several cores with worker threads (Node only, hence here in src/cli and not in the library,
 * which stays browser-safe and offers runMatrixCells for any subset of a grid).
 *
 * Cells are handed out from a queue ordered by vCPU count, largest first (a boot costs about its vCPU count), to
 * whichever worker is idle, so the threads finish close together. A sweep's cells take a few milliseconds each, so
 * they travel in batches (one message each way per batch, see {@link batchSize}), small enough near the end of the
 * queue that no thread is left with a long tail. Results come back in grid order.
 *
 * A worker that cannot start (it could not load its module: TypeScript sources run without a TypeScript loader, as
 * inside a test runner) takes no cells; if none starts, the cells run in this thread. An error after a worker
 * started is a real failure and rejects the run.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { checkCells, runMatrixCells, type MatrixCell, type MatrixCellSpec } from '../scenario/matrix.ts';

/** A cell without its scenario result: what a sweep of thousands of cells keeps and sends between threads. */
export type CompactCell = Omit<MatrixCell, 'result'>;

/**
 * A batch of cells for a worker: their places in the run and their specs. `compact`: send each cell back without its
 * scenario result (boot log, observations), which a sweep does not need.
 */
export type WorkerRequest = { indices: number[]; specs: MatrixCellSpec[]; compact: boolean };
/** A finished batch: each cell with its place in the run. */
export type WorkerReply = { type: 'ready' } | { type: 'cells'; indices: number[]; cells: (MatrixCell | CompactCell)[] };

export function compactCell({ result: _result, ...cell }: MatrixCell): CompactCell {
  return cell;
}

export interface ParallelOptions {
  /** Worker threads to use; 1 runs every cell in this thread. Default: {@link defaultJobs}. */
  jobs?: number;
  /** Called as each cell finishes (in finishing order, not grid order). */
  onCell?: (cell: MatrixCell) => void;
}

export interface ParallelRun {
  /** The cells, in the order of the specs given. */
  cells: MatrixCell[];
  /** How many worker threads ran at least one cell (0: all ran in this thread). */
  workers: number;
}

/** Below this many cells, starting threads (each loads the whole library) costs more than it saves. */
const MIN_CELLS_FOR_WORKERS = 8;

/** From this many cells up, a 2- or 3-core machine uses every core too: a thread's start-up is then a rounding error. */
const MANY_CELLS = 1000;

/**
 * One thread per core from 4 cores up; below that, 1 (this thread only) unless the run has {@link MANY_CELLS}. Each
 * worker loads the library and warms its JIT from cold, about 0.4 s of CPU: measured on 2 cores, the 256-cell matrix
 * took 1.1–1.3 s of CPU in one thread and 1.9 s in two workers, so two threads barely beat one on a small grid; the
 * 11,072-cell sweep took 26 s wall in one thread and 20 s in two on the same machine.
 */
export function defaultJobs(cells = 0): number {
  const cores = availableParallelism();
  return cores >= 4 || cells >= MANY_CELLS ? cores : 1;
}

/**
 * How many cells to send a worker at once: an eighth of each thread's share of what is left, from 1 to 32. Large
 * batches early keep messages few; single cells at the end let the threads finish together.
 */
export function batchSize(remaining: number, jobs: number): number {
  return Math.max(1, Math.min(32, Math.floor(remaining / (jobs * 8))));
}

/**
 * Start one worker on the module next to this one. Compiled, that is matrix-worker.js, loaded as is. From the
 * TypeScript sources (tsx, a test runner) it is matrix-worker.ts, and Node 20 does not pass the loader hooks of this
 * thread on to a worker, so the worker first registers tsx's loader itself; where that is not possible, the worker
 * fails to start and its cells run here.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./matrix-worker.js', import.meta.url));
  const source = new URL('./matrix-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); })`;
  return new Worker(bootstrap, { eval: true });
}

export async function runMatrixParallel(specs: readonly MatrixCellSpec[], options: ParallelOptions = {}): Promise<ParallelRun> {
  const run = await runPool(specs, false, options.jobs, options.onCell as ((cell: MatrixCell | CompactCell) => void) | undefined);
  return run as ParallelRun;
}

/**
 * The same for a sweep: cells come back without their scenario results, so ten thousand of them fit in memory and
 * cross between threads cheaply. `onCell` sees each as it finishes, for streaming.
 */
export async function runMatrixParallelCompact(specs: readonly MatrixCellSpec[], options: { jobs?: number; onCell?: (cell: CompactCell) => void } = {}): Promise<{ cells: CompactCell[]; workers: number }> {
  return runPool(specs, true, options.jobs, options.onCell);
}

async function runPool(specs: readonly MatrixCellSpec[], compact: boolean, jobsWanted: number | undefined, onCell: ((cell: MatrixCell | CompactCell) => void) | undefined): Promise<{ cells: (MatrixCell | CompactCell)[]; workers: number }> {
  const options = { onCell };
  const here = (list: readonly MatrixCellSpec[]): (MatrixCell | CompactCell)[] =>
    compact ? runMatrixCells(list).map(compactCell) : runMatrixCells(list);
  // Every cell is checked before any runs, on whichever thread it will run.
  checkCells(specs);
  const jobs = Math.min(jobsWanted ?? defaultJobs(specs.length), specs.length);
  if (jobs <= 1 || specs.length < MIN_CELLS_FOR_WORKERS) {
    // One cell at a time, so each is reported (and, compact, its result dropped) as soon as it finishes.
    const cells = specs.map((spec) => {
      const [cell] = here([spec]);
      onCell?.(cell);
      return cell;
    });
    return { cells, workers: 0 };
  }

  const results = new Array<MatrixCell | CompactCell | undefined>(specs.length);
  // Largest boots first; ties keep grid order.
  const queue = specs.map((_, i) => i).sort((a, b) => specs[b].cpus - specs[a].cpus || a - b);
  let next = 0;
  let finished = 0;
  let failedToStart = 0;

  return new Promise((resolve, reject) => {
    const workers: Worker[] = [];
    const working = new Set<Worker>();
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      for (const w of workers) void w.terminate();
      if (error) reject(error);
      else resolve({ cells: results as (MatrixCell | CompactCell)[], workers: working.size });
    };
    const feed = (worker: Worker) => {
      if (next >= queue.length) return;
      const indices = queue.slice(next, next + batchSize(queue.length - next, jobs));
      next += indices.length;
      worker.postMessage({ indices, specs: indices.map((i) => specs[i]), compact } satisfies WorkerRequest);
    };
    const runRestHere = () => {
      try {
        while (next < queue.length) {
          const index = queue[next++];
          const [cell] = here([specs[index]]);
          options.onCell?.(cell);
          results[index] = cell;
          finished++;
        }
        settle(null);
      } catch (e) {
        settle(e as Error);
      }
    };

    for (let j = 0; j < jobs; j++) {
      const worker = startWorker();
      workers.push(worker);
      let ready = false;
      let failed = false;
      const failedToLoad = () => {
        if (failed) return;
        failed = true;
        if (++failedToStart === jobs) runRestHere();
      };
      worker.on('message', (reply: WorkerReply) => {
        if (reply.type === 'ready') {
          ready = true;
          feed(worker);
          return;
        }
        working.add(worker);
        reply.indices.forEach((index, k) => {
          results[index] = reply.cells[k];
          finished++;
          options.onCell?.(reply.cells[k]);
        });
        if (finished === specs.length) settle(null);
        else feed(worker);
      });
      worker.on('error', (error) => {
        if (ready) settle(error);
        else failedToLoad();
      });
      worker.on('exit', (code) => {
        if (settled) return;
        if (ready) settle(new Error(`a matrix worker thread stopped (exit code ${code}) before the matrix was done`));
        else failedToLoad();
      });
    }
  });
}
