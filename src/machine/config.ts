/**
 * The public machine configuration: its shape (config-schema.ts), the rules that relate fields, and the defaults. Every problem names the field path and the
 * reason, and an unknown field is an error too (a typo such as `hypervisor.extDestID` must not silently mean "off").
 * A configuration whose shape is wrong gets all its problems at once; the rules relating fields stop at their first.
 */
import { ConfigError } from '../core/errors.ts';
import { formatBdf, parseBdf } from '../core/bdf.ts';
import { checkShape } from '../core/config-schema.ts';
import type { DeviceOptions, HypervisorOptions, IommuOptions, LegacyOptions, MachineConfig } from '../core/config-types.ts';
import { resolveIntelOptions } from '../iommu-intel/options.ts';
import { resolveAmdOptions } from '../iommu-amd/options.ts';
import { HYPERVISOR_KEYS, MachineConfigSchema } from './config-schema.ts';

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


const hex = (n: number): string => `0x${n.toString(16)}`;

/** Validate a machine configuration and fill its defaults. Throws ConfigError naming the bad fields. */
export function resolveConfig(config: MachineConfig): ResolvedConfig {
  checkShape(MachineConfigSchema, config, '', 'config');
  const cpus = config.cpus;
  const apicIds = resolveApicIds(config.apicIds, cpus);
  const { vendor: cpuVendor, x2apic: cpuX2apic } = resolveCpu(config);
  if (!cpuX2apic) {
    // Without x2APIC the only APIC ID is the 8-bit xAPIC one, and 0xFF is the broadcast (SDM 10.4.6, 10.6.2.1).
    const high = apicIds.findIndex((id) => id > 254);
    if (high >= 0) throw new ConfigError(`apicIds[${high}]`, `APIC ID ${apicIds[high]} needs x2APIC, but cpu.x2apic is false (an xAPIC ID is 0..254)`);
  }

  const hypervisor = Object.fromEntries(HYPERVISOR_KEYS.map((k) => [k, config.hypervisor?.[k] ?? false])) as Required<HypervisorOptions>;
  if (hypervisor.x2apicApi && hypervisor.windowsHighAddressBits) {
    throw new ConfigError(
      'hypervisor.windowsHighAddressBits',
      'cannot be combined with x2apicApi: address_hi 0x100 means APIC ID 0x1xx to the KVM x2APIC API but 0x100xx in the Windows layout',
    );
  }

  const taken = new Map<number, string>();
  let iommu: IommuOptions | null = null;
  let iommus: IommuOptions[] = [];
  if (config.iommu !== undefined && config.iommus !== undefined) throw new ConfigError('iommus', 'give either iommu (one unit) or iommus (several), not both');
  if (config.iommu !== undefined) {
    iommu = resolveIommu(config.iommu, 'iommu');
    iommus = [iommu];
  } else if (config.iommus !== undefined) {
    iommus = resolveIntelUnits(config.iommus);
    iommu = iommus[0] ?? null;
  }
  if (iommu?.kind === 'amd') taken.set(parseBdf(iommu.bdf ?? '00:02.0'), 'the AMD IOMMU (iommu.bdf)');
  if (hypervisor.intelIrAcceptsAmdFormat && iommu?.kind !== 'intel') {
    throw new ConfigError('hypervisor.intelIrAcceptsAmdFormat', 'is a hack inside the Intel IOMMU and needs iommu.kind "intel"');
  }

  const devices = (config.devices ?? []).map((d, i) => resolveDevice(d, `devices[${i}]`, taken));

  const bareMetal = config.bareMetal ?? false;
  if (bareMetal) {
    // Every hypervisor option is a hypervisor's CPUID leaf or message convention; a physical machine has none.
    const on = HYPERVISOR_KEYS.find((k) => hypervisor[k] && k !== 'intelIrAcceptsAmdFormat');
    if (on !== undefined) throw new ConfigError(`hypervisor.${on}`, 'is a hypervisor feature; a bareMetal machine has no hypervisor');
  }

  if (config.dmar !== undefined && iommu?.kind !== 'intel') throw new ConfigError('dmar', 'describes the ACPI DMAR table, which only a machine with iommu.kind "intel" has');
  const dmar = config.dmar ?? {};

  return {
    cpus,
    apicIds,
    cpuVendor,
    cpuX2apic,
    ioapic: { pins: config.ioapic?.pins ?? DEFAULT_IOAPIC_PINS, version: config.ioapic?.version ?? 0x20, id: config.ioapic?.id ?? 0 },
    hypervisor,
    devices,
    iommu,
    iommus,
    lowestPriority: config.lowestPriority ?? 'priority',
    bareMetal,
    dmar: { hostAddressWidth: dmar.hostAddressWidth ?? null, intrRemap: dmar.intrRemap ?? true, x2apicOptOut: dmar.x2apicOptOut ?? false, ioapicScopeId: dmar.ioapicScopeId ?? null },
    legacy: {
      pic: config.legacy?.pic ?? DEFAULT_LEGACY.pic,
      apicBusCycleNs: config.legacy?.apicBusCycleNs ?? DEFAULT_LEGACY.apicBusCycleNs,
      tscHz: config.legacy?.tscHz ?? DEFAULT_LEGACY.tscHz,
      hpetTimers: config.legacy?.hpetTimers ?? DEFAULT_LEGACY.hpetTimers,
    },
  };
}

