/**
 * A cached route for one interrupt source (an MSI/MSI-X vector, an I/O APIC pin): the KVM-routing-table idea from
 * qemu-devel thread "More than 255 vcpus Windows VM setup without viommu ?" (2024-10-01). The source owns the slot and passes it with every message; the translation core fills it after a
 * successful translation and reuses it while the message (addrHi, addrLo, data) is unchanged, so a warm interrupt
 * skips the decoders and the IOMMU walk. The core evicts slots through their cookie when an IOMMU invalidates the
 * entry they depended on, and wholesale when global translation state changes.
 */
import { NO_COOKIE } from './cookie.ts';
import { TranslationResult } from './translation-result.ts';

export class RouteSlot {
  valid = false;
  addrHi = 0;
  addrLo = 0;
  data = 0;
  sourceId = 0;
  readonly result = new TranslationResult();
  /** Position in the core's registry of live slots (-1 when not registered). */
  registryIndex = -1;

  /** True when this slot holds a route for exactly this message. */
  matches(sourceId: number, addrHi: number, addrLo: number, data: number): boolean {
    return this.valid && this.addrLo === addrLo && this.data === data && this.addrHi === addrHi && this.sourceId === sourceId;
  }

  invalidate(): void {
    this.valid = false;
    this.result.cookie = NO_COOKIE;
  }
}
