/**
 * The I/O APIC (82093AA, version 0x11, or a PCI 2.2 I/OxAPIC with the EOI register, version 0x20).
 *
 * Each input pin owns a redirection-table entry (RTE). When a pin fires, the I/O APIC turns the RTE into an
 * interrupt message (a 32-bit write to 0xFEEx_xxxx, SDM 10.11, QEMU ioapic_entry_parse) and puts it on the machine bus with its
 * source-id, through the injected {@link DmaPort}; the machine routes it through the translation core (and an
 * IOMMU's interrupt remapping) exactly like a PCI MSI. Level-triggered pins are gated by Remote IRR, which an EOI
 * (the LAPIC's EOI broadcast or, from version 0x20, the EOI register) clears.
 *
 * Register map (82093AA datasheet §3.0, §3.1, §3.2): IOREGSEL at 0x00 selects an indirect register, IOWIN at 0x10 reads/writes it,
 * EOI at 0x40. Indirect: 0x00 ID, 0x01 version, 0x02 arbitration ID, 0x10+2n / 0x11+2n RTE n low / high dword.
 */
import type { DmaPort } from '../msi/dma-port.ts';
import { ConfigError, showValue, UsageError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import type { AccessSize, MmioDevice } from '../core/mmio.ts';
import {
  RTE_DELIVS,
  RTE_MASK,
  RTE_POLARITY,
  RTE_REMOTE_IRR,
  RTE_TRIGGER,
  RTE_VECTOR_MASK,
  rteMessageAddrLo,
  rteMessageData,
} from '../msi/formats/ioapic-rte.ts';
import { RouteSlot } from '../msi/route-slot.ts';
import {
  decodeIoapicState,
  IOAPIC_STATE_VERSION,
  type IoapicState,
  LINE_HIGH,
  LINE_IDLE,
  LINE_LOW,
  rteToHex,
} from './ioapic-state.ts';

// Direct (MMIO) registers.
export const IOREGSEL = 0x00;
export const IOWIN = 0x10;
/** EOI register, version 0x20 only (ICH/6700PXH datasheets; Linux `struct io_apic.eoi`). */
export const IOAPIC_EOI = 0x40;

// Indirect registers (IOREGSEL values).
export const IOAPIC_REG_ID = 0x00;
export const IOAPIC_REG_VER = 0x01;
export const IOAPIC_REG_ARB = 0x02;
export const IOAPIC_REG_RTE_BASE = 0x10;

export const ID_SHIFT = 24;
/** Only ID bits 27:24 are writable (kvm-unit-tests `ioapic_reg_id`: XOR diff = 0x0F000000). */
export const ID_FIELD_MASK = 0xf;
export const VER_MAX_RTE_SHIFT = 16;

/** Delivery status and Remote IRR are read-only: a guest write keeps their current value (QEMU `IOAPIC_RO_BITS`). */
const RTE_LO_READ_ONLY = RTE_DELIVS | RTE_REMOTE_IRR;

export const IOAPIC_VERSION_82093AA = 0x11;
export const IOAPIC_VERSION_PCI22 = 0x20;
/** RTE n lives at index 0x10 + 2n; IOREGSEL is 8 bits, so 0x10 + 2n + 1 <= 0xFF gives at most 120 pins. */
export const IOAPIC_MAX_PINS = 120;

export interface IoapicConfig {
  pins: number;
  version: 0x11 | 0x20;
  id: number;
  /** Requester ID the I/O APIC's messages carry (Intel: the DMAR table's IOAPIC scope; AMD: the IVRS special device). */
  sourceId: number;
}

export class Ioapic implements MmioDevice {
  readonly name = 'ioapic';
  readonly pins: number;
  readonly version: 0x11 | 0x20;
  readonly sourceId: number;

  private id: number;
  private regsel = 0;
  private readonly rteLo: Uint32Array;
  private readonly rteHi: Uint32Array;
  /** Electrical level of each input (LINE_IDLE / LINE_LOW / LINE_HIGH). */
  private readonly lines: Int8Array;
  /** One cached route per pin, handed to the bus with every message. */
  private readonly slots: RouteSlot[];
  /**
   * Told of every EOI that reaches a level-triggered entry, with its pin, before Remote IRR is cleared — the hook a
   * hypervisor hangs its resampling on (QEMU `ioapic_eoi_broadcast` → `kvm_resample_fd_notify`, KVM
   * `kvm_ioapic_update_eoi_one` → `kvm_notify_acked_irq`). Not part of the hardware; null on a plain machine.
   */
  levelEoiNotify: ((pin: number) => void) | null = null;

  constructor(opts: IoapicConfig, private readonly dma: DmaPort, private readonly events: EventHub) {
    if (!Number.isInteger(opts.pins) || opts.pins < 1 || opts.pins > IOAPIC_MAX_PINS) {
      throw new ConfigError('ioapic.pins', `must be an integer 1..${IOAPIC_MAX_PINS} (RTE n sits at index 0x10+2n of an 8-bit IOREGSEL), got ${opts.pins}`);
    }
    if (opts.version !== IOAPIC_VERSION_82093AA && opts.version !== IOAPIC_VERSION_PCI22) {
      throw new ConfigError('ioapic.version', `must be 0x11 (82093AA) or 0x20 (PCI 2.2 I/OxAPIC), got ${String(opts.version)}`);
    }
    if (!Number.isInteger(opts.id) || opts.id < 0 || opts.id > ID_FIELD_MASK) {
      throw new ConfigError('ioapic.id', `must be an integer 0..15 (ID register bits 27:24), got ${opts.id}`);
    }
    if (!Number.isInteger(opts.sourceId) || opts.sourceId < 0 || opts.sourceId > 0xffff) {
      throw new ConfigError('ioapic.sourceId', `must be a 16-bit requester ID, got ${opts.sourceId}`);
    }
    this.pins = opts.pins;
    this.version = opts.version;
    this.sourceId = opts.sourceId;
    this.id = opts.id;
    this.rteLo = new Uint32Array(this.pins);
    this.rteHi = new Uint32Array(this.pins);
    this.lines = new Int8Array(this.pins);
    this.slots = [];
    for (let n = 0; n < this.pins; n++) this.slots.push(new RouteSlot());
    this.reset();
  }

  /** Power-on state (82093AA datasheet §3.2.4): every RTE masked, ID kept from the configuration, IOREGSEL 0, lines idle. */
  reset(): void {
    this.regsel = 0;
    this.rteLo.fill(RTE_MASK);
    this.rteHi.fill(0);
    this.lines.fill(LINE_IDLE);
    for (const slot of this.slots) slot.invalidate();
  }

  // ---- MMIO dispatch -------------------------------------------------------------------------------------------

  read(offset: number, size: AccessSize): bigint {
    let value = 0;
    switch (offset) {
      case IOREGSEL:
        value = this.regsel;
        break;
      case IOWIN:
        // The 82093AA documents IOWIN as a 32-bit register; QEMU ignores other widths (reads 0). We do the same.
        value = size === 4 ? this.readIndirect(this.regsel) : 0;
        break;
      default:
        // EOI is write-only; everything else in the window is unimplemented and reads 0 (QEMU ioapic_mem_read).
        value = 0;
    }
    if (this.events.active) {
      this.events.hop('ioapic_mem_read', [['addr', BigInt(offset)], ['regsel', this.regsel], ['size', size], ['val', value]]);
    }
    return BigInt(value >>> 0);
  }

  write(offset: number, size: AccessSize, value: bigint): void {
    const v = Number(BigInt.asUintN(32, value));
    if (this.events.active) {
      this.events.hop('ioapic_mem_write', [['addr', BigInt(offset)], ['regsel', this.regsel], ['size', size], ['val', v]]);
    }
    switch (offset) {
      case IOREGSEL:
        this.regsel = v & 0xff;
        break;
      case IOWIN:
        if (size === 4) this.writeIndirect(this.regsel, v);
        break;
      case IOAPIC_EOI:
        // The EOI register exists from version 0x20; on an 82093AA (0x11) offset 0x40 decodes to nothing. QEMU also
        // requires a 4-byte write.
        if (this.version === IOAPIC_VERSION_PCI22 && size === 4) this.eoiBroadcast(v & RTE_VECTOR_MASK);
        break;
      default:
        // Unimplemented offsets ignore writes.
        break;
    }
  }

  // ---- Indirect registers ---------------------------------------------------------------------------------------

  private readIndirect(index: number): number {
    switch (index) {
      case IOAPIC_REG_ID:
        return (this.id << ID_SHIFT) >>> 0;
      case IOAPIC_REG_VER:
        // Bits 7:0 version, 23:16 maximum redirection entry, bit 15 PRQ = 0 (no IRQ assertion register).
        return (this.version | ((this.pins - 1) << VER_MAX_RTE_SHIFT)) >>> 0;
      case IOAPIC_REG_ARB:
        // The arbitration ID is loaded from the ID (QEMU and KVM return the ID).
        return (this.id << ID_SHIFT) >>> 0;
      default: {
        const n = (index - IOAPIC_REG_RTE_BASE) >> 1;
        if (index >= IOAPIC_REG_RTE_BASE && n < this.pins) return (index & 1 ? this.rteHi[n] : this.rteLo[n]) >>> 0;
        // Out-of-range indices read all ones (KVM `redir_content = ~0ULL`).
        return 0xffffffff;
      }
    }
  }

  private writeIndirect(index: number, value: number): void {
    switch (index) {
      case IOAPIC_REG_ID:
        this.id = (value >>> ID_SHIFT) & ID_FIELD_MASK;
        return;
      case IOAPIC_REG_VER:
      case IOAPIC_REG_ARB:
        return; // read-only
      default: {
        const n = (index - IOAPIC_REG_RTE_BASE) >> 1;
        if (index < IOAPIC_REG_RTE_BASE || n >= this.pins) return; // out of range: ignored
        if (index & 1) this.rteHi[n] = value >>> 0;
        else this.writeRteLow(n, value);
      }
    }
  }

  /**
   * A guest write to RTE n bits 31:0. The reserved bits 31:17 are stored as written (as QEMU and KVM do); delivery
   * status and Remote IRR keep their value.
   */
  private writeRteLow(n: number, value: number): void {
    let lo = ((value & ~RTE_LO_READ_ONLY) | (this.rteLo[n] & RTE_LO_READ_ONLY)) >>> 0;
    // Making an entry edge-triggered clears Remote IRR. Not in the 82093AA text, but every emulator (QEMU
    // ioapic_fix_edge_remote_irr, KVM) does it and Linux's EOI simulation for version 0x11 (mask, set edge, set
    // level) relies on it (SDM 10.8.5; 82093AA §3.2.4 Remote IRR).
    if (!(lo & RTE_TRIGGER)) lo = (lo & ~RTE_REMOTE_IRR) >>> 0;
    this.rteLo[n] = lo;
    // A level line that is asserted while the entry becomes deliverable (unmasked, Remote IRR clear) is delivered
    // now: QEMU and KVM service the pin on every RTE write. This is also how a level asserted while masked is
    // delivered on unmask (§3.4 [DISAGREE]: the 82093AA text says masked level asserts are ignored; the line is
    // still asserted at unmask time, and we model the live line level, as QEMU/KVM do). Edges are never latched.
    if ((lo & (RTE_TRIGGER | RTE_MASK | RTE_REMOTE_IRR)) === RTE_TRIGGER && this.lineActive(n)) {
      this.events.beginFlow();
      this.sendLevel(n);
    }
  }

  // ---- Input lines ------------------------------------------------------------------------------------------------

  /**
   * Drive the *electrical* level of input `pin`. The RTE polarity bit (13, 1 = active low) decides whether that
   * level is asserted. A line that was never driven idles at its inactive level (a board's pull resistor), whatever
   * the polarity.
   */
  setLine(pin: number, level: boolean): void {
    this.checkPin(pin, 'setLine');
    if (typeof level !== 'boolean') throw new UsageError(`ioapic.setLine: level must be true or false, got ${showValue(level)}`);
    const was = this.lineActive(pin);
    this.lines[pin] = level ? LINE_HIGH : LINE_LOW;
    const now = this.lineActive(pin);
    this.events.beginFlow();
    if (this.events.active) {
      // QEMU's `ioapic_set_irq(vector, level)` names the pin "vector" and passes the logical (asserted) level,
      // since QEMU ignores polarity; we report the asserted state so traces line up for active-high lines.
      this.events.hop('ioapic_set_irq', [['vector', pin], ['level', now ? 1 : 0]]);
    }
    const lo = this.rteLo[pin];
    if (lo & RTE_TRIGGER) {
      // Level: an asserted line is delivered when unmasked and Remote IRR is clear; with Remote IRR set it is
      // coalesced into the interrupt already in service; while masked it waits for the unmask (writeRteLow).
      if (now && (lo & (RTE_MASK | RTE_REMOTE_IRR)) === 0) this.sendLevel(pin);
    } else if (now && !was) {
      // Edge: one message per deasserted→asserted transition. 82093AA: "Edge-sensitive interrupts signaled on a
      // masked interrupt pin are ignored (i.e., not delivered or held pending)".
      if (lo & RTE_MASK) this.edgeLost(pin);
      else this.sendMessage(pin);
    }
  }

  /** Assert `pin`, honouring its RTE polarity (drives the line low when active low). */
  assert(pin: number): void {
    this.checkPin(pin, 'assert');
    this.setLine(pin, (this.rteLo[pin] & RTE_POLARITY) === 0);
  }

  /** Deassert `pin`, honouring its RTE polarity. */
  deassert(pin: number): void {
    this.checkPin(pin, 'deassert');
    this.setLine(pin, (this.rteLo[pin] & RTE_POLARITY) !== 0);
  }

  /** Assert then deassert `pin` (an edge interrupt, or a level interrupt that goes away at once). */
  pulse(pin: number): void {
    this.assert(pin);
    this.deassert(pin);
  }

  /** True when `pin`'s input is at its active level under the current RTE polarity. */
  isAsserted(pin: number): boolean {
    this.checkPin(pin, 'isAsserted');
    return this.lineActive(pin);
  }

  private lineActive(pin: number): boolean {
    const level = this.lines[pin];
    if (level === LINE_IDLE) return false;
    return (this.rteLo[pin] & RTE_POLARITY) !== 0 ? level === LINE_LOW : level === LINE_HIGH;
  }

  // ---- EOI ----------------------------------------------------------------------------------------------------------

  /**
   * An EOI for `vector`: from the LAPIC's EOI broadcast (a level vector's EOI) or the EOI register. Clears Remote IRR
   * on every level RTE with that vector (Linux `clear_IO_APIC_pin`: an explicit EOI does not touch edge entries) and
   * re-delivers the ones whose line is still asserted and unmasked ("If the interrupt signal is still active after
   * the IRR bit is reset, the I/O APIC treats it as a new interrupt", 82801 datasheet). QEMU and KVM throttle a storm
   * of 10000 such re-deliveries; real hardware does not, and neither do we.
   */
  eoiBroadcast(vector: number): void {
    if (this.events.active) this.events.hop('ioapic_eoi_broadcast', [['vector', vector]]);
    for (let n = 0; n < this.pins; n++) {
      if ((this.rteLo[n] & (RTE_VECTOR_MASK | RTE_TRIGGER)) !== (vector | RTE_TRIGGER)) continue;
      // The notifier may change the line (a resampler deasserts it, or asserts it again): read the entry after it.
      this.levelEoiNotify?.(n);
      const lo = this.rteLo[n];
      if ((lo & RTE_REMOTE_IRR) === 0) continue;
      this.rteLo[n] = (lo & ~RTE_REMOTE_IRR) >>> 0;
      if (this.events.active) this.events.hop('ioapic_clear_remote_irr', [['n', n], ['vector', vector]]);
      if ((lo & RTE_MASK) === 0 && this.lineActive(n)) {
        this.events.beginFlow();
        this.sendLevel(n);
      }
    }
  }

  // ---- Sending ------------------------------------------------------------------------------------------------------

  /**
   * Deliver a level interrupt: Remote IRR is set when the message is sent. The message is a posted write, so the
   * I/O APIC cannot know whether a LAPIC accepted it: if the IOMMU faults it, or no APIC matches its destination,
   * Remote IRR stays set and the pin is dead until an EOI with that vector arrives — exactly what a real guest sees
   * (a "stuck" level interrupt). (KVM's in-kernel IOAPIC sets it from the delivery result instead: kvm/ioapic.c.)
   */
  private sendLevel(pin: number): void {
    this.rteLo[pin] = (this.rteLo[pin] | RTE_REMOTE_IRR) >>> 0;
    if (this.events.active) this.events.hop('ioapic_set_remote_irr', [['n', pin]]);
    this.sendMessage(pin);
  }

  /** Put RTE `pin`'s message on the bus. Remote IRR is already set (level) before the write can be seen. */
  private sendMessage(pin: number): void {
    const lo = this.rteLo[pin];
    // ExtINT (delivery mode 7): the LAPIC latches it and the CPU takes the vector from the 8259 pair's INTA cycle
    // (Cpu.acknowledgeExtInt); the RTE vector field rides along unused.
    this.dma.sendMessage(this.sourceId, 0, rteMessageAddrLo(lo, this.rteHi[pin]), rteMessageData(lo), this.slots[pin]);
  }

  /**
   * An edge on a masked pin is dropped, not latched. `ioapic_masked_edge_lost` is not a QEMU trace event (QEMU drops
   * it silently); it is irqpath's own, so a user can see where the interrupt vanished.
   */
  private edgeLost(pin: number): void {
    if (!this.events.active) return;
    this.events.hop('irqpath_ioapic_masked_edge_lost', [['n', pin], ['vector', this.rteLo[pin] & RTE_VECTOR_MASK]]);
    this.events.emit('interrupt_lost', {
      flow: this.events.currentFlow,
      source: `ioapic pin ${pin}`,
      reason: 'edge on a masked pin (the I/O APIC does not latch masked edges)',
    });
  }

  // ---- Inspection and state -------------------------------------------------------------------------------------

  /** RTE `pin` as a 64-bit value. */
  readRte(pin: number): bigint {
    this.checkPin(pin, 'readRte');
    return (BigInt(this.rteHi[pin]) << 32n) | BigInt(this.rteLo[pin]);
  }

  /** The route slot of `pin` (for the translation core's reports and tests). */
  routeSlot(pin: number): RouteSlot {
    this.checkPin(pin, 'routeSlot');
    return this.slots[pin];
  }

  save(): IoapicState {
    const redirection: string[] = [];
    for (let n = 0; n < this.pins; n++) redirection.push(rteToHex(this.rteLo[n], this.rteHi[n]));
    return {
      version: IOAPIC_STATE_VERSION,
      pins: this.pins,
      ioapicVersion: this.version,
      id: this.id,
      regsel: this.regsel,
      redirection,
      lines: Array.from(this.lines),
    };
  }

  /**
   * Load a saved state. Validates everything first and changes nothing on bad input. Sends nothing: a restored
   * level line with Remote IRR clear is delivered by the next event that services it, as after a migration.
   */
  restore(state: IoapicState): void {
    const decoded = decodeIoapicState(state, this.pins, this.version);
    this.id = decoded.id;
    this.regsel = decoded.regsel;
    this.rteLo.set(decoded.rteLo);
    this.rteHi.set(decoded.rteHi);
    this.lines.set(decoded.lines);
    for (const slot of this.slots) slot.invalidate();
  }

  private checkPin(pin: number, what: string): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= this.pins) {
      throw new UsageError(`ioapic.${what}: pin ${showValue(pin)} does not exist (this I/O APIC has pins 0..${this.pins - 1})`);
    }
  }
}
