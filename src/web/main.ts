/**
 * The irqpath web page: four views onto the library (explain a value, run a scenario, the matrix, a slice of the full
 * sweep), chosen by the URL hash so every view is a link. Everything runs in the page; nothing is sent anywhere (except a trace, to the
 * Perfetto UI window, when asked).
 */
import { h } from './dom.ts';
import { renderExplainView } from './explain-view.ts';
import { renderMatrixView } from './matrix-view.ts';
import { renderScenarioView } from './scenario-view.ts';
import { renderSweepView, stopSweep } from './sweep-view.ts';
import { linkHash, readState, type ViewName } from './url-state.ts';

const NAV: [ViewName, string][] = [
  ['explain', 'Explain a message'],
  ['scenario', 'Run a scenario'],
  ['matrix', 'Matrix'],
  ['sweep', 'Sweep'],
];

function problem(text: string): HTMLElement {
  return h('div', { class: 'page-error', role: 'alert' }, h('p', { class: 'error' }, text));
}

let rendering = 0;

async function render(navigated = false): Promise<void> {
  const ticket = ++rendering;
  const state = await readState();
  if (ticket !== rendering) return; // a newer navigation won the race with decompression
  const nav = document.getElementById('nav')!;
  nav.replaceChildren(...NAV.map(([view, text]) => h('a', { href: `#/${view}`, 'aria-current': !state.unknownView && view === state.view ? 'page' : undefined }, text)));
  const main = document.getElementById('main')!;
  const parts: HTMLElement[] = [];
  if (state.unknownView !== undefined) {
    parts.push(problem(`There is no page "${state.unknownView}". The pages are: ${NAV.map(([v, t]) => `${t} (#/${v})`).join(', ')}. Here is the first one.`));
  }
  const zError = state.params.get('z-error');
  if (zError) parts.push(problem(zError));
  stopSweep();
  try {
    const views: Record<ViewName, (p: URLSearchParams) => HTMLElement> = { explain: renderExplainView, scenario: renderScenarioView, matrix: renderMatrixView, sweep: renderSweepView };
    parts.push(views[state.view](state.params));
  } catch (err) {
    // A bug, not bad input (views report bad input next to the field): say so, inside the page.
    parts.push(problem(`Something went wrong drawing this view: ${err instanceof Error ? err.message : String(err)}`));
  }
  main.replaceChildren(...parts);
  document.title = `irqpath — ${NAV.find(([v]) => v === state.view)![1]}`;
  const at = state.params.get('at');
  if (at) document.getElementById(at)?.scrollIntoView({ block: 'start' });
  // After a navigation, keyboard and screen-reader users continue at the new view's heading (a matrix cell focuses
  // itself once the grid is drawn).
  else if (navigated && !state.params.has('cell')) {
    const heading = main.querySelector('h2');
    heading?.setAttribute('tabindex', '-1');
    heading?.focus({ preventScroll: true });
  }
}

/** "Copy link": the current state as a link (compressed when long), to the clipboard and into a box to copy by hand. */
async function copyLink(status: HTMLElement, box: HTMLInputElement): Promise<void> {
  const state = await readState();
  const url = location.href.replace(/#.*$/, '') + (await linkHash(state.view, state.params));
  box.value = url;
  box.hidden = false;
  box.select();
  try {
    await navigator.clipboard.writeText(url);
    status.textContent = `Link copied (${url.length} characters).`;
  } catch {
    status.textContent = 'Copy the link from the box (this browser did not allow the clipboard).';
  }
}

function headerTools(): void {
  const header = document.querySelector('header.top')!;
  const status = h('span', { class: 'muted copy-status', role: 'status' });
  const box = h('input', { class: 'mono copy-box', readonly: true, hidden: true, 'aria-label': 'link to this view' });
  const button = h('button', { type: 'button', class: 'copy-link', onclick: () => void copyLink(status, box) }, 'Copy link');
  header.append(h('div', { class: 'header-tools' }, button, status, box));
}

headerTools();
window.addEventListener('hashchange', () => void render(true));
void render();
