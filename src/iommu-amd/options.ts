/**
 * The `iommu: { kind: 'amd', ... }` configuration: defaults, and the rules that relate its fields (each field's own
 * shape is options-schema.ts). Field paths in errors are relative to the machine config ("iommu.base"), so a user
 * sees exactly which value to fix.
 */
import { parseBdf } from '../core/bdf.ts';
import { checkShape } from '../core/config-schema.ts';
import type { AmdIommuOptions } from '../core/config-types.ts';
import { ConfigError } from '../core/errors.ts';
import { parseRegisterValue } from '../core/register-value.ts';
import {
  EFR_GA_SUP,
  EFR_GAM_SUP_MASK,
  EFR_GAM_SUP_SHIFT,
  EFR_HATS_SHIFT,
  EFR_IA_SUP,
  EFR_XT_SUP,
  EFR2_NUM_INT_REMAP_SUP_MASK,
  EFR2_NUM_INT_REMAP_SUP_SHIFT,
  extendedFeatures,
  extendedFeatures2,
  HATS_NONE,
  NUM_INT_REMAP_SUP_2K,
} from './extended-features.ts';
import { AmdIommuOptionsSchema } from './options-schema.ts';

export interface ResolvedAmdOptions {
  kind: 'amd';
  base: number;
  xt: boolean;
  ga: boolean;
  /** EFR.GASup and EFR.GAMSup = 001b: guest virtual APIC mode (Control.GAMEn, GuestMode = 1 IRTEs, the GA log). */
  vapic: boolean;
  intRemap2k: boolean;
  dmaTranslation: boolean;
  /** EFR.HATS as a level count: the deepest host page table (DTE.Mode) the IOMMU accepts; 0 when HATS = 11b. */
  hostLevels: number;
  /** As given (canonical "bb:dd.f" text is not enforced), plus the parsed DeviceID. */
  ioapicDeviceId: string;
  ioapicRequesterId: number;
  bdf: string;
  requesterId: number;
  /** The EFR / EFR2 values the unit reports (raw, or built from the friendly options). */
  efr: bigint;
  efr2: bigint;
  /** EFR.IASup: INVALIDATE_IOMMU_ALL accepted. */
  iaSup: boolean;
  /** IVRS: the I/O APIC appears as an IVHD special device (default true). */
  ioapicInIvrs: boolean;
  /** IVRS: an HPET special device (its number and DeviceID), or null. */
  hpet: { id: number; deviceId: number } | null;
}

export const AMD_IOMMU_DEFAULT_BASE = 0xfed80000;

/** A friendly option given next to the raw register it describes must agree with it. */
function agree<T extends boolean | number>(given: T | undefined, fromRaw: T, field: string, rawField: string, what: string): void {
  if (given !== undefined && given !== fromRaw) {
    throw new ConfigError(field, `${given} contradicts ${rawField}, whose ${what} says ${fromRaw} (drop one of ${field} and ${rawField})`);
  }
}

/**
 * Fill defaults (base 0xFED80000 as QEMU, xt and ga on, 2K mode off, DMA translation advertised, I/O APIC at
 * 00:14.0 as QEMU's IVRS and real FCH boards, own function 00:02.0) and validate. `path` prefixes error fields.
 */
