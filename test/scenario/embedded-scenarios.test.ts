/**
 * The built-in scenarios the library carries (src/scenario/built-in-scenario-files.ts) are exactly the files in
 * scenarios/: an edited or added YAML file that was not re-embedded fails here with the command that fixes it.
 */
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { EMBEDDED_MODULE, embeddedScenarioModule } from '../../scripts/embed-scenarios.ts';

test('built-in-scenario-files.ts matches scenarios/*.yaml (else run `npm run embed-scenarios`)', () => {
  const committed = readFileSync(EMBEDDED_MODULE, 'utf8');
  expect(committed === embeddedScenarioModule(), 'scenarios/*.yaml changed: run `npm run embed-scenarios`').toBe(true);
});
