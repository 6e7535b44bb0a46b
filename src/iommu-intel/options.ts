/**
 * `iommu: { kind: 'intel', ... }` with defaults filled and every value checked. A bad value throws ConfigError naming
 * the field path (`iommu.faultRecords`), so a user sees exactly what to fix.
 */
import type { IntelIommuOptions } from '../core/config-types.ts';
import { ConfigError } from '../core/errors.ts';

export interface ResolvedIntelOptions {
  kind: 'intel';
  base: number;
  awBits: 39 | 48;
  dmaTranslation: boolean;
  interruptRemapping: boolean;
  eim: boolean;
  faultRecords: number;
  postedInterrupts: boolean;
  ioapicSourceId: number;
}

export const INTEL_IOMMU_DEFAULT_BASE = 0xfed90000;
export const INTEL_IOAPIC_DEFAULT_SOURCE_ID = 0xff00;

function optionalBoolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ConfigError(field, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

export function resolveIntelOptions(opts: IntelIommuOptions): ResolvedIntelOptions {
  if (opts === null || typeof opts !== 'object') throw new ConfigError('iommu', 'must be an object');
  if (opts.kind !== 'intel') throw new ConfigError('iommu.kind', `must be 'intel' for the VT-d unit, got ${JSON.stringify(opts.kind)}`);

  const base = opts.base ?? INTEL_IOMMU_DEFAULT_BASE;
  if (!Number.isInteger(base) || base < 0 || base >= 2 ** 52) {
    throw new ConfigError('iommu.base', `must be a physical address below 2^52, got ${String(opts.base)}`);
  }
  // A DRHD register set is 4 KiB aligned (ACPI DMAR: "Register Base Address ... aligned to 4 KB").
  if (base % 0x1000 !== 0) throw new ConfigError('iommu.base', `must be 4 KiB aligned, got 0x${base.toString(16)}`);

  const awBits = opts.awBits ?? 48;
  // Legacy (non-scalable) mode allows only 39- and 48-bit widths (QEMU aw-bits, reference §11).
  if (awBits !== 39 && awBits !== 48) throw new ConfigError('iommu.awBits', `must be 39 or 48, got ${String(opts.awBits)}`);

  const dmaTranslation = optionalBoolean(opts.dmaTranslation, 'iommu.dmaTranslation', true);
  const interruptRemapping = optionalBoolean(opts.interruptRemapping, 'iommu.interruptRemapping', true);
  // EIM only makes sense with IR (QEMU: "eim=on cannot be selected without intremap=on"); the default follows IR.
  const eim = optionalBoolean(opts.eim, 'iommu.eim', interruptRemapping);
  if (eim && !interruptRemapping) throw new ConfigError('iommu.eim', 'extended interrupt mode needs interruptRemapping: true');
  const postedInterrupts = optionalBoolean(opts.postedInterrupts, 'iommu.postedInterrupts', false);
  if (postedInterrupts && !interruptRemapping) {
    throw new ConfigError('iommu.postedInterrupts', 'posted interrupts are a form of interrupt remapping: needs interruptRemapping: true');
  }

  const faultRecords = opts.faultRecords ?? 8;
  // CAP.NFR is 8 bits holding count - 1.
  if (!Number.isInteger(faultRecords) || faultRecords < 1 || faultRecords > 256) {
    throw new ConfigError('iommu.faultRecords', `must be an integer from 1 to 256, got ${String(opts.faultRecords)}`);
  }

  const ioapicSourceId = opts.ioapicSourceId ?? INTEL_IOAPIC_DEFAULT_SOURCE_ID;
  if (!Number.isInteger(ioapicSourceId) || ioapicSourceId < 0 || ioapicSourceId > 0xffff) {
    throw new ConfigError('iommu.ioapicSourceId', `must be a 16-bit requester ID (0..0xffff), got ${String(opts.ioapicSourceId)}`);
  }

  return { kind: 'intel', base, awBits, dmaTranslation, interruptRemapping, eim, faultRecords, postedInterrupts, ioapicSourceId };
}
