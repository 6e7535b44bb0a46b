/**
 * A slice of the full sweep (`irqpath matrix --full`, src/scenario/matrix-sweep.ts) as the page's URL names it: for
 * each axis the values kept, an absent parameter keeping them all. A cell is in the slice when every axis value of
 * its row (matrixRow) is kept — the version axis only for cells that have a kernel version (Linux grid cells). No
 * browser globals here, so Node tests and the URL fuzzer read any hash.
 */
import { DEFAULT_AXES, type MatrixAxes, type MatrixCellSpec, type MatrixGuest, type MatrixIommu } from '../scenario/matrix.ts';
import { FULL_AXES, SWEEP_CMDLINES, SWEEP_VERSIONS, sweepCells } from '../scenario/matrix-sweep.ts';

/** A cell's device assignment as the slice names it: 'none', or the VMM profile with '/posted' when posting. */
export const ASSIGNMENT_CHOICES = ['none', 'hardware', 'hardware/posted', 'qemu', 'qemu/posted'] as const;
export type AssignmentChoice = (typeof ASSIGNMENT_CHOICES)[number];

/** Command lines as the URL writes them: the empty one is 'none'. */
export const CMDLINE_CHOICES: string[] = SWEEP_CMDLINES.map((c) => (c === '' ? 'none' : c));

/** The default grid's axes (every one given: a slice names its x2APIC choice too) and the sweep's own. */
export interface SweepSlice extends Required<Pick<MatrixAxes, 'guests' | 'vendors' | 'iommus' | 'extension' | 'workarounds' | 'cpus' | 'x2apicCpu'>> {
  versions: string[];
  /** {@link CMDLINE_CHOICES} values ('iommu-off' turns off whichever IOMMU the cell has). */
  cmdlines: string[];
  assignment: AssignmentChoice[];
}


/** A parameter that names no value of its axis: the field and what is wrong, for the form to show beside it. */
export class SliceError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** Each axis: its URL parameter, its values as the URL writes them, and how a value reads in the form. */
export interface SliceAxis {
  param: string;
  legend: string;
  values: { text: string; label: string }[];
}

const yesNo = (on: string, off: string) => [{ text: 'no', label: off }, { text: 'yes', label: on }];

export const SLICE_AXES: SliceAxis[] = [
  { param: 'guests', legend: 'guest', values: [{ text: 'linux', label: 'Linux' }, { text: 'windows', label: 'Windows' }] },
  { param: 'vendors', legend: 'CPU vendor', values: [{ text: 'intel', label: 'Intel' }, { text: 'amd', label: 'AMD' }] },
  { param: 'iommus', legend: 'IOMMU', values: FULL_AXES.iommus.map((i) => ({ text: i, label: i })) },
  { param: 'ext', legend: 'extended destination ID', values: yesNo('offered', 'not offered') },
  { param: 'wa', legend: 'VMM workarounds', values: yesNo('on', 'off') },
  { param: 'cpus', legend: 'vCPUs', values: DEFAULT_AXES.cpus.map((n) => ({ text: String(n), label: String(n) })) },
  { param: 'versions', legend: 'Linux kernel', values: SWEEP_VERSIONS.map((v) => ({ text: v, label: v })) },
  { param: 'x2apic', legend: 'CPU has x2APIC', values: yesNo('yes', 'no') },
  { param: 'cmdlines', legend: 'Linux command line', values: CMDLINE_CHOICES.map((c) => ({ text: c, label: c === 'iommu-off' ? 'intel_iommu=off / amd_iommu=off' : c })) },
  { param: 'assign', legend: 'device assignment', values: ASSIGNMENT_CHOICES.map((a) => ({ text: a, label: a === 'none' ? 'none' : `${a.replace('/posted', '')} profile${a.endsWith('/posted') ? ', posted' : ''}` })) },
];

