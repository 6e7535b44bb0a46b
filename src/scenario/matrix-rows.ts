/**
 * One line per matrix cell, for streaming a sweep and reading it back: a flat row of the cell's axes and outcome,
 * written as a JSON line or a CSV record (RFC 4180: fields holding a comma, quote or line break are quoted, quotes
 * doubled). `cell` is the cell's name (cellName), unique in a sweep; resuming skips the cells whose names a file
 * already holds.
 */
import { UsageError } from '../core/errors.ts';
import { cellName, type MatrixCell } from './matrix.ts';

export interface MatrixRow {
  cell: string;
  guest: string;
  vendor: string;
  iommu: string;
  extension: boolean;
  workarounds: boolean;
  cpus: number;
  /** Linux version, '' for Windows or the default grid. */
  version: string;
  x2apicCpu: boolean;
  cmdline: string;
  /** '' or "<host IOMMU>/<profile>[/posted]". */
  assignment: string;
  ok: boolean;
  mode: string;
  delivered: number;
  total: number;
  onlineCpus: number;
}

export const ROW_COLUMNS = ['cell', 'guest', 'vendor', 'iommu', 'extension', 'workarounds', 'cpus', 'version', 'x2apicCpu', 'cmdline', 'assignment', 'ok', 'mode', 'delivered', 'total', 'onlineCpus'] as const satisfies readonly (keyof MatrixRow)[];

const BOOLEAN_COLUMNS = new Set<string>(['extension', 'workarounds', 'x2apicCpu', 'ok']);
const NUMBER_COLUMNS = new Set<string>(['cpus', 'delivered', 'total', 'onlineCpus']);

export function matrixRow(c: Omit<MatrixCell, 'result'>): MatrixRow {
  const a = c.assignment;
  return {
    cell: cellName(c),
    guest: c.guest,
    vendor: c.vendor,
    iommu: c.iommu,
    extension: c.extension,
    workarounds: c.workarounds,
    cpus: c.cpus,
    version: c.version ?? '',
    x2apicCpu: c.x2apicCpu ?? true,
    cmdline: c.cmdline ?? '',
    assignment: a ? `${a.hostIommu}/${a.profile}${a.posted ? '/posted' : ''}` : '',
    ok: c.ok,
    mode: c.mode,
    delivered: c.delivered,
    total: c.total,
    onlineCpus: c.onlineCpus,
  };
}

function csvField(value: string | number | boolean): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const CSV_HEADER = ROW_COLUMNS.join(',');

export function csvLine(row: MatrixRow): string {
  return ROW_COLUMNS.map((k) => csvField(row[k])).join(',');
}

export function jsonLine(row: MatrixRow): string {
  return JSON.stringify(row);
}

/** Split one CSV record into fields; null when a quoted field is not closed (a line cut short). */
function splitCsv(line: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let text = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return null;
        text += line.slice(i, q);
        if (line[q + 1] === '"') { text += '"'; i = q + 2; continue; }
        i = q + 1;
        break;
      }
      fields.push(text);
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? line.length : comma;
      fields.push(line.slice(i, end));
      i = end;
    }
    if (i >= line.length) return fields;
    if (line[i] !== ',') return null;
    i++;
  }
}

function rowFromFields(fields: Record<string, string>, where: string): MatrixRow {
  const row: Record<string, string | number | boolean> = {};
  for (const k of ROW_COLUMNS) {
    const v = fields[k];
    if (v === undefined) throw new UsageError(`${where}: no "${k}" column`);
    if (BOOLEAN_COLUMNS.has(k)) {
      if (v !== 'true' && v !== 'false') throw new UsageError(`${where}: "${k}" must be true or false, got ${JSON.stringify(v)}`);
      row[k] = v === 'true';
    } else if (NUMBER_COLUMNS.has(k)) {
      if (!/^\d+$/.test(v)) throw new UsageError(`${where}: "${k}" must be a whole number, got ${JSON.stringify(v)}`);
      row[k] = Number(v);
    } else row[k] = v;
  }
  return row as unknown as MatrixRow;
}

/**
 * Read the rows of a sweep's output back, JSON lines or CSV (told apart by the first line). A last line without
 * its line break is what an interrupted sweep leaves: it is dropped, so that cell runs again. Any other line that is
 * not a row is a UsageError naming the line.
 */
export function parseMatrixRows(text: string, name = 'matrix output'): MatrixRow[] {
  const lines = text.split('\n');
  // The text after the last line break is a line cut short (or nothing).
  lines.pop();
  const rows: MatrixRow[] = [];
  if (lines.length === 0) return rows;
  const csv = !lines[0].trimStart().startsWith('{');
  let header: string[] = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    const where = `${name} line ${i + 1}`;
    if (line.trim() === '') return;
    if (!csv) {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new UsageError(`${where}: not a JSON line`);
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`${where}: expected a cell object`);
      const o = value as Record<string, unknown>;
      rows.push(rowFromFields(Object.fromEntries(ROW_COLUMNS.filter((k) => k in o).map((k) => [k, String(o[k])])), where));
      return;
    }
    const fields = splitCsv(line);
    if (fields === null) throw new UsageError(`${where}: a quoted field is not closed`);
    if (i === 0) {
      header = fields;
      if (!header.includes('cell')) throw new UsageError(`${where}: expected the CSV header (${CSV_HEADER})`);
      return;
    }
    if (fields.length !== header.length) throw new UsageError(`${where}: ${fields.length} fields, the header has ${header.length}`);
    rows.push(rowFromFields(Object.fromEntries(header.map((h, j) => [h, fields[j]])), where));
  });
  return rows;
}
