/**
 * Machine assembly: CPUs with their local APICs on one APIC bus, the I/O APIC at 0xFEC00000, PCI functions, an
 * optional IOMMU, sparse RAM everywhere else, and the machine bus that routes every bus-master write through the one
 * translation core. `createMachine(config)` is the public entry point.
 */
import { ApicBus } from '../apic/apic-bus.ts';
import { Ioapic } from '../ioapic/ioapic.ts';
import { IntelIommu, resolveIntelOptions } from '../iommu-intel/intel-iommu.ts';
import { AmdIommu, resolveAmdOptions } from '../iommu-amd/amd-iommu.ts';
import { PciBus } from '../pci/pci-bus.ts';
import { PciFunction } from '../pci/pci-function.ts';
import { decodeCompatInto, isInterruptWindow } from '../msi/formats/compat.ts';
import { newApicMessage, type ApicMessage } from '../msi/interrupt.ts';
import { TranslationCore } from '../msi/translate.ts';
import { AddressSpace, MovableRegion } from './address-space.ts';
import { formatBdf, parseBdf } from '../core/bdf.ts';
import { resolveConfig, DEFAULT_IOAPIC_SOURCE_ID, type ResolvedConfig, type ResolvedDevice } from './config.ts';
import type { DmaPort } from '../msi/dma-port.ts';
import type { IntelIommuOptions, MachineConfig } from '../core/config-types.ts';
import { Cpu } from './cpu.ts';
import { Device } from './device.ts';
import { showValue, UsageError } from '../core/errors.ts';
import { EventHub } from '../core/events.ts';
import { buildFirmwareTables, IOAPIC_BASE, type FirmwareTables } from './firmware.ts';
import type { IommuHost } from '../msi/iommu-host.ts';
import { MachineBus } from './machine-bus.ts';
import type { ReservedRegion } from '../msi/reserved-region.ts';
import { ScopedRemapper } from './scoped-remapper.ts';
import type { InterruptRemapper } from '../msi/remapper.ts';
import { SparseMemory } from '../core/memory.ts';
import { MachineSnapshots, memoryImageOf, type MachineSnapshot } from './snapshot.ts';
import { diffMemory, diffStates, type StateChange } from './state-diff.ts';
import { TraceRecorder } from './trace.ts';
import { checkNoOverlap, INTERRUPT_WINDOW, type RegisterWindow } from './register-windows.ts';
import { SimClock } from '../core/sim-clock.ts';
import { PicPair, PIC_MASTER_PORT, PIC_SLAVE_PORT, ELCR1_PORT } from '../pic/pic-pair.ts';
import { Hpet, HPET_MMIO_SIZE, hpetCapabilitiesLow } from '../hpet/hpet.ts';
import { Pit, PIT_COUNTER0_PORT, PIT_PORT_COUNT } from '../pit/i8254.ts';
import { Mc146818, RTC_INDEX_PORT } from '../rtc/mc146818.ts';
import { Ich9Lpc, PIRQ_FIRST_GSI } from '../pci/ich9-lpc.ts';
import { rootBusPin } from '../pci/intx.ts';
import { IoPortSpace } from './io-ports.ts';
import { InterruptLines } from './interrupt-lines.ts';
import { HPET_BASE, isaIrqToGsi } from './firmware.ts';

const IOAPIC_WINDOW = 0x1000;
/** The HPET's requester ID without an IOMMU scope naming it: the LPC bridge 00:1f.0 that contains it on ICH9. */
export const DEFAULT_HPET_SOURCE_ID = 0x00f8;
/** Where firmware places device BARs: a 32-bit MMIO window below the I/O APIC, as PC firmware does. */
const PCI_MMIO_WINDOW_BASE = 0xc000_0000;
const PCI_MMIO_WINDOW_END = 0xfe00_0000;

export type Iommu = IntelIommu | AmdIommu;

/**
 * How a caller above the machine (the VMM) takes part in assembling it. `functionFor` may build the PCI function for
 * a configured device itself — an assigned device's stand-in whose config space and MSI-X table the VMM traps —
 * or return null for the ordinary model.
 */
