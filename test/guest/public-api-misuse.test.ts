/**
 * Entry points the stress campaign's junk test does not reach. The library API documentation (docs/library-api.md) promises that the public
 * API throws only the classes `irqpath` exports (ConfigError, UsageError, GeneralProtectionFault, ScenarioError);
 * each call below used to leak a TypeError or print a malformed address.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { createGuest } from '../../src/guest/create-guest.ts';
import { matrixCells, renderMatrix, runMatrix, runMatrixCells } from '../../src/scenario/matrix.ts';
import { mermaidForFlow, perfettoTrace } from '../../src/machine/trace.ts';
import { runScenarios, runScenarioYaml } from '../../src/testing.ts';
import { createMachine, type Machine } from '../../src/machine/machine.ts';

const usage = (fn: () => unknown, message: RegExp): void => {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(UsageError);
  expect((thrown as Error).message).toMatch(message);
};

describe('public API misuse raises UsageError naming the argument', () => {
  it('m.memory with a negative bigint address shows it as -0x1, not 0x-1', () => {
    const m = createMachine({ cpus: 1 });
    usage(() => m.memory.read32(-1n), /physical address -0x1 \(4 bytes\) is outside the 52-bit/);
  });

  it('m.cpu with something that is not a CPU index (a string used to index the CPU array: cpu("length") returned a number)', () => {
    const m = createMachine({ cpus: 2 });
    usage(() => m.cpu('length' as unknown as number), /cpu\("length"\): this machine has CPUs 0\.\.1/);
    usage(() => m.cpu('1' as unknown as number), /cpu\("1"\): this machine has CPUs 0\.\.1/);
    expect(m.cpu(1).index).toBe(1);
  });

  it('m.ioapic.setLine with a level that is not a boolean', () => {
    const m = createMachine({ cpus: 1 });
    usage(() => m.ioapic.setLine(0, 'x' as unknown as boolean), /ioapic\.setLine: level must be true or false, got "x"/);
  });

  it('m.changesDuring with something that is not a function', () => {
    const m = createMachine({ cpus: 1 });
    usage(() => m.changesDuring(5 as unknown as () => void), /changesDuring: expected a function, got 5/);
  });

  it('createGuest on something that is not a machine from createMachine', () => {
    usage(() => createGuest(null as unknown as Machine, { os: 'linux' }), /createGuest: expected a machine from createMachine\(\), got null/);
    usage(() => createGuest({} as unknown as Machine, { os: 'windows' }), /createGuest: expected a machine/);
  });

  it('runMatrix / matrixCells with a missing or wrong axis name the axis and the allowed values', () => {
    usage(() => runMatrix({ cpus: [64] } as never), /matrix axes\.guests: expected a list of "linux", "windows"/);
    usage(() => matrixCells({ guests: ['bsd'] } as never), /matrix axes\.guests\[0\]: "bsd" is not one of "linux", "windows"/);
    usage(() => matrixCells({ guests: ['linux'], vendors: ['intel'], iommus: ['none'], extension: [false], workarounds: ['no'], cpus: [64] } as never),
      /matrix axes\.workarounds\[0\]: "no" is not one of true, false/);
    usage(() => matrixCells({ guests: ['linux'], vendors: ['intel'], iommus: ['none'], extension: [false], workarounds: [false], cpus: [0] }),
      /matrix axes\.cpus\[0\]: must be an integer from 1 to 32768, got 0/);
    // A correct grid still spans every combination (2 × 1 × 1 × 1 × 1 × 2 cells).
    expect(matrixCells({ guests: ['linux', 'windows'], vendors: ['amd'], iommus: ['amd'], extension: [true], workarounds: [false], cpus: [64, 300] })).toHaveLength(4);
  });

  it('runMatrixCells checks each cell (a junk cell used to run and come back as a result), renderMatrix its list', () => {
    usage(() => runMatrixCells([{}] as never), /matrix cells\[0\]\.guest: undefined is not one of "linux", "windows"/);
    usage(() => runMatrixCells([{ guest: 'linux', vendor: 'intel', iommu: 'none', extension: false, workarounds: false, cpus: 70000 }]),
      /matrix cells\[0\]\.cpus: must be an integer from 1 to 32768, got 70000/);
    usage(() => runMatrixCells('cells' as never), /matrix cells: expected a list of cells/);
    usage(() => renderMatrix(5 as never), /renderMatrix: expected the cells runMatrix returned, got 5/);
  });

  it('mermaidForFlow, perfettoTrace and runScenarioYaml with the wrong kind of argument', () => {
    usage(() => mermaidForFlow(null as never), /mermaidForFlow: expected the hops of one interrupt/);
    usage(() => perfettoTrace([], 5 as never), /perfettoTrace: argument 2 must be a list of trace hops/);
    usage(() => runScenarioYaml(5 as never), /runScenarioYaml: expected the scenario as a YAML string, got 5/);
    expect(perfettoTrace([]).traceEvents.every((e) => e.ph === 'M')).toBe(true);
  });

  it('runScenarios with a .yaml path that does not exist says the file is missing (it used to list the built-in names)', () => {
    usage(() => runScenarios('/nonexistent/my-vmm.yaml'), /^\/nonexistent\/my-vmm\.yaml: no such scenario file$/);
    usage(() => runScenarios('nope'), /^no scenario matches "nope" \(built-in: 01-/);
  });
});
