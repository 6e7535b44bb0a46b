/**
 * The machine's one event stream. Every hop an interrupt takes is a {@link TraceHop} named after QEMU's trace event
 * for that hop (`vtd_ir_remap_msi_req`, `amdvi_ir_remap_msi_req`, `ioapic_set_irq`, `apic_deliver_irq`, ...), so a
 * user can line irqpath's trace up with `qemu --trace` output. Important outcomes also get a typed event with the
 * decoded payload.
 *
 * Emission is off the hot path when nobody listens: producers test {@link EventHub.active} before building a payload.
 *
 * The emitter is eventemitter3 (typed by {@link MachineEvents}, and the same in Node and in a browser), not
 * node:events: the library below src/cli runs in a web page.
 */
import { EventEmitter } from 'eventemitter3';

export type TraceValue = number | bigint | string | boolean;

export interface TraceHop {
  /** Interrupt flow this hop belongs to (one per device write / pin assertion / IPI); 0 when none. */
  flow: number;
  /** QEMU-style trace event name. */
  name: string;
  /** Ordered arguments, rendered "name key value key value" like QEMU's log backend. */
  args: [string, TraceValue][];
  /**
   * Which machine of a two-machine system recorded it. Never set by the hub (the hot path does not know); a recorder
   * listening to both machines of a system tags the copies it keeps, so diagrams can draw host and guest apart.
   */
  machine?: 'host' | 'guest';
  /** Real time in microseconds, when the hop was read from a recorded log with timestamps (a QEMU trace); else absent. */
  ts?: number;
}

/** A fault recorded (or suppressed) by an IOMMU, with the decoded record and Linux's log line for it. */
export interface IommuFaultEvent {
  unit: 'intel-vtd' | 'amd-vi';
  /** Requester ID (BDF, or the I/O APIC's source-id). */
  sourceId: number;
  /** Intel fault reason or AMD event code. */
  code: number;
  name: string;
  /** Remapping-table index, or -1. */
  index: number;
  /** Written into a fault recording register / the event log; false when suppressed (FPD, SupIOPF, IG) or dropped on overflow. */
  recorded: boolean;
  /** Why it was not recorded, when it was not. */
  suppressedBy?: string;
  /** The line Linux's DMAR / AMD-Vi fault handler prints for this record. */
  linuxLog: string;
  /** Decoded record fields (FRCD or event-log entry). */
  record: Record<string, TraceValue>;
}

/** An interrupt accepted into a LAPIC (IRR set, or NMI/SMI/INIT/SIPI/ExtINT latched). */
export interface ApicAcceptEvent {
  flow: number;
  cpu: number;
  apicId: number;
  vector: number;
  deliveryMode: number;
  trigger: number;
}

/** A device write that missed the APIC window (or was not recognised as an interrupt) and landed in RAM. */
export interface MemoryWriteEvent {
  flow: number;
  sourceId: number;
  addr: bigint;
  data: number;
  reason: string;
}

export interface PirqEvent {
  flow: number;
  sourceId: number;
  pirq: number;
}

/** An interrupt that was lost on the way (blocked, masked, no destination, refused by an IOMMU). */
export interface InterruptLostEvent {
  flow: number;
  source: string;
  reason: string;
  /** When the addressed local APICs refused it: each one and why (software-disabled, illegal vector, ...). */
  refusals?: LapicRefusal[];
}

/** One local APIC's refusal of a message it was addressed by. */
export interface LapicRefusal {
  cpu: number;
  apicId: number;
  why: string;
}

/** An IOMMU raised its own interrupt (fault event, invalidation completion, event log); it has a flow of its own. */
export interface IommuInterruptEvent {
  flow: number;
  unit: 'intel-vtd' | 'amd-vi';
  dest: number;
  vector: number;
}

export type MachineEvents = {
  hop: (hop: TraceHop) => void;
  apic_accept: (event: ApicAcceptEvent) => void;
  iommu_fault: (event: IommuFaultEvent) => void;
  memory_write: (event: MemoryWriteEvent) => void;
  xen_pirq: (event: PirqEvent) => void;
  interrupt_lost: (event: InterruptLostEvent) => void;
  iommu_interrupt: (event: IommuInterruptEvent) => void;
};

