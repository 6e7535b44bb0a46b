/**
 * The compatibility matrix: one guest model run across a grid of machines — guest OS × CPU vendor × IOMMU ×
 * hypervisor extension × VMM workarounds × vCPU count — with the same driver workload in every cell. A cell is "ok"
 * when every CPU came online and every interrupt reached the CPU and vector the driver asked for; otherwise the
 * cell names the failure mode. Scenarios 1–8 are cells of the default grid.
 */
import type { MachineConfig } from '../core/config-types.ts';
import { ConfigError, showValue, UsageError } from '../core/errors.ts';
import { MAX_CPUS } from '../machine/config-schema.ts';
import { resolveConfig } from '../machine/config.ts';
import { runScenario, type ScenarioResult, type SourceResult } from './run-scenario.ts';
import type { GuestSpec, Scenario, ScenarioSource } from './scenario-file.ts';
import { resolveSystemConfig, type SystemConfig } from '../vmm/system-config.ts';
import { plain, type Painter } from './report.ts';

export type MatrixIommu = 'none' | 'intel-ir' | 'intel-full' | 'amd';
export type MatrixGuest = 'linux' | 'windows';

export interface MatrixAxes {
  guests: MatrixGuest[];
  vendors: ('intel' | 'amd')[];
  iommus: MatrixIommu[];
  /** The 15-bit extended destination ID advertised by the hypervisor. */
  extension: boolean[];
  /** VMM-side workarounds for Windows: accept the high-address-bits layout; the Intel unit reads AMD-style messages. */
  workarounds: boolean[];
  cpus: number[];
  /**
   * CPUID.1:ECX[21] of the vCPUs (default [true]). A CPU without x2APIC is crossed only with vCPU counts up to
   * {@link MAX_CPUS_WITHOUT_X2APIC}: QEMU refuses more ("APIC ID 255 requires x2APIC feature in CPU",
   * hw/intc/apic_common.c apic_common_set_id).
   */
  x2apicCpu?: boolean[];
}

/** The most vCPUs a machine without x2APIC can have: APIC IDs 0..254 (255 is the xAPIC broadcast ID). */
export const MAX_CPUS_WITHOUT_X2APIC = 255;

export const DEFAULT_AXES: MatrixAxes = {
  guests: ['linux', 'windows'],
  vendors: ['intel', 'amd'],
  iommus: ['none', 'intel-ir', 'intel-full', 'amd'],
  extension: [false, true],
  workarounds: [false, true],
  cpus: [64, 255, 300, 1024],
  x2apicCpu: [true, false],
};

export interface MatrixCell extends MatrixCellExtras {
  guest: MatrixGuest;
  vendor: 'intel' | 'amd';
  iommu: MatrixIommu;
  extension: boolean;
  workarounds: boolean;
  cpus: number;
  ok: boolean;
  /** Short failure mode ("ok", "CPUs>255 offline", "fault 0x25", "memory write", "wrong CPU", ...). */
  mode: string;
  /** Interrupts that arrived as intended, of those the driver set up. */
  delivered: number;
  total: number;
  onlineCpus: number;
  result: ScenarioResult;
}

const IOMMU_CONFIG: Record<MatrixIommu, MachineConfig['iommu']> = {
  none: undefined,
  'intel-ir': { kind: 'intel', dmaTranslation: false },
  'intel-full': { kind: 'intel', dmaTranslation: true },
  amd: { kind: 'amd' },
};

/** The driver workload of every cell: one low and several high targets, MSI-X, MSI, an edge pin and a level pin. */
function workload(cpus: number): ScenarioSource[] {
  const high = cpus - 1;
  return [
    { id: 'msix-low', kind: 'msix', device: '00:03.0', vector: 0, cpu: 1, steps: ['signal'] },
    { id: 'msix-high', kind: 'msix', device: '00:03.0', vector: 1, cpu: high, steps: ['signal'] },
    { id: 'msi-high', kind: 'msi', device: '00:04.0', vector: 0, cpu: high, steps: ['signal'] },
    { id: 'pin-high', kind: 'ioapic', pin: 4, trigger: 'edge', cpu: high, steps: ['pulse'] },
    { id: 'pin-level', kind: 'ioapic', pin: 9, trigger: 'level', polarity: 'low', cpu: 1, steps: ['raise', 'ack', 'lower', 'eoi'] },
  ];
}

