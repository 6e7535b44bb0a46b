/**
 * A guest vCPU as the host scheduler and KVM see it. vCPU i starts on host CPU (i mod host CPUs), running. It can be
 * - `running` on its host CPU (in guest mode: posted interrupts are processed by the CPU, no VM exit);
 * - `preempted`: runnable but scheduled out (KVM's vmx_vcpu_pi_put with the vCPU not blocking: SN = 1, so the IOMMU
 *   posts into PIR without notifying anyone; AMD: IsRun = 0);
 * - `blocked` in HLT (pi_enable_wakeup_handler: NV = the wake-up vector, so a posted interrupt wakes it; AMD:
 *   IsRun = 0 and the GA log wakes it);
 * and it can be moved to another host CPU (`moveTo`), which takes effect where KVM would: at once for a running vCPU
 * (vmx_vcpu_pi_load on the new CPU: NDST = its APIC ID), at the next load for one that is not running.
 */
import { UsageError } from '../core/errors.ts';
import type { PostedDescriptor } from './posted-descriptor.ts';

export type VcpuState = 'running' | 'preempted' | 'blocked';
const STATES: readonly VcpuState[] = ['running', 'preempted', 'blocked'];

export interface VcpuScheduler {
  schedule(vcpu: Vcpu, state: VcpuState, hostCpu: number): void;
  readonly hostCpuCount: number;
  /** False for a host CPU taken offline (CPU hotplug). */
  hostCpuOnline(cpu: number): boolean;
}

export class Vcpu {
  /** Wake-ups KVM's wake-up handler performed for this vCPU (posted interrupts while it was blocked). */
  wakeups = 0;
  /** @internal current state; use {@link state}. */
  current: VcpuState = 'running';
  /** @internal the host CPU it runs on (or last ran on); use {@link moveTo}. */
  hostCpu: number;
  /** @internal that CPU's APIC ID. */
  hostApicId: number;
  /** Host CPU it will run on at its next load (differs from hostCpu only while it is not running). */
  nextHostCpu: number;
  /** AMD host with posting: this vCPU's AVIC vAPIC backing page in host memory (null otherwise). */
  backingPage: number | null = null;
  /** @internal set by the VMM: moves PIR bits into this vCPU's IRR (allocated once, reused on the hot path). */
  deliverPosted: (vector: number) => void = () => {};

  constructor(
    readonly index: number,
    hostCpu: number,
    hostApicId: number,
    /** This vCPU's posted-interrupt descriptor in host memory, or null when posting is off. */
    readonly descriptor: PostedDescriptor | null,
    private readonly scheduler: VcpuScheduler,
  ) {
    this.hostCpu = hostCpu;
    this.nextHostCpu = hostCpu;
    this.hostApicId = hostApicId;
  }

  /** @internal */
  get isRunning(): boolean {
    return this.current === 'running';
  }

  get state(): VcpuState {
    return this.current;
  }

  set state(value: VcpuState) {
    if (!STATES.includes(value)) throw new UsageError(`vcpu(${this.index}).state must be one of ${STATES.join(', ')}, got ${JSON.stringify(value)}`);
    this.scheduler.schedule(this, value, this.nextHostCpu);
  }

  /** True while running. Setting false blocks the vCPU (HLT); true runs it. */
  get running(): boolean {
    return this.current === 'running';
  }

  set running(value: boolean) {
    if (typeof value !== 'boolean') throw new UsageError(`vcpu(${this.index}).running must be true or false`);
    this.state = value ? 'running' : 'blocked';
  }

  /** The host CPU the vCPU runs on now, or will run on at its next load. */
  get hostCpuIndex(): number {
    return this.nextHostCpu;
  }

  /** The host scheduler moves the vCPU to host CPU `hostCpu` (`taskset`, load balancing). */
  moveTo(hostCpu: number): void {
    if (!Number.isInteger(hostCpu) || hostCpu < 0 || hostCpu >= this.scheduler.hostCpuCount) {
      throw new UsageError(`vcpu(${this.index}).moveTo(${String(hostCpu)}): the host has CPUs 0..${this.scheduler.hostCpuCount - 1}`);
    }
    if (!this.scheduler.hostCpuOnline(hostCpu)) throw new UsageError(`vcpu(${this.index}).moveTo(${hostCpu}): host CPU ${hostCpu} is offline`);
    this.scheduler.schedule(this, this.current, hostCpu);
  }
}
