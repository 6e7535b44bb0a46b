/**
 * The public machine configuration: its shape declared once (MachineConfigSchema, which the scenario and system
 * schemas compose), the rules that relate fields, and the defaults. Every problem names the field path and the
 * reason, and an unknown field is an error too (a typo such as `hypervisor.extDestID` must not silently mean "off").
 * A configuration whose shape is wrong gets all its problems at once; the rules relating fields stop at their first.
 */
import * as v from 'valibot';
import { ConfigError } from '../core/errors.ts';
import { formatBdf, parseBdf } from '../core/bdf.ts';
import { checkShape, fields, flag, got, integer, mustBe, oneOf, pciAddress, type SameType } from '../core/config-schema.ts';
import type { DeviceOptions, HypervisorOptions, IommuOptions, LegacyOptions, MachineConfig } from '../core/config-types.ts';
import { intelIommuOptionsSchema, resolveIntelOptions } from '../iommu-intel/options.ts';
import { AmdIommuOptionsSchema, resolveAmdOptions } from '../iommu-amd/options.ts';

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

// ---- The shape: what each field alone must be -------------------------------------------------------------------

const isPowerOfTwo = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;
const hex = (n: unknown): string => `0x${(n as number).toString(16)}`;
/** An integer, range checked elsewhere (an embedded controller's register must fit its BAR, whose size is a field too). */
const anyInteger = () => v.pipe(v.number(mustBe('an integer')), v.integer(mustBe('an integer')));
const vendor = () => oneOf(['intel', 'amd'], mustBe('"intel" or "amd"'));

const MsiSchema = fields({
  vectors: v.pipe(integer(1, 32), v.check(isPowerOfTwo, (i) => `must be a power of two (1, 2, 4, 8, 16 or 32), got ${got(i)}`)),
  addr64: v.optional(flag()),
  perVectorMask: v.optional(flag()),
});

const MsixSchema = fields({
  entries: integer(1, 2048),
  bar: v.optional(integer(0, 5)),
  tableOffset: v.optional(v.pipe(integer(0, 0x7fffffff), v.check((o) => o % 8 === 0, (i) => `must be 8-byte aligned (the low 3 bits hold the BIR), got ${hex(i.input)}`))),
  pbaOffset: v.optional(v.pipe(integer(0, 0x7fffffff), v.check((o) => o % 8 === 0, (i) => `must be 8-byte aligned, got ${hex(i.input)}`))),
});

const EmbeddedMsiSchema = fields(
  {
    bar: v.optional(integer(0, 5)),
    barSize: v.optional(v.pipe(integer(16, 2 ** 30), v.check(isPowerOfTwo, (i) => `must be a power of two, got ${got(i)}`))),
    registers: v.pipe(v.array(anyInteger(), 'must be a non-empty list of BAR offsets'), v.minLength(1, 'must be a non-empty list of BAR offsets')),
  },
  'must be an object { registers: [...] }',
);

export const DeviceOptionsSchema = fields({
  bdf: pciAddress(mustBe('a PCI address string like "00:03.0"')),
  vendorId: v.optional(integer(0, 0xfffe)),
  deviceId: v.optional(integer(0, 0xffff)),
  classCode: v.optional(integer(0, 0xffffff)),
  msi: v.optional(MsiSchema),
  msix: v.optional(MsixSchema),
  name: v.optional(v.string('must be a string')),
  embeddedMsi: v.optional(EmbeddedMsiSchema),
  intx: v.optional(oneOf(['A', 'B', 'C', 'D'], mustBe('"A", "B", "C" or "D" (the Interrupt Pin)'))),
  behindBridges: v.optional(v.array(integer(0, 31), 'must be a list of bridge device numbers (0..31), outermost first')),
});

export const IommuOptionsSchema = v.variant('kind', [intelIommuOptionsSchema(), AmdIommuOptionsSchema], (i) =>
  i.path === undefined ? 'must be an object with kind "intel" or "amd"' : mustBe('"intel" or "amd"')(i),
);

const HYPERVISOR_FIELDS = {
  extDestId: v.optional(flag()),
  xenPirq: v.optional(flag()),
  x2apicApi: v.optional(flag()),
  windowsHighAddressBits: v.optional(flag()),
  intelIrAcceptsAmdFormat: v.optional(flag()),
};
const HYPERVISOR_KEYS = Object.keys(HYPERVISOR_FIELDS) as (keyof HypervisorOptions)[];

/** The fields of a machine configuration; the system's guest machine adds `assigned` to them. */
export const MACHINE_FIELDS = {
  cpus: integer(1, MAX_CPUS),
  // 0xFFFFFFFF is the x2APIC broadcast address and is reserved as an APIC ID (SDM 10.12.1.3).
  apicIds: v.optional(v.array(integer(0, 0xfffffffe), 'must be an array of APIC IDs')),
  cpuVendor: v.optional(vendor()),
  cpu: v.optional(fields({ vendor: v.optional(vendor()), x2apic: v.optional(flag()) }, 'must be an object like { vendor: intel, x2apic: false }')),
  ioapic: v.optional(fields({ pins: v.optional(integer(1, MAX_IOAPIC_PINS)), version: v.optional(oneOf([0x11, 0x20], mustBe('0x11 or 0x20'))), id: v.optional(integer(0, 15)) })),
  hypervisor: v.optional(fields(HYPERVISOR_FIELDS)),
  devices: v.optional(v.array(DeviceOptionsSchema, 'must be an array')),
  iommu: v.optional(IommuOptionsSchema),
  lowestPriority: v.optional(oneOf(['priority', 'vector-hash', 'first'], mustBe('"priority", "vector-hash" or "first"'))),
  bareMetal: v.optional(flag()),
  dmar: v.optional(
    fields({
      // DMAR "Host Address Width" holds width - 1 in a byte; real tables say 36..52.
      hostAddressWidth: v.optional(integer(32, 64)),
      intrRemap: v.optional(flag()),
      x2apicOptOut: v.optional(flag()),
      // The scope's Enumeration ID is a byte (VT-d 8.3.1); the model's I/O APIC ID register holds 4 bits.
      ioapicScopeId: v.optional(integer(0, 255)),
    }),
  ),
  iommus: v.optional(
    v.pipe(
      v.array(intelIommuOptionsSchema((i) => `several units are modelled for Intel VT-d only (kind "intel"), got ${got(i)}`), 'must be a non-empty list of Intel units'),
      v.minLength(1, 'must be a non-empty list of Intel units'),
    ),
  ),
  legacy: v.optional(
    fields({
      pic: v.optional(oneOf(['8259a', 'qemu'], mustBe('"8259a" (the data sheet) or "qemu" (QEMU\'s i8259.c)'))),
      apicBusCycleNs: v.optional(integer(1, 1000)),
      // Up to 10 GHz; at least 1 kHz so a deadline converts to nanoseconds without overflow.
      tscHz: v.optional(integer(1000, 10_000_000_000)),
      hpetTimers: v.optional(integer(3, 32)),
    }),
  ),
};

/** The shape of `createMachine`'s configuration and of a scenario's `machine:` block. */
export const MachineConfigSchema = fields(MACHINE_FIELDS);
/** The public interface (core/config-types.ts) says what this schema accepts, no more and no less. */
const schemaMatchesInterface: SameType<v.InferInput<typeof MachineConfigSchema>, MachineConfig> = true;
void schemaMatchesInterface;

// ---- The rules that relate fields, and the defaults --------------------------------------------------------------

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