/** The VMM profiles a device-assignment cell can run under (src/vmm/profiles.ts). */
export const ASSIGNMENT_PROFILES = ['hardware', 'qemu'] as const;

/**
 * A device-assignment cell: a two-machine system (createSystem) whose 4-CPU host owns a NIC with MSI-X behind its
 * IOMMU (`hostIommu`, able to post), assigned to the guest at 00:05.0 under the VMM `profile`, with or without
 * posted interrupts. The guest machine is the cell's machine otherwise (vendor, vCPUs, extension, x2APIC).
 */
export interface MatrixAssignment {
  hostIommu: 'intel' | 'amd';
  profile: (typeof ASSIGNMENT_PROFILES)[number];
  posted: boolean;
}

/** The workload of an assignment cell: the assigned NIC's two vectors, one to a low and one to the highest vCPU. */
function assignedWorkload(cpus: number): ScenarioSource[] {
  return [
    { id: 'assigned-low', kind: 'msix', device: '00:05.0', vector: 0, cpu: 1, steps: ['signal'] },
    { id: 'assigned-high', kind: 'msix', device: '00:05.0', vector: 1, cpu: cpus - 1, steps: ['signal'] },
  ];
}

function assignmentSystem(c: MatrixCellSpec, a: MatrixAssignment, guestMachine: MachineConfig): SystemConfig {
  return {
    host: {
      cpus: 4,
      iommu: a.hostIommu === 'intel' ? { kind: 'intel', postedInterrupts: true } : { kind: 'amd', vapic: true },
      devices: [{ bdf: '02:00.0', name: 'nic', msix: { entries: 2 } }],
    },
    guest: { ...guestMachine, devices: [], assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
    vmm: { profile: a.profile, postedInterrupts: a.posted },
  };
}

function tryResolveGuest(system: SystemConfig): MachineConfig | null {
  try {
    return resolveSystemConfig(system).guest;
  } catch (e) {
    if (e instanceof ConfigError) return null;
    throw e;
  }
}

/** The identifying name of a cell (its scenario id without `matrix/`): every axis value that is not the default. */
export function cellName(c: MatrixCellSpec): string {
  let name = `${c.guest}-${c.vendor}-${c.iommu}${c.extension ? '-ext' : ''}${c.workarounds ? '-wa' : ''}-${c.cpus}`;
  if (c.version !== undefined) name += `-linux${c.version}`;
  if (c.x2apicCpu === false) name += '-nox2apic-cpu';
  if (c.cmdline) name += `-[${c.cmdline}]`;
  if (c.assignment) name += `-assigned-${c.assignment.hostIommu}-${c.assignment.profile}${c.assignment.posted ? '-posted' : ''}`;
  return name;
}

export function cellScenario(c: MatrixCellSpec): Scenario {
  const sources = c.assignment ? assignedWorkload(c.cpus) : workload(c.cpus);
  const hypervisor: NonNullable<MachineConfig['hypervisor']> = { extDestId: c.extension };
  if (c.workarounds) {
    hypervisor.windowsHighAddressBits = true;
    if (c.iommu === 'intel-ir' || c.iommu === 'intel-full') hypervisor.intelIrAcceptsAmdFormat = true;
  }
  const machine: MachineConfig = {
    cpus: c.cpus,
    cpuVendor: c.vendor,
    hypervisor,
    devices: [
      { bdf: '00:03.0', name: 'nvme', msix: { entries: 4 } },
      { bdf: '00:04.0', name: 'nic', msi: { vectors: 1 } },
    ],
  };
  const iommu = IOMMU_CONFIG[c.iommu];
  if (iommu) machine.iommu = iommu;
  if (c.x2apicCpu === false) machine.cpu = { x2apic: false };
  const guest: GuestSpec = { os: c.guest };
  if (c.version !== undefined) guest.version = c.version;
  if (c.cmdline) guest.cmdline = c.cmdline;
  let system: SystemConfig | null = null;
  let guestMachine = machine;
  if (c.assignment) {
    system = assignmentSystem(c, c.assignment, machine);
    // A system that cannot exist is refused when the cell runs (runScenario records the error), not here.
    guestMachine = tryResolveGuest(system) ?? machine;
  }
  return {
    id: `matrix/${cellName(c)}`,
    variant: null,
    title: 'matrix cell',
    story: '',
    sources_of_truth: [],
    machine: guestMachine,
    system,
    guest,
    sources,
    dma: [],
    expect: {
      vmm: {},
      dma: {},
      verdict: 'fixed',
      onlineCpus: c.cpus,
      bootLog: [],
      faultLog: [],
      sources: Object.fromEntries(sources.map((s) => [s.id, { kind: 'intended', times: 1 } as const])),
    },
  };
}

/** The most telling failure of a cell, in a few words. */
function failureMode(r: ScenarioResult, cpus: number): string {
  if (r.error) return `error: ${r.error.split(':')[0]}`;
  const bad = r.sources.filter((s) => !s.ok);
  const offline = r.onlineCpus < cpus;
  if (bad.length === 0) return offline ? `${cpus - r.onlineCpus} CPUs offline` : 'ok';
  const reasons = new Set(bad.map((s) => sourceFailure(s)));
  // Falling back from an offline CPU is the consequence of the CPUs being offline, not a second failure.
  if (offline) reasons.delete('CPU offline → fallback');
  const text = [...reasons].join(', ');
  if (!offline) return text;
  return text ? `CPUs>${r.onlineCpus - 1} offline; ${text}` : `CPUs>${r.onlineCpus - 1} offline`;
}

function sourceFailure(s: SourceResult): string {
  const o = s.observed;
  const p = s.programmed;
  if (p.status === 'refused') return 'refused';
  const fault = o.faults.find((f) => f.recorded) ?? o.faults[0];
  if (o.deliveries.length === 0) {
    if (fault) return `${fault.unit === 'intel-vtd' ? 'DMAR' : fault.unit === 'amd-vi' ? 'AMD-Vi' : 'VMM'} fault 0x${fault.code.toString(16)}`;
    if (o.memoryWrites.length) return 'memory write';
    if (o.pirqs.length) return 'PIRQ';
    return 'lost';
  }
  if (p.cpu !== s.source.cpu) return 'CPU offline → fallback';
  if (o.deliveries.some((d) => d.cpu !== p.cpu)) return 'wrong CPU';
  if (o.deliveries.some((d) => d.vector !== p.vector)) return 'wrong vector';
  if (o.deliveries.length !== 1) return `${o.deliveries.length}× delivered`;
  return 'failed';
}

/**
 * Where a cell sits in the grid: its machine and guest, before it has run. The optional fields are the axes of the
 * full sweep (matrix-sweep.ts); absent, a cell is what the default grid runs (the guest's default kernel, an
 * x2APIC-capable CPU, an empty command line, no assigned device).
 */
export type MatrixCellSpec = Pick<MatrixCell, 'guest' | 'vendor' | 'iommu' | 'extension' | 'workarounds' | 'cpus'> & MatrixCellExtras;

export interface MatrixCellExtras {
  /** Linux kernel version ('5.10'); Linux cells only. */
  version?: string;
  /** CPUID.1:ECX[21] of the vCPUs (machine `cpu.x2apic`); default true. */
  x2apicCpu?: boolean;
  /** Linux kernel command line ('intremap=off'); Linux cells only. */
  cmdline?: string;
  /** A device-assignment cell (two machines through createSystem). */
  assignment?: MatrixAssignment;
}

/**
 * Why the machine of a cell cannot be built, in the report's words, or null when it can. The one such cell of the
 * sweep: more than 255 CPUs on a CPU without x2APIC. An xAPIC ID is 8 bits and 0xFF is the broadcast address
 * (SDM Vol. 3A 10.6.2.1), so APIC ID 255 and above exist only for x2APIC; QEMU refuses such a VM before it starts
 * ("APIC ID 255 requires x2APIC feature in CPU", apic_common_set_id in hw/intc/apic_common.c), and irqpath's machine
 * refuses it the same way. No guest runs, so no guest decides anything: the cell names the constraint.
 */
function noMachine(scenario: Scenario): string | null {
  try {
    if (scenario.system) resolveSystemConfig(scenario.system);
    else resolveConfig(scenario.machine);
    return null;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (/apicIds\[\d+\]$/.test(e.field) && e.reason.includes('needs x2APIC')) return 'no machine: >255 CPUs need x2APIC';
    return `no machine: ${e.field}`;
  }
}

export function runMatrixCell(c: MatrixCellSpec): MatrixCell {
  const scenario = cellScenario(c);
  const result = runScenario(scenario);
  const delivered = result.sources.filter((s) => s.ok).length;
  const mode = (result.error?.startsWith('ConfigError') ? noMachine(scenario) : null) ?? failureMode(result, c.cpus);
  return { ...c, ok: mode === 'ok', mode, delivered, total: result.sources.length, onlineCpus: result.onlineCpus, result };
}

/** The axes every grid has (x2apicCpu is optional and checked on its own). */
type GridAxis = Exclude<keyof MatrixAxes, 'x2apicCpu'>;

/** The values each axis may hold; a grid given by library users is checked against them before any cell runs. */
const AXIS_VALUES: { readonly [K in Exclude<keyof MatrixAxes, 'cpus' | 'x2apicCpu'>]: readonly MatrixAxes[K][number][] } = {
  guests: ['linux', 'windows'],
  vendors: ['intel', 'amd'],
  iommus: ['none', 'intel-ir', 'intel-full', 'amd'],
  extension: [true, false],
  workarounds: [true, false],
};

/** One value of an axis (`where` names it: `axes.guests[0]`, `cells[3].guest`) against what that axis allows. */
function checkAxisValue(where: string, axis: GridAxis, value: unknown): void {
  if (axis === 'cpus') {
    if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_CPUS) {
      throw new UsageError(`matrix ${where}: must be an integer from 1 to ${MAX_CPUS}, got ${showValue(value)}`);
    }
    return;
  }
  const allowed: readonly unknown[] = AXIS_VALUES[axis];
  if (!allowed.includes(value)) throw new UsageError(`matrix ${where}: ${showValue(value)} is not one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`);
}

