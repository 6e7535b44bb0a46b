/**
 * The interface an IOMMU's interrupt-remapping unit implements to plug into the translation core
 * (QEMU's `int_remap(iommu, src, dst, sid)` idea): Intel's one global table and AMD's per-device tables are both
 * just "the remapper for this requester".
 */
import type { TranslationResult } from './translation-result.ts';

export interface InterruptRemapper {
  readonly kind: 'intel-vtd' | 'amd-vi';
  /**
   * Translate one interrupt request (a DMA write whose low address is in 0xFEEx_xxxx).
   *
   * Returns true when the unit decided the outcome and filled `out` (kind 'deliver', 'posted' or 'fault', with the
   * cookie of the entry it read). Returns false when the request passes through untranslated (remapping disabled,
   * compatibility format allowed, DTE.IV = 0, IntCtl = forward, a pass bit); the core then decodes it as an
   * ordinary compatibility-format message.
   *
   * With deliverNow = false (a route is being precomputed) a failed lookup must still fill a 'fault' result but
   * must not record it in hardware (no fault record, no event-log entry, no interrupt): `fault.recorded = false`.
   */
  remap(sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, out: TranslationResult): boolean;
}

/** What the translation core offers an IOMMU so that invalidations evict cached routes. */
export interface RouteInvalidator {
  /** Evict every cached route whose cookie satisfies `match`. */
  invalidateRoutes(match: (cookie: number) => boolean): void;
  /** Evict every cached route (a change of global state: enable bits, table pointer, mode). */
  invalidateAllRoutes(): void;
}
