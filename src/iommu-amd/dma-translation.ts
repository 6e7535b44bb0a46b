/**
 * AMD-Vi DMA address translation with host page tables (AMD IOMMU spec §2.2 "Data Structures": §2.2.2 device
 * table, §2.2.3 I/O page tables for host translations; §2.5 event log): what the IOMMU does with one untranslated
 * memory request (read or write) from DeviceID D to input address A. Requests to 0xFEEx_xxxx never get here: "accesses
 * to the interrupt address range ... go through the interrupt remapping portion of the IOMMU and not through address
 * translation processing" (AMD IOMMU spec, on the interrupt address range), and the machine bus decides that first.
 *
 *  1. Control.IommuEn = 0 → untranslated.
 *  2. D beyond the device table → IO_PAGE_FAULT (PR = 0), as interrupt requests do; DTE unreadable →
 *     DEV_TAB_HARDWARE_ERROR. Both abort the request.
 *  3. DTE.V = 0 → untranslated (the DTE holds no DMA information).
 *  4. Reserved DTE bits (6:2, 63), Mode = 111b, or Mode beyond EFR.HATS (4/5/6 levels; any Mode ≠ 0 when HATS = 11b,
 *     QEMU dma-translation=off) → ILLEGAL_DEV_TABLE_ENTRY (RZ = 1).
 *  5. TV = 0 → IO_PAGE_FAULT (PR = 0): the entry is valid but has no translation information (UNCONFIRMED in the
 *     notes which event hardware logs here; Linux always sets TV with V).
 *  6. Exclusion range (MMIO 0x20/0x28): ExEn and (Allow or DTE.EX) and A inside [base, limit | 0xFFF] → untranslated.
 *  7. Mode = 0: no page table; DTE.IR / IW decide (denied → IO_PAGE_FAULT PR = 1, PE = 1).
 *  8. IOTLB (by DomainID) hit with the needed permission → done.
 *  9. Walk from the root at level Mode: input bits above the top level's span must be 0 (else IO_PAGE_FAULT,
 *     PR = 0); per entry: unreadable → PAGE_TAB_HARDWARE_ERROR; PR = 0 → IO_PAGE_FAULT (PR = 0); reserved bits or an
 *     invalid Next Level → IO_PAGE_FAULT (PR = 1, RZ = 1); permissions AND across DTE and every level (denied →
 *     PR = 1, PE = 1); skipped levels' input bits must be 0 (else PR = 0). The leaf fills the IOTLB.
 *
 * IO_PAGE_FAULT logging is suppressed by DTE.SA ("suppress all") and, after the first one for the device has been
 * logged, by DTE.SE until the DTE is invalidated (VirtualBox's DTE cache flag IO_PAGE_FAULT_RAISED). Other events
 * are always logged. Faults return -1 after reporting; the hot path (DTE cached, IOTLB warm) allocates nothing.
 */
import type { EventHub } from '../core/events.ts';
import type { SparseMemory } from '../core/memory.ts';
import type { Iotlb } from '../msi/iotlb.ts';
import type { DteCache } from './caches.ts';
import {
  DTE_D0_RESERVED,
  DTE_D0_TV,
  DTE_D0_V,
  DTE_D1_IR,
  DTE_D1_IW,
  DTE_D1_RESERVED,
  DTE_D3_EX,
  DTE_D3_SA,
  DTE_D3_SE,
  DTE_DWORDS,
  dteDomainId,
  dteMode,
  dtePageTableRoot,
} from './device-table-entry.ts';
import { EventFlag } from './event-codes.ts';
import { type AmdEvent, devTabHardwareErrorEvent, dmaIllegalDevTableEntryEvent, dmaPageFaultEvent, pageTabHardwareErrorEvent } from './event-log.ts';
import type { AmdEventSink, RemapControl } from './interrupt-remapping.ts';
import { encodedPageSize, levelIndex, levelSpan, NL_PAGE_SIZE_ENCODED, PTE_HI_IR, PTE_HI_IW, PTE_HI_RESERVED, PTE_PR, pteAddress, pteNextLevel } from './io-page-table.ts';

/** What the walk needs besides the remapping control block. */
export interface DmaControl {
  /** Deepest Mode accepted (EFR.HATS), or 0 when HATS = 11b (no host translation offered). */
  maxLevels: number;
  /** Exclusion Base / Range Limit registers as numbers: ExEn (base bit 0), Allow (bit 1). */
  exclusionBase: number;
  exclusionLimit: number;
}

