/**
 * The compatibility matrix as a grid: a row per guest × CPU vendor × IOMMU × hypervisor extension × VMM workaround,
 * a column per vCPU count, each cell coloured by its failure mode and labelled in words (so it reads without colour).
 * A cell is a button: it opens the scenario-like run behind it, traced, below the grid; the URL names the cell.
 */
import { cellScenario, DEFAULT_AXES, matrixCells, runMatrixCell, scenarioForCell, type MatrixAxes, type MatrixCell, type MatrixCellSpec } from '../scenario/matrix.ts';
import { runScenario } from '../scenario/run-scenario.ts';
import { append, h, nextFrame } from './dom.ts';
import { renderRun } from './scenario-run.ts';
import { go } from './url-state.ts';
import { parseValue } from './parse-value.ts';

type CellKey = MatrixCellSpec;

export function cellId(c: CellKey): string {
  return `${c.guest}.${c.vendor}.${c.iommu}.${c.extension ? 'ext' : '-'}.${c.workarounds ? 'wa' : '-'}.${c.cpus}`;
}

function parseCellId(id: string): CellKey | null {
  const [guest, vendor, iommu, ext, wa, cpus] = id.split('.');
  if (!(DEFAULT_AXES.guests as string[]).includes(guest) || !(DEFAULT_AXES.vendors as string[]).includes(vendor) || !(DEFAULT_AXES.iommus as string[]).includes(iommu)) return null;
  const n = Number(cpus);
  if (!Number.isInteger(n) || n < 1 || n > 32768) return null;
  return { guest: guest as CellKey['guest'], vendor: vendor as CellKey['vendor'], iommu: iommu as CellKey['iommu'], extension: ext === 'ext', workarounds: wa === 'wa', cpus: n };
}

/** Colour family of a failure mode; the cell's text always names the mode itself. */
export function modeClass(mode: string): string {
  if (mode === 'ok') return 'm-ok';
  if (/offline/.test(mode)) return 'm-offline';
  if (/fault/.test(mode)) return 'm-fault';
  if (/memory write/.test(mode)) return 'm-memory';
  if (/wrong|fallback/.test(mode)) return 'm-wrong';
  return 'm-other';
}

const LEGEND: [string, string][] = [
  ['m-ok', 'ok: every interrupt where the driver asked, every CPU online'],
  ['m-offline', 'CPUs offline (APIC IDs above 255 unreachable)'],
  ['m-fault', 'IOMMU or VMM fault'],
  ['m-memory', 'the message became a memory write'],
  ['m-wrong', 'delivered to the wrong CPU or vector'],
  ['m-other', 'lost, refused, PIRQ or error'],
];

const IOMMU_WORDS: Record<string, string> = { none: 'no IOMMU', 'intel-ir': 'Intel VT-d, interrupt remapping only', 'intel-full': 'Intel VT-d, remapping and DMA translation', amd: 'AMD-Vi' };

/** A cell in words: "Windows on an AMD CPU, Intel VT-d (interrupt remapping only), …, 300 vCPUs". */
export function cellTitle(c: CellKey): string {
  const guest = c.guest === 'windows' ? 'Windows' : 'Linux';
  return `${guest} on an ${c.vendor === 'amd' ? 'AMD' : 'Intel'} CPU, ${IOMMU_WORDS[c.iommu] ?? c.iommu}, ${c.extension ? 'extended destination ID offered' : 'no extended destination ID'}, ${c.workarounds ? 'VMM workarounds on' : 'no VMM workarounds'}, ${c.cpus} vCPUs`;
}

/** The row label: the machine without its vCPU count. */
function rowTitle(c: CellKey): string {
  return `${c.guest === 'windows' ? 'Windows' : 'Linux'} · ${c.vendor === 'amd' ? 'AMD' : 'Intel'} CPU · ${IOMMU_WORDS[c.iommu] ?? c.iommu} · ${c.extension ? 'ext. dest ID' : 'no ext. dest ID'} · ${c.workarounds ? 'workarounds' : 'no workarounds'}`;
}

class AxisError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

function listParam<T extends string>(p: URLSearchParams, name: string, all: T[]): T[] {
  const v = p.get(name);
  if (v === null) return all;
  const chosen = v.split(',').filter(Boolean);
  const bad = chosen.filter((x) => !(all as string[]).includes(x));
  if (bad.length) throw new AxisError(name, `${name}: "${bad.join(', ')}" is not one of ${all.join(', ')}`);
  if (!chosen.length) throw new AxisError(name, `${name}: choose at least one of ${all.join(', ')}`);
  return chosen as T[];
}

