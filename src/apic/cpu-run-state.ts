/**
 * What a LAPIC hands its CPU outside the IRR: the INIT / start-up (SIPI) run state and the NMI, SMI and ExtINT
 * latches (SDM 8.4 MP initialisation, 10.4.7.3 "wait-for-SIPI", 6.7.1 NMI handling). The CPU itself is not
 * modelled; a scenario or test consumes the latches with the take* methods.
 */
import { UsageError } from '../core/errors.ts';

export type RunState = 'running' | 'wait-for-sipi';

export interface CpuRunStateSnapshot {
  runState: RunState;
  startupVector: number | null;
  nmiPending: boolean;
  smiPending: boolean;
  extIntPending: boolean;
  nmiReceived: number;
  smiReceived: number;
  initReceived: number;
  sipiReceived: number;
  extIntReceived: number;
}

const RUN_STATE_KEYS: ReadonlySet<string> = new Set([
  'runState', 'startupVector', 'nmiPending', 'smiPending', 'extIntPending',
  'nmiReceived', 'smiReceived', 'initReceived', 'sipiReceived', 'extIntReceived',
]);

export class CpuRunState {
  runState: RunState;
  /** Vector of the SIPI that started this CPU (it began executing at vector << 12), or null. */
  startupVector: number | null = null;
  /**
   * The NMI latch holds at most one pending NMI: NMIs arriving while one is pending are merged into it
   * (kvm-unit-tests test_pending_nmi: ten NMIs sent from an NMI handler give two handler runs in total).
   */
  nmiPending = false;
  smiPending = false;
  /** An ExtINT was accepted; the CPU takes its vector from the 8259 pair's INTA cycle (Cpu.acknowledgeExtInt). */
  extIntPending = false;
  nmiReceived = 0;
  smiReceived = 0;
  initReceived = 0;
  sipiReceived = 0;
  extIntReceived = 0;

  constructor(isBsp: boolean) {
    // Power-up: the BSP runs the BIOS, every AP waits for a SIPI (SDM 8.4.1).
    this.runState = isBsp ? 'running' : 'wait-for-sipi';
  }

  latchNmi(): void {
    this.nmiReceived++;
    this.nmiPending = true;
  }

  latchSmi(): void {
    this.smiReceived++;
    this.smiPending = true;
  }

  latchExtInt(): void {
    this.extIntReceived++;
    this.extIntPending = true;
  }

  /**
   * INIT: the processor resets, pending events are dropped (KVM kvm_vcpu_reset clears pending NMI/SMI). An AP enters
   * wait-for-SIPI; the BSP restarts at the reset vector instead (SDM 8.4; KVM kvm_apic_accept_events).
   */
  init(isBsp: boolean): void {
    this.initReceived++;
    this.nmiPending = false;
    this.smiPending = false;
    this.extIntPending = false;
    this.startupVector = null;
    this.runState = isBsp ? 'running' : 'wait-for-sipi';
  }

  /** SIPI: only a CPU in wait-for-SIPI starts (at vector << 12); otherwise the SIPI is ignored (SDM 8.4.4.1). */
  startup(vector: number): boolean {
    this.sipiReceived++;
    if (this.runState !== 'wait-for-sipi') return false;
    this.runState = 'running';
    this.startupVector = vector;
    return true;
  }

  /** Consume the pending NMI (the CPU starts its NMI handler); false when none was pending. */
  takeNmi(): boolean {
    const was = this.nmiPending;
    this.nmiPending = false;
    return was;
  }

  takeSmi(): boolean {
    const was = this.smiPending;
    this.smiPending = false;
    return was;
  }

  takeExtInt(): boolean {
    const was = this.extIntPending;
    this.extIntPending = false;
    return was;
  }

  save(): CpuRunStateSnapshot {
    return {
      runState: this.runState,
      startupVector: this.startupVector,
      nmiPending: this.nmiPending,
      smiPending: this.smiPending,
      extIntPending: this.extIntPending,
      nmiReceived: this.nmiReceived,
      smiReceived: this.smiReceived,
      initReceived: this.initReceived,
      sipiReceived: this.sipiReceived,
      extIntReceived: this.extIntReceived,
    };
  }

  /** True when {@link save} would return a state equal to `s` (compared field by field, nothing allocated). */
  matches(s: CpuRunStateSnapshot): boolean {
    return (
      this.runState === s.runState && this.startupVector === s.startupVector && this.nmiPending === s.nmiPending &&
      this.smiPending === s.smiPending && this.extIntPending === s.extIntPending && this.nmiReceived === s.nmiReceived &&
      this.smiReceived === s.smiReceived && this.initReceived === s.initReceived && this.sipiReceived === s.sipiReceived &&
      this.extIntReceived === s.extIntReceived
    );
  }

  /** Throws {@link UsageError} naming the bad field, before changing anything. */
  static validate(state: unknown, where: string): CpuRunStateSnapshot {
    if (typeof state !== 'object' || state === null) throw new UsageError(`${where}: expected an object`);
    const s = state as Record<string, unknown>;
    for (const key of Object.keys(s)) if (!RUN_STATE_KEYS.has(key)) throw new UsageError(`${where}.${key}: no such field in a CPU run state`);
    if (s.runState !== 'running' && s.runState !== 'wait-for-sipi') {
      throw new UsageError(`${where}.runState: expected 'running' or 'wait-for-sipi', got ${JSON.stringify(s.runState)}`);
    }
    if (s.startupVector !== null && !isIntInRange(s.startupVector, 0, 0xff)) {
      throw new UsageError(`${where}.startupVector: expected null or an integer 0..255`);
    }
    for (const key of ['nmiPending', 'smiPending', 'extIntPending'] as const) {
      if (typeof s[key] !== 'boolean') throw new UsageError(`${where}.${key}: expected a boolean`);
    }
    for (const key of ['nmiReceived', 'smiReceived', 'initReceived', 'sipiReceived', 'extIntReceived'] as const) {
      if (!isIntInRange(s[key], 0, Number.MAX_SAFE_INTEGER)) {
        throw new UsageError(`${where}.${key}: expected a non-negative integer`);
      }
    }
    return s as unknown as CpuRunStateSnapshot;
  }

  /** Apply an already validated snapshot. */
  load(s: CpuRunStateSnapshot): void {
    this.runState = s.runState;
    this.startupVector = s.startupVector;
    this.nmiPending = s.nmiPending;
    this.smiPending = s.smiPending;
    this.extIntPending = s.extIntPending;
    this.nmiReceived = s.nmiReceived;
    this.smiReceived = s.smiReceived;
    this.initReceived = s.initReceived;
    this.sipiReceived = s.sipiReceived;
    this.extIntReceived = s.extIntReceived;
  }
}

export function isIntInRange(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}
