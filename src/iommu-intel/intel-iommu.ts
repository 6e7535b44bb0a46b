/**
 * The Intel VT-d remapping unit: the DRHD register file (MMIO) and the interrupt-remapping entry point the
 * translation core calls for every device write to 0xFEEx_xxxx.
 *
 * Pieces: capabilities.ts (VER/CAP/ECAP), irta.ts (IRTA latch), irte.ts (IRTE bits), source-id.ts (SVT/SQ),
 * interrupt-entry-cache.ts (IEC), fault-recording.ts (FRCD/FSTS/FECTL + fault event), invalidation-queue.ts (QI),
 * posted-interrupts.ts (PID), linux-log.ts (dmesg lines). This file wires them together.
 *
 * Access rules (VT-d spec §11.2): registers are accessed as naturally aligned 4- or 8-byte operations; an 8-byte access
 * is handled as its low dword then its high dword (QEMU accepts only 4/8, VBox rejects misaligned ones). Any other
 * width or alignment is ignored and reads as 0. Reserved bits read as 0 and ignore writes; read-only registers
 * ignore writes; GCMD is write-only and reads as 0.
 */
import type { IntelIommuOptions } from '../core/config-types.ts';
import { UsageError } from '../core/errors.ts';
import type { IommuFaultEvent } from '../core/events.ts';
import type { IommuHost } from '../msi/iommu-host.ts';
import { MAX_PHYS_ADDR_BITS } from '../core/memory.ts';
import type { AccessSize, MmioDevice } from '../core/mmio.ts';
import { cookieInIntelRange, intelCookie, NO_COOKIE } from '../msi/cookie.ts';
import { MSI_ADDR_IF } from '../msi/formats/compat.ts';
import { interruptWindowRegion, type ReservedRegion } from '../msi/reserved-region.ts';
import type { ApicMessage } from '../msi/interrupt.ts';
import { qemuRemappedMessage } from '../msi/qemu-irq-message.ts';
import type { InterruptRemapper } from '../msi/remapper.ts';
import type { DeliveryFormat, TranslationResult } from '../msi/translation-result.ts';
import { CAP_MAMV_SHIFT, CAP_SAGAW_SHIFT, CAP_SLLPS_SHIFT, capField, ECAP_DT, ECAP_PT } from './capabilities.ts';
import { DmaRemapping } from './dma-remapping.ts';
import { FaultReason, faultReasonName, isQualifiedDmaFault, isQualifiedFault, linuxReasonString } from './fault-reasons.ts';
import { FaultRecorder, RECORD_DROPPED_PFO_PENDING } from './fault-recording.ts';
import { InterruptEntryCache } from './interrupt-entry-cache.ts';
import { InvalidationQueue } from './invalidation-queue.ts';
import { InterruptRemapTableAddress } from './irta.ts';
import {
  describeIrte,
  IRTE_SIZE,
  irteDeliveryMode,
  irteDestination,
  irteDestMode,
  irteFpd,
  irteMode,
  irtePostedDescriptor,
  irtePresent,
  irteRedirectionHint,
  irteReservedFault,
  irteSid,
  irteSq,
  irteSvt,
  irteTrigger,
  irteUrgent,
  irteVector,
} from './irte.ts';
import { linuxDmaFaultLine, linuxFaultLine, linuxFrcdLine } from './linux-log.ts';
import { resolveIntelOptions, type ResolvedIntelOptions } from './options.ts';
import { PID_SIZE, pidReservedFault, postInterrupt, readNotificationEvent } from './posted-interrupts.ts';
import * as R from './registers.ts';
import { sourceIdVerified } from './source-id.ts';
import { type FaultRecordState, hex64, INTEL_IOMMU_STATE_VERSION, type IntelIommuState, irteHex, splitHex64, validateDmaCacheState, validateIntelIommuState } from './state.ts';

/** Remappable-format MSI address bit 3: sub-handle valid. */
const MSI_ADDR_SHV = 1 << 3;

export { resolveIntelOptions, type ResolvedIntelOptions } from './options.ts';
export type { IntelIommuState } from './state.ts';
/** The AMD-style reading (the hack of the qemu-devel thread "More than 255 vcpus Windows VM setup without viommu ?", 2024-10-01): IRTE index in data 10:0. */
const AMD_STYLE_INDEX_MASK = 0x7ff;

/** How a unit treats one request: hardware's rules, or a hypervisor's changes to them (each named by its effect). */
export interface VtdRequestPolicy {
  /** Read a compatibility-format request as an IRTE index taken from data 10:0, as AMD-Vi would (the qemu-devel hack of 2024-10-01). */
  readonly compatAsAmdIndex: boolean;
  /** A requester ID exempt from the IRTE's source-id check (-1: none, as on hardware). */
  readonly exemptSourceId: number;
  /** Serve and fill the interrupt entry cache (hardware: yes; an IOMMU with no IEC reads every IRTE from memory). */
  readonly cacheIrtes: boolean;
}

export const HARDWARE_VTD_POLICY: VtdRequestPolicy = { compatAsAmdIndex: false, exemptSourceId: -1, cacheIrtes: true };
const INTERRUPT_WINDOW_START = 0xfee00000;
const INTERRUPT_WINDOW_END = 0xfef00000;
const PHYS_LIMIT = 2 ** MAX_PHYS_ADDR_BITS;

export class IntelIommu implements MmioDevice, InterruptRemapper {
  readonly name = 'intel-vtd';
  readonly kind = 'intel-vtd' as const;
  readonly options: ResolvedIntelOptions;
  readonly base: number;
  /** MMIO window: the register set up to the last fault recording register, rounded up to 4 KiB. */
  readonly size: number;
  /** The source-id the I/O APIC's messages carry on this unit (the machine passes it to remap()). */
  readonly ioapicSourceId: number;

  readonly capability: bigint;
  readonly extendedCapability: bigint;
  readonly irta: InterruptRemapTableAddress;
  readonly iec = new InterruptEntryCache();
  readonly faults: FaultRecorder;
  readonly queue: InvalidationQueue;
  /** DMA remapping: root/context tables, second-level walk, context cache and IOTLB. */
  readonly dma: DmaRemapping;

  private gsts = 0;
  private rtaddrLo = 0;
  private rtaddrHi = 0;
  /** Root table address latched by SRTP (kept for the DMA walk to come). */
  private rtaddrActiveLo = 0;
  private rtaddrActiveHi = 0;
  private ccmdLo = 0;
  private ccmdHi = 0;
  private ivaLo = 0;
  private ivaHi = 0;
  private iotlbHi = 0;

