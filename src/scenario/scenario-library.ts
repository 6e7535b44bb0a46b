/**
 * Finding scenarios: the built-in library (scenarios/*.yaml, embedded in built-in-scenario-files.ts so it needs no
 * file system), selected by file name prefix ("05", "05-windows-amd-cpu-intel-ir-only"), by "all", or by a path to
 * any YAML file, which the caller reads (the CLI with node:fs; a web page has no paths).
 */
import { UsageError } from '../core/errors.ts';
import { BUILT_IN_SCENARIO_FILES } from './built-in-scenario-files.ts';
import { parseScenario, scenarioFileId, type Scenario } from './scenario-file.ts';

/** One scenario file's text and the name errors call it by ("scenarios/05-….yaml", or the path the user gave). */
export interface ScenarioText {
  name: string;
  text: string;
}

const YAML_RE = /\.ya?ml$/;

/** The built-in scenario files, in name order. */
export function builtInScenarioTexts(): ScenarioText[] {
  return BUILT_IN_SCENARIO_FILES.map((f) => ({ name: `scenarios/${f.name}`, text: f.text }));
}

/**
 * Resolve selectors to scenario texts. A selector ending in .yaml/.yml is first offered to `readFile` (which returns
 * null when there is no such file); anything else names built-in scenarios by name or prefix. Throws a UsageError
 * naming a selector that matches nothing.
 */
export function selectScenarioTexts(selectors: string[], readFile?: (path: string) => string | null): ScenarioText[] {
  const all = builtInScenarioTexts();
  if (selectors.length === 0 || selectors.includes('all')) return all;
  const out: ScenarioText[] = [];
  for (const sel of selectors) {
    const text = YAML_RE.test(sel) && readFile ? readFile(sel) : null;
    if (text !== null) {
      out.push({ name: sel, text });
      continue;
    }
    const matches = all.filter((f) => {
      const id = scenarioFileId(f.name);
      return id === sel || id.startsWith(sel);
    });
    if (matches.length === 0 && YAML_RE.test(sel) && readFile) {
      // A path the user typed: say the file is missing rather than list built-in names it was never meant to match.
      throw new UsageError(`${sel}: no such scenario file`);
    }
    if (matches.length === 0) {
      throw new UsageError(`no scenario matches "${sel}" (built-in: ${all.map((f) => scenarioFileId(f.name)).join(', ')}; or give a path to a .yaml file)`);
    }
    out.push(...matches);
  }
  return [...new Set(out)];
}

/** Parse and validate scenario texts: each file's base scenario followed by its variants. */
export function loadScenarios(texts: ScenarioText[]): Scenario[] {
  return texts.flatMap((t) => parseScenario(t.text, t.name));
}

/** Every built-in scenario and variant, parsed. */
export function builtInScenarios(): Scenario[] {
  return loadScenarios(builtInScenarioTexts());
}
