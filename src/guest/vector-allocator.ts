/**
 * Per-CPU interrupt vector allocation, the way Linux's x86 vector matrix hands them out
 * (arch/x86/kernel/apic/vector.c, kernel/irq/matrix.c): every CPU has its own vector space, a device interrupt
 * takes the lowest free vector of the CPU it is affine to, and the system vectors at the top stay reserved.
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

  constructor(
    private readonly cpuCount: number,
    readonly first = LINUX_FIRST_DEVICE_VECTOR,
    readonly last = LINUX_LAST_DEVICE_VECTOR,
  ) {
    if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0x10 || last > 0xff || first > last) {
      throw new UsageError(`vector range 0x${first.toString(16)}..0x${last.toString(16)} is not within 0x10..0xff`);
    }
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
      if (m[v] === 0) {
        m[v] = 1;
        return v;
      }
    }
    return null;
  }

  isAllocated(cpu: number, vector: number): boolean {
    return this.map(cpu)[vector & 0xff] === 1;
  }

  /** Vectors in use on `cpu`, ascending. */
  allocated(cpu: number): number[] {
    const m = this.map(cpu);
    const out: number[] = [];
    for (let v = 0; v < 256; v++) if (m[v]) out.push(v);
    return out;
  }
}
