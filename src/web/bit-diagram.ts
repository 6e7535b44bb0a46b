/**
 * Draws one word of a bit layout (src/msi/bit-layout.ts) as rows of 32 bits, high bit on the left as the
 * specifications draw them: each field a box spanning its bits with its name, bit range and value; reserved and
 * ignored fields hatched, and flagged in words ("SET") when they hold something. A table below repeats every field in
 * text for small screens and screen readers.
 */
import type { DrawnWord } from '../tools/explain-value.ts';
import { h } from './dom.ts';

function hexValue(v: bigint, bits: number): string {
  return '0x' + v.toString(16).padStart(Math.ceil(bits / 4), '0');
}

function range(hi: number, lo: number): string {
  return hi === lo ? `${hi}` : `${hi}:${lo}`;
}

/**
 * `input` names the form field the word was typed into (the address, the data, the value): hovering or focusing a
 * field box highlights its bits there (input-highlight.ts).
 */
export function renderWord(w: DrawnWord, input: string): HTMLElement {
  const rows: HTMLElement[] = [];
  for (let rowHi = w.word.width - 1; rowHi >= 0; rowHi -= 32) {
    const rowLo = rowHi - 31;
    const cells: HTMLElement[] = [];
    for (const fv of w.fields) {
      const { field } = fv;
      if (field.lo > rowHi || field.hi < rowLo) continue;
      const segHi = Math.min(field.hi, rowHi);
      const segLo = Math.max(field.lo, rowLo);
      const first = segHi === field.hi;
      const width = field.hi - field.lo + 1;
      const ignoredSet = fv.flagged && field.reserved === 'ignored';
      const cls = ['bf', field.reserved ? 'bf-rsvd' : '', fv.flagged ? (ignoredSet ? 'bf-ign' : 'bf-flag') : '', segHi - segLo < 3 ? 'bf-narrow' : ''].filter(Boolean).join(' ');
      const tip = `${field.name} [${range(field.hi, field.lo)}] = ${hexValue(fv.value, width)}${field.reserved ? ` (${field.reserved})` : ''}${fv.flagged ? (ignoredSet ? ' — set, but ignored' : field.reserved ? ' — SET' : ' — not the value this format needs') : ''}`;
      cells.push(
        h(
          'div',
          { class: cls, style: `grid-column: span ${segHi - segLo + 1}`, title: tip, 'data-field': field.name, 'data-hi': field.hi, 'data-lo': field.lo, 'data-input': input, 'data-value': hexValue(fv.value, width) },
          h('span', { class: 'bf-name' }, first ? field.name : `${field.name} (cont.)`),
          h('span', { class: 'bf-bits' }, range(segHi, segLo)),
          first ? h('span', { class: 'bf-val' }, hexValue(fv.value, width), fv.flagged ? (ignoredSet ? ' set, ignored' : field.reserved ? ' SET' : ' WRONG') : '') : null,
        ),
      );
    }
    rows.push(h('div', { class: 'bf-row', role: 'presentation' }, ...cells));
  }
  const table = h(
    'table',
    { class: 'bf-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'field'), h('th', { scope: 'col' }, 'bits'), h('th', { scope: 'col' }, 'value'), h('th', { scope: 'col' }, 'note'))),
    h(
      'tbody',
      {},
      w.fields.map((fv) =>
        h(
          'tr',
          { class: fv.flagged ? 'bf-flag-row' : '' },
          h('td', {}, fv.field.name),
          h('td', {}, range(fv.field.hi, fv.field.lo)),
          h('td', { class: 'mono' }, hexValue(fv.value, fv.field.hi - fv.field.lo + 1)),
          h('td', {}, fv.flagged ? (fv.field.reserved ? `${fv.field.reserved} but set` : `must be ${hexValue(BigInt(fv.field.fixed ?? 0), fv.field.hi - fv.field.lo + 1)}`) : fv.field.reserved ?? ''),
        ),
      ),
    ),
  );
  return h(
    'figure',
    { class: 'word' },
    h('figcaption', {}, `${w.word.label} = `, h('code', {}, hexValue(w.value, w.word.width))),
    h('div', { class: 'bf-scroll' }, ...rows),
    h('details', { class: 'bf-details' }, h('summary', {}, `${w.word.label}: every field as text`), table),
  );
}