export interface MachineAssembly {
  functionFor?: (device: ResolvedDevice, dma: DmaPort, events: EventHub) => PciFunction | null;
  /**
   * A front for the interrupt remapper the machine built (a VMM's model of its vIOMMU: QEMU's behaviours): every
   * request the translation core translates goes to the front, which may hand it to `remapper`.
   */
  remapperFront?: (remapper: InterruptRemapper, parts: RemapperParts) => InterruptRemapper;
  /** Told whenever an IOMMU invalidates its interrupt entries (QEMU's IEC notifier list, `x86_iommu_iec_notify_all`). */
  interruptEntriesInvalidated?: () => void;
  /** Each CPU's interrupt entry: the operating system that takes vector `vector` on CPU `cpu` (a host kernel). */
  interruptEntry?: (cpu: number, vector: number) => void;
}

/** What a remapper front may need to know of the machine being assembled. */
export interface RemapperParts {
  iommu: Iommu;
  /** The requester ID the I/O APIC's messages carry. */
  ioapicSourceId: number;
  events: EventHub;
}

export class Machine {
  readonly config: Readonly<ResolvedConfig>;
  readonly memory = new SparseMemory();
  readonly events = new EventHub();
  readonly core: TranslationCore;
  readonly bus: MachineBus;
  readonly apicBus: ApicBus;
  readonly ioapic: Ioapic;
  readonly pci: PciBus;
  /** The IOMMU (the first one when there are several). */
  readonly iommu: Iommu | null;
  /** Every IOMMU unit, in configuration order (`iommus:`), or the one `iommu:` unit. */
  readonly iommus: readonly Iommu[];
  readonly firmware: FirmwareTables;
  readonly addressSpace = new AddressSpace();
  /** Simulated time: advanced only by {@link advance}; the LAPIC timers and the HPET count on it. */
  readonly clock = new SimClock();
  /** IN/OUT ports (the 8259 pair at 0x20/0xA0, the ELCR at 0x4D0). */
  readonly ports = new IoPortSpace();
  /** The cascaded 8259 pair; its INT drives every LAPIC's LINT0 and I/O APIC input 0. */
  readonly pic: PicPair;
  readonly hpet: Hpet;
  /** The 8254 PIT at 0x40–0x43; counter 0's OUT is ISA IRQ0 (unless the HPET's legacy replacement owns IRQ0). */
  readonly pit: Pit;
  /** The MC146818 RTC at 0x70/0x71; its interrupt is ISA IRQ8 (unless the HPET's legacy replacement owns IRQ8). */
  readonly rtc: Mc146818;
  /** The ICH9 LPC bridge (00:1f.0): PIRQ routing. */
  readonly lpc: Ich9Lpc;
  /** The ISA IRQ and GSI wires, wired-OR over their sources. */
  readonly lines: InterruptLines;
  /** How many asserting INTx sources each PIRQ line has (for moving them when a PIRQx_ROUT changes). */
  private readonly pirqSources = new Uint16Array(8);
  /** Root-bus slot and pin of each INTx-capable function, by requester ID (the swizzle worked out once). */
  private readonly intxRoutes = new Map<number, { slot: number; pin: number }>();
  private readonly cpus: Cpu[];
  private readonly devicesByRid = new Map<number, Device>();
  private readonly snapshots: MachineSnapshots;

