/**
 * Per-CPU interrupt vector allocation, the way Linux's x86 vector matrix hands them out (kernel/irq/matrix.c, used
 * by arch/x86/kernel/apic/vector.c): every CPU has its own vector space and a count of the vectors still
 * `available` on it.
 * - matrix_alloc_area: a device interrupt takes the lowest vector from alloc_start that is neither allocated, nor a
 *   system vector, nor reserved for a managed interrupt on that CPU.
 * - matrix_find_best_cpu (irq_matrix_alloc): when the interrupt may go to several CPUs, the online CPU with the most
 *   vectors available, the lowest-numbered among equals.
 * - Managed interrupts (a queue's interrupt with its own CPU mask): irq_matrix_reserve_managed takes one vector on
 *   every CPU of the mask when the interrupt is allocated (each counts as no longer available);
 *   irq_matrix_alloc_managed, when it is activated, picks the CPU of the mask with the fewest managed vectors in use
 *   (matrix_find_best_cpu_managed: the last such CPU, as its `>` comparison keeps replacing on equals) and hands out
 *   that CPU's lowest reserved vector.
 * - irq_matrix_assign: a preallocated vector (the timer's ISA_IRQ_VECTOR(0)); irq_matrix_assign_system: a vector
 *   taken on every CPU; irq_matrix_free: a vector given back (a managed one stays reserved).
 *
 * Linux's device range is FIRST_EXTERNAL_VECTOR + 1 (0x21; 0x20 is IRQ_MOVE_CLEANUP_VECTOR, a system vector in 6.1)
 * up to FIRST_SYSTEM_VECTOR − 1 (0xEB; 0xEC is LOCAL_TIMER_VECTOR). Other OS models pass their own range. The
 * per-CPU bitmaps are created on first use, so a 32768-CPU machine touches only the CPUs it targets; counts are one
 * typed array each.
 */
import { UsageError } from '../core/errors.ts';

export const LINUX_FIRST_DEVICE_VECTOR = 0x21;
export const LINUX_LAST_DEVICE_VECTOR = 0xeb;

/** One bit per vector in a CPU's map: allocated (alloc_map) or reserved for a managed interrupt (managed_map). */
const ALLOCATED = 1;
const MANAGED = 2;

export class VectorAllocator {
  /** One 256-entry map per CPU (ALLOCATED | MANAGED bits), created on first use. */
  private readonly maps = new Map<number, Uint8Array>();
  /** Vectors taken on every CPU (irq_matrix_assign_system). */
  private readonly system = new Uint8Array(256);
  /** Per CPU, vectors taken: allocated ones plus managed reservations (the matrix's alloc_size − available). */
  private readonly taken: Uint32Array;
  /** Per CPU, managed vectors in use (managed_allocated). */
  private readonly managedInUse: Uint32Array;

