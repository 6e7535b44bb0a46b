/**
 * The AMD IOMMU: register file (MMIO window), event log, command buffer, caches, its own interrupt, and the
 * interrupt-remapping entry point the translation core calls (`remap`, see interrupt-remapping.ts).
 *
 * Register behaviour and where the sources disagree (AMD IOMMU spec §2.4, §2.5, §3.4):
 * - Accesses are 32- or 64-bit and naturally aligned; anything else reads 0 and is ignored (traced
 *   `amdvi_mmio_invalid`). Unimplemented offsets in the window read 0, writes are ignored.
 * - Device Table / Command Buffer / Event Log Base: a 32-bit write to the low dword is latched and takes effect with
 *   the write of the high dword (QEMU latches 0x00/0x08 the same way), so the base and the length field arrive
 *   together. Command Buffer / Event Log Base writes are ignored while that ring runs, and a length below 1000b
 *   (256 entries, the documented minimum) is ignored (VirtualBox iommuAmdCmdBufBar_w / EvtLogBar_w). A base write
 *   resets that ring's head and tail (VBox, citing spec §2.4 "Commands"). A head/tail value beyond the buffer is
 *   ignored (VBox).
 * - Control: bits of features EFR does not advertise (PPR, GT, GAM, vIOMMU, …) are not writable and read 0 — Linux
 *   detects IRTCacheDis support exactly by write-and-read-back. EventLogRun / CmdBufRun are set on the 0→1 edge of
 *   (IommuEn && EventLogEn / CmdBufEn) and cleared when either bit clears.
 * - Status: RW1C and RO bits per Linux/FreeBSD/VirtualBox (not OpenVMM's).
 * - Event log overflow: EventOverflow set, entry dropped, EventLogRun cleared — logging stops until software
 *   restarts it (clear EventLogEn, W1C EventOverflow, set EventLogEn), which is what Linux's
 *   amd_iommu_restart_log does and what its "if EventLogRun is still set do nothing" test implies.
 * - EventLogInt is set for every logged entry (like ComWaitInt, which OpenVMM/VBox set regardless of the enable bit);
 *   the IOMMU's interrupt is sent on a 0→1 edge of EventLogInt or EventOverflow when EventIntEn, and of ComWaitInt
 *   when ComWaitIntEn (Linux amd_iommu_handle_irq: a still-set bit suppresses further interrupts).
 * - The interrupt goes through XT register 0x170 when Control.IntCapXTEn (decoded 32-bit destination straight to
 *   the APIC bus), else through the PCI MSI capability of the IOMMU's own function — never through remapping.
 *   An all-zero 0x170 is treated as masked: Linux masks the XT interrupt by writing 0 (UNCONFIRMED in hardware docs).
 * - Caches are flushed when IommuEn goes 0→1, when DevTabBase is written, and (IRTEs) when GAEn or IRTCacheDis
 *   change: entries read under other global state must not survive it.
 * - Command processing is synchronous on a tail write (and on the CmdBufRun edge). An illegal command leaves Head
 *   pointing at it, logs ILLEGAL_COMMAND_ERROR (Address = its SPA) and clears CmdBufRun until software restarts the
 *   buffer (clear CmdBufEn, reset head/tail, set CmdBufEn), as VBox does and Linux expects (QEMU keeps going).
 * - Guest vAPIC (`vapic`: EFR.GAMSup = 001b): Control.GAMEn, GALogEn and GAIntEn are writable; GuestMode = 1 IRTEs
 *   post into vAPIC backing pages (interrupt-remapping.ts step 10a) and the GA log (ga-log.ts) runs like the event
 *   log: GALogRun follows (IommuEn && GALogEn), an overflow sets GAOverflow, drops the entry and clears GALogRun until
 *   software restarts the log; GAInt is set per entry. The GA log interrupt is sent on a 0→1 edge of GAInt or
 *   GAOverflow when GAIntEn, through XT register 0x180 when IntCapXTEn, else through the IOMMU's one PCI MSI (the
 *   model has a single MSI vector, so MsiNumGA is 0 like MsiNum).
 */
import { formatBdf } from '../core/bdf.ts';
import type { AmdIommuOptions } from '../core/config-types.ts';
import { UsageError } from '../core/errors.ts';
import type { IommuHost } from '../msi/iommu-host.ts';
import type { AccessSize, MmioDevice } from '../core/mmio.ts';
import { cookieIsAmdDevice } from '../msi/cookie.ts';
import { newApicMessage } from '../msi/interrupt.ts';
import type { InterruptRemapper } from '../msi/remapper.ts';
import type { TranslationResult } from '../msi/translation-result.ts';
import { DteCache, IRTE_CACHE_ENTRIES, IrteCache } from './caches.ts';
import { type Command, CommandRing, decodeCommand } from './command-buffer.ts';
import { DTE_BYTES } from './device-table-entry.ts';
import { eventCodeName } from './event-codes.ts';
import { type AmdEvent, EventLogRing, commandHardwareErrorEvent, eventRecord, illegalCommandEvent } from './event-log.ts';
import { GaLogRing } from './ga-log.ts';
import { AmdInterruptRemapping, type AmdEventSink, type RemapControl } from './interrupt-remapping.ts';
import { AmdDmaTranslation, type DmaControl } from './dma-translation.ts';
import { Iotlb } from '../msi/iotlb.ts';
import { interruptWindowRegion, reservedRegion, type ReservedRegion } from '../msi/reserved-region.ts';
import { formatLinuxEvent } from './linux-log.ts';
import { resolveAmdOptions, type ResolvedAmdOptions } from './options.ts';
import { AmdIommuPciFunction } from './pci-function.ts';
import * as R from './registers.ts';
import { decodeXtInterruptControl } from './xt-interrupt-control.ts';

export { resolveAmdOptions } from './options.ts';
export type { ResolvedAmdOptions } from './options.ts';

export const AMD_IOMMU_STATE_VERSION = 1;