  constructor(config: MachineConfig, assembly: MachineAssembly = {}) {
    const resolved = resolveConfig(config);
    this.config = resolved;
    this.core = new TranslationCore(resolved.hypervisor);

    // The I/O APIC and the APIC bus refer to each other (RTE messages go out, EOI broadcasts come back).
    let ioapic: Ioapic | null = null;
    this.apicBus = new ApicBus({
      apicIds: resolved.apicIds,
      lowestPriority: resolved.lowestPriority,
      events: this.events,
      eoiBroadcast: (vector) => ioapic?.eoiBroadcast(vector),
      timing: { clock: this.clock, busCycleNs: resolved.legacy.apicBusCycleNs, tscHz: resolved.legacy.tscHz },
    });
    if (!resolved.cpuX2apic) for (const lapic of this.apicBus.lapics) lapic.x2apicCapable = false;
    this.bus = new MachineBus(this.core, this.memory, this.apicBus, this.events);

    const host: IommuHost = {
      memory: this.memory,
      events: this.events,
      routes: this.core,
      hypervisor: resolved.hypervisor,
      sendOwnMsi: (addrHi, addrLo, data) => this.sendOwnMsi(addrHi, addrLo, data),
      deliverToApicBus: (msg) => this.deliverOwnInterrupt(msg),
      interruptEntriesInvalidated: assembly.interruptEntriesInvalidated ?? (() => {}),
    };
    let ioapicSourceId = DEFAULT_IOAPIC_SOURCE_ID;
    let hpetSourceId = DEFAULT_HPET_SOURCE_ID;
    // QEMU build_hpet: Event Timer Block ID = the capabilities' low dword (0x8086A201 with 3 timers), minimum tick 0.
    const hpetFacts = { capabilities: hpetCapabilitiesLow(resolved.legacy.hpetTimers), minimumTick: 0 };
    const units: Iommu[] = [];
    if (resolved.iommu?.kind === 'intel') {
      const opts = resolved.iommus.map((u, i) => resolveIntelOptions(u as IntelIommuOptions, resolved.iommus.length > 1 ? `iommus[${i}]` : 'iommu'));
      const intel = opts.map((o) => new IntelIommu(o, host));
      units.push(...intel);
      ioapicSourceId = (opts.find((o) => o.ioapicScope) ?? opts[0]).ioapicSourceId;
      hpetSourceId = opts.find((o) => o.hpet)?.hpet?.sourceId ?? hpetSourceId;
      this.firmware = buildFirmwareTables(resolved, opts, hpetFacts);
      if (intel.length === 1 && opts[0].includePciAll) {
        // One unit covering everything: it is the remapper itself (no scope lookup on the hot path).
        this.core.remapper = intel[0];
        this.bus.dmaTranslator = (sid, addr, isWrite) => intel[0].translateDma(sid, addr, isWrite);
      } else {
        const scoped = new ScopedRemapper(
          opts.map((o, i) => ({
            unit: intel[i],
            includePciAll: o.includePciAll,
            sourceIds: [...o.scopeDevices, ...(o.ioapicScope ? [o.ioapicSourceId] : []), ...(o.hpet ? [o.hpet.sourceId] : [])],
          })),
        );
        this.core.remapper = scoped;
        this.bus.dmaTranslator = (sid, addr, isWrite) => {
          const unit = scoped.unitFor(sid);
          return unit === null ? addr : unit.translateDma(sid, addr, isWrite);
        };
      }
    } else if (resolved.iommu?.kind === 'amd') {
      const opts = resolveAmdOptions(resolved.iommu);
      const unit = new AmdIommu(opts, host);
      units.push(unit);
      ioapicSourceId = unit.ioapicDeviceId;
      if (opts.hpet) hpetSourceId = opts.hpet.deviceId;
      this.core.remapper = unit;
      this.bus.dmaTranslator = (sid, addr, isWrite) => unit.translateDma(sid, addr, isWrite);
      this.firmware = buildFirmwareTables(resolved, {
        kind: 'amd',
        base: unit.base,
        requesterId: unit.requesterId,
        ioapicDeviceId: unit.ioapicDeviceId,
        ioapicInIvrs: opts.ioapicInIvrs,
        hpet: opts.hpet,
      }, hpetFacts);
    } else {
      this.firmware = buildFirmwareTables(resolved, null, hpetFacts);
    }
    this.iommus = units;
    this.iommu = units[0] ?? null;
    if (assembly.remapperFront !== undefined && this.core.remapper !== null) {
      this.core.remapper = assembly.remapperFront(this.core.remapper, { iommu: units[0], ioapicSourceId, events: this.events });
    }
    units.forEach((unit) => this.addressSpace.add({ base: unit.base, size: unit.size, device: unit }));

    ioapic = new Ioapic({ ...resolved.ioapic, sourceId: ioapicSourceId }, this.bus, this.events);
    this.ioapic = ioapic;
    this.addressSpace.add({ base: IOAPIC_BASE, size: IOAPIC_WINDOW, device: ioapic });
    this.bus.nameOf = (sid) => (sid === ioapicSourceId ? `I/O APIC (${formatBdf(sid)})` : sid === hpetSourceId ? `HPET (${formatBdf(sid)})` : formatBdf(sid));
    this.apicBus.nameOf = this.bus.nameOf;

    // The legacy half: the 8259 pair, the wires, the HPET. Quiet until software programs them.
    this.pic = new PicPair(resolved.legacy.pic, (level) => this.picOutput(level), this.events);
    this.ports.claim(PIC_MASTER_PORT, 2, this.pic);
    this.ports.claim(PIC_SLAVE_PORT, 2, this.pic);
    this.ports.claim(ELCR1_PORT, 2, this.pic);
    firmwarePicSetup(this.ports);
    this.lines = new InterruptLines(resolved.ioapic.pins, {
      pic: (irq, high) => this.pic.setIrq(irq, high),
      ioapic: (pin, high) => ioapic!.setLine(pin, high),
    });
    this.hpet = new Hpet({ timers: resolved.legacy.hpetTimers, sourceId: hpetSourceId }, this.clock, {
      legacyIrq: (irq, asserted) => this.setIsaIrqFrom(irq, asserted),
      ioapicInput: (pin, asserted) => {
        if (pin < this.lines.ioapicPins) this.lines.gsi(pin, asserted);
      },
      legacyReplacementChanged: (on) => this.legacyTimersConnected(!on),
    }, this.bus, this.events);
    this.pit = new Pit(this.clock, (level) => this.timerOutput(0, level), this.events);
    this.ports.claim(PIT_COUNTER0_PORT, PIT_PORT_COUNT, this.pit);
    this.rtc = new Mc146818(this.clock, (level) => this.timerOutput(1, level), this.events);
    this.ports.claim(RTC_INDEX_PORT, 2, this.rtc);
    this.addressSpace.add({ base: HPET_BASE, size: HPET_MMIO_SIZE, device: this.hpet });
    this.lpc = new Ich9Lpc((pirq, from, to) => this.pirqRouteChanged(pirq, from, to));

    this.pci = new PciBus();
    if (this.iommu instanceof AmdIommu) this.pci.add(this.iommu.pciFunction);
    let nextBar = PCI_MMIO_WINDOW_BASE;
    for (const d of resolved.devices) {
      const fn = assembly.functionFor?.(d, this.bus, this.events) ?? new PciFunction(d, this.bus, this.events);
      this.pci.add(fn);
      nextBar = this.assignBars(fn, nextBar);
      if (fn.intxPin !== 0) this.wireIntx(fn, d);
      this.devicesByRid.set(fn.requesterId, new Device(fn, this.events));
    }

    if (!this.pci.get(this.lpc.requesterId)) this.pci.add(this.lpc);

    this.checkRegisterWindows();
    const platform = { ports: this.ports, interruptAcknowledge: () => this.pic.acknowledge(), clock: this.clock, tscHz: resolved.legacy.tscHz };
    this.cpus = this.apicBus.lapics.map((lapic, i) => new Cpu(i, lapic, this.addressSpace, this.memory, platform));
    const entry = assembly.interruptEntry;
    if (entry !== undefined) this.apicBus.lapics.forEach((lapic, i) => (lapic.interruptEntry = (vector) => entry(i, vector)));
    this.snapshots = new MachineSnapshots(this);
  }

