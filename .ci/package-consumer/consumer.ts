// Type-checked, never run: the public types must be real (not `any`) under strict settings.
import { ConfigError, createMachine, type Machine, type MachineConfig, type ScenarioError } from 'irqpath';
import { expectDelivered, runScenarioYaml, type ScenarioResult, type Verdict } from 'irqpath/testing';

const config: MachineConfig = {
  cpus: 300,
  cpuVendor: 'intel',
  hypervisor: { extDestId: true },
  devices: [{ bdf: '00:03.0', name: 'nvme', msix: { entries: 4 } }],
  iommu: { kind: 'intel', dmaTranslation: false },
};
export const machine: Machine = createMachine(config);
export const cpuCount: number = machine.config.cpus;

// @ts-expect-error cpus is a number
createMachine({ cpus: 'four' });
// @ts-expect-error there is no ARM IOMMU
createMachine({ cpus: 4, iommu: { kind: 'arm' } });

export function fieldOf(e: unknown): string | null {
  return e instanceof ConfigError ? e.field : null;
}
export type LoadError = ScenarioError;

const results: ScenarioResult[] = runScenarioYaml('title: t');
export const verdict: Verdict = results[0].verdict;
expectDelivered(results[0], 'nvme-q1', { cpu: 299 });
// @ts-expect-error the CPU is required
expectDelivered(results[0], 'nvme-q1', {});
