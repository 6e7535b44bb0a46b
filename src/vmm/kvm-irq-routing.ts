/**
 * KVM's interrupt routing as a VMM sees it through its ioctls: the GSI routing table (KVM_SET_GSI_ROUTING), irqfds
 * bound to GSIs (KVM_IRQFD, with a resamplefd for level-triggered lines), and the irqbypass pairing that lets a
 * device interrupt be posted to a vCPU.
 *
 * - The table is replaced whole and atomically (virt/kvm/irqchip.c `kvm_set_irq_routing`): every entry is checked
 *   first — at most KVM_MAX_IRQ_ROUTES entries, each GSI below it, an I/O APIC pin below KVM_IOAPIC_NUM_PINS, one
 *   entry per GSI for MSI ("Allow only one to one mapping between GSI and non-irqchip routing", `setup_routing_entry`)
 *   and one per irqchip for a pin GSI — and a bad table changes nothing (-EINVAL; here a UsageError naming the entry).
 *   The replacement reports the GSIs whose entry changed, so the caller's work is O(routes changed).
 * - An irqfd binds an eventfd to a GSI (virt/kvm/eventfd.c `kvm_irqfd_assign`); one irqfd per eventfd (-EBUSY).
 *   Signalling it injects what the GSI's entry says now (`irqfd_wakeup` → `kvm_arch_set_irq_inatomic`); a GSI with
 *   no entry injects nothing. An I/O APIC pin entry is a level: an irqfd without a resamplefd asserts and deasserts
 *   the pin at once (`irqfd_inject`, KVM_USERSPACE_IRQ_SOURCE_ID: an edge), one with a resamplefd asserts it under
 *   KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID and leaves it asserted; the guest's EOI of that pin (`kvm_notify_acked_irq` →
 *   `irqfd_resampler_ack`) deasserts it and then signals the resamplefd. The pin's level is the OR of its sources
 *   (`kvm_irq_line_state`): asserting twice from one source is one assertion.
 * - irqbypass (virt/lib/irqbypass.c): the irqfd is a consumer and vfio's trigger a producer, both keyed by the
 *   eventfd (the token); they pair when the tokens match (`irq_bypass_register_producer` / `_consumer` →
 *   `__connect`), and KVM then sets up posting (`kvm_arch_irq_bypass_add_producer`). A route change on a paired GSI
 *   is passed on (`kvm_irq_routing_update` → `kvm_arch_update_irqfd_routing`); unregistering either side unpairs.
 *
 * Tokens are opaque objects (an eventfd's identity), compared by reference.
 */
import { UsageError } from '../core/errors.ts';

/** include/linux/kvm_host.h. */
export const KVM_MAX_IRQ_ROUTES = 4096;
/** arch/x86/kvm/ioapic.h. */
export const KVM_IOAPIC_NUM_PINS = 24;

/** KVM_IRQ_ROUTING_MSI: the message as the routing ABI carries it (address_hi, address_lo, data). */
export interface KvmMsiEntry {
  gsi: number;
  type: 'msi';
  addressHi: number;
  addressLo: number;
  data: number;
}

/** KVM_IRQ_ROUTING_IRQCHIP on the I/O APIC: the GSI drives a pin. */
export interface KvmIoapicEntry {
  gsi: number;
  type: 'ioapic';
  pin: number;
}

export type KvmRoutingEntry = KvmMsiEntry | KvmIoapicEntry;

/** An eventfd's identity. */
export type EventfdToken = object;

export interface IrqfdReport {
  gsi: number;
  resample: boolean;
  /** A producer with the same eventfd is registered: the interrupt can be posted. */
  paired: boolean;
}

/** What KVM does with an irqfd's injection and a pairing; the VMM supplies it. */
export interface KvmIrqSink {
  /** Inject an MSI entry (irqfd_wakeup → kvm_set_msi). */
  inject(entry: KvmRoutingEntry): void;
  /**
   * One of KVM's interrupt sources changed its level on I/O APIC pin `pin` (kvm_ioapic_set_irq); called on transitions
   * only, so the sink can count sources as a wired-OR.
   */
  setPin?(pin: number, level: boolean): void;
  /** A producer and this GSI's irqfd paired (kvm_arch_irq_bypass_add_producer), or the paired GSI's route changed. */
  paired(gsi: number, producer: BypassProducer): void;
  /** The pairing ended (kvm_arch_irq_bypass_del_producer). */
  unpaired(gsi: number, producer: BypassProducer): void;
}

/** A producer of device interrupts (vfio's trigger eventfd for one vector). */
export interface BypassProducer {
  token: EventfdToken;
  /** Who it is, for reports: "0000:02:00.0 MSI-X 3". */
  name: string;
}

interface Irqfd {
  gsi: number;
  token: EventfdToken;
  resample: (() => void) | null;
}

