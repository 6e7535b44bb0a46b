/**
 * regex101-style highlighting of an input's characters: each highlightable text input sits on a backdrop that
 * mirrors its text (same font, padding and scroll), and a bit range [hi:lo] lights up the hex digits that hold those
 * bits. The input itself is transparent over it, so typing is untouched. Only hex text maps to bits digit by digit:
 * a decimal number has no such mapping, so it shows no highlight (the field box's tooltip still gives the value).
 */
import { bitPositions } from './bit-positions.ts';
import { h } from './dom.ts';

/** Wrap `input` so that highlightBits can light up its characters. Returns the wrapper to put in the form. */
export function highlightable(input: HTMLInputElement): HTMLElement {
  const backdrop = h('div', { class: 'hl-backdrop', 'aria-hidden': 'true' });
  input.classList.add('hl-input');
  const sync = () => {
    backdrop.scrollLeft = input.scrollLeft;
  };
  input.addEventListener('scroll', sync);
  input.addEventListener('input', () => clearHighlight(input));
  return h('div', { class: 'hl-wrap' }, backdrop, input);
}

function backdropOf(input: HTMLInputElement): HTMLElement | null {
  const b = input.previousElementSibling;
  return b instanceof HTMLElement && b.classList.contains('hl-backdrop') ? b : null;
}

export function highlightBits(input: HTMLInputElement, hi: number, lo: number): void {
  const backdrop = backdropOf(input);
  if (!backdrop) return;
  const text = input.value;
  const lit = bitPositions(text, hi, lo);
  backdrop.replaceChildren();
  let run = '';
  let runLit = false;
  const flush = () => {
    if (run) backdrop.append(runLit ? h('mark', {}, run) : run);
    run = '';
  };
  for (let i = 0; i < text.length; i++) {
    const on = lit.has(i);
    if (on !== runLit) {
      flush();
      runLit = on;
    }
    run += text[i];
  }
  flush();
  backdrop.scrollLeft = input.scrollLeft;
}

export function clearHighlight(input: HTMLInputElement): void {
  const backdrop = backdropOf(input);
  if (backdrop) backdrop.textContent = input.value;
}

/**
 * Hovering a field box (bit-diagram.ts, data-input / data-hi / data-lo) highlights its bits in its input; a click (or
 * a tap, where there is no hover) pins the highlight until another box is clicked or the input changes.
 */
export function wireFieldHover(root: HTMLElement): void {
  let pinned: HTMLElement | null = null;
  const target = (ev: Event) => (ev.target as HTMLElement).closest<HTMLElement>('.bf[data-input]');
  const inputOf = (box: HTMLElement) => document.getElementById(box.dataset.input!) as HTMLInputElement | null;
  const show = (box: HTMLElement) => {
    const input = inputOf(box);
    if (input) highlightBits(input, Number(box.dataset.hi), Number(box.dataset.lo));
  };
  root.addEventListener('mouseover', (ev) => {
    const box = target(ev);
    if (!box) return;
    root.querySelectorAll('.bf-hover').forEach((el) => el.classList.remove('bf-hover'));
    box.classList.add('bf-hover');
    show(box);
  });
  root.addEventListener('mouseout', (ev) => {
    const box = target(ev);
    if (!box || box.contains((ev as MouseEvent).relatedTarget as Node)) return;
    box.classList.remove('bf-hover');
    const input = inputOf(box);
    if (input) clearHighlight(input);
    if (pinned?.isConnected) show(pinned);
  });
  root.addEventListener('click', (ev) => {
    const box = target(ev);
    if (!box) return;
    pinned?.classList.remove('bf-pinned');
    if (pinned === box) {
      pinned = null;
      return;
    }
    for (const input of document.querySelectorAll<HTMLInputElement>('input.hl-input')) clearHighlight(input);
    pinned = box;
    box.classList.add('bf-pinned');
    show(box);
  });
}