/** A grid that is not a MatrixAxes is a UsageError naming the axis (and the element), never a TypeError mid-run. */
function checkAxes(axes: MatrixAxes): void {
  if (typeof axes !== 'object' || axes === null) throw new UsageError(`matrix axes: expected an object like DEFAULT_AXES, got ${showValue(axes)}`);
  const x2apic: unknown = axes.x2apicCpu;
  if (x2apic !== undefined && (!Array.isArray(x2apic) || x2apic.some((v) => typeof v !== 'boolean'))) throw new UsageError(`matrix axes.x2apicCpu: expected a list of true, false, got ${showValue(x2apic)}`);
  for (const name of [...Object.keys(AXIS_VALUES), 'cpus'] as GridAxis[]) {
    const list: unknown = axes[name];
    if (!Array.isArray(list)) {
      const expected = name === 'cpus' ? 'vCPU counts' : AXIS_VALUES[name].map((v) => JSON.stringify(v)).join(', ');
      throw new UsageError(`matrix axes.${name}: expected a list of ${expected}, got ${showValue(list)}`);
    }
    list.forEach((v: unknown, i) => checkAxisValue(`axes.${name}[${i}]`, name, v));
  }
}

/** The axis each field of a cell takes its value from. */
const CELL_AXIS: Record<Exclude<keyof MatrixCellSpec, keyof MatrixCellExtras>, GridAxis> = {
  guest: 'guests', vendor: 'vendors', iommu: 'iommus', extension: 'extension', workarounds: 'workarounds', cpus: 'cpus',
};