/** Plain JSON snapshot of the IOMMU (64-bit registers as hex strings). */
export interface AmdIommuState {
  version: number;
  devTabBase: string;
  cmdBufBase: string;
  evtLogBase: string;
  control: string;
  exclBase: string;
  exclLimit: string;
  /** 0x170, 0x178, 0x180. */
  xtIntrCtrl: [string, string, string];
  status: number;
  cmdBufHead: number;
  cmdBufTail: number;
  evtLogHead: number;
  evtLogTail: number;
  /** GA log registers (optional: snapshots from before guest vAPIC posting restore with them zero). */
  gaLogBase?: string;
  gaLogTailAddr?: string;
  gaLogHead?: number;
  gaLogTail?: number;
  /** Low dwords of base registers written but not yet committed by their high dword: [offset, value]. */
  latchedLow: [number, number][];
  /** Cached DTEs: [DeviceID, 8 dwords]. */
  dteCache: [number, number[]][];
  /** Cached IRTEs per DeviceID with the table they came from. */
  irteCache: { deviceId: number; root: number; entryBytes: number; irtes: [number, number[]][] }[];
  /** IOTLB entries (optional: snapshots from before DMA translation restore with an empty IOTLB). */
  iotlb?: IotlbEntryState[];
}

export interface IotlbEntryState {
  domainId: number;
  inBase: string;
  outBase: string;
  pageSize: string;
  read: boolean;
  write: boolean;
}

const LOW_DWORD = 0xffff_ffffn;
const HIGH_DWORD = 0xffff_ffff_0000_0000n;
const ALL_BITS = 0xffff_ffff_ffff_ffffn;
const LATCHED_BASES = new Set([R.DEV_TAB_BASE, R.CMD_BUF_BASE, R.EVT_LOG_BASE]);
const XT_REGS = [R.XT_GEN_INTR_CTRL, R.XT_PPR_INTR_CTRL, R.XT_GALOG_INTR_CTRL];
/** Status bits this model can set: event log, command buffer and GA log bits (the PPR bits stay 0: no PPR log). */
const STATUS_LIVE_BITS = 0x1f | R.STATUS_GA_LOG_RUN | R.STATUS_GA_OVERFLOW | R.STATUS_GA_INT;

export class AmdIommu implements MmioDevice, InterruptRemapper {
  readonly kind = 'amd-vi' as const;
  readonly name = 'amd-iommu';
  readonly options: ResolvedAmdOptions;
  readonly base: number;
  readonly size = R.MMIO_SIZE;
  /** The IOMMU's own PCI function (BDF as a requester ID). */
  readonly requesterId: number;
  /** The I/O APIC's DeviceID (its requests carry this source ID). */
  readonly ioapicDeviceId: number;
  readonly efr: bigint;
  readonly efr2: bigint;
  readonly pciFunction: AmdIommuPciFunction;

  private control = 0n;
  private devTabBar = 0n;
  private exclBase = 0n;
  private exclLimit = 0n;
  private readonly xtIntrCtrl = [0n, 0n, 0n];
  private status = 0;
  private readonly latchedLow = new Map<number, number>();
  private readonly controlWritable: bigint;
  private readonly cmd = new CommandRing();
  private readonly evt: EventLogRing;
  private readonly gaLogRing: GaLogRing;
  private readonly dtes = new DteCache();
  private readonly irtes = new IrteCache();
  private readonly remapControl: RemapControl = {
    iommuEn: false, gaEn: false, gaVapic: false, xtEn: false, intRemap2k: false, irtCacheDis: false, devTabBase: 0, devTabEntries: 128,
  };
  private readonly remapping: AmdInterruptRemapping;
  /** Cached host-page-table translations by DomainID (INVALIDATE_IOMMU_PAGES / INVALIDATE_IOMMU_ALL). */
  readonly iotlb = new Iotlb();
  private readonly dmaControl: DmaControl;
  private readonly dma: AmdDmaTranslation;
  private readonly ownMessage = newApicMessage();
  private readonly cmdWords = new Uint32Array(4);
  private processingCommands = false;

  constructor(opts: AmdIommuOptions | ResolvedAmdOptions, private readonly host: IommuHost) {
    this.options = resolveAmdOptions(opts);
    this.base = this.options.base;
    this.requesterId = this.options.requesterId;
    this.ioapicDeviceId = this.options.ioapicRequesterId;
    this.efr = this.options.efr;
    this.efr2 = this.options.efr2;
    this.pciFunction = new AmdIommuPciFunction(this.requesterId, this.base);
    this.evt = new EventLogRing(host.memory);
    this.gaLogRing = new GaLogRing(host.memory);
    let writable = R.CTRL_IOMMU_EN | R.CTRL_EVENT_LOG_EN | R.CTRL_EVENT_INT_EN | R.CTRL_COM_WAIT_INT_EN | R.CTRL_PLAIN_BITS |
      R.CTRL_CMD_BUF_EN | R.CTRL_IRT_CACHE_DIS;
    if (this.options.ga) writable |= R.CTRL_GA_EN;
    if (this.options.vapic) writable |= R.CTRL_GAM_EN_MASK | R.CTRL_GA_LOG_EN | R.CTRL_GA_INT_EN;
    if (this.options.xt) writable |= R.CTRL_XT_EN | R.CTRL_INTCAPXT_EN;
    if (this.options.intRemap2k) writable |= R.CTRL_NUM_INT_REMAP_MASK;
    this.controlWritable = writable;
    const sink: AmdEventSink = {
      report: (ev, sourceId, index, suppressedBy) => this.reportEvent(ev, sourceId, index, suppressedBy),
      gaLog: (gaTag, deviceId) => this.logGuestInterrupt(gaTag, deviceId),
    };
    this.remapping = new AmdInterruptRemapping(this.remapControl, host.memory, host.events, this.dtes, this.irtes, sink);
    this.dmaControl = { maxLevels: this.options.dmaTranslation ? this.options.hostLevels : 0, exclusionBase: 0, exclusionLimit: 0 };
    this.dma = new AmdDmaTranslation(this.remapControl, this.dmaControl, host.memory, host.events, this.dtes, this.iotlb, sink);
  }

  // ---- InterruptRemapper -------------------------------------------------------------------------------------------

  remap(sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, out: TranslationResult): boolean {
    return this.remapping.remap(sourceId, addrHi, addrLo, data, deliverNow, out);
  }