type EventName = keyof MachineEvents;
type Listener<T extends EventName> = EventEmitter.EventListener<MachineEvents, T>;

export class EventHub extends EventEmitter<MachineEvents> {
  /** True while anybody listens or records: producers build payloads only then. */
  active = false;
  /**
   * True while anybody listens to hops (or records): a hot producer that emits typed events for listeners of its
   * outcome (a scenario run collecting deliveries and faults) checks this before building a hop's arguments, so a
   * machine booting thousands of CPUs under such a listener does not build a trace nobody reads.
   */
  tracing = false;
  private recorders = 0;
  private flowCounter = 0;
  /** Flow id of the interrupt being processed now (set by the source that started it). */
  currentFlow = 0;

  // eventemitter3 has no 'newListener'/'removeListener' events, so every way in or out of the listener list goes
  // through these overrides and recomputes `active`. `off` and `addListener` are separate properties in
  // eventemitter3 (aliases assigned on its prototype), hence overridden too; a `once` listener that fires is removed
  // through `removeListener`.
  override on<T extends EventName>(event: T, fn: Listener<T>, context?: unknown): this {
    super.on(event, fn, context);
    return this.recount();
  }

  override addListener<T extends EventName>(event: T, fn: Listener<T>, context?: unknown): this {
    return this.on(event, fn, context);
  }

  override once<T extends EventName>(event: T, fn: Listener<T>, context?: unknown): this {
    super.once(event, fn, context);
    return this.recount();
  }

  override removeListener<T extends EventName>(event: T, fn?: Listener<T>, context?: unknown, once?: boolean): this {
    super.removeListener(event, fn, context, once);
    return this.recount();
  }

  override off<T extends EventName>(event: T, fn?: Listener<T>, context?: unknown, once?: boolean): this {
    return this.removeListener(event, fn, context, once);
  }

  override removeAllListeners(event?: EventName): this {
    super.removeAllListeners(event);
    return this.recount();
  }

  private recount(): this {
    this.active = this.recorders > 0 || this.eventNames().length > 0;
    this.tracing = this.recorders > 0 || this.listenerCount('hop') > 0;
    return this;
  }

  /** A flow begun by a source (a device signal, a pin change) that the bus should continue rather than replace. */
  private flowOpen = false;

  /** Start a new interrupt flow and make it current; returns its id. Cheap: only a counter. */
  beginFlow(): number {
    this.currentFlow = ++this.flowCounter;
    this.flowOpen = true;
    return this.currentFlow;
  }

  /** Called by the bus for each message: continue the flow a source opened, or begin a new one. */
  continueFlow(): number {
    if (this.flowOpen) {
      this.flowOpen = false;
      return this.currentFlow;
    }
    this.currentFlow = ++this.flowCounter;
    return this.currentFlow;
  }

  /** Emit a hop for the current flow. Call only when {@link active} is true; nothing happens unless {@link tracing}. */
  hop(name: string, args: [string, TraceValue][]): void {
    if (this.tracing) this.emit('hop', { flow: this.currentFlow, name, args });
  }

  /**
   * Run `fn` as an interrupt flow of its own — an IOMMU's own interrupt raised while it handles another — and then
   * return to the flow that was current. Returns the nested flow's id.
   */
  nestedFlow(fn: (flow: number) => void): number {
    const savedFlow = this.currentFlow;
    const savedOpen = this.flowOpen;
    const flow = ++this.flowCounter;
    this.currentFlow = flow;
    this.flowOpen = false;
    try {
      fn(flow);
    } finally {
      this.currentFlow = savedFlow;
      this.flowOpen = savedOpen;
    }
    return flow;
  }

  addRecorder(): void {
    this.recorders++;
    this.active = true;
    this.tracing = true;
  }

  removeRecorder(): void {
    this.recorders = Math.max(0, this.recorders - 1);
    this.recount();
  }
}