const EXCL_EN = 1;
const EXCL_ALLOW = 2;
const DEVICE_IDS = 0x10000;

export class AmdDmaTranslation {
  /** DTE.SE bookkeeping: an IO_PAGE_FAULT was logged for this DeviceID since its DTE was last invalidated. */
  private readonly faultLogged = new Uint8Array(DEVICE_IDS);
  private readonly dte = new Uint32Array(DTE_DWORDS);
  /** How the last successful translation was made, for traces. */
  lastPath: 'iotlb' | 'walk' | 'untranslated' = 'walk';

  constructor(
    private readonly control: RemapControl,
    private readonly dma: DmaControl,
    private readonly memory: SparseMemory,
    private readonly hub: EventHub,
    private readonly dtes: DteCache,
    private readonly iotlb: Iotlb,
    private readonly sink: AmdEventSink,
  ) {}

  /** The DTE of `deviceId` was invalidated (or the whole device table): SE may log again. */
  dteInvalidated(deviceId: number): void {
    this.faultLogged[deviceId & 0xffff] = 0;
  }

  allDtesInvalidated(): void {
    this.faultLogged.fill(0);
  }

  /** Output address, or -1 when the request was aborted (the event has been logged or suppressed). */
  translate(sourceId: number, addr: number, isWrite: boolean): number {
    const ctl = this.control;
    if (!ctl.iommuEn) {
      this.lastPath = 'untranslated';
      return addr;
    }
    const deviceId = sourceId & 0xffff;
    if (deviceId >= ctl.devTabEntries) {
      return this.pageFault(deviceId, 0, addr, isWrite, 0, false, false, `DeviceID beyond the device table (${ctl.devTabEntries} entries)`);
    }
    const d = this.dte;
    try {
      this.dtes.read(this.memory, ctl.devTabBase, deviceId, true, d);
    } catch {
      return this.abort(devTabHardwareErrorEvent(deviceId, ctl.devTabBase + deviceId * 32, false), deviceId, 'the DTE is outside the physical address space');
    }
    const d0 = d[0];
    if (!(d0 & DTE_D0_V)) {
      this.lastPath = 'untranslated';
      return addr;
    }
    const mode = dteMode(d0);
    if (d0 & DTE_D0_RESERVED || d[1] & DTE_D1_RESERVED || mode === 7 || mode > this.dma.maxLevels) {
      const why = mode === 7 ? 'Mode = 111b (reserved)' : mode > this.dma.maxLevels ? `Mode = ${mode} levels, beyond EFR.HATS (${this.dma.maxLevels})` : 'reserved bits set';
      return this.abort(dmaIllegalDevTableEntryEvent(deviceId, addr, isWrite, true), deviceId, `DTE: ${why}`);
    }
    const domain = dteDomainId(d[2]);
    const se = (d[3] & DTE_D3_SE) !== 0;
    const sa = (d[3] & DTE_D3_SA) !== 0;
    if (!(d0 & DTE_D0_TV)) return this.pageFault(deviceId, domain, addr, isWrite, 0, se, sa, 'DTE.TV = 0: no translation information');
    const x = this.dma;
    if (x.exclusionBase & EXCL_EN && (x.exclusionBase & EXCL_ALLOW || d[3] & DTE_D3_EX)) {
      const lo = x.exclusionBase - (x.exclusionBase % 4096);
      const hi = x.exclusionLimit - (x.exclusionLimit % 4096) + 0xfff;
      if (addr >= lo && addr <= hi) {
        this.lastPath = 'untranslated';
        return addr;
      }
    }
    const ir = (d[1] & DTE_D1_IR) !== 0;
    const iw = (d[1] & DTE_D1_IW) !== 0;
    if (mode === 0) {
      if (isWrite ? !iw : !ir) return this.pageFault(deviceId, domain, addr, isWrite, EventFlag.PR | EventFlag.PE, se, sa, `Mode = 0 and DTE.${isWrite ? 'IW' : 'IR'} = 0`);
      this.lastPath = 'untranslated';
      return addr;
    }
    const hit = this.iotlb.lookup(domain, addr);
    if (hit !== undefined) {
      if (isWrite ? hit.write : hit.read) {
        this.lastPath = 'iotlb';
        return hit.outBase + (addr - hit.inBase);
      }
      this.iotlb.drop(domain, hit);
    }
    return this.walk(deviceId, domain, dtePageTableRoot(d0, d[1]), mode, addr, isWrite, ir, iw, se, sa);
  }

