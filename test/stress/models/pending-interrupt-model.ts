/**
 * An oracle of edge-triggered interrupts pending at CPUs, from the Intel SDM (§10.8.4 "Interrupt Acceptance for Fixed
 * Interrupts", §10.8.3.1 "Task and Processor Priorities"): an interrupt fired at a CPU is pending there until the
 * CPU acknowledges it; a second one of the same vector while the first is pending is the same request (one IRR bit:
 * edge interrupts coalesce); the CPU acknowledges the highest pending vector first (nothing in service, TPR 0 — the
 * tests EOI each interrupt as they take it). It knows nothing of where the machine keeps a pending interrupt (IRR,
 * a posted descriptor's PIR, a Remote IRR): the tests ask the machine and compare. Imports nothing from src/.
 */
export class PendingInterruptModel {
  /** Per CPU: each pending vector and how many times it was fired since it became pending (≥ 2: coalesced). */
  private readonly pending: Map<number, number>[];
  private readonly fired = new Set<number>();
  /** What the sequences reached (for the test's coverage check). */
  readonly seen = new Map<string, number>();

  constructor(cpus: number) {
    this.pending = Array.from({ length: cpus }, () => new Map<number, number>());
  }

  saw(what: string): void {
    this.seen.set(what, (this.seen.get(what) ?? 0) + 1);
  }

  fire(cpu: number, vector: number): void {
    this.fired.add(vector);
    const times = this.pending[cpu].get(vector) ?? 0;
    this.saw(times > 0 ? 'coalesced' : 'fired');
    this.pending[cpu].set(vector, times + 1);
  }

  isPending(cpu: number, vector: number): boolean {
    return this.pending[cpu].has(vector);
  }

  /** How many times `vector` was fired at `cpu` since it became pending (0: not pending). */
  timesFired(cpu: number, vector: number): number {
    return this.pending[cpu].get(vector) ?? 0;
  }

  anyPending(cpu: number): boolean {
    return this.pending[cpu].size > 0;
  }

  /** The vector the CPU's next acknowledge returns, or null when nothing is pending. */
  highestPending(cpu: number): number | null {
    let best: number | null = null;
    for (const v of this.pending[cpu].keys()) if (best === null || v > best) best = v;
    return best;
  }

  handle(cpu: number, vector: number): void {
    this.pending[cpu].delete(vector);
  }

  vectorsEverFired(): Iterable<number> {
    return this.fired;
  }
}
