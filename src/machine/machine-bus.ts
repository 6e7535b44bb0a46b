/**
 * The machine bus: where a bus master's write goes. The only place in the code base that decides what an address
 * means (docs/architecture.md, "The path of one interrupt"):
 * - low dword in 0xFEEx_xxxx → the translation core (which may still call it a memory write: high address bits
 *   with no hypervisor ABI claiming them, exactly as on hardware);
 * - anything else → memory, through the IOMMU's DMA translation when one translates.
 * The outcome of a translation is dispatched here: APIC bus, posted-interrupt notification, fault (already
 * recorded by the IOMMU; reported as a lost interrupt), Xen PIRQ, or a memory write.
 */
import type { ApicMessage } from '../msi/interrupt.ts';
import { isInterruptWindow } from '../msi/formats/compat.ts';
import type { RouteSlot } from '../msi/route-slot.ts';
import type { TranslationCore } from '../msi/translate.ts';
import { TranslationResult } from '../msi/translation-result.ts';
import { formatBdf } from '../core/bdf.ts';
import type { DmaPort } from '../msi/dma-port.ts';
import type { EventHub } from '../core/events.ts';
import { MAX_PHYS_ADDR_BITS, type SparseMemory } from '../core/memory.ts';

/** Anything that accepts a decoded interrupt: the APIC bus. */
export interface InterruptSink {
  /** Deliver; a message no LAPIC accepts is reported there (interrupt_lost, naming `requester` and each refusal). */
  deliver(msg: ApicMessage, requester: number): number;
}

/**
 * DMA address translation for ordinary memory requests (an IOMMU translating): the output address, or null when the
 * IOMMU blocked the request (it has recorded / logged the fault itself).
 */
export type DmaTranslator = (sourceId: number, addr: number, isWrite: boolean) => number | null;

const TWO_32 = 0x1_0000_0000;
const ADDR_LIMIT = 2 ** MAX_PHYS_ADDR_BITS;

export class MachineBus implements DmaPort {
  private readonly scratch = new TranslationResult();
  /** Deliveries per Xen PIRQ number (Xen event channels are not modelled beyond this). */
  readonly pirqDeliveries = new Map<number, number>();
  /** Counters for reports: what became of every message. */
  readonly stats = { delivered: 0, posted: 0, faulted: 0, pirq: 0, memoryWrites: 0, noDestination: 0, memoryReads: 0, dmaBlocked: 0 };
  dmaTranslator: DmaTranslator | null = null;
  /**
   * Who receives the AMD IOMMU's guest vAPIC doorbells (IRTE IsRun = 1): the CPU with that physical APIC ID, whose
   * AVIC hardware moves the backing page's IRR into the running guest. Set by a VMM; without one a doorbell is lost.
   */
  avicDoorbell: ((apicId: number, backingPage: number) => void) | null = null;
  /** Names a requester for reports ("00:03.0", "I/O APIC"). */
  nameOf: (sourceId: number) => string = formatBdf;

  constructor(
    private readonly core: TranslationCore,
    private readonly memory: SparseMemory,
    private readonly apic: InterruptSink,
    private readonly events: EventHub,
  ) {}

  dmaWrite32(sourceId: number, addrHi: number, addrLo: number, data: number): void {
    const events = this.events;
    if (events.active) events.continueFlow();
    if (isInterruptWindow(addrLo)) {
      this.dispatch(sourceId, this.core.translate(sourceId, addrHi, addrLo, data, true, this.scratch));
    } else {
      this.memoryWrite(sourceId, addrHi, addrLo, data, 'DMA write outside the interrupt window');
    }
  }

  /**
   * A device's memory read. The interrupt window is decided first, as for writes: a read of 0xFEEx_xxxx is not a
   * memory access and is never DMA-translated (VT-d spec §3.14; AMD "accesses to the interrupt address range ... go
   * through the interrupt remapping portion of the IOMMU and not through address translation") — it completes as
   * an unsupported request (null).
   */
  dmaRead32(sourceId: number, addrHi: number, addrLo: number): number | null {
    const events = this.events;
    if (events.active) events.continueFlow();
    let addr = addrHi * TWO_32 + addrLo;
    if (addrHi === 0 && isInterruptWindow(addrLo)) {
      if (events.active) events.emit('interrupt_lost', { flow: events.currentFlow, source: this.nameOf(sourceId), reason: `DMA read of 0x${addr.toString(16)}: the interrupt window is not memory (unsupported request)` });
      return null;
    }
    if (addr + 4 > ADDR_LIMIT) return null;
    if (this.dmaTranslator !== null) {
      const translated = this.dmaTranslator(sourceId, addr, false);
      if (translated === null) {
        this.stats.dmaBlocked++;
        return null;
      }
      addr = translated;
    }
    const value = this.memory.read32(addr);
    this.stats.memoryReads++;
    if (events.active) events.hop('irqpath_dma_memory_read', [['sid', sourceId], ['addr', BigInt(addr)], ['data', value]]);
    return value;
  }