/** Cells given to runMatrixCells one by one (any subset of matrixCells) are checked the same way. */
export function checkCells(specs: readonly MatrixCellSpec[]): void {
  if (!Array.isArray(specs)) throw new UsageError(`matrix cells: expected a list of cells from matrixCells(), got ${showValue(specs)}`);
  specs.forEach((spec: unknown, i) => {
    if (typeof spec !== 'object' || spec === null) throw new UsageError(`matrix cells[${i}]: expected a cell from matrixCells(), got ${showValue(spec)}`);
    for (const [field, axis] of Object.entries(CELL_AXIS) as [string, GridAxis][]) {
      checkAxisValue(`cells[${i}].${field}`, axis, (spec as Record<string, unknown>)[field]);
    }
    checkExtras(`cells[${i}]`, spec as MatrixCellSpec);
  });
}

/** The full sweep's fields of a cell; the guest's version and command line are checked when the cell's guest boots. */
function checkExtras(where: string, c: MatrixCellSpec): void {
  if (c.version !== undefined && (c.guest !== 'linux' || typeof c.version !== 'string')) throw new UsageError(`matrix ${where}.version: a kernel version string for a Linux cell, got ${showValue(c.version)}`);
  if (c.cmdline !== undefined && (c.guest !== 'linux' || typeof c.cmdline !== 'string')) throw new UsageError(`matrix ${where}.cmdline: a kernel command line for a Linux cell, got ${showValue(c.cmdline)}`);
  if (c.x2apicCpu !== undefined && typeof c.x2apicCpu !== 'boolean') throw new UsageError(`matrix ${where}.x2apicCpu: must be true or false, got ${showValue(c.x2apicCpu)}`);
  const a: unknown = c.assignment;
  if (a === undefined) return;
  const ok = typeof a === 'object' && a !== null
    && ['intel', 'amd'].includes((a as MatrixAssignment).hostIommu)
    && (ASSIGNMENT_PROFILES as readonly string[]).includes((a as MatrixAssignment).profile)
    && typeof (a as MatrixAssignment).posted === 'boolean';
  if (!ok) throw new UsageError(`matrix ${where}.assignment: expected { hostIommu: intel|amd, profile: ${ASSIGNMENT_PROFILES.join('|')}, posted: true|false }, got ${showValue(a)}`);
}

