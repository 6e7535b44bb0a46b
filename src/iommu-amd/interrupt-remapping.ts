/**
 * AMD-Vi interrupt remapping: what the IOMMU does with one interrupt request (a write to 0xFEEx_xxxx) from
 * DeviceID D with address A and data X. AMD IOMMU spec §2.2.5, step by step:
 *
 *  1. IommuEn = 0 → forwarded unchanged.
 *     (A DeviceID whose DTE lies beyond the device table (Size field) has no DTE: logged as IO_PAGE_FAULT (I = 1,
 *     PR = 0) + target abort. The notes give no rule; this rests on VirtualBox listing "DevId_Invalid" among the
 *     IO_PAGE_FAULT causes. DomainID is 0 because there is no entry to take it from.)
 *  2. Read DTE[D] (cached); a read outside the physical address space → DEV_TAB_HARDWARE_ERROR + target abort.
 *  3. IV = 0 → forwarded unchanged. V is ignored for interrupts (QEMU/VBox; Linux's HATDis path relies on it).
 *  4. IV = 1: reserved bits in qwords 2–3 → ILLEGAL_DEV_TABLE_ENTRY (I = 1, RZ = 1) + target abort.
 *     The reserved encodings IntCtl = 11b and IntTabLen ≥ 12 matter only where they are used, for fixed/arbitrated
 *     requests (step 6 table of the notes; VirtualBox iommuAmdIntrTableLookup): an NMI with NMIPass = 1 from a
 *     device whose IntCtl is 11b is still passed. IntCtl = 11b → ILLEGAL_DEV_TABLE_ENTRY with RZ = 1, IntTabLen ≥ 12
 *     (checked when IntCtl = 10b) → ILLEGAL_DEV_TABLE_ENTRY with RZ = 0, as VirtualBox reports them.
 *  5. The address is in the interrupt window: the translation core only calls remap() for such writes.
 *  6. Message type = X[10:8]:
 *       000/001 Fixed/Arbitrated: IntCtl 00 → INVALID_DEVICE_REQUEST type 101b + target abort (this event rests on
 *                a third-party quote of the spec, see event-codes.ts; QEMU/VBox log nothing); 01 → forwarded;
 *                10 → remapped.
 *       010 SMI: forwarded unchanged, as VirtualBox does (no SMI filter is advertised; QEMU rejects SMI; the
 *                hardware behaviour is UNCONFIRMED in the notes).
 *       100 NMI / 101 INIT / 111 ExtINT: forwarded unchanged iff NMIPass / InitPass / EIntPass, else target abort.
 *       Types other than 000/001 are passed only with address DM (bit 2) = 0, else target abort: QEMU
 *       amdvi_int_remap_msi (notes step 6) and VirtualBox, which cites the note below the spec's Table 19
 *       ("IOMMU Controls and Actions for Upstream Interrupts").
 *       011, 110 reserved: target abort (VBox).
 *     A target abort without an event is still a visible 'fault' result (recorded = false, code 0).
 *  7. Index = X[10:0]. Only types 000/001 get here, so X[10:9] = 0 and the index is X[8:0] (0–511).
 *     2K mode (Control.NumIntRemapMode = 01b, supported via EFR2): "MSI address destination mode (DM) bit decides
 *     how many MSI data bits are used … When DM = 0, IOMMU uses bits 8:0 (max 512) for the index, otherwise (DM = 1)
 *     IOMMU uses bits 10:0 (max 2048)" (AMD-authored QEMU RFC). With DM = 1 all eleven bits are index, so X[10:8] is
 *     not read as a message type (Linux puts data = index up to 2047 with DM = 1 on every remapped MSI).
 *  8. Index ≥ 2^IntTabLen → IO_PAGE_FAULT (I = 1, PR = 0) + target abort (VBox; QEMU does not check).
 *  9. RemapEn = 0 → IO_PAGE_FAULT (I = 1, PR = 0) + target abort.
 * 10. 32-bit IRTE with GuestMode = 1, or IntType reserved (≥ 010b) → IO_PAGE_FAULT (RZ = 1, PR = 1) + target abort.
 *     128-bit IRTE with GuestMode = 1 while Control.GAMEn ≠ 001b (guest vAPIC mode not enabled, or not advertised
 *     by EFR.GAMSup): GuestMode is then a field the IOMMU does not accept, the same IO_PAGE_FAULT (RZ = 1, PR = 1)
 *     (inferred from the 32-bit case; the reference does not spell this one out).
 * 10a. 128-bit IRTE with GuestMode = 1 and GAMEn = 001b: guest virtual APIC posting (vapic-backing-page.ts,
 *     ga-log.ts). The IOMMU sets the IRTE's guest vector in the IRR of the vAPIC backing page at GA Root Ptr; then
 *       IsRun = 1 → a doorbell to the physical APIC ID in Destination (the host CPU the vCPU runs on; its AVIC
 *                   hardware moves IRR into the guest without a VM exit);
 *       IsRun = 0, GALogIntr = 1 → a GA log entry (GATag, DeviceID) and the GA log interrupt, so the hypervisor
 *                   wakes the vCPU (Linux iommu_poll_ga_log → KVM avic_ga_log_notifier);
 *       IsRun = 0, GALogIntr = 0 → nothing more: the bit waits in IRR for the vCPU's next entry.
 *     Destination, IsRun and GATag are not cached ("Per the IOMMU spec, the Destination, IsRun, and GATag fields are
 *     not cached", Linux amd_iommu_update_ga, which therefore changes them without INVALIDATE_INTERRUPT_TABLE): they
 *     are read from memory on every request. A backing page outside the physical address space is logged as
 *     PAGE_TAB_HARDWARE_ERROR at the IRR address (the event the IOMMU uses for its other table reads; UNCONFIRMED
 *     for the backing page). GAPPIDis (EFR2.GAPPIDisSup) is not advertised and not modelled.
 * 11. Deliver: vector, DM, destination, IntType from the IRTE; the destination is 32-bit (x2APIC) when GAEn and
 *     Control.XTEn are set, else Destination[7:0]. The trigger mode stays the source's (data bit 15), as VirtualBox
 *     keeps the source bits; QEMU regenerates the message with trigger mode 0, which would turn a level-triggered
 *     I/O APIC pin into an edge at the APIC and lose the EOI broadcast. Redirection hint stays the source's address
 *     bit 3 likewise (RqEoi's meaning is UNCONFIRMED; QEMU maps it to RH).
 *
 * Event suppression: logging of the interrupt IO_PAGE_FAULTs is suppressed by DTE.IG = 1 ("ignore unmapped
 * interrupts"; Xen sets `ig = false` with the comment "unmapped interrupts result in i/o page faults") and, for faults on an entry
 * that was read, by IRTE.SupIOPF. VirtualBox computes `!IG`, which reads inverted against Xen; Xen is followed.
 *
 * Hot path (warm caches, successful remap): no allocation — typed-array scratch buffers, numbers only; trace hops
 * are built only while the event hub is active. Faults allocate (their record is a new object each time).
 */
