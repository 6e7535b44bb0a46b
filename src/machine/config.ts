/**
 * Validation of the public machine configuration. Every problem names the field path and the reason, and an
 * unknown field is an error too (a typo such as `hypervisor.extDestID` must not silently mean "off").
 */
import { ConfigError, showValue } from '../core/errors.ts';
import { formatBdf, parseBdf } from '../core/bdf.ts';
import type { DeviceOptions, HypervisorOptions, IommuOptions, LegacyOptions, MachineConfig } from '../core/config-types.ts';
import { INTEL_OPTION_KEYS, resolveIntelOptions } from '../iommu-intel/options.ts';
import { AMD_OPTION_KEYS, resolveAmdOptions } from '../iommu-amd/options.ts';

export const MAX_CPUS = 32768;
/** IOREGSEL is 8 bits and RTEs start at 0x10, two registers each: 0x10 + 2·119 + 1 = 0xFF. */
export const MAX_IOAPIC_PINS = 120;
export const DEFAULT_IOAPIC_PINS = 24;
export const DEFAULT_IOAPIC_SOURCE_ID = 0xff00;

export interface ResolvedDevice extends DeviceOptions {
  requesterId: number;
}

export interface ResolvedConfig {
  cpus: number;
  apicIds: number[];
  cpuVendor: 'intel' | 'amd';
  /** CPUID.1:ECX[21]: the CPUs support x2APIC mode. */
  cpuX2apic: boolean;
  ioapic: { pins: number; version: 0x11 | 0x20; id: number };
  hypervisor: Required<HypervisorOptions>;
  devices: ResolvedDevice[];
  /** The first (or only) IOMMU; `iommus` lists every unit (one entry for an `iommu:` config). */
  iommu: IommuOptions | null;
  iommus: IommuOptions[];
  lowestPriority: 'priority' | 'vector-hash' | 'first';
  bareMetal: boolean;
  dmar: { hostAddressWidth: number | null; intrRemap: boolean; x2apicOptOut: boolean; ioapicScopeId: number | null };
  legacy: Required<LegacyOptions>;
}

export const DEFAULT_LEGACY: Required<LegacyOptions> = { pic: '8259a', apicBusCycleNs: 1, tscHz: 1_000_000_000, hpetTimers: 3 };

function validateLegacy(raw: unknown): Required<LegacyOptions> {
  if (raw === undefined) return { ...DEFAULT_LEGACY };
  if (!isObject(raw)) throw new ConfigError('legacy', 'must be an object');
  rejectUnknown(raw, ['pic', 'apicBusCycleNs', 'tscHz', 'hpetTimers'], 'legacy');
  const pic = raw.pic ?? DEFAULT_LEGACY.pic;
  if (pic !== '8259a' && pic !== 'qemu') throw new ConfigError('legacy.pic', `must be "8259a" (the data sheet) or "qemu" (QEMU's i8259.c), got ${showValue(pic)}`);
  return {
    pic,
    apicBusCycleNs: raw.apicBusCycleNs === undefined ? DEFAULT_LEGACY.apicBusCycleNs : intIn(raw.apicBusCycleNs, 'legacy.apicBusCycleNs', 1, 1000),
    // Up to 10 GHz; at least 1 kHz so a deadline converts to nanoseconds without overflow.
    tscHz: raw.tscHz === undefined ? DEFAULT_LEGACY.tscHz : intIn(raw.tscHz, 'legacy.tscHz', 1000, 10_000_000_000),
    hpetTimers: raw.hpetTimers === undefined ? DEFAULT_LEGACY.hpetTimers : intIn(raw.hpetTimers, 'legacy.hpetTimers', 3, 32),
  };
}

const HYPERVISOR_KEYS: (keyof HypervisorOptions)[] = [
  'extDestId',
  'xenPirq',
  'x2apicApi',
  'windowsHighAddressBits',
  'intelIrAcceptsAmdFormat',
];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rejectUnknown(obj: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(path ? `${path}.${key}` : key, `unknown field (allowed: ${allowed.join(', ')})`);
    }
  }
}

