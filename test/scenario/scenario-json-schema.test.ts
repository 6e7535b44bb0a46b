/**
 * The JSON Schema editors use for scenario files (scenarios/scenario.schema.json) is the validator's own schema
 * (src/scenario/scenario-schema.ts) written out by `npm run schema`: the committed file must be exactly what the
 * script writes, every built-in scenario must point at it and satisfy it, and each kind of shape mistake must be
 * caught — by the JSON Schema an editor applies and by irqpath itself, with the same field.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BUILT_IN_SCENARIO_FILES } from '../../src/scenario/built-in-scenario-files.ts';
import { shapeProblems } from '../../src/scenario/scenario-schema.ts';
import { SCHEMA_FILE, scenarioJsonSchemaText } from '../../scripts/scenario-schema.ts';

type Json = { [k: string]: Json } | Json[] | string | number | boolean | null;
type Schema = { [k: string]: Json };

/**
 * The JSON Schema draft-07 keywords scenario.schema.json uses, checked as the draft defines them (json-schema.org,
 * "JSON Schema Validation", draft-07, §6): enough to run the schema over documents without a validator package.
 * Returns the paths that fail; a keyword it does not know fails the test rather than passing silently.
 */
function violations(schema: Schema, value: Json, path = ''): string[] {
  const out: string[] = [];
  const isObj = (x: Json): x is { [k: string]: Json } => typeof x === 'object' && x !== null && !Array.isArray(x);
  for (const [key, rule] of Object.entries(schema)) {
    switch (key) {
      case '$schema': case 'title': case 'description': break;
      case 'type': {
        const ok = rule === 'object' ? isObj(value) : rule === 'array' ? Array.isArray(value) : rule === 'integer' ? Number.isInteger(value) : rule === 'null' ? value === null : typeof value === rule;
        if (!ok) return [`${path}: type ${String(rule)}`];
        break;
      }
      case 'enum': if (!(rule as Json[]).includes(value)) out.push(`${path}: enum`); break;
      case 'const': if (value !== rule) out.push(`${path}: const`); break;
      case 'minLength': if (typeof value === 'string' && value.length < (rule as number)) out.push(`${path}: minLength`); break;
      case 'minItems': if (Array.isArray(value) && value.length < (rule as number)) out.push(`${path}: minItems`); break;
      case 'minimum': if (typeof value === 'number' && value < (rule as number)) out.push(`${path}: minimum`); break;
      case 'maximum': if (typeof value === 'number' && value > (rule as number)) out.push(`${path}: maximum`); break;
      case 'pattern': if (typeof value === 'string' && !new RegExp(rule as string, 'u').test(value)) out.push(`${path}: pattern`); break;
      case 'anyOf': if (!(rule as Schema[]).some((s) => violations(s, value, path).length === 0)) out.push(`${path}: anyOf`); break;
      case 'oneOf': if ((rule as Schema[]).filter((s) => violations(s, value, path).length === 0).length !== 1) out.push(`${path}: oneOf`); break;
      // Only references into this document's own $defs (JSON Schema 2020-12 Core §8.2.3.1, §8.2.4).
      case '$ref': out.push(...violations(definition(rule as string), value, path)); break;
      case '$defs': break;
      case 'items': if (Array.isArray(value)) value.forEach((x, i) => out.push(...violations(rule as Schema, x, `${path}[${i}]`))); break;
      case 'required': if (isObj(value)) for (const k of rule as string[]) if (!(k in value)) out.push(`${path}.${k}: required`); break;
      case 'properties': if (isObj(value)) for (const [k, s] of Object.entries(rule as Schema)) if (k in value) out.push(...violations(s as Schema, value[k], `${path}.${k}`)); break;
      case 'propertyNames': break; // always { type: string }: YAML mapping keys read as strings
      case 'additionalProperties':
        if (isObj(value)) {
          const known = isObj(schema.properties ?? null) ? Object.keys(schema.properties as Schema) : [];
          for (const [k, x] of Object.entries(value)) {
            if (known.includes(k)) continue;
            if (rule === false) out.push(`${path}.${k}: additionalProperties`);
            else out.push(...violations(rule as Schema, x, `${path}.${k}`));
          }
        }
        break;
      default: throw new Error(`JSON Schema keyword ${key} at ${path} is not checked by this test`);
    }
  }
  return out;
}

const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Schema;

function definition(ref: string): Schema {
  const name = /^#\/\$defs\/([\w-]+)$/.exec(ref)?.[1];
  const found = name === undefined ? undefined : (schema.$defs as Schema | undefined)?.[name];
  if (found === undefined) throw new Error(`$ref ${ref} does not name a definition of the schema`);
  return found as Schema;
}