  /**
   * Translate a device's DMA request through its DTE's host page tables (see dma-translation.ts). Returns the output
   * address, or null when the request was aborted (the event was logged, or suppressed by SA / SE).
   */
  translateDma(sourceId: number, addr: number, isWrite: boolean): number | null {
    const dma = this.dma;
    const out = dma.translate(sourceId, addr, isWrite);
    if (out < 0) return null;
    const hub = this.host.events;
    if (hub.active) hub.hop('irqpath_amdvi_translation_result', [['devid', sourceId & 0xffff], ['addr', BigInt(addr)], ['gpa', BigInt(out)], ['path', dma.lastPath], ['write', isWrite]]);
    return out;
  }

  /**
   * The IOVA ranges reserved for a device, as Linux's amd_iommu_get_resv_regions reports them: the interrupt window
   * (MSI_RANGE_START..END, IOMMU_RESV_MSI) and the HyperTransport range 0xFD_0000_0000–0xFF_FFFF_FFFF
   * (IOMMU_RESV_RESERVED) unless EFR2.HTRangeIgnore (bit 11). IVMD unity maps are not modelled.
   */
  reservedRegions(sourceId: number): ReservedRegion[] {
    void sourceId;
    const regions = [interruptWindowRegion()];
    if ((this.efr2 & (1n << 11n)) === 0n) regions.push(reservedRegion(0xfd_0000_0000, 0xff_ffff_ffff, 'reserved'));
    return regions;
  }

  // ---- MMIO dispatch -----------------------------------------------------------------------------------------------

  read(offset: number, size: AccessSize): bigint {
    if (!this.validAccess(offset, size)) return 0n;
    const value = this.readRegister(offset & ~7);
    if (size === 8) return value;
    return (offset & 4) !== 0 ? value >> 32n : value & LOW_DWORD;
  }

  write(offset: number, size: AccessSize, value: bigint): void {
    if (!this.validAccess(offset, size)) return;
    const reg = offset & ~7;
    const v = BigInt.asUintN(size * 8, value);
    if (this.host.events.active) this.host.events.hop('irqpath_amdvi_mmio_write', [['addr', BigInt(offset)], ['size', size], ['val', v]]);
    if (size === 8) {
      this.latchedLow.delete(reg);
      this.writeRegister(reg, v, ALL_BITS);
    } else if (LATCHED_BASES.has(reg)) {
      if ((offset & 4) === 0) {
        this.latchedLow.set(reg, Number(v));
      } else {
        const low = this.latchedLow.get(reg) ?? R.lo32(this.readRegister(reg));
        this.latchedLow.delete(reg);
        this.writeRegister(reg, (v << 32n) | BigInt(low), ALL_BITS);
      }
    } else if ((offset & 4) === 0) {
      this.writeRegister(reg, v, LOW_DWORD);
    } else {
      this.writeRegister(reg, v << 32n, HIGH_DWORD);
    }
  }

  private validAccess(offset: number, size: number): boolean {
    const ok = (size === 4 || size === 8) && Number.isInteger(offset) && offset >= 0 && offset % size === 0 && offset + size <= R.MMIO_SIZE;
    if (!ok && this.host.events.active) this.host.events.hop('irqpath_amdvi_mmio_invalid', [['addr', BigInt(offset)], ['size', size]]);
    return ok;
  }

  private readRegister(reg: number): bigint {
    switch (reg) {
      case R.DEV_TAB_BASE: return this.devTabBar;
      case R.CMD_BUF_BASE: return this.cmd.baseReg;
      case R.EVT_LOG_BASE: return this.evt.baseReg;
      case R.CONTROL: return this.control;
      case R.EXCL_BASE: return this.exclBase;
      case R.EXCL_LIMIT: return this.exclLimit;
      case R.EXT_FEATURES: return this.efr;
      case R.EXT_FEATURES2: return this.efr2;
      case R.GA_LOG_BASE: return this.options.vapic ? this.gaLogRing.baseReg : 0n;
      case R.GA_LOG_TAIL_ADDR: return this.options.vapic ? this.gaLogRing.tailAddrReg : 0n;
      case R.GA_LOG_HEAD: return this.options.vapic ? BigInt(this.gaLogRing.head) : 0n;
      case R.GA_LOG_TAIL: return this.options.vapic ? BigInt(this.gaLogRing.tail) : 0n;
      case R.XT_GEN_INTR_CTRL:
      case R.XT_PPR_INTR_CTRL:
      case R.XT_GALOG_INTR_CTRL:
        return this.options.xt ? this.xtIntrCtrl[XT_REGS.indexOf(reg)] : 0n;
      case R.CMD_BUF_HEAD: return BigInt(this.cmd.head);
      case R.CMD_BUF_TAIL: return BigInt(this.cmd.tail);
      case R.EVT_LOG_HEAD: return BigInt(this.evt.head);
      case R.EVT_LOG_TAIL: return BigInt(this.evt.tail);
      case R.STATUS: return BigInt(this.status);
      default: return 0n;
    }
  }

