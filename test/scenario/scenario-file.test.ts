import { describe, expect, it } from 'vitest';
import { deepMerge, parseScenario, ScenarioError } from '../../src/scenario/scenario-file.ts';
import { scenarioErrorOf as errorOf } from './helpers.ts';

const BASE = `
title: t
machine: { cpus: 4, devices: [{ bdf: '00:03.0', msix: { entries: 2 } }] }
guest: { os: linux }
sources:
  - { id: a, kind: msix, device: '00:03.0', vector: 0, cpu: 1 }
  - { id: p, kind: ioapic, pin: 3, trigger: level, cpu: 2 }
expect:
  verdict: fixed
  sources: { a: intended, p: intended }
`;

describe('scenario files', () => {
  it('parse with defaults: MSI sources are signalled once, level pins raise/ack/lower/eoi', () => {
    const [s] = parseScenario(BASE, 'x.yaml');
    expect(s.id).toBe('x');
    expect(s.sources[0].steps).toEqual(['signal']);
    expect(s.sources[1].steps).toEqual(['raise', 'ack', 'lower', 'eoi']);
    expect(s.expect.sources.a).toEqual({ kind: 'intended', times: 1 });
  });

  it("report every shape problem of a variant's merged source or expectations, named with the variant", () => {
    const text = BASE + `variants:\n  - { name: v, sources: { a: { trigger: sideways, cpu: 40000 } }, expect: { verdict: works } }\n`;
    expect(errorOf(text).problems.map((p) => [p.variant, p.field, p.reason])).toEqual([
      ['v', 'sources[0].trigger', 'must be edge or level, got "sideways"'],
      ['v', 'sources[0].cpu', 'must be an integer from 0 to 32767, got 40000'],
    ]);
    const expectOnly = BASE + `variants:\n  - { name: v, expect: { verdict: works, onlineCpus: 0 } }\n`;
    expect(errorOf(expectOnly).problems.map((p) => [p.variant, p.field])).toEqual([
      ['v', 'variants[0].expect.verdict'],
      ['v', 'variants[0].expect.onlineCpus'],
    ]);
  });

  it('expand variants by merging machine, guest and expectations over the base', () => {
    const text = BASE + `variants:\n  - { name: ext, machine: { hypervisor: { extDestId: true } }, expect: { verdict: reproduced } }\n`;
    const [base, v] = parseScenario(text, 'x.yaml');
    expect(base.machine.hypervisor).toBeUndefined();
    expect(v.variant).toBe('ext');
    expect(v.machine.hypervisor).toEqual({ extDestId: true });
    expect(v.machine.cpus).toBe(4);
    expect(v.expect.verdict).toBe('reproduced');
    expect(v.expect.sources.p).toEqual({ kind: 'intended', times: 1 });
  });

  it.each([
    ['title: [', '', 'YAML syntax error'],
    [BASE.replace('kind: msix', 'kind: msx'), 'sources[0].kind', 'must be msi, msix, ioapic, ims, isa, intx, lapic-timer, pit, hpet or rtc'],
    [BASE.replace('cpu: 1 }', 'cpu: 1, pin: 2 }'), 'sources[0].pin', 'has a device, not a pin'],
    [BASE.replace('trigger: level', 'trigger: sideways'), 'sources[1].trigger', 'edge or level'],
    [BASE.replace('a: intended', 'a: intended, b: intended'), 'expect.sources.b', 'no source named "b"'],
    [BASE.replace('a: intended, ', ''), 'expect.sources', 'no expectation for source "a"'],
    [BASE.replace('verdict: fixed', 'verdict: works'), 'expect.verdict', 'reproduced'],
    [BASE.replace('a: intended', 'a: { fault: { unit: intel, code: 0x25 } }'), 'expect.sources.a.fault.unit', 'intel-vtd, amd-vi or hypervisor'],
    [BASE.replace('a: intended', 'a: { reachesSourceOf: q }'), 'expect.sources.a.reachesSourceOf', 'no source named "q"'],
    [BASE.replace('guest: { os: linux }', 'guest: { os: bsd }'), 'guest.os', 'linux or windows'],
    [BASE + 'extra: 1\n', 'extra', 'unknown field'],
  ])('reject bad input with the field and the reason (%#)', (text, field, reason) => {
    const e = errorOf(text);
    expect(e.field).toBe(field);
    expect(e.message).toContain(reason);
    expect(e.message.startsWith('x.yaml:')).toBe(true);
  });
});

