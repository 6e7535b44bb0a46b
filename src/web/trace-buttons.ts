/**
 * The two ways out to Perfetto for a set of hops: download the Chrome-JSON trace, or open ui.perfetto.dev with the
 * trace handed over (perfetto-open.ts). The trace is built when a button is pressed, not when the page is drawn.
 */
import { h } from './dom.ts';
import { openInPerfetto } from './perfetto-open.ts';

function download(trace: unknown, fileName: string): void {
  const blob = new Blob([JSON.stringify(trace)], { type: 'application/json' });
  const a = h('a', { href: URL.createObjectURL(blob), download: fileName });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

export function traceButtons(trace: () => unknown, fileName: string, title: string): HTMLElement {
  const status = h('span', { class: 'muted perfetto-status', role: 'status' }, '');
  return h(
    'p',
    { class: 'trace-actions' },
    h('button', { type: 'button', class: 'perfetto', onclick: () => download(trace(), fileName) }, 'Download Perfetto trace'),
    ' ',
    h('button', { type: 'button', class: 'perfetto', onclick: () => openInPerfetto(trace(), title, fileName, (t) => (status.textContent = t)) }, 'Open in Perfetto UI'),
    ' ',
    status,
  );
}