  /**
   * Firmware BAR assignment: size each memory BAR the way firmware does (write all ones, read the mask back), place
   * it naturally aligned in the PCI MMIO window, and enable memory decoding. Bus mastering stays off: the guest's
   * driver enables it (Linux pci_set_master).
   */
  private assignBars(fn: PciFunction, next: number): number {
    for (const bar of fn.bars) {
      const base = Math.ceil(next / bar.size) * bar.size;
      if (base + bar.size > PCI_MMIO_WINDOW_END) throw new UsageError(`no room left in the PCI MMIO window for ${formatBdf(fn.requesterId)} BAR${bar.index}`);
      fn.programBar(bar.index, base);
      this.addressSpace.add(new MovableRegion(bar.mmio, () => bar.base, () => bar.size, () => fn.memoryDecodeEnabled() && bar.base !== 0));
      next = base + bar.size;
    }
    fn.enableMemoryDecode();
    return next;
  }

  // ---- The legacy half ------------------------------------------------------------------------------------------

  /** Advance simulated time by `ns` nanoseconds, firing the LAPIC timers and HPET comparators that fall due. */
  advance(ns: number): void {
    this.clock.advance(ns);
  }

  /**
   * The 8259 pair's INT output: every LAPIC's LINT0 (virtual-wire mode A) and I/O APIC input 0 (virtual-wire mode B;
   * ICH9 13.5: I/O APIC input 0 is the 8259's INTR). Each side delivers it only if software programmed it so.
   */
  private picOutput(level: boolean): void {
    this.apicBus.setLint(0, level);
    this.ioapic.setLine(0, level);
  }