import type { EventHub } from '../core/events.ts';
import { formatBdf } from '../core/bdf.ts';
import type { SparseMemory } from '../core/memory.ts';
import { amdCookie } from '../msi/cookie.ts';
import { DeliveryMode } from '../msi/interrupt.ts';
import { qemuRemappedMessage } from '../msi/qemu-irq-message.ts';
import type { TranslationResult } from '../msi/translation-result.ts';
import type { DteCache, IrteCache } from './caches.ts';
import {
  DTE_D5_EINT_PASS,
  DTE_D5_INIT_PASS,
  DTE_D5_NMI_PASS,
  DTE_DWORDS,
  IntCtl,
  decodeDte,
  dteDomainId,
  dteIg,
  dteIntCtl,
  dteIntTabLen,
  dteIntTableRoot,
  dteInterruptReservedBits,
  dteIv,
  INT_TAB_LEN_MAX,
} from './device-table-entry.ts';
import {
  type AmdEvent,
  devTabHardwareErrorEvent,
  illegalDevTableEntryEvent,
  intCtlAbortEvent,
  interruptPageFaultEvent,
  pageTabHardwareErrorEvent,
} from './event-log.ts';
import {
  decodeIrte128,
  decodeIrte32,
  irte128Dest32,
  irte128Vector,
  irte32Vector,
  IRTE_GA_LOG_INTR,
  IRTE_IS_RUN,
  irteDest8,
  irteDestMode,
  irteGaRootPtr,
  irteGuestMode,
  irteIntType,
  irteRemapEn,
  irteSupIopf,
} from './irte.ts';
import { setVapicIrr, vapicIrrWordAddress } from './vapic-backing-page.ts';

