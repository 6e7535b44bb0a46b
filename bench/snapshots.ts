/**
 * Snapshot rows of `npm run bench`: what a snapshot, a restore and an empty `changesDuring` cost on machines of
 * different sizes, as best-of-N times in one run, with each row's ratio to the same operation on a 4-CPU machine
 * that touched one page. RAM is shared copy-on-write with a snapshot and unchanged LAPIC states are reused, so a
 * snapshot costs in proportion to what changed, not to the RAM touched or the CPUs the machine has.
 */
import { createMachine, type Machine } from '../src/machine/machine.ts';

function bestMs(rounds: number, fn: () => void): number {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return best;
}

function touched(cpus: number, pages: number): Machine {
  const m = createMachine({ cpus });
  for (let p = 0; p < pages; p++) m.memory.write32(0x10_0000 + p * 4096, p + 1);
  return m;
}

export function snapshotRows(): string[] {
  const small = touched(4, 1);
  const smallSnap = small.snapshot();
  const ref = {
    snapshot: bestMs(50, () => small.snapshot()),
    restore: bestMs(50, () => small.restore(smallSnap)),
    noop: bestMs(50, () => small.changesDuring(() => {})),
  };

  const pages = touched(4, 20_000);
  const pagesSnap = pages.snapshot();
  const pagesSnapshot = bestMs(5, () => pages.snapshot());
  // A restore after the run went on writing: every page written since is put back (by reference, not by copy).
  const pagesRestore = bestMs(5, () => {
    for (let p = 0; p < 20_000; p += 10) pages.memory.write32(0x10_0000 + p * 4096, 0);
    pages.restore(pagesSnap);
  });
  const pagesNoop = bestMs(5, () => pages.changesDuring(() => {}));

  // The first snapshot of a fresh 32768-CPU machine saves every LAPIC; later ones reuse the unchanged states.
  const fresh = [0, 1, 2].map(() => createMachine({ cpus: 32768 }));
  let next = 0;
  const bigFirst = bestMs(3, () => fresh[next++].snapshot());
  const big = fresh[0];
  const bigSnap = big.snapshot();
  const bigSnapshot = bestMs(5, () => big.snapshot());
  const bigRestore = bestMs(5, () => {
    for (let cpu = 0; cpu < 32768; cpu += 64) big.cpu(cpu).lapic.tpr = 0x20; // 512 CPUs changed since the snapshot
    big.restore(bigSnap);
  });

  const row = (name: string, ms: number, refMs: number, refName: string, targetMs: number) =>
    `${name.padEnd(30)} ${`${ms.toFixed(2)} ms`.padStart(10)}   ${(ms / refMs).toFixed(0).padStart(5)}× ${refName}  ${ms < targetMs ? '✓' : '✗'} target < ${targetMs} ms`;
  return [
    `Snapshots: best of N runs; reference: a 4-CPU machine with one page (snapshot ${ref.snapshot.toFixed(3)} ms, restore ${ref.restore.toFixed(3)} ms, changesDuring no-op ${ref.noop.toFixed(3)} ms)`,
    row('snapshot, 20000 pages', pagesSnapshot, ref.snapshot, 'snapshot-4', 50),
    row('restore, 20000 pages (2000 new)', pagesRestore, ref.restore, 'restore-4', 200),
    row('changesDuring no-op, 20000 pages', pagesNoop, ref.noop, 'no-op-4', 50),
    row('changesDuring no-op, 4 CPUs', ref.noop, ref.noop, 'no-op-4', 1),
    row('first snapshot, 32768 CPUs', bigFirst, ref.snapshot, 'snapshot-4', 200),
    row('snapshot, 32768 CPUs', bigSnapshot, ref.snapshot, 'snapshot-4', 200),
    row('restore, 32768 CPUs (512 changed)', bigRestore, ref.restore, 'restore-4', 200),
  ];
}
