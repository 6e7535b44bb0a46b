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
import { renderSequence, type DiagramStep } from './sequence-diagram.ts';
import { traceButtons } from './trace-buttons.ts';

export function runTitle(r: ScenarioResult): string {
  return r.scenario.variant ? `${r.scenario.id} [${r.scenario.variant}]` : r.scenario.id;
}

function traceOf(r: ScenarioResult) {
  return perfettoTrace([...r.sources.flatMap((s) => s.hops), ...(r.dma ?? []).flatMap((d) => d.hops)]);
}

function traceFileName(r: ScenarioResult): string {
  return `irqpath-${runTitle(r).replace(/[^\w-]+/g, '_')}.perfetto.json`;
}

/** A table cell that names its column, so the table can stack into cards on a phone (style.css). */
function cell(column: string, ...content: (Node | string)[]): HTMLElement {
  return h('td', { 'data-label': column }, ...content);
}

/** The source's kind in words: what raises its interrupt. */
function originWords(src: SourceResult['source']): string {
  switch (src.kind) {
    case 'ioapic':
      return `I/O APIC pin ${src.pin ?? '?'} asserted`;
    case 'isa':
      return `ISA IRQ ${src.irq ?? '?'} raised`;
    case 'intx':
      return `${src.device ?? 'the device'} asserts INTx`;
    case 'lapic-timer':
      return `the LAPIC timer of CPU ${src.cpu} (${src.mode ?? ''}) expires`;
    case 'pit':
      return 'the 8254\'s counter 0 drives IRQ0';
    case 'hpet':
      return 'the HPET\'s timer 0 fires on IRQ0';
    case 'rtc':
      return 'the RTC raises IRQ8';
    default:
      return `${src.device ?? 'the device'} signals ${src.kind === 'msix' ? 'MSI-X' : src.kind === 'ims' ? 'IMS' : 'MSI'}`;
  }
}

/** What started a source's interrupt, for the first row of its diagram. */
function originOf(s: SourceResult): DiagramStep {
  const src = s.source;
  const what = originWords(src);
  // The device's own first hop (a step such as deschedule may put VMM hops before it).
  const first = s.hops.find((h) => h.machine === 'host' && h.args.some(([k]) => k === 'bdf')) ?? s.hops[0];
  if (first?.machine !== 'host') return { text: `${src.id}: ${what}`, part: 'Device', machine: first?.machine };
  // On the host the physical device has its own address; name it when the first hop does.
  const hostBdf = first.args.find(([k]) => k === 'bdf')?.[1];
  const where = typeof hostBdf === 'string' && hostBdf !== src.device ? `the physical device ${hostBdf} on the host; the guest sees ${src.device}` : 'the physical device, on the host';
  return { text: `${src.id}: ${what} (${where})`, part: 'Device', machine: 'host' };
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
      { class: 'sources stack' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'source'), h('th', { scope: 'col' }, 'programmed (explain it)'), h('th', { scope: 'col' }, 'expected'), h('th', { scope: 'col' }, 'actual'), h('th', { scope: 'col' }, badge ? 'as the driver asked?' : 'as stated?'))),
      h(
        'tbody',
        {},
        r.sources.map((s) =>
          h('tr', { class: s.ok ? 'ok' : 'bad' }, h('th', { scope: 'row' }, s.source.id), cell('programmed', programmedLink(s, explainMachine)), cell('expected', s.expected), cell('actual', s.actual), cell(badge ? 'as asked?' : 'as stated?', s.ok ? 'yes' : 'NO')),
        ),
      ),
    ),
    r.dma?.length
      ? h(
          'table',
          { class: 'sources stack' },
          h('caption', {}, 'DMA requests'),
          h('thead', {}, h('tr', {}, ['request', 'device · IOVA · mapping', 'expected', 'actual', 'as stated?'].map((t) => h('th', { scope: 'col' }, t)))),
          h(
            'tbody',
            {},
            r.dma.map((d) =>
              h('tr', { class: d.ok ? 'ok' : 'bad' }, h('th', { scope: 'row' }, d.request.id), cell('device · IOVA · mapping', `${d.request.device} · 0x${d.request.iova.toString(16)} · ${d.request.map}`), cell('expected', d.expected), cell('actual', d.actual), cell('as stated?', d.ok ? 'yes' : 'NO')),
            ),
          ),
        )
      : null,
    h('h4', {}, 'Fault log, as the kernel prints it'),
    h('pre', { class: 'dmesg', 'aria-label': 'fault log' }, faultLines.length ? faultLines.join('\n') : '(no faults)'),
    h('h4', {}, 'Each source, hop by hop'),
    r.sources.map((s) =>
      renderSequence({
        hops: s.hops,
        caption: `${s.source.id} (${s.source.kind}${s.source.device ? ' ' + s.source.device : ''}${s.source.pin !== undefined ? ' pin ' + s.source.pin : ''}) → ${s.actual}`,
        origin: originOf(s),
        outcome: { text: s.actual, severity: /fault|lost|refused|memory|nowhere/.test(s.actual) ? 'blocked' : 'ok', machine: s.hops.at(-1)?.machine },
      }),
    ),
    r.dma?.length ? h('h4', {}, 'Each DMA request, hop by hop') : null,
    (r.dma ?? []).map((d) =>
      renderSequence({
        hops: d.hops,
        caption: `DMA ${d.request.id}: ${d.request.device} writes 0x${d.request.value.toString(16)} to 0x${d.request.address.toString(16)} → ${d.actual}`,
        origin: { text: `${d.request.device} writes 0x${d.request.value.toString(16)} to 0x${d.request.address.toString(16)} (DMA, ${d.request.map === 'none' ? 'no mapping' : `IOVA 0x${d.request.iova.toString(16)} mapped ${d.request.map}`})`, part: 'Device' },
        outcome: { text: d.actual, severity: /fault|blocked|nowhere/.test(d.actual) ? 'blocked' : 'ok' },
      }),
    ),
    traceButtons(() => traceOf(r), traceFileName(r), `irqpath ${runTitle(r)}`),
    h('details', {}, h('summary', {}, `Boot log (${r.bootLog.length} lines)`), h('pre', {}, r.bootLog.join('\n'))),
  );
}
