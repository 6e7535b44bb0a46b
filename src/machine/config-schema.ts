/**
 * The shape of the machine configuration: what each field alone must be, declared once for createMachine
 * (config.ts, which adds the rules relating fields), the system's host and guest (vmm/system-config-schema.ts) and
 * the scenario file's `machine:` block and JSON Schema. Kept apart from config.ts so the package's declarations,
 * which name the resolved configuration, never reach valibot's.
 */
import * as v from 'valibot';
import { fields, flag, got, integer, mustBe, oneOf, pciAddress, type SameType } from '../core/config-schema.ts';
import type { HypervisorOptions, MachineConfig } from '../core/config-types.ts';
import { intelIommuOptionsSchema } from '../iommu-intel/options-schema.ts';
import { AmdIommuOptionsSchema } from '../iommu-amd/options-schema.ts';

export const MAX_CPUS = 32768;
/** IOREGSEL is 8 bits and RTEs start at 0x10, two registers each: 0x10 + 2·119 + 1 = 0xFF. */
export const MAX_IOAPIC_PINS = 120;

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
export const HYPERVISOR_KEYS = Object.keys(HYPERVISOR_FIELDS) as (keyof HypervisorOptions)[];

/** The fields of a machine configuration; the system's guest machine adds `assigned` to them. */
export const MACHINE_FIELDS = {
  cpus: integer(1, MAX_CPUS),
  // 0xFFFFFFFF is the x2APIC broadcast address and is reserved as an APIC ID (SDM 10.12.1.3).
  apicIds: v.optional(v.array(integer(0, 0xfffffffe), 'must be an array of APIC IDs')),
  cpuVendor: v.optional(vendor()),
  cpu: v.optional(fields({ vendor: v.optional(vendor()), x2apic: v.optional(flag()) }, 'must be an object like { vendor: intel, x2apic: false }')),
  // null, as a YAML key with nothing under it reads, means the defaults, as leaving the key out does.
  ioapic: v.nullish(fields({ pins: v.optional(integer(1, MAX_IOAPIC_PINS)), version: v.optional(oneOf([0x11, 0x20], mustBe('0x11 or 0x20'))), id: v.optional(integer(0, 15)) })),
  hypervisor: v.nullish(fields(HYPERVISOR_FIELDS)),
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
