/**
 * The APIC bus: takes a decoded interrupt ({@link ApicMessage}) from an MSI, an I/O APIC, an IOMMU's own interrupt
 * or a LAPIC's ICR, finds the addressed LAPICs through the destination index, and has them accept it.
 *
 * Choices made here (SDM 10.6; the full destination rules are in destination-match.ts):
 * - An 8-bit destination aimed at an x2APIC-mode LAPIC: physical matches dest == x2APIC ID, so 0xFF reaches APIC
 *   255 and is no broadcast for x2APIC-mode CPUs (QEMU TCG; KVM with its broadcast quirk disabled, as QEMU sets it).
 *   Logical is read as x2APIC cluster 0 with mask = dest (QEMU TCG; kvm-unit-tests ioapic logical test). What
 *   hardware does without interrupt remapping is [UNCONFIRMED] in the reference. KVM's default broadcast quirk
 *   (0xFF from an MSI/IOAPIC = broadcast to x2APIC CPUs) is not modelled.
 * - A 32-bit destination aimed at an xAPIC-mode LAPIC matches its xAPIC ID only when dest < 0x100. KVM's comment
 *   says hardware would alias dest & 0xFF for larger IDs; that is [UNCONFIRMED] and not modelled.
 * - xAPIC cluster 0xF is an ordinary cluster (KVM); only 0xFF is a broadcast. QEMU treats 0xF as all clusters.
 * - Software-disabled (SVR bit 8 = 0) and hardware-disabled LAPICs refuse Fixed, LowestPriority and ExtINT; a
 *   hardware-enabled, software-disabled LAPIC still takes NMI, SMI, INIT and SIPI (SDM 10.4.7.2).
 * - LowestPriority (and a Fixed MSI with RH = 1 and logical destination, which SDM 10.11.1 makes redirectable, as
 *   KVM kvm_lowest_prio_delivery does) goes to one CPU chosen by the configured policy (lowest-priority.ts).
 *   A physical broadcast with LowestPriority is delivered as Fixed to all, as KVM does ("apic: phys broadcast and
 *   lowest prio"); the SDM says it is not supported.
 * - Fixed/LowestPriority with level trigger and level 0 (a de-assert) is dropped (KVM __apic_accept_irq).
 *   INIT level de-assert (level 0, trigger level) does nothing (KVM drops it, QEMU treats it as an arbitration-ID
 *   sync). RemoteRead is not supported (KVM and QEMU) and is dropped.
 * - ICR sends with a Fixed/LowestPriority vector below 16 set Send Illegal Vector in the sender's ESR and put
 *   nothing on the bus (the SDM names the error but not whether the message still goes out). Receivers of such a
 *   vector from other sources set Receive Illegal Vector and refuse it.
 * - Shorthands: self / all including self / all excluding self ignore the destination; LowestPriority with a
 *   shorthand arbitrates among the addressed CPUs.
 *
 * Hot path: deliver() allocates nothing. Physical destinations are resolved in O(1) in the CPU count; an addressing
 * change on one CPU updates the index for that CPU only (destination-index.ts); a scratch buffer per nesting level (an EOI broadcast or a listener may deliver again) holds the addressed CPUs.
 */
import { DELIVERY_MODE_NAMES, DeliveryMode, DestMode, hex, type ApicMessage } from '../msi/interrupt.ts';
import { ConfigError, showValue, UsageError } from '../core/errors.ts';
import type { EventHub, LapicRefusal } from '../core/events.ts';
import { DestinationIndex, type IndexRebuilds } from './destination-index.ts';
import { matchesWithShorthand } from './destination-match.ts';
import { applyLapicState, freezeLapicState, validateLapicState, type LapicState, type ValidatedLapicState } from './lapic-state.ts';
import { LAPIC_REGISTER_WORDS, Lapic, type LapicSinks } from './lapic.ts';
import { LOWEST_PRIORITY_POLICIES, chooseLowestPriority, type LowestPriorityPolicy } from './lowest-priority.ts';
import { LVT_MASKED, Shorthand } from './registers.ts';
import { SimClock } from '../core/sim-clock.ts';
import { formatBdf } from '../core/bdf.ts';
import type { LapicTiming } from './lapic-timer.ts';

