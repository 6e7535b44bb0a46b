/**
 * The stress tests' budget: a few seconds by default in `npm test`, more with IRQPATH_STRESS_RUNS (number of random
 * sequences per property) for a campaign; IRQPATH_STRESS_SEED replays the seed a failure printed.
 *
 * Under CI (CI set, as .ci/run sets it) the default seed is fixed, so the gate a change must pass is reproducible and
 * a red run can be replayed exactly; a developer's `npm test` draws a new seed each time, so local runs keep exploring.
 */
export function stressRuns(defaultRuns: number): number {
  const text = process.env.IRQPATH_STRESS_RUNS;
  if (text === undefined || text === '') return defaultRuns;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`IRQPATH_STRESS_RUNS must be a positive integer, got "${text}"`);
  return n;
}

/** The seed CI uses when IRQPATH_STRESS_SEED is not set. */
export const CI_STRESS_SEED = 20261130;

export function stressSeed(): number | undefined {
  const text = process.env.IRQPATH_STRESS_SEED;
  if (text === undefined || text === '') return process.env.CI ? CI_STRESS_SEED : undefined;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new Error(`IRQPATH_STRESS_SEED must be an integer, got "${text}"`);
  return n;
}
