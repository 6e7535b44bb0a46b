/**
 * A guest vCPU as the VMM schedules it. vCPU i runs on host CPU (i mod host CPUs) — a fixed pinning, as a VMM
 * engineer reproducing a bug would set with `taskset`/`vcpupin`. `running = false` deschedules it (it blocks in
 * HLT: KVM arms the wake-up vector); `running = true` resumes it, delivering whatever was posted meanwhile.
 */
import { UsageError } from '../core/errors.ts';
import type { PostedDescriptor } from './posted-descriptor.ts';

export interface VcpuScheduler {
  setRunning(vcpu: Vcpu, running: boolean): void;
}

export class Vcpu {
  /** Wake-ups KVM's wake-up handler performed for this vCPU (posted interrupts while it was descheduled). */
  wakeups = 0;
  /** @internal current state; use {@link running}. */
  isRunning = true;
  /** AMD host with posting: this vCPU's AVIC vAPIC backing page in host memory (null otherwise). */
  backingPage: number | null = null;
  /** @internal set by the VMM: moves PIR bits into this vCPU's IRR (allocated once, reused on the hot path). */
  deliverPosted: (vector: number) => void = () => {};

  constructor(
    readonly index: number,
    readonly hostCpu: number,
    readonly hostApicId: number,
    /** This vCPU's posted-interrupt descriptor in host memory, or null when posting is off. */
    readonly descriptor: PostedDescriptor | null,
    private readonly scheduler: VcpuScheduler,
  ) {}

  get running(): boolean {
    return this.isRunning;
  }

  set running(value: boolean) {
    if (typeof value !== 'boolean') throw new UsageError(`vcpu(${this.index}).running must be true or false`);
    this.scheduler.setRunning(this, value);
  }
}
