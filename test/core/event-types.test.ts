/**
 * The machine's events are typed by the MachineEvents map over eventemitter3's generics: a listener gets the payload
 * type of its event, and a wrong event name, listener or payload does not compile. `tsc --noEmit` (npm run typecheck)
 * checks the `@ts-expect-error` lines: if the typing ever loosened, each would become an unused directive and fail.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { EventHub, type IommuFaultEvent, type TraceHop } from '../../src/core/events.ts';

describe('typed machine events', () => {
  it('a listener receives its event payload type', () => {
    const hub = new EventHub();
    const seen: string[] = [];
    hub.on('iommu_fault', (f) => {
      expectTypeOf(f).toEqualTypeOf<IommuFaultEvent>();
      seen.push(f.linuxLog);
    });
    hub.on('hop', (h) => {
      expectTypeOf(h).toEqualTypeOf<TraceHop>();
    });
    hub.emit('iommu_fault', { unit: 'intel-vtd', sourceId: 0x18, code: 0x25, name: 'x', index: -1, recorded: true, linuxLog: 'line', record: {} });
    expect(seen).toEqual(['line']);
  });

  it('rejects unknown events, wrong listeners and wrong payloads at compile time', () => {
    const hub = new EventHub();
    // @ts-expect-error: no such event
    hub.on('iommu_faults', () => {});
    // @ts-expect-error: an apic_accept payload has no linuxLog
    hub.on('apic_accept', (e) => e.linuxLog);
    // @ts-expect-error: a hop is an object, not a string
    hub.emit('hop', 'vtd_ir_remap_msi_req');
    hub.removeAllListeners();
    expect(hub.active).toBe(false);
  });
});
