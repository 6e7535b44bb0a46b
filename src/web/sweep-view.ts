/**
 * Any slice of the full sweep in the page: tick the values of each axis (guest, CPU, IOMMU, extension, workarounds,
 * vCPUs, Linux kernel, x2APIC, command line, device assignment), run the slice here in the browser, and read the
 * report — failure modes ranked, grouped by the axes that decide them (matrixReport, the same report as
 * `irqpath matrix --full`) — and a grid of the cells, a column per vCPU count. The slice and whether it ran are in
 * the URL, so a copied link (compressed when long) reruns the same slice.
 *
 * Cells run on Web Workers (sweep-worker.ts), a few per core, so the page keeps painting the progress bar and
 * answering clicks (Stop, or any link); a small slice, or a page whose workers cannot start, runs in this thread in
 * stretches of about 40 ms, yielding to the browser between them. Each cell's row is kept by its name for the
 * page's lifetime: running a slice that overlaps an earlier one runs only the new cells. A cell of the grid is a
 * button: it opens the run behind it, traced, below the grid (`&cell=<its name>` in the URL).
 */
import { cellName, cellScenario, runMatrixCell, type MatrixCellSpec } from '../scenario/matrix.ts';
import { runScenario } from '../scenario/run-scenario.ts';
import { matrixRow, type MatrixRow } from '../scenario/matrix-rows.ts';
import { matrixReport, type MatrixReport } from '../scenario/matrix-report.ts';
import { append, h, nextFrame } from './dom.ts';
import { modeClass } from './matrix-view.ts';
import { renderRun } from './scenario-run.ts';
import { goCompressed } from './url-state.ts';
import type { SweepReply, SweepRequest } from './sweep-worker.ts';
import { SLICE_AXES, SliceError, sliceCells, sliceFromParams, sliceParams, sliceValues, type SweepSlice } from './sweep-slice.ts';

/** Rows of the cells run so far, by cell name: cells are deterministic, so a row never goes stale. */
const rowsRun = new Map<string, MatrixRow>();
/** The run in progress; a newer render (any navigation) or Stop makes the old one give up at its next yield. */
let currentRun = 0;

/** How long a stretch of cells may hold the thread before the page gets a frame. */
const SLICE_MS = 40;
/** Grid rows drawn at most; the report above counts every cell. */
const MAX_GRID_ROWS = 300;

function renderForm(slice: SweepSlice, error: SliceError | null, p: URLSearchParams, failuresOnly: boolean): HTMLFormElement {
  const form = h('form', { class: 'matrix-form sweep-form', 'aria-label': 'sweep slice' });
  const values = sliceValues(slice);
  const count = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  for (const axis of SLICE_AXES) {
    const picked = error?.field === axis.param ? (p.get(axis.param) ?? '').split(',') : values[axis.param];
    form.append(
      h(
        'fieldset',
        {},
        h('legend', {}, axis.legend),
        axis.values.map((v) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: axis.param, value: v.text, checked: picked.includes(v.text) }), ` ${v.label}`)),
        error?.field === axis.param ? h('p', { class: 'field-error', role: 'alert' }, error.message) : null,
      ),
    );
  }
  const read = (): URLSearchParams => {
    const fd = new FormData(form);
    return new URLSearchParams(Object.fromEntries(SLICE_AXES.map((a) => [a.param, fd.getAll(a.param).join(',')])));
  };
  const recount = () => {
    try {
      const n = sliceCells(sliceFromParams(read())).length;
      count.textContent = `${n.toLocaleString('en')} cell${n === 1 ? '' : 's'} in this slice.`;
    } catch (e) {
      count.textContent = e instanceof SliceError ? e.message : String(e);
    }
  };
  form.addEventListener('change', (ev) => {
    if ((ev.target as HTMLInputElement).name !== 'fail') recount();
  });
  form.append(
    h('label', { class: 'check failures-only' }, h('input', { type: 'checkbox', name: 'fail', value: '1', checked: failuresOnly }), ' grid: failing rows only'),
    count,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Run slice')),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fail = new FormData(form).get('fail') ? '1' : undefined;
    const q = read();
    try {
      void goCompressed('sweep', { ...sliceParams(sliceFromParams(q)), fail, run: '1' });
    } catch {
      // Show the problem beside its field without running anything: the URL keeps what was ticked.
      void goCompressed('sweep', { ...Object.fromEntries(q), fail });
    }
  });
  recount();
  return form;
}

