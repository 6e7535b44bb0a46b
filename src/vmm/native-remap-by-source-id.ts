/**
 * A HYPOTHETICAL host IOMMU mode: the "you can imagine a world where ... we let guests write native MSI
 * message to the device without trapping — and where the IOMMU then sees the incoming interrupt and has to map the
 * APIC ID to a *virtual* CPU for that guest, based on the PCI source-id of the device" (David Woodhouse, LKML, "[PATCH v4 06/17] PCI: add SIOV and IMS capability detection", 2020-11-08). No shipping
 * Intel VT-d or AMD-Vi unit does this; it exists here, behind the explicit option `hypothetical.nativeRemapBySourceId`, so
 * scenario 24 can show why IMS would then need neither a trap nor a paravirtual call.
 *
 * What the mode does. When the VMM assigns a device, it fills a table for the device's host requester ID: guest APIC
 * ID → guest vCPU. A request from that requester in compatibility (native) format — address bits 63:32 zero, bit 4
 * (Interrupt Format) clear — is read as the GUEST's own message: destination APIC ID in address bits 19:12 (physical
 * mode, bit 2 clear), vector in data 7:0, delivery mode Fixed or LowestPriority in data 10:8, trigger in data 15. The
 * unit looks the APIC ID up in that requester's table and injects the vector into that vCPU's local APIC; no host
 * CPU takes an interrupt and the host's own interrupt-remapping table is not read. Everything else — other
 * requesters, remappable-format requests, logical destinations, broadcast, a destination the guest has no vCPU for,
 * NMI/SMI/INIT/ExtINT — goes to the real unit unchanged, which decides as hardware does (a blocked compatibility
 * request is fault 0x25 on VT-d).
 *
 * Why AMD-Vi's per-device tables do not already give this: an AMD IOMMU does index a table per DeviceID, so the
 * requester does select "this guest's" entries — but the index is MSI data 10:0 and the destination and DM bits of
 * the address are ignored (AMD IOMMU spec 2.2.5.1; QEMU AMDVI_IRTE_OFFSET). A
 * native message's vector therefore picks an IRTE, and that IRTE names one destination; the guest's choice of CPU
 * (address bits 19:12) never reaches the lookup. Two messages with the same vector for two different vCPUs meet the
 * same entry, so the VMM still has to know what the guest wrote — i.e. trap it.
 *
 * Not modelled: posting to a descheduled vCPU (the injection always reaches the vCPU's local APIC, as if KVM kicked
 * it), guest vIOMMU remappable formats, x2APIC guest destinations above 254.
 */
import type { EventHub } from '../core/events.ts';
import { type ApicMessage, copyApicMessage, DeliveryMode, DestMode, newApicMessage } from '../msi/interrupt.ts';
import type { InterruptRemapper } from '../msi/remapper.ts';
import type { TranslationResult } from '../msi/translation-result.ts';

/** Address bit 4: 1 = remappable format (VT-d), 0 = compatibility format. */
const ADDR_REMAPPABLE = 0x10;
/** Address bit 2: destination mode (1 = logical). */
const ADDR_DEST_LOGICAL = 0x4;
/** The xAPIC broadcast destination of an 8-bit compatibility message. */
const BROADCAST_8 = 0xff;
const NO_VCPU = -1;

/** Where an accepted request goes: the guest machine's APIC bus (through which the vCPU's LAPIC accepts it). */
export interface NativeRemapSink {
  /** The guest APIC bus; returns how many LAPICs accepted. */
  deliver(msg: ApicMessage): number;
}

export class NativeRemapBySourceId implements InterruptRemapper {
  readonly kind: InterruptRemapper['kind'];
  /** Per host requester ID: guest APIC ID (0..254) → guest vCPU index, or NO_VCPU. */
  private readonly tables = new Map<number, Int16Array>();
  /** Reused for every injection (hot path: no allocation). */
  private readonly msg = newApicMessage();
  /** The guest this mode injects into; set once the guest machine exists (no table is filled before). */
  private guestApic: NativeRemapSink | null = null;
  private guestEvents: EventHub | null = null;
  /** The VMM's counters: `nativeRemaps` counts the requests this mode injected into a guest vCPU. */
  private counters: { nativeRemaps: number } = { nativeRemaps: 0 };

