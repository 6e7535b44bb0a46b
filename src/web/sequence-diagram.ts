/**
 * One interrupt's hops as a sequence diagram drawn in plain HTML: a column per component (device, I/O APIC, bus,
 * IOMMU, local APIC), one numbered row per hop, an arrow when the interrupt moves on to the next component and a
 * note when a component acts on its own. The component of a hop and the left-to-right order come from the library
 * (trace.ts), the same ones its Mermaid diagrams use.
 */
import type { TraceHop } from '../core/events.ts';
import { formatHop, PATH_ORDER, participantOf } from '../machine/trace.ts';
import { h } from './dom.ts';

const ORDER = ['Device', 'IOAPIC', 'Bus', 'VTd', 'AMDVi', 'LAPIC'];
const LABEL: Record<string, string> = { Device: 'PCI device', IOAPIC: 'I/O APIC', Bus: 'machine bus', VTd: 'VT-d', AMDVi: 'AMD-Vi', LAPIC: 'local APIC' };

export function renderSequence(hops: TraceHop[], caption: string): HTMLElement {
  if (hops.length === 0) return h('p', { class: 'muted' }, `${caption}: no hops recorded.`);
  const used = ORDER.filter((p) => hops.some((x) => participantOf(x.name) === p));
  const col = (p: string) => used.indexOf(p);
  const n = used.length;
  // Half-columns: participant i occupies 2i+1..2i+2, its lifeline runs at the boundary between them.
  const grid = `grid-template-columns: repeat(${2 * n}, minmax(0, 1fr))`;
  const lifelines = used.map((_, i) => `linear-gradient(to right, transparent calc(${((2 * i + 1) / (2 * n)) * 100}% - 1px), var(--lifeline) calc(${((2 * i + 1) / (2 * n)) * 100}% - 1px), var(--lifeline) calc(${((2 * i + 1) / (2 * n)) * 100}% + 1px), transparent calc(${((2 * i + 1) / (2 * n)) * 100}% + 1px))`).join(', ');
  const head = h('div', { class: 'seq-head', style: grid }, ...used.map((p) => h('span', { class: 'seq-actor', style: `grid-column: span 2` }, LABEL[p] ?? p)));
  const rows: HTMLElement[] = [];
  let previous = participantOf(hops[0].name);
  hops.forEach((hop, k) => {
    const to = participantOf(hop.name);
    const text = formatHop(hop);
    const forward = to !== previous && PATH_ORDER[to] > PATH_ORDER[previous];
    let body: HTMLElement;
    if (forward) {
      const a = col(previous);
      const b = col(to);
      // From the centre of `a` to the centre of `b`: grid lines 2a+2 .. 2b+2 (1-based).
      body = h('div', { class: 'seq-arrow', style: `grid-column: ${2 * a + 2} / ${2 * b + 2}` }, h('span', { class: 'seq-label' }, h('b', {}, `${k + 1}. `), text), h('span', { class: 'seq-line', 'aria-hidden': 'true' }));
    } else {
      // A note sits on the component's lifeline, widened towards the middle of the diagram so the text has room.
      const c = col(to);
      const span = Math.min(2 * n, 4);
      const start = Math.max(1, Math.min(2 * c, 2 * n - span) + 1);
      body = h('div', { class: 'seq-note', style: `grid-column: ${start} / span ${span}` }, h('b', {}, `${k + 1}. `), text);
    }
    rows.push(h('li', { class: 'seq-row', style: `${grid}; background-image: ${lifelines}` }, body));
    previous = to;
  });
  return h('figure', { class: 'seq' }, h('figcaption', {}, caption), head, h('ol', { class: 'seq-body' }, ...rows));
}
