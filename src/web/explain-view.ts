/**
 * "Explain a value": an MSI address/data pair, an RTE, a VT-d or AMD-Vi IRTE, a VT-d fault record or an AMD-Vi
 * event entry in; every format's reading out, side by side, with the bits drawn; and, given a machine (a built-in
 * scenario's, or a small form), where a message goes on it hop by hop — and then the headline and the readings say
 * what THAT machine did: the one format it applied, or the fault it raised. A second value can be compared side by
 * side. The readings come from explainValue, the route from routeMessage and the machine's choice from
 * reading-on-machine.ts: the page only draws them.
 *
 * The form is built once per visit and never rebuilt while you type: results follow every keystroke (after a short
 * pause), the URL follows without new history entries, and changing "What is it?" keeps what was typed.
 */
import type { MachineConfig } from '../core/config-types.ts';
import { formatBdf, parseBdf } from '../core/bdf.ts';
import { explainValue, type ValueExplanation, type ValueKind, type ValueReading } from '../tools/explain-value.ts';
import { routeMessage, routeRte, type MessageRoute, type MessageRouteSetup } from '../tools/message-route.ts';
import { appliedReading, explanationOnMachine } from '../tools/reading-on-machine.ts';
import { builtInScenarios } from '../scenario/scenario-library.ts';
import type { GuestSpec, Scenario } from '../scenario/scenario-file.ts';
import type { InterruptRequest } from '../guest/guest-os.ts';
import { renderWord } from './bit-diagram.ts';
import { append, h } from './dom.ts';
import { highlightable, wireFieldHover } from './input-highlight.ts';
import { InputError, parseValue } from './parse-value.ts';
import { renderSequence } from './sequence-diagram.ts';
import { traceButtons } from './trace-buttons.ts';
import { perfettoTrace } from '../machine/trace.ts';
import { replaceState, stateHash } from './url-state.ts';

const KINDS: [ValueKind, string][] = [
  ['msi', 'MSI address / data'],
  ['rte', 'I/O APIC RTE (64-bit)'],
  ['intel-irte', 'VT-d IRTE (128-bit)'],
  ['amd-irte', 'AMD-Vi IRTE (32 or 128-bit)'],
  ['vtd-fault', 'VT-d fault record (FRCD, 128-bit)'],
  ['amd-event', 'AMD-Vi event-log entry (128-bit)'],
];

const EXAMPLES: [string, Record<string, string>][] = [
  ['fee00578 / 0: Intel remappable, IRTE 43', { kind: 'msi', addr: '0xfee00578', data: '0x0' }],
  ['fee01000 / 4031: compatibility, CPU 1 vector 0x31', { kind: 'msi', addr: '0xfee01000', data: '0x4031' }],
  ['1000fee46000 / 700: Xen PIRQ 4166', { kind: 'msi', addr: '0x1000fee46000', data: '0x700' }],
  ['an AMD-style MSI on scenario 05\'s Intel machine', { kind: 'msi', addr: '0xfee00000', data: '0x1', machine: 'scenario:05', from: '00:04.0' }],
  ['CPU 256 through the 15-bit extended destination ID', { kind: 'msi', addr: '0xfee00020', data: '0x41', machine: 'custom', cpus: '300', ext: '1', os: 'linux' }],
  ['compare: compatibility vs Intel remappable', { kind: 'msi', addr: '0xfee01000', data: '0x4031', cmp: '1', addr2: '0xfee00578', data2: '0x0' }],
  ['compare: one message on scenario 05\'s and 08\'s machines', { kind: 'msi', addr: '0xfee00000', data: '0x1', machine: 'scenario:05', from: '00:04.0', cmp: '1', machine2: 'scenario:08' }],
  ['VT-d fault 0x25 record', { kind: 'vtd-fault', value: '0x80000025000000181600000000000000' }],
  ['AMD-Vi IO_PAGE_FAULT for an interrupt', { kind: 'amd-event', value: '00000020 20080000 fee00000 00000000' }],
  ['RTE with the remappable format bit', { kind: 'rte', value: '0x000b000000000004' }],
  ['a compatibility RTE on scenario 03\'s machine', { kind: 'rte', value: '0x0100000000000031', machine: 'scenario:03', pin: '4' }],
];

