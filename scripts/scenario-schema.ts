/**
 * Writes scenarios/scenario.schema.json, the JSON Schema of scenario files, from the valibot declaration the
 * validator uses (src/scenario/scenario-schema.ts), so editors check and complete scenario files with the same rules
 * `irqpath run` applies to their shape. Built-in scenarios point at it with a first line
 * `# yaml-language-server: $schema=./scenario.schema.json`. test/scenario/scenario-json-schema.test.ts fails when
 * the committed file and this output drift apart.
 *
 *   npm run schema
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toJsonSchema } from '@valibot/to-json-schema';
import { ScenarioFileSchema } from '../src/scenario/scenario-schema.ts';
import { DeviceOptionsSchema, IommuOptionsSchema } from '../src/machine/config-schema.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SCHEMA_FILE = join(root, 'scenarios/scenario.schema.json');

/**
 * The schema text. Checks JSON Schema cannot state (a hex integer's range, a PCI address's device number) are left to
 * irqpath's own validation. A device and an IOMMU, which the machine block and a system's host and guest all have,
 * are stated once under `definitions`.
 */
export function scenarioJsonSchemaText(): string {
  const schema = toJsonSchema(ScenarioFileSchema, { errorMode: 'ignore', definitions: { device: DeviceOptionsSchema, iommu: IommuOptionsSchema } });
  return JSON.stringify({ ...schema, title: 'irqpath scenario file', description: 'A machine, a guest OS, interrupt sources and the expected outcome; see docs/scenario-format.md.' }, null, 2) + '\n';
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(SCHEMA_FILE, scenarioJsonSchemaText());
  console.log(`wrote ${SCHEMA_FILE}`);
}