function chosen(p: URLSearchParams, axis: SliceAxis): string[] {
  const v = p.get(axis.param);
  const all = axis.values.map((x) => x.text);
  if (v === null) return all;
  const list = [...new Set(v.split(',').map((s) => s.trim()).filter(Boolean))];
  const bad = list.filter((x) => !all.includes(x));
  if (bad.length) throw new SliceError(axis.param, `${axis.legend}: "${bad.join(', ')}" is not one of ${all.join(', ')}`);
  if (!list.length) throw new SliceError(axis.param, `${axis.legend}: choose at least one of ${all.join(', ')}`);
  // In the axis's own order, so that a link does not depend on the order values were ticked.
  return all.filter((x) => list.includes(x));
}

const axis = (param: string) => SLICE_AXES.find((a) => a.param === param)!;

/** The slice a URL's parameters name; a value that names nothing is a SliceError naming the parameter. */
export function sliceFromParams(p: URLSearchParams): SweepSlice {
  const pick = (param: string) => chosen(p, axis(param));
  return {
    guests: pick('guests') as MatrixGuest[],
    vendors: pick('vendors') as SweepSlice['vendors'],
    iommus: pick('iommus') as MatrixIommu[],
    extension: pick('ext').map((x) => x === 'yes'),
    workarounds: pick('wa').map((x) => x === 'yes'),
    cpus: pick('cpus').map(Number),
    versions: pick('versions'),
    x2apicCpu: pick('x2apic').map((x) => x === 'yes'),
    cmdlines: pick('cmdlines'),
    assignment: pick('assign') as AssignmentChoice[],
  };
}

/** The slice's values per parameter, as the URL and the form write them. */
export function sliceValues(s: SweepSlice): Record<string, string[]> {
  const yn = (b: boolean) => (b ? 'yes' : 'no');
  return {
    guests: s.guests,
    vendors: s.vendors,
    iommus: s.iommus,
    ext: s.extension.map(yn),
    wa: s.workarounds.map(yn),
    cpus: s.cpus.map(String),
    versions: s.versions,
    x2apic: s.x2apicCpu.map(yn),
    cmdlines: s.cmdlines,
    assign: s.assignment,
  };
}

/** URL parameters for a slice: only the axes it narrows (a whole axis is left out), values in the axis's order. */
export function sliceParams(s: SweepSlice): Record<string, string | undefined> {
  const values = sliceValues(s);
  const out: Record<string, string | undefined> = {};
  for (const a of SLICE_AXES) {
    const all = a.values.map((x) => x.text);
    const list = all.filter((x) => values[a.param].includes(x));
    out[a.param] = list.length === all.length ? undefined : list.join(',');
  }
  return out;
}

function assignmentOf(c: MatrixCellSpec): AssignmentChoice {
  const a = c.assignment;
  if (!a) return 'none';
  return a.posted ? `${a.profile}/posted` : a.profile;
}

/** The command line a cell's row shows, as the slice names it ('iommu-off' for either IOMMU's off switch). */
function cmdlineOf(c: MatrixCellSpec): string {
  const line = c.cmdline ?? '';
  if (line === '') return 'none';
  return line === 'intel_iommu=off' || line === 'amd_iommu=off' ? 'iommu-off' : line;
}

export function inSlice(c: MatrixCellSpec, s: SweepSlice): boolean {
  return (
    s.guests.includes(c.guest) &&
    s.vendors.includes(c.vendor) &&
    s.iommus.includes(c.iommu) &&
    s.extension.includes(c.extension) &&
    s.workarounds.includes(c.workarounds) &&
    s.cpus.includes(c.cpus) &&
    (c.version === undefined || s.versions.includes(c.version)) &&
    s.x2apicCpu.includes(c.x2apicCpu ?? true) &&
    s.cmdlines.includes(cmdlineOf(c)) &&
    s.assignment.includes(assignmentOf(c))
  );
}

/** Every value of every axis: the whole sweep. */
export const WHOLE_SWEEP: SweepSlice = sliceFromParams(new URLSearchParams());

/** The cells of the full sweep in the slice, in the sweep's order. */
export function sliceCells(s: SweepSlice): MatrixCellSpec[] {
  return sweepCells().filter((c) => inSlice(c, s));
}
