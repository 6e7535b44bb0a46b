/**
 * What a stress campaign (`npm run stress`) reports from the model-based tests: operations run, oracle checks made
 * (vitest's assertion count), and the slowest operation. A test file calls {@link campaignStats} once and passes its
 * command sequences through {@link instrumented}; when IRQPATH_STRESS_STATS names a file, the file's totals are
 * appended to it as one JSON line when the file's tests end. Without it nothing is written and the cost is a counter
 * per command.
 */
import { appendFileSync } from 'node:fs';
import { afterAll, afterEach, expect } from 'vitest';

interface Stats {
  operations: number;
  checks: number;
  slowest: { operation: string; ms: number };
}

export function campaignStats(file: string): { instrumented<C extends object>(cmds: Iterable<C>): Iterable<C> } {
  const stats: Stats = { operations: 0, checks: 0, slowest: { operation: '', ms: 0 } };
  afterEach(() => {
    stats.checks += expect.getState().assertionCalls;
  });
  afterAll(() => {
    const out = process.env.IRQPATH_STRESS_STATS;
    if (out) appendFileSync(out, JSON.stringify({ file, ...stats }) + '\n');
  });
  return {
    *instrumented<C extends object>(cmds: Iterable<C>): Iterable<C> {
      for (const cmd of cmds) {
        const run = (cmd as { run?: (...args: unknown[]) => unknown }).run;
        if (typeof run !== 'function') {
          yield cmd;
          continue;
        }
        yield new Proxy(cmd, {
          get(target, key, receiver) {
            if (key !== 'run') return Reflect.get(target, key, receiver);
            return (...args: unknown[]) => {
              const t0 = performance.now();
              try {
                return run.apply(target, args);
              } finally {
                const ms = performance.now() - t0;
                stats.operations++;
                if (ms > stats.slowest.ms) stats.slowest = { operation: String(target), ms };
              }
            };
          },
        });
      }
    },
  };
}