export interface ApicBusOptions {
  /** APIC ID of each CPU (index = CPU index; CPU 0 is the BSP). Unique, 0..0xFFFFFFFE. */
  apicIds: number[];
  lowestPriority: LowestPriorityPolicy;
  events: EventHub;
  /** Where a LAPIC's EOI of a level-triggered vector goes (the I/O APICs). */
  eoiBroadcast: (vector: number) => void;
  /** The machine's clock and the timer rates (default: a clock of its own, 1 ns bus cycle, 1 GHz TSC). */
  timing?: LapicTiming;
}

/** LVT LINT0 / LINT1 register offsets in a LAPIC's LVT words. */
const LVT_LINT0 = 3;

export const APIC_BUS_STATE_VERSION = 1;

/** LAPIC states a bus saved and froze: known valid for their CPU (their fields cannot have changed since). */
const SAVED_BY_A_BUS = new WeakSet<object>();

export interface ApicBusState {
  version: number;
  lapics: LapicState[];
}

export class ApicBus {
  /**
   * Told after a LAPIC's APIC ID, LDR, DFR or mode changed and the destination index followed — the hook a
   * hypervisor's own APIC map hangs on (KVM kvm_recalculate_apic_map). Not part of the hardware; null by default.
   */
  addressingListener: ((cpu: number) => void) | null = null;
  readonly lapics: readonly Lapic[];
  /** The state each LAPIC gave at its last {@link saveStates}, while it still holds it (undefined once changed). */
  private readonly savedStates: (Readonly<LapicState> | undefined)[] = [];
  readonly lowestPriority: LowestPriorityPolicy;
  private readonly events: EventHub;
  private readonly eoiBroadcastSink: (vector: number) => void;
  private readonly index: DestinationIndex;
  private readonly scratch: Int32Array[] = [];
  private depth = 0;
  /** How a lost message's requester is named (the machine names its I/O APIC and HPET, see Machine). */
  nameOf: (requester: number) => string = formatBdf;
  readonly timing: LapicTiming;
  /**
   * The two LINT wires every LAPIC's LINT0/LINT1 pins hang on (MP spec 3.6.2.2, virtual-wire mode: the 8259's INTR on
   * LINT0, NMI on LINT1), and the LAPICs whose entry for that pin is unmasked: a wire change visits those only.
   */
  private readonly lintLevels = [false, false];
  private readonly lintListeners: Lapic[][] = [[], []];