/** The cells of the grid `axes` spans, in the order {@link runMatrix} runs and reports them. */
export function matrixCells(axes: MatrixAxes = DEFAULT_AXES): MatrixCellSpec[] {
  checkAxes(axes);
  const specs: MatrixCellSpec[] = [];
  for (const x2apicCpu of axes.x2apicCpu ?? [true])
    for (const guest of axes.guests)
      for (const vendor of axes.vendors)
        for (const iommu of axes.iommus)
          for (const extension of axes.extension)
            for (const workarounds of axes.workarounds)
              for (const cpus of axes.cpus) {
                if (x2apicCpu) specs.push({ guest, vendor, iommu, extension, workarounds, cpus });
                else if (cpus <= MAX_CPUS_WITHOUT_X2APIC) specs.push({ guest, vendor, iommu, extension, workarounds, cpus, x2apicCpu });
              }
  return specs;
}

/**
 * Run some cells of a grid (any subset of {@link matrixCells}, in any order), one after another; the results come
 * back in the order given. Cells are independent (each boots its own machine), so callers may split a grid across
 * threads or processes and run each part with this — the CLI does so with worker threads.
 */
export function runMatrixCells(specs: readonly MatrixCellSpec[], onCell?: (cell: MatrixCell) => void): MatrixCell[] {
  checkCells(specs);
  const cells: MatrixCell[] = [];
  for (const spec of specs) {
    const cell = runMatrixCell(spec);
    cells.push(cell);
    onCell?.(cell);
  }
  return cells;
}

