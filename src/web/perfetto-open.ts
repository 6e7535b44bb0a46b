/**
 * "Open in Perfetto UI": hand a trace to ui.perfetto.dev without a file. Perfetto documents the handshake ("Opening
 * the trace in the Perfetto UI via postMessage", docs/visualization/deep-linking-to-perfetto-ui.md): open the UI in a
 * new window, post 'PING' to it until it answers 'PONG' (its message listener is only up once the app has loaded),
 * then post `{ perfetto: { buffer, title, fileName } }`. Messages go only to, and are only taken from, Perfetto's
 * origin. Nothing is uploaded: the trace goes from this page to that window.
 */
export const PERFETTO_ORIGIN = 'https://ui.perfetto.dev';

const PING_EVERY_MS = 50;
/** Give up after this long without a PONG (the UI could not load, or a popup blocker closed it). */
const GIVE_UP_MS = 30_000;

export function openInPerfetto(trace: unknown, title: string, fileName: string, report: (text: string) => void): void {
  const win = window.open(`${PERFETTO_ORIGIN}/#!/`, '_blank');
  if (!win) {
    report('The browser blocked the Perfetto UI window: allow pop-ups for this page, or download the trace instead.');
    return;
  }
  const buffer = new TextEncoder().encode(JSON.stringify(trace)).buffer;
  report('Waiting for the Perfetto UI to load…');
  const started = Date.now();
  const timer = setInterval(() => {
    if (win.closed || Date.now() - started > GIVE_UP_MS) {
      stop();
      report('The Perfetto UI did not answer: download the trace and open it there instead.');
      return;
    }
    win.postMessage('PING', PERFETTO_ORIGIN);
  }, PING_EVERY_MS);
  const onMessage = (ev: MessageEvent) => {
    if (ev.origin !== PERFETTO_ORIGIN || ev.source !== win || ev.data !== 'PONG') return;
    stop();
    win.postMessage({ perfetto: { buffer, title, fileName } }, PERFETTO_ORIGIN, [buffer]);
    report(`Sent ${fileName} to the Perfetto UI.`);
  };
  function stop(): void {
    clearInterval(timer);
    window.removeEventListener('message', onMessage);
  }
  window.addEventListener('message', onMessage);
}
