/**
 * The page's URL state as the browser holds it: reading the current hash and navigating. The encoding (views,
 * parameters, compressed links) is page-state.ts, which needs no browser globals.
 */
import { linkHash, stateFromHash, stateHash, type PageState, type ViewName } from './page-state.ts';

export { linkHash, stateHash, type PageState, type ViewName } from './page-state.ts';

/** The state the current hash (or `hash`) names. */
export function readState(hash = location.hash): Promise<PageState> {
  return stateFromHash(hash);
}

/** Navigate: a new history entry, which the router renders. */
export function go(view: ViewName, params: Record<string, string | undefined> | URLSearchParams): void {
  navigate(stateHash(view, params));
}

/** Navigate with a link hash (compressed when long). */
export async function goCompressed(view: ViewName, params: Record<string, string | undefined> | URLSearchParams): Promise<void> {
  navigate(await linkHash(view, params));
}

function navigate(hash: string): void {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

/** Record the state in the URL without a new history entry or a re-render (typing in a form). */
export function replaceState(view: ViewName, params: Record<string, string | undefined> | URLSearchParams): void {
  history.replaceState(null, '', stateHash(view, params));
}
