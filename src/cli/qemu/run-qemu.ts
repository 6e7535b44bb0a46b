/**
 * Runs one QEMU with the interrupt-path trace added: `-trace events=FILE` names the events, `-D FILE` receives them
 * (Debian's QEMU is built with the `log` trace backend, which writes through qemu_log, i.e. to -D), and a QMP socket
 * lets the caller read the machine from the outside when the guest prints a marker. The guest console (the serial
 * port on stdio) is passed through line by line and kept.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QmpClient } from './qmp.ts';

export interface QemuRunOptions {
  qemu: string;
  /** The user's own arguments; the trace, -D and -qmp options are appended. */
  args: readonly string[];
  traceEvents: readonly string[];
  /** Where the event list, the trace and the QMP socket go. */
  dir: string;
  onConsole?: (text: string) => void;
  /** When a console line contains `marker`, `action` runs with a QMP client; then `reply` is written to the serial port. */
  onMarker?: { marker: string; action: (qmp: QmpClient, consoleSoFar: string) => Promise<void>; reply?: string };
  /** Kill QEMU after this long (ms); the result says so. */
  timeoutMs?: number;
}

export interface QemuRunResult {
  argv: string[]; // the full command line, program first
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stderr: string;
  console: string;
  wallMs: number;
  traceFile: string;
  markerSeen: boolean;
  markerError?: string;
  /** Set when QEMU could not be started at all (not installed: ENOENT); exitCode is then null. */
  spawnError?: string;
}

/** The arguments irqpath adds to a QEMU command line. */
export function traceArguments(dir: string): { args: string[]; eventsFile: string; traceFile: string; qmpSocket: string } {
  const eventsFile = join(dir, 'trace-events.txt');
  const traceFile = join(dir, 'trace.log');
  const qmpSocket = join(dir, 'qmp.sock');
  return { args: ['-trace', `events=${eventsFile}`, '-D', traceFile, '-qmp', `unix:${qmpSocket},server=on,wait=off`], eventsFile, traceFile, qmpSocket };
}

/** POSIX shell quoting, for the shell form of a recorded command line. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_./=:,@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function runQemu(o: QemuRunOptions): Promise<QemuRunResult> {
  const t = traceArguments(o.dir);
  writeFileSync(t.eventsFile, o.traceEvents.join('\n') + '\n');
  const argv = [o.qemu, ...o.args, ...t.args];
  const start = Date.now();
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let consoleText = '';
  let stderr = '';
  let lineStart = 0;
  let markerSeen = false;
  let markerError: string | undefined;
  let timedOut = false;
  let spawnError: string | undefined;
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin.on('error', () => {}); // QEMU may exit before the reply is written
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    consoleText += s;
    o.onConsole?.(s);
    if (!o.onMarker || markerSeen) return;
    const nl = consoleText.lastIndexOf('\n');
    if (nl < lineStart) return;
    const complete = consoleText.slice(lineStart, nl);
    lineStart = nl + 1;
    if (!complete.includes(o.onMarker.marker)) return;
    markerSeen = true;
    const m = o.onMarker;
    void (async () => {
      let qmp: QmpClient | undefined;
      try {
        qmp = await QmpClient.connect(t.qmpSocket);
        await m.action(qmp, consoleText);
      } catch (e) {
        markerError = e instanceof Error ? e.message : String(e);
      } finally {
        qmp?.close();
        if (m.reply !== undefined) child.stdin.write(m.reply);
      }
    })();
  });
  const timer = o.timeoutMs ? setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), o.timeoutMs) : undefined;
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const exitCode = spawnError ? null : code;
      resolve({ argv, exitCode, signal, timedOut, stderr, console: consoleText, wallMs: Date.now() - start, traceFile: t.traceFile, markerSeen, markerError, spawnError });
    });
    child.on('error', (e) => {
      spawnError = e.message;
    });
  });
}