const BITS: Record<ValueKind, number> = { msi: 64, rte: 64, 'intel-irte': 128, 'amd-irte': 128, 'vtd-fault': 128, 'amd-event': 128 };

/** Form fields by URL parameter (the value of a non-MSI kind travels as `value`, typed in the same box as `addr`). */
const MACHINE_FIELDS = ['cpus', 'vendor', 'iommu', 'ext', 'os'] as const;

function isKind(k: string | null): k is ValueKind {
  return KINDS.some(([x]) => x === k);
}

function baseScenario(prefix: string): Scenario | undefined {
  return builtInScenarios().find((s) => s.variant === null && (s.id === prefix || s.id.startsWith(prefix)));
}

/** The machine the form describes: a built-in scenario's (guest and sources included) or the small custom one. */
function machineSetup(p: URLSearchParams): { setup: MessageRouteSetup; label: string; short: string } | null {
  const m = p.get('machine') ?? '';
  if (m.startsWith('scenario:')) {
    const s = baseScenario(m.slice('scenario:'.length));
    if (!s) throw new InputError('machine', `machine: there is no built-in scenario "${m.slice(9)}"`);
    // IMS sources are set up through a VMM (run-scenario's setupIms), not by the guest alone: the route leaves them out.
    const sources = s.sources.filter((x) => x.kind !== 'ims') as InterruptRequest[];
    return { setup: { machine: s.machine, guest: s.guest, sources }, label: `scenario ${s.id}'s machine, after ${s.guest.os} booted and programmed its ${sources.length} sources`, short: `scenario ${s.id.slice(0, 2)}'s machine` };
  }
  if (m === '') return null;
  if (m !== 'custom') throw new InputError('machine', `machine: "${m}" is neither a built-in scenario nor "custom"`);
  const cpusText = p.get('cpus') ?? '4';
  const cpus = Number(parseValue('cpus', 'CPUs', cpusText, 16));
  if (cpus < 1 || cpus > 32768) throw new InputError('cpus', `CPUs: must be from 1 to 32768, got ${cpusText}`);
  const iommu = p.get('iommu') ?? 'none';
  const from = p.get('from') || '00:03.0';
  try {
    parseBdf(from);
  } catch (err) {
    throw new InputError('from', `written by device: ${(err as Error).message}`);
  }
  const config: MachineConfig = {
    cpus,
    cpuVendor: p.get('vendor') === 'amd' ? 'amd' : 'intel',
    devices: [{ bdf: from, msix: { entries: 4 } }],
  };
  if (iommu === 'intel' || iommu === 'amd') config.iommu = { kind: iommu };
  if (p.get('ext') === '1') config.hypervisor = { extDestId: true };
  const os = p.get('os');
  const guest: GuestSpec | undefined = os === 'linux' || os === 'windows' ? { os } : undefined;
  const label = `${cpus} CPUs (${config.cpuVendor}), IOMMU ${iommu}${config.hypervisor ? ', 15-bit extension' : ''}, ${guest ? guest.os + ' booted' : 'no guest booted'}`;
  return { setup: { machine: config, guest, sources: [] }, label, short: 'this machine' };
}

function fieldBox(label: string, control: HTMLElement, id: string, hint?: string, wrap?: HTMLElement): HTMLElement {
  return h(
    'div',
    { class: 'field', id: `${id}-field` },
    h('label', { for: id }, label),
    wrap ?? control,
    h('small', { class: 'hint', id: `${id}-hint` }, hint ?? ''),
    h('p', { class: 'field-error', id: `${id}-err`, role: 'alert', hidden: true }),
  );
}

function select(id: string, options: [string, string][], value: string): HTMLSelectElement {
  const s = h('select', { id, name: id });
  for (const [v, text] of options) s.append(h('option', { value: v, selected: v === value }, text));
  return s;
}