function sameEntry(a: KvmRoutingEntry | undefined, b: KvmRoutingEntry | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.type === 'msi' && b.type === 'msi') return a.addressHi === b.addressHi && a.addressLo === b.addressLo && a.data === b.data;
  if (a.type === 'ioapic' && b.type === 'ioapic') return a.pin === b.pin;
  return false;
}

export class KvmIrqRouting {
  /** The table, by GSI (sparse). */
  private table = new Map<number, KvmRoutingEntry>();
  private readonly irqfdsByToken = new Map<EventfdToken, Irqfd>();
  private readonly irqfdsByGsi = new Map<number, Irqfd>();
  /** The irqfds with a resamplefd (few: one per INTx), so a guest EOI does not look at every irqfd. */
  private readonly resamplers: Irqfd[] = [];
  private readonly producers = new Map<EventfdToken, BypassProducer>();
  /** I/O APIC pins asserted by the resample source (KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID). */
  private readonly resampleAsserted = new Set<number>();
  /** Table replacements done, and entries whose content changed across them (the work they caused). */
  readonly stats = { replacements: 0, changedEntries: 0 };

  constructor(private readonly sink: KvmIrqSink) {}

  /**
   * KVM_SET_GSI_ROUTING: replace the whole table with `entries`, or change nothing and throw UsageError naming the
   * first bad entry. Returns the GSIs whose entry was added, changed or removed, ascending.
   */
  setRouting(entries: readonly KvmRoutingEntry[]): number[] {
    if (entries.length > KVM_MAX_IRQ_ROUTES) throw new UsageError(`KVM_SET_GSI_ROUTING: ${entries.length} entries, more than KVM_MAX_IRQ_ROUTES (${KVM_MAX_IRQ_ROUTES})`);
    const next = new Map<number, KvmRoutingEntry>();
    entries.forEach((e, i) => {
      const where = `KVM_SET_GSI_ROUTING entry ${i}`;
      if (!Number.isInteger(e.gsi) || e.gsi < 0 || e.gsi >= KVM_MAX_IRQ_ROUTES) throw new UsageError(`${where}: GSI ${String(e.gsi)} is not below KVM_MAX_IRQ_ROUTES (${KVM_MAX_IRQ_ROUTES})`);
      if (e.type === 'ioapic' && (!Number.isInteger(e.pin) || e.pin < 0 || e.pin >= KVM_IOAPIC_NUM_PINS)) {
        throw new UsageError(`${where}: I/O APIC pin ${String(e.pin)} is not below KVM_IOAPIC_NUM_PINS (${KVM_IOAPIC_NUM_PINS})`);
      }
      if (e.type === 'msi' && ![e.addressHi, e.addressLo, e.data].every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) {
        throw new UsageError(`${where}: MSI address_hi, address_lo and data must be 32-bit unsigned integers`);
      }
      if (next.has(e.gsi)) throw new UsageError(`${where}: GSI ${e.gsi} already has an entry (one entry per GSI for MSI, one per irqchip for a pin)`);
      next.set(e.gsi, e);
    });
    const changed: number[] = [];
    for (const [gsi, e] of next) if (!sameEntry(this.table.get(gsi), e)) changed.push(gsi);
    for (const gsi of this.table.keys()) if (!next.has(gsi)) changed.push(gsi);
    changed.sort((a, b) => a - b);
    this.table = next;
    this.stats.replacements++;
    this.stats.changedEntries += changed.length;
    // kvm_irq_routing_update: a paired irqfd whose entry changed has its posting redone.
    for (const gsi of changed) {
      const irqfd = this.irqfdsByGsi.get(gsi);
      const producer = irqfd === undefined ? undefined : this.producers.get(irqfd.token);
      if (producer !== undefined) this.sink.paired(gsi, producer);
    }
    return changed;
  }

  entry(gsi: number): KvmRoutingEntry | undefined {
    return this.table.get(gsi);
  }

  /** Every entry, by ascending GSI. */
  entries(): KvmRoutingEntry[] {
    return [...this.table.values()].sort((a, b) => a.gsi - b.gsi);
  }

  /** KVM_IRQFD: bind `token` to `gsi` (a resamplefd callback for a level-triggered line). */
  assignIrqfd(gsi: number, token: EventfdToken, resample: (() => void) | null = null): void {
    if (!Number.isInteger(gsi) || gsi < 0 || gsi >= KVM_MAX_IRQ_ROUTES) throw new UsageError(`KVM_IRQFD: GSI ${String(gsi)} is not below KVM_MAX_IRQ_ROUTES (${KVM_MAX_IRQ_ROUTES})`);
    if (this.irqfdsByToken.has(token)) throw new UsageError(`KVM_IRQFD: that eventfd is already an irqfd (GSI ${this.irqfdsByToken.get(token)!.gsi})`);
    if (this.irqfdsByGsi.has(gsi)) throw new UsageError(`KVM_IRQFD: GSI ${gsi} already has an irqfd here`);
    const irqfd: Irqfd = { gsi, token, resample };
    this.irqfdsByToken.set(token, irqfd);
    this.irqfdsByGsi.set(gsi, irqfd);
    if (resample !== null) this.resamplers.push(irqfd);
    // The irqfd registers as an irqbypass consumer: a producer already waiting with this eventfd pairs now.
    const producer = this.producers.get(token);
    if (producer !== undefined) this.sink.paired(gsi, producer);
  }

