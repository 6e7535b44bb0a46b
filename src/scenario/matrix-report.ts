/**
 * The sweep's short report: the failure modes, most cells first, each with the axes that decide it and the
 * commonest combinations of their values. An axis decides a failure when changing that axis alone, in some failing
 * cell, gives a cell of the sweep that does not fail that way; the other axes do not matter to it in the cells
 * swept. "CPUs>255 offline — 14 cells — extension ∈ {false}, cmdline ∈ {none, intremap=off}" reads: the extension
 * on, or another command line, and the failure goes; the kernel version does not change it.
 */
import type { MatrixRow } from './matrix-rows.ts';

/** The axes a row varies on (the outcome columns and the cell's name are not axes). */
export const ROW_AXES = ['guest', 'vendor', 'iommu', 'extension', 'workarounds', 'cpus', 'version', 'x2apicCpu', 'cmdline', 'assignment'] as const satisfies readonly (keyof MatrixRow)[];
export type RowAxis = (typeof ROW_AXES)[number];

export interface FailureGroup {
  mode: string;
  cells: number;
  /** Each deciding axis with the values the failing cells take (in the order first seen). */
  deciding: { axis: RowAxis; values: string[] }[];
  /** The commonest combinations of the deciding axes' values, most cells first. */
  configurations: { values: string[]; cells: number }[];
}

export interface MatrixReport {
  cells: number;
  ok: number;
  groups: FailureGroup[];
}

/** How a value reads in the report ('' is "none": no version, an empty command line, no assignment). */
const show = (v: MatrixRow[RowAxis]): string => (v === '' ? 'none' : String(v));

export function matrixReport(rows: readonly MatrixRow[], top = 5): MatrixReport {
  // For each axis, the modes of the cells that agree on every other axis.
  const neighbours = new Map<RowAxis, Map<string, Set<string>>>();
  const others = (r: MatrixRow, axis: RowAxis) => ROW_AXES.map((a) => (a === axis ? '*' : show(r[a]))).join('\u0000');
  for (const axis of ROW_AXES) {
    const modes = new Map<string, Set<string>>();
    for (const r of rows) {
      const key = others(r, axis);
      let set = modes.get(key);
      if (!set) modes.set(key, (set = new Set()));
      set.add(r.ok ? 'ok' : r.mode);
    }
    neighbours.set(axis, modes);
  }
  const byMode = new Map<string, MatrixRow[]>();
  for (const r of rows) {
    if (r.ok) continue;
    let list = byMode.get(r.mode);
    if (!list) byMode.set(r.mode, (list = []));
    list.push(r);
  }
  const groups: FailureGroup[] = [];
  for (const [mode, failing] of byMode) {
    const deciding = ROW_AXES.filter((axis) => failing.some((r) => neighbours.get(axis)!.get(others(r, axis))!.size > 1))
      .map((axis) => ({ axis, values: [...new Set(failing.map((r) => show(r[axis])))] }));
    const combos = new Map<string, { values: string[]; cells: number }>();
    for (const r of failing) {
      const values = deciding.map((d) => show(r[d.axis]));
      const key = values.join('\u0000');
      const c = combos.get(key);
      if (c) c.cells++;
      else combos.set(key, { values, cells: 1 });
    }
    const configurations = [...combos.values()].sort((a, b) => b.cells - a.cells).slice(0, top);
    groups.push({ mode, cells: failing.length, deciding, configurations });
  }
  groups.sort((a, b) => b.cells - a.cells || a.mode.localeCompare(b.mode));
  return { cells: rows.length, ok: rows.filter((r) => r.ok).length, groups };
}

export function renderMatrixReport(report: MatrixReport): string {
  const lines = [`${report.ok} of ${report.cells} cells ok; ${report.cells - report.ok} fail in ${report.groups.length} way${report.groups.length === 1 ? '' : 's'}:`];
  report.groups.forEach((g, i) => {
    const decided = g.deciding.map((d) => `${d.axis} ∈ {${d.values.join(', ')}}`).join(', ');
    lines.push(`${String(i + 1).padStart(3)}. ${g.mode} — ${g.cells} cells${decided ? ` — ${decided}` : ' — at every value swept'}`);
    if (g.deciding.length === 0) return;
    for (const c of g.configurations) {
      lines.push(`       ${String(c.cells).padStart(6)} × ${g.deciding.map((d, j) => `${d.axis}=${c.values[j]}`).join(' ')}`);
    }
  });
  return lines.join('\n');
}