function textInput(id: string, value: string, placeholder = ''): HTMLInputElement {
  return h('input', { id, name: id, value, autocomplete: 'off', spellcheck: 'false', class: 'mono', placeholder, inputmode: 'text' });
}

function appliesText(a: boolean | null): string {
  return a === true ? 'yes' : a === false ? 'no' : 'depends';
}

function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** What one side of the page (the value, or the value it is compared with) came to. */
interface Explained {
  e: ValueExplanation;
  route: MessageRoute | null;
  /** The machine's short name when a route was computed. */
  machine: string | null;
  what: string;
  routeLabel: string;
  value: bigint;
  data: number;
}

/** Parse one side's value and, with a machine chosen, route it. Throws InputError naming the field. */
function explainSide(p: URLSearchParams, kind: ValueKind, suffix: '' | '2'): Explained {
  const isMsi = kind === 'msi';
  const valueKey = isMsi ? 'addr' : 'value';
  const inputId = 'addr' + suffix;
  const value = parseValue(inputId, isMsi ? `Address${suffix ? ' 2' : ''}` : `Value${suffix ? ' 2' : ''}`, p.get(valueKey) ?? '', BITS[kind]);
  const data = isMsi ? Number(parseValue('data' + suffix, `Data${suffix ? ' 2' : ''}`, p.get('data') ?? '0', 32)) : 0;
  const width = p.get('width') === '32' ? 32 : 128;
  let e: ValueExplanation;
  try {
    e = explainValue(kind, value, data, width);
  } catch (err) {
    throw new InputError(inputId, (err as Error).message);
  }
  let m: ReturnType<typeof machineSetup> = null;
  try {
    m = kind === 'msi' || kind === 'rte' ? machineSetup(p) : null;
  } catch (err) {
    // The second side's machine is its own field.
    if (suffix && err instanceof InputError && (err.field === 'machine' || err.field === 'from')) throw new InputError(err.field + '2', err.message);
    throw err;
  }
  if (!m) return { e, route: null, machine: null, what: '', routeLabel: '', value, data };
  let route: MessageRoute;
  let what: string;
  if (kind === 'rte') {
    const pinText = p.get('pin') ?? '0';
    const pinNo = Number(parseValue('pin', 'I/O APIC pin', pinText, 8));
    try {
      route = routeRte(m.setup, pinNo, value);
    } catch (err) {
      const message = (err as Error).message;
      throw new InputError(message.startsWith('pin ') ? 'pin' : 'machine', message);
    }
    what = `RTE 0x${value.toString(16)} on I/O APIC pin ${pinNo}`;
  } else {
    const from = p.get('from') || m.setup.machine.devices?.[0]?.bdf;
    if (!from) throw new InputError('from', 'written by device: this machine has no PCI device to write the message');
    try {
      route = routeMessage(m.setup, from, value, data);
    } catch (err) {
      const message = (err as Error).message;
      throw new InputError(message.startsWith('requester ') ? 'from' : 'machine', message);
    }
    what = `addr 0x${value.toString(16)} data 0x${data.toString(16)} written by ${from}`;
  }
  const applied = appliedReading(kind === 'rte' ? 'rte' : 'msi', value, route.decision);
  return { e: explanationOnMachine(e, applied, m.short, route.decision), route, machine: m.short, what, routeLabel: m.label, value, data };
}

