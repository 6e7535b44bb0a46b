/**
 * The page state and its links, without the browser's globals (so Node tests and the fuzzer can read any hash): the
 * page state lives in the URL hash — "#/explain?kind=msi&addr=0xfee00578&data=0" — so a copied link reopens the
 * same view, and the site stays plain files (no server routes). One view name, then ordinary query parameters.
 *
 * Long state (a scenario's YAML) travels compressed: the parameters as a JSON object, deflated (CompressionStream
 * 'deflate-raw', RFC 1951) and written in base64url (RFC 4648 §5), as the single parameter `z`. A 2.4 KB edited scenario becomes
 * well under 1 KB of link. Short states stay readable.
 */
export type ViewName = 'explain' | 'scenario' | 'matrix' | 'sweep';

export interface PageState {
  view: ViewName;
  params: URLSearchParams;
  /** Set when the hash names no view ("#/foo"): the hash as given. */
  unknownView?: string;
}

export const VIEWS: ViewName[] = ['explain', 'scenario', 'matrix', 'sweep'];

/** Queries longer than this are compressed when a link is made. */
const COMPRESS_ABOVE = 200;

function parseHash(hash: string): { name: string; query: string } {
  const m = /^#\/([^?]*)(?:\?(.*))?$/.exec(hash);
  return { name: m ? m[1] : hash === '' || hash === '#' ? 'explain' : hash.slice(1), query: m?.[2] ?? '' };
}

function toBase64Url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function pipe(bytes: Uint8Array<ArrayBuffer>, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const out = new Blob([bytes]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

export async function compressQuery(query: string): Promise<string> {
  return toBase64Url(await pipe(new TextEncoder().encode(query), new CompressionStream('deflate-raw')));
}

export async function decompressQuery(z: string): Promise<string> {
  return new TextDecoder().decode(await pipe(fromBase64Url(z), new DecompressionStream('deflate-raw')));
}

/** The state a hash names; a compressed `z` is expanded (a broken one is reported as the parameter `z-error`). */
export async function stateFromHash(hash: string): Promise<PageState> {
  const { name, query } = parseHash(hash);
  let params = new URLSearchParams(query);
  const z = params.get('z');
  if (z !== null) {
    try {
      params = new URLSearchParams(JSON.parse(await decompressQuery(z)) as Record<string, string>);
    } catch {
      params = new URLSearchParams({ 'z-error': 'this link\'s compressed state (z=…) is damaged: it may have been cut short when it was copied' });
    }
  }
  if (!(VIEWS as string[]).includes(name)) return { view: 'explain', params: new URLSearchParams(), unknownView: hash };
  return { view: name as ViewName, params };
}

function query(params: Record<string, string | undefined> | URLSearchParams): string {
  const q = new URLSearchParams();
  const entries = params instanceof URLSearchParams ? [...params.entries()] : Object.entries(params);
  for (const [k, v] of entries) if (v !== undefined && v !== '') q.set(k, v);
  return q.toString();
}

export function stateHash(view: ViewName, params: Record<string, string | undefined> | URLSearchParams): string {
  const s = query(params);
  return `#/${view}${s ? '?' + s : ''}`;
}

/** The hash for a link: compressed when the plain query would be long. */
export async function linkHash(view: ViewName, params: Record<string, string | undefined> | URLSearchParams): Promise<string> {
  const s = query(params);
  if (s.length <= COMPRESS_ABOVE) return stateHash(view, params);
  // The parameters as JSON, not as the query string: percent-encoding first would hide YAML's repetition from deflate.
  return `#/${view}?z=${await compressQuery(JSON.stringify(Object.fromEntries(new URLSearchParams(s))))}`;
}

