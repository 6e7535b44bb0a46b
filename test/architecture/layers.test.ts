/**
 * The import graph of src/ follows the layers of docs/architecture.md (core < msi < devices < machine < vmm < guest
 * < scenario < tools < cli/web, the two entry points at the root) and has no cycles. The rules live in
 * .dependency-cruiser.cjs so `npx depcruise src` shows the same verdict; this test also checks that every folder and
 * root file of src/ is one the rules name, so a new folder cannot sit outside them.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { cruise, type IReporterOutput, type ICruiseResult } from 'dependency-cruiser';
import { expect, test } from 'vitest';

const require = createRequire(import.meta.url);
const { layers, rootFiles, ...ruleSet } = require('../../.dependency-cruiser.cjs');
const SRC = fileURLToPath(new URL('../../src', import.meta.url));

test('src/ imports run one way, without cycles', async () => {
  const out: IReporterOutput = await cruise(['src'], { ruleSet, validate: true, tsPreCompilationDeps: true, doNotFollow: { path: 'node_modules' } });
  const result = out.output as ICruiseResult;
  const errors = result.summary.violations
    .filter((v) => v.rule.severity === 'error')
    .map((v) => `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name).join(' → ')})` : ''}`);
  expect(errors).toEqual([]);
  expect(result.summary.totalCruised).toBeGreaterThan(100);
}, 60_000);

test('every folder and root file of src/ is named by the layer rules', () => {
  const named = (layers as string[]).flatMap((l) => l.replace(/[()]/g, '').split('|'));
  const unnamed = readdirSync(SRC, { withFileTypes: true })
    .filter((e) => (e.isDirectory() ? !named.includes(e.name) : !(rootFiles as string[]).includes(e.name)))
    .map((e) => e.name);
  expect(unnamed).toEqual([]);
});
