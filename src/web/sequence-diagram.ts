/**
 * One interrupt's (or DMA request's) hops as a sequence diagram drawn in plain HTML. The lanes are always the whole
 * path — device (or I/O APIC) → machine bus → IOMMU → local APIC — so a step that skips a component visibly crosses
 * it. A two-machine run gets two lane groups, host on the left and guest on the right, with the VMM's lane between
 * them. Each hop is one numbered row: an arrow when the request moves to another component of the same flow, a note
 * when a component acts on its own or a new flow starts (a line de-asserting, an IOMMU's fault interrupt). Blocked
 * steps are red and say so in words. On a phone the rows become a list, each naming its lane.
 *
 * A hop's component comes from the library (participantOf in trace.ts, shared with the Mermaid and Perfetto
 * output); the VMM's hops (KVM's trace-event names) get the VMM lane.
 */
import type { TraceHop } from '../core/events.ts';
import { formatHop, participantOf } from '../machine/trace.ts';
import { h } from './dom.ts';
import { hopSeverity, hopText } from './hop-text.ts';

type Part = 'Device' | 'Bus' | 'IOMMU' | 'LAPIC';
const PARTS: Part[] = ['Device', 'Bus', 'IOMMU', 'LAPIC'];
const PART_LABEL: Record<Part, string> = { Device: 'device / I/O APIC', Bus: 'machine bus', IOMMU: 'IOMMU', LAPIC: 'local APIC' };

interface Lane {
  key: string;
  label: string;
  group: 'host' | 'vmm' | 'guest' | 'machine';
}

/** A step the trace does not record but the diagram needs to say (what started the request, what became of it). */
export interface DiagramStep {
  text: string;
  /** Which machine's lanes (two-machine runs); the guest's when omitted. */
  machine?: 'host' | 'guest';
  part?: Part;
  severity?: 'blocked' | 'ok' | 'warning';
}

export interface SequenceInput {
  hops: TraceHop[];
  caption: string;
  /** Drawn before the first hop, on the device lane: the write or assertion that started it all. */
  origin?: DiagramStep;
  /** Drawn after the last hop: where it ended up. */
  outcome?: DiagramStep;
}

/**
 * The VMM's own hops: QEMU's KVM and VFIO trace events (accel/kvm: kvm_irqchip_*, kvm_x86_*; hw/vfio: vfio_msi_*,
 * vfio_msix_*) and irqpath's names for KVM work that has no QEMU event (irqpath_kvm_set_msi, irqpath_vcpu_load, …).
 */
function isVmmHop(name: string): boolean {
  return name.startsWith('kvm_') || name.startsWith('vfio_') || name.startsWith('irqpath_kvm_') || name.startsWith('irqpath_vcpu_');
}

function partOf(name: string): Part {
  // A posted interrupt lands in the guest's virtual APIC (VMX posted-interrupt processing, AMD AVIC).
  if (name === 'irqpath_vmx_sync_pir_to_irr' || name === 'irqpath_avic_irr_to_lapic' || name === 'irqpath_avic_doorbell') return 'LAPIC';
  if (name === 'irqpath_native_remap_by_sid') return 'IOMMU';
  const p = participantOf(name);
  return p === 'IOAPIC' || p === 'Device' ? 'Device' : p === 'VTd' || p === 'AMDVi' ? 'IOMMU' : p === 'LAPIC' ? 'LAPIC' : 'Bus';
}

function laneKey(machine: string | undefined, part: Part | 'VMM'): string {
  return part === 'VMM' ? 'VMM' : `${machine ?? ''}:${part}`;
}

function lanesFor(twoMachine: boolean): Lane[] {
  if (!twoMachine) return PARTS.map((p) => ({ key: laneKey(undefined, p), label: PART_LABEL[p], group: 'machine' }));
  return [
    ...PARTS.map((p): Lane => ({ key: laneKey('host', p), label: PART_LABEL[p], group: 'host' })),
    { key: 'VMM', label: 'VMM', group: 'vmm' },
    ...PARTS.map((p): Lane => ({ key: laneKey('guest', p), label: PART_LABEL[p], group: 'guest' })),
  ];
}

const GROUP_LABEL = { host: 'host machine', vmm: '', guest: 'guest machine', machine: '' };

