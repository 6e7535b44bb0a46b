/**
 * A worker thread of `irqpath matrix` (matrix-parallel.ts): says it has loaded, then runs each cell it is sent and
 * posts the finished cell back. Cells are plain data, so they cross the thread boundary by structured clone.
 */
import { parentPort } from 'node:worker_threads';
import { runMatrixCell } from '../scenario/matrix.ts';
import { compactCell, type WorkerReply, type WorkerRequest } from './matrix-parallel.ts';

const port = parentPort;
if (port === null) throw new Error('matrix-worker.ts runs only as a worker thread of matrix-parallel.ts');

port.on('message', (request: WorkerRequest) => {
  const cell = runMatrixCell(request.spec);
  const reply: WorkerReply = { type: 'cell', index: request.index, cell: request.compact ? compactCell(cell) : cell };
  port.postMessage(reply);
});
port.postMessage({ type: 'ready' } satisfies WorkerReply);
