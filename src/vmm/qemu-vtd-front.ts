/**
 * The VMM's QEMU front for the guest's Intel vIOMMU: installed while the guest machine is assembled
 * (`MachineAssembly.remapperFront`), it receives every interrupt request the guest's translation core translates and
 * applies the profile's QEMU behaviours (profiles.ts) around the hardware-exact unit model, which it reaches only
 * through {@link IntelIommu.remapUnder} with an explicit policy. The `hardware` profile installs no front.
 */
import type { EventHub } from '../core/events.ts';
import { IntelIommu, type VtdRequestPolicy } from '../iommu-intel/intel-iommu.ts';
import type { RemapperParts } from '../machine/machine.ts';
import type { InterruptRemapper } from '../msi/remapper.ts';
import type { TranslationResult } from '../msi/translation-result.ts';
import type { VmmProfile } from './profiles.ts';

/** QEMU's X86_IOMMU_SID_INVALID (include/hw/i386/x86-iommu.h). */
export const X86_IOMMU_SID_INVALID = 0xffff;
/** VT-d: address bit 4 selects the remappable format. */
const MSI_ADDR_REMAPPABLE = 0x10;

/** True when the profile changes anything about the Intel vIOMMU's interrupt path. */
export function profileNeedsVtdFront(p: VmmProfile): boolean {
  return p.vtdCompatPassThrough || p.ioapicInvalidSid || p.vtdUncachedIrte || p.intelIrAcceptsAmdFormat;
}

/**
 * QEMU's Intel vIOMMU for interrupts (hw/i386/intel_iommu.c `vtd_interrupt_remap_msi`, reached through
 * `vtd_int_remap` for KVM routes and `vtd_mem_ir_write` for QEMU's own sends):
 * - I/O APIC messages travel the KVM route path: requester 0xFFFF, exempt from the source-id check, and
 *   do_fault = 0 (`ioapic_update_kvm_routes` → `kvm_irqchip_update_msi_route(..., NULL)`);
 * - a compatibility-format request is copied through unchanged ("This is compatible mode": memcpy(translated,
 *   origin)) where the hardware unit would block it (CFIS = 0 or EIME = 1, fault 0x25);
 * - no interrupt entry cache: every IRTE is read from guest memory (`vtd_irte_get`), and nothing the core
 *   translates through QEMU is kept as a cached route;
 * - with the hack of qemu-devel, 2024-10-01, a compatibility request is read AMD-style (IRTE index = data 10:0).
 */
export class QemuVtdFront implements InterruptRemapper {
  readonly kind = 'intel-vtd' as const;
  private readonly policy: VtdRequestPolicy;

  constructor(
    private readonly unit: IntelIommu,
    private readonly profile: VmmProfile,
    private readonly ioapicSourceId: number,
    private readonly events: EventHub,
  ) {
    this.policy = {
      compatAsAmdIndex: profile.intelIrAcceptsAmdFormat,
      exemptSourceId: profile.ioapicInvalidSid ? X86_IOMMU_SID_INVALID : -1,
      cacheIrtes: !profile.vtdUncachedIrte,
    };
  }

  remap(sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, out: TranslationResult): boolean {
    let sid = sourceId;
    let doFault = deliverNow;
    if (this.profile.ioapicInvalidSid && sourceId === this.ioapicSourceId) {
      sid = X86_IOMMU_SID_INVALID;
      doFault = false;
    }
    const passCompat = this.profile.vtdCompatPassThrough && !this.profile.intelIrAcceptsAmdFormat && this.unit.remappingEnabled && (addrLo & MSI_ADDR_REMAPPABLE) === 0 && addrHi === 0;
    if (!passCompat) {
      const decided = this.unit.remapUnder(this.policy, sid, addrHi, addrLo, data, doFault, out);
      if (decided && this.profile.vtdUncachedIrte) out.uncacheable = true;
      return decided;
    }
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

/** The `MachineAssembly.remapperFront` hook for a profile: QEMU's front before a single Intel vIOMMU, else none. */
export function qemuVtdFrontFor(profile: VmmProfile): ((remapper: InterruptRemapper, parts: RemapperParts) => InterruptRemapper) | undefined {
  if (!profileNeedsVtdFront(profile)) return undefined;
  return (remapper, parts) => (remapper instanceof IntelIommu && remapper === parts.iommu ? new QemuVtdFront(remapper, profile, parts.ioapicSourceId, parts.events) : remapper);
}