  constructor(options: ApicBusOptions) {
    const { apicIds } = options;
    if (!Array.isArray(apicIds) || apicIds.length === 0) throw new ConfigError('apicIds', 'expected at least one APIC ID');
    const seen = new Set<number>();
    apicIds.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) {
        throw new ConfigError(`apicIds[${i}]`, `APIC ID ${id} is not an integer in 0..0xFFFFFFFE (0xFFFFFFFF is the broadcast)`);
      }
      if (seen.has(id)) throw new ConfigError(`apicIds[${i}]`, `APIC ID ${id} is used by two CPUs`);
      seen.add(id);
    });
    if (!LOWEST_PRIORITY_POLICIES.includes(options.lowestPriority)) {
      throw new ConfigError('lowestPriority', `expected one of ${LOWEST_PRIORITY_POLICIES.join(', ')}, got ${JSON.stringify(options.lowestPriority)}`);
    }
    this.lowestPriority = options.lowestPriority;
    this.events = options.events;
    this.eoiBroadcastSink = options.eoiBroadcast;
    const sinks: LapicSinks = {
      sendIpi: (source, msg, shorthand) => {
        this.dispatch(msg, shorthand, source, -1);
      },
      eoiBroadcast: (vector) => this.eoiBroadcastSink(vector),
      addressingChanged: (lapic) => {
        this.index.update(lapic.cpu);
        this.addressingListener?.(lapic.cpu);
      },
      lintWatch: (lapic, pin) => this.lintWatch(lapic, pin),
      localDeliver: (lapic, lvtIndex, deliveryMode) => {
        if (this.events.active) this.events.hop('apic_local_deliver', [['vector', lvtIndex], ['lvt', deliveryMode]]);
      },
      localAccept: (lapic, vector, trigger) => {
        const hub = this.events;
        if (!hub.active) return;
        hub.hop('irqpath_apic_accept', [['cpu', lapic.cpu], ['apic', lapic.physicalId], ['vector', vector], ['delivery_mode', DeliveryMode.Fixed]]);
        hub.emit('apic_accept', { flow: hub.currentFlow, cpu: lapic.cpu, apicId: lapic.physicalId, vector, deliveryMode: DeliveryMode.Fixed, trigger });
      },
      get timing() {
        return timing;
      },
    };
    const timing: LapicTiming = options.timing ?? { clock: new SimClock(), busCycleNs: 1, tscHz: 1_000_000_000 };
    this.timing = timing;
    const lapics = new Array<Lapic>(apicIds.length);
    // One buffer for every LAPIC's LVT/IRR/ISR/TMR words (see Lapic's storage parameter).
    const registers = new Uint32Array(apicIds.length * LAPIC_REGISTER_WORDS);
    for (let cpu = 0; cpu < apicIds.length; cpu++) lapics[cpu] = new Lapic(cpu, apicIds[cpu], sinks, registers, cpu * LAPIC_REGISTER_WORDS);
    this.lapics = lapics;
    this.index = new DestinationIndex(lapics);
  }

  /** Drive LINT wire `pin` (0 or 1) of every LAPIC; only LAPICs whose LVT entry for it is unmasked see it. */
  setLint(pin: number, level: boolean): void {
    if (pin !== 0 && pin !== 1) throw new UsageError(`setLint: LINT${showValue(pin)} does not exist (LINT0 or LINT1)`);
    if (typeof level !== 'boolean') throw new UsageError(`setLint: level must be true or false, got ${showValue(level)}`);
    if (this.lintLevels[pin] === level) return;
    this.lintLevels[pin] = level;
    const listeners = this.lintListeners[pin];
    for (let i = 0; i < listeners.length; i++) listeners[i].setLint(pin, level);
  }

  /** The level of LINT wire `pin`. */
  lintLevel(pin: 0 | 1): boolean {
    return this.lintLevels[pin];
  }

  /** Set a LINT wire's level without telling anybody (a snapshot restore: the LAPICs hold their own view). */
  restoreLintLevel(pin: 0 | 1, level: boolean): void {
    this.lintLevels[pin] = level;
  }

  /** `sync` false: only the listener list (a restore, where the LAPIC's line levels come from the state). */
  private lintWatch(lapic: Lapic, pin: number, sync = true): void {
    const listeners = this.lintListeners[pin];
    const listening = (lapic.lvtEntry(LVT_LINT0 + pin) & LVT_MASKED) === 0;
    const at = listeners.indexOf(lapic);
    if (listening && at < 0) {
      listeners.push(lapic);
      if (sync) lapic.syncLint(pin, this.lintLevels[pin]);
    } else if (!listening && at >= 0) {
      listeners[at] = listeners[listeners.length - 1];
      listeners.pop();
    }
  }

  /**
   * Deliver a decoded interrupt; returns how many LAPICs accepted it. No allocation when nobody listens. `requester`
   * is the PCI requester ID of the message (its interrupt_lost event names it, through {@link nameOf}); -1 for a
   * message with no requester on the bus (an IOMMU's own interrupt, a VMM's injection).
   */
  deliver(msg: ApicMessage, requester = -1): number {
    // Fast path for the common case — a physical Fixed interrupt to one CPU while nobody listens — that skips the
    // general resolver and arbitration. Anything else (and every traced delivery) takes the general path.
    if (msg.deliveryMode === DeliveryMode.Fixed && msg.destMode === DestMode.Physical && !this.events.active && (msg.trigger === 0 || msg.level === 1)) {
      const wide = msg.destWidth === 32;
      const dest = wide ? msg.dest >>> 0 : msg.dest & 0xff;
      if (dest !== (wide ? 0xffffffff : 0xff)) {
        const cpu = this.index.physicalSingle(dest);
        if (cpu >= 0) return this.lapics[cpu].acceptInterrupt(msg.vector, msg.trigger) ? 1 : 0;
        if (cpu === -1) return 0;
      }
    }
    return this.dispatch(msg, Shorthand.None, null, requester);
  }

  /**
   * The "ask every APIC" oracle: CPU indexes (ascending) of the hardware-enabled LAPICs `msg` addresses. With a
   * shorthand, `sourceCpu` is the sender. Allocates; for tests and diagnostics only.
   */
  matchSlow(msg: ApicMessage, sourceCpu?: number, shorthand: number = Shorthand.None): number[] {
    if (sourceCpu !== undefined && (!Number.isInteger(sourceCpu) || sourceCpu < 0 || sourceCpu >= this.lapics.length)) {
      throw new UsageError(`matchSlow: no CPU ${sourceCpu} (the bus has ${this.lapics.length})`);
    }
    const source = sourceCpu === undefined ? null : this.lapics[sourceCpu];
    const out: number[] = [];
    for (const lapic of this.lapics) if (matchesWithShorthand(lapic, msg, shorthand, source)) out.push(lapic.cpu);
    return out;
  }

  /** Mark the destination maps stale (after LAPIC state was changed behind the bus's back); cheap. */
  rebuildMaps(): void {
    this.index.invalidate();
    this.rebuildLintListeners();
  }

  /** After a restore: the LINT listener lists from the LVT entries (one pass; restores are rare). */
  private rebuildLintListeners(): void {
    for (const pin of [0, 1]) {
      this.lintListeners[pin].length = 0;
      for (const lapic of this.lapics) if ((lapic.lvtEntry(LVT_LINT0 + pin) & LVT_MASKED) === 0) this.lintListeners[pin].push(lapic);
    }
  }

  /** How often the destination index ran each of its O(CPUs) rebuilds (a diagnostic; see destination-index.ts). */
  get indexRebuilds(): IndexRebuilds {
    return { ...this.index.rebuilds };
  }

  /** True when physical lookups use a dense table (IDs compact enough); a Map is used for sparse 32-bit IDs. */
  get physicalIndexIsDense(): boolean {
    return this.index.physicalIsDense;
  }

  private dispatch(msg: ApicMessage, shorthand: number, source: Lapic | null, requester: number): number {
    const hub = this.events;
    if (hub.tracing) {
      // QEMU traces apic_deliver_irq for messages (apic_send_msi); an IPI from the ICR goes through apic_deliver,
      // which QEMU does not trace, so irqpath names that hop irqpath_apic_ipi.
      hub.hop(source ? 'irqpath_apic_ipi' : 'apic_deliver_irq', [
        ['dest', msg.dest >>> 0],
        ['dest_mode', msg.destMode],
        ['delivery_mode', msg.deliveryMode],
        ['vector', msg.vector],
        ['trigger_mode', msg.trigger],
      ]);
    }
    const mode = msg.deliveryMode;
    if (mode === DeliveryMode.RemoteRead) return this.lost(msg, requester, 'remote read (delivery mode 3) is not supported');
    if (msg.trigger === 1 && msg.level === 0) {
      if (mode === DeliveryMode.INIT) return 0; // INIT level de-assert: nothing to do
      if (mode === DeliveryMode.Fixed || mode === DeliveryMode.LowestPriority) {
        return this.lost(msg, requester, 'level-triggered de-assert message');
      }
    }

    const depth = this.depth;
    const targets = (this.scratch[depth] ??= new Int32Array(this.lapics.length));
    const count =
      shorthand === Shorthand.None ? this.index.resolve(msg, targets) : this.index.resolveShorthand(shorthand, source === null ? -1 : source.cpu, targets);
    if (count === 0) return this.lost(msg, requester, 'no LAPIC matches the destination');

    this.depth = depth + 1;
    try {
      if (this.arbitrates(msg, shorthand)) {
        const cpu = chooseLowestPriority(this.lowestPriority, this.lapics, targets, count, msg.vector);
        if (cpu < 0) return this.lost(msg, requester, 'every addressed LAPIC is disabled', targets, count);
        if (this.acceptOn(this.lapics[cpu], msg)) return 1;
        targets[0] = cpu;
        return this.lost(msg, requester, 'the chosen LAPIC refused it', targets, 1);
      }
      let accepted = 0;
      for (let i = 0; i < count; i++) if (this.acceptOn(this.lapics[targets[i]], msg)) accepted++;
      return accepted === 0 ? this.lost(msg, requester, 'every addressed LAPIC refused it', targets, count) : accepted;
    } finally {
      this.depth = depth;
    }
  }

  /** One CPU is chosen for LowestPriority, and for a redirectable (RH = 1) logical Fixed message. */
  private arbitrates(msg: ApicMessage, shorthand: number): boolean {
    const mode = msg.deliveryMode;
    const redirectable =
      mode === DeliveryMode.LowestPriority ||
      (mode === DeliveryMode.Fixed && msg.redirectionHint === 1 && msg.destMode === DestMode.Logical);
    if (!redirectable) return false;
    // KVM delivers a physical broadcast with lowest priority as Fixed to all.
    if (shorthand === Shorthand.None && msg.destMode === DestMode.Physical) {
      return (msg.dest >>> 0) !== (msg.destWidth === 8 ? 0xff : 0xffffffff);
    }
    return true;
  }

  private acceptOn(lapic: Lapic, msg: ApicMessage): boolean {
    let accepted: boolean;
    switch (msg.deliveryMode) {
      case DeliveryMode.Fixed:
      case DeliveryMode.LowestPriority:
        accepted = lapic.acceptInterrupt(msg.vector, msg.trigger);
        break;
      case DeliveryMode.SMI:
        accepted = lapic.acceptSmi();
        break;
      case DeliveryMode.NMI:
        accepted = lapic.acceptNmi();
        break;
      case DeliveryMode.INIT:
        accepted = lapic.acceptInit();
        break;
      case DeliveryMode.StartUp:
        accepted = lapic.acceptStartup(msg.vector);
        break;
      case DeliveryMode.ExtINT:
        accepted = lapic.acceptExtInt();
        break;
      default:
        accepted = false;
    }
    const hub = this.events;
    if (accepted && hub.active) {
      // Where the message landed: QEMU has no trace event for acceptance (apic_deliver_irq names the destination, not
      // the CPU), so irqpath names it; trace viewers draw it on that CPU's track.
      if (hub.tracing) hub.hop('irqpath_apic_accept', [['cpu', lapic.cpu], ['apic', lapic.physicalId], ['vector', msg.vector], ['delivery_mode', msg.deliveryMode]]);
      hub.emit('apic_accept', {
        flow: hub.currentFlow,
        cpu: lapic.cpu,
        apicId: lapic.physicalId,
        vector: msg.vector,
        deliveryMode: msg.deliveryMode,
        trigger: msg.trigger,
      });
    }
    return accepted;
  }

  /**
   * Report a lost message. When LAPICs refused it, `targets[0..count)` are the CPUs addressed, and each one's reason
   * is worked out here — only for a lost message and only when someone listens, so delivery itself never pays for it.
   * This is the loss's only report: the machine bus that handed the message over does not report it again.
   */
  private lost(msg: ApicMessage, requester: number, reason: string, targets?: Int32Array, count = 0): 0 {
    const hub = this.events;
    if (hub.active) {
      const refusals: LapicRefusal[] = [];
      for (let i = 0; i < count; i++) {
        const lapic = this.lapics[targets![i]];
        refusals.push({ cpu: lapic.cpu, apicId: lapic.physicalId, why: lapic.refusalReason(msg.deliveryMode, msg.vector) });
      }
      hub.emit('interrupt_lost', {
        flow: hub.currentFlow,
        source: requester >= 0 ? this.nameOf(requester) : 'apic-bus',
        reason:
          `${DELIVERY_MODE_NAMES[msg.deliveryMode & 7]} vector ${hex(msg.vector, 2)} to ` +
          `${msg.destMode === DestMode.Logical ? 'logical' : 'physical'} ${hex(msg.dest >>> 0)}/${msg.destWidth}: ${reason}${describeRefusals(refusals)}`,
        ...(count > 0 ? { refusals } : {}),
      });
    }
    return 0;
  }

  // --- Save / restore ------------------------------------------------------------------------------------------

  /**
   * Every LAPIC's state for a machine snapshot. A LAPIC that still matches the state it gave last time gives that
   * same frozen object again, so consecutive snapshots share the states of unchanged CPUs and a snapshot of a
   * 32768-CPU machine costs one comparison per CPU plus a save per CPU that changed.
   */
  saveStates(): readonly Readonly<LapicState>[] {
    const out = new Array<Readonly<LapicState>>(this.lapics.length);
    for (let cpu = 0; cpu < this.lapics.length; cpu++) {
      const lapic = this.lapics[cpu];
      let s = this.savedStates[cpu];
      if (s === undefined || !lapic.matchesSavedState(s)) {
        s = freezeLapicState(lapic.save());
        this.savedStates[cpu] = s;
        SAVED_BY_A_BUS.add(s);
      }
      out[cpu] = s;
    }
    return Object.freeze(out);
  }

  /**
   * Put every LAPIC into `states[cpu]` (from {@link saveStates}, or its JSON form). All or nothing: every state is
   * checked before any is applied. A LAPIC already in the state it is given is left alone, so restoring a snapshot of
   * a 32768-CPU machine costs in proportion to the CPUs that differ; a state this library froze for the same CPU needs
   * no validation beyond that, any other state is validated field by field.
   */
  restoreStates(states: readonly unknown[]): void {
    if (!Array.isArray(states) || states.length !== this.lapics.length) {
      throw new UsageError(`snapshot: devices.cpus must hold ${this.lapics.length} CPU states`);
    }
    const changed: ValidatedLapicState[] = [];
    for (let cpu = 0; cpu < this.lapics.length; cpu++) {
      const lapic = this.lapics[cpu];
      const s = states[cpu] as LapicState;
      const ours = SAVED_BY_A_BUS.has(s) && s.cpu === cpu && s.initialApicId === lapic.initialApicId;
      if (ours && lapic.matchesSavedState(s)) continue;
      changed.push(validateLapicState(lapic, s));
    }
    for (const v of changed) {
      applyLapicState(v);
      this.savedStates[v.lapic.cpu] = undefined;
      this.index.update(v.lapic.cpu);
      this.lintWatch(this.lapics[v.lapic.cpu], 0, false);
      this.lintWatch(this.lapics[v.lapic.cpu], 1, false);
    }
  }

  save(): ApicBusState {
    return { version: APIC_BUS_STATE_VERSION, lapics: this.lapics.map((lapic) => lapic.save()) };
  }

  /** Validate every LAPIC's state, then apply them all; throws {@link UsageError} and changes nothing on bad input. */
  restore(state: unknown): void {
    if (typeof state !== 'object' || state === null) throw new UsageError('apic bus state: expected an object');
    const s = state as Record<string, unknown>;
    if (s.version !== APIC_BUS_STATE_VERSION) {
      throw new UsageError(`apic bus state.version: expected ${APIC_BUS_STATE_VERSION}, got ${JSON.stringify(s.version)}`);
    }
    if (!Array.isArray(s.lapics) || s.lapics.length !== this.lapics.length) {
      throw new UsageError(`apic bus state.lapics: expected an array of ${this.lapics.length} LAPIC states`);
    }
    const validated: ValidatedLapicState[] = this.lapics.map((lapic, cpu) => validateLapicState(lapic, (s.lapics as unknown[])[cpu]));
    for (const v of validated) applyLapicState(v);
    this.index.invalidate();
    this.rebuildLintListeners();
  }
}

/** At most this many CPUs are named per reason in the text; the event's `refusals` lists every one. */
const NAMED_PER_REASON = 8;

/** " — CPU 1 (APIC 0x1): software-disabled (SVR bit 8 = 0); CPU 2, 3 (APIC 0x2, 0x3): ...", grouped by reason. */
function describeRefusals(refusals: readonly LapicRefusal[]): string {
  if (refusals.length === 0) return '';
  const byWhy = new Map<string, LapicRefusal[]>();
  for (const r of refusals) {
    const list = byWhy.get(r.why);
    if (list) list.push(r);
    else byWhy.set(r.why, [r]);
  }
  const parts: string[] = [];
  for (const [why, list] of byWhy) {
    const named = list.slice(0, NAMED_PER_REASON);
    const more = list.length > named.length ? ` and ${list.length - named.length} more` : '';
    const noun = list.length === 1 ? 'CPU' : 'CPUs';
    parts.push(`${noun} ${named.map((r) => r.cpu).join(', ')}${more} (APIC ${named.map((r) => hex(r.apicId)).join(', ')}${more ? ', ...' : ''}): ${why}`);
  }
  return ` — ${parts.join('; ')}`;
}