/** A scenario with every block set, correct; each case below breaks one thing. */
const GOOD = `title: t
machine: { cpus: 4, devices: [{ bdf: '00:03.0', msix: { entries: 2 } }] }
guest: { os: linux }
sources:
  - { id: a, kind: msix, device: '00:03.0', vector: 0, cpu: 1, steps: [signal] }
dma:
  - { id: buf, device: '00:03.0', iova: 0x100000, map: ro }
expect:
  verdict: fixed
  sources: { a: { fault: { unit: intel-vtd, code: 0x25 } } }
  dma: { buf: memory }
  vmm: { faults: 1 }
variants:
  - { name: v1, guest: { os: windows } }
`;

describe('scenarios/scenario.schema.json', () => {
  it('is exactly what `npm run schema` writes from the validator\'s schema', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(scenarioJsonSchemaText());
  });

  it.each(BUILT_IN_SCENARIO_FILES.map((f) => [f.name, f.text]))('%s points at the schema and satisfies it', (_name, text) => {
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=./scenario.schema.json');
    const doc = parse(text) as Json;
    expect(violations(schema, doc)).toEqual([]);
    expect(shapeProblems(doc)).toEqual([]);
  });

  it('accepts the complete example', () => {
    expect(violations(schema, parse(GOOD) as Json)).toEqual([]);
    expect(shapeProblems(parse(GOOD))).toEqual([]);
  });

  it('accepts an empty hypervisor block (YAML null), as the machine does', () => {
    const doc = parse(GOOD.replace('cpus: 4,', 'cpus: 4, hypervisor: ~,')) as Json;
    expect(violations(schema, doc)).toEqual([]);
    expect(shapeProblems(doc)).toEqual([]);
  });

  // Each class of shape mistake: the JSON Schema flags the field (an editor underlines it) and irqpath names it.
  it.each([
    ['a missing required field', GOOD.replace('title: t\n', ''), '.title', 'title'],
    ['an unknown field', GOOD + 'extra: 1\n', '.extra', 'extra'],
    ['a wrong type', GOOD.replace('{ os: linux }', 'linux'), '.guest', 'guest'],
    ['a value outside an enumeration', GOOD.replace('kind: msix', 'kind: msx'), '.sources[0].kind', 'sources[0].kind'],
    ['an integer out of range', GOOD.replace('cpu: 1,', 'cpu: 40000,'), '.sources[0].cpu', 'sources[0].cpu'],
    ['a step that is not one', GOOD.replace('[signal]', '[jump]'), '.sources[0].steps[0]', 'sources[0].steps[0]'],
    ['an empty list', GOOD.replace(/sources:\n {2}- .*\n/, 'sources: []\n'), '.sources', 'sources'],
    ['an unknown expectation', GOOD.replace('{ fault: { unit: intel-vtd, code: 0x25 } }', 'arrives'), '.expect.sources.a', 'expect.sources.a'],
    ['a bad field inside an expectation', GOOD.replace('unit: intel-vtd', 'unit: intel'), '.expect.sources.a', 'expect.sources.a.fault.unit'],
    ['an unknown VMM counter', GOOD.replace('faults: 1', 'fault: 1'), '.expect.vmm.fault', 'expect.vmm.fault'],
    ['a variant name with spaces', GOOD.replace('name: v1', 'name: v 1'), '.variants[0].name', 'variants[0].name'],
    ['a machine field out of range', GOOD.replace('cpus: 4', 'cpus: 0'), '.machine.cpus', 'machine.cpus'],
    ['an unknown machine field', GOOD.replace('cpus: 4,', 'cpus: 4, cpuz: 4,'), '.machine.cpuz', 'machine.cpuz'],
    ['a field of the other IOMMU kind', GOOD.replace('cpus: 4,', 'cpus: 4, iommu: { kind: amd, awBits: 48 },'), '.machine.iommu', 'machine.iommu.awBits'],
    ['a bad device field', GOOD.replace('entries: 2', 'entries: 0'), '.machine.devices[0].msix.entries', 'machine.devices[0].msix.entries'],
    ['a hypervisor block that is neither a mapping nor empty', GOOD.replace('cpus: 4,', 'cpus: 4, hypervisor: yes,'), '.machine.hypervisor', 'machine.hypervisor'],
  ])('catches %s', (_what, text, jsonPath, field) => {
    const doc = parse(text) as Json;
    expect(violations(schema, doc).some((v) => v.startsWith(jsonPath))).toBe(true);
    expect(shapeProblems(doc).map((p) => p.field)).toEqual([field]);
  });
});