  private readonly capLo: number;
  private readonly capHi: number;
  private readonly ecapLo: number;
  private readonly ecapHi: number;
  private readonly irSupported: boolean;
  private readonly eimSupported: boolean;
  private readonly hawLimit: number;
  private readonly hawHiMask: number;
  /** CAP.MAMV: the largest address mask a page-selective IOTLB invalidation honours. */
  private readonly mamv: number;

  /** CAP.FRO × 16, the first fault recording register; ECAP.IRO × 16, IVA (IOTLB at +8). */
  private readonly frcdBase: number;
  private readonly ivaReg: number;

  constructor(opts: IntelIommuOptions | ResolvedIntelOptions, private readonly host: IommuHost) {
    const o = resolveIntelOptions(opts);
    this.options = o;
    this.policy = host.hypervisor.intelIrAcceptsAmdFormat ? { ...HARDWARE_VTD_POLICY, compatAsAmdIndex: true } : HARDWARE_VTD_POLICY;
    this.base = o.base;
    this.ioapicSourceId = o.ioapicSourceId;
    this.frcdBase = o.frcdOffset;
    this.ivaReg = o.ivaOffset;
    // The window covers the last register CAP/ECAP place, rounded up to whole pages.
    this.size = Math.ceil(Math.max(o.frcdOffset + R.FRCD_SIZE * o.faultRecords, o.ivaOffset + 16) / 0x1000) * 0x1000;
    this.capability = o.cap;
    this.extendedCapability = o.ecap;
    this.capLo = Number(this.capability & 0xffffffffn);
    this.capHi = Number(this.capability >> 32n);
    this.ecapLo = Number(this.extendedCapability & 0xffffffffn);
    this.ecapHi = Number(this.extendedCapability >> 32n);
    this.irSupported = o.interruptRemapping;
    this.eimSupported = o.eim;
    // The host address width (what table pointers and page frames can hold) is the guest width capped by the
    // machine's physical address space: a 57-bit MGAW unit still sits in a 52-bit machine.
    const haw = Math.min(o.awBits, MAX_PHYS_ADDR_BITS);
    this.hawLimit = 2 ** haw;
    this.hawHiMask = (2 ** (haw - 32) - 1) >>> 0;
    this.mamv = capField(o.cap, CAP_MAMV_SHIFT, 6);
    this.irta = new InterruptRemapTableAddress(haw, this.eimSupported);
    this.faults = new FaultRecorder(o.faultRecords, this.eimSupported, (hi, lo, data) => this.sendOwnMsi(hi, lo, data));
    // What the walk may use is what CAP/ECAP report (also for a unit configured with raw register values).
    this.dma = new DmaRemapping(host.memory, {
      sagaw: capField(o.cap, CAP_SAGAW_SHIFT, 5),
      mgawBits: o.awBits,
      hawBits: haw,
      sllps: capField(o.cap, CAP_SLLPS_SHIFT, 4),
      passThrough: (o.ecap & ECAP_PT) !== 0n,
      deviceTlb: (o.ecap & ECAP_DT) !== 0n,
    }, (a, n) => this.readable(a, n));
    this.queue = new InvalidationQueue(host.memory, host.events, haw, this.eimSupported, {
      invalidateContext: (g, did, sid, fm) => this.invalidateContextCache(g, did, sid, fm),
      invalidateIotlb: (g, did, addr, am, ih) => this.invalidateIotlb(g, did, addr, am, ih),
      invalidateIecAll: () => this.invalidateIecAll(),
      invalidateIecRange: (first, count) => this.invalidateIecRange(first, count),
      raiseQueueError: () => this.faults.setErrorStatus(R.FSTS_IQE),
      queueErrorPending: () => (this.faults.status & R.FSTS_IQE) !== 0,
      sendOwnMsi: (hi, lo, data) => this.sendOwnMsi(hi, lo, data),
      readable: (addr, length) => this.readable(addr, length),
    });
  }

  // =============================================================================================================
  // Interrupt remapping
  // =============================================================================================================

  /**
   * Translate one interrupt request (see InterruptRemapper). Check order, chosen and fixed:
   *  1. IRE clear → pass (false).
   *  2. Compatibility format (address bit 4 = 0): address 63:32 ≠ 0 → not an interrupt request at all (a DMA write
   *     above 4 GiB; the bus decides) → false. With the hypervisor option intelIrAcceptsAmdFormat the message is read
   *     AMD-style (index = data 10:0) and remapped below. Else CFIS = 1 and IRTA.EIME = 0 → pass; otherwise 0x25.
   *  3. Remappable format: address 63:32 ≠ 0 → 0x20; data 31:16 ≠ 0 → 0x20 for every remappable request (VBox; QEMU
   *     checks it only with SHV, after the lookup). Both record index 0, as QEMU and VBox do.
   *  4. index = handle (+ sub-handle when SHV, mod 2^16); index ≥ 2^(S+1) or the IRTE above the host address width
   *     → 0x21; the IRTE unreadable → 0x23.
   *  5. From here the faults are qualified (FPD suppresses them): P = 0 → 0x22; reserved bits (incl. IM = 1 without
   *     CAP.PI and the xAPIC-mode DST bits) → 0x24; source-id → 0x26; posted descriptor → 0x27 / 0x28.
   */
  /**
   * How this unit treats requests that arrive through {@link remap}: hardware's policy, unless the machine's hypervisor
   * option `intelIrAcceptsAmdFormat` (the hack of qemu-devel, 2024-10-01) asks for AMD-style compatibility messages.
   */
  private readonly policy: VtdRequestPolicy;

  /** GSTS.IRES: interrupt remapping is enabled. */
  get remappingEnabled(): boolean {
    return (this.gsts & R.GSTS_IRES) !== 0;
  }

  remap(sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, out: TranslationResult): boolean {
    return this.remapUnder(this.policy, sourceId, addrHi, addrLo, data, deliverNow, out);
  }

