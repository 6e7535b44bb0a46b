// Plain Node ESM: the package must load without tsx or any TypeScript support.
import assert from 'node:assert/strict';
import { builtInScenarios, ConfigError, createMachine, parseBdf } from 'irqpath';
import { expectVerdict, runScenarios } from 'irqpath/testing';

const machine = createMachine({ cpus: 4, devices: [{ bdf: '00:03.0', msix: { entries: 2 } }] });
assert.equal(machine.config.cpus, 4);
assert.throws(() => createMachine({ cpus: 0 }), ConfigError);
// bus 0, device 3, function 0 → requester ID 0x18 (PCI: bus 15:8, device 7:3, function 2:0)
assert.equal(parseBdf('00:03.0'), 0x18);
// The built-in scenarios ship inside the compiled package.
assert.ok(builtInScenarios().some((s) => s.id === '05-windows-amd-cpu-intel-ir-only'));
const [base, fixedWindows] = runScenarios('05');
expectVerdict(base, 'REPRODUCED');
expectVerdict(fixedWindows, 'FIXED');
console.log('irqpath and irqpath/testing load and run from plain node');