function intIn(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new ConfigError(field, `must be an integer, got ${showValue(value)}`);
  if (value < min || value > max) throw new ConfigError(field, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function optionalBool(value: unknown, field: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new ConfigError(field, `must be true or false, got ${showValue(value)}`);
  return value;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function bdfField(value: unknown, field: string): number {
  if (typeof value !== 'string') throw new ConfigError(field, `must be a PCI address string like "00:03.0", got ${showValue(value)}`);
  try {
    return parseBdf(value);
  } catch (e) {
    throw new ConfigError(field, (e as Error).message);
  }
}

function validateDevice(raw: unknown, i: number, taken: Map<number, string>): ResolvedDevice {
  const path = `devices[${i}]`;
  if (!isObject(raw)) throw new ConfigError(path, 'must be an object');
  rejectUnknown(raw, ['bdf', 'vendorId', 'deviceId', 'classCode', 'msi', 'msix', 'name', 'embeddedMsi', 'intx', 'behindBridges'], path);
  if (raw.intx !== undefined && !['A', 'B', 'C', 'D'].includes(raw.intx as string)) throw new ConfigError(`${path}.intx`, `must be "A", "B", "C" or "D" (the Interrupt Pin), got ${showValue(raw.intx)}`);
  if (raw.behindBridges !== undefined) {
    if (!Array.isArray(raw.behindBridges)) throw new ConfigError(`${path}.behindBridges`, 'must be a list of bridge device numbers (0..31), outermost first');
    raw.behindBridges.forEach((d, j) => intIn(d, `${path}.behindBridges[${j}]`, 0, 31));
    if (raw.intx === undefined) throw new ConfigError(`${path}.behindBridges`, 'only matters for INTx routing: give intx too');
  }
  const requesterId = bdfField(raw.bdf, `${path}.bdf`);
  const owner = taken.get(requesterId);
  if (owner !== undefined) throw new ConfigError(`${path}.bdf`, `${formatBdf(requesterId)} is already used by ${owner}`);
  taken.set(requesterId, path);
  if (raw.vendorId !== undefined) intIn(raw.vendorId, `${path}.vendorId`, 0, 0xfffe);
  if (raw.deviceId !== undefined) intIn(raw.deviceId, `${path}.deviceId`, 0, 0xffff);
  if (raw.classCode !== undefined) intIn(raw.classCode, `${path}.classCode`, 0, 0xffffff);
  if (raw.name !== undefined && typeof raw.name !== 'string') throw new ConfigError(`${path}.name`, 'must be a string');
  if (raw.msi !== undefined) {
    const msi = raw.msi;
    if (!isObject(msi)) throw new ConfigError(`${path}.msi`, 'must be an object');
    rejectUnknown(msi, ['vectors', 'addr64', 'perVectorMask'], `${path}.msi`);
    const v = intIn(msi.vectors, `${path}.msi.vectors`, 1, 32);
    if (!isPowerOfTwo(v)) throw new ConfigError(`${path}.msi.vectors`, `must be a power of two (1, 2, 4, 8, 16 or 32), got ${v}`);
    optionalBool(msi.addr64, `${path}.msi.addr64`);
    optionalBool(msi.perVectorMask, `${path}.msi.perVectorMask`);
  }
  if (raw.msix !== undefined) {
    const msix = raw.msix;
    if (!isObject(msix)) throw new ConfigError(`${path}.msix`, 'must be an object');
    rejectUnknown(msix, ['entries', 'bar', 'tableOffset', 'pbaOffset'], `${path}.msix`);
    const entries = intIn(msix.entries, `${path}.msix.entries`, 1, 2048);
    if (msix.bar !== undefined) intIn(msix.bar, `${path}.msix.bar`, 0, 5);
    const tableOffset = msix.tableOffset === undefined ? 0 : intIn(msix.tableOffset, `${path}.msix.tableOffset`, 0, 0x7fffffff);
    if (tableOffset % 8 !== 0) throw new ConfigError(`${path}.msix.tableOffset`, `must be 8-byte aligned (the low 3 bits hold the BIR), got 0x${tableOffset.toString(16)}`);
    if (msix.pbaOffset !== undefined) {
      const pbaOffset = intIn(msix.pbaOffset, `${path}.msix.pbaOffset`, 0, 0x7fffffff);
      if (pbaOffset % 8 !== 0) throw new ConfigError(`${path}.msix.pbaOffset`, `must be 8-byte aligned, got 0x${pbaOffset.toString(16)}`);
      const tableEnd = tableOffset + entries * 16;
      const pbaEnd = pbaOffset + Math.ceil(entries / 64) * 8;
      if (pbaOffset < tableEnd && tableOffset < pbaEnd) {
        throw new ConfigError(`${path}.msix.pbaOffset`, `PBA [0x${pbaOffset.toString(16)}, 0x${pbaEnd.toString(16)}) overlaps the table [0x${tableOffset.toString(16)}, 0x${tableEnd.toString(16)})`);
      }
    }
  }
  if (raw.embeddedMsi !== undefined) validateEmbeddedMsi(raw.embeddedMsi, `${path}.embeddedMsi`, raw.msix);
  return { ...(raw as unknown as DeviceOptions), requesterId };
}

function validateEmbeddedMsi(e: unknown, path: string, msix: unknown): void {
  if (!isObject(e)) throw new ConfigError(path, 'must be an object { registers: [...] }');
  rejectUnknown(e, ['bar', 'barSize', 'registers'], path);
  const bar = e.bar === undefined ? 0 : intIn(e.bar, `${path}.bar`, 0, 5);
  if (isObject(msix) && (msix.bar ?? 0) === bar) throw new ConfigError(`${path}.bar`, `BAR${bar} already holds the MSI-X table`);
  const size = e.barSize === undefined ? 0x200000 : intIn(e.barSize, `${path}.barSize`, 16, 2 ** 30);
  if (!isPowerOfTwo(size)) throw new ConfigError(`${path}.barSize`, `must be a power of two, got ${size}`);
  if (!Array.isArray(e.registers) || e.registers.length === 0) throw new ConfigError(`${path}.registers`, 'must be a non-empty list of BAR offsets');
  e.registers.forEach((r, i) => {
    const off = intIn(r, `${path}.registers[${i}]`, 0, size - 12);
    if (off % 4 !== 0) throw new ConfigError(`${path}.registers[${i}]`, `must be 4-byte aligned, got 0x${off.toString(16)}`);
  });
}

/** Raw register values may be bigints; the resolved config holds them as hex text so it stays JSON (snapshots). */
function registersAsText(raw: Record<string, unknown>): Record<string, unknown> {
  const out = { ...raw };
  for (const k of ['cap', 'ecap', 'efr', 'efr2']) if (typeof out[k] === 'bigint') out[k] = (out[k] as bigint).toString(16);
  return out;
}

function validateIommu(rawIn: unknown, taken: Map<number, string>, path = 'iommu'): IommuOptions {
  if (!isObject(rawIn)) throw new ConfigError(path, 'must be an object with kind "intel" or "amd"');
  const raw = registersAsText(rawIn);
  if (raw.kind === 'intel') {
    rejectUnknown(raw, INTEL_OPTION_KEYS, path);
    // Field-level validation and defaults belong to the Intel model; run it here too, so that resolveConfig alone
    // (a scenario file being loaded) rejects everything createMachine would.
    resolveIntelOptions(raw as unknown as IommuOptions & { kind: 'intel' }, path);
    return raw as unknown as IommuOptions;
  }
  if (raw.kind === 'amd') {
    rejectUnknown(raw, AMD_OPTION_KEYS, 'iommu');
    const own = bdfField(raw.bdf ?? '00:02.0', 'iommu.bdf');
    const owner = taken.get(own);
    if (owner !== undefined) throw new ConfigError('iommu.bdf', `${formatBdf(own)} is already used by ${owner}`);
    const ioapic = bdfField(raw.ioapicDeviceId ?? '00:14.0', 'iommu.ioapicDeviceId');
    if (ioapic === own) throw new ConfigError('iommu.ioapicDeviceId', `must differ from the IOMMU's own function ${formatBdf(own)}`);
    resolveAmdOptions(raw as unknown as IommuOptions & { kind: 'amd' });
    return raw as unknown as IommuOptions;
  }
  throw new ConfigError('iommu.kind', `must be "intel" or "amd", got ${JSON.stringify(raw.kind)}`);
}

/**
 * `iommus: [...]`: several VT-d units (DRHDs) on one segment. Each is an ordinary Intel unit; across units the
 * DMAR rules hold: at most one INCLUDE_PCI_ALL unit, a device in at most one scope, the I/O APIC under at most one
 * unit (by default the INCLUDE_PCI_ALL one), distinct register bases. Several AMD units are not modelled.
 */
function validateIntelUnits(raw: unknown, taken: Map<number, string>): IommuOptions[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new ConfigError('iommus', 'must be a non-empty list of Intel units');
  const units = raw.map((u, i) => {
    const path = `iommus[${i}]`;
    if (!isObject(u)) throw new ConfigError(path, 'must be an object with kind "intel"');
    if (u.kind !== 'intel') throw new ConfigError(`${path}.kind`, `several units are modelled for Intel VT-d only (kind "intel"), got ${JSON.stringify(u.kind)}`);
    // In a multi-unit table the I/O APIC belongs to the INCLUDE_PCI_ALL unit unless a unit says otherwise.
    const withDefaults = u.ioapicScope === undefined ? { ...u, ioapicScope: u.includePciAll !== false } : u;
    return validateIommu(withDefaults, taken, path);
  });
  const resolved = units.map((u, i) => resolveIntelOptions(u as IommuOptions & { kind: 'intel' }, `iommus[${i}]`));
  const catchAll = resolved.map((r, i) => (r.includePciAll ? i : -1)).filter((i) => i >= 0);
  if (catchAll.length > 1) throw new ConfigError(`iommus[${catchAll[1]}].includePciAll`, `iommus[${catchAll[0]}] already has INCLUDE_PCI_ALL; a segment has at most one such DRHD (VT-d 8.3)`);
  const ioapicUnits = resolved.map((r, i) => (r.ioapicScope ? i : -1)).filter((i) => i >= 0);
  if (ioapicUnits.length > 1) throw new ConfigError(`iommus[${ioapicUnits[1]}].ioapicScope`, `the I/O APIC is already in the scope of iommus[${ioapicUnits[0]}]`);
  const owner = new Map<number, number>();
  resolved.forEach((r, i) => {
    for (const [j, rid] of r.scopeDevices.entries()) {
      const first = owner.get(rid);
      if (first !== undefined) throw new ConfigError(`iommus[${i}].devices[${j}]`, `${formatBdf(rid)} is already in the scope of iommus[${first}]`);
      owner.set(rid, i);
    }
  });
  const bases = new Map<number, number>();
  resolved.forEach((r, i) => {
    const first = bases.get(r.base);
    if (first !== undefined) throw new ConfigError(`iommus[${i}].base`, `0x${r.base.toString(16)} is already the base of iommus[${first}]`);
    bases.set(r.base, i);
  });
  return units;
}

/** `cpu: { vendor, x2apic }` and the older top-level `cpuVendor` (one of the two). */
function validateCpu(cpu: unknown, topVendor: unknown): { vendor: 'intel' | 'amd'; x2apic: boolean } {
  let vendor = topVendor;
  let vendorField = 'cpuVendor';
  let x2apic = true;
  if (cpu !== undefined) {
    if (!isObject(cpu)) throw new ConfigError('cpu', 'must be an object like { vendor: intel, x2apic: false }');
    rejectUnknown(cpu, ['vendor', 'x2apic'], 'cpu');
    if (cpu.vendor !== undefined) {
      if (topVendor !== undefined) throw new ConfigError('cpu.vendor', 'give the vendor once: cpu.vendor or cpuVendor, not both');
      vendor = cpu.vendor;
      vendorField = 'cpu.vendor';
    }
    if (cpu.x2apic !== undefined) x2apic = optionalBool(cpu.x2apic, 'cpu.x2apic');
  }
  vendor ??= 'intel';
  if (vendor !== 'intel' && vendor !== 'amd') throw new ConfigError(vendorField, `must be "intel" or "amd", got ${JSON.stringify(vendor)}`);
  return { vendor, x2apic };
}

/** Validate a machine configuration and fill its defaults. Throws ConfigError naming the first bad field. */
export function resolveConfig(config: MachineConfig): ResolvedConfig {
  const raw = config as unknown;
  if (!isObject(raw)) throw new ConfigError('config', 'must be an object');
  rejectUnknown(raw, ['cpus', 'apicIds', 'cpuVendor', 'cpu', 'ioapic', 'hypervisor', 'devices', 'iommu', 'lowestPriority', 'bareMetal', 'dmar', 'iommus', 'legacy'], '');
  const cpus = intIn(raw.cpus, 'cpus', 1, MAX_CPUS);

  let apicIds: number[];
  if (raw.apicIds === undefined) {
    apicIds = Array.from({ length: cpus }, (_, i) => i);
  } else {
    if (!Array.isArray(raw.apicIds)) throw new ConfigError('apicIds', 'must be an array of APIC IDs');
    if (raw.apicIds.length !== cpus) throw new ConfigError('apicIds', `has ${raw.apicIds.length} entries but cpus is ${cpus}`);
    const seen = new Map<number, number>();
    apicIds = raw.apicIds.map((id, i) => {
      // 0xFFFFFFFF is the x2APIC broadcast address and is reserved as an APIC ID (SDM 10.12.1.3).
      const v = intIn(id, `apicIds[${i}]`, 0, 0xfffffffe);
      const first = seen.get(v);
      if (first !== undefined) throw new ConfigError(`apicIds[${i}]`, `APIC ID ${v} is already used by apicIds[${first}]`);
      seen.set(v, i);
      return v;
    });
  }

  const { vendor: cpuVendor, x2apic: cpuX2apic } = validateCpu(raw.cpu, raw.cpuVendor);
  if (!cpuX2apic) {
    // Without x2APIC the only APIC ID is the 8-bit xAPIC one, and 0xFF is the broadcast (SDM 10.4.6, 10.6.2.1).
    const high = apicIds.findIndex((id) => id > 254);
    if (high >= 0) throw new ConfigError(`apicIds[${high}]`, `APIC ID ${apicIds[high]} needs x2APIC, but cpu.x2apic is false (an xAPIC ID is 0..254)`);
  }

  const ioapicRaw = raw.ioapic ?? {};
  if (!isObject(ioapicRaw)) throw new ConfigError('ioapic', 'must be an object');
  rejectUnknown(ioapicRaw, ['pins', 'version', 'id'], 'ioapic');
  const pins = ioapicRaw.pins === undefined ? DEFAULT_IOAPIC_PINS : intIn(ioapicRaw.pins, 'ioapic.pins', 1, MAX_IOAPIC_PINS);
  const version = ioapicRaw.version ?? 0x20;
  if (version !== 0x11 && version !== 0x20) throw new ConfigError('ioapic.version', `must be 0x11 or 0x20, got ${JSON.stringify(version)}`);
  const ioapicId = ioapicRaw.id === undefined ? 0 : intIn(ioapicRaw.id, 'ioapic.id', 0, 15);

  const hvRaw = raw.hypervisor ?? {};
  if (!isObject(hvRaw)) throw new ConfigError('hypervisor', 'must be an object');
  rejectUnknown(hvRaw, HYPERVISOR_KEYS, 'hypervisor');
  const hypervisor = Object.fromEntries(HYPERVISOR_KEYS.map((k) => [k, optionalBool(hvRaw[k], `hypervisor.${k}`)])) as Required<HypervisorOptions>;
  if (hypervisor.x2apicApi && hypervisor.windowsHighAddressBits) {
    throw new ConfigError(
      'hypervisor.windowsHighAddressBits',
      'cannot be combined with x2apicApi: address_hi 0x100 means APIC ID 0x1xx to the KVM x2APIC API but 0x100xx in the Windows layout',
    );
  }

  const taken = new Map<number, string>();
  let iommu: IommuOptions | null = null;
  let iommus: IommuOptions[] = [];
  if (raw.iommu !== undefined && raw.iommus !== undefined) throw new ConfigError('iommus', 'give either iommu (one unit) or iommus (several), not both');
  if (raw.iommu !== undefined) {
    iommu = validateIommu(raw.iommu, taken);
    iommus = [iommu];
  } else if (raw.iommus !== undefined) {
    iommus = validateIntelUnits(raw.iommus, taken);
    iommu = iommus[0] ?? null;
  }
  if (iommu?.kind === 'amd') taken.set(parseBdf(iommu.bdf ?? '00:02.0'), 'the AMD IOMMU (iommu.bdf)');
  if (hypervisor.intelIrAcceptsAmdFormat && iommu?.kind !== 'intel') {
    throw new ConfigError('hypervisor.intelIrAcceptsAmdFormat', 'is a hack inside the Intel IOMMU and needs iommu.kind "intel"');
  }

  if (raw.devices !== undefined && !Array.isArray(raw.devices)) throw new ConfigError('devices', 'must be an array');
  const devices = ((raw.devices as unknown[] | undefined) ?? []).map((d, i) => validateDevice(d, i, taken));

  const lowestPriority = raw.lowestPriority ?? 'priority';
  if (lowestPriority !== 'priority' && lowestPriority !== 'vector-hash' && lowestPriority !== 'first') {
    throw new ConfigError('lowestPriority', `must be "priority", "vector-hash" or "first", got ${JSON.stringify(lowestPriority)}`);
  }

  const bareMetal = optionalBool(raw.bareMetal, 'bareMetal');
  if (bareMetal) {
    // Every hypervisor option is a hypervisor's CPUID leaf or message convention; a physical machine has none.
    const on = HYPERVISOR_KEYS.find((k) => hypervisor[k] && k !== 'intelIrAcceptsAmdFormat');
    if (on !== undefined) throw new ConfigError(`hypervisor.${on}`, 'is a hypervisor feature; a bareMetal machine has no hypervisor');
  }

  let dmar: ResolvedConfig['dmar'] = { hostAddressWidth: null, intrRemap: true, x2apicOptOut: false, ioapicScopeId: null };
  if (raw.dmar !== undefined) {
    if (!isObject(raw.dmar)) throw new ConfigError('dmar', 'must be an object');
    if (iommu?.kind !== 'intel') throw new ConfigError('dmar', 'describes the ACPI DMAR table, which only a machine with iommu.kind "intel" has');
    rejectUnknown(raw.dmar, ['hostAddressWidth', 'intrRemap', 'x2apicOptOut', 'ioapicScopeId'], 'dmar');
    dmar = {
      // DMAR "Host Address Width" holds width - 1 in a byte; real tables say 36..52.
      hostAddressWidth: raw.dmar.hostAddressWidth === undefined ? null : intIn(raw.dmar.hostAddressWidth, 'dmar.hostAddressWidth', 32, 64),
      intrRemap: raw.dmar.intrRemap === undefined ? true : optionalBool(raw.dmar.intrRemap, 'dmar.intrRemap'),
      x2apicOptOut: optionalBool(raw.dmar.x2apicOptOut, 'dmar.x2apicOptOut'),
      // The scope's Enumeration ID is a byte (VT-d 8.3.1); the model's I/O APIC ID register holds 4 bits.
      ioapicScopeId: raw.dmar.ioapicScopeId === undefined ? null : intIn(raw.dmar.ioapicScopeId, 'dmar.ioapicScopeId', 0, 255),
    };
  }

  return {
    cpus,
    apicIds,
    cpuVendor,
    cpuX2apic,
    ioapic: { pins, version, id: ioapicId },
    hypervisor,
    devices,
    iommu,
    iommus,
    lowestPriority,
    bareMetal,
    dmar,
    legacy: validateLegacy(raw.legacy),
  };
}
