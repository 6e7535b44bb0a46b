/**
 * What the Linux and Windows models share: request validation, the boot-time CPU bookkeeping, programming a
 * composed message into a device (MSI / MSI-X) or an RTE into the I/O APIC, and the interrupt entry/exit path
 * (INTA, handler, local APIC EOI, plus the I/O APIC EOI register where the OS uses it). The OS-specific decisions
 * (x2APIC, limits, remapping, message formats) live in the subclasses.
 */
import { HandledInterrupts } from './handled-interrupts.ts';
import type { Cpu } from '../machine/cpu.ts';
import type { Device } from '../machine/device.ts';
import { UsageError } from '../core/errors.ts';
import type { Machine } from '../machine/machine.ts';
import { BootLog } from './boot-log.ts';
import type { GuestOs, InterruptRequest, PinSetup, ProgrammedInterrupt } from './guest-os.ts';
import { GuestPageAllocator } from './guest-memory.ts';
import { ioapicEoi, ioapicReadRte, ioapicVersion, ioapicWriteRte } from './ioapic-access.ts';
import { RTE_MASK, RTE_TRIGGER } from '../msi/formats/ioapic-rte.ts';
import { lapicEoi } from './lapic-eoi.ts';
import {
  clearMsixFunctionMask,
  enableBusMaster,
  enableMsixMasked,
  programMsi,
  readMsiCap,
  readMsixCap,
  writeMsixEntry,
  type MsiCap,
  type MsixCap,
} from './pci-msi-setup.ts';

/** A request after validation, with the device's capability already located. */
export interface CheckedRequest {
  request: InterruptRequest;
  kind: 'msi' | 'msix' | 'ioapic';
  /** MSI message k / MSI-X entry k. */
  index: number;
  device: Device | null;
  msi: MsiCap | null;
  msix: MsixCap | null;
  pin: number;
  pinSetup: PinSetup;
}

const KINDS = ['msi', 'msix', 'ioapic'] as const;

export abstract class GuestBase implements GuestOs {
  abstract readonly os: string;
  readonly log = new BootLog();
  protected readonly mem = new GuestPageAllocator();
  protected readonly online: number[] = [];
  protected readonly isOnline: Uint8Array;
  protected booted = false;
  /** Per CPU, the vectors whose handler ran: counts and the most recent ones (bounded). */
  private readonly handled = new HandledInterrupts();
  /** Per CPU and vector, the pin and RTE vector field the OS EOIs at the I/O APIC after the local EOI. */
  private readonly ioapicEoiValue = new Map<number, Map<number, { pin: number; rteVector: number }>>();
  private ioapicVer = -1;
  /** Per CPU and vector, an OS-internal handler (IOMMU fault / event-log interrupt). */
  private readonly systemHandlers = new Map<number, Map<number, () => void>>();
  protected readonly ioapicBase: number;
  private ioapicPins = -1;
  /** Every interrupt the OS programmed, by source (device and vector, or pin), as it is programmed now. */
  private readonly irqs = new Map<string, ProgrammedInterrupt>();

  constructor(readonly machine: Machine) {
    this.isOnline = new Uint8Array(machine.cpuCount);
    this.ioapicBase = machine.firmware.madt.ioapic.address;
  }

  abstract boot(): void;
  protected abstract program(req: CheckedRequest, cpu: number, note: string | undefined): ProgrammedInterrupt;

  onlineCpus(): number[] {
    return [...this.online];
  }

  /** The most recent vectors (at most HANDLED_HISTORY = 64) this OS's interrupt entry took on `cpu`, in order. */
  handledVectors(cpu: number): number[] {
    return this.handled.recent(cpu);
  }

  /** How many interrupts this OS's interrupt entry took on `cpu` (all, or only `vector`). */
  handledCount(cpu: number, vector?: number): number {
    return this.handled.count(cpu, vector);
  }

  protected get bsp(): Cpu {
    return this.machine.cpu(0);
  }

  protected markOnline(cpu: number): void {
    if (this.isOnline[cpu]) return;
    this.isOnline[cpu] = 1;
    this.online.push(cpu);
  }

  protected apicIdOf(cpu: number): number {
    return this.machine.firmware.madt.apicIds[cpu];
  }

  protected requireBooted(what: string): void {
    if (!this.booted) throw new UsageError(`${what}: the ${this.os} guest has not booted yet (call boot() first)`);
  }

  // ---- Interrupt entry ------------------------------------------------------------------------------------------

  handleInterrupt(cpu: number): number | null {
    this.requireBooted('handleInterrupt');
    const c = this.machine.cpu(cpu);
    const vector = c.acknowledge();
    if (vector === null) return null;
    this.endOfInterrupt(cpu, vector);
    return vector;
  }