function boolParam(p: URLSearchParams, name: string, on: string, off: string): boolean[] {
  const v = p.get(name);
  if (v === null) return [false, true];
  const out = v.split(',').filter(Boolean).map((x) => (x === on ? true : x === off ? false : null));
  if (out.some((x) => x === null) || !out.length) throw new AxisError(name, `${name}: use ${off}, ${on} or both (comma-separated), got "${v}"`);
  return out as boolean[];
}

/** The axes the URL asks for; a value that names nothing is an error naming the field, never a silent default. */
function axesFrom(p: URLSearchParams): MatrixAxes {
  let cpus = DEFAULT_AXES.cpus;
  const cpusText = p.get('cpus');
  if (cpusText !== null) {
    cpus = cpusText.split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
      let n: number;
      try {
        n = Number(parseValue('cpus', 'vCPU counts', t, 16));
      } catch (err) {
        throw new AxisError('cpus', `vCPU counts: "${t}" is not a number (use decimal, or 0x… hex; separate counts with commas)`);
      }
      if (n < 2 || n > 32768) throw new AxisError('cpus', `vCPU counts: ${t} is out of range (a machine needs 2 to 32768 vCPUs)`);
      return n;
    });
    if (!cpus.length) throw new AxisError('cpus', 'vCPU counts: enter at least one count, e.g. 64,255,300');
  }
  return {
    guests: listParam(p, 'guests', DEFAULT_AXES.guests),
    vendors: listParam(p, 'vendors', DEFAULT_AXES.vendors),
    iommus: listParam(p, 'iommus', DEFAULT_AXES.iommus),
    extension: boolParam(p, 'ext', 'ext', 'no-ext'),
    workarounds: boolParam(p, 'wa', 'wa', 'no-wa'),
    cpus,
  };
}

function axesParams(a: MatrixAxes, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const same = <T>(x: T[], y: T[]) => x.length === y.length && x.every((v, k) => v === y[k]);
  return {
    guests: same(a.guests, DEFAULT_AXES.guests) ? undefined : a.guests.join(','),
    vendors: same(a.vendors, DEFAULT_AXES.vendors) ? undefined : a.vendors.join(','),
    iommus: same(a.iommus, DEFAULT_AXES.iommus) ? undefined : a.iommus.join(','),
    ext: same(a.extension, DEFAULT_AXES.extension) ? undefined : a.extension.map((x) => (x ? 'ext' : 'no-ext')).join(','),
    wa: same(a.workarounds, DEFAULT_AXES.workarounds) ? undefined : a.workarounds.map((x) => (x ? 'wa' : 'no-wa')).join(','),
    cpus: same(a.cpus, DEFAULT_AXES.cpus) ? undefined : a.cpus.join(','),
    ...extra,
  };
}

/** Cells of the last grid computed, so opening a cell does not run the whole grid again. */
let cache: { key: string; cells: MatrixCell[] } | null = null;

async function computeGrid(a: MatrixAxes, progress: HTMLElement): Promise<MatrixCell[]> {
  const key = JSON.stringify(a);
  if (cache?.key === key) return cache.cells;
  const cells: MatrixCell[] = [];
  const all = matrixCells(a);
  let last = performance.now();
  for (const c of all) {
    cells.push(runMatrixCell(c));
    // Yield to the browser every ~50 ms so the page stays responsive and the progress line moves.
    if (performance.now() - last > 50) {
      progress.textContent = `Running cell ${cells.length} of ${all.length}…`;
      await nextFrame();
      last = performance.now();
    }
  }
  cache = { key, cells };
  return cells;
}

/**
 * The grid, keyboard-operable as an ARIA grid with a roving tabindex (WAI-ARIA APG "Grid" pattern): one tab stop,
 * arrow keys move between cells, Home/End to the row's ends, Ctrl+Home/End to the corners, Enter or Space opens a cell.
 * Row labels stay in view while the grid scrolls sideways (sticky first column).
 */
