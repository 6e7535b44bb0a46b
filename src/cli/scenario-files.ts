/**
 * Reading scenario files named on a command line. The library below src/cli takes scenario text, never paths (it
 * runs in a browser too); this is the Node side that turns a path into text.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ScenarioError } from '../scenario/scenario-file.ts';
import { loadScenarios, selectScenarioTexts } from '../scenario/scenario-library.ts';
import type { Scenario } from '../scenario/scenario-file.ts';

/** The file's text, or null when there is no such file (the selector may then name a built-in scenario). */
export function readScenarioFile(path: string): string | null {
  if (!existsSync(path)) return null;
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ScenarioError(path, '', `cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Built-in names/prefixes, "all", or .yaml paths → validated scenarios (base scenarios followed by their variants). */
export function loadSelectedScenarios(selectors: string[]): Scenario[] {
  return loadScenarios(selectScenarioTexts(selectors, readScenarioFile));
}