  /**
   * {@link remap} under an explicit policy: a VMM's front for this unit (QEMU's vIOMMU behaviours, src/vmm) passes
   * its own; hardware's is {@link HARDWARE_VTD_POLICY}.
   */
  remapUnder(policy: VtdRequestPolicy, sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, out: TranslationResult): boolean {
    const events = this.host.events;
    // QEMU vtd_interrupt_remap_msi traces every request first, and `vtd_ir_remap_msi (request) -> (result)` at the
    // end of every request it lets through (passed or remapped); a request it faults ends with no line.
    if (events.active) events.hop('vtd_ir_remap_msi_req', [['addr', requestAddress(addrHi, addrLo)], ['data', data >>> 0]]);
    if (!(this.gsts & R.GSTS_IRES)) {
      if (events.active) this.tracePassed(addrHi, addrLo, data);
      return false;
    }

    if (!(addrLo & MSI_ADDR_IF)) {
      // A compatibility-format request with address bits 63:32 set reaches the unit only when a hypervisor ABI
      // (KVM's x2APIC API, the Windows high-bits workaround) claimed it as an interrupt: it is then blocked or passed
      // by the same CFIS/EIME rule as any other compatibility-format request.
      if (policy.compatAsAmdIndex) {
        // Hypervisor hack, not hardware (qemu-devel, 2024-10-01): Windows on AMD CPUs programs an Intel unit's I/O APIC RTEs in
        // the AMD format, with the IRTE index where the vector would be.
        return this.remapIndex(policy, sourceId, data & AMD_STYLE_INDEX_MASK, addrLo, data, 'intel-irte-amd-style', deliverNow, out);
      }
      if (this.gsts & R.GSTS_CFIS && !this.irta.eime) {
        if (events.active) this.tracePassed(addrHi, addrLo, data);
        return false;
      }
      const why = this.irta.eime ? 'IRTA.EIME = 1 (x2APIC mode) blocks compatibility-format interrupts' : 'GSTS.CFIS = 0 blocks compatibility-format interrupts';
      // The fault record's index is the interrupt_index hardware computes from the address whatever the format
      // (VT-d "Interrupt Remapping Fault Conditions"; a real 0x25 for 0xfee2c000 is logged as `fault index 0x1600`).
      return this.fault(out, sourceId, FaultReason.CompatBlocked, -1, interruptHandle(addrLo), deliverNow, false, why);
    }

    if (addrHi !== 0) {
      return this.fault(out, sourceId, FaultReason.RequestReserved, -1, 0, deliverNow, false, `address bits 63:32 are 0x${(addrHi >>> 0).toString(16)}, must be 0`);
    }
    if (data >>> 16 !== 0) {
      return this.fault(out, sourceId, FaultReason.RequestReserved, -1, 0, deliverNow, false, `data bits 31:16 are 0x${(data >>> 16).toString(16)}, reserved in a remappable request`);
    }
    const handle = interruptHandle(addrLo);
    const index = addrLo & MSI_ADDR_SHV ? (handle + (data & 0xffff)) & 0xffff : handle;
    return this.remapIndex(policy, sourceId, index, addrLo, data, 'intel-irte', deliverNow, out);
  }

  /** QEMU's closing line for a request passed through unchanged (IR disabled, or compatibility format). */
  private tracePassed(addrHi: number, addrLo: number, data: number): void {
    const addr = requestAddress(addrHi, addrLo);
    this.host.events.hop('vtd_ir_remap_msi', [['addr', addr], ['data', data >>> 0], ['addr2', addr], ['data2', data >>> 0]]);
  }

  private remapIndex(policy: VtdRequestPolicy, sourceId: number, index: number, addrLo: number, data: number, format: DeliveryFormat, deliverNow: boolean, out: TranslationResult): boolean {
    const irta = this.irta;
    if (index >= irta.entries) {
      return this.fault(out, sourceId, FaultReason.IndexTooLarge, index, index, deliverNow, false, `index ${index} is beyond the table's ${irta.entries} entries`);
    }
    const entryAddr = irta.base + index * IRTE_SIZE;
    if (entryAddr + IRTE_SIZE > this.hawLimit) {
      return this.fault(out, sourceId, FaultReason.IndexTooLarge, index, index, deliverNow, false, `IRTE ${index} lies above the ${this.options.awBits}-bit host address width`);
    }
    // The IEC holds only present, well-formed entries: with CAP.CM = 0 "not-present and erroneous entries are not
    // cached", so software need not invalidate after fixing one. Everything else is served from the cache until
    // invalidated.
    const iec = this.iec;
    const cached = policy.cacheIrtes && iec.has(index);
    let w0: number, w1: number, w2: number, w3: number;
    if (cached) {
      w0 = iec.word(index, 0);
      w1 = iec.word(index, 1);
      w2 = iec.word(index, 2);
      w3 = iec.word(index, 3);
    } else {
      if (!this.readable(entryAddr, IRTE_SIZE)) {
        return this.fault(out, sourceId, FaultReason.TableAccessError, index, index, deliverNow, false, `IRTE ${index} at 0x${entryAddr.toString(16)} is not readable memory`);
      }
      const m = this.host.memory;
      w0 = m.read32(entryAddr);
      w1 = m.read32(entryAddr + 4);
      w2 = m.read32(entryAddr + 8);
      w3 = m.read32(entryAddr + 12);
    }
    const events = this.host.events;
    if (events.active) {
      // QEMU prints the upper qword (127:64) as "low" and the lower one as "high" (it passes data[1], data[0]).
      events.hop('vtd_ir_irte_get', [['index', index], ['low', (BigInt(w3 >>> 0) << 32n) | BigInt(w2 >>> 0)], ['high', (BigInt(w1 >>> 0) << 32n) | BigInt(w0 >>> 0)]]);
    }

    const fpd = irteFpd(w0) === 1;
    const eime = irta.eime;
    if (!irtePresent(w0)) {
      return this.fault(out, sourceId, FaultReason.IrteNotPresent, index, index, deliverNow, fpd, `IRTE ${index} has P = 0`);
    }
    if (irteReservedFault(w0, w1, w2, w3, eime, this.options.postedInterrupts)) {
      const why = irteMode(w0) && !this.options.postedInterrupts
        ? `IRTE ${index} has IM = 1 (posted) but CAP.PI = 0`
        : `IRTE ${index} has reserved bits set (${eime ? 'x2APIC' : 'xAPIC'} mode)`;
      return this.fault(out, sourceId, FaultReason.IrteReserved, index, index, deliverNow, fpd, why);
    }
    // Only a real request fills the cache: a lookup with deliverNow = false (route precomputation, inspection) is not
    // a hardware access and must not make a later interrupt see this copy instead of the one in memory then.
    if (!cached && deliverNow && policy.cacheIrtes) iec.fill(index, w0, w1, w2, w3);
    if (sourceId !== policy.exemptSourceId && !sourceIdVerified(sourceId, irteSid(w2), irteSq(w2), irteSvt(w2))) {
      const why = `requester ${hexNum(sourceId)} fails SVT=${irteSvt(w2)} SQ=${irteSq(w2)} SID=${hexNum(irteSid(w2))} of IRTE ${index}`;
      return this.fault(out, sourceId, FaultReason.SourceIdFailure, index, index, deliverNow, fpd, why);
    }
    if (irteMode(w0)) return this.post(sourceId, index, w0, w1, w3, deliverNow, fpd, out);

    out.reset();
    out.kind = 'deliver';
    out.format = format;
    out.cookie = intelCookie(index);
    const msg = out.msg;
    msg.dest = irteDestination(w1, eime);
    msg.destWidth = eime ? 32 : 8;
    msg.destMode = irteDestMode(w0);
    msg.deliveryMode = irteDeliveryMode(w0);
    msg.vector = irteVector(w0);
    msg.trigger = irteTrigger(w0);
    msg.level = 1;
    msg.redirectionHint = irteRedirectionHint(w0);
    if (events.active) this.traceRemapped(sourceId, index, addrLo, data, format, msg);
    return true;
  }