function renderGrid(cells: MatrixCell[], a: MatrixAxes, selected: string, failuresOnly: boolean): HTMLElement {
  const rows = new Map<string, MatrixCell[]>();
  for (const c of cells) {
    const k = `${c.guest}|${c.vendor}|${c.iommu}|${c.extension}|${c.workarounds}`;
    if (!rows.has(k)) rows.set(k, []);
    rows.get(k)!.push(c);
  }
  const shownRows = [...rows.values()].filter((list) => !failuresOnly || list.some((c) => !c.ok));
  const table = h(
    'table',
    { class: 'matrix', role: 'grid', 'aria-label': 'compatibility matrix', 'aria-rowcount': shownRows.length + 1 },
    h('caption', {}, `${cells.filter((c) => c.ok).length} of ${cells.length} cells deliver every interrupt where the driver asked, with every CPU online${failuresOnly ? `; showing the ${shownRows.length} rows with a failure` : ''}. [nn] = the built-in scenario that reproduces the cell.`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', class: 'row-key' }, 'machine (guest · CPU · IOMMU · hypervisor · VMM)'), a.cpus.map((n) => h('th', { scope: 'col' }, `${n} vCPUs`)))),
  );
  const body = h('tbody');
  const buttons: HTMLButtonElement[][] = [];
  for (const list of shownRows) {
    const tr = h('tr', {}, h('th', { scope: 'row', class: 'row-key' }, rowTitle(list[0])));
    const line: HTMLButtonElement[] = [];
    for (const n of a.cpus) {
      const c = list.find((x) => x.cpus === n);
      if (!c) {
        tr.append(h('td', { role: 'gridcell' }));
        continue;
      }
      const id = cellId(c);
      const tag = scenarioForCell(c);
      const label = `${c.ok ? 'ok' : c.mode}${tag ? ` [${tag.split(' ')[0]}]` : ''}`;
      const describe = `${cellTitle(c)}: ${label}, ${c.delivered} of ${c.total} interrupts as asked`;
      const button = h('button', { type: 'button', tabindex: -1, 'data-cell': id, 'aria-label': describe, title: describe, 'aria-pressed': id === selected ? 'true' : 'false', onclick: () => go('matrix', axesParams(a, { fail: failuresOnly ? '1' : undefined, cell: id })) }, h('span', { 'aria-hidden': 'true' }, c.ok ? '✓ ' : '✗ '), label);
      line.push(button);
      tr.append(h('td', { role: 'gridcell', class: `cell ${modeClass(c.mode)}${id === selected ? ' selected' : ''}` }, button));
    }
    buttons.push(line);
    body.append(tr);
  }
  if (shownRows.length === 0) body.append(h('tr', {}, h('td', { colspan: a.cpus.length + 1 }, 'No failures: every cell of this grid is ok. Untick "failures only" to see them.')));
  table.append(body);
  // The one tab stop: the selected cell, else the first.
  const flat = buttons.flat();
  (flat.find((b) => b.dataset.cell === selected) ?? flat[0])?.setAttribute('tabindex', '0');
  table.addEventListener('keydown', (ev) => {
    const r = buttons.findIndex((line) => line.includes(ev.target as HTMLButtonElement));
    if (r < 0) return;
    const c = buttons[r].indexOf(ev.target as HTMLButtonElement);
    let [nr, nc] = [r, c];
    switch (ev.key) {
      case 'ArrowRight': nc++; break;
      case 'ArrowLeft': nc--; break;
      case 'ArrowDown': nr++; break;
      case 'ArrowUp': nr--; break;
      case 'Home': nc = 0; if (ev.ctrlKey) nr = 0; break;
      case 'End': nc = Infinity; if (ev.ctrlKey) nr = buttons.length - 1; break;
      case 'PageDown': nr = buttons.length - 1; break;
      case 'PageUp': nr = 0; break;
      default: return;
    }
    ev.preventDefault();
    nr = Math.max(0, Math.min(buttons.length - 1, nr));
    nc = Math.max(0, Math.min(buttons[nr].length - 1, nc));
    const next = buttons[nr][nc];
    if (!next) return;
    for (const b of flat) b.setAttribute('tabindex', b === next ? '0' : '-1');
    next.focus();
  });
  return h('div', { class: 'matrix-scroll' }, table);
}

function renderFilters(a: MatrixAxes, failuresOnly: boolean, error: AxisError | null, p: URLSearchParams): HTMLElement {
  const form = h('form', { class: 'matrix-form', 'aria-label': 'matrix axes' });
  const check = (name: string, legend: string, values: [string, string][], chosen: string[]) =>
    h('fieldset', {}, h('legend', {}, legend), values.map(([v, text]) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name, value: v, checked: chosen.includes(v) }), ` ${text}`)), error?.field === name ? h('p', { class: 'field-error', role: 'alert' }, error.message) : null);
  const cpusInput = h('input', { id: 'cpus', name: 'cpus', value: error?.field === 'cpus' ? (p.get('cpus') ?? '') : a.cpus.join(','), class: 'mono', inputmode: 'numeric', 'aria-invalid': error?.field === 'cpus' ? 'true' : undefined, 'aria-describedby': error?.field === 'cpus' ? 'cpus-err' : undefined });
  form.append(
    check('guests', 'guest', DEFAULT_AXES.guests.map((g) => [g, g === 'windows' ? 'Windows' : 'Linux']), a.guests),
    check('vendors', 'CPU vendor', DEFAULT_AXES.vendors.map((v) => [v, v === 'amd' ? 'AMD' : 'Intel']), a.vendors),
    check('iommus', 'IOMMU', DEFAULT_AXES.iommus.map((i) => [i, IOMMU_WORDS[i] ?? i]), a.iommus),
    check('ext', 'hypervisor', [['no-ext', 'no extension'], ['ext', 'extended destination ID']], a.extension.map((x) => (x ? 'ext' : 'no-ext'))),
    check('wa', 'VMM workarounds', [['no-wa', 'off'], ['wa', 'on']], a.workarounds.map((x) => (x ? 'wa' : 'no-wa'))),
    h('div', { class: 'field' }, h('label', { for: 'cpus' }, 'vCPU counts'), cpusInput, error?.field === 'cpus' ? h('p', { class: 'field-error', id: 'cpus-err', role: 'alert' }, error.message) : null),
    h('label', { class: 'check failures-only' }, h('input', { type: 'checkbox', name: 'fail', value: '1', checked: failuresOnly }), ' failures only'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Run matrix')),
  );
  // "failures only" filters the grid already computed: apply it at once.
  form.querySelector<HTMLInputElement>('input[name="fail"]')!.addEventListener('change', () => form.requestSubmit());
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const q: Record<string, string | undefined> = {};
    for (const k of ['guests', 'vendors', 'iommus', 'ext', 'wa']) q[k] = fd.getAll(k).join(',');
    q.cpus = String(fd.get('cpus') ?? '');
    try {
      const next = axesFrom(new URLSearchParams(q as Record<string, string>));
      go('matrix', axesParams(next, { fail: fd.get('fail') ? '1' : undefined }));
    } catch (err) {
      // Show the problem without running anything: the URL keeps what was typed.
      go('matrix', { ...q, fail: fd.get('fail') ? '1' : undefined });
    }
  });
  return form;
}