/** The `amdvi_ir_delivery_mode` texts of QEMU amdvi_int_remap_msi, by message type (data 10:8). */
const QEMU_DELIVERY_MODE_NAMES: readonly (string | undefined)[] = [
  'fixed/arbitrated', 'fixed/arbitrated', undefined, 'unsupported delivery_mode', 'nmi', 'init', 'unsupported delivery_mode', 'eint',
];

/** Global state the algorithm reads; the register file keeps it current (plain fields, read on every request). */
export interface RemapControl {
  iommuEn: boolean;
  /** Control.GAEn: 128-bit IRTEs. */
  gaEn: boolean;
  /** Control.GAMEn = 001b (and EFR.GAMSup): GuestMode = 1 IRTEs post to a guest vAPIC. */
  gaVapic: boolean;
  /** Control.XTEn: 32-bit destinations (meaningful with 128-bit IRTEs). */
  xtEn: boolean;
  /** Control.NumIntRemapMode = 01b and EFR2 advertises it. */
  intRemap2k: boolean;
  irtCacheDis: boolean;
  devTabBase: number;
  /** Number of DTEs the Size field covers: (Size + 1) x 4 KiB / 32. */
  devTabEntries: number;
}

/** Where the algorithm sends an event; returns true when the entry was written to the event log. */
export interface AmdEventSink {
  report(ev: AmdEvent, sourceId: number, index: number, suppressedBy: string | null): boolean;
  /** Write a GA log entry (GATag, DeviceID) and raise the GA log interrupt; false when it could not be logged. */
  gaLog(gaTag: number, deviceId: number): boolean;
}

/** A target abort with no event-log entry: hardware drops the write and records nothing. */
const NO_EVENT = 0;

export class AmdInterruptRemapping {
  private readonly dte = new Uint32Array(DTE_DWORDS);
  private readonly irte = new Uint32Array(4);

  constructor(
    private readonly control: RemapControl,
    private readonly memory: SparseMemory,
    private readonly hub: EventHub,
    private readonly dteCache: DteCache,
    private readonly irteCache: IrteCache,
    private readonly sink: AmdEventSink,
  ) {}

