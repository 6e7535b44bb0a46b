/**
 * Replay rows of `npm run bench`: `irqpath replay` on a real QEMU 7.2 trace (test/fixtures/qemu-trace/qemu-7.2/
 * intel-ir.trace.log, 2934 lines, 449 requests) repeated to 100 000 and to 1 000 000 lines, fed in 1 MiB chunks as
 * the CLI reads a file. Rates in lines per second of CPU time (best of a few runs; CPU time, as for the boot rows,
 * because the wall time of a run on a shared machine is mostly other work), the 1 M run's cost per line as a ratio
 * to the 100 k run's (linear: 1×), and the heap in use after each run (flat: the replay keeps the distinct requests,
 * not the lines). Target (issue 15): ≥ 100 000 lines/s.
 */
import { readFileSync } from 'node:fs';
import { QemuTraceReplay } from '../src/tools/qemu-trace-replay.ts';

const LOG = readFileSync(new URL('../test/fixtures/qemu-trace/qemu-7.2/intel-ir.trace.log', import.meta.url), 'utf8');
const LOG_LINES = LOG.split('\n').length - 1;
const CHUNK = 1 << 20;

/** Replay `lines` lines of the log repeated; the text is made chunk by chunk, never held whole. */
function replayLines(lines: number): { ms: number; heapMb: number; requests: number } {
  const copies = Math.ceil(lines / LOG_LINES);
  const before = process.cpuUsage();
  const replay = new QemuTraceReplay();
  let pending = '';
  for (let c = 0; c < copies; c++) {
    pending += LOG;
    while (pending.length >= CHUNK) {
      replay.push(pending.slice(0, CHUNK));
      pending = pending.slice(CHUNK);
    }
  }
  replay.push(pending);
  const report = replay.finish();
  const used = process.cpuUsage(before);
  const ms = (used.user + used.system) / 1000;
  return { ms, heapMb: process.memoryUsage().heapUsed / 2 ** 20, requests: report.summary.requests };
}

function best(lines: number, rounds: number): { rate: number; heapMb: number; requests: number; lines: number } {
  let bestMs = Infinity;
  let last = { ms: 0, heapMb: 0, requests: 0 };
  for (let r = 0; r < rounds; r++) {
    last = replayLines(lines);
    bestMs = Math.min(bestMs, last.ms);
  }
  const actual = Math.ceil(lines / LOG_LINES) * LOG_LINES;
  return { rate: actual / (bestMs / 1000), heapMb: last.heapMb, requests: last.requests, lines: actual };
}

const fmt = (rate: number) => `${(rate / 1e3).toFixed(0)} k lines/s`;

export function replayRows(): string[] {
  replayLines(100_000); // warm up the JIT
  const small = best(100_000, 5);
  const large = best(1_000_000, 3);
  const ratio = small.rate / large.rate;
  const verdict = large.rate >= 100_000 ? '✓' : '✗';
  return [
    `irqpath replay of a real QEMU trace (${LOG_LINES} lines repeated), best CPU time of 5 / 3 runs`,
    `${'replay-100k'.padEnd(14)} ${fmt(small.rate).padStart(16)}   ${small.lines} lines, ${small.requests} requests, heap ${small.heapMb.toFixed(0)} MB in use after (garbage included)`,
    `${'replay-1M'.padEnd(14)} ${fmt(large.rate).padStart(16)}   ${ratio.toFixed(2)}× the cost per line of replay-100k (linear: 1×); ${large.requests} requests, heap ${large.heapMb.toFixed(0)} MB in use after  ${verdict} target ≥ 100 k lines/s`,
  ];
}
