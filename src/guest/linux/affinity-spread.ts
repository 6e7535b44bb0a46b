/**
 * The CPU masks Linux 6.1 gives a driver's managed queue interrupts (kernel/irq/affinity.c:
 * irq_create_affinity_masks → irq_build_affinity_masks → __irq_build_affinity_masks), on a machine with one NUMA
 * node and no SMT siblings (QEMU's default topology): the pre_vectors (nvme's admin queue) keep the default
 * affinity and are not managed; the `vectors` queue interrupts share the CPUs out in order, ncpus / vectors each,
 * the first ncpus % vectors of them one more ("extra_vecs ... to compensate rounding errors"), each group taken from
 * the front of the node's CPUs (irq_spread_init_one). More queues than CPUs do not happen here: nvme asks for at most
 * one queue per possible CPU (nvme_max_io_queues).
 */
import { UsageError } from '../../core/errors.ts';

/** The managed masks of `vectors` queue interrupts spread over `cpus` (ascending), one mask each, in vector order. */
export function spreadManagedMasks(cpus: readonly number[], vectors: number): number[][] {
  if (!Number.isInteger(vectors) || vectors < 1 || vectors > cpus.length) {
    throw new UsageError(`managed interrupt spreading: ${vectors} queue vectors over ${cpus.length} CPUs (1..${cpus.length} expected)`);
  }
  const perVector = Math.floor(cpus.length / vectors);
  let extra = cpus.length - vectors * perVector;
  const masks: number[][] = [];
  let next = 0;
  for (let v = 0; v < vectors; v++) {
    let n = perVector;
    if (extra > 0) {
      n++;
      extra--;
    }
    masks.push(cpus.slice(next, next + n));
    next += n;
  }
  return masks;
}
