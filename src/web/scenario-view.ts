/**
 * "Run a scenario": a built-in one by name, or YAML pasted into the page (kept in the URL, so the link reproduces
 * the run). Every variant runs and is shown side by side. A file the validator refuses shows the CLI's own message
 * next to the line of the field it names.
 */
import { runScenario } from '../scenario/run-scenario.ts';
import { parseScenario, ScenarioError, type Scenario } from '../scenario/scenario-file.ts';
import { builtInScenarioTexts, selectScenarioTexts } from '../scenario/scenario-library.ts';
import { h, nextFrame } from './dom.ts';
import { renderRun } from './scenario-run.ts';
import { go } from './url-state.ts';

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

function renderForm(id: string, yaml: string): HTMLElement {
  const texts = builtInScenarioTexts();
  const pick = h('select', { id: 'scenario', name: 'scenario' }, h('option', { value: '' }, '— paste YAML below —'));
  for (const t of texts) {
    const sid = t.name.replace(/^scenarios\//, '').replace(/\.ya?ml$/, '');
    pick.append(h('option', { value: sid.slice(0, 2), selected: id !== '' && sid.startsWith(id) }, sid));
  }
  const area = h('textarea', { id: 'yaml', name: 'yaml', rows: 14, spellcheck: 'false', class: 'mono', placeholder: 'title: …\nmachine: …\nguest: …\nsources: …\nexpect: …' });
  area.value = yaml || (id ? (selectScenarioTexts([id])[0]?.text ?? '') : '');
  const form = h(
    'form',
    { class: 'scenario-form', 'aria-label': 'scenario to run' },
    h('div', { class: 'field' }, h('label', { for: 'scenario' }, 'Built-in scenario'), pick),
    h('details', { class: 'field-wide yaml-box', open: id === '' }, h('summary', {}, id ? 'Show or edit its YAML' : 'Scenario YAML'), h('div', { class: 'field field-wide' }, h('label', { for: 'yaml' }, 'Scenario YAML (edit or paste; same format as scenarios/*.yaml)'), area)),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Run')),
  );
  pick.addEventListener('change', () => go('scenario', { id: pick.value || undefined }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const builtIn = pick.value ? selectScenarioTexts([pick.value])[0]?.text : undefined;
    // An unchanged built-in stays a short link; edited or pasted text travels in the URL.
    if (builtIn !== undefined && area.value === builtIn) go('scenario', { id: pick.value });
    else go('scenario', { yaml: area.value });
  });
  return form;
}

export function renderScenarioView(p: URLSearchParams): HTMLElement {
  const id = p.get('id') ?? '';
  const yaml = p.get('yaml') ?? '';
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const view = h('div', { class: 'view view-scenario' }, h('h2', {}, 'Run a scenario'), renderForm(id, yaml), result);
  if (!id && !yaml) {
    result.append(h('p', { class: 'muted' }, 'Pick a built-in scenario or paste one, then Run. Every variant runs, side by side.'));
    return view;
  }
  let scenarios: Scenario[];
  try {
    scenarios = yaml ? parseScenario(yaml, PASTED_NAME) : selectScenarioTexts([id]).flatMap((t) => parseScenario(t.text, t.name));
  } catch (err) {
    result.append(renderYamlError(yaml || (selectScenarioTexts([id])[0]?.text ?? ''), err as Error));
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
