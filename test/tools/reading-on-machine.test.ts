/**
 * Which reading counts on a machine: the translation core's decision for a routed message, turned into the one
 * explainValue reading that applies. Expected readings are worked out from the specifications, not from the code.
 */
import { describe, expect, it } from 'vitest';
import { explainValue } from '../../src/tools/explain-value.ts';
import { routeMessage, routeRte, type MessageRouteSetup } from '../../src/tools/message-route.ts';
import { appliedReading, explanationOnMachine } from '../../src/tools/reading-on-machine.ts';
import { builtInScenarios } from '../../src/scenario/scenario-library.ts';
import type { InterruptRequest } from '../../src/guest/guest-os.ts';

function scenarioSetup(prefix: string): MessageRouteSetup {
  const s = builtInScenarios().find((x) => x.variant === null && x.id.startsWith(prefix))!;
  return { machine: s.machine, guest: s.guest, sources: s.sources.filter((x) => x.kind !== 'ims') as InterruptRequest[] };
}

const bare = (cpus: number, ext = false): MessageRouteSetup => ({
  machine: { cpus, cpuVendor: 'intel', devices: [{ bdf: '00:03.0', msix: { entries: 4 } }], ...(ext ? { hypervisor: { extDestId: true } } : {}) },
  guest: { os: 'linux' },
  sources: [],
});

describe('appliedReading', () => {
  it('the 15-bit extended destination ID when the hypervisor offers it: addr[11:5] = 1 is APIC ID 0x100', () => {
    const route = routeMessage(bare(300, true), '00:03.0', 0xfee00020n, 0x41);
    expect(route.outcomes).toEqual(['delivered to CPU 256 (APIC 0x100) vector 0x41']);
    expect(appliedReading('msi', 0xfee00020n, route.decision)).toBe('extDestId');
  });

  it('compatibility format on a machine without an IOMMU or extension (SDM 10.11.1)', () => {
    const route = routeMessage(bare(4), '00:03.0', 0xfee01000n, 0x4031);
    expect(route.decision?.kind).toBe('deliver');
    expect(appliedReading('msi', 0xfee01000n, route.decision)).toBe('compat');
  });

  it('compatibility format, refused, under VT-d with EIME = 1 (fault reason 0x25, VT-d §5.1.4.1)', () => {
    const route = routeMessage(scenarioSetup('05'), '00:04.0', 0xfee00000n, 0x1);
    expect(route.decision?.fault?.code).toBe(0x25);
    expect(appliedReading('msi', 0xfee00000n, route.decision)).toBe('compat');
  });

  it('Intel remappable when addr[4] = 1 reaches VT-d, delivered or faulted', () => {
    const route = routeMessage(scenarioSetup('05'), '00:04.0', 0xfee00578n, 0);
    expect(['deliver', 'fault']).toContain(route.decision?.kind);
    expect(appliedReading('msi', 0xfee00578n, route.decision)).toBe('intelRemappable');
  });

  it('no reading when address bits 63:32 make the write miss the APIC (plain memory on bare metal)', () => {
    const route = routeMessage(bare(4), '00:03.0', 0x1_fee0_0000n, 0x31);
    expect(route.decision?.kind).toBe('memory');
    expect(appliedReading('msi', 0x1_fee0_0000n, route.decision)).toBeNull();
  });

  it('an RTE without the format bit under VT-d x2APIC-mode remapping: the compatibility RTE, blocked', () => {
    const rte = 0x0100000000000031n;
    const route = routeRte(scenarioSetup('03'), 4, rte);
    expect(route.decision?.fault?.code).toBe(0x25);
    expect(appliedReading('rte', rte, route.decision)).toBe('compat');
  });
});

describe('explanationOnMachine', () => {
  it('marks exactly the applied reading as applying, and says why the others do not', () => {
    const e = explainValue('msi', 0xfee00020n, 0x41);
    const on = explanationOnMachine(e, 'extDestId', 'this machine');
    expect(on.readings.filter((r) => r.applies === true).map((r) => r.format)).toEqual(['extDestId']);
    expect(on.readings.filter((r) => r.applies !== true).every((r) => r.applies === false && r.why === 'not on this machine: it read it as 15-bit extended destination ID')).toBe(true);
  });

  it('marks none for a memory write', () => {
    const on = explanationOnMachine(explainValue('msi', 0x1_fee0_0000n, 0x31), null, 'this machine');
    expect(on.readings.some((r) => r.applies === true)).toBe(false);
  });
});