export function runMatrix(axes: MatrixAxes = DEFAULT_AXES, onCell?: (cell: MatrixCell) => void): MatrixCell[] {
  return runMatrixCells(matrixCells(axes), onCell);
}

/** Which built-in scenario each well-known cell corresponds to. */
export function scenarioForCell(c: MatrixCellSpec): string | null {
  if (c.cpus !== 300 || c.x2apicCpu === false) return null;
  const key = `${c.guest}/${c.vendor}/${c.iommu}/${c.extension ? 'ext' : '-'}/${c.workarounds ? 'wa' : '-'}`;
  const known: Record<string, string> = {
    'linux/intel/none/-/-': '01',
    'linux/intel/none/ext/-': '02',
    'linux/intel/intel-ir/-/-': '03',
    'windows/intel/intel-ir/-/-': '04',
    'windows/amd/intel-ir/-/-': '05',
    'windows/amd/intel-ir/-/wa': '06',
    'windows/intel/none/-/-': '07',
    'windows/intel/none/-/wa': '07 [high-bits-workaround]',
    'windows/amd/amd/-/-': '08',
  };
  return known[key] ?? null;
}

export function renderMatrix(cells: MatrixCell[], paint: Painter = plain): string {
  if (!Array.isArray(cells)) throw new UsageError(`renderMatrix: expected the cells runMatrix returned, got ${showValue(cells)}`);
  const cpuCounts = [...new Set(cells.map((c) => c.cpus))].sort((a, b) => a - b);
  const rows = new Map<string, MatrixCell[]>();
  for (const c of cells) {
    const key = `${c.guest.padEnd(7)} ${c.vendor.padEnd(5)} ${(c.x2apicCpu === false ? 'no' : 'yes').padEnd(6)} ${c.iommu.padEnd(10)} ${(c.extension ? 'ext-dest' : '-').padEnd(8)} ${(c.workarounds ? 'vmm-wa' : '-').padEnd(6)}`;
    let list = rows.get(key);
    if (!list) rows.set(key, (list = []));
    list.push(c);
  }
  const label = (c: MatrixCell): string => {
    const tag = scenarioForCell(c);
    return (c.ok ? 'ok' : c.mode) + (tag ? ` [${tag.split(' ')[0]}]` : '');
  };
  const width = Math.max(10, ...cells.map((c) => label(c).length));
  const header = `${'guest'.padEnd(7)} ${'cpu'.padEnd(5)} ${'x2apic'.padEnd(6)} ${'iommu'.padEnd(10)} ${'hv-ext'.padEnd(8)} ${'wa'.padEnd(6)} | ${cpuCounts.map((n) => `${n} vCPUs`.padEnd(width)).join(' | ')}`;
  const lines = [header, '-'.repeat(header.length)];
  for (const [key, list] of rows) {
    const cellsText = cpuCounts.map((n) => {
      const c = list.find((x) => x.cpus === n);
      if (!c) return (list[0].x2apicCpu === false && n > MAX_CPUS_WITHOUT_X2APIC ? 'n/a' : '').padEnd(width);
      return paint(c.ok ? 'green' : 'red', label(c).padEnd(width));
    });
    lines.push(`${key} | ${cellsText.join(' | ')}`);
  }
  const ok = cells.filter((c) => c.ok).length;
  lines.push('');
  lines.push(`${ok} of ${cells.length} cells deliver every interrupt where the driver asked, with every CPU online. [nn] marks the cell a built-in scenario reproduces.`);
  lines.push('wa = VMM workarounds on (accept Windows\' high address bits; Intel unit reads AMD-style messages). hv-ext = 15-bit extended destination ID advertised.');
  if (cells.some((c) => c.x2apicCpu === false)) lines.push(`x2apic = the vCPUs have x2APIC (CPUID.1:ECX[21]). Without it QEMU refuses more than ${MAX_CPUS_WITHOUT_X2APIC} vCPUs (n/a).`);
  return lines.join('\n');
}
