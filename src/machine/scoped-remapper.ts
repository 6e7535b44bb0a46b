/**
 * Several VT-d units on one machine: which unit a request goes to. Each DRHD's device scope names the requesters it
 * remaps (PCI endpoints, the I/O APIC's source-id, an HPET's source-id); everything else goes to the unit with
 * INCLUDE_PCI_ALL, or — with no such unit — is not remapped at all (VT-d spec 8.3, "Device Scope"; Linux
 * dmar_find_matched_drhd_unit / map_ioapic_to_iommu make the same choice).
 *
 * On the hot path this is one Map lookup per request; nothing is allocated.
 */
import type { InterruptRemapper } from '../msi/remapper.ts';
import type { TranslationResult } from '../msi/translation-result.ts';
import type { IntelIommu } from '../iommu-intel/intel-iommu.ts';

export class ScopedRemapper implements InterruptRemapper {
  readonly kind = 'intel-vtd' as const;
  private readonly bySourceId = new Map<number, IntelIommu>();
  private readonly catchAll: IntelIommu | null;

  constructor(units: { unit: IntelIommu; sourceIds: number[]; includePciAll: boolean }[]) {
    for (const u of units) for (const sid of u.sourceIds) this.bySourceId.set(sid, u.unit);
    this.catchAll = units.find((u) => u.includePciAll)?.unit ?? null;
  }

  /** The unit that remaps `sourceId`'s requests, or null when none does. */
  unitFor(sourceId: number): IntelIommu | null {
    return this.bySourceId.get(sourceId) ?? this.catchAll;
  }

  remap(sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, out: TranslationResult): boolean {
    const unit = this.bySourceId.get(sourceId) ?? this.catchAll;
    return unit === null ? false : unit.remap(sourceId, addrHi, addrLo, data, deliverNow, out);
  }
}