/** The report as sections: a failure mode, its cells, the axes that decide it and its commonest configurations. */
function renderReport(report: MatrixReport): HTMLElement {
  const failing = report.cells - report.ok;
  const box = h(
    'section',
    { class: 'sweep-report', 'aria-labelledby': 'sweep-report-h' },
    h('h3', { id: 'sweep-report-h' }, `${report.ok.toLocaleString('en')} of ${report.cells.toLocaleString('en')} cells ok; ${failing.toLocaleString('en')} fail in ${report.groups.length} way${report.groups.length === 1 ? '' : 's'}`),
  );
  if (report.groups.length === 0) return box;
  const list = h('ol', { class: 'failure-groups' });
  for (const g of report.groups) {
    const decided = g.deciding.length === 0 ? 'at every value of this slice' : g.deciding.map((d) => `${d.axis} ∈ {${d.values.join(', ')}}`).join(', ');
    const item = h('li', { class: `failure-group ${modeClass(g.mode)}` }, h('p', { class: 'failure-mode' }, h('strong', {}, g.mode), ` — ${g.cells.toLocaleString('en')} cell${g.cells === 1 ? '' : 's'} — decided by ${decided}`));
    if (g.deciding.length > 0) {
      item.append(
        h(
          'table',
          { class: 'configurations' },
          h('caption', {}, 'commonest configurations'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'cells'), g.deciding.map((d) => h('th', { scope: 'col' }, d.axis)))),
          h('tbody', {}, g.configurations.map((c) => h('tr', {}, h('td', {}, String(c.cells)), c.values.map((v) => h('td', { class: 'mono' }, v))))),
        ),
      );
    }
    list.append(item);
  }
  box.append(list);
  return box;
}

/** The machine of a row without its vCPU count. */
function rowKey(r: MatrixRow): string {
  const parts = [r.guest, r.vendor, r.iommu, r.extension ? 'ext-dest' : 'no ext-dest', r.workarounds ? 'workarounds' : 'no workarounds'];
  if (r.version) parts.push(`Linux ${r.version}`);
  parts.push(r.x2apicCpu ? 'x2APIC CPU' : 'no x2APIC');
  if (r.cmdline) parts.push(r.cmdline);
  if (r.assignment) parts.push(`assigned ${r.assignment}`);
  return parts.join(' · ');
}

