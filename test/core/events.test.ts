/**
 * The event hub is free when nobody listens: producers test `active` before they build a payload, so `active` must
 * follow every way a listener arrives or leaves (on/addListener/once, off/removeListener, a once listener firing,
 * removeAllListeners) and the recorders the trace sinks register.
 */
import { describe, expect, it } from 'vitest';
import { EventHub, type TraceHop } from '../../src/core/events.ts';

describe('EventHub.active', () => {
  it('is false on a new hub and true while a listener is attached', () => {
    const hub = new EventHub();
    expect(hub.active).toBe(false);
    const fn = (_h: TraceHop) => {};
    hub.on('hop', fn);
    expect(hub.active).toBe(true);
    hub.off('hop', fn);
    expect(hub.active).toBe(false);
    hub.addListener('apic_accept', () => {});
    hub.addListener('iommu_fault', () => {});
    hub.removeAllListeners('apic_accept');
    expect(hub.active).toBe(true);
    hub.removeAllListeners();
    expect(hub.active).toBe(false);
  });

  it('drops back to false when a once listener has fired', () => {
    const hub = new EventHub();
    const seen: string[] = [];
    hub.once('hop', (h) => seen.push(h.name));
    expect(hub.active).toBe(true);
    hub.hop('ioapic_set_irq', [['vector', 4]]);
    hub.hop('ioapic_set_irq', [['vector', 5]]);
    expect(seen).toEqual(['ioapic_set_irq']);
    expect(hub.active).toBe(false);
  });

  it('stays true while a recorder remains, whatever the listeners do', () => {
    const hub = new EventHub();
    hub.addRecorder();
    const fn = () => {};
    hub.on('hop', fn);
    hub.removeListener('hop', fn);
    expect(hub.active).toBe(true);
    hub.removeRecorder();
    expect(hub.active).toBe(false);
  });

  it('delivers typed payloads with the current flow', () => {
    const hub = new EventHub();
    const hops: TraceHop[] = [];
    hub.on('hop', (h) => hops.push(h));
    const flow = hub.beginFlow();
    hub.hop('apic_deliver_irq', [['dest', 1]]);
    expect(hops).toEqual([{ flow, name: 'apic_deliver_irq', args: [['dest', 1]] }]);
  });
});

describe('EventHub.tracing', () => {
  it('follows the hop listeners and recorders only: typed-event listeners make the hub active but not tracing', () => {
    const hub = new EventHub();
    hub.on('apic_accept', () => {});
    expect(hub.active).toBe(true);
    expect(hub.tracing).toBe(false);
    const fn = (_h: TraceHop) => {};
    hub.on('hop', fn);
    expect(hub.tracing).toBe(true);
    hub.off('hop', fn);
    expect(hub.tracing).toBe(false);
    hub.addRecorder();
    expect(hub.tracing).toBe(true);
    hub.removeRecorder();
    expect(hub.tracing).toBe(false);
  });

  it('an APIC IPI accepted under an apic_accept listener alone emits the typed event and builds no hop', async () => {
    const { createMachine } = await import('../../src/machine/machine.ts');
    const { sendIpi, setupLocalApic } = await import('../../src/guest/smp-bringup.ts');
    const m = createMachine({ cpus: 2 });
    // A Fixed interrupt is accepted only by a software-enabled APIC (SDM 10.4.7.2: SVR bit 8).
    setupLocalApic(m.cpu(0), false);
    setupLocalApic(m.cpu(1), false);
    const accepted: number[] = [];
    m.events.on('apic_accept', (e) => accepted.push(e.vector));
    let hops = 0;
    const emit = m.events.emit.bind(m.events);
    m.events.emit = ((name: string, ...args: unknown[]) => {
      if (name === 'hop') hops++;
      return (emit as (n: string, ...a: unknown[]) => boolean)(name, ...args);
    }) as typeof m.events.emit;
    // Fixed IPI, vector 0x40, physical destination APIC ID 1 (SDM 10.6.1 ICR: delivery mode 000b).
    sendIpi(m.cpu(0), 1, 0x40);
    expect(accepted).toEqual([0x40]);
    expect(hops).toBe(0);
  });
});