/** APIC ID i for CPU i unless given; one per CPU, each used once. */
function resolveApicIds(given: number[] | undefined, cpus: number): number[] {
  if (given === undefined) return Array.from({ length: cpus }, (_, i) => i);
  if (given.length !== cpus) throw new ConfigError('apicIds', `has ${given.length} entries but cpus is ${cpus}`);
  const seen = new Map<number, number>();
  given.forEach((id, i) => {
    const first = seen.get(id);
    if (first !== undefined) throw new ConfigError(`apicIds[${i}]`, `APIC ID ${id} is already used by apicIds[${first}]`);
    seen.set(id, i);
  });
  return [...given];
}

/** `cpu: { vendor, x2apic }` and the older top-level `cpuVendor` (one of the two). */
function resolveCpu(config: MachineConfig): { vendor: 'intel' | 'amd'; x2apic: boolean } {
  if (config.cpu?.vendor !== undefined && config.cpuVendor !== undefined) throw new ConfigError('cpu.vendor', 'give the vendor once: cpu.vendor or cpuVendor, not both');
  return { vendor: config.cpu?.vendor ?? config.cpuVendor ?? 'intel', x2apic: config.cpu?.x2apic ?? true };
}

function resolveDevice(device: DeviceOptions, path: string, taken: Map<number, string>): ResolvedDevice {
  if (device.behindBridges !== undefined && device.intx === undefined) throw new ConfigError(`${path}.behindBridges`, 'only matters for INTx routing: give intx too');
  const requesterId = parseBdf(device.bdf);
  const owner = taken.get(requesterId);
  if (owner !== undefined) throw new ConfigError(`${path}.bdf`, `${formatBdf(requesterId)} is already used by ${owner}`);
  taken.set(requesterId, path);
  const msix = device.msix;
  if (msix?.pbaOffset !== undefined) {
    const tableOffset = msix.tableOffset ?? 0;
    const tableEnd = tableOffset + msix.entries * 16;
    const pbaEnd = msix.pbaOffset + Math.ceil(msix.entries / 64) * 8;
    if (msix.pbaOffset < tableEnd && tableOffset < pbaEnd) {
      throw new ConfigError(`${path}.msix.pbaOffset`, `PBA [${hex(msix.pbaOffset)}, ${hex(pbaEnd)}) overlaps the table [${hex(tableOffset)}, ${hex(tableEnd)})`);
    }
  }
  const embedded = device.embeddedMsi;
  if (embedded !== undefined) {
    const field = `${path}.embeddedMsi`;
    const bar = embedded.bar ?? 0;
    if (msix !== undefined && (msix.bar ?? 0) === bar) throw new ConfigError(`${field}.bar`, `BAR${bar} already holds the MSI-X table`);
    const size = embedded.barSize ?? 0x200000;
    // Each source's address (8 bytes) and data (4 bytes) must fit in the BAR.
    embedded.registers.forEach((offset, i) => {
      if (offset < 0 || offset > size - 12) throw new ConfigError(`${field}.registers[${i}]`, `must be between 0 and ${size - 12}, got ${offset}`);
      if (offset % 4 !== 0) throw new ConfigError(`${field}.registers[${i}]`, `must be 4-byte aligned, got ${hex(offset)}`);
    });
  }
  return { ...device, requesterId };
}

/** Raw register values may be bigints; the resolved config holds them as hex text so it stays JSON (snapshots). */
function registersAsText(raw: IommuOptions): IommuOptions {
  const out: Record<string, unknown> = { ...raw };
  for (const k of ['cap', 'ecap', 'efr', 'efr2']) if (typeof out[k] === 'bigint') out[k] = (out[k] as bigint).toString(16);
  return out as unknown as IommuOptions;
}

/**
 * One unit: its own rules (a raw register against the friendly options, a DRHD scope) belong to its model, run
 * here too so that resolveConfig alone (a scenario file being loaded) rejects everything createMachine would.
 */
function resolveIommu(raw: IommuOptions, path: string): IommuOptions {
  const unit = registersAsText(raw);
  if (unit.kind === 'intel') resolveIntelOptions(unit, path);
  else resolveAmdOptions(unit, path);
  return unit;
}

/**
 * `iommus: [...]`: several VT-d units (DRHDs) on one segment. Each is an ordinary Intel unit; across units the
 * DMAR rules hold: at most one INCLUDE_PCI_ALL unit, a device in at most one scope, the I/O APIC under at most one
 * unit (by default the INCLUDE_PCI_ALL one), distinct register bases. Several AMD units are not modelled.
 */
function resolveIntelUnits(raw: NonNullable<MachineConfig['iommus']>): IommuOptions[] {
  // In a multi-unit table the I/O APIC belongs to the INCLUDE_PCI_ALL unit unless a unit says otherwise.
  const units = raw.map((u, i) => resolveIommu(u.ioapicScope === undefined ? { ...u, ioapicScope: u.includePciAll !== false } : u, `iommus[${i}]`));
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
