/**
 * One scenario run on the page: verdict, machine, the checks, each source's expected and actual outcome with its
 * hops as a sequence diagram, the fault log as the guest kernel prints it, and the Perfetto trace to download. The
 * scenario view shows one of these per variant, side by side; a matrix cell shows the run behind it.
 */
import type { ScenarioResult } from '../scenario/run-scenario.ts';
import { perfettoTrace } from '../machine/trace.ts';
import type { SourceResult } from '../scenario/run-scenario.ts';
import { stateHash } from './url-state.ts';
import { h } from './dom.ts';
import { renderSequence } from './sequence-diagram.ts';

export function runTitle(r: ScenarioResult): string {
  return r.scenario.variant ? `${r.scenario.id} [${r.scenario.variant}]` : r.scenario.id;
}

function downloadPerfetto(r: ScenarioResult): void {
  const hops = r.sources.flatMap((s) => s.hops);
  const blob = new Blob([JSON.stringify(perfettoTrace(hops))], { type: 'application/json' });
  const a = h('a', { href: URL.createObjectURL(blob), download: `irqpath-${runTitle(r).replace(/[^\w-]+/g, '_')}.perfetto.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/**
 * A matrix cell's run states no expectation of its own (the cell asks "did everything arrive where the driver
 * asked?"), so it is badged with the cell's failure mode instead of a scenario verdict.
 */
export interface RunBadge {
  text: string;
  cls: string;
}

/**
 * What the guest programmed for a source, linked to the explainer: every reading of that message (or RTE), and —
 * for a built-in scenario's base run, whose machine the explainer can rebuild — where it goes on this machine.
 */
function programmedLink(s: SourceResult, machine: string | undefined): HTMLElement | string {
  const p = s.programmed;
  if (p.rte !== undefined) {
    return h('a', { href: stateHash('explain', { kind: 'rte', value: '0x' + p.rte.toString(16), machine, pin: machine && s.source.pin !== undefined ? String(s.source.pin) : undefined }) }, `RTE 0x${p.rte.toString(16)}`);
  }
  if (p.message) {
    return h('a', { href: stateHash('explain', { kind: 'msi', addr: '0x' + p.message.addr.toString(16), data: '0x' + p.message.data.toString(16), machine, from: machine ? s.source.device : undefined }) }, `addr 0x${p.message.addr.toString(16)} data 0x${p.message.data.toString(16)}`);
  }
  return p.status === 'refused' ? 'refused' : p.encoding;
}

export function renderRun(r: ScenarioResult, badge?: RunBadge, explainMachine?: string): HTMLElement {
  const verdictClass = badge ? `verdict ${badge.cls}` : `verdict verdict-${r.verdict.toLowerCase()}`;
  const faultLines = [...r.faultLog, ...r.runtimeLog.filter((l) => !r.faultLog.includes(l))];
  return h(
    'article',
    { class: 'run', 'aria-label': `run ${runTitle(r)}` },
    h('header', {}, h('h3', {}, runTitle(r)), h('p', { class: verdictClass, 'data-verdict': r.verdict }, badge ? badge.text : r.verdict)),
    h('p', { class: 'run-title' }, r.scenario.title),
    r.error ? h('p', { class: 'error', role: 'alert' }, r.error) : null,
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'machine'),
      h('dd', {}, r.machine || '—'),
      h('dt', {}, 'guest'),
      h('dd', {}, r.guest),
      h('dt', {}, 'CPUs online'),
      h('dd', {}, String(r.onlineCpus)),
      h('dt', {}, 'run time'),
      h('dd', {}, `${r.durationMs.toFixed(0)} ms`),
    ),
    r.checks.length
      ? h('ul', { class: 'checks' }, r.checks.map((c) => h('li', { class: c.ok ? 'ok' : 'bad' }, h('b', {}, c.ok ? 'PASS ' : 'FAIL '), `${c.what}: ${c.detail}`)))
      : null,
    h(
      'table',
      { class: 'sources' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'source'), h('th', { scope: 'col' }, 'programmed (explain it)'), h('th', { scope: 'col' }, 'expected'), h('th', { scope: 'col' }, 'actual'), h('th', { scope: 'col' }, badge ? 'as the driver asked?' : 'as stated?'))),
      h(
        'tbody',
        {},
        r.sources.map((s) =>
          h('tr', { class: s.ok ? 'ok' : 'bad' }, h('th', { scope: 'row' }, s.source.id), h('td', { class: 'mono' }, programmedLink(s, explainMachine)), h('td', {}, s.expected), h('td', {}, s.actual), h('td', {}, s.ok ? 'yes' : 'NO')),
        ),
      ),
    ),
    r.dma?.length
      ? h(
          'table',
          { class: 'sources' },
          h('caption', {}, 'DMA requests'),
          h('thead', {}, h('tr', {}, ['request', 'device · IOVA · mapping', 'expected', 'actual', 'as stated?'].map((t) => h('th', { scope: 'col' }, t)))),
          h(
            'tbody',
            {},
            r.dma.map((d) =>
              h('tr', { class: d.ok ? 'ok' : 'bad' }, h('th', { scope: 'row' }, d.request.id), h('td', { class: 'mono' }, `${d.request.device} · 0x${d.request.iova.toString(16)} · ${d.request.map}`), h('td', {}, d.expected), h('td', {}, d.actual), h('td', {}, d.ok ? 'yes' : 'NO')),
            ),
          ),
        )
      : null,
    h('h4', {}, 'Fault log, as the kernel prints it'),
    h('pre', { class: 'dmesg', 'aria-label': 'fault log' }, faultLines.length ? faultLines.join('\n') : '(no faults)'),
    h('h4', {}, 'Each source, hop by hop'),
    r.sources.map((s) => renderSequence(s.hops, `${s.source.id} (${s.source.kind}${s.source.device ? ' ' + s.source.device : ''}${s.source.pin !== undefined ? ' pin ' + s.source.pin : ''}) → ${s.actual}`)),
    h('p', {}, h('button', { type: 'button', class: 'perfetto', onclick: () => downloadPerfetto(r) }, 'Download Perfetto trace'), ' ', h('span', { class: 'muted' }, 'open it in ui.perfetto.dev')),
    h('details', {}, h('summary', {}, `Boot log (${r.bootLog.length} lines)`), h('pre', {}, r.bootLog.join('\n'))),
  );
}