describe('scenario files: DMA requests', () => {
  const WITH_DMA = BASE.replace('expect:\n', "dma:\n  - { id: buf, device: '00:03.0', iova: 0x100000, map: ro, value: 7 }\nexpect:\n");

  it('parse a DMA request and its expectation (address defaults to the IOVA)', () => {
    const [s] = parseScenario(WITH_DMA + '  dma: { buf: { fault: { unit: intel-vtd, code: 0x5 } } }\n', 'x.yaml');
    expect(s.dma).toEqual([{ id: 'buf', device: '00:03.0', iova: 0x100000n, map: 'ro', address: 0x100000n, value: 7 }]);
    expect(s.expect.dma.buf).toEqual({ kind: 'fault', unit: 'intel-vtd', code: 5 });
  });

  it('name the field: a missing expectation, an unknown device, an unaligned IOVA, an unknown outcome', () => {
    expect(errorOf(WITH_DMA).message).toContain('expect.dma: no expectation for DMA request "buf"');
    expect(errorOf(WITH_DMA.replace("device: '00:03.0', iova", "device: '00:09.0', iova") + '  dma: { buf: memory }\n').message).toContain('dma[0].device: no device 00:09.0');
    expect(errorOf(WITH_DMA.replace('0x100000', '0x100010') + '  dma: { buf: memory }\n').message).toContain('dma[0].iova: must be 4 KiB aligned');
    expect(errorOf(WITH_DMA + '  dma: { buf: { delivered: true } }\n').message).toContain('expect.dma.buf: must be memory, interrupt or { fault: { unit, code } }, got {"delivered":true}');
  });
});

describe('INTx pins, CPU hotplug and APIC map steps', () => {
  it('a pin may name the device whose INTx drives it, if the device has an INTx pin', () => {
    const withPin = BASE.replace('- { id: p, kind: ioapic, pin: 3, trigger: level, cpu: 2 }', "- { id: p, kind: ioapic, pin: 3, trigger: level, cpu: 2, device: '00:03.0' }");
    expect(errorOf(withPin).message).toContain('sources[1].device: device 00:03.0 has no INTx pin (intx: A..D) to drive pin 3');
    expect(errorOf(withPin.replace("device: '00:03.0' }", "device: '00:09.0' }")).message).toContain('sources[1].device: no device 00:09.0 in the machine');
  });

  it('reads the guest-wide steps and the managed flag, and names a bad one', () => {
    const steps = BASE.replace('- { id: p, kind: ioapic, pin: 3, trigger: level, cpu: 2 }', "- { id: p, kind: ioapic, pin: 3, trigger: level, cpu: 2, managed: true, steps: [cpu-offline 2, 'apic-id 1 7', 'ldr 1 0x80', x2apic, raise, cpu-online 2] }");
    const [s] = parseScenario(steps, 'x.yaml');
    expect(s.sources[1].steps).toEqual(['cpu-offline 2', 'apic-id 1 7', 'ldr 1 0x80', 'x2apic', 'raise', 'cpu-online 2']);
    expect(s.sources[1].managed).toBe(true);
    expect(errorOf(steps.replace('cpu-offline 2', 'cpu-offline')).message).toContain('unknown step "cpu-offline"');
    expect(errorOf(steps.replace('managed: true', 'managed: 1')).message).toContain('managed');
  });
});

describe('variant merge', () => {
  it('objects merge key by key, but an object of another kind replaces the base one whole', () => {
    const base = { host: { cpus: 4, iommu: { kind: 'intel', postedInterrupts: true } } };
    expect(deepMerge(base, { host: { iommu: { eim: true } } })).toEqual({ host: { cpus: 4, iommu: { kind: 'intel', postedInterrupts: true, eim: true } } });
    expect(deepMerge(base, { host: { iommu: { kind: 'amd', vapic: true } } })).toEqual({ host: { cpus: 4, iommu: { kind: 'amd', vapic: true } } });
  });
});