export function renderSequence(input: SequenceInput): HTMLElement {
  const { hops, caption } = input;
  if (hops.length === 0 && !input.origin) return h('p', { class: 'muted' }, `${caption}: no hops recorded.`);
  const twoMachine = hops.some((x) => x.machine !== undefined);
  const lanes = lanesFor(twoMachine);
  const n = lanes.length;
  const index = new Map(lanes.map((l, k) => [l.key, k]));
  const machineOf = (m: 'host' | 'guest' | undefined) => (twoMachine ? (m ?? 'guest') : undefined);
  const laneOfHop = (x: TraceHop) => index.get(isVmmHop(x.name) ? 'VMM' : laneKey(machineOf(x.machine), partOf(x.name)))!;
  const laneOfStep = (s: DiagramStep, fallback: number) => (s.part ? index.get(laneKey(machineOf(s.machine), s.part))! : fallback);

  // Half-columns: lane i occupies 2i+1..2i+2; its lifeline runs at the boundary between them.
  const grid = `grid-template-columns: repeat(${2 * n}, minmax(0, 1fr))`;
  const at = (i: number) => `${((2 * i + 1) / (2 * n)) * 100}%`;
  const lifelines = lanes.map((_, i) => `linear-gradient(to right, transparent calc(${at(i)} - 1px), var(--lifeline) calc(${at(i)} - 1px), var(--lifeline) calc(${at(i)} + 1px), transparent calc(${at(i)} + 1px))`).join(', ');
  const groups: HTMLElement[] = [];
  if (twoMachine) {
    groups.push(h('span', { class: 'seq-group seq-group-host', style: 'grid-column: 1 / span 8' }, GROUP_LABEL.host));
    groups.push(h('span', { class: 'seq-group seq-group-vmm', style: 'grid-column: 9 / span 2' }, 'VMM'));
    groups.push(h('span', { class: 'seq-group seq-group-guest', style: 'grid-column: 11 / span 8' }, GROUP_LABEL.guest));
  }
  const head = h(
    'div',
    { class: 'seq-head', style: grid, 'aria-hidden': 'true' },
    ...groups,
    ...lanes.map((l) => h('span', { class: `seq-actor seq-actor-${l.group}`, style: 'grid-column: span 2' }, l.label)),
  );

  const rows: HTMLElement[] = [];
  const laneName = (i: number) => (lanes[i].group === 'host' || lanes[i].group === 'guest' ? `${lanes[i].group} ${lanes[i].label}` : lanes[i].label);
  const row = (k: number | null, from: number | null, to: number, text: string, severity: string, title?: string, derived = false) => {
    const label = [k !== null ? h('b', {}, `${k}. `) : null, h('span', { class: 'seq-lane' }, laneName(to) + ': '), h('span', { class: 'seq-text' }, text), severity === 'blocked' ? h('span', { class: 'seq-badge' }, ' ✗ blocked') : null];
    let body: HTMLElement;
    if (from !== null && from !== to) {
      const [a, b] = from < to ? [from, to] : [to, from];
      body = h('div', { class: `seq-arrow ${from < to ? 'seq-right' : 'seq-left'}`, style: `grid-column: ${2 * a + 2} / ${2 * b + 2}` }, h('span', { class: 'seq-label' }, ...label), h('span', { class: 'seq-line', 'aria-hidden': 'true' }));
    } else {
      // A note sits on the lane's lifeline, widened towards the middle of the diagram so the text has room.
      const span = Math.min(2 * n, 4);
      const start = Math.max(1, Math.min(2 * to, 2 * n - span) + 1);
      body = h('div', { class: 'seq-note', style: `grid-column: ${start} / span ${span}` }, ...label);
    }
    rows.push(h('li', { class: `seq-row seq-${severity}${derived ? ' seq-derived' : ''}`, style: `${grid}; background-image: ${lifelines}`, title }, body));
  };

  let previous: { lane: number; flow: number; machine?: string } | null = null;
  let k = 1;
  if (input.origin) {
    const lane = laneOfStep({ part: 'Device', ...input.origin }, 0);
    row(null, null, lane, input.origin.text, input.origin.severity ?? 'ok', 'what started it (not a trace event)', true);
    previous = { lane, flow: hops[0]?.flow ?? 0, machine: hops[0]?.machine };
  }
  for (const hop of hops) {
    const lane = laneOfHop(hop);
    const sameFlow = previous !== null && previous.flow === hop.flow && previous.machine === hop.machine;
    // A hop crossing machines is the VMM carrying the interrupt on: draw it as an arrow too.
    const continues = previous !== null && (sameFlow || isVmmHop(hop.name) || lanes[previous.lane].group === 'vmm');
    row(k++, continues ? previous!.lane : null, lane, hopText(hop), hopSeverity(hop), `QEMU trace line: ${formatHop(hop)}`);
    previous = { lane, flow: hop.flow, machine: hop.machine };
  }
  if (input.outcome) {
    // Where the request itself stopped: the last hop of its own flow (a pin de-asserting afterwards is another flow).
    const first = hops[0];
    const own = first ? hops.filter((x) => x.flow === first.flow && x.machine === first.machine).at(-1) : undefined;
    const lastOfAll = hops.at(-1);
    const stop = lastOfAll && lastOfAll.machine !== first?.machine ? lastOfAll : own;
    const last = stop ? laneOfHop(stop) : (previous?.lane ?? 0);
    row(null, null, laneOfStep(input.outcome, last), input.outcome.text, input.outcome.severity ?? 'ok', 'where it ended (not a trace event)', true);
  }
  return h('figure', { class: `seq${twoMachine ? ' seq-two' : ''}` }, h('figcaption', {}, caption), h('div', { class: 'seq-scroll' }, head, h('ol', { class: 'seq-body' }, ...rows)));
}
