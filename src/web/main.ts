/**
 * The irqpath web page: three views onto the library (explain a value, run a scenario, the matrix), chosen by the
 * URL hash so every view is a link. Everything runs in the page; nothing is sent anywhere.
 */
import { h } from './dom.ts';
import { renderExplainView } from './explain-view.ts';
import { renderMatrixView } from './matrix-view.ts';
import { renderScenarioView } from './scenario-view.ts';
import { readState, type ViewName } from './url-state.ts';

const NAV: [ViewName, string][] = [
  ['explain', 'Explain a message'],
  ['scenario', 'Run a scenario'],
  ['matrix', 'Matrix'],
];

function render(navigated = false): void {
  const state = readState();
  const nav = document.getElementById('nav')!;
  nav.replaceChildren(
    ...NAV.map(([view, text]) => h('a', { href: `#/${view}`, 'aria-current': view === state.view ? 'page' : undefined }, text)),
  );
  const main = document.getElementById('main')!;
  let content: HTMLElement;
  try {
    content = state.view === 'scenario' ? renderScenarioView(state.params) : state.view === 'matrix' ? renderMatrixView(state.params) : renderExplainView(state.params);
  } catch (err) {
    content = h('p', { class: 'error', role: 'alert' }, err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  }
  main.replaceChildren(content);
  document.title = `irqpath — ${NAV.find(([v]) => v === state.view)![1]}`;
  // After a navigation, keyboard and screen-reader users continue at the new view's heading (a matrix cell focuses
  // itself once the grid is drawn).
  if (navigated && !state.params.has('cell')) {
    const heading = main.querySelector('h2');
    heading?.setAttribute('tabindex', '-1');
    heading?.focus({ preventScroll: true });
  }
}

window.addEventListener('hashchange', () => render(true));
render();