  remap(sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, out: TranslationResult): boolean {
    const ctl = this.control;
    const hub = this.hub;
    const deviceId = sourceId & 0xffff;
    // QEMU amdvi_int_remap_msi: every request is traced first (QEMU's devid argument is uint8_t, so it prints
    // DeviceID 7:0), and every request let through ends with `amdvi_ir_remap_msi (request) -> (result)`.
    if (hub.active) hub.hop('amdvi_ir_remap_msi_req', [['addr', msiAddress(addrHi, addrLo)], ['data', data >>> 0], ['devid', deviceId & 0xff]]);
    if (!ctl.iommuEn) return this.passed(addrHi, addrLo, data);

    // Step 1b/2: the device table entry.
    if (deviceId >= ctl.devTabEntries) {
      return this.fail(out, deliverNow, sourceId, -1, interruptPageFaultEvent(deviceId, 0, msiAddress(addrHi, addrLo), false, false), null,
        'IO_PAGE_FAULT', `DeviceID ${formatBdf(deviceId)} is beyond the device table (${ctl.devTabEntries} entries)`);
    }
    const dte = this.dte;
    try {
      // Only a real request fills the caches: an inspection (deliverNow = false) must not make a later interrupt see
      // the entry as it was then instead of what memory holds when that interrupt arrives (as IntelIommu.remap).
      this.dteCache.read(this.memory, ctl.devTabBase, deviceId, deliverNow, dte);
    } catch {
      const at = ctl.devTabBase + deviceId * 32;
      return this.fail(out, deliverNow, sourceId, -1, devTabHardwareErrorEvent(deviceId, at, true), null,
        'DEV_TAB_HARDWARE_ERROR', `the DTE of ${formatBdf(deviceId)} at 0x${at.toString(16)} is outside the physical address space`);
    }
    const d4 = dte[4];
    const d5 = dte[5];

    // Step 3.
    if (!dteIv(d4)) return this.passed(addrHi, addrLo, data);

    // Step 4: reserved bits only. The reserved IntCtl / IntTabLen encodings are checked in step 6, where they are
    // used (fixed/arbitrated interrupts only).
    if (dteInterruptReservedBits(d5, dte[6], dte[7]) !== 0) {
      return this.illegalDte(out, deliverNow, sourceId, deviceId, addrHi, addrLo, true, 'has reserved bits set in its interrupt half');
    }

    // Step 6: message type (not read in 2K mode with DM = 1, where X[10:8] are index bits).
    const wideIndex = ctl.intRemap2k && (addrLo & 4) !== 0;
    const type = wideIndex ? DeliveryMode.Fixed : (data >>> 8) & 7;
    const intCtl = dteIntCtl(d5);
    // QEMU's names for the message types it handles; SMI it refuses without a trace line.
    const qemuMode = QEMU_DELIVERY_MODE_NAMES[type];
    if (hub.active && qemuMode !== undefined) hub.hop('amdvi_ir_delivery_mode', [['str', qemuMode]]);
    switch (type) {
      case DeliveryMode.Fixed:
      case DeliveryMode.LowestPriority:
        if (hub.active) hub.hop('amdvi_ir_intctl', [['val', intCtl]]);
        if (intCtl === IntCtl.ForwardUnmapped) return this.passed(addrHi, addrLo, data);
        if (intCtl === IntCtl.TargetAbort) {
          return this.fail(out, deliverNow, sourceId, -1, intCtlAbortEvent(deviceId, msiAddress(addrHi, addrLo)), null,
            'INVALID_DEVICE_REQUEST', `${formatBdf(deviceId)} sent a fixed/arbitrated interrupt but its DTE has IntCtl = 00b (abort)`, undefined, 'int_ctl abort');
        }
        if (intCtl === IntCtl.Reserved) {
          return this.illegalDte(out, deliverNow, sourceId, deviceId, addrHi, addrLo, true, 'has reserved IntCtl 11b');
        }
        if (dteIntTabLen(d4) > INT_TAB_LEN_MAX) {
          return this.illegalDte(out, deliverNow, sourceId, deviceId, addrHi, addrLo, false,
            `has reserved IntTabLen ${dteIntTabLen(d4)} (at most ${INT_TAB_LEN_MAX})`);
        }
        break; // IntCtl.Remap
      case DeliveryMode.SMI:
        if ((addrLo & 4) !== 0) return this.abort(out, sourceId, 'SMI with destination mode logical (address bit 2) is not passed');
        return this.passed(addrHi, addrLo, data);
      case DeliveryMode.NMI:
        if ((d5 & DTE_D5_NMI_PASS) === 0) return this.abort(out, sourceId, 'NMI from a device whose DTE has NMIPass = 0', 'passthrough is not enabled');
        if ((addrLo & 4) !== 0) return this.abort(out, sourceId, 'NMI with destination mode logical (address bit 2) is not passed', 'invalid dest_mode');
        return this.passed(addrHi, addrLo, data);
      case DeliveryMode.INIT:
        if ((d5 & DTE_D5_INIT_PASS) === 0) return this.abort(out, sourceId, 'INIT from a device whose DTE has InitPass = 0', 'passthrough is not enabled');
        if ((addrLo & 4) !== 0) return this.abort(out, sourceId, 'INIT with destination mode logical (address bit 2) is not passed', 'invalid dest_mode');
        return this.passed(addrHi, addrLo, data);
      case DeliveryMode.ExtINT:
        if ((d5 & DTE_D5_EINT_PASS) === 0) return this.abort(out, sourceId, 'ExtINT from a device whose DTE has EIntPass = 0', 'passthrough is not enabled');
        if ((addrLo & 4) !== 0) return this.abort(out, sourceId, 'ExtINT with destination mode logical (address bit 2) is not passed', 'invalid dest_mode');
        return this.passed(addrHi, addrLo, data);
      default:
        return this.abort(out, sourceId, `reserved message type ${type.toString(2).padStart(3, '0')}b in data bits 10:8`);
    }

    // Step 7/8: index and bounds.
    const index = wideIndex ? data & 0x7ff : data & 0x1ff;
    const intTabLen = dteIntTabLen(d4);
    const domainId = dteDomainId(dte[2]);
    const igSuppress = dteIg(d4) ? 'DTE.IG' : null;
    if (index >= 1 << intTabLen) {
      return this.fail(out, deliverNow, sourceId, index,
        interruptPageFaultEvent(deviceId, domainId, msiAddress(addrHi, addrLo), false, false), igSuppress,
        'IO_PAGE_FAULT', `IRTE index ${index} is beyond the ${1 << intTabLen}-entry table of ${formatBdf(deviceId)} (IntTabLen ${intTabLen})`);
    }

    // The entry (cached unless IRTCacheDis).
    const root = dteIntTableRoot(d4, d5);
    const wide = ctl.gaEn;
    const irte = this.irte;
    const entryBytes = wide ? 16 : 4;
    try {
      this.irteCache.read(this.memory, deviceId, root, index, entryBytes, !ctl.irtCacheDis, deliverNow, irte);
    } catch {
      const at = root + index * entryBytes;
      return this.fail(out, deliverNow, sourceId, index, pageTabHardwareErrorEvent(deviceId, domainId, at, 'interrupt'), null,
        'PAGE_TAB_HARDWARE_ERROR', `IRTE ${index} of ${formatBdf(deviceId)} at 0x${at.toString(16)} is outside the physical address space`);
    }
    const w0 = irte[0];
    if (hub.active) {
      hub.hop('amdvi_ir_irte', [['addr', BigInt(root)], ['offset', index * entryBytes]]);
      if (wide) hub.hop('amdvi_ir_irte_ga_val', [['hi', qword(irte[3], irte[2])], ['lo', qword(irte[1], irte[0])]]);
      else hub.hop('amdvi_ir_irte_val', [['data', w0 >>> 0]]);
    }
    const supIopf = irteSupIopf(w0) ? 'IRTE.SupIOPF' : null;

    // Step 9.
    if (!irteRemapEn(w0)) {
      return this.fail(out, deliverNow, sourceId, index,
        interruptPageFaultEvent(deviceId, domainId, msiAddress(addrHi, addrLo), false, false), igSuppress ?? supIopf,
        'IO_PAGE_FAULT', `IRTE ${index} of ${formatBdf(deviceId)} has RemapEn = 0`, () => this.decodeEntry(wide), 'RemapEn is disabled');
    }

    // Step 10.
    const guestMode = irteGuestMode(w0);
    if (guestMode && wide && ctl.gaVapic) {
      return this.postToVapic(out, deliverNow, sourceId, deviceId, domainId, root + index * 16, index);
    }
    const intType = irteIntType(w0);
    if (guestMode || intType > 1) {
      const why = guestMode
        ? (wide ? 'GuestMode = 1 but Control.GAMEn is not 001b (guest virtual APIC mode off)' : 'GuestMode = 1 in a 32-bit IRTE (GAEn = 0)')
        : `reserved IntType ${intType.toString(2).padStart(3, '0')}b`;
      return this.fail(out, deliverNow, sourceId, index,
        interruptPageFaultEvent(deviceId, domainId, msiAddress(addrHi, addrLo), true, true), igSuppress ?? supIopf,
        'IO_PAGE_FAULT', `IRTE ${index} of ${formatBdf(deviceId)} has ${why}`, () => this.decodeEntry(wide));
    }

    // Step 11.
    const msg = out.msg;
    if (wide && ctl.xtEn) {
      msg.dest = irte128Dest32(w0, irte[3]);
      msg.destWidth = 32;
    } else {
      msg.dest = irteDest8(w0);
      msg.destWidth = 8;
    }
    msg.vector = wide ? irte128Vector(irte[2]) : irte32Vector(w0);
    msg.destMode = irteDestMode(w0);
    msg.deliveryMode = intType; // 0 Fixed, 1 Arbitrated = lowest priority
    msg.trigger = (data >>> 15) & 1;
    msg.level = 1;
    msg.redirectionHint = (addrLo >>> 3) & 1;
    out.kind = 'deliver';
    out.format = 'amd-irte';
    out.fault = null;
    out.cookie = amdCookie(deviceId, index);
    // With IRTCacheDis the IOMMU reads the IRTE on every request and software skips INVALIDATE_INTERRUPT_TABLE, so
    // no route built from it may be cached by the translation core either.
    out.uncacheable = ctl.irtCacheDis;
    if (hub.active) {
      // The remapped message in the form QEMU hands to the APIC (x86_iommu_irq_to_msi_message). QEMU's AMD model
      // never sets the trigger mode (its line always shows edge); irqpath keeps the request's, as hardware does.
      const remapped = qemuRemappedMessage(msg, addrLo);
      hub.hop('amdvi_ir_remap_msi', [['addr', msiAddress(addrHi, addrLo)], ['data', data >>> 0], ['addr2', remapped.addr], ['data2', remapped.data]]);
    }
    return true;
  }