function renderGrid(rows: MatrixRow[], cpus: number[], failuresOnly: boolean, open: (cell: string) => void, selected: string): HTMLElement {
  const byKey = new Map<string, MatrixRow[]>();
  for (const r of rows) {
    const k = rowKey(r);
    let list = byKey.get(k);
    if (!list) byKey.set(k, (list = []));
    list.push(r);
  }
  const all = [...byKey.entries()].filter(([, list]) => !failuresOnly || list.some((r) => !r.ok));
  const shown = all.slice(0, MAX_GRID_ROWS);
  const columns = cpus.filter((n) => rows.some((r) => r.cpus === n));
  const caption = `${all.length.toLocaleString('en')} machine${all.length === 1 ? '' : 's'}${failuresOnly ? ' with a failing cell' : ''}${shown.length < all.length ? `; the first ${shown.length} shown (narrow the slice to see the rest)` : ''}.`;
  const table = h(
    'table',
    { class: 'matrix sweep-grid', 'aria-label': 'sweep cells' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', class: 'row-key' }, 'machine'), columns.map((n) => h('th', { scope: 'col' }, `${n} vCPUs`)))),
  );
  const body = h('tbody');
  for (const [key, list] of shown) {
    body.append(
      h(
        'tr',
        {},
        h('th', { scope: 'row', class: 'row-key' }, key),
        columns.map((n) => {
          const r = list.find((x) => x.cpus === n);
          if (!r) return h('td', {});
          const describe = `${r.cell}: ${r.mode}, ${r.delivered} of ${r.total} interrupts as asked`;
          return h(
            'td',
            { class: `cell ${modeClass(r.mode)}${r.cell === selected ? ' selected' : ''}` },
            h('button', { type: 'button', 'data-cell': r.cell, title: describe, 'aria-label': describe, 'aria-pressed': r.cell === selected ? 'true' : 'false', onclick: () => open(r.cell) }, h('span', { 'aria-hidden': 'true' }, r.ok ? '✓ ' : '✗ '), r.mode),
          );
        }),
      ),
    );
  }
  table.append(body);
  return h('div', { class: 'matrix-scroll' }, table);
}

/** Below this many cells to run, starting workers (each loads the library) costs more than it saves. */
const WORKER_MIN_CELLS = 24;
/** Cells per message to a worker: a few dozen milliseconds of work, so Stop takes effect quickly. */
const WORKER_BATCH = 8;

/**
 * Run the cells `todo` (indices into `cells`) on workers, one per core up to 4 (leaving one for the page). Resolves
 * with the indices left to run — all of them when no worker could start (a page opened from a file: URL) — or null
 * when the run was stopped.
 */
function runOnWorkers(cells: MatrixCellSpec[], todo: number[], finished: (index: number, row: MatrixRow) => void, progress: () => void, ticket: number): Promise<number[] | null> {
  const count = Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1));
  let next = 0;
  let outstanding = 0;
  const workers: Worker[] = [];
  return new Promise((resolve) => {
    let settled = false;
    const settle = (value: number[] | null) => {
      if (settled) return;
      settled = true;
      for (const w of workers) w.terminate();
      resolve(value);
    };
    const feed = (w: Worker) => {
      if (next >= todo.length) return;
      const indices = todo.slice(next, next + WORKER_BATCH);
      next += indices.length;
      outstanding += indices.length;
      w.postMessage({ indices, specs: indices.map((i) => cells[i]) } satisfies SweepRequest);
    };
    for (let k = 0; k < count; k++) {
      let w: Worker;
      try {
        w = new Worker(new URL('./sweep-worker.js', import.meta.url), { type: 'module' });
      } catch {
        break;
      }
      workers.push(w);
      w.onmessage = (ev: MessageEvent<SweepReply>) => {
        if (ticket !== currentRun) return settle(null);
        ev.data.indices.forEach((index, j) => finished(index, ev.data.rows[j]));
        outstanding -= ev.data.indices.length;
        progress();
        if (next < todo.length) feed(w);
        else if (outstanding === 0) settle([]);
      };
      // A worker that cannot load (or fails) hands the cells not yet run back to this thread.
      w.onerror = (ev) => {
        ev.preventDefault();
        settle(todo.filter((i) => !rowsRun.has(cellName(cells[i]))));
      };
      feed(w);
      feed(w);
    }
    if (workers.length === 0) settle(todo);
  });
}

async function runSlice(cells: MatrixCellSpec[], bar: HTMLProgressElement, line: HTMLElement, ticket: number): Promise<MatrixRow[] | null> {
  const rows = new Array<MatrixRow>(cells.length);
  const todo: number[] = [];
  cells.forEach((c, i) => {
    const row = rowsRun.get(cellName(c));
    if (row) rows[i] = row;
    else todo.push(i);
  });
  let done = cells.length - todo.length;
  const finished = (index: number, row: MatrixRow) => {
    rows[index] = row;
    rowsRun.set(row.cell, row);
    done++;
  };
  const progress = () => {
    bar.value = done;
    line.textContent = `Running cell ${done.toLocaleString('en')} of ${cells.length.toLocaleString('en')}…`;
  };
  let left: number[] | null = todo;
  if (todo.length >= WORKER_MIN_CELLS && typeof Worker === 'function') left = await runOnWorkers(cells, todo, finished, progress, ticket);
  if (left === null || ticket !== currentRun) return null;
  // Here, in stretches of SLICE_MS: a small slice, or where workers cannot run.
  let last = performance.now();
  for (const index of left) {
    if (rowsRun.has(cellName(cells[index]))) continue;
    const { result: _result, ...cell } = runMatrixCell(cells[index]);
    finished(index, matrixRow(cell));
    if (performance.now() - last > SLICE_MS) {
      progress();
      await nextFrame();
      if (ticket !== currentRun) return null;
      last = performance.now();
    }
  }
  for (let i = 0; i < cells.length; i++) rows[i] ??= rowsRun.get(cellName(cells[i]))!;
  return rows;
}