  /**
   * QEMU's lines for a remapped request, in QEMU's order (vtd_remap_irq_get, then vtd_interrupt_remap_msi): the IRTE's
   * fields, the request type (SHV = 0 is how an I/O APIC sends: its RTE has no sub-handle bit), for an I/O APIC request
   * the two consistency warnings of VT-d 5.1.5.1 (the RTE's vector and trigger mode must equal the IRTE's; hardware
   * uses the IRTE's and QEMU only warns), and the message handed to the APIC.
   */
  private traceRemapped(sourceId: number, index: number, addrLo: number, data: number, format: DeliveryFormat, msg: ApicMessage): void {
    const events = this.host.events;
    events.hop('vtd_ir_remap', [['index', index], ['trigger', msg.trigger], ['vector', msg.vector], ['deliver', msg.deliveryMode], ['dest', msg.dest >>> 0], ['mode', msg.destMode]]);
    if (format === 'intel-irte-amd-style') {
      events.hop('irqpath_vtd_ir_amd_style', [['index', index]]);
    } else if (addrLo & MSI_ADDR_SHV) {
      events.hop('vtd_ir_remap_type', [['type', 'MSI']]);
    } else {
      events.hop('vtd_ir_remap_type', [['type', 'IOAPIC']]);
      const vector = data & 0xff;
      const trigger = (data >>> 15) & 1;
      if (vector !== msg.vector) events.hop('vtd_warn_ir_vector', [['sid', sourceId], ['index', index], ['vec', vector], ['target', msg.vector]]);
      if (trigger !== msg.trigger) events.hop('vtd_warn_ir_trigger', [['sid', sourceId], ['index', index], ['trig', trigger], ['target', msg.trigger]]);
    }
    const remapped = qemuRemappedMessage(msg, addrLo);
    events.hop('vtd_ir_remap_msi', [['addr', BigInt(addrLo >>> 0)], ['data', data >>> 0], ['addr2', remapped.addr], ['data2', remapped.data]]);
  }

  private post(sourceId: number, index: number, w0: number, w1: number, w3: number, deliverNow: boolean, fpd: boolean, out: TranslationResult): boolean {
    const pda = irtePostedDescriptor(w1, w3);
    if (pda + PID_SIZE > this.hawLimit || !this.readable(pda, PID_SIZE)) {
      return this.fault(out, sourceId, FaultReason.PidAccessError, index, index, deliverNow, fpd, `posted-interrupt descriptor at 0x${pda.toString(16)} is not accessible`);
    }
    const memory = this.host.memory;
    const eime = this.irta.eime;
    if (pidReservedFault(memory, pda, eime)) {
      return this.fault(out, sourceId, FaultReason.PidReserved, index, index, deliverNow, fpd, `posted-interrupt descriptor at 0x${pda.toString(16)} has reserved bits set`);
    }
    out.reset();
    out.kind = 'posted';
    out.format = 'intel-posted';
    out.cookie = intelCookie(index);
    out.postedDescriptor = pda;
    // A precomputed route (deliverNow = false) must not post: it only reports where the vector would go.
    if (deliverNow) out.postedNotify = postInterrupt(memory, pda, irteVector(w0), irteUrgent(w0), eime, out.msg);
    else readNotificationEvent(memory, pda, eime, out.msg);
    const events = this.host.events;
    if (events.active) {
      events.hop('irqpath_vtd_ir_post', [['index', index], ['vector', irteVector(w0)], ['pda', BigInt(pda)], ['notify', out.postedNotify], ['nv', out.msg.vector], ['ndst', out.msg.dest >>> 0]]);
    }
    return true;
  }

  /**
   * Fill a fault result; with deliverNow record it (unless FPD suppresses a qualified fault) and emit `iommu_fault`.
   * `tableIndex` is the IRTE involved (-1 for none); `recordIndex` goes into FRCD.FI 63:48.
   */
  private fault(out: TranslationResult, sourceId: number, reason: number, tableIndex: number, recordIndex: number, deliverNow: boolean, fpd: boolean, detail: string): boolean {
    out.reset();
    out.cookie = tableIndex >= 0 ? intelCookie(tableIndex) : NO_COOKIE;
    let recorded = false;
    let suppressedBy: string | undefined;
    let slot = -1;
    if (!deliverNow) {
      suppressedBy = 'route precomputation (deliverNow = false)';
    } else if (fpd && isQualifiedFault(reason)) {
      suppressedBy = 'IRTE.FPD';
    } else {
      slot = this.faults.record(sourceId, reason, recordIndex);
      recorded = slot >= 0;
      if (!recorded) suppressedBy = slot === RECORD_DROPPED_PFO_PENDING ? 'FSTS.PFO already set' : 'fault recording registers full (PFO set)';
    }
    out.setFault({ unit: 'intel-vtd', code: reason, name: faultReasonName(reason), detail, index: tableIndex, recorded });
    const events = this.host.events;
    if (deliverNow && events.active) {
      if (recorded) {
        const [lo, hi] = this.faults.recordQwords(slot);
        events.hop('vtd_frr_new', [['index', slot], ['hi', BigInt(hi)], ['lo', BigInt(lo)]]);
      }
      const event: IommuFaultEvent = {
        unit: 'intel-vtd',
        sourceId,
        code: reason,
        name: faultReasonName(reason),
        index: tableIndex,
        recorded,
        linuxLog: linuxFaultLine(sourceId, reason, recordIndex),
        record: { sid: hexNum(sourceId), fr: reason, fi: '0x' + (BigInt(recordIndex & 0xffff) << 48n).toString(16), t: 0, frcd: slot, detail },
      };
      if (suppressedBy !== undefined) event.suppressedBy = suppressedBy;
      events.emit('iommu_fault', event);
    }
    return true;
  }