  /** KVM_IRQFD with KVM_IRQFD_FLAG_DEASSIGN. */
  deassignIrqfd(token: EventfdToken): void {
    const irqfd = this.irqfdsByToken.get(token);
    if (irqfd === undefined) return;
    const producer = this.producers.get(token);
    if (producer !== undefined) this.sink.unpaired(irqfd.gsi, producer);
    this.irqfdsByToken.delete(token);
    this.irqfdsByGsi.delete(irqfd.gsi);
    if (irqfd.resample !== null) this.resamplers.splice(this.resamplers.indexOf(irqfd), 1);
    // irqfd_resampler_shutdown: the last irqfd of a resampler deasserts its source.
    const e = this.table.get(irqfd.gsi);
    if (irqfd.resample !== null && e?.type === 'ioapic' && this.resampleAsserted.delete(e.pin)) this.sink.setPin?.(e.pin, false);
  }

  /** The eventfd was signalled: true when an irqfd took it (KVM injects), false when nobody did (userspace reads it). */
  signal(token: EventfdToken): boolean {
    const irqfd = this.irqfdsByToken.get(token);
    if (irqfd === undefined) return false;
    const e = this.table.get(irqfd.gsi);
    if (e === undefined) return true;
    if (e.type === 'msi') {
      this.sink.inject(e);
      return true;
    }
    if (irqfd.resample !== null) {
      // irqfd_inject with a resampler: assert, and leave it to the guest's EOI.
      if (!this.resampleAsserted.has(e.pin)) {
        this.resampleAsserted.add(e.pin);
        this.sink.setPin?.(e.pin, true);
      }
    } else {
      this.sink.setPin?.(e.pin, true);
      this.sink.setPin?.(e.pin, false);
    }
    return true;
  }

  /** Whether the resample source holds I/O APIC pin `pin` asserted (an INTx the guest has not EOI'd yet). */
  resampleLevel(pin: number): boolean {
    return this.resampleAsserted.has(pin);
  }

  /** A system restore: the resample source's hold on `pin` as saved (the guest's wires already count it). */
  restoreResampleLevel(pin: number, level: boolean): void {
    if (level) this.resampleAsserted.add(pin);
    else this.resampleAsserted.delete(pin);
  }

  /**
   * The guest EOI'd I/O APIC pin `pin` (kvm_notify_acked_irq for KVM_IRQCHIP_IOAPIC): every resampler on a GSI routed
   * to the pin deasserts its source (irqfd_resampler_ack), then signals its irqfds' resamplefds. True when one did.
   */
  ackIoapicPin(pin: number): boolean {
    let acked = false;
    for (const f of this.resamplers) {
      const e = this.table.get(f.gsi);
      if (e === undefined || e.type !== 'ioapic' || e.pin !== pin) continue;
      if (this.resampleAsserted.delete(pin)) this.sink.setPin?.(pin, false);
      acked = true;
      f.resample!();
    }
    return acked;
  }

  /** irq_bypass_register_producer: pairs with the irqfd of the same eventfd, if any. */
  registerProducer(producer: BypassProducer): void {
    if (this.producers.has(producer.token)) throw new UsageError(`irqbypass: a producer for that eventfd is already registered (${this.producers.get(producer.token)!.name})`);
    this.producers.set(producer.token, producer);
    const irqfd = this.irqfdsByToken.get(producer.token);
    if (irqfd !== undefined) this.sink.paired(irqfd.gsi, producer);
  }

  /** irq_bypass_unregister_producer: the pairing, if any, ends first. */
  unregisterProducer(producer: BypassProducer): void {
    if (this.producers.get(producer.token) !== producer) return;
    const irqfd = this.irqfdsByToken.get(producer.token);
    if (irqfd !== undefined) this.sink.unpaired(irqfd.gsi, producer);
    this.producers.delete(producer.token);
  }

  isPaired(gsi: number): boolean {
    const irqfd = this.irqfdsByGsi.get(gsi);
    return irqfd !== undefined && this.producers.has(irqfd.token);
  }

  irqfds(): IrqfdReport[] {
    return [...this.irqfdsByGsi.values()].sort((a, b) => a.gsi - b.gsi).map((f) => ({ gsi: f.gsi, resample: f.resample !== null, paired: this.producers.has(f.token) }));
  }

  /** The pairings: which producer posts through which GSI's irqfd. */
  pairings(): { gsi: number; producer: string }[] {
    const out: { gsi: number; producer: string }[] = [];
    for (const f of this.irqfdsByGsi.values()) {
      const p = this.producers.get(f.token);
      if (p !== undefined) out.push({ gsi: f.gsi, producer: p.name });
    }
    return out.sort((a, b) => a.gsi - b.gsi);
  }
}