  sendMessage(sourceId: number, addrHi: number, addrLo: number, data: number, slot: RouteSlot): void {
    const events = this.events;
    if (events.active) {
      events.continueFlow();
      events.hop('irqpath_msi_route', [['sid', sourceId], ['addr', (BigInt(addrHi >>> 0) << 32n) | BigInt(addrLo >>> 0)], ['data', data], ['cached', slot.matches(sourceId, addrHi, addrLo, data)]]);
    }
    this.dispatch(sourceId, this.core.route(sourceId, addrHi, addrLo, data, slot));
  }

  /** Act on a translation result. */
  dispatch(sourceId: number, result: TranslationResult): void {
    const events = this.events;
    switch (result.kind) {
      case 'deliver': {
        // A message no LAPIC takes is reported once, by the APIC bus, with each LAPIC's reason.
        if (this.apic.deliver(result.msg, sourceId) > 0) this.stats.delivered++;
        else this.stats.noDestination++;
        return;
      }
      case 'posted':
        this.stats.posted++;
        if (result.postedNotify) this.apic.deliver(result.msg, sourceId);
        if (result.doorbellDest >= 0) {
          if (events.active) events.hop('irqpath_avic_doorbell', [['dest', result.doorbellDest], ['backing_page', BigInt(result.postedDescriptor)]]);
          if (this.avicDoorbell !== null) this.avicDoorbell(result.doorbellDest, result.postedDescriptor);
        }
        return;
      case 'fault':
        this.stats.faulted++;
        if (events.active) {
          const f = result.fault!;
          events.emit('interrupt_lost', { flow: events.currentFlow, source: this.nameOf(sourceId), reason: `${f.unit}: ${f.name}: ${f.detail}` });
        }
        return;
      case 'pirq':
        this.stats.pirq++;
        this.pirqDeliveries.set(result.pirq, (this.pirqDeliveries.get(result.pirq) ?? 0) + 1);
        if (events.active) {
          events.hop('irqpath_xen_pirq', [['pirq', result.pirq]]);
          events.emit('xen_pirq', { flow: events.currentFlow, sourceId, pirq: result.pirq });
        }
        return;
      case 'memory':
        this.memoryWrite(sourceId, result.memAddrHi, result.memAddrLo, result.memData, 'message missed the APIC window (address bits 63:32 set)');
        return;
    }
  }

  /** A write by an IOMMU itself (its interrupt message aimed outside the interrupt window): memory, untranslated. */
  ownMemoryWrite(sourceId: number, addrHi: number, addrLo: number, data: number, reason: string): void {
    this.memoryWrite(sourceId, addrHi, addrLo, data, reason, false);
  }

  private memoryWrite(sourceId: number, addrHi: number, addrLo: number, data: number, reason: string, translate = true): void {
    const events = this.events;
    let addr = addrHi * TWO_32 + addrLo;
    if (addr + 4 > ADDR_LIMIT) {
      if (events.active) {
        events.emit('interrupt_lost', { flow: events.currentFlow, source: this.nameOf(sourceId), reason: `write to 0x${addr.toString(16)} is beyond the ${MAX_PHYS_ADDR_BITS}-bit physical address space (master abort)` });
      }
      return;
    }
    if (translate && this.dmaTranslator !== null) {
      const translated = this.dmaTranslator(sourceId, addr, true);
      if (translated === null) {
        this.stats.dmaBlocked++; // the IOMMU refused it and recorded (or suppressed) the DMA fault: iommu_fault
        return;
      }
      addr = translated;
    }
    this.memory.write32(addr, data);
    this.stats.memoryWrites++;
    if (events.active) {
      events.hop('irqpath_dma_memory_write', [['sid', sourceId], ['addr', BigInt(addr)], ['data', data]]);
      events.emit('memory_write', { flow: events.currentFlow, sourceId, addr: BigInt(addr), data: data >>> 0, reason });
    }
  }
}