  /**
   * The rest of the interrupt entry for a vector already acknowledged on `cpu`: run the handler (recorded; OS
   * internal handlers such as the IOMMU fault interrupt run here), local APIC EOI, then — for Linux's remapped
   * level-triggered I/O APIC pins — the I/O APIC EOI register with the RTE's vector field (`ioapic_ir_ack_level`).
   */
  endOfInterrupt(cpu: number, vector: number): void {
    this.requireBooted('endOfInterrupt');
    const c = this.machine.cpu(cpu);
    this.handled.record(cpu, vector);
    this.systemHandlers.get(cpu)?.get(vector)?.();
    lapicEoi(c);
    const eoi = this.ioapicEoiValue.get(cpu)?.get(vector);
    if (eoi !== undefined) this.eoiIoapicPin(eoi.pin, eoi.rteVector);
  }

  /**
   * Linux `__eoi_ioapic_pin`: the EOI register (version ≥ 0x20) with the RTE's vector field; on an older I/O APIC,
   * mask the entry and make it edge-triggered (which clears Remote IRR), then restore it.
   */
  private eoiIoapicPin(pin: number, rteVector: number): void {
    const cpu = this.bsp;
    if (this.ioapicVer < 0) this.ioapicVer = ioapicVersion(cpu, this.ioapicBase).version;
    if (this.ioapicVer >= 0x20) {
      ioapicEoi(cpu, this.ioapicBase, rteVector);
      return;
    }
    const entry = ioapicReadRte(cpu, this.ioapicBase, pin);
    ioapicWriteRte(cpu, this.ioapicBase, pin, (entry | BigInt(RTE_MASK)) & ~BigInt(RTE_TRIGGER));
    ioapicWriteRte(cpu, this.ioapicBase, pin, entry);
  }

  protected registerIoapicEoi(cpu: number, vector: number, pin: number, rteVector: number): void {
    let m = this.ioapicEoiValue.get(cpu);
    if (m === undefined) this.ioapicEoiValue.set(cpu, (m = new Map()));
    m.set(vector, { pin, rteVector });
  }

  protected registerSystemHandler(cpu: number, vector: number, handler: () => void): void {
    let m = this.systemHandlers.get(cpu);
    if (m === undefined) this.systemHandlers.set(cpu, (m = new Map()));
    m.set(vector, handler);
  }

  // ---- Requests -------------------------------------------------------------------------------------------------

  /** The OS's interrupts as programmed now (its irq descriptors), in the order they were first set up. */
  programmedInterrupts(): ProgrammedInterrupt[] {
    return [...this.irqs.values()];
  }

  /** @internal the OS reprogrammed a source (affinity change, CPU hotplug): its descriptor now says `p`. */
  recordInterrupt(p: ProgrammedInterrupt): void {
    const r = p.request;
    this.irqs.set(r.kind === 'ioapic' ? `pin:${r.pin}` : `${r.kind}:${r.device}:${r.vector ?? 0}`, p);
  }

  /** @internal CPU hotplug: `cpu` leaves (or rejoins) the OS's online CPUs. */
  setCpuOnline(cpu: number, online: boolean): void {
    if (online) {
      this.markOnline(cpu);
      return;
    }
    if (!this.isOnline[cpu]) return;
    this.isOnline[cpu] = 0;
    this.online.splice(this.online.indexOf(cpu), 1);
  }

  setupInterrupt(request: InterruptRequest): ProgrammedInterrupt {
    this.requireBooted('setupInterrupt');
    const req = this.checkRequest(request);
    let cpu = request.cpu;
    let note: string | undefined;
    if (request.affinity !== undefined) {
      const online = request.affinity.filter((c) => this.isOnline[c]);
      // No online CPU in the mask: the interrupt goes to the online CPUs instead (irq_do_set_affinity falls back).
      cpu = this.chooseCpu(online.length > 0 ? online : this.online);
      if (online.length === 0) note = `no CPU of the affinity mask is online; effective affinity CPU ${cpu}`;
    } else if (!this.isOnline[cpu]) {
      note = `CPU ${cpu} (APIC ID ${this.apicIdOf(cpu)}) is offline; effective affinity CPU ${this.online[0]}`;
      cpu = this.online[0];
    }
    const p = this.program(req, cpu, note);
    if (p.status === 'programmed') this.recordInterrupt(p);
    return p;
  }

  /** @internal the CPU this OS would give an interrupt whose affinity is `cpus` (online CPUs). */
  pickCpu(cpus: readonly number[]): number {
    return this.chooseCpu(cpus);
  }

  /** Which online CPU of a mask an interrupt goes to; Linux overrides this with its vector matrix. */
  protected chooseCpu(onlineCpus: readonly number[]): number {
    return onlineCpus[0];
  }

