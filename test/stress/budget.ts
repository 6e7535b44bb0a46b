/**
 * The stress tests' budget: a few seconds by default in `npm test`, more with IRQPATH_STRESS_RUNS (number of random
 * sequences per property) for a campaign; IRQPATH_STRESS_SEED replays the seed a failure printed.
 */
export function stressRuns(defaultRuns: number): number {
  const text = process.env.IRQPATH_STRESS_RUNS;
  if (text === undefined || text === '') return defaultRuns;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`IRQPATH_STRESS_RUNS must be a positive integer, got "${text}"`);
  return n;
}

export function stressSeed(): number | undefined {
  const text = process.env.IRQPATH_STRESS_SEED;
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new Error(`IRQPATH_STRESS_SEED must be an integer, got "${text}"`);
  return n;
}
