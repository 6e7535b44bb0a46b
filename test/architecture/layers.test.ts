/**
 * The import graph of src/ follows design.md's layers (core < msi < devices < machine < vmm < guest < tools < cli/web)
 * and has no cycles. The rules live in .dependency-cruiser.cjs so `npx depcruise src` shows the same verdict.
 */
import { createRequire } from 'node:module';
import { cruise, type IReporterOutput, type ICruiseResult } from 'dependency-cruiser';
import { expect, test } from 'vitest';

const require = createRequire(import.meta.url);
const ruleSet = require('../../.dependency-cruiser.cjs');

test('src/ imports run one way, without cycles', async () => {
  const out: IReporterOutput = await cruise(['src'], { ruleSet, validate: true, tsPreCompilationDeps: true, doNotFollow: { path: 'node_modules' } });
  const result = out.output as ICruiseResult;
  const errors = result.summary.violations
    .filter((v) => v.rule.severity === 'error')
    .map((v) => `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name).join(' → ')})` : ''}`);
  expect(errors).toEqual([]);
  expect(result.summary.totalCruised).toBeGreaterThan(100);
}, 60_000);
