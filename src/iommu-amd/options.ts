/**
 * The `iommu: { kind: 'amd', ... }` configuration: defaults and validation. Field paths in errors are relative to
 * the machine config ("iommu.base"), so a user sees exactly which value to fix.
 */
import { parseBdf } from '../core/bdf.ts';
import type { AmdIommuOptions } from '../core/config-types.ts';
import { ConfigError } from '../core/errors.ts';
import { MMIO_SIZE } from './registers.ts';

export interface ResolvedAmdOptions {
  kind: 'amd';
  base: number;
  xt: boolean;
  ga: boolean;
  intRemap2k: boolean;
  dmaTranslation: boolean;
  /** As given (canonical "bb:dd.f" text is not enforced), plus the parsed DeviceID. */
  ioapicDeviceId: string;
  ioapicRequesterId: number;
  bdf: string;
  requesterId: number;
}

export const AMD_IOMMU_DEFAULT_BASE = 0xfed80000;

const KNOWN_KEYS = new Set(['kind', 'base', 'xt', 'ga', 'intRemap2k', 'dmaTranslation', 'ioapicDeviceId', 'bdf']);
/** Keys a resolved object adds; accepted (and re-derived) so resolving twice is harmless. */
const RESOLVED_KEYS = new Set(['ioapicRequesterId', 'requesterId']);

function bool(opts: AmdIommuOptions, key: 'xt' | 'ga' | 'intRemap2k' | 'dmaTranslation', fallback: boolean, path: string): boolean {
  const v = opts[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new ConfigError(`${path}.${key}`, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function bdf(opts: AmdIommuOptions, key: 'ioapicDeviceId' | 'bdf', fallback: string, path: string): [string, number] {
  const v = opts[key] ?? fallback;
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
  return {
    kind: 'amd',
    base,
    xt: bool(opts, 'xt', true, path),
    ga: bool(opts, 'ga', true, path),
    intRemap2k: bool(opts, 'intRemap2k', false, path),
    dmaTranslation: bool(opts, 'dmaTranslation', true, path),
    ioapicDeviceId,
    ioapicRequesterId,
    bdf: ownBdf,
    requesterId,
  };
}
