/**
 * Extended Feature Register (MMIO 0x30) and EFR2 (0x1A0), read-only (AMD IOMMU spec §3.4).
 *
 * Built from the friendly options, only what this model implements is advertised: XTSup, IASup, GASup, HATS,
 * GAMSup = 001b (guest vAPIC, only with `vapic: true`; otherwise Linux runs 128-bit IRTEs in "legacy GA" mode) and
 * EFR2.NumIntRemapSup. No PPR, guest translation, GAPPISup, performance counters or MSI-capability MMIO mirror. A unit given a raw `efr`/`efr2` reports
 * exactly that (options.ts); features this model does not implement are then reported but not modelled.
 */

/** @public */
export const EFR_PREF_SUP = 1n << 0n;
/** @public */
export const EFR_PPR_SUP = 1n << 1n;
export const EFR_XT_SUP = 1n << 2n;
/** @public */
export const EFR_NX_SUP = 1n << 3n;
/** @public */
export const EFR_GT_SUP = 1n << 4n;
export const EFR_IA_SUP = 1n << 6n;
export const EFR_GA_SUP = 1n << 7n;
/** @public */
export const EFR_HE_SUP = 1n << 8n;
/** @public */
export const EFR_PC_SUP = 1n << 9n;
export const EFR_HATS_SHIFT = 10n;
/** HATS = 10b (6-level host tables), the default and the value QEMU advertises (QEMU hw/i386/amd_iommu.h AMDVI_DEFAULT_EXT_FEATURES). @public */
export const HATS_6_LEVEL = 2n;
/** HATS = 11b (reserved): QEMU's dma-translation=off signal that no host page table format is usable (qemu-devel, "Add a way to disable DMA translation", 2025-09). */
export const HATS_NONE = 3n;
export const EFR_GAM_SUP_SHIFT = 21n;

export const EFR2_NUM_INT_REMAP_SUP_SHIFT = 8n;
/** EFR2[9:8] = 01b: 2048 IRTEs per function (Linux FEATURE_NUM_INT_REMAP_SUP, FreeBSD AMDIOMMU_EFR2_NUMINTRREMAP). */
export const NUM_INT_REMAP_SUP_2K = 1n;

/** GAMSup (23:21) ≠ 0: guest virtual APIC mode (Linux FEATURE_GAM_VAPIC tests bit 21). */
export const EFR_GAM_SUP_MASK = 7n << 21n;
export const EFR2_NUM_INT_REMAP_SUP_MASK = 3n << 8n;

interface FeatureInputs {
  xt: boolean;
  ga: boolean;
  /** GAMSup = 001b: guest virtual APIC mode. */
  vapic?: boolean;
  intRemap2k: boolean;
  dmaTranslation: boolean;
  /** Host page-table levels (4, 5 or 6; default 6). */
  hostLevels?: number;
}

export function extendedFeatures(opts: FeatureInputs): bigint {
  let efr = EFR_IA_SUP;
  if (opts.xt) efr |= EFR_XT_SUP;
  if (opts.ga) efr |= EFR_GA_SUP;
  if (opts.vapic) efr |= 1n << EFR_GAM_SUP_SHIFT;
  // HATS 00b/01b/10b = 4/5/6 levels (FreeBSD AMDIOMMU_EFR_HATS_*); 11b when DMA translation is not offered.
  efr |= (opts.dmaTranslation ? BigInt((opts.hostLevels ?? 6) - 4) : HATS_NONE) << EFR_HATS_SHIFT;
  return efr;
}

export function extendedFeatures2(opts: FeatureInputs): bigint {
  return opts.intRemap2k ? NUM_INT_REMAP_SUP_2K << EFR2_NUM_INT_REMAP_SUP_SHIFT : 0n;
}