  /**
   * What the unit can read or write in "memory": below 2^52 and outside the interrupt address range
   * 0xFEE0_0000–0xFEEF_FFFF, which is not memory (a DMA read there is an unsupported request) — our model of
   * "error accessing" for fault reasons 0x23 / 0x27 and queue fetch errors.
   */
  private readable(addr: number, length: number): boolean {
    if (addr < 0 || addr + length > PHYS_LIMIT) return false;
    return addr + length <= INTERRUPT_WINDOW_START || addr >= INTERRUPT_WINDOW_END;
  }

  private invalidateIecAll(): void {
    this.iec.invalidateAll();
    this.host.routes.invalidateAllRoutes();
    this.host.interruptEntriesInvalidated?.();
  }

  private invalidateIecRange(first: number, count: number): void {
    this.iec.invalidateRange(first, count);
    this.host.routes.invalidateRoutes((cookie) => cookieInIntelRange(cookie, first, count));
    this.host.interruptEntriesInvalidated?.();
  }

  /** The unit's own interrupts (fault event, completion event): sent as-is, never remapped. */
  private sendOwnMsi(addrHi: number, addrLo: number, data: number): void {
    const events = this.host.events;
    if (events.active) {
      const addr = (BigInt(addrHi >>> 0) << 32n) | BigInt(addrLo >>> 0);
      events.hop('vtd_irq_generate', [['addr', addr], ['data', data >>> 0]]);
    }
    this.host.sendOwnMsi(addrHi >>> 0, addrLo >>> 0, data >>> 0);
  }

  // =============================================================================================================
  // DMA path
  // =============================================================================================================

  /**
   * Translate a device's DMA request (legacy mode, see dma-remapping.ts). TE clear (or never settable: SAGAW = 0,
   * dmaTranslation false) → the address passes through. Returns the output address, or null when the request is
   * blocked: the fault is then recorded (unless FPD suppresses a qualified one) exactly like an interrupt fault — the
   * same fault recording registers, FSTS, and fault event. Requests to 0xFEEx_xxxx never get here: the bus hands
   * them to interrupt remapping first (§3.14).
   */
  translateDma(sourceId: number, addr: number, isWrite: boolean): number | null {
    if (!this.options.dmaTranslation || !(this.gsts & R.GSTS_TES)) return addr;
    const dma = this.dma;
    const out = dma.translate(sourceId & 0xffff, addr, isWrite);
    const events = this.host.events;
    if (out >= 0) {
      if (events.active) {
        const sid = sourceId & 0xffff;
        const mask = dma.lastPath === 'pass-through' ? 0xfff : dma.lastPageSize - 1;
        events.hop('vtd_dmar_translate', [['bus', sid >>> 8], ['slot', (sid >>> 3) & 0x1f], ['func', sid & 7], ['iova', BigInt(addr)], ['gpa', BigInt(out)], ['mask', BigInt(mask)]]);
        events.hop('irqpath_vtd_dmar_path', [['path', dma.lastPath], ['write', isWrite]]);
      }
      return out;
    }
    this.dmaFault(sourceId & 0xffff, addr, isWrite);
    return null;
  }

  private dmaFault(sourceId: number, addr: number, isWrite: boolean): void {
    const f = this.dma.lastFault;
    let recorded = false;
    let suppressedBy: string | undefined;
    let slot = -1;
    if (f.fpd && isQualifiedDmaFault(f.reason)) {
      suppressedBy = 'context entry FPD';
    } else {
      slot = this.faults.recordDma(sourceId, f.reason, addr, !isWrite);
      recorded = slot >= 0;
      if (!recorded) suppressedBy = slot === RECORD_DROPPED_PFO_PENDING ? 'FSTS.PFO already set' : 'fault recording registers full (PFO set)';
    }
    const events = this.host.events;
    if (!events.active) return;
    const page = addr - (addr % 4096);
    let linuxLog = linuxDmaFaultLine(sourceId, f.reason, BigInt(page), !isWrite);
    if (recorded) {
      const [lo, hi] = this.faults.recordQwords(slot);
      events.hop('vtd_frr_new', [['index', slot], ['hi', BigInt(hi)], ['lo', BigInt(lo)]]);
      linuxLog = linuxFrcdLine(hi, lo);
    }
    events.hop('vtd_dmar_fault', [['sid', sourceId], ['fault', f.reason], ['addr', BigInt(addr)], ['is_write', isWrite]]);
    const event: IommuFaultEvent = {
      unit: 'intel-vtd',
      sourceId,
      code: f.reason,
      name: faultReasonName(f.reason),
      index: -1,
      recorded,
      linuxLog,
      record: { sid: hexNum(sourceId), fr: f.reason, fi: '0x' + page.toString(16), t: isWrite ? 0 : 1, frcd: slot, detail: f.detail, did: f.did },
    };
    if (suppressedBy !== undefined) event.suppressedBy = suppressedBy;
    events.emit('iommu_fault', event);
  }

  /**
   * The IOVA ranges this unit reports as reserved for a device: the interrupt window, as Linux's
   * intel_iommu_get_resv_regions does (IOAPIC_RANGE_START..END, IOMMU_RESV_MSI). RMRRs are not modelled.
   */
  reservedRegions(sourceId: number): ReservedRegion[] {
    void sourceId;
    return [interruptWindowRegion()];
  }

  /** Context-cache invalidation (CCMD register or descriptor): granularity 1 global, 2 domain, 3 device. */
  private invalidateContextCache(granularity: number, did: number, sid: number, fm: number): void {
    const cc = this.dma.contexts;
    if (granularity === 2) cc.invalidateDomain(did);
    else if (granularity === 3) cc.invalidateDevice(sid, fm);
    else cc.invalidateAll();
    const events = this.host.events;
    if (events.active) {
      const name = granularity === 2 ? 'irqpath_vtd_inv_cc_domain' : granularity === 3 ? 'irqpath_vtd_inv_cc_device' : 'irqpath_vtd_inv_cc_global';
      events.hop(name, [['did', did], ['sid', sid], ['fm', fm]]);
    }
  }