  /** Write the bits of `value` selected by `mask` (the bytes the access covered). */
  private writeRegister(reg: number, value: bigint, mask: bigint): void {
    const merge = (current: bigint): bigint => (current & ~mask) | (value & mask);
    switch (reg) {
      case R.DEV_TAB_BASE: return this.writeDevTabBase(value);
      case R.CMD_BUF_BASE: return this.writeCmdBufBase(value);
      case R.EVT_LOG_BASE: return this.writeEvtLogBase(value);
      case R.CONTROL: return this.writeControl(merge(this.control));
      case R.EXCL_BASE:
        this.exclBase = merge(this.exclBase) & R.EXCL_BASE_WRITABLE;
        this.dmaControl.exclusionBase = Number(this.exclBase);
        return;
      case R.EXCL_LIMIT:
        this.exclLimit = merge(this.exclLimit) & R.EXCL_LIMIT_WRITABLE;
        this.dmaControl.exclusionLimit = Number(this.exclLimit);
        return;
      case R.XT_GEN_INTR_CTRL:
      case R.XT_PPR_INTR_CTRL:
      case R.XT_GALOG_INTR_CTRL: {
        if (!this.options.xt) return;
        const i = XT_REGS.indexOf(reg);
        this.xtIntrCtrl[i] = merge(this.xtIntrCtrl[i]) & R.XT_INTR_CTRL_WRITABLE;
        return;
      }
      case R.CMD_BUF_HEAD:
        if ((mask & LOW_DWORD) !== 0n && this.cmd.acceptsPointer(R.lo32(value))) this.cmd.head = R.lo32(value) & R.RING_PTR_MASK;
        return;
      case R.CMD_BUF_TAIL:
        if ((mask & LOW_DWORD) !== 0n && this.cmd.acceptsPointer(R.lo32(value))) {
          this.cmd.tail = R.lo32(value) & R.RING_PTR_MASK;
          this.processCommands();
        }
        return;
      case R.EVT_LOG_HEAD:
        if ((mask & LOW_DWORD) !== 0n && this.evt.acceptsPointer(R.lo32(value))) this.evt.head = R.lo32(value) & R.RING_PTR_MASK;
        return;
      case R.EVT_LOG_TAIL:
        if ((mask & LOW_DWORD) !== 0n && this.evt.acceptsPointer(R.lo32(value))) this.evt.tail = R.lo32(value) & R.RING_PTR_MASK;
        return;
      case R.STATUS:
        this.status &= ~(R.lo32(value & mask) & R.STATUS_W1C_MASK);
        return;
      case R.GA_LOG_BASE:
        // As the event log base: ignored while the log runs, and below the 1000b length Linux uses (GA_LOG_SIZE_512).
        if (!this.options.vapic || (this.status & R.STATUS_GA_LOG_RUN) !== 0) return;
        {
          const v = merge(this.gaLogRing.baseReg) & R.GA_LOG_BASE_WRITABLE;
          if (Number((v >> R.BUF_LEN_SHIFT) & R.BUF_LEN_MASK) < R.BUF_LEN_MIN) return;
          this.gaLogRing.baseReg = v;
          this.gaLogRing.head = 0;
          this.gaLogRing.tail = 0;
        }
        return;
      case R.GA_LOG_TAIL_ADDR:
        if (this.options.vapic) this.gaLogRing.tailAddrReg = merge(this.gaLogRing.tailAddrReg) & R.GA_LOG_TAIL_ADDR_WRITABLE;
        return;
      case R.GA_LOG_HEAD:
        if (this.options.vapic && (mask & LOW_DWORD) !== 0n && this.gaLogRing.acceptsPointer(R.lo32(value))) this.gaLogRing.head = R.lo32(value) & R.GA_LOG_PTR_MASK;
        return;
      case R.GA_LOG_TAIL:
        if (this.options.vapic && (mask & LOW_DWORD) !== 0n && this.gaLogRing.acceptsPointer(R.lo32(value))) this.gaLogRing.tail = R.lo32(value) & R.GA_LOG_PTR_MASK;
        return;
      default:
        return; // EFR, EFR2 and unimplemented registers: read-only / reserved
    }
  }

  private writeDevTabBase(value: bigint): void {
    this.devTabBar = value & R.DEV_TAB_BASE_WRITABLE;
    this.remapControl.devTabBase = Number(this.devTabBar & R.ADDR_51_12_MASK);
    this.remapControl.devTabEntries = ((Number(this.devTabBar & R.DEV_TAB_SIZE_MASK) + 1) * 4096) / DTE_BYTES;
    this.dtes.invalidateAll();
    this.irtes.invalidateAll();
    this.dma.allDtesInvalidated();
    this.host.routes.invalidateAllRoutes();
  }

  private writeCmdBufBase(value: bigint): void {
    if ((this.status & R.STATUS_CMD_BUF_RUN) !== 0) return;
    const v = value & R.BUF_BASE_WRITABLE;
    if (Number((v >> R.BUF_LEN_SHIFT) & R.BUF_LEN_MASK) < R.BUF_LEN_MIN) return;
    this.cmd.baseReg = v;
    this.cmd.head = 0;
    this.cmd.tail = 0;
  }

  private writeEvtLogBase(value: bigint): void {
    if ((this.status & R.STATUS_EVENT_LOG_RUN) !== 0) return;
    const v = value & R.BUF_BASE_WRITABLE;
    if (Number((v >> R.BUF_LEN_SHIFT) & R.BUF_LEN_MASK) < R.BUF_LEN_MIN) return;
    this.evt.baseReg = v;
    this.evt.head = 0;
    this.evt.tail = 0;
  }

  private writeControl(value: bigint): void {
    const old = this.control;
    const next = value & this.controlWritable;
    this.control = next;
    const changed = old ^ next;
    const c = this.remapControl;
    c.iommuEn = (next & R.CTRL_IOMMU_EN) !== 0n;
    c.gaEn = (next & R.CTRL_GA_EN) !== 0n;
    c.gaVapic = c.gaEn && ((next & R.CTRL_GAM_EN_MASK) >> R.CTRL_GAM_EN_SHIFT) === R.GAM_EN_VAPIC;
    c.xtEn = (next & R.CTRL_XT_EN) !== 0n;
    c.intRemap2k = ((next & R.CTRL_NUM_INT_REMAP_MASK) >> R.CTRL_NUM_INT_REMAP_SHIFT) === R.NUM_INT_REMAP_2K;
    c.irtCacheDis = (next & R.CTRL_IRT_CACHE_DIS) !== 0n;

    if ((changed & R.CTRL_IOMMU_EN) !== 0n && c.iommuEn) {
      this.dtes.invalidateAll();
      this.irtes.invalidateAll();
      this.dma.allDtesInvalidated();
    }
    if ((changed & (R.CTRL_GA_EN | R.CTRL_IRT_CACHE_DIS)) !== 0n) this.irtes.invalidateAll();
    // Routes built from cached IRTEs are copies of them too: IRTCacheDis must evict them along with the IRTE cache
    // (software stops invalidating once the bit is set), and while it is set the core caches no route (see remap).
    const routeState = R.CTRL_IOMMU_EN | R.CTRL_GA_EN | R.CTRL_GAM_EN_MASK | R.CTRL_XT_EN | R.CTRL_NUM_INT_REMAP_MASK | R.CTRL_IRT_CACHE_DIS;
    if ((changed & routeState) !== 0n) {
      this.host.routes.invalidateAllRoutes();
    }

    const both = (v: bigint, bit: bigint): boolean => (v & R.CTRL_IOMMU_EN) !== 0n && (v & bit) !== 0n;
    if (!both(next, R.CTRL_EVENT_LOG_EN)) this.status &= ~R.STATUS_EVENT_LOG_RUN;
    else if (!both(old, R.CTRL_EVENT_LOG_EN)) this.status |= R.STATUS_EVENT_LOG_RUN;
    if (!both(next, R.CTRL_GA_LOG_EN)) this.status &= ~R.STATUS_GA_LOG_RUN;
    else if (!both(old, R.CTRL_GA_LOG_EN)) this.status |= R.STATUS_GA_LOG_RUN;
    if (!both(next, R.CTRL_CMD_BUF_EN)) {
      this.status &= ~R.STATUS_CMD_BUF_RUN;
    } else if (!both(old, R.CTRL_CMD_BUF_EN)) {
      this.status |= R.STATUS_CMD_BUF_RUN;
      this.processCommands();
    }
  }