export function resolveAmdOptions(opts: AmdIommuOptions | ResolvedAmdOptions, path = 'iommu'): ResolvedAmdOptions {
  if (isResolved(opts)) return opts;
  checkShape(AmdIommuOptionsSchema, opts, path);
  const base = opts.base ?? AMD_IOMMU_DEFAULT_BASE;
  const ioapicDeviceId = opts.ioapicDeviceId ?? '00:14.0';
  const ioapicRequesterId = parseBdf(ioapicDeviceId);
  const ownBdf = opts.bdf ?? '00:02.0';
  const requesterId = parseBdf(ownBdf);
  if (ioapicRequesterId === requesterId) {
    throw new ConfigError(`${path}.ioapicDeviceId`, `must differ from ${path}.bdf (${ownBdf}): the IOMMU never translates its own requests`);
  }
  const given = { xt: opts.xt, ga: opts.ga, vapic: opts.vapic, intRemap2k: opts.intRemap2k, dmaTranslation: opts.dmaTranslation, hostLevels: opts.hostLevels };
  const friendly = {
    xt: given.xt ?? true, ga: given.ga ?? true, vapic: given.vapic ?? false, intRemap2k: given.intRemap2k ?? false, dmaTranslation: given.dmaTranslation ?? true, hostLevels: given.hostLevels ?? 6,
  };
  if (friendly.vapic && !friendly.ga) {
    throw new ConfigError(`${path}.vapic`, 'guest virtual APIC posting uses 128-bit IRTEs: needs ga: true');
  }
  const rawEfr = opts.efr === undefined ? undefined : parseRegisterValue(opts.efr, `${path}.efr`, 64);
  const rawEfr2 = opts.efr2 === undefined ? undefined : parseRegisterValue(opts.efr2, `${path}.efr2`, 64);
  const efr = rawEfr ?? extendedFeatures(friendly);
  const efr2 = rawEfr2 ?? extendedFeatures2(friendly);
  const xt = (efr & EFR_XT_SUP) !== 0n;
  const ga = (efr & EFR_GA_SUP) !== 0n;
  // Guest vAPIC needs both: GAMSup alone (real units report it with GASup = 0) leaves Linux in 32-bit mode.
  const gamSup = (efr & EFR_GAM_SUP_MASK) >> EFR_GAM_SUP_SHIFT;
  const vapic = ga && (gamSup & 1n) !== 0n;
  const hats = (efr >> EFR_HATS_SHIFT) & 3n;
  const dmaTranslation = hats !== HATS_NONE;
  // HATS 00b/01b/10b: 4/5/6 levels (the deepest DTE Mode accepted); 11b: no host translation.
  const hostLevels = dmaTranslation ? Number(hats) + 4 : 0;
  const numIntRemap = (efr2 & EFR2_NUM_INT_REMAP_SUP_MASK) >> EFR2_NUM_INT_REMAP_SUP_SHIFT;
  if (rawEfr !== undefined) {
    agree(given.xt, xt, `${path}.xt`, `${path}.efr`, 'XTSup (bit 2)');
    agree(given.ga, ga, `${path}.ga`, `${path}.efr`, 'GASup (bit 7)');
    agree(given.vapic, vapic, `${path}.vapic`, `${path}.efr`, 'GASup (bit 7) with GAMSup (bits 23:21) = 001b');
    agree(given.dmaTranslation, dmaTranslation, `${path}.dmaTranslation`, `${path}.efr`, 'HATS (bits 11:10) ≠ 11b');
    if (dmaTranslation) agree(given.hostLevels, hostLevels, `${path}.hostLevels`, `${path}.efr`, 'HATS (bits 11:10) + 4');
    // No check of GAMSup against GASup: real units report GAMSup = 1 with GASup = 0 (EFR 0x58f77ef22294a5a, Linux
    // prints "PPR NX GT IA PC GA_vAPIC"); Linux then simply does not use guest vAPIC mode.
  }
  if (rawEfr2 !== undefined) {
    // EFR2.NumIntRemapSup: 00b 512 entries, 01b 2048; 10b and 11b are reserved.
    if (numIntRemap > NUM_INT_REMAP_SUP_2K) throw new ConfigError(`${path}.efr2`, `NumIntRemapSup (bits 9:8) = ${numIntRemap} is reserved (0: 512 IRTEs, 1: 2048)`);
    agree(given.intRemap2k, numIntRemap === NUM_INT_REMAP_SUP_2K, `${path}.intRemap2k`, `${path}.efr2`, 'NumIntRemapSup (bits 9:8) = 01b');
  }
  const hpet = opts.hpet === undefined || opts.hpet === null ? null : { id: opts.hpet.id, deviceId: parseBdf(opts.hpet.deviceId) };
  const ioapicInIvrs = opts.ioapicInIvrs ?? true;
  return {
    kind: 'amd',
    base,
    xt,
    ga,
    vapic,
    intRemap2k: numIntRemap === NUM_INT_REMAP_SUP_2K,
    dmaTranslation,
    hostLevels,
    ioapicDeviceId,
    ioapicRequesterId,
    bdf: ownBdf,
    requesterId,
    efr,
    efr2,
    iaSup: (efr & EFR_IA_SUP) !== 0n,
    ioapicInIvrs,
    hpet,
  };
}

/** Options the unit's constructor receives from the machine are resolved already. */
function isResolved(opts: AmdIommuOptions | ResolvedAmdOptions): opts is ResolvedAmdOptions {
  return 'requesterId' in opts && typeof opts.requesterId === 'number' && typeof opts.efr === 'bigint' && typeof opts.efr2 === 'bigint';
}
