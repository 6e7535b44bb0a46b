/**
 * Finding scenarios: the built-in library in `scenarios/` at the package root, selected by file name prefix
 * ("05", "05-windows-amd-cpu-intel-iommu"), by "all", or by a path to any YAML file.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../core/errors.ts';
import { loadScenarioFile, type Scenario } from './scenario-file.ts';

export const SCENARIO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../scenarios');

export function builtInScenarioFiles(dir = SCENARIO_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** Resolve command-line selectors to scenario files. Throws UsageError naming a selector that matches nothing. */
export function selectScenarioFiles(selectors: string[], dir = SCENARIO_DIR): string[] {
  const all = builtInScenarioFiles(dir);
  if (selectors.length === 0 || selectors.includes('all')) return all;
  const out: string[] = [];
  for (const sel of selectors) {
    if (/\.ya?ml$/.test(sel) && existsSync(sel)) {
      out.push(resolve(sel));
      continue;
    }
    const matches = all.filter((f) => {
      const name = f.slice(f.lastIndexOf('/') + 1).replace(/\.ya?ml$/, '');
      return name === sel || name.startsWith(sel + '-') || name.startsWith(sel);
    });
    if (matches.length === 0) {
      const names = all.map((f) => f.slice(f.lastIndexOf('/') + 1).replace(/\.ya?ml$/, ''));
      throw new UsageError(`no scenario matches "${sel}" (built-in: ${names.join(', ')}; or give a path to a .yaml file)`);
    }
    out.push(...matches);
  }
  return [...new Set(out)];
}

export function loadScenarios(files: string[]): Scenario[] {
  return files.flatMap((f) => loadScenarioFile(f));
}