  /**
   * The PIT's OUT (IRQ0, timer 0 here) and the RTC's IRQ (IRQ8, timer 1): whether each reaches its ISA IRQ — neither
   * does while the HPET's legacy replacement route owns IRQ0 and IRQ8 — and whether it asserts it now.
   */
  private legacyTimersWired = true;
  private readonly timerAsserts = [false, false];

  private timerOutput(timer: 0 | 1, level: boolean): void {
    if (!this.legacyTimersWired || level === this.timerAsserts[timer]) return;
    this.timerAsserts[timer] = level;
    this.events.beginFlow();
    this.setIsaIrqFrom(timer === 0 ? 0 : 8, level);
  }

  /** The HPET's LEG_RT_CNF cut the PIT and the RTC off IRQ0 and IRQ8 (false) or gave them back (true). */
  private legacyTimersConnected(connected: boolean): void {
    this.legacyTimersWired = connected;
    const outputs = [this.pit.output, this.rtc.output];
    for (const timer of [0, 1] as const) {
      const level = connected && outputs[timer];
      if (level === this.timerAsserts[timer]) continue;
      this.timerAsserts[timer] = level;
      this.setIsaIrqFrom(timer === 0 ? 0 : 8, level);
    }
  }

  /** ISA IRQ states a caller drives through {@link setIsaIrq} (one source per IRQ). */
  private readonly isaDriven = new Uint8Array(16);

