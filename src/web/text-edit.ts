/**
 * An edited built-in scenario as a link: the built-in's id plus the one run of lines that changed (common leading
 * and trailing lines dropped), so changing a title or a vCPU count in a 2 KB scenario makes a link of a few dozen
 * characters instead of carrying the whole file. Applying the edit to the same built-in gives the text back exactly.
 */
export interface LineEdit {
  /** 0-based index of the first changed line. */
  at: number;
  /** How many of the original's lines are replaced. */
  del: number;
  /** The lines put in their place, joined with '\n'. */
  ins: string;
}

export function diffLines(original: string, edited: string): LineEdit {
  const a = original.split('\n');
  const b = edited.split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  return { at: start, del: endA - start, ins: b.slice(start, endB).join('\n') };
}

/** `original` with `edit` applied; null when the edit does not fit the text (a different version of the built-in). */
export function applyEdit(original: string, edit: LineEdit, insertedLines: number): string | null {
  const a = original.split('\n');
  if (!Number.isInteger(edit.at) || !Number.isInteger(edit.del) || edit.at < 0 || edit.del < 0 || edit.at + edit.del > a.length) return null;
  const inserted = insertedLines === 0 ? [] : edit.ins.split('\n');
  return [...a.slice(0, edit.at), ...inserted, ...a.slice(edit.at + edit.del)].join('\n');
}

/** Lines an edit inserts (an empty `ins` may be zero lines or one empty line: the link says which). */
export function insertedLineCount(original: string, edited: string): number {
  const e = diffLines(original, edited);
  return edited.split('\n').length - (original.split('\n').length - e.del);
}