  constructor(
    /** The real unit: everything this mode does not claim goes there. */
    private readonly unit: InterruptRemapper,
    private readonly hostEvents: EventHub,
  ) {
    this.kind = unit.kind;
  }

  /** The guest machine and its VMM exist: where accepted requests go, and whose counters they count in. */
  attachGuest(guestApic: NativeRemapSink, guestEvents: EventHub, counters: { nativeRemaps: number }): void {
    this.guestApic = guestApic;
    this.guestEvents = guestEvents;
    this.counters = counters;
  }

  /**
   * The VMM assigned the device with host requester ID `hostRid` to a guest whose vCPU i has APIC ID
   * `guestApicIds[i]`: fill that requester's table.
   */
  assign(hostRid: number, guestApicIds: readonly number[]): void {
    const table = new Int16Array(BROADCAST_8).fill(NO_VCPU);
    guestApicIds.forEach((id, vcpu) => {
      if (id < BROADCAST_8) table[id] = vcpu;
    });
    this.tables.set(hostRid, table);
  }

  /** The vCPU this requester's table maps `apicId` to, or null (for tests and reports). */
  vcpuFor(hostRid: number, apicId: number): number | null {
    const v = this.tables.get(hostRid)?.[apicId];
    return v === undefined || v === NO_VCPU ? null : v;
  }

  remap(sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, out: TranslationResult): boolean {
    const table = this.tables.get(sourceId);
    const guestApic = this.guestApic;
    if (table === undefined || guestApic === null || addrHi !== 0 || (addrLo & (ADDR_REMAPPABLE | ADDR_DEST_LOGICAL)) !== 0) {
      return this.unit.remap(sourceId, addrHi, addrLo, data, deliverNow, out);
    }
    const deliveryMode = (data >>> 8) & 0x7;
    const apicId = (addrLo >>> 12) & 0xff;
    const vcpu = apicId < BROADCAST_8 ? table[apicId] : NO_VCPU;
    if ((deliveryMode !== DeliveryMode.Fixed && deliveryMode !== DeliveryMode.LowestPriority) || vcpu === NO_VCPU) {
      return this.unit.remap(sourceId, addrHi, addrLo, data, deliverNow, out);
    }
    const m = this.msg;
    m.dest = apicId;
    m.destWidth = 8;
    m.destMode = DestMode.Physical;
    // LowestPriority to one named vCPU is that vCPU; the guest LAPIC sees a Fixed interrupt.
    m.deliveryMode = DeliveryMode.Fixed;
    m.vector = data & 0xff;
    m.trigger = (data >>> 15) & 1;
    m.level = 1;
    m.redirectionHint = 0;
    // The host sees no interrupt: report the request as absorbed by the IOMMU ('posted' with no notification and
    // no doorbell), the way a posted interrupt is.
    out.kind = 'posted';
    out.format = 'native-by-source-id';
    out.postedDescriptor = 0;
    out.postedNotify = false;
    out.doorbellDest = -1;
    // The per-requester table decides this outcome; it is never cached as a host route.
    out.uncacheable = true;
    copyApicMessage(m, out.msg);
    if (!deliverNow) return true;
    this.counters.nativeRemaps++;
    if (this.hostEvents.active) {
      this.hostEvents.hop('irqpath_native_remap_by_sid', [['sid', sourceId], ['addr', BigInt(addrLo >>> 0)], ['data', data >>> 0], ['vcpu', vcpu], ['vector', m.vector]]);
    }
    const g = this.guestEvents!;
    if (g.active) {
      g.beginFlow();
      g.hop('irqpath_native_remap_by_sid', [['sid', sourceId], ['vcpu', vcpu], ['dest', apicId], ['vector', m.vector]]);
    }
    guestApic.deliver(m);
    return true;
  }
}