  constructor(
    private readonly cpuCount: number,
    readonly first = LINUX_FIRST_DEVICE_VECTOR,
    readonly last = LINUX_LAST_DEVICE_VECTOR,
  ) {
    if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0x10 || last > 0xff || first > last) {
      throw new UsageError(`vector range 0x${first.toString(16)}..0x${last.toString(16)} is not within 0x10..0xff`);
    }
    this.taken = new Uint32Array(cpuCount);
    this.managedInUse = new Uint32Array(cpuCount);
  }

  private map(cpu: number): Uint8Array {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpuCount) throw new UsageError(`vector allocation: no CPU ${cpu}`);
    let m = this.maps.get(cpu);
    if (m === undefined) {
      m = new Uint8Array(256);
      this.maps.set(cpu, m);
    }
    return m;
  }

  /** matrix_alloc_area: the lowest vector of the range free of every kind of use on this map, or -1. */
  private lowestFree(m: Uint8Array): number {
    for (let v = this.first; v <= this.last; v++) if (m[v] === 0 && this.system[v] === 0) return v;
    return -1;
  }

  /** The lowest free vector on `cpu`, now allocated; null when the CPU's device range is exhausted. */
  allocate(cpu: number): number | null {
    const m = this.map(cpu);
    const v = this.lowestFree(m);
    if (v < 0) return null;
    m[v] = ALLOCATED;
    this.taken[cpu]++;
    return v;
  }

  /** irq_matrix_assign: take `vector` on `cpu` (a vector fixed by convention, e.g. the timer's ISA_IRQ_VECTOR(0)); false if taken. */
  claim(cpu: number, vector: number): boolean {
    const m = this.map(cpu);
    if (m[vector & 0xff] !== 0 || this.system[vector & 0xff] === 1) return false;
    m[vector & 0xff] = ALLOCATED;
    this.taken[cpu]++;
    return true;
  }

  /** irq_matrix_free: `vector` on `cpu` is given back; a managed vector stays reserved for its interrupt. */
  free(cpu: number, vector: number): void {
    const m = this.map(cpu);
    const bits = m[vector & 0xff];
    if ((bits & ALLOCATED) === 0) throw new UsageError(`vector allocation: 0x${vector.toString(16)} is not allocated on CPU ${cpu}`);
    m[vector & 0xff] = bits & ~ALLOCATED;
    if (bits & MANAGED) this.managedInUse[cpu]--;
    else this.taken[cpu]--;
  }

  /** Take `vector` on every CPU (a system vector). */
  reserveSystem(vector: number): void {
    this.system[vector & 0xff] = 1;
  }

  /** matrix_find_best_cpu: among `cpus` (online), the one with the most vectors available, the lowest index among equals. */
  bestCpu(cpus: readonly number[]): number {
    let best = -1;
    for (const cpu of cpus) if (best < 0 || this.taken[cpu] < this.taken[best]) best = cpu;
    if (best < 0) throw new UsageError('vector allocation: an empty CPU mask');
    return best;
  }

  /**
   * irq_matrix_reserve_managed: one vector reserved on every CPU of `cpus` for a managed interrupt (the lowest free
   * one of each). False, with nothing reserved, when a CPU has none left.
   */
  reserveManaged(cpus: readonly number[]): boolean {
    const got: [number, number][] = [];
    for (const cpu of cpus) {
      const m = this.map(cpu);
      const v = this.lowestFree(m);
      if (v < 0) {
        for (const [c, w] of got) this.unreserveManaged(c, w);
        return false;
      }
      m[v] = MANAGED;
      this.taken[cpu]++;
      got.push([cpu, v]);
    }
    return true;
  }

  private unreserveManaged(cpu: number, vector: number): void {
    this.map(cpu)[vector] = 0;
    this.taken[cpu]--;
  }

  /**
   * irq_matrix_alloc_managed: among `cpus` (online, each holding a reservation), the CPU with the fewest managed
   * vectors in use — the last of equals (matrix_find_best_cpu_managed) — and its lowest reserved, unallocated vector.
   */
  allocateManaged(cpus: readonly number[]): { cpu: number; vector: number } | null {
    let best = -1;
    for (const cpu of cpus) if (best < 0 || this.managedInUse[cpu] <= this.managedInUse[best]) best = cpu;
    if (best < 0) return null;
    const m = this.map(best);
    for (let v = this.first; v <= this.last; v++) {
      if (m[v] === MANAGED) {
        m[v] = MANAGED | ALLOCATED;
        this.managedInUse[best]++;
        return { cpu: best, vector: v };
      }
    }
    return null;
  }

  isAllocated(cpu: number, vector: number): boolean {
    return (this.map(cpu)[vector & 0xff] & ALLOCATED) !== 0 || this.system[vector & 0xff] === 1;
  }

  /** Vectors in use on `cpu`, ascending (system vectors included; managed reservations not yet in use excluded). */
  allocated(cpu: number): number[] {
    const m = this.map(cpu);
    const out: number[] = [];
    for (let v = 0; v < 256; v++) if (m[v] & ALLOCATED || this.system[v]) out.push(v);
    return out;
  }
}