  // ---- Command buffer ----------------------------------------------------------------------------------------------

  private processCommands(): void {
    if (this.processingCommands) return; // an interrupt handler writing the tail re-enters: the loop picks it up
    this.processingCommands = true;
    try {
      const memory = this.host.memory;
      const words = this.cmdWords;
      while ((this.status & R.STATUS_CMD_BUF_RUN) !== 0 && this.cmd.pending) {
        const at = this.cmd.headAddress;
        try {
          for (let i = 0; i < 4; i++) words[i] = memory.read32(at + 4 * i);
        } catch {
          this.stopCommands(commandHardwareErrorEvent(at));
          return;
        }
        const command = decodeCommand(words, { iaSup: this.options.iaSup });
        if (command.op === 'ILLEGAL') {
          if (this.host.events.active) this.host.events.hop('irqpath_amdvi_invalid_command', [['addr', BigInt(at)], ['reason', command.reason]]);
          this.stopCommands(illegalCommandEvent(at));
          return;
        }
        if (!this.execute(command)) return;
        this.cmd.advance();
      }
    } finally {
      this.processingCommands = false;
    }
  }

  private stopCommands(ev: AmdEvent): void {
    this.status &= ~R.STATUS_CMD_BUF_RUN;
    this.reportEvent(ev, this.requesterId, -1, null);
  }

  /** Execute one valid command; false when it failed (processing stops). */
  private execute(command: Command): boolean {
    const hub = this.host.events;
    const routes = this.host.routes;
    switch (command.op) {
      case 'COMPLETION_WAIT':
        if (command.store) {
          try {
            this.host.memory.write32(command.storeAddress, command.storeDataLo);
            this.host.memory.write32(command.storeAddress + 4, command.storeDataHi);
          } catch {
            this.stopCommands(commandHardwareErrorEvent(command.storeAddress));
            return false;
          }
        }
        if (hub.active) {
          hub.hop('amdvi_completion_wait', [
            ['addr', BigInt(command.storeAddress)], ['data', (BigInt(command.storeDataHi) << 32n) | BigInt(command.storeDataLo)],
            ['store', command.store], ['interrupt', command.interrupt],
          ]);
        }
        if (command.interrupt) this.raiseStatus(R.STATUS_COM_WAIT_INT);
        return true;
      case 'INVALIDATE_DEVTAB_ENTRY': {
        const id = command.deviceId;
        this.dtes.invalidate(id);
        this.dma.dteInvalidated(id);
        routes.invalidateRoutes((cookie) => cookieIsAmdDevice(cookie, id));
        if (hub.active) hub.hop('amdvi_devtab_inval', [['bus', id >>> 8], ['slot', (id >>> 3) & 0x1f], ['func', id & 7]]);
        return true;
      }
      case 'INVALIDATE_INTERRUPT_TABLE': {
        const id = command.deviceId;
        this.irtes.invalidateDevice(id);
        routes.invalidateRoutes((cookie) => cookieIsAmdDevice(cookie, id));
        if (hub.active) hub.hop('amdvi_intr_inval', [['devid', formatBdf(id)]]);
        return true;
      }
      case 'INVALIDATE_IOMMU_PAGES': {
        // §2.4.3: S = 0 → the one 4 KiB page at Address; S = 1 → the naturally aligned range whose size is given by
        // the run of 1s from Address bit 12 (2^(13 + n) bytes); all 1s up to bit 62 (Linux's
        // CMD_INV_IOMMU_ALL_PAGES_ADDRESS) covers the whole domain. PDE = 1 also drops cached directory entries:
        // this model caches leaves only, so it changes nothing more.
        const [base, length] = invalidationRange(command.address, command.size);
        if (length >= 2 ** 63) this.iotlb.invalidateDomain(command.domainId);
        else this.iotlb.invalidateRange(command.domainId, base, length);
        if (hub.active) hub.hop('amdvi_pages_inval', [['domid', command.domainId], ['addr', command.address]]);
        return true;
      }
      case 'INVALIDATE_IOMMU_ALL':
        this.dtes.invalidateAll();
        this.irtes.invalidateAll();
        this.iotlb.invalidateAll();
        this.dma.allDtesInvalidated();
        routes.invalidateAllRoutes();
        if (hub.active) hub.hop('amdvi_all_inval', []);
        return true;
      default:
        return true;
    }
  }

  // ---- Event log and the IOMMU's own interrupt ---------------------------------------------------------------------

  private reportEvent(ev: AmdEvent, sourceId: number, index: number, suppressedBy: string | null): boolean {
    let reason = suppressedBy;
    let raise = 0;
    if (reason === null) {
      if ((this.status & R.STATUS_EVENT_LOG_RUN) === 0) {
        const en = (this.control & R.CTRL_EVENT_LOG_EN) !== 0n;
        reason = en ? 'event log stopped (overflow; software must restart it)' : 'event logging disabled (Control.EventLogEn = 0)';
      } else {
        let outcome: 'logged' | 'overflow' | 'error';
        try {
          outcome = this.evt.append(ev);
        } catch {
          outcome = 'error';
        }
        if (outcome === 'logged') {
          raise = R.STATUS_EVENT_LOG_INT;
        } else if (outcome === 'overflow') {
          this.status &= ~R.STATUS_EVENT_LOG_RUN;
          raise = R.STATUS_EVENT_OVERFLOW;
          reason = 'event log overflow';
        } else {
          reason = 'event log lies outside the physical address space';
        }
      }
    }
    const recorded = raise === R.STATUS_EVENT_LOG_INT;
    const hub = this.host.events;
    if (hub.active) {
      const linuxLog = formatLinuxEvent(ev);
      hub.hop('irqpath_amdvi_event_log', [['type', eventCodeName(ev.code)], ['devid', ev.deviceId], ['recorded', recorded], ['line', linuxLog]]);
      hub.emit('iommu_fault', {
        unit: 'amd-vi',
        sourceId,
        code: ev.code,
        name: eventCodeName(ev.code),
        index,
        recorded,
        ...(reason !== null ? { suppressedBy: reason } : {}),
        linuxLog,
        record: eventRecord(ev),
      });
    }
    if (raise !== 0) this.raiseStatus(raise);
    return recorded;
  }

