/**
 * "Run a scenario": a built-in one by name, or YAML pasted into the page (kept in the URL, so the link reproduces
 * the run). Every variant runs and is shown side by side. A file the validator refuses shows the CLI's own message
 * next to the line of the field it names.
 */
import { runScenario } from '../scenario/run-scenario.ts';
import { parseScenario, ScenarioError, type Scenario } from '../scenario/scenario-file.ts';
import { builtInScenarioTexts, type ScenarioText } from '../scenario/scenario-library.ts';
import { h, nextFrame } from './dom.ts';
import { renderRun } from './scenario-run.ts';
import { go, goCompressed } from './url-state.ts';
import { applyEdit, diffLines, insertedLineCount } from './text-edit.ts';

/** The name pasted YAML goes by in error messages, as a file would on the command line. */
export const PASTED_NAME = 'pasted.yaml';

function renderYamlError(text: string, err: Error): HTMLElement {
  const field = err instanceof ScenarioError ? err.field : '';
  // The validator located the field in the text (a variant's own override first); anything else has no line.
  const line = err instanceof ScenarioError ? (err.position?.line ?? null) : null;
  const lines = text.split('\n');
  const out = h('div', { class: 'yaml-error', role: 'alert' }, h('p', { class: 'field-error' }, h('b', {}, 'irqpath: '), err.message));
  if (line !== null) {
    const from = Math.max(1, line - 2);
    const to = Math.min(lines.length, line + 2);
    const listing = h('pre', { class: 'yaml-listing', 'aria-label': `the YAML around line ${line}` });
    for (let n = from; n <= to; n++) {
      listing.append(h('span', { class: n === line ? 'yaml-line yaml-bad' : 'yaml-line' }, `${String(n).padStart(4)}  ${lines[n - 1]}`), '\n');
      if (n === line) listing.append(h('span', { class: 'yaml-msg' }, `      ^ ${field ? field + ': ' : ''}${err instanceof ScenarioError ? err.reason : err.message}`), '\n');
    }
    out.append(listing);
  }
  return out;
}

function fileId(t: ScenarioText): string {
  return t.name.replace(/^scenarios\//, '').replace(/\.ya?ml$/, '');
}

/** The built-in scenario an id ("05", "05-windows…") names, or undefined. */
function builtIn(id: string): ScenarioText | undefined {
  return id ? builtInScenarioTexts().find((t) => fileId(t) === id || fileId(t).startsWith(id)) : undefined;
}

function renderForm(id: string, yaml: string, idError: string | null): HTMLElement {
  const texts = builtInScenarioTexts();
  const pick = h('select', { id: 'scenario', name: 'scenario' }, h('option', { value: '' }, '— paste YAML below —'));
  for (const t of texts) {
    const sid = t.name.replace(/^scenarios\//, '').replace(/\.ya?ml$/, '');
    pick.append(h('option', { value: sid.slice(0, 2), selected: id !== '' && !idError && sid.startsWith(id) }, sid));
  }
  if (idError) {
    pick.setAttribute('aria-invalid', 'true');
    pick.setAttribute('aria-describedby', 'scenario-err');
  }
  const area = h('textarea', { id: 'yaml', name: 'yaml', rows: 14, spellcheck: 'false', class: 'mono', placeholder: 'title: …\nmachine: …\nguest: …\nsources: …\nexpect: …' });
  area.value = yaml || (builtIn(id)?.text ?? '');
  const form = h(
    'form',
    { class: 'scenario-form', 'aria-label': 'scenario to run' },
    h('div', { class: 'field' }, h('label', { for: 'scenario' }, 'Built-in scenario'), pick, idError ? h('p', { class: 'field-error', id: 'scenario-err', role: 'alert' }, idError) : null),
    h('details', { class: 'field-wide yaml-box', open: id === '' || idError !== null }, h('summary', {}, id ? 'Show or edit its YAML' : 'Scenario YAML'), h('div', { class: 'field field-wide' }, h('label', { for: 'yaml' }, 'Scenario YAML (edit or paste; same format as scenarios/*.yaml)'), area)),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Run')),
  );
  pick.addEventListener('change', () => go('scenario', { id: pick.value || undefined }));
  // Ctrl+Enter (⌘+Enter) in the YAML runs it, as in Compiler Explorer and regex101.
  area.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const original = builtIn(pick.value)?.text;
    // An unchanged built-in stays a short link; edited or pasted text travels in the URL, compressed.
    if (original !== undefined && area.value === original) go('scenario', { id: pick.value });
    else if (original !== undefined) {
      // An edited built-in: its id and the lines that changed.
      const e = diffLines(original, area.value);
      void goCompressed('scenario', { base: pick.value, at: String(e.at), del: String(e.del), ins: e.ins, n: String(insertedLineCount(original, area.value)) });
    } else void goCompressed('scenario', { yaml: area.value });
  });
  return form;
}

export function renderScenarioView(p: URLSearchParams): HTMLElement {
  const id = p.get('id') ?? '';
  let yaml = p.get('yaml') ?? '';
  const base = p.get('base');
  if (base !== null && !yaml) {
    const edited = builtIn(base) ? applyEdit(builtIn(base)!.text, { at: Number(p.get('at')), del: Number(p.get('del')), ins: p.get('ins') ?? '' }, Number(p.get('n') ?? '1')) : null;
    if (edited === null) {
      const view = h('div', { class: 'view view-scenario' }, h('h2', {}, 'Run a scenario'), renderForm('', '', null));
      view.append(h('p', { class: 'error', role: 'alert' }, `This link edits built-in scenario "${base}", but the edit does not fit the built-in this page has (it may come from another irqpath version).`));
      return view;
    }
    yaml = edited;
  }
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const known = builtIn(id);
  const idError = id && !yaml && !known ? `There is no built-in scenario "${id}". Pick one from the list (${builtInScenarioTexts().map((t) => fileId(t).slice(0, 2)).join(', ')}), or paste YAML below.` : null;
  const view = h('div', { class: 'view view-scenario' }, h('h2', {}, 'Run a scenario'), renderForm(id || (base ?? ''), yaml, idError), result);
  if (idError) return view;
  if (!id && !yaml) {
    result.append(h('p', { class: 'muted' }, 'Pick a built-in scenario or paste one, then Run. Every variant runs, side by side.'));
    return view;
  }
  let scenarios: Scenario[];
  try {
    scenarios = yaml ? parseScenario(yaml, PASTED_NAME) : parseScenario(known!.text, known!.name);
  } catch (err) {
    result.append(renderYamlError(yaml || (known?.text ?? ''), err as Error));
    return view;
  }
  result.append(h('p', { class: 'muted', role: 'status' }, `Running ${scenarios.length} run${scenarios.length > 1 ? 's' : ''}…`));
  void nextFrame().then(() => {
    // A built-in base scenario's machine can be rebuilt by the explainer ("scenario:05"); a pasted one or a variant cannot.
    const runs = scenarios.map((s) => renderRun(runScenario(s, { trace: true }), undefined, !yaml && s.variant === null ? `scenario:${s.id.slice(0, 2)}` : undefined));
    result.replaceChildren(h('div', { class: 'variants' }, ...runs));
  });
  return view;
}