  /**
   * IOTLB invalidation (IOTLB register or descriptor): granularity 1 global, 2 domain-selective, 3 page-selective
   * (2^AM pages at ADDR with its low AM page bits ignored, §6.5.1.2). Returns the granularity performed: an AM beyond
   * CAP.MAMV is done domain-selective (invalidating more than asked is always allowed; IAIG reports it).
   */
  private invalidateIotlb(granularity: number, did: number, addr: number, am: number, ih: boolean): number {
    const tlb = this.dma.iotlb;
    const events = this.host.events;
    if (granularity === 3 && am <= this.mamv) {
      const length = 2 ** (12 + am);
      const base = addr - (addr % length);
      tlb.invalidateRange(did, base, length);
      if (events.active) events.hop('irqpath_vtd_inv_desc_iotlb_pages', [['did', did], ['addr', BigInt(base)], ['mask', am], ['ih', ih]]);
      return 3;
    }
    if (granularity === 2 || granularity === 3) {
      tlb.invalidateDomain(did);
      if (events.active) events.hop('irqpath_vtd_inv_desc_iotlb_domain', [['did', did]]);
      return 2;
    }
    tlb.invalidateAll();
    if (events.active) events.hop('irqpath_vtd_inv_desc_iotlb_global', []);
    return 1;
  }

  // =============================================================================================================
  // MMIO register file
  // =============================================================================================================

  read(offset: number, size: AccessSize): bigint {
    if (!this.accessOk(offset, size)) return 0n;
    if (size === 4) return BigInt(this.readDword(offset));
    return (BigInt(this.readDword(offset + 4)) << 32n) | BigInt(this.readDword(offset));
  }

  write(offset: number, size: AccessSize, value: bigint): void {
    if (!this.accessOk(offset, size)) return;
    const v = BigInt.asUintN(64, value);
    this.writeDword(offset, Number(v & 0xffffffffn));
    if (size === 8) this.writeDword(offset + 4, Number(v >> 32n));
  }

  private accessOk(offset: number, size: number): boolean {
    return (size === 4 || size === 8) && Number.isInteger(offset) && offset >= 0 && offset + size <= this.size && offset % size === 0;
  }

  private readDword(off: number): number {
    if (off >= this.frcdBase) {
      const i = (off - this.frcdBase) >>> 4;
      if (i < this.faults.count) return this.faults.readRecordDword(i, (off >>> 2) & 3);
    }
    if (off >= this.ivaReg && off < this.ivaReg + 16) {
      switch (off - this.ivaReg) {
        case 0: return this.ivaLo;
        case 4: return this.ivaHi;
        case 12: return this.iotlbHi >>> 0;
        default: return 0;
      }
    }
    switch (off) {
      case R.VER_REG: return this.options.verRegister;
      case R.CAP_REG: return this.capLo;
      case R.CAP_REG + 4: return this.capHi;
      case R.ECAP_REG: return this.ecapLo;
      case R.ECAP_REG + 4: return this.ecapHi;
      case R.GSTS_REG: return this.gsts >>> 0;
      case R.RTADDR_REG: return this.rtaddrLo;
      case R.RTADDR_REG + 4: return this.rtaddrHi;
      case R.CCMD_REG: return this.ccmdLo;
      case R.CCMD_REG + 4: return this.ccmdHi;
      case R.FSTS_REG: return this.faults.fsts();
      case R.FECTL_REG: return this.faults.fectl >>> 0;
      case R.FEDATA_REG: return this.faults.fedata;
      case R.FEADDR_REG: return this.faults.feaddr;
      case R.FEUADDR_REG: return this.faults.feuaddr;
      case R.IQH_REG: return this.queue.head;
      case R.IQT_REG: return this.queue.tail;
      case R.IQA_REG: return this.queue.iqaLo;
      case R.IQA_REG + 4: return this.queue.iqaHi;
      case R.ICS_REG: return this.queue.ics;
      case R.IECTL_REG: return this.queue.iectl >>> 0;
      case R.IEDATA_REG: return this.queue.iedata;
      case R.IEADDR_REG: return this.queue.ieaddr;
      case R.IEUADDR_REG: return this.queue.ieuaddr;
      case R.IQERCD_REG: return this.queue.iqercd;
      case R.IRTA_REG: return this.irta.lo;
      case R.IRTA_REG + 4: return this.irta.hi;
      default: return 0; // GCMD (write-only), reserved and unimplemented registers (AFLOG, PMEN, MTRRs, ...)
    }
  }

  private writeDword(off: number, value: number): void {
    if (off >= this.frcdBase && (off - this.frcdBase) >>> 4 < this.faults.count) {
      this.faults.writeRecordDword((off - this.frcdBase) >>> 4, (off >>> 2) & 3, value);
      return;
    }
    if (off >= this.ivaReg && off < this.ivaReg + 16) {
      switch (off - this.ivaReg) {
        case 0: this.ivaLo = (value & R.IVA_LO_WMASK) >>> 0; return;
        case 4: this.ivaHi = (value & this.hawHiMask) >>> 0; return;
        case 12: return this.writeIotlbHi(value >>> 0);
        default: return;
      }
    }
    switch (off) {
      case R.GCMD_REG: return this.writeGcmd(value >>> 0);
      case R.RTADDR_REG: this.rtaddrLo = (value & R.RTADDR_LO_MASK) >>> 0; return;
      case R.RTADDR_REG + 4: this.rtaddrHi = (value & this.hawHiMask) >>> 0; return;
      case R.CCMD_REG: this.ccmdLo = value >>> 0; return;
      case R.CCMD_REG + 4: return this.writeCcmdHi(value >>> 0);
      case R.FSTS_REG: this.faults.writeFsts(value); this.resumeQueueAfterIqe(); return;
      case R.FECTL_REG: return this.faults.writeFectl(value);
      case R.FEDATA_REG: return this.faults.writeFedata(value);
      case R.FEADDR_REG: return this.faults.writeFeaddr(value);
      case R.FEUADDR_REG: return this.faults.writeFeuaddr(value);
      case R.IQT_REG: return this.queue.writeIqt(value);
      case R.IQA_REG: return this.queue.writeIqaLo(value);
      case R.IQA_REG + 4: return this.queue.writeIqaHi(value);
      case R.ICS_REG: return this.queue.writeIcs(value);
      case R.IECTL_REG: return this.queue.writeIectl(value);
      case R.IEDATA_REG: return this.queue.writeIedata(value);
      case R.IEADDR_REG: return this.queue.writeIeaddr(value);
      case R.IEUADDR_REG: return this.queue.writeIeuaddr(value);
      case R.IRTA_REG: return this.irta.writeLo(value);
      case R.IRTA_REG + 4: return this.irta.writeHi(value);
      default: return; // read-only, reserved, unimplemented
    }
  }

  /** IQE cleared: "no new descriptors are fetched until the IQE is cleared" — fetching resumes at IQH. */
  private resumeQueueAfterIqe(): void {
    if (!(this.faults.status & R.FSTS_IQE)) this.queue.process();
  }

