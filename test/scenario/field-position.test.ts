/**
 * A scenario error names the line and column of the field it is about (1-based, as editors count), of its nearest
 * enclosing node when the field is missing, and of a variant's own override when the variant set it.
 */
import { describe, expect, it } from 'vitest';
import { scenarioErrorOf as errorOf } from './helpers.ts';
import { positionOfField } from '../../src/scenario/field-position.ts';

// Line numbers are written next to each line; columns count from 1.
const FILE = [
  'title: positions', //                                                  1
  'machine:', //                                                          2
  '  cpus: 4', //                                                         3
  '  devices:', //                                                        4
  "    - { bdf: '00:03.0', msix: { entries: 2 } }", //                    5
  'guest: { os: linux }', //                                              6
  'sources:', //                                                          7
  "  - { id: q0, kind: msix, device: '00:03.0', vector: 5, cpu: 1 }", // 8
  'expect:', //                                                           9
  '  verdict: fixed', //                                                  10
  '  sources: { q0: intended }', //                                       11
  '',
].join('\n');

describe('where a scenario error points', () => {
  it('at the value of the field it names', () => {
    const e = errorOf(FILE);
    expect(e.field).toBe('sources[0].vector');
    // Line 8: "  - { id: q0, kind: msix, device: '00:03.0', vector: 5, cpu: 1 }" — the 5 is the 54th character.
    expect(e.position).toEqual({ line: 8, column: 54 });
    // The message is unchanged: tools that match it keep working.
    expect(e.message).toBe('x.yaml: sources[0].vector: MSI-X vector 5 does not exist: device 00:03.0 has 2 table entries (0–1)');
  });

  it('at a machine field that failed the machine validation', () => {
    const e = errorOf(FILE.replace('cpus: 4', 'cpus: 0').replace('vector: 5', 'vector: 1'));
    expect(e.field).toBe('machine.cpus');
    expect(e.position).toEqual({ line: 3, column: 9 });
  });

  it('at each of the machine problems, all reported at once', () => {
    const e = errorOf(FILE.replace('cpus: 4', 'cpus: 0').replace('entries: 2', 'entries: 0'));
    expect(e.problems.map((p) => [p.field, p.position])).toEqual([
      ['machine.cpus', { line: 3, column: 9 }],
      // Line 5: "    - { bdf: '00:03.0', msix: { entries: 0 } }" — the 0 is the 42nd character.
      ['machine.devices[0].msix.entries', { line: 5, column: 42 }],
    ]);
    expect(e.problems[1].reason).toBe('must be between 1 and 2048, got 0');
  });

  it("at each problem of a variant's merged machine", () => {
    const withVariant = FILE.replace('vector: 5', 'vector: 1') + ['variants:', '  - name: big', '    machine: { cpus: 0, ioapic: { pins: 0 } }', ''].join('\n');
    const e = errorOf(withVariant);
    // Line 14: "    machine: { cpus: 0, ioapic: { pins: 0 } }" — the values are the 22nd and 41st characters.
    expect(e.problems.map((p) => [p.variant, p.field, p.position])).toEqual([
      ['big', 'machine.cpus', { line: 14, column: 22 }],
      ['big', 'machine.ioapic.pins', { line: 14, column: 41 }],
    ]);
  });

  it('at every cross-field problem of the base scenario at once, one per source and expectation block', () => {
    const twoSources = FILE.replace('vector: 5', 'vector: 1').replace(
      "  - { id: q0, kind: msix, device: '00:03.0', vector: 1, cpu: 1 }\n",
      "  - { id: q0, kind: msix, device: '00:03.0', vector: 1, cpu: 1 }\n  - { id: q1, kind: msix, device: '00:03.0', vector: 0, cpu: 1, trigger: level }\n",
    );
    const e = errorOf(twoSources);
    expect(e.problems.map((p) => [p.field, p.reason])).toEqual([
      // An MSI is an edge (PCI Local Bus 3.0 §6.8: a message is a single DWORD write, nothing holds a level).
      ['sources[1].trigger', 'MSIs are always edge-triggered'],
      // q1 is not named under expect.sources (line 12 now).
      ['expect.sources', 'no expectation for source "q1"'],
    ]);
    // Line 9: "  - { id: q1, ... trigger: level }" — "level" starts at the 74th character.
    expect(e.problems[0].position).toEqual({ line: 9, column: 74 });
  });

  it('at the problems of every variant at once', () => {
    const twoVariants = FILE.replace('vector: 5', 'vector: 1') + ['variants:', '  - name: none', '    machine: { cpus: 0 }', '  - name: one', '    sources: { q0: { cpu: 7 } }', ''].join('\n');
    const e = errorOf(twoVariants);
    expect(e.problems.map((p) => [p.variant, p.field])).toEqual([
      ['none', 'machine.cpus'],
      ['one', 'sources[0].cpu'],
    ]);
  });

  it('at the enclosing mapping when the field is missing', () => {
    const e = errorOf(FILE.replace('  verdict: fixed\n', '').replace('vector: 5', 'vector: 1'));
    expect(e.field).toBe('expect.verdict');
    // expect's value is the block mapping that starts on line 10 (after the removal), column 3.
    expect(e.position).toEqual({ line: 10, column: 3 });
  });

  it("at a variant's own override, and at the base scenario for what the variant inherits", () => {
    const withVariant = FILE.replace('vector: 5', 'vector: 1') + ['variants:', '  - name: big', '    machine: { cpus: 0 }', ''].join('\n');
    const e = errorOf(withVariant);
    expect([e.variant, e.field]).toEqual(['big', 'machine.cpus']);
    // Line 14: "    machine: { cpus: 0 }" — the 0 is the 22nd character.
    expect(e.position).toEqual({ line: 14, column: 22 });
    expect(positionOfField(withVariant, 'machine.devices[0].bdf', 'big')).toEqual({ line: 5, column: 14 });
  });

  it('at the syntax error for text that is not YAML', () => {
    const e = errorOf('title: x\nmachine: { cpus: 4\n');
    expect(e.message).toMatch(/^x\.yaml: YAML syntax error: /);
    expect(e.position?.line).toBeGreaterThanOrEqual(2);
  });
});
