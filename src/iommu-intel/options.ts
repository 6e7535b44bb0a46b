/**
 * `iommu: { kind: 'intel', ... }` with defaults filled and every value checked: each field's own shape by
 * options-schema.ts, the rules that relate fields here. A bad value throws ConfigError naming the field path
 * (`iommu.faultRecords`), so a user sees exactly what to fix.
 *
 * A unit is described either by friendly options (awBits, eim, faultRecords, ...) or by the raw register values a
 * real unit reports (`cap`, `ecap`, `ver`, as Linux prints them in `DMAR: dmar0: reg_base_addr fed90000 ver 1:0
 * cap d2008c40660462 ecap f050da`). Raw values win: the unit then reports exactly them, and everything they govern
 * (fault-recording count and offset, IOTLB register offset, SAGAW/MGAW, EIM, IR, QI, PI) follows them. A friendly
 * option that contradicts a raw value is an error naming both.
 */
import type { IntelIommuOptions } from '../core/config-types.ts';
import { parseBdf } from '../core/bdf.ts';
import { checkShape } from '../core/config-schema.ts';
import { ConfigError } from '../core/errors.ts';
import { parseRegisterValue } from '../core/register-value.ts';
import {
  CAP_ESIRTPS,
  CAP_FRO_SHIFT,
  CAP_MGAW_SHIFT,
  CAP_NFR_SHIFT,
  CAP_PI,
  CAP_RESERVED,
  CAP_SAGAW_SHIFT,
  capabilityValue,
  capField,
  ECAP_EIM,
  ECAP_IR,
  ECAP_IRO_SHIFT,
  ECAP_QI,
  ECAP_RESERVED,
  extendedCapabilityValue,
} from './capabilities.ts';
import { IntelIommuOptionsSchema, parseVer } from './options-schema.ts';

export interface ResolvedIntelOptions {
  kind: 'intel';
  base: number;
  /** MGAW + 1: the host address width the unit's address registers honour. */
  awBits: number;
  /** SAGAW ≠ 0. */
  dmaTranslation: boolean;
  /** ECAP.IR. */
  interruptRemapping: boolean;
  /** ECAP.EIM. */
  eim: boolean;
  /** CAP.NFR + 1. */
  faultRecords: number;
  /** CAP.PI. */
  postedInterrupts: boolean;
  /** ECAP.QI. */
  queuedInvalidation: boolean;
  /** CAP.ESIRTPS. */
  esirtps: boolean;
  ioapicSourceId: number;
  /** The register values the unit reports. */
  cap: bigint;
  ecap: bigint;
  /** VER as Linux prints it ("1:0") and as the register reads (0x10). */
  ver: string;
  verRegister: number;
  /** Byte offsets: the first fault recording register (CAP.FRO × 16) and IVA (ECAP.IRO × 16; IOTLB at +8). */
  frcdOffset: number;
  ivaOffset: number;
  /** Firmware (DMAR DRHD) facts about this unit's scope. */
  includePciAll: boolean;
  scopeDevices: number[];
  ioapicScope: boolean;
  hpet: { id: number; sourceId: number } | null;
}

export const INTEL_IOMMU_DEFAULT_BASE = 0xfed90000;
export const INTEL_IOAPIC_DEFAULT_SOURCE_ID = 0xff00;
/**
 * The architectural registers at fixed offsets end with PEUADDR_REG at 0x0EC (VT-d 11.4, register map); the fault
 * recording registers and IVA/IOTLB are placed by CAP.FRO and ECAP.IRO anywhere after them that overlaps nothing.
 * 0x0F0–0x0FF is free: QEMU puts IVA there (vtd_init: ECAP.IRO = DMAR_IOTLB_REG_OFFSET 0xF0 >> 4, IOTLB at 0xF8;
 * "ecap f00f4a" in a q35 guest's dmesg).
 */
const ARCH_REGS_END = 0xf0;
/** The unit's register window is at most 64 KiB here (16 pages; DRHD "Size" field, ACPI DMAR rev. ≥ 3). */
const MAX_WINDOW = 0x10000;

/** Keys a resolved object adds; accepted (and re-derived) so resolving twice is harmless. */
const RESOLVED = ['queuedInvalidation', 'esirtps', 'frcdOffset', 'ivaOffset', 'scopeDevices', 'verRegister'];

/** A friendly option given next to the raw register value it describes must agree with it. */
function agree<T>(given: T | undefined, fromRaw: T, field: string, rawField: string, what: string): void {
  if (given !== undefined && given !== fromRaw) {
    throw new ConfigError(field, `${JSON.stringify(given)} contradicts ${rawField}, whose ${what} says ${JSON.stringify(fromRaw)} (drop one of ${field} and ${rawField})`);
  }
}

