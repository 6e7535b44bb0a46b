/** Two-machine scenario files: validated on load like single-machine ones, errors naming the field. */
import { describe, expect, it } from 'vitest';
import { parseScenario, ScenarioError } from '../../src/scenario/scenario-file.ts';

const SYSTEM = `system:
  host: { cpus: 2, iommu: { kind: intel }, devices: [{ bdf: '02:00.0', msi: { vectors: 1 } }] }
  guest: { cpus: 2, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] }
  vmm: { profile: hardware }
guest: { os: linux }
`;

function errorOf(text: string): string {
  try {
    parseScenario(`title: t\n${text}`, 'x.yaml');
  } catch (e) {
    if (e instanceof ScenarioError) return e.field;
    throw e;
  }
  return '(accepted)';
}

describe('two-machine scenario files', () => {
  it('accept a system with the guest OS on the guest machine, sources on its assigned device', () => {
    const [s] = parseScenario(`title: t\n${SYSTEM}sources: [{ id: a, kind: msi, device: '00:05.0', cpu: 1 }]\nexpect: { verdict: fixed, sources: { a: intended }, vmm: { translations: 1 } }\n`, 'x.yaml');
    expect(s.system!.vmm.profile).toBe('hardware');
    expect(s.machine.devices!.map((d) => d.bdf)).toEqual(['00:05.0']);
    expect(s.expect.vmm).toEqual({ translations: 1 });
  });

  it.each([
    ['a system field createSystem refuses', SYSTEM.replace('profile: hardware', 'profile: xen'), 'sources: [{ id: a, kind: msi, device: "00:05.0", cpu: 0 }]\nexpect: { verdict: fixed, sources: { a: intended } }', 'system.vmm.profile'],
    ['both machine and system', `machine: { cpus: 1 }\n${SYSTEM}`, 'sources: [{ id: a, kind: msi, device: "00:05.0", cpu: 0 }]\nexpect: { verdict: fixed, sources: { a: intended } }', 'system'],
    ['an unknown VMM counter', SYSTEM, 'sources: [{ id: a, kind: msi, device: "00:05.0", cpu: 0 }]\nexpect: { verdict: fixed, sources: { a: intended }, vmm: { exits: 1 } }', 'expect.vmm.exits'],
    ['embedded on a device without an embedded controller', SYSTEM, 'sources: [{ id: a, kind: msi, device: "00:05.0", cpu: 0, embedded: true }]\nexpect: { verdict: fixed, sources: { a: intended } }', 'sources[0].embedded'],
    ['a guest CPU the guest machine lacks', SYSTEM, 'sources: [{ id: a, kind: msi, device: "00:05.0", cpu: 2 }]\nexpect: { verdict: fixed, sources: { a: intended } }', 'sources[0].cpu'],
  ])('refuse %s', (_what, head, rest, field) => {
    expect(errorOf(`${head}${rest}\n`)).toBe(field);
  });

  it('refuse an ims source on a device without an IMS table', () => {
    expect(errorOf(`${SYSTEM}sources: [{ id: a, kind: ims, device: '00:05.0', cpu: 0 }]\nexpect: { verdict: fixed, sources: { a: intended } }\n`)).toBe('sources[0].kind');
  });

  it('refuse a system step in a single-machine scenario', () => {
    const text = `machine: { cpus: 2, devices: [{ bdf: '00:05.0', msi: { vectors: 1 } }] }\nguest: { os: linux }\nsources: [{ id: a, kind: msi, device: '00:05.0', cpu: 0, steps: [deschedule, signal] }]\nexpect: { verdict: fixed, sources: { a: intended } }\n`;
    expect(errorOf(text)).toBe('sources[0].steps[0]');
  });
});
