/**
 * The Perfetto (Chrome trace-event JSON) layout: a process per run and machine named after the scenario (host and
 * guest apart), a track per component and per destination local APIC, addresses and other hex fields as "0x…"
 * strings, flow arrows that never join hops of different machines, and real time for hops read from a timestamped
 * QEMU log. Process/thread metadata ("M" events with process_name / thread_name) is the trace-event format's own.
 */
import { describe, expect, it } from 'vitest';
import { perfettoTrace } from '../../src/machine/perfetto-trace.ts';
import type { TraceHop } from '../../src/core/events.ts';
import { parseQemuTraceLog, traceLogHops } from '../../src/tools/qemu-trace-log.ts';
import { builtInScenarios } from '../../src/scenario/scenario-library.ts';
import { runScenario } from '../../src/scenario/run-scenario.ts';

type Ev = { ph: string; name: string; pid: number; tid: number; ts: number; id?: number; args: Record<string, unknown> };

function names(events: Ev[], what: 'process_name' | 'thread_name'): Map<string, string> {
  return new Map(events.filter((e) => e.ph === 'M' && e.name === what).map((e) => [what === 'process_name' ? `${e.pid}` : `${e.pid}/${e.tid}`, e.args.name as string]));
}

const HOPS: TraceHop[] = [
  { flow: 1, name: 'irqpath_msix_notify', args: [['bdf', '00:03.0'], ['vector', 0], ['addr', 0xfee02000n], ['data', 0x31]] },
  { flow: 1, name: 'irqpath_msi_route', args: [['sid', 0x18], ['addr', 0xfee02000n], ['data', 0x31], ['cached', false]] },
  { flow: 1, name: 'apic_deliver_irq', args: [['dest', 2], ['dest_mode', 0], ['delivery_mode', 0], ['vector_num', 0x31], ['trigger_mode', 0]] },
  { flow: 1, name: 'irqpath_apic_accept', args: [['cpu', 2], ['apic', 2], ['vector', 0x31], ['delivery_mode', 0]] },
  { flow: 2, name: 'apic_deliver_irq', args: [['dest', 3], ['dest_mode', 1], ['delivery_mode', 0], ['vector_num', 0x32], ['trigger_mode', 0]] },
  { flow: 2, name: 'irqpath_apic_accept', args: [['cpu', 1], ['apic', 0x10], ['vector', 0x32], ['delivery_mode', 0]] },
];

describe('perfettoTrace', () => {
  it('names the process after the run, a track per component and per CPU that accepted an interrupt', () => {
    const t = perfettoTrace({ name: '05-windows-amd-cpu-intel-ir-only [fixed-windows]', hops: HOPS }).traceEvents as Ev[];
    expect([...names(t, 'process_name').values()]).toEqual(['05-windows-amd-cpu-intel-ir-only [fixed-windows]']);
    const slices = t.filter((e) => e.ph === 'X');
    const thread = names(t, 'thread_name');
    expect(slices.map((e) => thread.get(`${e.pid}/${e.tid}`))).toEqual(['PCI devices', 'machine bus', 'APIC bus', 'CPU 2 (APIC 0x2)', 'APIC bus', 'CPU 1 (APIC 0x10)']);
    expect(slices[3].args).toMatchObject({ cpu: 2, apic: '0x2', vector: 0x31 });
    expect(slices[0].args).toMatchObject({ name: '05-windows-amd-cpu-intel-ir-only [fixed-windows]', flow: 1, addr: '0xfee02000', data: '0x31', bdf: '00:03.0', vector: 0 });
    expect(slices[1].args).toMatchObject({ sid: '0x18', addr: '0xfee02000' });
  });

  it('keeps host and guest of a two-machine scenario in processes of their own, and every arrow inside one', () => {
    const scenario = builtInScenarios().find((s) => s.id.startsWith('21-'))!;
    const r = runScenario(scenario, { trace: true });
    const hops = r.sources.flatMap((s) => s.hops);
    expect(new Set(hops.map((h) => h.machine))).toEqual(new Set(['host', 'guest']));
    const t = perfettoTrace({ name: scenario.id, hops }).traceEvents as Ev[];
    expect([...names(t, 'process_name').values()].sort()).toEqual([`${scenario.id} · guest`, `${scenario.id} · host`]);
    const byFlow = new Map<number, Set<number>>();
    for (const e of t.filter((x) => ['s', 't', 'f'].includes(x.ph))) byFlow.set(e.id!, (byFlow.get(e.id!) ?? new Set()).add(e.pid));
    expect(byFlow.size).toBeGreaterThan(0);
    for (const pids of byFlow.values()) expect(pids.size).toBe(1);
    // Each machine's accepted interrupts land on its own CPU tracks: a "CPU n" track in the host and in the guest.
    const thread = names(t, 'thread_name');
    const process = names(t, 'process_name');
    const cpuTracks = [...thread].filter(([, n]) => /^CPU \d+ \(APIC 0x[0-9a-f]+\)$/.test(n)).map(([k]) => process.get(k.split('/')[0]));
    expect(new Set(cpuTracks)).toEqual(new Set([`${scenario.id} · guest`, `${scenario.id} · host`]));
  });

  it('places hops of a timestamped QEMU log at their real time, in microseconds from the first line', () => {
    const log = parseQemuTraceLog(
      [
        '4711@1732963200.000101:vtd_ir_remap_msi_req addr 0xfee00004 data 0x0',
        '4711@1732963200.000102:vtd_ir_remap_msi (addr 0xfee00004, data 0x0) -> (addr 0xfee00004, data 0x0)',
        '4711@1732963200.500101:apic_deliver_irq dest 0 dest_mode 0 delivery_mode 0 vector 81 trigger_mode 0',
      ].join('\n'),
    );
    const hops = traceLogHops(log);
    expect(hops.map((h) => h.ts)).toEqual([0, 1, 500_000]);
    const t = perfettoTrace({ name: 'host.log', hops }).traceEvents as Ev[];
    expect(t.filter((e) => e.ph === 'X').map((e) => e.ts)).toEqual([0, 1, 500_000]);
    expect([...names(t, 'process_name').values()]).toEqual(['host.log']);
    // No arrows: a QEMU log does not say which lines belong to one interrupt.
    expect(t.some((e) => ['s', 't', 'f'].includes(e.ph))).toBe(false);
  });
});