/** The headline: what the chosen machine did with it, or — with no machine — what the value is. */
function headline(x: Explained): HTMLElement {
  const { e, route } = x;
  if (route) {
    const d = route.decision;
    const chosen = e.readings.find((r) => r.applies === true);
    const reading = chosen ? h('span', {}, ` — read as ${chosen.name}: `, h('span', { class: 'banner-reading' }, chosen.summary)) : null;
    if (d?.kind === 'fault' && d.fault) {
      const unit = d.fault.unit === 'intel-vtd' ? 'VT-d' : d.fault.unit === 'amd-vi' ? 'AMD-Vi' : 'hypervisor';
      return h('p', { class: 'banner banner-fault', role: 'status' }, h('b', {}, `${unit} FAULT 0x${d.fault.code.toString(16).padStart(2, '0')}`), ` ${d.fault.name}: ${d.fault.detail}`, reading);
    }
    if (d?.kind === 'memory') return h('p', { class: 'banner banner-mem', role: 'status' }, h('b', {}, 'MEMORY WRITE'), ` on ${x.machine}: ${route.outcomes.join('; ')}`);
    const delivered = route.outcomes.filter((o) => !o.startsWith('the IOMMU'));
    const ok = d?.kind === 'deliver' || d?.kind === 'posted' || d?.kind === 'pirq';
    const word = d?.kind === 'posted' ? 'POSTED INTERRUPT' : d?.kind === 'pirq' ? 'XEN PIRQ' : d === null ? (e.kind === 'rte' ? 'NO MESSAGE' : 'NOT SENT') : delivered.some((o) => o.startsWith('lost')) ? 'LOST' : 'INTERRUPT';
    return h('p', { class: `banner ${ok && word !== 'LOST' ? 'banner-irq' : 'banner-fault'}`, role: 'status' }, h('b', {}, word), ` on ${x.machine}: ${delivered.join('; ')}`, reading);
  }
  return h(
    'p',
    { class: `banner ${e.interrupt === true ? 'banner-irq' : e.interrupt === false ? 'banner-mem' : 'banner-info'}`, role: 'status' },
    h('b', {}, e.interrupt === true ? 'INTERRUPT' : e.interrupt === false ? (e.kind === 'rte' ? 'MASKED' : 'NOT AN INTERRUPT (memory write)') : 'DECODED'),
    ' ',
    e.verdict,
  );
}

function readingId(r: ValueReading, suffix: string): string {
  return `reading-${slug(r.name)}${suffix ? '-2' : ''}`;
}

function readingsTable(x: Explained, p: URLSearchParams, suffix: string): HTMLElement {
  const { e } = x;
  return h(
    'table',
    { class: 'readings stack' },
    h('caption', {}, x.machine ? `Every reading of ${e.raw}; on ${x.machine} one applies` : `Every reading of ${e.raw}`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'format'), h('th', { scope: 'col' }, 'applies'), h('th', { scope: 'col' }, 'reading'), h('th', { scope: 'col' }, 'reserved bits set'))),
    h(
      'tbody',
      {},
      e.readings.map((r) => {
        const id = readingId(r, suffix);
        const params = new URLSearchParams(p);
        params.set('at', id);
        return h(
          'tr',
          { class: `applies-${appliesText(r.applies)}` },
          h('th', { scope: 'row' }, h('a', { href: stateHash('explain', params), 'data-anchor': id }, r.name)),
          h('td', { 'data-label': 'applies' }, appliesText(r.applies), h('br'), h('small', {}, r.why)),
          h('td', { 'data-label': 'reading' }, r.summary),
          h('td', { 'data-label': 'reserved bits set' }, r.notes.length ? r.notes.length + ' (see below)' : 'none'),
        );
      }),
    ),
  );
}

function readingCards(x: Explained, suffix: '' | '2'): HTMLElement[] {
  const isMsi = x.e.kind === 'msi';
  return x.e.readings.map((r) =>
    h(
      'section',
      { class: `reading applies-${appliesText(r.applies)}`, id: readingId(r, suffix), 'aria-labelledby': `${readingId(r, suffix)}-h`, 'data-format': r.format },
      h('h3', { id: `${readingId(r, suffix)}-h` }, r.name, ' ', h('span', { class: 'tag' }, `applies: ${appliesText(r.applies)}`)),
      h('p', {}, r.summary),
      h('p', { class: 'muted' }, r.why),
      r.notes.length ? h('ul', { class: 'notes' }, r.notes.map((n) => h('li', {}, h('b', {}, '! '), n))) : null,
      r.words.map((w, k) => renderWord(w, (isMsi && k === 1 ? 'data' : 'addr') + suffix)),
    ),
  );
}