export function renderMatrixView(p: URLSearchParams): HTMLElement {
  const selected = p.get('cell') ?? '';
  const failuresOnly = p.get('fail') === '1';
  const legend = h('ul', { class: 'legend', 'aria-label': 'colour legend' }, LEGEND.map(([cls, text]) => h('li', {}, h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), text)));
  const intro = h('p', {}, 'One driver workload — MSI-X and MSI to a low and a high CPU, an edge and a level pin — on every machine of the grid. Arrow keys move between cells; Enter opens one.');
  let a: MatrixAxes;
  try {
    a = axesFrom(p);
  } catch (err) {
    if (!(err instanceof AxisError)) throw err;
    return h('div', { class: 'view view-matrix' }, h('h2', {}, 'Compatibility matrix'), intro, renderFilters(DEFAULT_AXES, failuresOnly, err, p), h('p', { class: 'error', role: 'alert' }, `Nothing ran: ${err.message}`));
  }
  const progress = h('p', { class: 'muted', role: 'status' }, `Running ${matrixCells(a).length} cells…`);
  const gridBox = h('div', { class: 'result', 'aria-live': 'polite' }, progress);
  const detail = h('div', { class: 'cell-detail' });
  const view = h('div', { class: 'view view-matrix' }, h('h2', {}, 'Compatibility matrix'), intro, renderFilters(a, failuresOnly, null, p), legend, gridBox, detail);
  void computeGrid(a, progress).then(async (cells) => {
    gridBox.replaceChildren(renderGrid(cells, a, selected, failuresOnly));
    if (!selected) return;
    const key = parseCellId(selected);
    if (!key) {
      detail.replaceChildren(h('p', { class: 'error', role: 'alert' }, `"${selected}" is not a cell of the matrix: pick one in the grid above.`));
      return;
    }
    detail.replaceChildren(h('p', { class: 'muted', role: 'status' }, 'Running the cell, traced…'));
    await nextFrame();
    const run = runScenario(cellScenario(key), { trace: true });
    const tag = scenarioForCell(key);
    const cell = cells.find((c) => cellId(c) === selected);
    const mode = cell ? cell.mode : run.verdict;
    detail.replaceChildren();
    append(detail, [
      h('h2', { id: 'cell-h' }, cellTitle(key)),
      tag ? h('p', {}, `Built-in scenario ${tag} reproduces this cell: `, h('a', { href: `#/scenario?id=${tag.slice(0, 2)}` }, `run scenario ${tag.slice(0, 2)}`), '.') : null,
      renderRun(run, { text: `${mode === 'ok' ? '✓' : '✗'} ${mode}`, cls: modeClass(mode) }),
    ]);
    document.querySelector<HTMLButtonElement>(`button[data-cell="${CSS.escape(selected)}"]`)?.focus({ preventScroll: true });
    detail.scrollIntoView({ block: 'start' });
  });
  return view;
}