/** The run behind one cell of the slice, traced, with its outcome as the grid named it. */
async function showCell(detail: HTMLElement, cells: MatrixCellSpec[], rows: MatrixRow[], name: string, ticket: number): Promise<void> {
  const k = rows.findIndex((r) => r.cell === name);
  if (k < 0) {
    detail.replaceChildren(h('p', { class: 'error', role: 'alert' }, `"${name}" is not a cell of this slice: pick one in the grid above.`));
    return;
  }
  detail.replaceChildren(h('p', { class: 'muted', role: 'status' }, 'Running the cell, traced…'));
  await nextFrame();
  if (ticket !== currentRun) return;
  const row = rows[k];
  const run = runScenario(cellScenario(cells[k]), { trace: true });
  detail.replaceChildren();
  append(detail, [h('h2', { id: 'cell-h' }, name), renderRun(run, { text: `${row.ok ? '✓' : '✗'} ${row.mode}`, cls: modeClass(row.mode) })]);
  document.querySelector<HTMLButtonElement>(`button[data-cell="${CSS.escape(name)}"]`)?.focus({ preventScroll: true });
  detail.scrollIntoView({ block: 'start' });
}

/** Leave any run in progress behind (the page is drawing another view). */
export function stopSweep(): void {
  currentRun++;
}

export function renderSweepView(p: URLSearchParams): HTMLElement {
  const ticket = ++currentRun;
  const failuresOnly = p.get('fail') === '1';
  const intro = h(
    'p',
    {},
    'The full sweep of ',
    h('code', {}, 'irqpath matrix --full'),
    ' — the matrix crossed with the Linux kernel version, the CPU\'s x2APIC, the kernel command line and device assignment under each VMM profile — or any slice of it, run here in your browser. Tick the values to keep; the report ranks the failures and names the axes that decide each.',
  );
  let slice: SweepSlice;
  try {
    slice = sliceFromParams(p);
  } catch (err) {
    if (!(err instanceof SliceError)) throw err;
    return h('div', { class: 'view view-sweep' }, h('h2', {}, 'Sweep'), intro, renderForm(sliceFromParams(new URLSearchParams()), err, p, failuresOnly), h('p', { class: 'error', role: 'alert' }, `Nothing ran: ${err.message}`));
  }
  const cells = sliceCells(slice);
  const selected = p.get('cell') ?? '';
  const result = h('div', { class: 'result' });
  const detail = h('div', { class: 'cell-detail' });
  const view = h('div', { class: 'view view-sweep' }, h('h2', {}, 'Sweep'), intro, renderForm(slice, null, p, failuresOnly), result, detail);
  if (p.get('run') !== '1') {
    result.append(h('p', { class: 'muted' }, `Choose a slice and press "Run slice" (${cells.length.toLocaleString('en')} cells as ticked now).`));
    return view;
  }
  if (cells.length === 0) {
    result.append(h('p', { class: 'error', role: 'alert' }, 'No cell of the sweep has all the values ticked (e.g. a kernel version with only Windows, or assignment with an IOMMU in the guest): tick more values.'));
    return view;
  }
  const bar = h('progress', { max: cells.length, value: 0, 'aria-label': 'cells run' });
  const line = h('p', { class: 'muted', role: 'status' }, `Running ${cells.length.toLocaleString('en')} cells…`);
  const stop = h('button', { type: 'button', onclick: () => {
    currentRun++;
    line.textContent = 'Stopped. Press "Run slice" to continue: the cells already run are kept.';
    stop.remove();
  } }, 'Stop');
  result.append(h('div', { class: 'sweep-progress' }, bar, line, stop));
  const open = (cell: string) => void goCompressed('sweep', { ...sliceParams(slice), fail: failuresOnly ? '1' : undefined, run: '1', cell });
  void runSlice(cells, bar, line, ticket).then(async (rows) => {
    if (rows === null) return;
    result.replaceChildren(renderReport(matrixReport(rows)), renderGrid(rows, slice.cpus, failuresOnly, open, selected));
    if (selected) await showCell(detail, cells, rows, selected, ticket);
  });
  return view;
}