/** Resolve `opts` (already resolved options are returned as they are). */
export function resolveIntelOptions(opts: IntelIommuOptions | ResolvedIntelOptions, path = 'iommu'): ResolvedIntelOptions {
  if (isResolved(opts)) return opts;
  const user = Object.fromEntries(Object.entries(opts as object).filter(([key]) => !RESOLVED.includes(key)));
  checkShape(IntelIommuOptionsSchema, user, path);

  const base = opts.base ?? INTEL_IOMMU_DEFAULT_BASE;
  const given = {
    awBits: opts.awBits,
    dmaTranslation: opts.dmaTranslation,
    interruptRemapping: opts.interruptRemapping,
    eim: opts.eim,
    postedInterrupts: opts.postedInterrupts,
    faultRecords: opts.faultRecords,
  };
  const rawCap = opts.cap === undefined ? undefined : parseRegisterValue(opts.cap, `${path}.cap`, 64);
  const rawEcap = opts.ecap === undefined ? undefined : parseRegisterValue(opts.ecap, `${path}.ecap`, 64);
  if (rawCap === undefined && given.awBits !== undefined && given.awBits !== 39 && given.awBits !== 48 && given.awBits !== 57) {
    // 39, 48 or 57 bits: MGAW and the SAGAW bits (3-, 4-, 5-level second-level tables). QEMU offers only 39/48 in
    // legacy mode (QEMU's aw-bits property); the spec's SAGAW bit 3 (5-level) is legacy mode too. Other widths come with a raw cap.
    throw new ConfigError(`${path}.awBits`, `must be 39, 48 or 57, got ${String(opts.awBits)}`);
  }

  // Friendly values, for the registers not given raw. EIM follows IR when not given (QEMU: "eim=on cannot be
  // selected without intremap=on").
  const irFriendly = given.interruptRemapping ?? true;
  const friendly = {
    awBits: given.awBits ?? 48,
    dmaTranslation: given.dmaTranslation ?? true,
    interruptRemapping: irFriendly,
    eim: given.eim ?? irFriendly,
    faultRecords: given.faultRecords ?? 8,
    postedInterrupts: given.postedInterrupts ?? false,
  };
  if (rawEcap === undefined && friendly.eim && !friendly.interruptRemapping) throw new ConfigError(`${path}.eim`, 'extended interrupt mode needs interruptRemapping: true');
  if (rawEcap === undefined && rawCap === undefined && friendly.postedInterrupts && !friendly.interruptRemapping) {
    throw new ConfigError(`${path}.postedInterrupts`, 'posted interrupts are a form of interrupt remapping: needs interruptRemapping: true');
  }

  const cap = rawCap ?? capabilityValue(friendly);
  const ecap = rawEcap ?? extendedCapabilityValue(friendly);
  const capF = rawCap === undefined ? path + '.awBits' : path + '.cap';
  const ecapF = rawEcap === undefined ? path + '.interruptRemapping' : path + '.ecap';

  // ---- What the registers say --------------------------------------------------------------------------------
  const awBits = capField(cap, CAP_MGAW_SHIFT, 6) + 1;
  const sagaw = capField(cap, CAP_SAGAW_SHIFT, 5);
  const faultRecords = capField(cap, CAP_NFR_SHIFT, 8) + 1;
  const frcdOffset = capField(cap, CAP_FRO_SHIFT, 10) * 16;
  const postedInterrupts = (cap & CAP_PI) !== 0n;
  const interruptRemapping = (ecap & ECAP_IR) !== 0n;
  const eim = (ecap & ECAP_EIM) !== 0n;
  const queuedInvalidation = (ecap & ECAP_QI) !== 0n;
  const ivaOffset = capField(ecap, ECAP_IRO_SHIFT, 10) * 16;

  if (rawCap !== undefined) {
    agree(given.awBits, awBits, `${path}.awBits`, `${path}.cap`, 'MGAW (bits 21:16) + 1');
    agree(given.faultRecords, faultRecords, `${path}.faultRecords`, `${path}.cap`, 'NFR (bits 47:40) + 1');
    agree(given.postedInterrupts, postedInterrupts, `${path}.postedInterrupts`, `${path}.cap`, 'PI (bit 59)');
    agree(given.dmaTranslation, sagaw !== 0, `${path}.dmaTranslation`, `${path}.cap`, 'SAGAW (bits 12:8) ≠ 0');
  }
  if (rawEcap !== undefined) {
    agree(given.interruptRemapping, interruptRemapping, `${path}.interruptRemapping`, `${path}.ecap`, 'IR (bit 3)');
    agree(given.eim, eim, `${path}.eim`, `${path}.ecap`, 'EIM (bit 4)');
  }

  // ---- Validity (VT-d spec 11.4.2 CAP_REG, 11.4.3 ECAP_REG) -----------------------------------------------------
  if ((cap & CAP_RESERVED) !== 0n) throw new ConfigError(capF, `reserved bits set (0x${(cap & CAP_RESERVED).toString(16)}: CAP bits 15:13 and 38 are reserved)`);
  if ((cap & 7n) === 7n) throw new ConfigError(capF, 'ND = 7 is reserved (number of domains: 0..6)');
  if ((ecap & ECAP_RESERVED) !== 0n) throw new ConfigError(ecapF, `reserved bits set (0x${(ecap & ECAP_RESERVED).toString(16)}: ECAP bits 19:18 are reserved)`);
  if (awBits < 32) throw new ConfigError(capF, `MGAW says a ${awBits}-bit address width; this model needs at least 32 bits`);
  // 11.4.3 IR: "Hardware implementations reporting this field as Set must also support Queued Invalidation (QI)".
  if (interruptRemapping && !queuedInvalidation) throw new ConfigError(ecapF, 'IR (bit 3) is set without QI (bit 1): the VT-d spec requires queued invalidation with interrupt remapping');
  // 11.4.3 EIM: "This field is valid only when IR field is reported as Set".
  if (eim && !interruptRemapping) throw new ConfigError(ecapF, 'EIM (bit 4) is set without IR (bit 3): EIM is only defined for a unit with interrupt remapping');
  // 11.4.2 PI: posted interrupts are a mode of interrupt remapping.
  if (postedInterrupts && !interruptRemapping) throw new ConfigError(rawCap !== undefined ? `${path}.cap` : `${path}.postedInterrupts`, `PI (CAP bit 59) is set but ${path}.ecap has no IR (bit 3): posted interrupts need interrupt remapping`);
  const frcdEnd = frcdOffset + 16 * faultRecords;
  if (frcdOffset < ARCH_REGS_END || frcdEnd > MAX_WINDOW) {
    throw new ConfigError(capF, `FRO puts the ${faultRecords} fault recording registers at 0x${frcdOffset.toString(16)}–0x${(frcdEnd - 1).toString(16)}, outside 0xF0–0xFFFF (VT-d 11.4: the fixed registers end at 0xEF)`);
  }
  if (ivaOffset < ARCH_REGS_END || ivaOffset + 16 > MAX_WINDOW) {
    throw new ConfigError(ecapF, `IRO puts IVA/IOTLB at 0x${ivaOffset.toString(16)}, outside 0xF0–0xFFFF (VT-d 11.4: the fixed registers end at 0xEF)`);
  }
  if (ivaOffset < frcdEnd && frcdOffset < ivaOffset + 16) {
    throw new ConfigError(`${path}.cap`, `the fault recording registers (0x${frcdOffset.toString(16)}–0x${(frcdEnd - 1).toString(16)}, CAP.FRO/NFR) overlap IVA/IOTLB at 0x${ivaOffset.toString(16)} (${path}.ecap IRO)`);
  }

  const verRegister = parseVer(opts.ver, `${path}.ver`);
  const ioapicSourceId = opts.ioapicSourceId ?? INTEL_IOAPIC_DEFAULT_SOURCE_ID;

  // ---- DRHD scope --------------------------------------------------------------------------------------------
  const includePciAll = opts.includePciAll ?? true;
  const ioapicScope = opts.ioapicScope ?? true;
  const scopeDevices = (opts.devices ?? []).map(parseBdf);
  if (includePciAll && scopeDevices.length > 0) {
    throw new ConfigError(`${path}.devices`, `a device scope lists devices for a unit without INCLUDE_PCI_ALL; set ${path}.includePciAll: false`);
  }
  const hpet = opts.hpet === undefined ? null : { id: opts.hpet.id, sourceId: opts.hpet.sourceId };

  return {
    kind: 'intel',
    base,
    awBits,
    dmaTranslation: sagaw !== 0,
    interruptRemapping,
    eim,
    faultRecords,
    postedInterrupts,
    queuedInvalidation,
    esirtps: (cap & CAP_ESIRTPS) !== 0n,
    ioapicSourceId,
    cap,
    ecap,
    ver: `${verRegister >> 4}:${verRegister & 0xf}`,
    verRegister,
    frcdOffset,
    ivaOffset,
    includePciAll,
    scopeDevices,
    ioapicScope,
    hpet,
  };
}

function isResolved(opts: IntelIommuOptions | ResolvedIntelOptions): opts is ResolvedIntelOptions {
  return 'verRegister' in opts && typeof opts.verRegister === 'number' && typeof opts.cap === 'bigint' && typeof opts.ecap === 'bigint';
}