function routeSection(x: Explained, suffix: string): HTMLElement | null {
  const route = x.route;
  if (!route) return null;
  const own = route.hops.filter((hop) => !route.iommuFlows.includes(hop.flow));
  const isMsi = x.e.kind === 'msi';
  const inWindow = (x.value & ~0xfffffn) === 0xfee00000n;
  const blocked = route.decision === null || route.decision.kind === 'fault' || route.decision.kind === 'memory' || route.outcomes.some((o) => o.startsWith('lost'));
  const from = isMsi ? /written by (\S+)$/.exec(x.what)?.[1] ?? '' : '';
  return h(
    'section',
    { class: 'route', 'aria-labelledby': `route-h${suffix}` },
    h('h2', { id: `route-h${suffix}` }, `Where it goes: ${x.what}, on ${x.routeLabel}`),
    h('ul', { class: 'outcomes' }, route.outcomes.map((o) => h('li', {}, o))),
    renderSequence({
      hops: own,
      caption: x.what,
      origin: isMsi
        ? { text: `${from} writes data 0x${x.data.toString(16)} to 0x${x.value.toString(16)} (requester ID 0x${parseBdf(from).toString(16).padStart(4, '0')}, ${formatBdf(parseBdf(from))}) — ${inWindow ? 'in the interrupt window 0xFEEx_xxxx: the bus takes it as an interrupt request' : 'outside the interrupt window: a memory write'}`, part: 'Device' }
        : undefined,
      outcome: { text: route.outcomes.filter((o) => !o.startsWith('the IOMMU')).join('; '), severity: blocked ? 'blocked' : 'ok' },
    }),
    route.iommuFlows.map((f) => renderSequence({ hops: route.hops.filter((hop) => hop.flow === f), caption: 'the IOMMU\'s own fault-event interrupt, raised while it handled the message' })),
    route.faultLog.length ? h('pre', { class: 'dmesg', 'aria-label': 'fault log' }, route.faultLog.join('\n')) : null,
    traceButtons(() => perfettoTrace(route.hops), `irqpath-explain-${x.value.toString(16)}-${x.data.toString(16)}.perfetto.json`, `irqpath: ${x.what}`),
  );
}

function extras(e: ValueExplanation): HTMLElement[] {
  const out: HTMLElement[] = [];
  if (e.linuxLog) out.push(h('section', {}, h('h3', {}, 'As Linux prints it'), h('pre', { class: 'dmesg' }, e.linuxLog)));
  if (e.message) {
    const href = stateHash('explain', { kind: 'msi', addr: '0x' + e.message.addr.toString(16), data: '0x' + e.message.data.toString(16) });
    out.push(h('p', {}, 'This RTE makes the I/O APIC send ', h('a', { href }, `addr 0x${e.message.addr.toString(16)} data 0x${e.message.data.toString(16)}`), ' — follow the link for every reading of that message.'));
  }
  return out;
}

/** Mark the bit fields whose values differ between the two compared values. */
function markDifferences(a: HTMLElement, b: HTMLElement): number {
  let n = 0;
  for (const box of a.querySelectorAll<HTMLElement>('.reading .bf[data-field]')) {
    const section = box.closest<HTMLElement>('.reading')!;
    const other = b.querySelector<HTMLElement>(`.reading[data-format="${section.dataset.format}"] .bf[data-field="${CSS.escape(box.dataset.field!)}"][data-hi="${box.dataset.hi}"]`);
    if (other && other.dataset.value !== box.dataset.value) {
      box.classList.add('bf-diff');
      other.classList.add('bf-diff');
      n++;
    }
  }
  return n;
}

/**
 * The parameters of the second side: its own value (or the first one's, left blank) on its own machine (or the
 * first one's, left at "the same machine") — so one page compares two messages, or one message on two machines.
 */
