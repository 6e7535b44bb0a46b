/**
 * Applying a VMM profile's behaviours to the guest machine. The `hardware` profile changes nothing; each hook below
 * names the QEMU/KVM function whose behaviour it copies (see profiles.ts for the behaviour list).
 */
import type { EventHub } from '../core/events.ts';
import { IntelIommu } from '../iommu-intel/intel-iommu.ts';
import type { Machine } from '../machine/machine.ts';
import type { InterruptRemapper } from '../msi/remapper.ts';
import type { TranslationResult } from '../msi/translation-result.ts';
import type { VmmProfile } from './profiles.ts';

/** QEMU's X86_IOMMU_SID_INVALID (include/hw/i386/x86-iommu.h). */
export const X86_IOMMU_SID_INVALID = 0xffff;
/** VT-d: address bit 4 selects the remappable format. */
const MSI_ADDR_REMAPPABLE = 0x10;

/**
 * QEMU's front end of the Intel vIOMMU for interrupts (hw/i386/intel_iommu.c `vtd_interrupt_remap_msi`, reached
 * through `vtd_int_remap` for KVM routes), in front of the hardware-exact unit model:
 * - I/O APIC messages travel the KVM route path: requester 0xFFFF and do_fault = 0 (`ioapic_update_kvm_routes` →
 *   `kvm_irqchip_update_msi_route(..., NULL)` → `kvm_arch_fixup_msi_route` with no device);
 * - a compatibility-format request is copied through unchanged ("This is compatible mode": memcpy(translated,
 *   origin)) where the hardware unit would block it (CFIS = 0 or EIME = 1, fault 0x25).
 */
export class QemuVtdInterruptFront implements InterruptRemapper {
  readonly kind = 'intel-vtd' as const;

  constructor(
    private readonly unit: IntelIommu,
    private readonly profile: VmmProfile,
    private readonly ioapicSourceId: number,
    private readonly events: EventHub,
  ) {}

  remap(sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, out: TranslationResult): boolean {
    let sid = sourceId;
    let doFault = deliverNow;
    if (this.profile.ioapicInvalidSid && sourceId === this.ioapicSourceId) {
      sid = X86_IOMMU_SID_INVALID;
      doFault = false;
    }
    const passCompat = this.profile.vtdCompatPassThrough && !this.profile.intelReadsAmdFormat && this.unit.remappingEnabled && (addrLo & MSI_ADDR_REMAPPABLE) === 0 && addrHi === 0;
    if (!passCompat) return this.unit.remap(sid, addrHi, addrLo, data, doFault, out);
    const events = this.events;
    if (events.active) {
      // QEMU's own format prints addr and data; sid and do_fault ride along for the patched QEMU of the qemu-devel thread,
      // which printed them too ("vtd_ir_remap_msi_req addr 0xfee00004 data 0x0 sid 0xffff do_fault 0").
      const addr = BigInt(addrLo >>> 0);
      events.hop('vtd_ir_remap_msi_req', [['addr', addr], ['data', data >>> 0], ['sid', sid], ['do_fault', doFault]]);
      events.hop('vtd_ir_remap_msi', [['addr', addr], ['data', data >>> 0], ['addr2', addr], ['data2', data >>> 0]]);
    }
    return false;
  }
}

export function applyProfile(profile: VmmProfile, guest: Machine): void {
  const unit = guest.iommu;
  if (!(unit instanceof IntelIommu)) return;
  if (profile.ioapicInvalidSid) unit.uncheckedSourceId = X86_IOMMU_SID_INVALID;
  if (profile.vtdCompatPassThrough || profile.ioapicInvalidSid) {
    const ioapicSourceId = guest.firmware.dmar?.ioapicSourceId ?? -1;
    guest.core.remapper = new QemuVtdInterruptFront(unit, profile, ioapicSourceId, guest.events);
  }
}