  /**
   * Step 10a's GA log write (IsRun = 0, GALogIntr = 1). Nothing is written while GALogRun = 0 (GALogEn clear, or the
   * log stopped on overflow); a full log sets GAOverflow and stops. True when the entry was written.
   */
  private logGuestInterrupt(gaTag: number, deviceId: number): boolean {
    if ((this.status & R.STATUS_GA_LOG_RUN) === 0) {
      if (this.host.events.active) this.host.events.hop('irqpath_amdvi_ga_log_off', [['ga_tag', gaTag >>> 0]]);
      return false;
    }
    let outcome: 'logged' | 'overflow' | 'error';
    try {
      outcome = this.gaLogRing.append(gaTag, deviceId);
    } catch {
      outcome = 'error';
    }
    const hub = this.host.events;
    if (hub.active) hub.hop('irqpath_amdvi_ga_log', [['ga_tag', gaTag >>> 0], ['devid', formatBdf(deviceId)], ['outcome', outcome]]);
    if (outcome === 'logged') {
      this.raiseStatus(R.STATUS_GA_INT);
      return true;
    }
    if (outcome === 'overflow') {
      this.status &= ~R.STATUS_GA_LOG_RUN;
      this.raiseStatus(R.STATUS_GA_OVERFLOW);
    }
    return false;
  }

  /** Set status bits; a 0→1 edge of an enabled interrupt source sends the IOMMU's interrupt. */
  private raiseStatus(bits: number): void {
    const rising = bits & ~this.status;
    this.status |= bits;
    const evtInt = (this.control & R.CTRL_EVENT_INT_EN) !== 0n && (rising & (R.STATUS_EVENT_LOG_INT | R.STATUS_EVENT_OVERFLOW)) !== 0;
    const cwInt = (this.control & R.CTRL_COM_WAIT_INT_EN) !== 0n && (rising & R.STATUS_COM_WAIT_INT) !== 0;
    const gaInt = (this.control & R.CTRL_GA_INT_EN) !== 0n && (rising & (R.STATUS_GA_INT | R.STATUS_GA_OVERFLOW)) !== 0;
    if (evtInt || cwInt) this.signalInterrupt(0);
    if (gaInt) this.signalInterrupt(2);
  }

  /** The IOMMU's interrupt: `xt` selects the XT register (0 = 0x170 event log, 2 = 0x180 GA log) when IntCapXTEn. */
  private signalInterrupt(xt: 0 | 2): void {
    const hub = this.host.events;
    if (this.options.xt && (this.control & R.CTRL_INTCAPXT_EN) !== 0n) {
      const reg = this.xtIntrCtrl[xt];
      if (reg === 0n) {
        if (hub.active) hub.hop('irqpath_amdvi_intcapxt_masked', [['reg', XT_REGS[xt]]]);
        return;
      }
      const msg = decodeXtInterruptControl(R.lo32(reg), R.hi32(reg), this.ownMessage);
      if (hub.active) hub.hop('irqpath_amdvi_intcapxt_interrupt', [['dest', msg.dest], ['dm', msg.destMode], ['vector', msg.vector]]);
      this.host.deliverToApicBus(msg);
      return;
    }
    const pci = this.pciFunction;
    if (!pci.msiEnabled) {
      if (hub.active) hub.hop('irqpath_amdvi_msi_disabled', []);
      return;
    }
    if (hub.active) hub.hop('irqpath_amdvi_generate_msi_interrupt', [['addr_hi', pci.msiAddrHi], ['addr_lo', pci.msiAddrLo], ['data', pci.msiData]]);
    this.host.sendOwnMsi(pci.msiAddrHi, pci.msiAddrLo, pci.msiData);
  }

  // ---- Snapshot ----------------------------------------------------------------------------------------------------

  save(): AmdIommuState {
    const hex = (v: bigint): string => '0x' + v.toString(16);
    return {
      version: AMD_IOMMU_STATE_VERSION,
      devTabBase: hex(this.devTabBar),
      cmdBufBase: hex(this.cmd.baseReg),
      evtLogBase: hex(this.evt.baseReg),
      control: hex(this.control),
      exclBase: hex(this.exclBase),
      exclLimit: hex(this.exclLimit),
      xtIntrCtrl: [hex(this.xtIntrCtrl[0]), hex(this.xtIntrCtrl[1]), hex(this.xtIntrCtrl[2])],
      status: this.status,
      cmdBufHead: this.cmd.head,
      cmdBufTail: this.cmd.tail,
      evtLogHead: this.evt.head,
      evtLogTail: this.evt.tail,
      ...(this.options.vapic ? { gaLogBase: hex(this.gaLogRing.baseReg), gaLogTailAddr: hex(this.gaLogRing.tailAddrReg), gaLogHead: this.gaLogRing.head, gaLogTail: this.gaLogRing.tail } : {}),
      latchedLow: [...this.latchedLow.entries()],
      dteCache: this.dtes.entries(),
      irteCache: this.irtes.entries(),
      iotlb: this.iotlb.entries().map(({ domain, entry: e }) => ({
        domainId: domain, inBase: hex(BigInt(e.inBase)), outBase: hex(BigInt(e.outBase)), pageSize: hex(BigInt(e.pageSize)), read: e.read, write: e.write,
      })),
    };
  }

