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

// What the library API's examples use (docs/library-api.md): handles, one address type, the vector helper, createGuest
// typed by its os, and the result types, all from 'irqpath' itself.
import {
  createGuest, fireVector, type Address, type Cpu, type Device, type GuestSpec, type InterruptLostEvent, type LinuxGuest,
  type ScenarioResult as LibraryScenarioResult, type WindowsGuest,
} from 'irqpath';

const m4 = createMachine({ cpus: 4, devices: [{ bdf: '00:03.0', msix: { entries: 2 } }] });
export const device: Device = m4.device('00:03.0');
export const cpu0: Cpu = m4.cpu(0);
export const window: Address = 0xfee00000n;
export const linux: LinuxGuest = createGuest(m4, { os: 'linux' });
export const windows: WindowsGuest = createGuest(createMachine({ cpus: 2 }), { os: 'windows' });
export const sent: { addr: bigint; data: number } = fireVector(m4, '00:03.0', 'msix', 1, { addr: 0xfee01000n, data: 0x31 });
export const iova: bigint = linux.mapDma('00:03.0', 0x10000, { read: true, write: true }).iova;
m4.events.on('interrupt_lost', (e: InterruptLostEvent) => e.refusals?.map((r) => `${r.cpu}: ${r.why}`));
export const spec: GuestSpec | null = null;
export const same: LibraryScenarioResult[] = results;
// @ts-expect-error a LinuxGuest is not a WindowsGuest
export const wrong: WindowsGuest = createGuest(m4, { os: 'linux' });
