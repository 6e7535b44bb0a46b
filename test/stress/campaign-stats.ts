/**
 * What a stress campaign (`npm run stress`) reports from the model-based tests: operations run, oracle checks made
 * (vitest's assertion count), the slowest operation, and coverage — how often each outcome the test is about was
 * reached. A test file calls {@link campaignStats} once, passes its command sequences through `instrumented`, and
 * hands what its sequences reached to `coverage`. When IRQPATH_STRESS_STATS names a file, the file's totals are
 * appended to it as one JSON line when the file's tests end. Without it nothing is written and the cost is a counter
 * per command.
 *
 * Coverage is judged where there are enough sequences to judge it: alone (`npm test`), `coverage` asserts that every
 * required outcome was reached; in a campaign it only records, and scripts/stress.ts judges the sum over all rounds —
 * a campaign with fewer sequences than the test's own default (a tiny `--runs` over a short time) is told "not enough
 * runs to judge coverage", not a mismatch.
 */
import { appendFileSync } from 'node:fs';
import { afterAll, afterEach, expect } from 'vitest';

/** One file's line in the campaign's stats file. */
export interface FileStats {
  file: string;
  operations: number;
  checks: number;
  slowest: { operation: string; ms: number };
  /** Per property: sequences run, the fewest that judge coverage, what was reached and what must be. */
  coverage: { property: string; runs: number; judgeFrom: number; required: string[]; seen: Record<string, number> }[];
}

export interface CampaignStats {
  instrumented<C extends object>(cmds: Iterable<C>): Iterable<C>;
  /**
   * The outcomes `seen` over `runs` sequences of `property` must include every one of `required`; `judgeFrom` is the
   * sequence count at which a missing one means the generators cannot reach it (the test's default run count).
   */
  coverage(property: string, seen: ReadonlyMap<string, number>, required: readonly string[], runs: number, judgeFrom: number): void;
}

/** Adds what one sequence reached (`from`) to the counts over all sequences (`into`). */
export function addReached(into: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [k, n] of from) into.set(k, (into.get(k) ?? 0) + n);
}

export function campaignStats(file: string): CampaignStats {
  const stats: FileStats = { file, operations: 0, checks: 0, slowest: { operation: '', ms: 0 }, coverage: [] };
  const out = process.env.IRQPATH_STRESS_STATS;
  afterEach(() => {
    stats.checks += expect.getState().assertionCalls;
  });
  afterAll(() => {
    if (out) appendFileSync(out, JSON.stringify(stats) + '\n');
  });
  return {
    coverage(property, seen, required, runs, judgeFrom) {
      if (out) {
        stats.coverage.push({ property, runs, judgeFrom, required: [...required], seen: Object.fromEntries(seen) });
        return;
      }
      // The sequences must have reached what the test is about, or a passing run proves little.
      for (const what of required) expect(seen.get(what) ?? 0, `never exercised: ${what}`).toBeGreaterThan(0);
    },
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
