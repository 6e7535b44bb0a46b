/**
 * One PCI device function: a type-0 config space, memory BARs, an optional MSI and MSI-X capability, and the two
 * things a device does on the bus: raise an interrupt (`signal(n)`) and write memory (`dmaWrite`). Both go out
 * through the injected {@link DmaPort} with the function's requester ID; the machine bus decides what the address
 * means.
 *
 * Bus Master Enable (Command bit 2) gates both: "as MSI/MSI-X interrupt Messages are in-band memory writes, setting
 * the Bus Master Enable bit to 0b disables MSI/MSI-X interrupt Messages as well" (PCIe base spec, Command register).
 * What a function does with an interrupt it cannot send is device-specific; this model drops it (an
 * `interrupt_lost` event, reason "bus master disabled") and sets no pending bit for it. Pending bits follow masking
 * only: a masked vector still pends while bus mastering is off, and a pending vector unmasked while bus mastering is
 * off is cleared and dropped.
 */
import { formatBdf, parseBdf } from '../core/bdf.ts';
import type { DeviceOptions } from '../core/config-types.ts';
import type { DmaPort } from '../msi/dma-port.ts';
import { ConfigError, showValue, UsageError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import { bytesToHex, hexToBytes } from '../core/byte-text.ts';
import type { RouteSlot } from '../msi/route-slot.ts';
import { type BarOptions, PciBar } from './bar.ts';
import { PCI_CONFIG_SPACE_SIZE, PciConfigSpace, checkConfigAccess } from './config-space.ts';
import type { InterruptMessageReport, InterruptMessageSink, MessageKind } from './interrupt-sink.ts';
import { MsiCapability } from './msi-capability.ts';
import { EmbeddedMsiController } from './embedded-msi-controller.ts';
import { MsixCapability, type MsixTableState } from './msix-capability.ts';
import {
  DEFAULT_CLASS_CODE,
  DEFAULT_DEVICE_ID,
  DEFAULT_VENDOR_ID,
  PCI_COMMAND,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_MEMORY,
  PCI_INTERRUPT_PIN,
  PCI_STATUS_ERROR_BITS,
  initType0Header,
} from './type0-header.ts';
import { PCI_STATUS } from './config-space.ts';
import { intxPinNumber, PCI_STATUS_INTERRUPT } from './intx.ts';

export const PCI_FUNCTION_STATE_VERSION = 1;

export interface PciFunctionOptions extends DeviceOptions {
  /** Requester ID; derived from `bdf` when absent. */
  requesterId?: number;
  /** Memory BARs besides the MSI-X BAR (which is created from `msix.bar`). */
  bars?: BarOptions[];
}

export interface PciFunctionState {
  version: typeof PCI_FUNCTION_STATE_VERSION;
  bdf: string;
  /** The 256 config-space bytes as 512 hex digits, offset 0 first. */
  config: string;
  msix: MsixTableState | null;
}

interface DecodedFunctionState {
  config: Uint8Array;
  msix: { table: Uint32Array; pba: Uint32Array } | null;
}

const HEX_CONFIG_RE = new RegExp(`^[0-9a-fA-F]{${2 * PCI_CONFIG_SPACE_SIZE}}$`);

export class PciFunction implements InterruptMessageSink {
  readonly requesterId: number;
  /** "bb:dd.f". */
  readonly bdf: string;
  /** Short name for reports (the configured `name`, else the BDF). */
  readonly label: string;
  readonly config = new PciConfigSpace();
  readonly bars: PciBar[] = [];
  readonly msi: MsiCapability | null;
  readonly msix: MsixCapability | null;
  /** The device's own interrupt controller in a BAR (ath11k-style), if it has one. */
  readonly embedded: EmbeddedMsiController | null;
  /** Interrupt Pin register: 0 none, 1 INTA# … 4 INTD#. */
  readonly intxPin: number;
  /** The level of the INTx# signal this function drives now (Interrupt Status and not Interrupt Disable). */
  private intxOut = false;
  /** Where the INTx# signal goes (the machine's routing to PIRQ lines); set by the machine. */
  intxSink: ((fn: PciFunction, asserted: boolean) => void) | null = null;

  constructor(opts: PciFunctionOptions, private readonly dma: DmaPort, private readonly events: EventHub) {
    this.requesterId = opts.requesterId ?? parseBdf(opts.bdf);
    if (!Number.isInteger(this.requesterId) || this.requesterId < 0 || this.requesterId > 0xffff) {
      throw new ConfigError('requesterId', `must be a 16-bit requester ID, got ${String(opts.requesterId)}`);
    }
    this.bdf = formatBdf(this.requesterId);
    this.label = opts.name ?? this.bdf;
    const path = `device ${this.bdf}`;
    const ids = {
      vendorId: checkedInt(opts.vendorId ?? DEFAULT_VENDOR_ID, 0, 0xfffe, `${path}.vendorId`), // 0xFFFF means "no function"
      deviceId: checkedInt(opts.deviceId ?? DEFAULT_DEVICE_ID, 0, 0xffff, `${path}.deviceId`),
      classCode: checkedInt(opts.classCode ?? DEFAULT_CLASS_CODE, 0, 0xffffff, `${path}.classCode`),
    };
    initType0Header(this.config, ids);
    this.intxPin = opts.intx === undefined ? 0 : intxPinNumber(opts.intx);
    if (this.intxPin !== 0) {
      this.config.set8(PCI_INTERRUPT_PIN, this.intxPin);
      this.config.setDeviceOwned(PCI_STATUS, 2, PCI_STATUS_ERROR_BITS | PCI_STATUS_INTERRUPT);
    }

    this.msi = opts.msi ? new MsiCapability(this.config, opts.msi, this, events, this.bdf, `${path}.msi`) : null;
    this.msix = opts.msix ? new MsixCapability(this.config, opts.msix, this, events, this.bdf, `${path}.msix`) : null;

    const barOptions: BarOptions[] = [...(opts.bars ?? [])];
    if (this.msix) barOptions.push({ index: this.msix.bar, size: this.msix.barSize, mmio: this.msix });
    const e = opts.embeddedMsi;
    this.embedded = e ? new EmbeddedMsiController(this.bdf, e.barSize ?? 0x200000, e.registers, (hi, lo, data) => this.dmaWrite(hi, lo, data)) : null;
    if (this.embedded) barOptions.push({ index: e!.bar ?? 0, size: this.embedded.size, mmio: this.embedded });
    const taken = new Set<number>();
    barOptions.forEach((b, i) => {
      const bar = new PciBar(this.config, b, `${path}.bars[${i}]`);
      for (let slot = bar.index; slot < bar.index + bar.length / 4; slot++) {
        if (taken.has(slot)) throw new ConfigError(`${path}.bars`, `BAR slot ${slot} is used twice${b.mmio === this.msix ? ' (the MSI-X table BAR collides with another BAR)' : ''}`);
        taken.add(slot);
      }
      this.bars.push(bar);
    });
    this.bars.sort((a, b) => a.index - b.index);
  }

  // ---- Config space ---------------------------------------------------------------------------------------------

  configRead(offset: number, size: number): number {
    const value = this.config.read(offset, size);
    if (this.events.active) this.traceConfig('pci_cfg_read', offset, value);
    return value;
  }

  /** QEMU pci_host_config_{read,write}_common: device name, bus, slot, function, offset, value (no size). */
  private traceConfig(name: 'pci_cfg_read' | 'pci_cfg_write', offset: number, value: number): void {
    const rid = this.requesterId;
    this.events.hop(name, [['dev', this.label], ['bus', rid >>> 8], ['slot', (rid >>> 3) & 0x1f], ['func', rid & 7], ['offs', offset], ['val', value >>> 0]]);
  }

  configWrite(offset: number, size: number, value: number): void {
    checkConfigAccess(offset, size, `${this.bdf} config write`);
    if (!Number.isInteger(value) || value < 0 || value >= 2 ** (8 * size)) {
      throw new UsageError(`${this.bdf} config write at 0x${offset.toString(16)}: value ${showValue(value)} does not fit in ${size} byte${size === 1 ? '' : 's'}`);
    }
    if (this.events.active) this.traceConfig('pci_cfg_write', offset, value);
    this.config.write(offset, size, value);
    this.msi?.handleConfigWrite(offset, size);
    this.msix?.handleConfigWrite(offset, size);
    if (this.intxPin !== 0 && offset <= PCI_COMMAND + 1 && offset + size > PCI_COMMAND) this.updateIntx();
  }

  // ---- INTx ---------------------------------------------------------------------------------------------------------

  /**
   * The function's interrupt condition (a level): Status bit 3 follows it, and INTx# is driven while it holds and
   * Command.Interrupt Disable is 0 (PCI 3.0 6.2.2). Independent of MSI: a driver that enabled MSI sets Interrupt
   * Disable itself (Linux pci_intx(dev, 0) in msi_capability_init).
   */
  setIntx(asserted: boolean): void {
    if (this.intxPin === 0) throw new UsageError(`${this.bdf} has no INTx pin (Interrupt Pin 0); configure intx: "A".."D"`);
    if (typeof asserted !== 'boolean') throw new UsageError(`${this.bdf} setIntx: expected true or false, got ${showValue(asserted)}`);
    const status = this.config.get16(PCI_STATUS);
    this.config.set16(PCI_STATUS, asserted ? status | PCI_STATUS_INTERRUPT : status & ~PCI_STATUS_INTERRUPT);
    this.events.beginFlow();
    this.updateIntx();
  }

  /** Status.Interrupt Status. */
  get intxStatus(): boolean {
    return (this.config.get16(PCI_STATUS) & PCI_STATUS_INTERRUPT) !== 0;
  }

  /** Whether INTx# is driven now. */
  get intxAsserted(): boolean {
    return this.intxOut;
  }

  private updateIntx(): void {
    const out = this.intxStatus && (this.config.get16(PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) === 0;
    if (out === this.intxOut) return;
    this.intxOut = out;
    if (this.events.active) this.events.hop('irqpath_pci_intx', [['bdf', this.bdf], ['pin', 'ABCD'[this.intxPin - 1]], ['level', out ? 1 : 0]]);
    this.intxSink?.(this, out);
  }

  busMasterEnabled(): boolean {
    return (this.config.get16(PCI_COMMAND) & PCI_COMMAND_MASTER) !== 0;
  }

  /** Memory Space Enable: BARs decode only while it is set. */
  memoryDecodeEnabled(): boolean {
    return (this.config.get16(PCI_COMMAND) & PCI_COMMAND_MEMORY) !== 0;
  }

  /** Firmware's step after BAR assignment: set Memory Space Enable (a config write, as firmware does it). */
  enableMemoryDecode(): void {
    this.configWrite(PCI_COMMAND, 2, this.config.get16(PCI_COMMAND) | PCI_COMMAND_MEMORY);
  }

  /** The driver's pci_set_master(): set Bus Master Enable. */
  enableBusMaster(): void {
    this.configWrite(PCI_COMMAND, 2, this.config.get16(PCI_COMMAND) | PCI_COMMAND_MASTER);
  }

  /** Program BAR `index` to `base` through config writes, as firmware does. */
  programBar(index: number, base: number): void {
    const bar = this.bars.find((b) => b.index === index);
    if (bar === undefined) throw new UsageError(`${this.bdf}: BAR${index} is not implemented (BARs: ${this.bars.map((b) => b.index).join(', ') || 'none'})`);
    const limit = bar.is64 ? 2 ** 52 : 2 ** 32;
    if (!Number.isInteger(base) || base < 0 || base % bar.size !== 0 || base + bar.size > limit) {
      throw new UsageError(`${this.bdf}: BAR${index} base ${base} must be aligned to its size 0x${bar.size.toString(16)} and fit a ${bar.is64 ? 64 : 32}-bit BAR`);
    }
    this.configWrite(bar.offset, 4, (base % 2 ** 32) >>> 0);
    if (bar.is64) this.configWrite(bar.offset + 4, 4, Math.floor(base / 2 ** 32));
  }

  // ---- Interrupts and DMA ---------------------------------------------------------------------------------------

  /**
   * Raise interrupt n: through MSI-X if enabled, else MSI if enabled, else nothing is sent (`interrupt_lost`,
   * "MSI and MSI-X disabled"; INTx is not modelled). Starts a new interrupt flow.
   */
  signal(n: number): void {
    this.events.beginFlow();
    if (this.msix !== null && this.msix.enabled()) {
      this.msix.signal(n);
      return;
    }
    if (this.msi !== null && this.msi.enabled()) {
      this.msi.signal(n);
      return;
    }
    const limit = Math.max(this.msix?.entries ?? 0, this.msi?.vectors ?? 0);
    if (!Number.isInteger(n) || n < 0 || n >= limit) {
      throw new UsageError(
        limit === 0
          ? `${this.bdf}: the device has neither MSI nor MSI-X, so it cannot signal vector ${showValue(n)}`
          : `${this.bdf}: vector ${showValue(n)} is out of range (the device has ${limit} vector${limit === 1 ? '' : 's'})`,
      );
    }
    if (this.events.active) this.reportLost(`${this.bdf} vector ${n}`, 'MSI and MSI-X disabled');
  }

  /** A posted 32-bit memory write by this function (blocked while Bus Master Enable is clear). */
  dmaWrite(addrHi: number, addrLo: number, value: number): void {
    if (!this.busMasterEnabled()) {
      if (this.events.active) this.reportLost(`${this.bdf} DMA write`, 'bus master disabled');
      return;
    }
    this.dma.dmaWrite32(this.requesterId, addrHi, addrLo, value);
  }

  /** A 32-bit memory read by this function (null while Bus Master Enable is clear, or when the read fails). */
  dmaRead(addrHi: number, addrLo: number): number | null {
    if (!this.busMasterEnabled()) {
      if (this.events.active) this.reportLost(`${this.bdf} DMA read`, 'bus master disabled');
      return null;
    }
    return this.dma.dmaRead32(this.requesterId, addrHi, addrLo);
  }

  /** Called by the MSI/MSI-X capability with a composed message. */
  sendInterrupt(kind: MessageKind, vector: number, addrHi: number, addrLo: number, data: number, slot: RouteSlot): void {
    if (!this.busMasterEnabled()) {
      if (this.events.active) this.reportLost(`${this.bdf} ${kind === 'msi' ? 'MSI' : 'MSI-X'} vector ${vector}`, 'bus master disabled');
      return;
    }
    this.dma.sendMessage(this.requesterId, addrHi, addrLo, data, slot);
  }

  private reportLost(source: string, reason: string): void {
    this.events.emit('interrupt_lost', { flow: this.events.currentFlow, source, reason });
  }

  /** MSI message n as it would be sent now. */
  msiMessage(n: number): InterruptMessageReport {
    if (this.msi === null) throw new UsageError(`${this.bdf} has no MSI capability`);
    return this.msi.message(n);
  }

  /** MSI-X table entry n. */
  msixEntry(n: number): InterruptMessageReport {
    if (this.msix === null) throw new UsageError(`${this.bdf} has no MSI-X capability`);
    return this.msix.entry(n);
  }

  // ---- State ------------------------------------------------------------------------------------------------------

  save(): PciFunctionState {
    return {
      version: PCI_FUNCTION_STATE_VERSION,
      bdf: this.bdf,
      config: bytesToHex(this.config.bytes),
      msix: this.msix ? this.msix.saveTable() : null,
    };
  }

  /** Throw a UsageError naming what is wrong if `state` cannot be restored into this function. Changes nothing. */
  checkState(state: unknown): void {
    this.decodeState(state);
  }

  /** Validate, then load. Sends nothing (pending bits stay pending until an unmask). */
  restore(state: PciFunctionState): void {
    const decoded = this.decodeState(state);
    this.config.bytes.set(decoded.config);
    if (this.msix && decoded.msix) this.msix.applyTable(decoded.msix);
    this.msi?.invalidateRoutes();
    // The wires' counts are restored by the machine; only this function's view of its own signal is recomputed.
    this.intxOut = this.intxPin !== 0 && this.intxStatus && (this.config.get16(PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) === 0;
  }

  private decodeState(state: unknown): DecodedFunctionState {
    const where = `PCI function ${this.bdf} state`;
    const bad = (why: string): never => {
      throw new UsageError(`${where}: ${why}`);
    };
    if (typeof state !== 'object' || state === null) bad('not an object');
    const s = state as Record<string, unknown>;
    if (s.version !== PCI_FUNCTION_STATE_VERSION) bad(`version must be ${PCI_FUNCTION_STATE_VERSION}, got ${String(s.version)}`);
    if (s.bdf !== this.bdf) bad(`it belongs to ${String(s.bdf)}`);
    if (typeof s.config !== 'string' || !HEX_CONFIG_RE.test(s.config)) bad(`config must be ${2 * PCI_CONFIG_SPACE_SIZE} hex digits`);
    const config = hexToBytes(s.config as string)!;
    const { bytes, writeMask, w1cMask, deviceOwned } = this.config;
    for (let i = 0; i < PCI_CONFIG_SPACE_SIZE; i++) {
      const fixed = ~(writeMask[i] | w1cMask[i] | deviceOwned[i]) & 0xff;
      if ((config[i] & fixed) !== (bytes[i] & fixed)) {
        bad(`config byte 0x${i.toString(16)} is 0x${config[i].toString(16)} but its read-only bits here are 0x${(bytes[i] & fixed).toString(16)} (a state from a differently built function?)`);
      }
    }
    const msiProblem = this.msi?.checkSavedConfig(config) ?? null;
    if (msiProblem !== null) bad(msiProblem);
    let msix: DecodedFunctionState['msix'] = null;
    if (this.msix) msix = this.msix.decodeTable(s.msix, where);
    else if (s.msix !== null && s.msix !== undefined) bad('msix must be null: this function has no MSI-X capability');
    return { config, msix };
  }
}

function checkedInt(value: number, min: number, max: number, field: string): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(field, `must be an integer 0x${min.toString(16)}..0x${max.toString(16)}, got ${String(value)}`);
  }
  return value;
}