function secondSide(p: URLSearchParams, kind: ValueKind): URLSearchParams {
  const q = new URLSearchParams(p);
  const key = kind === 'msi' ? 'addr' : 'value';
  if (p.get(key + '2')) q.set(key, p.get(key + '2')!);
  if (kind === 'msi' && p.get('data2')) q.set('data', p.get('data2')!);
  const machine2 = p.get('machine2');
  if (machine2 === 'none') q.delete('machine');
  else if (machine2) {
    q.set('machine', machine2);
    if (p.get('from2')) q.set('from', p.get('from2')!);
    else q.delete('from');
  }
  return q;
}

/** The result area for the current parameters, and the field errors to show (field id → message). */
function renderResult(p: URLSearchParams): { nodes: HTMLElement[]; errors: Map<string, string> } {
  const errors = new Map<string, string>();
  const kind: ValueKind = isKind(p.get('kind')) ? (p.get('kind') as ValueKind) : 'msi';
  if (p.get('kind') !== null && !isKind(p.get('kind'))) errors.set('kind', `What is it?: "${p.get('kind')}" is not one of the kinds listed`);
  const given = p.get(kind === 'msi' ? 'addr' : 'value');
  if (given === null || given.trim() === '') return { nodes: [], errors };
  const compare = p.get('cmp') === '1';
  const sides: Explained[] = [];
  for (const suffix of compare ? (['', '2'] as const) : ([''] as const)) {
    try {
      sides.push(explainSide(suffix ? secondSide(p, kind) : p, kind, suffix));
    } catch (err) {
      if (err instanceof InputError) errors.set(err.field, err.message);
      else errors.set('addr' + suffix, err instanceof Error ? err.message : String(err));
    }
  }
  if (errors.size) return { nodes: [], errors };
  const column = (x: Explained, suffix: '' | '2') =>
    h('div', { class: 'side', 'aria-label': suffix ? 'second value' : 'first value' }, h('h3', { class: 'side-title' }, `${suffix ? 'B' : 'A'}: ${x.e.raw}${x.machine ? ` on ${x.machine}` : ''}`), headline(x), routeSection(x, suffix), readingsTable(x, p, suffix), ...extras(x.e), ...readingCards(x, suffix));
  if (!compare) return { nodes: [column(sides[0], '')], errors };
  const a = column(sides[0], '');
  const b = column(sides[1], '2');
  const diff = markDifferences(a, b);
  return { nodes: [h('p', { class: 'muted compare-note' }, `Side by side: ${diff} bit field${diff === 1 ? '' : 's'} differ (outlined).`), h('div', { class: 'compare' }, a, b)], errors };
}

