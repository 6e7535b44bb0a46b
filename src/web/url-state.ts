/**
 * The page state lives in the URL hash — "#/explain?kind=msi&addr=0xfee00578&data=0" — so a copied link reopens the
 * same view, and the site stays plain files (no server routes). One view name, then ordinary query parameters.
 */
export type ViewName = 'explain' | 'scenario' | 'matrix';

export interface PageState {
  view: ViewName;
  params: URLSearchParams;
}

const VIEWS: ViewName[] = ['explain', 'scenario', 'matrix'];

export function readState(hash = location.hash): PageState {
  const m = /^#\/([a-z]+)(?:\?(.*))?$/.exec(hash);
  const view = m && (VIEWS as string[]).includes(m[1]) ? (m[1] as ViewName) : 'explain';
  return { view, params: new URLSearchParams(m?.[2] ?? '') };
}

export function stateHash(view: ViewName, params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return `#/${view}${s ? '?' + s : ''}`;
}

/** Navigate: a new history entry, which the router renders. */
export function go(view: ViewName, params: Record<string, string | undefined>): void {
  const hash = stateHash(view, params);
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}