  protected checkRequest(r: InterruptRequest): CheckedRequest {
    if (typeof r !== 'object' || r === null) throw new UsageError('setupInterrupt: the request must be an object');
    const who = `interrupt request ${JSON.stringify(r.id)}`;
    if (typeof r.id !== 'string' || r.id === '') throw new UsageError('interrupt request: id must be a non-empty string');
    if (!KINDS.includes(r.kind)) throw new UsageError(`${who}: kind must be "msi", "msix" or "ioapic", got ${JSON.stringify(r.kind)}`);
    if (!Number.isInteger(r.cpu) || r.cpu < 0 || r.cpu >= this.machine.cpuCount) {
      throw new UsageError(`${who}: cpu must be a CPU index 0..${this.machine.cpuCount - 1}, got ${JSON.stringify(r.cpu)}`);
    }
    if (r.affinity !== undefined) {
      const bad = Array.isArray(r.affinity) ? r.affinity.find((c) => !Number.isInteger(c) || c < 0 || c >= this.machine.cpuCount) : undefined;
      if (!Array.isArray(r.affinity) || r.affinity.length === 0 || bad !== undefined) {
        throw new UsageError(`${who}: affinity must be a non-empty list of CPU indices 0..${this.machine.cpuCount - 1}, got ${JSON.stringify(r.affinity)}`);
      }
    }
    const trigger = r.trigger ?? 'edge';
    const polarity = r.polarity ?? 'high';
    if (trigger !== 'edge' && trigger !== 'level') throw new UsageError(`${who}: trigger must be "edge" or "level", got ${JSON.stringify(r.trigger)}`);
    if (polarity !== 'high' && polarity !== 'low') throw new UsageError(`${who}: polarity must be "high" or "low", got ${JSON.stringify(r.polarity)}`);
    if (r.kind === 'ioapic') {
      this.ioapicPinCount();
      if (!Number.isInteger(r.pin) || (r.pin as number) < 0 || (r.pin as number) >= this.ioapicPins) {
        throw new UsageError(`${who}: pin must be an I/O APIC input 0..${this.ioapicPins - 1}, got ${JSON.stringify(r.pin)}`);
      }
      return { request: r, kind: 'ioapic', index: 0, device: null, msi: null, msix: null, pin: r.pin as number, pinSetup: { trigger, polarity } };
    }
    if (typeof r.device !== 'string') throw new UsageError(`${who}: kind "${r.kind}" needs a PCI device ("bb:dd.f")`);
    if (r.trigger === 'level') throw new UsageError(`${who}: MSI and MSI-X are always edge-triggered`);
    const device = this.machine.device(r.device);
    const index = r.vector ?? 0;
    if (!Number.isInteger(index) || index < 0) throw new UsageError(`${who}: vector must be a non-negative integer, got ${JSON.stringify(r.vector)}`);
    if (r.kind === 'msi') {
      const msi = readMsiCap(device);
      if (msi === null) throw new UsageError(`${who}: device ${device.bdf} has no MSI capability`);
      if (index >= msi.vectorsCapable) throw new UsageError(`${who}: device ${device.bdf} supports MSI messages 0..${msi.vectorsCapable - 1}, got ${index}`);
      return { request: r, kind: 'msi', index, device, msi, msix: null, pin: -1, pinSetup: { trigger: 'edge', polarity: 'high' } };
    }
    const msix = readMsixCap(device);
    if (msix === null) throw new UsageError(`${who}: device ${device.bdf} has no MSI-X capability`);
    if (index >= msix.tableSize) throw new UsageError(`${who}: device ${device.bdf} has MSI-X entries 0..${msix.tableSize - 1}, got ${index}`);
    return { request: r, kind: 'msix', index, device, msi: null, msix, pin: -1, pinSetup: { trigger: 'edge', polarity: 'high' } };
  }

  /** The I/O APIC's input count, read once from its version register (max redirection entry + 1). */
  protected ioapicPinCount(): number {
    if (this.ioapicPins < 0) this.ioapicPins = ioapicVersion(this.bsp, this.ioapicBase).pins;
    return this.ioapicPins;
  }

  // ---- Programming helpers --------------------------------------------------------------------------------------

  /** Write an MSI capability (`log2Count` messages) with bus mastering on. */
  protected writeMsi(req: CheckedRequest, msg: { addr: bigint; data: number }, log2Count: number): void {
    enableBusMaster(req.device!);
    programMsi(req.device!, req.msi!, msg.addr, msg.data, log2Count);
  }

  /** Write MSI-X entry `req.index`: enable with the function masked, write the entry, drop the function mask. */
  protected writeMsix(req: CheckedRequest, msg: { addr: bigint; data: number }): void {
    const dev = req.device!;
    enableBusMaster(dev);
    enableMsixMasked(dev, req.msix!);
    writeMsixEntry(this.bsp, dev, req.msix!, req.index, msg.addr, msg.data);
    clearMsixFunctionMask(dev, req.msix!);
  }

  protected writeRte(pin: number, rte: bigint): void {
    ioapicWriteRte(this.bsp, this.ioapicBase, pin, rte);
  }

  protected refused(req: CheckedRequest, cpu: number, reason: string): ProgrammedInterrupt {
    return { request: req.request, status: 'refused', cpu, apicId: this.apicIdOf(cpu), vector: 0, note: reason, encoding: 'none' };
  }
}