  /** A request let through unchanged (IOMMU off, DTE.IV = 0, IntCtl forward, a passed NMI/INIT/ExtINT/SMI). */
  private passed(addrHi: number, addrLo: number, data: number): false {
    if (this.hub.active) {
      const addr = msiAddress(addrHi, addrLo);
      this.hub.hop('amdvi_ir_remap_msi', [['addr', addr], ['data', data >>> 0], ['addr2', addr], ['data2', data >>> 0]]);
    }
    return false;
  }

  /** ILLEGAL_DEV_TABLE_ENTRY for an interrupt request (I = 1, RZ as given) + target abort. */
  private illegalDte(
    out: TranslationResult, deliverNow: boolean, sourceId: number, deviceId: number, addrHi: number, addrLo: number,
    reservedBits: boolean, why: string,
  ): true {
    const dte = this.dte;
    return this.fail(out, deliverNow, sourceId, -1, illegalDevTableEntryEvent(deviceId, msiAddress(addrHi, addrLo), reservedBits), null,
      'ILLEGAL_DEV_TABLE_ENTRY', `the DTE of ${formatBdf(deviceId)} ${why}`, () => ({ dte: decodeDte(dte) }));
  }

  /** The IRTE just read, decoded for a fault report (allocates; fault paths only). */
  private decodeEntry(wide: boolean): Record<string, unknown> {
    const e = this.irte;
    return { irte: wide ? decodeIrte128(e[0], e[1], e[2], e[3]) : decodeIrte32(e[0]) };
  }