export function renderExplainView(p: URLSearchParams): HTMLElement {
  const kind0: ValueKind = isKind(p.get('kind')) ? (p.get('kind') as ValueKind) : 'msi';
  const scenarios = builtInScenarios().filter((s) => s.variant === null);
  const form = h('form', { class: 'explain-form', 'aria-label': 'value to explain', novalidate: true });
  const kindSel = select('kind', KINDS, kind0);
  const addr = textInput('addr', p.get(kind0 === 'msi' ? 'addr' : 'value') ?? '', '0xfee00578');
  const data = textInput('data', p.get('data') ?? '', '0x4031');
  const addr2 = textInput('addr2', p.get(kind0 === 'msi' ? 'addr2' : 'value2') ?? '');
  const data2 = textInput('data2', p.get('data2') ?? '');
  const width = select('width', [['128', '128-bit (GAEn = 1)'], ['32', '32-bit (GAEn = 0)']], p.get('width') ?? '128');
  const machineSel = select('machine', [['', 'none (decode only)'], ...scenarios.map((s): [string, string] => [`scenario:${s.id.slice(0, 2)}`, `scenario ${s.id}`]), ['custom', 'custom machine…']], p.get('machine') ?? '');
  const from = textInput('from', p.get('from') ?? '', 'first device');
  const pin = textInput('pin', p.get('pin') ?? '0');
  const cmp = h('input', { type: 'checkbox', id: 'cmp', name: 'cmp', checked: p.get('cmp') === '1' });
  const machine2Sel = select('machine2', [['', 'the same machine'], ['none', 'none (decode only)'], ...scenarios.map((s): [string, string] => [`scenario:${s.id.slice(0, 2)}`, `scenario ${s.id}`])], p.get('machine2') ?? '');
  const from2 = textInput('from2', p.get('from2') ?? '', 'first device');
  const custom = h(
    'fieldset',
    { class: 'custom' },
    h('legend', {}, 'custom machine'),
    fieldBox('CPUs', textInput('cpus', p.get('cpus') ?? '4'), 'cpus'),
    fieldBox('CPU vendor', select('vendor', [['intel', 'Intel'], ['amd', 'AMD']], p.get('vendor') ?? 'intel'), 'vendor'),
    fieldBox('IOMMU', select('iommu', [['none', 'none'], ['intel', 'Intel VT-d'], ['amd', 'AMD-Vi']], p.get('iommu') ?? 'none'), 'iommu'),
    fieldBox('hypervisor', select('ext', [['0', 'no extension'], ['1', '15-bit extended destination ID']], p.get('ext') ?? '0'), 'ext'),
    fieldBox('guest booted first', select('os', [['', 'none (firmware state)'], ['linux', 'Linux'], ['windows', 'Windows']], p.get('os') ?? ''), 'os'),
  );
  const addrBox = fieldBox('Address', addr, 'addr', '', highlightable(addr));
  const dataBox = fieldBox('Data', data, 'data', '32 bits: 0x… for hex, digits alone are decimal', highlightable(data));
  const addr2Box = fieldBox('Compare with: address', addr2, 'addr2', 'blank: the same value', highlightable(addr2));
  const machine2Box = fieldBox('…on', machine2Sel, 'machine2');
  const from2Box = fieldBox('written by device (BDF)', from2, 'from2', 'blank: that machine\'s first device');
  const data2Box = fieldBox('Compare with: data', data2, 'data2', 'blank: the same data', highlightable(data2));
  const widthBox = fieldBox('IRTE size', width, 'width');
  const machineBox = fieldBox('Where does it go on…', machineSel, 'machine');
  const fromBox = fieldBox('written by device (BDF)', from, 'from');
  const pinBox = fieldBox('programmed into I/O APIC pin', pin, 'pin', 'decimal, or 0x… hex');
  const kindBox = fieldBox('What is it?', kindSel, 'kind');
  const cmpBox = h('div', { class: 'field field-check' }, h('label', { class: 'check' }, cmp, ' compare with a second value'));
  append(form, [kindBox, addrBox, dataBox, widthBox, machineBox, fromBox, pinBox, custom, cmpBox, addr2Box, data2Box, machine2Box, from2Box, h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Explain'))]);

  // Not a live region: it is redrawn on every pause in typing; the headline inside it is the status (role=status).
  const result = h('div', { class: 'result' });
  wireFieldHover(result);

  /** Show or hide the fields the chosen kind and machine use; labels and hints follow the kind. */
  const layout = () => {
    const kind = kindSel.value as ValueKind;
    const isMsi = kind === 'msi';
    const routable = isMsi || kind === 'rte';
    addrBox.querySelector('label')!.textContent = isMsi ? 'Address' : 'Value';
    addrBox.querySelector('.hint')!.textContent = isMsi ? 'up to 64 bits: 0x… for hex (0x1000_fee4_6000), digits alone are decimal' : BITS[kind] === 128 ? 'hex 0x…, or four dwords lowest first as Linux prints them' : 'hex 0x…, or decimal';
    addr2Box.querySelector('label')!.textContent = isMsi ? 'Compare with: address' : 'Compare with: value';
    dataBox.hidden = !isMsi;
    data2Box.hidden = !isMsi || !cmp.checked;
    addr2Box.hidden = !cmp.checked;
    machine2Box.hidden = !cmp.checked || !routable;
    from2Box.hidden = !cmp.checked || !isMsi || machine2Sel.value === '' || machine2Sel.value === 'none';
    widthBox.hidden = kind !== 'amd-irte';
    machineBox.hidden = !routable;
    fromBox.hidden = !isMsi || machineSel.value === '';
    pinBox.hidden = kind !== 'rte' || machineSel.value === '';
    custom.hidden = !routable || machineSel.value !== 'custom';
  };

  /** The parameters the form says now (only those the chosen kind uses). */
  const formParams = (): URLSearchParams => {
    const kind = kindSel.value as ValueKind;
    const isMsi = kind === 'msi';
    const q = new URLSearchParams();
    const set = (k: string, v: string | undefined) => {
      if (v !== undefined && v !== '') q.set(k, v);
    };
    set('kind', kind);
    set(isMsi ? 'addr' : 'value', addr.value);
    if (isMsi) set('data', data.value);
    if (kind === 'amd-irte') set('width', width.value);
    if (cmp.checked) {
      set('cmp', '1');
      set(isMsi ? 'addr2' : 'value2', addr2.value);
      if (isMsi) set('data2', data2.value);
      if (isMsi || kind === 'rte') {
        set('machine2', machine2Sel.value);
        if (isMsi && machine2Sel.value && machine2Sel.value !== 'none') set('from2', from2.value);
      }
    }
    if (isMsi || kind === 'rte') {
      set('machine', machineSel.value);
      if (machineSel.value) {
        if (isMsi) set('from', from.value);
        else set('pin', pin.value);
      }
      if (machineSel.value === 'custom') for (const k of MACHINE_FIELDS) set(k, (form.elements.namedItem(k) as HTMLInputElement | HTMLSelectElement).value);
    }
    return q;
  };

  const show = (q: URLSearchParams) => {
    const { nodes, errors } = renderResult(q);
    for (const box of form.querySelectorAll<HTMLElement>('.field-error')) {
      const id = box.id.replace(/-err$/, '');
      const control = document.getElementById(id) ?? form.querySelector(`#${id}`);
      const message = errors.get(id);
      box.hidden = !message;
      box.textContent = message ?? '';
      if (control) {
        if (message) {
          control.setAttribute('aria-invalid', 'true');
          control.setAttribute('aria-describedby', `${id}-err`);
        } else {
          control.removeAttribute('aria-invalid');
          control.setAttribute('aria-describedby', `${id}-hint`);
        }
      }
    }
    // An error keeps the last good result out of view: what is shown always matches what is typed.
    result.replaceChildren(...nodes);
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  const update = (now = false) => {
    clearTimeout(timer);
    const run = () => {
      // A navigation (an example link, Back) may have replaced this form while the timer ran: leave the URL alone.
      if (!form.isConnected) return;
      layout();
      const q = formParams();
      replaceState('explain', q);
      show(q);
    };
    if (now) run();
    // Routing a message boots a guest model (tens of ms): wait for a pause in the typing.
    else timer = setTimeout(run, 250);
  };
  // A choice (select, checkbox) applies at once; typing waits for a pause.
  form.addEventListener('input', (ev) => update(ev.target instanceof HTMLSelectElement || (ev.target as HTMLInputElement).type === 'checkbox'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    update(true);
  });
  result.addEventListener('click', (ev) => {
    const a = (ev.target as HTMLElement).closest<HTMLAnchorElement>('a[data-anchor]');
    if (!a) return;
    ev.preventDefault();
    document.getElementById(a.dataset.anchor!)?.scrollIntoView({ block: 'start' });
    history.replaceState(null, '', a.getAttribute('href'));
  });

  layout();
  show(p);
  const intro = h(
    'section',
    { class: 'intro' },
    h('p', {}, 'Paste a value from a bug report or a mailing-list thread. Every format that could apply reads it side by side; reserved bits are hatched and flagged when set. Pick a machine to see the one reading it applies and where the message goes. Hover a bit field to light up its digits in the input.'),
    h('p', {}, 'Examples: ', EXAMPLES.map(([text, params], k) => [k ? ' · ' : '', h('a', { href: stateHash('explain', params) }, text)])),
  );
  return h('div', { class: 'view view-explain' }, h('h2', {}, 'Explain a message or an entry'), intro, form, result);
}
