/**
 * What a guest's interrupt entry has run, per CPU, in bounded memory: a count per vector and the most recent
 * {@link HANDLED_HISTORY} vectors in order. A long run (millions of interrupts) costs nothing more than a short one;
 * keeping every vector grew by ~11 bytes per interrupt (stress-campaign finding 8, test/stress/guest-eoi-findings.test.ts).
 */
export const HANDLED_HISTORY = 64;

class CpuRecord {
  readonly counts = new Float64Array(256);
  total = 0;
  readonly recent = new Uint8Array(HANDLED_HISTORY);
  /** Next slot of `recent` to write; the ring is full once total ≥ HANDLED_HISTORY. */
  next = 0;
}

export class HandledInterrupts {
  private readonly cpus = new Map<number, CpuRecord>();

  record(cpu: number, vector: number): void {
    let r = this.cpus.get(cpu);
    if (r === undefined) this.cpus.set(cpu, (r = new CpuRecord()));
    r.counts[vector & 0xff]++;
    r.total++;
    r.recent[r.next] = vector;
    r.next = (r.next + 1) % HANDLED_HISTORY;
  }

  /** The most recent vectors on `cpu` (at most HANDLED_HISTORY), oldest first. */
  recent(cpu: number): number[] {
    const r = this.cpus.get(cpu);
    if (r === undefined) return [];
    if (r.total < HANDLED_HISTORY) return Array.from(r.recent.subarray(0, r.total));
    return [...r.recent.subarray(r.next), ...r.recent.subarray(0, r.next)];
  }

  /** How many interrupts ran on `cpu`, or only those with `vector`. */
  count(cpu: number, vector?: number): number {
    const r = this.cpus.get(cpu);
    if (r === undefined) return 0;
    return vector === undefined ? r.total : r.counts[vector & 0xff];
  }
}