  private walk(deviceId: number, domain: number, root: number, mode: number, addr: number, isWrite: boolean, ir: boolean, iw: boolean, se: boolean, sa: boolean): number {
    if (mode < 6 && addr >= levelSpan(mode) * 512) {
      return this.pageFault(deviceId, domain, addr, isWrite, 0, se, sa, `address beyond the ${mode}-level table's ${12 + 9 * mode}-bit range`);
    }
    const m = this.memory;
    let table = root;
    let level = mode;
    let read = ir;
    let write = iw;
    for (;;) {
      const at = table + levelIndex(addr, level) * 8;
      let lo: number;
      let hi: number;
      try {
        lo = m.read32(at);
        hi = m.read32(at + 4);
      } catch {
        return this.abort(pageTabHardwareErrorEvent(deviceId, domain, at, isWrite ? 'write' : 'read'), deviceId, `level-${level} entry at 0x${at.toString(16)} is outside the physical address space`);
      }
      if (!(lo & PTE_PR)) return this.pageFault(deviceId, domain, addr, isWrite, 0, se, sa, `level-${level} entry is not present`);
      const nl = pteNextLevel(lo);
      const leaf = nl === 0 || nl === NL_PAGE_SIZE_ENCODED;
      if (hi & PTE_HI_RESERVED || (!leaf && nl >= level)) {
        return this.pageFault(deviceId, domain, addr, isWrite, EventFlag.PR | EventFlag.RZ, se, sa, `level-${level} entry has reserved bits or Next Level ${nl}`);
      }
      read = read && (hi & PTE_HI_IR) !== 0;
      write = write && (hi & PTE_HI_IW) !== 0;
      if (isWrite ? !write : !read) {
        return this.pageFault(deviceId, domain, addr, isWrite, EventFlag.PR | EventFlag.PE, se, sa, `level-${level} entry denies ${isWrite ? 'writes (IW = 0)' : 'reads (IR = 0)'}`);
      }
      const address = pteAddress(lo, hi);
      if (leaf) {
        const size = nl === 0 ? levelSpan(level) : encodedPageSize(address);
        if (size > levelSpan(level) * (nl === 0 ? 1 : 512)) {
          return this.pageFault(deviceId, domain, addr, isWrite, EventFlag.PR | EventFlag.RZ, se, sa, `level-${level} entry encodes a page larger than the level spans`);
        }
        const inBase = addr - (addr % size);
        const outBase = address - (address % size);
        this.iotlb.fill(domain, inBase, outBase, size, read, write);
        this.lastPath = 'walk';
        return outBase + (addr - inBase);
      }
      // Level skipping: the input bits of the skipped levels (level-1 down to nl+1) must be zero.
      const skippedBits = Math.floor(addr / levelSpan(nl + 1)) % 512 ** (level - 1 - nl);
      if (skippedBits !== 0) {
        return this.pageFault(deviceId, domain, addr, isWrite, 0, se, sa, `input bits of the levels skipped between ${level} and ${nl} are not zero`);
      }
      table = address;
      level = nl;
    }
  }

  private pageFault(deviceId: number, domain: number, addr: number, isWrite: boolean, flags: number, se: boolean, sa: boolean, detail: string): number {
    const hub = this.hub;
    if (hub.active) hub.hop('irqpath_amdvi_page_fault', [['devid', deviceId], ['addr', BigInt(addr)], ['write', isWrite], ['why', detail]]);
    let suppressedBy: string | null = null;
    if (sa) suppressedBy = 'DTE.SA (suppress all I/O page faults)';
    else if (se && this.faultLogged[deviceId] === 1) suppressedBy = 'DTE.SE (a fault was already logged for this device)';
    const logged = this.sink.report(dmaPageFaultEvent(deviceId, domain, addr, isWrite, flags), deviceId, -1, suppressedBy);
    if (logged) this.faultLogged[deviceId] = 1;
    return -1;
  }

  private abort(ev: AmdEvent, deviceId: number, detail: string): number {
    const hub = this.hub;
    if (hub.active) hub.hop('irqpath_amdvi_dma_abort', [['devid', deviceId], ['why', detail]]);
    this.sink.report(ev, deviceId, -1, null);
    return -1;
  }
}