  /**
   * GCMD (VT-d spec §11.4.4): one-shot commands (SRTP, SIRTP, WBF, SFL) act whenever written as 1; persistent ones
   * (TE, QIE, IRE, CFI) act when they differ from GSTS, so software's "GSTS & 0x96FFFFFF | bit" idiom and Linux's
   * shadow register both work. Completion is immediate: status bits are set when the command returns.
   */
  private writeGcmd(value: number): void {
    const changed = (this.gsts ^ value) >>> 0;
    const events = this.host.events;
    if (value & R.GCMD_SRTP) {
      this.rtaddrActiveLo = this.rtaddrLo;
      this.rtaddrActiveHi = this.rtaddrHi;
      // The caches are not flushed: CAP.ESRTPS = 0, so software must follow SRTP with global context-cache and IOTLB
      // invalidations (VT-d spec §6.5 / GCMD_REG.SRTP) — until it does, cached translations keep serving.
      this.dma.rootTable = this.rtaddrActiveHi * 0x1_0000_0000 + (this.rtaddrActiveLo & 0xfffff000);
      this.gsts |= R.GSTS_RTPS;
      if (events.active) events.hop('irqpath_vtd_dmar_root_latch', [['rtaddr', BigInt(this.dma.rootTable)]]);
    }
    // SFL needs CAP.AFL and WBF needs CAP.RWBF (both 0): nothing to do, and FLS/WBFS read 0 (= completed).
    if (changed & R.GCMD_TE && this.options.dmaTranslation) {
      this.gsts ^= R.GSTS_TES; // with dmaTranslation false TE is ineffective, as QEMU's dma-translation=off
      if (events.active) events.hop('vtd_dmar_enable', [['en', (this.gsts & R.GSTS_TES) !== 0]]);
    }
    // GCMD.QIE "is valid only for implementations that support queued invalidations" (ECAP.QI; VT-d 11.4.4).
    if (changed & R.GCMD_QIE && this.options.queuedInvalidation) {
      if (value & R.GCMD_QIE) {
        this.gsts |= R.GSTS_QIES;
        this.queue.enable();
      } else {
        this.gsts &= ~R.GSTS_QIES;
        this.queue.disable();
      }
    }
    if (value & R.GCMD_SIRTP) {
      this.irta.latch();
      this.gsts |= R.GSTS_IRTPS;
      // This unit also drops its IEC on SIRTP (CAP.ESIRTPS stays 0, so software must not rely on it).
      this.iec.invalidateAll();
      this.host.routes.invalidateAllRoutes();
      this.host.interruptEntriesInvalidated?.();
      // QEMU vtd_interrupt_remap_table_setup: the table base and its entry count (EIME is not in QEMU's line).
      if (events.active) events.hop('vtd_reg_ir_root', [['addr', BigInt(this.irta.base)], ['size', this.irta.entries]]);
    }
    if (changed & R.GCMD_IRE && this.irSupported) {
      this.gsts ^= R.GSTS_IRES;
      this.host.routes.invalidateAllRoutes();
      if (events.active) events.hop('vtd_ir_enable', [['en', (this.gsts & R.GSTS_IRES) !== 0]]);
    }
    if (changed & R.GCMD_CFI && this.irSupported) {
      this.gsts ^= R.GSTS_CFIS;
      this.host.routes.invalidateAllRoutes();
    }
  }

  /**
   * CCMD with ICC = 1 (§10.4.7): register-based context-cache invalidation — CIRG 01b global, 10b domain (DID 15:0),
   * 11b device (SID 31:16, FM 33:32) — completes at once: ICC clears and CAIG reports the granularity performed.
   * CIRG 00b is reserved: nothing is invalidated and CAIG reads 00b ("request not performed"). Software must not use
   * the registers while QI is enabled (§6.5.2); the unit still performs the invalidation (more than asked is safe).
   */
  private writeCcmdHi(value: number): void {
    let hi = value & R.CCMD_HI_WMASK;
    if (hi & R.CCMD_HI_ICC) {
      const cirg = (hi >>> 29) & 3;
      if (cirg !== 0) this.invalidateContextCache(cirg, this.ccmdLo & 0xffff, this.ccmdLo >>> 16, hi & 3);
      hi = (hi & ~R.CCMD_HI_ICC & ~(3 << 27)) | (cirg << 27);
    }
    this.ccmdHi = hi >>> 0;
  }

  /**
   * IOTLB_REG with IVT = 1 (§10.4.8.1): IIRG 01b global, 10b domain (DID 47:32), 11b page-selective (IVA_REG: ADDR
   * 63:12, IH 6, AM 5:0); completes at once, IAIG reports the granularity performed (00b for the reserved IIRG 00b).
   */
  private writeIotlbHi(value: number): void {
    let hi = value & R.IOTLB_HI_WMASK;
    if (hi & R.IOTLB_HI_IVT) {
      const iirg = (hi >>> 28) & 3;
      let done = 0;
      if (iirg !== 0) {
        const addr = this.ivaHi * 0x1_0000_0000 + ((this.ivaLo & 0xfffff000) >>> 0);
        done = this.invalidateIotlb(iirg, hi & 0xffff, addr, this.ivaLo & 0x3f, (this.ivaLo & 0x40) !== 0);
      }
      hi = (hi & ~R.IOTLB_HI_IVT & ~(3 << 25)) | (done << 25);
    }
    this.iotlbHi = hi >>> 0;
  }

  // =============================================================================================================
  // Inspection, save / restore
  // =============================================================================================================

  /** GSTS as software reads it. */
  get globalStatus(): number {
    return this.gsts >>> 0;
  }

  /** Decoded fields of the IRTE the unit would use for `index` now (cached copy if any), for reports. */
  describeEntry(index: number): Record<string, number | string> {
    if (!Number.isInteger(index) || index < 0 || index > 0xffff) throw new UsageError(`IRTE index ${index} is not in 0..65535`);
    if (this.iec.has(index)) {
      return { cached: 'yes', ...describeIrte(this.iec.word(index, 0), this.iec.word(index, 1), this.iec.word(index, 2), this.iec.word(index, 3), this.irta.eime) };
    }
    const a = this.irta.base + index * IRTE_SIZE;
    const m = this.host.memory;
    return { cached: 'no', ...describeIrte(m.read32(a), m.read32(a + 4), m.read32(a + 8), m.read32(a + 12), this.irta.eime) };
  }