  /**
   * Drive ISA IRQ `irq` (an ISA device: the RTC on 8, the SCI on 9, a serial port on 4): the 8259 input `irq` and the
   * I/O APIC input the MADT's interrupt source overrides name (IRQ0 → input 2, else the same number; ACPI 5.2.12.5).
   */
  setIsaIrq(irq: number, level: boolean): void {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15 || irq === 2) throw new UsageError(`setIsaIrq: ISA IRQ ${showValue(irq)} does not exist (0..15; IRQ2 is the 8259 cascade)`);
    if (typeof level !== 'boolean') throw new UsageError(`setIsaIrq: level must be true or false, got ${showValue(level)}`);
    const gsi = isaIrqToGsi(irq, this.firmware.madt.interruptSourceOverrides);
    if (gsi >= this.lines.ioapicPins) throw new UsageError(`setIsaIrq: IRQ ${irq} arrives at GSI ${gsi}, but the I/O APIC has inputs 0..${this.lines.ioapicPins - 1}`);
    if ((this.isaDriven[irq] === 1) === level) return;
    this.isaDriven[irq] = level ? 1 : 0;
    this.events.beginFlow();
    this.setIsaIrqFrom(irq, level);
  }

  /** One source's transition on ISA IRQ `irq`: the 8259 input and the overridden GSI. */
  private setIsaIrqFrom(irq: number, asserted: boolean): void {
    this.lines.isaIrq(irq, asserted);
    const gsi = isaIrqToGsi(irq, this.firmware.madt.interruptSourceOverrides);
    if (gsi < this.lines.ioapicPins) this.lines.gsi(gsi, asserted);
  }

  private wireIntx(fn: PciFunction, d: ResolvedDevice): void {
    if (this.lines.ioapicPins < PIRQ_FIRST_GSI + 8) {
      throw new UsageError(`${formatBdf(fn.requesterId)} uses INTx, which needs I/O APIC inputs 16..23 for PIRQA-H (ioapic.pins is ${this.lines.ioapicPins})`);
    }
    this.intxRoutes.set(fn.requesterId, rootBusPin(fn.intxPin, (fn.requesterId >>> 3) & 0x1f, d.behindBridges ?? []));
    fn.intxSink = (f, asserted) => this.intx(f, asserted);
  }

  /** A function's INTx# changed: its PIRQ (I/O APIC input 16 + PIRQ) and, when routed, the 8259 input. */
  private intx(fn: PciFunction, asserted: boolean): void {
    const route = this.intxRoutes.get(fn.requesterId)!;
    const pirq = this.lpc.pirqOf(route.slot, route.pin);
    this.pirqSources[pirq] = asserted ? this.pirqSources[pirq] + 1 : Math.max(0, this.pirqSources[pirq] - 1);
    if (this.events.active) this.events.hop('irqpath_pirq', [['pirq', Ich9Lpc.pirqName(pirq)], ['gsi', PIRQ_FIRST_GSI + pirq], ['level', asserted ? 1 : 0]]);
    this.lines.gsi(PIRQ_FIRST_GSI + pirq, asserted);
    const irq = this.lpc.picIrqOf(pirq);
    if (irq >= 0) this.lines.isaIrq(irq, asserted);
  }

  /** The PIRQ and I/O APIC input a function's INTx# reaches (for reports and tests). */
  intxRoute(bdf: string): { pirq: string; gsi: number; picIrq: number } {
    const route = this.intxRoutes.get(parseBdf(bdf));
    if (route === undefined) throw new UsageError(`intxRoute: ${bdf} has no INTx pin (configure intx: "A".."D")`);
    const pirq = this.lpc.pirqOf(route.slot, route.pin);
    return { pirq: Ich9Lpc.pirqName(pirq), gsi: PIRQ_FIRST_GSI + pirq, picIrq: this.lpc.picIrqOf(pirq) };
  }

  /** PIRQx_ROUT changed: the PIRQ's asserting sources move from one 8259 input to the other. */
  private pirqRouteChanged(pirq: number, from: number, to: number): void {
    for (let i = 0; i < this.pirqSources[pirq]; i++) {
      if (from >= 0) this.lines.isaIrq(from, false);
      if (to >= 0) this.lines.isaIrq(to, true);
    }
  }

  /** Snapshot state of the wires (machine-level, next to the devices'). */
  saveWires(): unknown {
    return {
      lines: this.lines.save(),
      pirqSources: Array.from(this.pirqSources),
      isaDriven: Array.from(this.isaDriven),
      pit: [this.legacyTimersWired, this.timerAsserts[0]],
      rtc: this.timerAsserts[1],
      lint: [this.apicBus.lintLevel(0), this.apicBus.lintLevel(1)],
      clock: this.clock.now,
    };
  }

  restoreWires(state: unknown): void {
    const s = state as { lines?: unknown; pirqSources?: unknown; isaDriven?: unknown; pit?: unknown; rtc?: unknown; lint?: unknown; clock?: unknown } | null;
    const counts = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.length === n && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff);
    if (s === null || typeof s !== 'object' || !counts(s.pirqSources, 8) || !counts(s.isaDriven, 16) || s.isaDriven.some((x) => x > 1)) {
      throw new UsageError('snapshot: devices.wires must hold lines, pirqSources (8 counts), isaDriven (16 flags), lint and clock');
    }
    if (!Array.isArray(s.lint) || s.lint.length !== 2 || !s.lint.every((v) => typeof v === 'boolean')) throw new UsageError('snapshot: devices.wires.lint must be [LINT0, LINT1] levels (booleans)');
    // Snapshots from before the PIT was modelled have no `pit`: a PIT nobody programmed, connected to IRQ0.
    const pit = s.pit ?? [true, false];
    if (!Array.isArray(pit) || pit.length !== 2 || !pit.every((v) => typeof v === 'boolean')) throw new UsageError('snapshot: devices.wires.pit must be [connected to IRQ0, asserting IRQ0] (booleans)');
    const rtc = s.rtc ?? false;
    if (typeof rtc !== 'boolean') throw new UsageError('snapshot: devices.wires.rtc must be whether the RTC asserts IRQ8 (a boolean)');
    this.lines.restore(s.lines);
    this.clock.restoreTime(s.clock as number);
    this.pirqSources.set(s.pirqSources);
    this.apicBus.restoreLintLevel(0, s.lint[0]);
    this.apicBus.restoreLintLevel(1, s.lint[1]);
    this.isaDriven.set(s.isaDriven);
    this.legacyTimersWired = pit[0];
    this.timerAsserts[0] = pit[1];
    this.timerAsserts[1] = rtc;
  }

  /** Refuse a configuration whose register windows overlap (the IOMMU base is the one a user places). */
  private checkRegisterWindows(): void {
    const windows: RegisterWindow[] = [
      INTERRUPT_WINDOW,
      { what: 'the I/O APIC', field: null, base: IOAPIC_BASE, size: IOAPIC_WINDOW },
      { what: 'the HPET', field: null, base: HPET_BASE, size: HPET_MMIO_SIZE },
    ];
    const several = this.iommus.length > 1;
    this.iommus.forEach((u, i) => {
      windows.push({ what: `the ${u.kind === 'intel-vtd' ? 'VT-d' : 'AMD IOMMU'} register window${several ? ` of iommus[${i}]` : ''}`, field: several ? `iommus[${i}].base` : 'iommu.base', base: u.base, size: u.size });
    });
    this.config.devices.forEach((d, i) => {
      const fn = this.devicesByRid.get(d.requesterId)!.fn;
      for (const bar of fn.bars) windows.push({ what: `devices[${i}] (${formatBdf(d.requesterId)}) BAR${bar.index}`, field: null, base: bar.base, size: bar.size });
    });
    checkNoOverlap(windows);
  }

  /** An IOMMU's own interrupt (Intel FEADDR/FEUADDR layout): straight to the APIC bus, never remapped. */
  private readonly ownMsi: ApicMessage = newApicMessage();
  private sendOwnMsi(addrHi: number, addrLo: number, data: number): void {
    // The message is a DMA write like any other: only 0xFEEx_xxxx is an interrupt (SDM 10.11.1; VT-d FEADDR_REG and
    // IEADDR_REG "Message Address"). Anything else lands in memory — never translated, as the IOMMU's own writes
    // are not remapped. The VT-d unit has no requester ID of its own; it sits in the root complex (00:00.0).
    if (!isInterruptWindow(addrLo)) {
      const sourceId = this.iommu instanceof AmdIommu ? this.iommu.requesterId : 0;
      this.events.nestedFlow(() => this.bus.ownMemoryWrite(sourceId, addrHi, addrLo, data, `${this.iommu?.kind ?? 'IOMMU'} interrupt message outside the interrupt window`));
      return;
    }
    const msg = decodeCompatInto(addrLo, data, this.ownMsi);
    if (addrHi !== 0) {
      msg.dest = (msg.dest | (addrHi & 0xffffff00)) >>> 0;
      msg.destWidth = 32;
    }
    this.deliverOwnInterrupt(msg, addrHi * 0x1_0000_0000 + addrLo, data);
  }

  /** Deliver an IOMMU's own interrupt as an interrupt flow of its own (not part of the request that caused it). */
  private deliverOwnInterrupt(msg: ApicMessage, addr?: number, data?: number): void {
    const events = this.events;
    const unit = this.iommu?.kind ?? 'intel-vtd';
    events.nestedFlow((flow) => {
      if (events.active) {
        events.hop('irqpath_iommu_own_interrupt', addr === undefined ? [['unit', unit], ['dest', msg.dest >>> 0], ['vector', msg.vector]] : [['unit', unit], ['addr', BigInt(addr)], ['data', data ?? 0]]);
        events.emit('iommu_interrupt', { flow, unit, dest: msg.dest >>> 0, vector: msg.vector });
      }
      this.apicBus.deliver(msg);
    });
  }

  get cpuCount(): number {
    return this.cpus.length;
  }

  /** The i-th CPU. */
  cpu(i: number): Cpu {
    // Only an integer indexes the array: a string such as "length" would find a property, not a CPU.
    const c = Number.isInteger(i) ? this.cpus[i] : undefined;
    if (c === undefined) throw new UsageError(`cpu(${showValue(i)}): this machine has CPUs 0..${this.cpus.length - 1}`);
    return c;
  }

  /** The CPU with this APIC ID, or undefined. */
  cpuByApicId(apicId: number): Cpu | undefined {
    const i = this.config.apicIds.indexOf(apicId);
    return i < 0 ? undefined : this.cpus[i];
  }

  /** The PCI device at "bb:dd.f". */
  device(bdf: string): Device {
    const d = this.devicesByRid.get(parseBdf(bdf));
    if (d === undefined) {
      const known = [...this.devicesByRid.keys()].map(formatBdf).join(', ') || 'none';
      throw new UsageError(`no PCI device at ${bdf} (devices: ${known})`);
    }
    return d;
  }

  get devices(): Device[] {
    return [...this.devicesByRid.values()];
  }

  /**
   * The IOVA ranges the IOMMU covering `bdf` reports as reserved (Linux's iommu_groups/N/reserved_regions): on x86
   * always the interrupt window as an `msi` region. Empty without an IOMMU (no IOMMU group exists).
   */
  reservedRegions(bdf: string): ReservedRegion[] {
    const sid = parseBdf(bdf);
    const unit = this.iommus.find((u) => u.kind === 'amd-vi') ?? this.iommus[0];
    return unit === undefined ? [] : unit.reservedRegions(sid);
  }

  /** Start recording every hop; `stop()` on the returned recorder ends it. */
  startTrace(): TraceRecorder {
    return new TraceRecorder(this.events).start();
  }

  /** A deep-frozen, JSON-serialisable picture of every register, table and touched RAM page. */
  snapshot(): MachineSnapshot {
    return this.snapshots.take();
  }

  /** Put the machine back into a snapshot's state. Validated first; all or nothing. */
  restore(snapshot: MachineSnapshot): void {
    this.snapshots.restore(snapshot);
  }

  /** The register-level changes between two snapshots. */
  diff(before: MachineSnapshot, after: MachineSnapshot): StateChange[] {
    for (const [name, s] of [['before', before], ['after', after]] as const) {
      if (typeof s !== 'object' || s === null || typeof s.devices !== 'object' || s.devices === null) throw new UsageError(`diff: ${name} must be a snapshot from machine.snapshot()`);
    }
    const { memory: memBefore, ...devBefore } = before.devices;
    const { memory: memAfter, ...devAfter } = after.devices;
    return [...diffStates(devBefore, devAfter), ...diffMemory(memoryImageOf(memBefore), memoryImageOf(memAfter))];
  }

  /** Run `step` and return what it changed in register state. */
  changesDuring(step: () => void): StateChange[] {
    if (typeof step !== 'function') throw new UsageError(`changesDuring: expected a function, got ${showValue(step)}`);
    const before = this.snapshot();
    step();
    return this.diff(before, this.snapshot());
  }
}

/**
 * The 8259 pair as the firmware hands it over (SeaBIOS pic_setup: ICW1 0x11 to both, vector bases 0x08 and 0x70,
 * cascade on IR2, 8086 mode, then every input masked but the cascade — PIC_IRQMASK_DEFAULT 0xFFFB), so ISA IRQs do
 * not reach the CPU until the OS programs the 8259. Done through the I/O ports, as firmware does it.
 */
function firmwarePicSetup(ports: IoPortSpace): void {
  for (const [port, value] of [[0x20, 0x11], [0xa0, 0x11], [0x21, 0x08], [0xa1, 0x70], [0x21, 0x04], [0xa1, 0x02], [0x21, 0x01], [0xa1, 0x01], [0x21, 0xfb], [0xa1, 0xff]]) {
    ports.write(port, 1, value);
  }
}

export function createMachine(config: MachineConfig): Machine {
  return new Machine(config);
}
