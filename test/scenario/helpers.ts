/** Shared set-up of the scenario-file tests. */
import { parseScenario, ScenarioError } from '../../src/scenario/scenario-file.ts';

/** The ScenarioError `text` (as a file named x.yaml) is rejected with; fails the test when it is accepted. */
export function scenarioErrorOf(text: string): ScenarioError {
  try {
    parseScenario(text, 'x.yaml');
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw e;
  }
  throw new Error('accepted');
}
