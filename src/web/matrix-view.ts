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

function listParam<T extends string | number>(p: URLSearchParams, name: string, all: T[], parse: (s: string) => T): T[] {
  const v = p.get(name);
  if (!v) return all;
  const chosen = v.split(',').map(parse).filter((x) => all.includes(x));
  return chosen.length ? chosen : all;
}

function axesFrom(p: URLSearchParams): MatrixAxes {
  const cpus = p.get('cpus')
    ? p.get('cpus')!.split(',').map(Number).filter((n) => Number.isInteger(n) && n >= 1 && n <= 32768)
    : DEFAULT_AXES.cpus;
  return {
    guests: listParam(p, 'guests', DEFAULT_AXES.guests, (s) => s as MatrixAxes['guests'][number]),
    vendors: listParam(p, 'vendors', DEFAULT_AXES.vendors, (s) => s as MatrixAxes['vendors'][number]),
    iommus: listParam(p, 'iommus', DEFAULT_AXES.iommus, (s) => s as MatrixAxes['iommus'][number]),
    extension: DEFAULT_AXES.extension,
    workarounds: DEFAULT_AXES.workarounds,
    cpus: cpus.length ? cpus : DEFAULT_AXES.cpus,
  };
}

function axesParams(a: MatrixAxes): Record<string, string | undefined> {
  const same = <T>(x: T[], y: T[]) => x.length === y.length && x.every((v, k) => v === y[k]);
  return {
    guests: same(a.guests, DEFAULT_AXES.guests) ? undefined : a.guests.join(','),
    vendors: same(a.vendors, DEFAULT_AXES.vendors) ? undefined : a.vendors.join(','),
    iommus: same(a.iommus, DEFAULT_AXES.iommus) ? undefined : a.iommus.join(','),
    cpus: same(a.cpus, DEFAULT_AXES.cpus) ? undefined : a.cpus.join(','),
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

function renderGrid(cells: MatrixCell[], a: MatrixAxes, selected: string): HTMLElement {
  const rows = new Map<string, MatrixCell[]>();
  for (const c of cells) {
    const k = `${c.guest}|${c.vendor}|${c.iommu}|${c.extension}|${c.workarounds}`;
    if (!rows.has(k)) rows.set(k, []);
    rows.get(k)!.push(c);
  }
  const table = h(
    'table',
    { class: 'matrix' },
    h('caption', {}, `${cells.filter((c) => c.ok).length} of ${cells.length} cells deliver every interrupt where the driver asked, with every CPU online. [nn] = the built-in scenario that reproduces the cell.`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'guest · CPU · IOMMU · hypervisor · VMM workarounds'), a.cpus.map((n) => h('th', { scope: 'col' }, `${n} vCPUs`)))),
  );
  const body = h('tbody');
  for (const list of rows.values()) {
    const c0 = list[0];
    // One row header (not five columns) keeps the grid narrow enough for a phone.
    const tr = h('tr', {}, h('th', { scope: 'row', class: 'row-key' }, [c0.guest, c0.vendor, c0.iommu, c0.extension ? 'ext-dest' : 'no ext', c0.workarounds ? 'workarounds' : 'no wa'].join(' · ')));
    for (const n of a.cpus) {
      const c = list.find((x) => x.cpus === n);
      if (!c) {
        tr.append(h('td'));
        continue;
      }
      const id = cellId(c);
      const tag = scenarioForCell(c);
      const label = `${c.ok ? 'ok' : c.mode}${tag ? ` [${tag.split(' ')[0]}]` : ''}`;
      const describe = `${c.guest} on ${c.vendor}, IOMMU ${c.iommu}, ${c.extension ? 'extended destination ID' : 'no extension'}, workarounds ${c.workarounds ? 'on' : 'off'}, ${c.cpus} vCPUs: ${label}, ${c.delivered} of ${c.total} interrupts as asked`;
      tr.append(
        h(
          'td',
          { class: `cell ${modeClass(c.mode)}${id === selected ? ' selected' : ''}` },
          h('button', { type: 'button', 'data-cell': id, 'aria-label': describe, 'aria-pressed': id === selected ? 'true' : 'false', onclick: () => go('matrix', { ...axesParams(a), cell: id }) }, h('span', { 'aria-hidden': 'true' }, c.ok ? '✓ ' : '✗ '), label),
        ),
      );
    }
    body.append(tr);
  }
  table.append(body);
  return h('div', { class: 'matrix-scroll' }, table);
}

function renderFilters(a: MatrixAxes): HTMLElement {
  const form = h('form', { class: 'matrix-form', 'aria-label': 'matrix axes' });
  const check = (name: string, values: string[], chosen: string[]) =>
    h('fieldset', {}, h('legend', {}, name), values.map((v) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name, value: v, checked: chosen.includes(v) }), ` ${v}`)));
  form.append(
    check('guests', DEFAULT_AXES.guests, a.guests),
    check('vendors', DEFAULT_AXES.vendors, a.vendors),
    check('iommus', DEFAULT_AXES.iommus, a.iommus),
    h('div', { class: 'field' }, h('label', { for: 'cpus' }, 'vCPU counts'), h('input', { id: 'cpus', name: 'cpus', value: a.cpus.join(','), class: 'mono' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Run matrix')),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const p = new URLSearchParams();
    for (const k of ['guests', 'vendors', 'iommus']) if (fd.getAll(k).length) p.set(k, fd.getAll(k).join(','));
    p.set('cpus', String(fd.get('cpus') ?? ''));
    go('matrix', axesParams(axesFrom(p)));
  });
  return form;
}

export function renderMatrixView(p: URLSearchParams): HTMLElement {
  const a = axesFrom(p);
  const selected = p.get('cell') ?? '';
  const progress = h('p', { class: 'muted', role: 'status' }, `Running ${matrixCells(a).length} cells…`);
  const gridBox = h('div', { class: 'result', 'aria-live': 'polite' }, progress);
  const detail = h('div', { class: 'cell-detail' });
  const legend = h('ul', { class: 'legend', 'aria-label': 'colour legend' }, LEGEND.map(([cls, text]) => h('li', {}, h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), text)));
  const view = h('div', { class: 'view view-matrix' }, h('h2', {}, 'Compatibility matrix'), h('p', {}, 'One driver workload — MSI-X and MSI to a low and a high CPU, an edge and a level pin — on every machine of the grid.'), renderFilters(a), legend, gridBox, detail);
  void computeGrid(a, progress).then(async (cells) => {
    gridBox.replaceChildren(renderGrid(cells, a, selected));
    if (!selected) return;
    const key = parseCellId(selected);
    if (!key) {
      detail.replaceChildren(h('p', { class: 'error', role: 'alert' }, `cell "${selected}" is not a cell of the matrix`));
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
      h('h2', { id: 'cell-h' }, `Cell ${selected.replace(/\./g, ' · ')}`),
      tag ? h('p', {}, `Built-in scenario ${tag} reproduces this cell: `, h('a', { href: `#/scenario?id=${tag.slice(0, 2)}` }, `run scenario ${tag.slice(0, 2)}`), '.') : null,
      renderRun(run, { text: `${mode === 'ok' ? '✓' : '✗'} ${mode}`, cls: modeClass(mode) }),
    ]);
    document.querySelector<HTMLButtonElement>(`button[data-cell="${CSS.escape(selected)}"]`)?.focus({ preventScroll: true });
    detail.scrollIntoView({ block: 'start' });
  });
  return view;
}