  /** Restore a snapshot from {@link save}. Throws UsageError naming the bad field and changes nothing on bad input. */
  restore(state: AmdIommuState): void {
    const s = validateState(state, this.controlWritable, this.options.xt);
    this.devTabBar = s.devTabBase;
    this.cmd.baseReg = s.cmdBufBase;
    this.evt.baseReg = s.evtLogBase;
    this.control = s.control;
    this.exclBase = s.exclBase;
    this.exclLimit = s.exclLimit;
    this.dmaControl.exclusionBase = Number(s.exclBase);
    this.dmaControl.exclusionLimit = Number(s.exclLimit);
    for (let i = 0; i < 3; i++) this.xtIntrCtrl[i] = s.xtIntrCtrl[i];
    this.status = s.status;
    this.cmd.head = s.cmdBufHead;
    this.cmd.tail = s.cmdBufTail;
    this.evt.head = s.evtLogHead;
    this.evt.tail = s.evtLogTail;
    this.gaLogRing.baseReg = s.gaLogBase;
    this.gaLogRing.tailAddrReg = s.gaLogTailAddr;
    this.gaLogRing.head = s.gaLogHead;
    this.gaLogRing.tail = s.gaLogTail;
    this.latchedLow.clear();
    for (const [off, v] of s.latchedLow) this.latchedLow.set(off, v);
    const c = this.remapControl;
    c.devTabBase = Number(this.devTabBar & R.ADDR_51_12_MASK);
    c.devTabEntries = ((Number(this.devTabBar & R.DEV_TAB_SIZE_MASK) + 1) * 4096) / DTE_BYTES;
    c.iommuEn = (this.control & R.CTRL_IOMMU_EN) !== 0n;
    c.gaEn = (this.control & R.CTRL_GA_EN) !== 0n;
    c.gaVapic = c.gaEn && ((this.control & R.CTRL_GAM_EN_MASK) >> R.CTRL_GAM_EN_SHIFT) === R.GAM_EN_VAPIC;
    c.xtEn = (this.control & R.CTRL_XT_EN) !== 0n;
    c.intRemap2k = ((this.control & R.CTRL_NUM_INT_REMAP_MASK) >> R.CTRL_NUM_INT_REMAP_SHIFT) === R.NUM_INT_REMAP_2K;
    c.irtCacheDis = (this.control & R.CTRL_IRT_CACHE_DIS) !== 0n;
    this.dtes.invalidateAll();
    this.irtes.invalidateAll();
    this.iotlb.invalidateAll();
    this.dma.allDtesInvalidated();
    for (const [id, words] of s.dteCache) this.dtes.load(id, words);
    for (const e of s.iotlb) this.iotlb.fill(e.domainId, Number(e.inBase), Number(e.outBase), Number(e.pageSize), e.read, e.write);
    for (const block of s.irteCache) {
      for (const [index, words] of block.irtes) this.irtes.load(block.deviceId, block.root, block.entryBytes as 4 | 16, index, words);
    }
    this.host.routes.invalidateAllRoutes();
  }
}

/** [base, length] of an INVALIDATE_IOMMU_PAGES command (length ≥ 2^63 means the whole domain). */
function invalidationRange(address: bigint, size: boolean): [number, number] {
  const addr = address & ~0xfffn;
  if (!size) return [Number(addr), 4096];
  let n = 0n;
  while (n < 52n && ((addr >> (12n + n)) & 1n) === 1n) n++;
  const length = 1n << (13n + n);
  return [Number(addr & ~(length - 1n)), Number(length)];
}

// ---- Snapshot validation -------------------------------------------------------------------------------------------

interface ValidState {
  devTabBase: bigint;
  cmdBufBase: bigint;
  evtLogBase: bigint;
  control: bigint;
  exclBase: bigint;
  exclLimit: bigint;
  xtIntrCtrl: bigint[];
  status: number;
  cmdBufHead: number;
  cmdBufTail: number;
  evtLogHead: number;
  evtLogTail: number;
  gaLogBase: bigint;
  gaLogTailAddr: bigint;
  gaLogHead: number;
  gaLogTail: number;
  latchedLow: [number, number][];
  dteCache: [number, number[]][];
  irteCache: { deviceId: number; root: number; entryBytes: number; irtes: [number, number[]][] }[];
  iotlb: IotlbEntryState[];
}

