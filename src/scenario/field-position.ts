/**
 * Where in a scenario file a field path points: the validator names fields by path ("sources[0].kind",
 * "expect.sources.nic.fault.code", "machine.devices[1].msi.vectors"); this finds the line and column of that node in
 * the YAML text, or of the nearest enclosing node that exists (a missing field points at its parent). The CLI and the
 * web page put it next to the message; an editor can jump to it.
 */
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';

/** A 1-based line and column in the file's text. */
export interface FilePosition {
  line: number;
  column: number;
}

/** "sources[0].msi.vectors" → ['sources', 0, 'msi', 'vectors']. */
export function fieldPath(field: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of field.split('.')) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return out;
    if (m[1]) out.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

function at(counter: LineCounter, offset: number): FilePosition {
  const { line, col } = counter.linePos(offset);
  return { line, column: col };
}

/** The deepest node along `path` that exists: its offset and how many path elements it matched. */
function deepest(doc: Document, path: (string | number)[]): { offset: number; depth: number } | null {
  for (let n = path.length; n > 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return { offset: node.range[0], depth: n };
  }
  return null;
}

/**
 * The position of `field` in `text`. With `variant`, an error about the variant's merged content is looked up in
 * the variant's own overrides first (`variants[i].machine.cpus` for `machine.cpus`) and in the base scenario when the
 * variant does not set that field. Null when the text does not parse or nothing along the path exists.
 */
export function positionOfField(text: string, field: string, variant: string | null = null): FilePosition | null {
  if (!field || field === '(document)') return null;
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter });
  if (doc.errors.length > 0) return null;
  const path = fieldPath(field);
  const candidates: (string | number)[][] = [];
  if (variant !== null && path[0] !== 'variants') {
    const variants = doc.toJS()?.variants;
    const i = Array.isArray(variants) ? variants.findIndex((v: unknown) => (v as { name?: unknown } | null)?.name === variant) : -1;
    if (i >= 0) candidates.push(['variants', i, ...path]);
  }
  candidates.push(path);
  let best: { offset: number; depth: number; complete: boolean } | null = null;
  for (const candidate of candidates) {
    const found = deepest(doc, candidate);
    if (found === null) continue;
    const complete = found.depth === candidate.length;
    if (complete) return at(counter, found.offset);
    if (best === null) best = { ...found, complete };
  }
  return best === null ? null : at(counter, best.offset);
}
