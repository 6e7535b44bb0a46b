import { describe, expect, it } from 'vitest';
import { bootGuest, deliveriesOf, expectDelivered, expectFault, expectMemoryWrite, expectVerdict, runScenarioYaml, runScenarios } from '../../src/testing.ts';

const YAML = `
title: pin routing for our VMM
machine:
  cpus: 300
  hypervisor: { extDestId: true }
  devices: [{ bdf: '00:03.0', msix: { entries: 2 } }]
guest: { os: linux }
sources:
  - { id: q1, kind: msix, device: '00:03.0', vector: 1, cpu: 299 }
expect:
  verdict: fixed
  sources: { q1: intended }
`;

describe('regression-test helpers', () => {
  it('run an inline scenario and assert where a source went', () => {
    const [run] = runScenarioYaml(YAML);
    expectVerdict(run, 'FIXED');
    expectDelivered(run, 'q1', { cpu: 299 });
    expect(deliveriesOf(run, 'q1')).toEqual([{ cpu: 299, apicId: 299, vector: run.sources[0].programmed.vector }]);
  });

  it('explain a failed assertion with what the guest programmed and what happened', () => {
    const [run] = runScenarioYaml(YAML);
    expect(() => expectDelivered(run, 'q1', { cpu: 3 })).toThrow(/expected 1× delivery to CPU 3 .*the guest programmed ext-dest-id addr 0xfee2b020/);
    expect(() => expectFault(run, 'q1', { unit: 'intel-vtd', code: 0x25 })).toThrow(/expected intel-vtd fault 0x25/);
    expect(() => expectDelivered(run, 'nope', { cpu: 1 })).toThrow(/no source "nope"/);
  });

  it('run built-in scenarios by prefix', () => {
    const [base] = runScenarios('05');
    expectFault(base, 'nic', { unit: 'intel-vtd', code: 0x25 });
    const [noIommu] = runScenarios('07');
    expect(expectMemoryWrite(noIommu, 'nic').addr).toBeGreaterThan(0xffffffffn);
  });

  it('boot a guest for tests that drive the machine themselves', () => {
    const { machine, guest } = bootGuest({ cpus: 4 }, { os: 'linux' });
    expect(guest.onlineCpus()).toEqual([0, 1, 2, 3]);
    expect(machine.cpu(3).runState).toBe('running');
  });
});
