/**
 * A worker thread of `irqpath matrix` (matrix-parallel.ts): says it has loaded, then runs each batch of cells it is
 * sent and posts the finished batch back. Cells are plain data, so they cross the thread boundary by structured clone.
 */
import { parentPort } from 'node:worker_threads';
import { runMatrixCell } from '../scenario/matrix.ts';
import { compactCell, type WorkerReply, type WorkerRequest } from './matrix-parallel.ts';

const port = parentPort;
if (port === null) throw new Error('matrix-worker.ts runs only as a worker thread of matrix-parallel.ts');

port.on('message', (request: WorkerRequest) => {
  const cells = request.specs.map((spec) => {
    const cell = runMatrixCell(spec);
    return request.compact ? compactCell(cell) : cell;
  });
  port.postMessage({ type: 'cells', indices: request.indices, cells } satisfies WorkerReply);
});
port.postMessage({ type: 'ready' } satisfies WorkerReply);
