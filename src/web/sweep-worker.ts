/**
 * The sweep view's worker (bundled as sweep-worker.js beside app.js): runs each batch of cells it is sent and posts
 * their rows back, so the page's own thread only draws. The page starts a few of these, one per core it may use.
 */
import { runMatrixCell, type MatrixCellSpec } from '../scenario/matrix.ts';
import { matrixRow, type MatrixRow } from '../scenario/matrix-rows.ts';

/** A batch: the cells' places in the slice and their specs. */
export interface SweepRequest {
  indices: number[];
  specs: MatrixCellSpec[];
}

export interface SweepReply {
  indices: number[];
  rows: MatrixRow[];
}

/** The worker's global scope, as much of it as this file uses (the page's type library describes a window). */
const scope = self as unknown as { onmessage: ((ev: MessageEvent<SweepRequest>) => void) | null; postMessage(reply: SweepReply): void };

scope.onmessage = (ev) => {
  const rows = ev.data.specs.map((spec) => {
    const { result: _result, ...cell } = runMatrixCell(spec);
    return matrixRow(cell);
  });
  scope.postMessage({ indices: ev.data.indices, rows });
};
