import { describe, expect, it } from 'vitest';
import { formatHop, mermaidForFlow, perfettoTrace } from '../../src/machine/trace.ts';
import type { TraceHop } from '../../src/core/events.ts';

// One interrupt as the VT-d path emits it (names, argument order and formats from QEMU's hw/i386/trace-events and
// hw/intc/trace-events; irqpath_msix_notify is irqpath's own).
const HOPS: TraceHop[] = [
  { flow: 7, name: 'irqpath_msix_notify', args: [['bdf', '00:03.0'], ['vector', 0], ['addr', 0xfee00018n], ['data', 0]] },
  { flow: 7, name: 'vtd_ir_remap_msi_req', args: [['addr', 0xfee00018n], ['data', 0]] },
  { flow: 7, name: 'vtd_ir_remap', args: [['index', 0], ['trigger', 0], ['vector', 33], ['deliver', 0], ['dest', 0x2], ['mode', 1]] },
  { flow: 7, name: 'apic_deliver_irq', args: [['dest', 0x2], ['dest_mode', 1], ['delivery_mode', 0], ['vector_num', 33], ['trigger_mode', 0]] },
];

describe('trace sinks', () => {
  it('QEMU events print with QEMU\'s format strings; irqpath_* hops as key value pairs', () => {
    // "addr 0x%"PRIx64" data 0x%"PRIx64 / "index %d trigger %d vector %d deliver %d dest 0x%"PRIx32" mode %d" /
    // "dest %d dest_mode %d delivery_mode %d vector %d trigger_mode %d"
    expect(formatHop(HOPS[1])).toBe('vtd_ir_remap_msi_req addr 0xfee00018 data 0x0');
    expect(formatHop(HOPS[2])).toBe('vtd_ir_remap index 0 trigger 0 vector 33 deliver 0 dest 0x2 mode 1');
    expect(formatHop(HOPS[3])).toBe('apic_deliver_irq dest 2 dest_mode 1 delivery_mode 0 vector 33 trigger_mode 0');
    expect(formatHop(HOPS[0])).toBe('irqpath_msix_notify bdf 00:03.0 vector 0 addr 0xfee00018 data 0x0');
  });

  it('prints QEMU\'s prose, padding and punctuation exactly', () => {
    const line = (name: string, args: [string, number | bigint | string][]) => formatHop({ flow: 0, name, args });
    expect(line('vtd_ir_remap_msi', [['addr', 0xfee00010n], ['data', 0xd1], ['addr2', 0xfee01004n], ['data2', 0x40d1]]))
      .toBe('vtd_ir_remap_msi (addr 0xfee00010, data 0xd1) -> (addr 0xfee01004, data 0x40d1)');
    expect(line('ioapic_set_irq', [['vector', 2], ['level', 1]])).toBe('ioapic_set_irq vector: 2 level: 1');
    expect(line('amdvi_devtab_inval', [['bus', 0], ['slot', 3], ['func', 0]])).toBe('amdvi_devtab_inval device table entry for devid: 00:03.0 invalidated');
    expect(line('amdvi_all_inval', [])).toBe('amdvi_all_inval Invalidation of all AMD-Vi cache requested ');
    expect(line('pci_cfg_write', [['dev', 'nvme'], ['bus', 0], ['slot', 3], ['func', 0], ['offs', 4], ['val', 6]])).toBe('pci_cfg_write nvme 00:03.0 @0x4 <- 0x6');
    expect(line('vtd_warn_ir_vector', [['sid', 0xff00], ['index', 0], ['vec', 0], ['target', 209]])).toBe('vtd_warn_ir_vector sid 0xff00 index 0 vec 0 (should be: 209)');
  });

  it('Perfetto JSON numbers flows uniquely across runs and draws no arrow for a one-hop flow', () => {
    // Two runs whose machines both numbered their interrupt "flow 7", and a third with a lone hop.
    const lone: TraceHop[] = [{ flow: 1, name: 'msix_notify', args: [] }];
    const t = perfettoTrace(HOPS, HOPS, lone).traceEvents;
    const flowEvents = t.filter((e) => ['s', 't', 'f'].includes(e.ph as string));
    expect(flowEvents.map((e) => `${e.ph}${e.id}`)).toEqual(['s1', 't1', 't1', 'f1', 's2', 't2', 't2', 'f2']);
    expect(t.filter((e) => e.ph === 'X').map((e) => (e.args as { run: number }).run)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2]);
  });

  it('Mermaid puts a caption inside the diagram as a %% comment', () => {
    expect(mermaidForFlow(HOPS, 'nvme-q0: CPU 2\nvector 33').split('\n').slice(0, 3)).toEqual(['sequenceDiagram', '  %% nvme-q0: CPU 2 vector 33', '  autonumber']);
  });

  it('Mermaid draws the path left to right: device, IOMMU, LAPIC', () => {
    const text = mermaidForFlow(HOPS);
    expect(text.split('\n').slice(0, 2)).toEqual(['sequenceDiagram', '  autonumber']);
    expect(text).toContain('  Device->>VTd: vtd_ir_remap_msi_req addr 0xfee00018 data 0x0');
    expect(text).toContain('  Note over VTd: vtd_ir_remap index 0');
    expect(text).toContain('  VTd->>LAPIC: apic_deliver_irq dest 2');
  });

  it('Perfetto JSON has one slice per hop and one flow arrow (start, steps, finish) per interrupt', () => {
    const t = perfettoTrace(HOPS).traceEvents;
    expect(t.filter((e) => e.ph === 'X').map((e) => e.name)).toEqual(HOPS.map((h) => h.name));
    expect(t.filter((e) => ['s', 't', 'f'].includes(e.ph as string)).map((e) => e.ph)).toEqual(['s', 't', 't', 'f']);
    // One interrupt, one arrow: every flow event carries the same id.
    expect(new Set(t.filter((e) => ['s', 't', 'f'].includes(e.ph as string)).map((e) => e.id)).size).toBe(1);
    // bigints become hex strings: JSON has no bigint
    expect(JSON.parse(JSON.stringify(t)).find((e: { name: string }) => e.name === 'irqpath_msix_notify').args.addr).toBe('0xfee00018');
  });
});