  /** An event-backed target abort: report the event (when delivering now) and fill a 'fault' result. */
  private fail(
    out: TranslationResult, deliverNow: boolean, sourceId: number, index: number, ev: AmdEvent, suppressedBy: string | null,
    name: string, detail: string, extra?: () => Record<string, unknown>, qemuText?: string,
  ): true {
    const recorded = deliverNow ? this.sink.report(ev, sourceId, index, suppressedBy) : false;
    if (this.hub.active) {
      // QEMU's own text where QEMU aborts for the same reason; irqpath's detail for conditions QEMU does not check.
      const args: [string, string | number][] = [['str', qemuText ?? detail]];
      if (extra !== undefined) args.push(['entry', JSON.stringify(extra())]);
      this.hub.hop('amdvi_ir_target_abort', args);
    }
    out.setFault({ unit: 'amd-vi', code: ev.code, name, detail, index, recorded });
    out.cookie = amdCookie(sourceId, index < 0 ? 0xffff : index);
    return true;
  }

  /**
   * A target abort for which no event is defined (pass bit clear, reserved message type). Where QEMU refuses the same
   * request it traces `amdvi_ir_err` with its own text; irqpath then prints that line.
   */
  private abort(out: TranslationResult, sourceId: number, detail: string, qemuErr?: string): true {
    if (this.hub.active) this.hub.hop(qemuErr ? 'amdvi_ir_err' : 'amdvi_ir_target_abort', [['str', qemuErr ?? detail]]);
    out.setFault({ unit: 'amd-vi', code: NO_EVENT, name: 'target abort', detail, index: -1, recorded: false });
    out.cookie = amdCookie(sourceId, 0xffff);
    return true;
  }