  save(): IntelIommuState {
    const f = this.faults;
    const q = this.queue;
    const records = [];
    for (let i = 0; i < f.count; i++) {
      const record: FaultRecordState = { fault: f.full[i] === 1, sourceId: f.sourceId[i], reason: f.reason[i], index: f.index[i] };
      // A DMA fault's FI is a page address (T tells read from write); an interrupt fault's is its index << 48.
      if (!linuxReasonString(f.reason[i]).intrRemap && (f.fiLo[i] !== 0 || f.fiHi[i] !== 0 || f.read[i] !== 0)) {
        record.address = hex64(f.fiHi[i], f.fiLo[i]);
        record.read = f.read[i] === 1;
      }
      records.push(record);
    }
    return {
      version: INTEL_IOMMU_STATE_VERSION,
      faultRecords: f.count,
      gsts: this.gsts >>> 0,
      rtaddr: hex64(this.rtaddrHi, this.rtaddrLo),
      rtaddrLatched: hex64(this.rtaddrActiveHi, this.rtaddrActiveLo),
      ccmd: hex64(this.ccmdHi, this.ccmdLo),
      iva: hex64(this.ivaHi, this.ivaLo),
      iotlb: hex64(this.iotlbHi, 0),
      irta: hex64(this.irta.hi, this.irta.lo),
      irtaLatched: hex64(this.irta.latchedHi(), this.irta.latchedLo()),
      fault: { status: f.status, fectl: f.fectl >>> 0, fedata: f.fedata, feaddr: f.feaddr, feuaddr: f.feuaddr, next: f.next, fri: f.fri, records },
      queue: {
        iqa: hex64(q.iqaHi, q.iqaLo),
        head: q.head,
        tail: q.tail,
        ics: q.ics,
        iectl: q.iectl >>> 0,
        iedata: q.iedata,
        ieaddr: q.ieaddr,
        ieuaddr: q.ieuaddr,
        iqercd: q.iqercd,
      },
      iec: this.iec.entries().map(([index, w0, w1, w2, w3]) => ({ index, irte: irteHex(w0, w1, w2, w3) })),
      dma: {
        contexts: this.dma.contexts.cachedSourceIds().map((sid) => {
          const r = this.dma.contexts.raw;
          return { sourceId: sid, entry: irteHex(r[sid * 4], r[sid * 4 + 1], r[sid * 4 + 2], r[sid * 4 + 3]) };
        }),
        iotlb: this.dma.iotlb.entries().map(({ domain, entry: e }) => ({
          did: domain, inBase: '0x' + e.inBase.toString(16), outBase: '0x' + e.outBase.toString(16), pageSize: '0x' + e.pageSize.toString(16), read: e.read, write: e.write,
        })),
      },
    };
  }

  /** Validate `state` completely, then apply it. Throws UsageError naming the bad field and changes nothing on error. */
  restore(state: unknown): void {
    const dmaCaches = validateDmaCacheState((state as { dma?: unknown } | null)?.dma);
    const s = validateIntelIommuState(state, {
      faultRecords: this.faults.count,
      eim: this.eimSupported,
      awBits: this.options.awBits,
      dmaTranslation: this.options.dmaTranslation,
      interruptRemapping: this.irSupported,
    });
    this.gsts = s.gsts;
    [this.rtaddrHi, this.rtaddrLo] = splitHex64(s.rtaddr);
    [this.rtaddrActiveHi, this.rtaddrActiveLo] = splitHex64(s.rtaddrLatched);
    [this.ccmdHi, this.ccmdLo] = splitHex64(s.ccmd);
    [this.ivaHi, this.ivaLo] = splitHex64(s.iva);
    this.iotlbHi = splitHex64(s.iotlb)[0];
    [this.irta.hi, this.irta.lo] = splitHex64(s.irta);
    const [lHi, lLo] = splitHex64(s.irtaLatched);
    this.irta.latchFrom(lLo, lHi);
    const f = this.faults;
    f.status = s.fault.status;
    f.fectl = s.fault.fectl;
    f.fedata = s.fault.fedata;
    f.feaddr = s.fault.feaddr;
    f.feuaddr = s.fault.feuaddr;
    f.next = s.fault.next;
    s.fault.records.forEach((r, i) => {
      f.full[i] = r.fault ? 1 : 0;
      f.sourceId[i] = r.sourceId;
      f.reason[i] = r.reason;
      f.index[i] = r.index;
      if (r.address !== undefined) {
        [f.fiHi[i], f.fiLo[i]] = splitHex64(r.address);
        f.read[i] = r.read ? 1 : 0;
      } else {
        f.fiLo[i] = 0;
        f.fiHi[i] = (r.index << 16) >>> 0;
        f.read[i] = 0;
      }
    });
    f.fri = s.fault.fri ?? f.oldestPendingRecord();
    const q = this.queue;
    [q.iqaHi, q.iqaLo] = splitHex64(s.queue.iqa);
    q.head = s.queue.head;
    q.tail = s.queue.tail;
    q.ics = s.queue.ics;
    q.iectl = s.queue.iectl;
    q.iedata = s.queue.iedata;
    q.ieaddr = s.queue.ieaddr;
    q.ieuaddr = s.queue.ieuaddr;
    q.iqercd = s.queue.iqercd;
    q.enabled = (s.gsts & R.GSTS_QIES) !== 0;
    this.iec.invalidateAll();
    for (const e of s.iec) {
      const [w0, w1, w2, w3] = e.words;
      this.iec.fill(e.index, w0, w1, w2, w3);
    }
    const dma = this.dma;
    dma.rootTable = this.rtaddrActiveHi * 0x1_0000_0000 + (this.rtaddrActiveLo & 0xfffff000);
    dma.contexts.invalidateAll();
    dma.iotlb.invalidateAll();
    for (const c of dmaCaches.contexts) {
      const v = BigInt(c.entry);
      dma.fillContext(c.sourceId, [0, 32, 64, 96].map((sh) => Number((v >> BigInt(sh)) & 0xffffffffn)));
    }
    for (const e of dmaCaches.iotlb) dma.iotlb.fill(e.did, Number(e.inBase), Number(e.outBase), Number(e.pageSize), e.read, e.write);
    this.host.routes.invalidateAllRoutes();
  }
}

function hexNum(v: number): string {
  return '0x' + (v >>> 0).toString(16);
}

/** The 16-bit interrupt handle in an MSI address: bits 19:5 → handle 14:0, bit 2 → handle 15 (VT-d 5.1.2.2). */
function interruptHandle(addrLo: number): number {
  return ((addrLo >>> 5) & 0x7fff) | (((addrLo >>> 2) & 1) << 15);
}

/** The 64-bit request address as one value (traces only). */
function requestAddress(addrHi: number, addrLo: number): bigint {
  return (BigInt(addrHi >>> 0) << 32n) | BigInt(addrLo >>> 0);
}
