/**
 * The compatibility matrix: one guest model run across a grid of machines — guest OS × CPU vendor × IOMMU ×
 * hypervisor extension × VMM workarounds × vCPU count — with the same driver workload in every cell. A cell is "ok"
 * when every CPU came online and every interrupt reached the CPU and vector the driver asked for; otherwise the
 * cell names the failure mode. Scenarios 1–8 are cells of the default grid.
 */
import type { MachineConfig } from '../core/config-types.ts';
import { showValue, UsageError } from '../core/errors.ts';
import { MAX_CPUS } from '../machine/config.ts';
import { runScenario, type ScenarioResult, type SourceResult } from './run-scenario.ts';
import type { Scenario, ScenarioSource } from './scenario-file.ts';
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
}

export const DEFAULT_AXES: MatrixAxes = {
  guests: ['linux', 'windows'],
  vendors: ['intel', 'amd'],
  iommus: ['none', 'intel-ir', 'intel-full', 'amd'],
  extension: [false, true],
  workarounds: [false, true],
  cpus: [64, 255, 300, 1024],
};

export interface MatrixCell {
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

export function cellScenario(c: MatrixCellSpec): Scenario {
  const sources = workload(c.cpus);
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
  return {
    id: `matrix/${c.guest}-${c.vendor}-${c.iommu}${c.extension ? '-ext' : ''}${c.workarounds ? '-wa' : ''}-${c.cpus}`,
    variant: null,
    title: 'matrix cell',
    story: '',
    sources_of_truth: [],
    machine,
    system: null,
    guest: { os: c.guest },
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

/** Where a cell sits in the grid: its machine and guest, before it has run. */
export type MatrixCellSpec = Pick<MatrixCell, 'guest' | 'vendor' | 'iommu' | 'extension' | 'workarounds' | 'cpus'>;

export function runMatrixCell(c: MatrixCellSpec): MatrixCell {
  const result = runScenario(cellScenario(c));
  const delivered = result.sources.filter((s) => s.ok).length;
  const mode = failureMode(result, c.cpus);
  return { ...c, ok: mode === 'ok', mode, delivered, total: result.sources.length, onlineCpus: result.onlineCpus, result };
}

/** The values each axis may hold; a grid given by library users is checked against them before any cell runs. */
const AXIS_VALUES: { readonly [K in Exclude<keyof MatrixAxes, 'cpus'>]: readonly MatrixAxes[K][number][] } = {
  guests: ['linux', 'windows'],
  vendors: ['intel', 'amd'],
  iommus: ['none', 'intel-ir', 'intel-full', 'amd'],
  extension: [true, false],
  workarounds: [true, false],
};

/** One value of an axis (`where` names it: `axes.guests[0]`, `cells[3].guest`) against what that axis allows. */
function checkAxisValue(where: string, axis: keyof MatrixAxes, value: unknown): void {
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
  for (const name of [...Object.keys(AXIS_VALUES), 'cpus'] as (keyof MatrixAxes)[]) {
    const list: unknown = axes[name];
    if (!Array.isArray(list)) {
      const expected = name === 'cpus' ? 'vCPU counts' : AXIS_VALUES[name].map((v) => JSON.stringify(v)).join(', ');
      throw new UsageError(`matrix axes.${name}: expected a list of ${expected}, got ${showValue(list)}`);
    }
    list.forEach((v: unknown, i) => checkAxisValue(`axes.${name}[${i}]`, name, v));
  }
}

/** The axis each field of a cell takes its value from. */
const CELL_AXIS: Record<keyof MatrixCellSpec, keyof MatrixAxes> = {
  guest: 'guests', vendor: 'vendors', iommu: 'iommus', extension: 'extension', workarounds: 'workarounds', cpus: 'cpus',
};

/** Cells given to runMatrixCells one by one (any subset of matrixCells) are checked the same way. */
function checkCells(specs: readonly MatrixCellSpec[]): void {
  if (!Array.isArray(specs)) throw new UsageError(`matrix cells: expected a list of cells from matrixCells(), got ${showValue(specs)}`);
  specs.forEach((spec: unknown, i) => {
    if (typeof spec !== 'object' || spec === null) throw new UsageError(`matrix cells[${i}]: expected a cell from matrixCells(), got ${showValue(spec)}`);
    for (const [field, axis] of Object.entries(CELL_AXIS) as [keyof MatrixCellSpec, keyof MatrixAxes][]) {
      checkAxisValue(`cells[${i}].${field}`, axis, (spec as Record<string, unknown>)[field]);
    }
  });
}

/** The cells of the grid `axes` spans, in the order {@link runMatrix} runs and reports them. */
export function matrixCells(axes: MatrixAxes = DEFAULT_AXES): MatrixCellSpec[] {
  checkAxes(axes);
  const specs: MatrixCellSpec[] = [];
  for (const guest of axes.guests)
    for (const vendor of axes.vendors)
      for (const iommu of axes.iommus)
        for (const extension of axes.extension)
          for (const workarounds of axes.workarounds)
            for (const cpus of axes.cpus) specs.push({ guest, vendor, iommu, extension, workarounds, cpus });
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
  if (c.cpus !== 300) return null;
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
    const key = `${c.guest.padEnd(7)} ${c.vendor.padEnd(5)} ${c.iommu.padEnd(10)} ${(c.extension ? 'ext-dest' : '-').padEnd(8)} ${(c.workarounds ? 'vmm-wa' : '-').padEnd(6)}`;
    let list = rows.get(key);
    if (!list) rows.set(key, (list = []));
    list.push(c);
  }
  const label = (c: MatrixCell): string => {
    const tag = scenarioForCell(c);
    return (c.ok ? 'ok' : c.mode) + (tag ? ` [${tag.split(' ')[0]}]` : '');
  };
  const width = Math.max(10, ...cells.map((c) => label(c).length));
  const header = `${'guest'.padEnd(7)} ${'cpu'.padEnd(5)} ${'iommu'.padEnd(10)} ${'hv-ext'.padEnd(8)} ${'wa'.padEnd(6)} | ${cpuCounts.map((n) => `${n} vCPUs`.padEnd(width)).join(' | ')}`;
  const lines = [header, '-'.repeat(header.length)];
  for (const [key, list] of rows) {
    const cellsText = cpuCounts.map((n) => {
      const c = list.find((x) => x.cpus === n);
      if (!c) return ''.padEnd(width);
      return paint(c.ok ? 'green' : 'red', label(c).padEnd(width));
    });
    lines.push(`${key} | ${cellsText.join(' | ')}`);
  }
  const ok = cells.filter((c) => c.ok).length;
  lines.push('');
  lines.push(`${ok} of ${cells.length} cells deliver every interrupt where the driver asked, with every CPU online. [nn] marks the cell a built-in scenario reproduces.`);
  lines.push('wa = VMM workarounds on (accept Windows\' high address bits; Intel unit reads AMD-style messages). hv-ext = 15-bit extended destination ID advertised.');
  return lines.join('\n');
}