  /**
   * Step 10a: post the interrupt into the guest vAPIC backing page. Words 0, 1 and 3 (Destination, IsRun, GALogIntr,
   * GATag) are read from memory at `at` on every request, because the IOMMU does not cache them; the vector and GA
   * Root Ptr come from the (cached) entry. Allocation-free unless tracing or faulting.
   */
  private postToVapic(out: TranslationResult, deliverNow: boolean, sourceId: number, deviceId: number, domainId: number, at: number, index: number): true {
    const memory = this.memory;
    const irte = this.irte;
    const w0 = memory.read32(at);
    const gaTag = memory.read32(at + 4);
    const w3 = memory.read32(at + 12);
    const vector = irte128Vector(irte[2]);
    const page = irteGaRootPtr(irte[2], irte[3]);
    const isRun = (w0 & IRTE_IS_RUN) !== 0;
    const dest = this.control.xtEn ? irte128Dest32(w0, w3) : irteDest8(w0);
    out.kind = 'posted';
    out.format = 'amd-vapic';
    out.fault = null;
    out.postedDescriptor = page;
    out.postedNotify = false;
    out.doorbellDest = -1;
    out.cookie = amdCookie(deviceId, index);
    out.uncacheable = this.control.irtCacheDis;
    if (!deliverNow) return true; // an inspection: nothing is written, no doorbell, no log
    try {
      setVapicIrr(memory, page, vector);
    } catch {
      const irr = vapicIrrWordAddress(page, vector);
      return this.fail(out, deliverNow, sourceId, index, pageTabHardwareErrorEvent(deviceId, domainId, irr, 'interrupt'), null,
        'PAGE_TAB_HARDWARE_ERROR', `the vAPIC backing page of IRTE ${index} of ${formatBdf(deviceId)} (IRR at 0x${irr.toString(16)}) is outside the physical address space`);
    }
    let logged = false;
    if (isRun) out.doorbellDest = dest;
    else if ((w0 & IRTE_GA_LOG_INTR) !== 0) logged = this.sink.gaLog(gaTag, deviceId);
    if (this.hub.active) {
      this.hub.hop('irqpath_amdvi_ga_post', [
        ['devid', formatBdf(deviceId)], ['index', index], ['vector', vector], ['backing_page', BigInt(page)],
        ['is_run', isRun], ['ga_tag', gaTag >>> 0], ['action', isRun ? `doorbell to APIC ${dest}` : logged ? 'GA log' : 'IRR only'],
      ]);
    }
    return true;
  }
}

/** The 64-bit MSI address (faults and traces only). */
function msiAddress(addrHi: number, addrLo: number): bigint {
  return (BigInt(addrHi >>> 0) << 32n) | BigInt(addrLo >>> 0);
}

function qword(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

