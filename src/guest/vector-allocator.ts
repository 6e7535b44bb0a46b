/**
 * Per-CPU interrupt vector allocation, the way Linux's x86 vector matrix hands them out
 * (arch/x86/kernel/apic/vector.c, kernel/irq/matrix.c): every CPU has its own vector space, a device interrupt
 * takes the lowest free vector of its CPU (matrix_alloc_area: the first zero bit from alloc_start), system vectors
 * are taken on every CPU at once (irq_matrix_assign_system), and when the interrupt may go to several CPUs the
 * matrix picks the one with the most vectors still available — the fewest allocated — and the lowest-numbered CPU
 * among equals (matrix_find_best_cpu).
 *
 * Linux's device range is FIRST_EXTERNAL_VECTOR + 1 (0x21; 0x20 was IRQ_MOVE_CLEANUP_VECTOR) up to
 * FIRST_SYSTEM_VECTOR − 1 (0xEB; 0xEC is LOCAL_TIMER_VECTOR). Other OS models pass their own range.
 */
import { UsageError } from '../core/errors.ts';

export const LINUX_FIRST_DEVICE_VECTOR = 0x21;
export const LINUX_LAST_DEVICE_VECTOR = 0xeb;

export class VectorAllocator {
  /** One 256-entry bitmap per CPU, created on first use (a 1024-CPU machine touches only the CPUs it targets). */
  private readonly used = new Map<number, Uint8Array>();
  /** Vectors taken on every CPU (irq_matrix_assign_system). */
  private readonly system = new Uint8Array(256);
  /** Per CPU, how many vectors of the device range it has allocated (the matrix's `allocated`). */
  private readonly counts: Uint32Array;

  constructor(
    private readonly cpuCount: number,
    readonly first = LINUX_FIRST_DEVICE_VECTOR,
    readonly last = LINUX_LAST_DEVICE_VECTOR,
  ) {
    if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0x10 || last > 0xff || first > last) {
      throw new UsageError(`vector range 0x${first.toString(16)}..0x${last.toString(16)} is not within 0x10..0xff`);
    }
    this.counts = new Uint32Array(cpuCount);
  }

  private map(cpu: number): Uint8Array {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpuCount) throw new UsageError(`vector allocation: no CPU ${cpu}`);
    let m = this.used.get(cpu);
    if (m === undefined) {
      m = new Uint8Array(256);
      this.used.set(cpu, m);
    }
    return m;
  }

  /** The lowest free vector on `cpu`, now marked used; null when the CPU's device range is exhausted. */
  allocate(cpu: number): number | null {
    const m = this.map(cpu);
    for (let v = this.first; v <= this.last; v++) {
      if (m[v] === 0 && this.system[v] === 0) {
        m[v] = 1;
        this.counts[cpu]++;
        return v;
      }
    }
    return null;
  }

  /** Take `vector` on `cpu` (a vector fixed by convention, e.g. the timer's ISA_IRQ_VECTOR(0)); false if taken. */
  claim(cpu: number, vector: number): boolean {
    const m = this.map(cpu);
    if (m[vector & 0xff] === 1 || this.system[vector & 0xff] === 1) return false;
    m[vector & 0xff] = 1;
    this.counts[cpu]++;
    return true;
  }

  /** Take `vector` on every CPU (a system vector). */
  reserveSystem(vector: number): void {
    this.system[vector & 0xff] = 1;
  }

  /** matrix_find_best_cpu: among `cpus`, the one with the fewest allocated vectors, the lowest index among equals. */
  bestCpu(cpus: readonly number[]): number {
    let best = -1;
    for (const cpu of cpus) if (best < 0 || this.counts[cpu] < this.counts[best] || (this.counts[cpu] === this.counts[best] && cpu < best)) best = cpu;
    if (best < 0) throw new UsageError('vector allocation: an empty CPU mask');
    return best;
  }

  isAllocated(cpu: number, vector: number): boolean {
    return this.map(cpu)[vector & 0xff] === 1 || this.system[vector & 0xff] === 1;
  }

  /** Vectors in use on `cpu`, ascending (system vectors included). */
  allocated(cpu: number): number[] {
    const m = this.map(cpu);
    const out: number[] = [];
    for (let v = 0; v < 256; v++) if (m[v] || this.system[v]) out.push(v);
    return out;
  }
}
