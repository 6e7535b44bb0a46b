// Someone else's regression test, pinning routing behaviour with irqpath/testing.
import { describe, expect, it } from 'vitest';
import { deliveriesOf, expectDelivered, expectFault, expectVerdict, runScenarioYaml, runScenarios } from 'irqpath/testing';

const SCENARIO = `
title: Linux, 300 vCPUs, 15-bit extended destination ID
machine:
  cpus: 300
  hypervisor: { extDestId: true }
  devices: [{ bdf: '00:03.0', msix: { entries: 2 } }]
guest: { os: linux }
sources:
  - { id: nvme-q1, kind: msix, device: '00:03.0', vector: 1, cpu: 299 }
expect:
  verdict: fixed
  sources: { nvme-q1: intended }
`;

describe('interrupt routing pinned with irqpath/testing', () => {
  it('an MSI-X aimed at CPU 299 arrives there once with the 15-bit extension', () => {
    const [run] = runScenarioYaml(SCENARIO);
    expectVerdict(run, 'FIXED');
    expectDelivered(run, 'nvme-q1', { cpu: 299 });
    expect(deliveriesOf(run, 'nvme-q1')).toHaveLength(1);
  });

  it('Windows on an AMD CPU with an Intel IR-only IOMMU is blocked with VT-d fault 0x25', () => {
    const [run] = runScenarios('05');
    expectFault(run, 'nvme-q0', { unit: 'intel-vtd', code: 0x25 });
  });
});