function validateState(state: unknown, controlWritable: bigint, xt: boolean): ValidState {
  const fail = (field: string, why: string): never => {
    throw new UsageError(`AMD IOMMU state: ${field}: ${why}`);
  };
  if (state === null || typeof state !== 'object') fail('state', 'must be an object');
  const s = state as Record<string, unknown>;
  if (s.version !== AMD_IOMMU_STATE_VERSION) fail('version', `must be ${AMD_IOMMU_STATE_VERSION}, got ${JSON.stringify(s.version)}`);
  const reg = (field: string, raw: unknown, writable: bigint): bigint => {
    if (typeof raw !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(raw)) return fail(field, `must be a hex string like "0x1f", got ${JSON.stringify(raw)}`);
    const v = BigInt(raw);
    if ((v & ~writable) !== 0n) fail(field, `${raw} sets bits outside the register's writable mask 0x${writable.toString(16)}`);
    return v;
  };
  const int = (field: string, raw: unknown, max: number): number => {
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0 || raw > max) return fail(field, `must be an integer 0..${max}, got ${JSON.stringify(raw)}`);
    return raw;
  };
  const dwords = (field: string, raw: unknown, n: number): number[] => {
    if (!Array.isArray(raw) || raw.length !== n) return fail(field, `must be ${n} dwords`);
    return raw.map((w, i) => int(`${field}[${i}]`, w, 0xffffffff));
  };
  const devTabBase = reg('devTabBase', s.devTabBase, R.DEV_TAB_BASE_WRITABLE);
  const cmdBufBase = reg('cmdBufBase', s.cmdBufBase, R.BUF_BASE_WRITABLE);
  const evtLogBase = reg('evtLogBase', s.evtLogBase, R.BUF_BASE_WRITABLE);
  const control = reg('control', s.control, controlWritable);
  const exclBase = reg('exclBase', s.exclBase, R.EXCL_BASE_WRITABLE);
  const exclLimit = reg('exclLimit', s.exclLimit, R.EXCL_LIMIT_WRITABLE);
  if (!Array.isArray(s.xtIntrCtrl) || s.xtIntrCtrl.length !== 3) fail('xtIntrCtrl', 'must be three hex strings');
  const xtIntrCtrl = (s.xtIntrCtrl as unknown[]).map((v, i) => reg(`xtIntrCtrl[${i}]`, v, xt ? R.XT_INTR_CTRL_WRITABLE : 0n));
  const status = int('status', s.status, 0xffffffff);
  if ((status & ~STATUS_LIVE_BITS) !== 0) fail('status', `0x${status.toString(16)} sets bits this model never sets (only 4:0 and 10:8 are live)`);
  const ring = (field: string, raw: unknown, base: bigint): number => {
    const v = int(field, raw, R.RING_PTR_MASK);
    if (v % 16 !== 0) fail(field, `must be a multiple of 16, got ${v}`);
    const len = Number((base >> R.BUF_LEN_SHIFT) & R.BUF_LEN_MASK);
    if (v >= R.ringBytes(base) && !(len === 0 && v === 0)) fail(field, `${v} is beyond the ${R.ringBytes(base)}-byte buffer`);
    return v;
  };
  const cmdBufHead = ring('cmdBufHead', s.cmdBufHead, cmdBufBase);
  const cmdBufTail = ring('cmdBufTail', s.cmdBufTail, cmdBufBase);
  const evtLogHead = ring('evtLogHead', s.evtLogHead, evtLogBase);
  const evtLogTail = ring('evtLogTail', s.evtLogTail, evtLogBase);
  const gaLogBase = s.gaLogBase === undefined ? 0n : reg('gaLogBase', s.gaLogBase, R.GA_LOG_BASE_WRITABLE);
  const gaLogTailAddr = s.gaLogTailAddr === undefined ? 0n : reg('gaLogTailAddr', s.gaLogTailAddr, R.GA_LOG_TAIL_ADDR_WRITABLE);
  const gaRing = (field: string, raw: unknown): number => {
    if (raw === undefined) return 0;
    const v = int(field, raw, R.GA_LOG_PTR_MASK);
    if (v % 8 !== 0) fail(field, `must be a multiple of 8, got ${v}`);
    if (v >= R.ringBytes(gaLogBase) && v !== 0) fail(field, `${v} is beyond the ${R.ringBytes(gaLogBase)}-byte GA log`);
    return v;
  };
  const gaLogHead = gaRing('gaLogHead', s.gaLogHead);
  const gaLogTail = gaRing('gaLogTail', s.gaLogTail);
  if (!Array.isArray(s.latchedLow)) fail('latchedLow', 'must be an array of [offset, value]');
  const latchedLow = (s.latchedLow as unknown[]).map((pair, i): [number, number] => {
    if (!Array.isArray(pair) || pair.length !== 2 || !LATCHED_BASES.has(pair[0] as number)) {
      return fail(`latchedLow[${i}]`, 'must be [0x0 | 0x8 | 0x10, dword]');
    }
    return [pair[0] as number, int(`latchedLow[${i}][1]`, pair[1], 0xffffffff)];
  });
  if (!Array.isArray(s.dteCache)) fail('dteCache', 'must be an array');
  const dteCache = (s.dteCache as unknown[]).map((e, i): [number, number[]] => {
    if (!Array.isArray(e) || e.length !== 2) return fail(`dteCache[${i}]`, 'must be [deviceId, dwords]');
    return [int(`dteCache[${i}][0]`, e[0], 0xffff), dwords(`dteCache[${i}][1]`, e[1], 8)];
  });
  if (!Array.isArray(s.irteCache)) fail('irteCache', 'must be an array');
  const irteCache = (s.irteCache as unknown[]).map((b, i) => {
    if (b === null || typeof b !== 'object') return fail(`irteCache[${i}]`, 'must be an object');
    const block = b as Record<string, unknown>;
    const entryBytes = block.entryBytes;
    if (entryBytes !== 4 && entryBytes !== 16) fail(`irteCache[${i}].entryBytes`, 'must be 4 or 16');
    const root = block.root;
    if (typeof root !== 'number' || !Number.isInteger(root) || root < 0 || root >= 2 ** 52) fail(`irteCache[${i}].root`, 'must be a physical address');
    if (!Array.isArray(block.irtes)) fail(`irteCache[${i}].irtes`, 'must be an array');
    const irtes = (block.irtes as unknown[]).map((e, j): [number, number[]] => {
      if (!Array.isArray(e) || e.length !== 2) return fail(`irteCache[${i}].irtes[${j}]`, 'must be [index, dwords]');
      return [int(`irteCache[${i}].irtes[${j}][0]`, e[0], IRTE_CACHE_ENTRIES - 1), dwords(`irteCache[${i}].irtes[${j}][1]`, e[1], 4)];
    });
    return { deviceId: int(`irteCache[${i}].deviceId`, block.deviceId, 0xffff), root: root as number, entryBytes: entryBytes as number, irtes };
  });
  if (s.iotlb !== undefined && !Array.isArray(s.iotlb)) fail('iotlb', 'must be an array');
  const iotlb = ((s.iotlb ?? []) as unknown[]).map((e, i): IotlbEntryState => {
    if (e === null || typeof e !== 'object') return fail(`iotlb[${i}]`, 'must be an object');
    const o = e as Record<string, unknown>;
    const addr = (field: string): string => {
      const v = o[field];
      if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(v) || BigInt(v) % 4096n !== 0n) return fail(`iotlb[${i}].${field}`, 'must be a 4 KiB-aligned hex address');
      return v;
    };
    const pageSize = addr('pageSize');
    const size = BigInt(pageSize);
    if (size === 0n || (size & (size - 1n)) !== 0n) fail(`iotlb[${i}].pageSize`, 'must be a power of two');
    const inBase = addr('inBase');
    const outBase = addr('outBase');
    if (BigInt(inBase) % size !== 0n || BigInt(outBase) % size !== 0n) fail(`iotlb[${i}]`, 'inBase and outBase must be aligned to pageSize');
    if (typeof o.read !== 'boolean' || typeof o.write !== 'boolean') fail(`iotlb[${i}]`, 'read and write must be true or false');
    return { domainId: int(`iotlb[${i}].domainId`, o.domainId, 0xffff), inBase, outBase, pageSize, read: o.read as boolean, write: o.write as boolean };
  });
  return {
    devTabBase, cmdBufBase, evtLogBase, control, exclBase, exclLimit, xtIntrCtrl, status, cmdBufHead, cmdBufTail,
    evtLogHead, evtLogTail, gaLogBase, gaLogTailAddr, gaLogHead, gaLogTail, latchedLow, dteCache, irteCache, iotlb,
  };
}

