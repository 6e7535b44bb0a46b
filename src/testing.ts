/**
 * Regression-test helpers for VMM and guest-kernel developers: pin interrupt routing behaviour in your own vitest
 * (or any) test suite. Every helper throws an Error whose message explains what was expected and what happened
 * (programmed message, deliveries, faults), so a failing assertion reads like a bug report.
 *
 *   import { runScenarioYaml, expectDelivered } from 'irqpath/testing';
 *   const [run] = runScenarioYaml(`...`);
 *   expectDelivered(run, 'nvme-q1', { cpu: 299 });
 */
import { showValue, UsageError } from './core/errors.ts';
import { createMachine, type Machine } from './machine/machine.ts';
import type { MachineConfig } from './core/config-types.ts';
import { createGuest } from './guest/create-guest.ts';
import type { GuestOs } from './guest/guest-os.ts';
import { runScenario, type ScenarioResult, type SourceResult, type Verdict } from './scenario/run-scenario.ts';
import { parseScenario, type GuestSpec } from './scenario/scenario-file.ts';
// The one Node-side import: runScenarios accepts paths to .yaml files, as the CLI does.
import { loadSelectedScenarios } from './cli/scenario-files.ts';

export type { ScenarioResult, SourceResult, Verdict };

/** Run built-in scenarios by name or prefix ("05"), or scenario files by path. Returns one result per variant. */
export function runScenarios(...selectors: string[]): ScenarioResult[] {
  return loadSelectedScenarios(selectors).map((s) => runScenario(s));
}

/** Run a scenario written inline as YAML (same format as scenarios/*.yaml). */
export function runScenarioYaml(yaml: string, name = 'inline.yaml'): ScenarioResult[] {
  if (typeof yaml !== 'string') throw new UsageError(`runScenarioYaml: expected the scenario as a YAML string, got ${showValue(yaml)}`);
  return parseScenario(yaml, name).map((s) => runScenario(s));
}

/** Build a machine and boot a guest model on it, for tests that drive the machine themselves. */
export function bootGuest(config: MachineConfig, guest: GuestSpec): { machine: Machine; guest: GuestOs } {
  const machine = createMachine(config);
  const os = createGuest(machine, guest);
  os.boot();
  return { machine, guest: os };
}

function source(result: ScenarioResult, id: string): SourceResult {
  if (result.error) throw new Error(`scenario ${result.scenario.id} did not run: ${result.error}`);
  const s = result.sources.find((x) => x.source.id === id);
  if (!s) throw new Error(`scenario ${result.scenario.id} has no source "${id}" (sources: ${result.sources.map((x) => x.source.id).join(', ')})`);
  return s;
}

function explain(s: SourceResult): string {
  const p = s.programmed;
  const msg = p.message ? ` addr 0x${p.message.addr.toString(16)} data 0x${p.message.data.toString(16)}` : '';
  return `source ${s.source.id}: the guest programmed ${p.encoding}${msg} for CPU ${p.cpu} vector 0x${p.vector.toString(16)}${p.note ? ` (${p.note})` : ''}; actual: ${s.actual}`;
}

/** Where a source's interrupts arrived: one entry per delivery. */
export function deliveriesOf(result: ScenarioResult, id: string): { cpu: number; apicId: number; vector: number }[] {
  return source(result, id).observed.deliveries.map(({ cpu, apicId, vector }) => ({ cpu, apicId, vector }));
}

/**
 * Assert that a source was delivered `times` times (default 1) to `cpu`, with `vector` (default: the vector the
 * guest installed its handler at).
 */
export function expectDelivered(result: ScenarioResult, id: string, where: { cpu: number; vector?: number; times?: number }): void {
  const s = source(result, id);
  const vector = where.vector ?? s.programmed.vector;
  const times = where.times ?? 1;
  const d = s.observed.deliveries;
  if (d.length !== times || d.some((x) => x.cpu !== where.cpu || x.vector !== vector)) {
    throw new Error(`expected ${times}× delivery to CPU ${where.cpu} vector 0x${vector.toString(16)}; ${explain(s)}`);
  }
}

/** Assert that a source was refused by an IOMMU (or the hypervisor ABI) with this fault code and not delivered. */
export function expectFault(result: ScenarioResult, id: string, fault: { unit: 'intel-vtd' | 'amd-vi' | 'hypervisor'; code: number }): void {
  const s = source(result, id);
  if (s.observed.deliveries.length > 0 || !s.observed.faults.some((f) => f.unit === fault.unit && f.code === fault.code)) {
    throw new Error(`expected ${fault.unit} fault 0x${fault.code.toString(16)} and no delivery; ${explain(s)}`);
  }
}

/** Assert that a source became a memory write (the message missed the APIC window). */
export function expectMemoryWrite(result: ScenarioResult, id: string): { addr: bigint; data: number } {
  const s = source(result, id);
  if (s.observed.deliveries.length > 0 || s.observed.memoryWrites.length === 0) throw new Error(`expected a memory write and no delivery; ${explain(s)}`);
  return s.observed.memoryWrites[0];
}

/** Assert a run's verdict (REPRODUCED, FIXED or UNEXPECTED), listing every unmet fact when it differs. */
export function expectVerdict(result: ScenarioResult, verdict: Verdict): void {
  if (result.verdict === verdict) return;
  const unmet = [
    ...(result.error ? [`run failed: ${result.error}`] : []),
    ...result.checks.filter((c) => !c.ok).map((c) => `${c.what}: ${c.detail}`),
    ...result.sources.filter((s) => !s.ok).map((s) => `expected ${s.expected}; ${explain(s)}`),
  ];
  throw new Error(`scenario ${result.scenario.id}${result.scenario.variant ? ` [${result.scenario.variant}]` : ''}: expected ${verdict}, got ${result.verdict}\n  ${unmet.join('\n  ')}`);
}
