/**
 * Where in pasted YAML a scenario error points: the validator names a field path ("sources[0].kind",
 * "expect.sources.nic.fault.code"); this finds the line that holds it (or the nearest enclosing one that exists,
 * for a missing field) so the page can show the CLI's own message next to that line.
 */
import { isNode, LineCounter, parseDocument } from 'yaml';

function pathOf(field: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of field.split('.')) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return out;
    if (m[1]) out.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** 1-based line of `field` in `text`, or null when it cannot be placed. */
export function lineOfField(text: string, field: string, message = ''): number | null {
  const syntax = /at line (\d+)/.exec(message);
  if (syntax) return Number(syntax[1]);
  if (!field || field === '(document)') return null;
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter });
  const path = pathOf(field);
  for (let n = path.length; n > 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
  }
  return null;
}
