/**
 * The `iommu: { kind: 'amd', ... }` configuration: defaults and validation. Field paths in errors are relative to
 * the machine config ("iommu.base"), so a user sees exactly which value to fix.
 */
import { parseBdf } from '../core/bdf.ts';
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
import { MMIO_SIZE } from './registers.ts';

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

const KNOWN_KEYS = new Set(['kind', 'base', 'xt', 'ga', 'vapic', 'intRemap2k', 'dmaTranslation', 'hostLevels', 'ioapicDeviceId', 'bdf', 'efr', 'efr2', 'ioapicInIvrs', 'hpet']);
/** Keys a resolved object adds; accepted (and re-derived) so resolving twice is harmless. */
const RESOLVED_KEYS = new Set(['ioapicRequesterId', 'requesterId', 'iaSup']);

export const AMD_OPTION_KEYS: readonly string[] = [...KNOWN_KEYS];

/** A friendly option given next to the raw register it describes must agree with it. */
function agree<T extends boolean | number>(given: T | undefined, fromRaw: T, field: string, rawField: string, what: string): void {
  if (given !== undefined && given !== fromRaw) {
    throw new ConfigError(field, `${given} contradicts ${rawField}, whose ${what} says ${fromRaw} (drop one of ${field} and ${rawField})`);
  }
}

function bool(opts: object, key: string, fallback: boolean, path: string): boolean {
  const v = (opts as Record<string, unknown>)[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new ConfigError(`${path}.${key}`, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function bdf(opts: object, key: string, fallback: string | undefined, path: string): [string, number] {
  const v = (opts as Record<string, unknown>)[key] ?? fallback;
  if (typeof v !== 'string') throw new ConfigError(`${path}.${key}`, `must be a PCI address "bb:dd.f", got ${JSON.stringify(v)}`);
  try {
    return [v, parseBdf(v)];
  } catch (e) {
    throw new ConfigError(`${path}.${key}`, (e as Error).message);
  }
}

/**
 * Fill defaults (base 0xFED80000 as QEMU, xt and ga on, 2K mode off, DMA translation advertised, I/O APIC at
 * 00:14.0 as QEMU's IVRS and real FCH boards, own function 00:02.0) and validate. `path` prefixes error fields.
 */
export function resolveAmdOptions(opts: AmdIommuOptions | ResolvedAmdOptions, path = 'iommu'): ResolvedAmdOptions {
  if (opts === null || typeof opts !== 'object') throw new ConfigError(path, 'must be an object');
  if (opts.kind !== 'amd') throw new ConfigError(`${path}.kind`, `must be 'amd' for the AMD IOMMU, got ${JSON.stringify(opts.kind)}`);
  for (const key of Object.keys(opts)) {
    if (!KNOWN_KEYS.has(key) && !RESOLVED_KEYS.has(key)) throw new ConfigError(`${path}.${key}`, `unknown option (known: ${[...KNOWN_KEYS].join(', ')})`);
  }
  const base = opts.base ?? AMD_IOMMU_DEFAULT_BASE;
  if (typeof base !== 'number' || !Number.isInteger(base) || base < 0 || base > 2 ** 52 - MMIO_SIZE) {
    throw new ConfigError(`${path}.base`, `must be an integer physical address below 2^52, got ${String(base)}`);
  }
  // The capability's Base Address Low register holds only bits 31:14, so the window is 16 KiB aligned.
  if (base % MMIO_SIZE !== 0) {
    throw new ConfigError(`${path}.base`, `0x${base.toString(16)} is not 16 KiB aligned (capability base register bits 13:0 are not stored)`);
  }
  if (base <= 0xfeefffff && base + MMIO_SIZE > 0xfee00000) {
    throw new ConfigError(`${path}.base`, `0x${base.toString(16)} overlaps the interrupt window 0xFEE00000-0xFEEFFFFF`);
  }
  const [ioapicDeviceId, ioapicRequesterId] = bdf(opts, 'ioapicDeviceId', '00:14.0', path);
  const [ownBdf, requesterId] = bdf(opts, 'bdf', '00:02.0', path);
  if (ioapicRequesterId === requesterId) {
    throw new ConfigError(`${path}.ioapicDeviceId`, `must differ from ${path}.bdf (${ownBdf}): the IOMMU never translates its own requests`);
  }
  const given = {
    xt: opts.xt === undefined ? undefined : bool(opts, 'xt', true, path),
    ga: opts.ga === undefined ? undefined : bool(opts, 'ga', true, path),
    vapic: opts.vapic === undefined ? undefined : bool(opts, 'vapic', false, path),
    intRemap2k: opts.intRemap2k === undefined ? undefined : bool(opts, 'intRemap2k', false, path),
    dmaTranslation: opts.dmaTranslation === undefined ? undefined : bool(opts, 'dmaTranslation', true, path),
    hostLevels: opts.hostLevels as number | undefined,
  };
  // 0 is what a resolved config says when HATS = 11b (no host translation); resolving it again must accept it.
  const noLevels = given.hostLevels === 0 && given.dmaTranslation === false;
  if (noLevels) given.hostLevels = undefined;
  if (given.hostLevels !== undefined && given.hostLevels !== 4 && given.hostLevels !== 5 && given.hostLevels !== 6) {
    throw new ConfigError(`${path}.hostLevels`, `must be 4, 5 or 6 (EFR.HATS 00b/01b/10b), got ${JSON.stringify(opts.hostLevels)}`);
  }
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
  let hpet: ResolvedAmdOptions['hpet'] = null;
  if (opts.hpet !== undefined && opts.hpet !== null) {
    const h = opts.hpet as { id?: unknown; deviceId?: unknown };
    if (!Number.isInteger(h.id) || (h.id as number) < 0 || (h.id as number) > 255) throw new ConfigError(`${path}.hpet.id`, `must be an HPET number 0..255, got ${JSON.stringify(h.id)}`);
    // Resolving already-resolved options (the unit's constructor does) finds the DeviceID as a number.
    const deviceId = typeof h.deviceId === 'number' && Number.isInteger(h.deviceId) && h.deviceId >= 0 && h.deviceId <= 0xffff ? h.deviceId : bdf(h, 'deviceId', undefined, `${path}.hpet`)[1];
    hpet = { id: h.id as number, deviceId };
  }
  const ioapicInIvrs = bool(opts, 'ioapicInIvrs', true, path);
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
