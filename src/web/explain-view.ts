/**
 * "Explain a value": an MSI address/data pair, an RTE, a VT-d or AMD-Vi IRTE, a VT-d fault record or an AMD-Vi
 * event entry in; every format's reading out, side by side, with the bits drawn; and, given a machine (a built-in
 * scenario's, or a small form), where a message goes on it hop by hop. The readings come from explainValue and the
 * route from routeMessage: the page only draws them.
 */
import type { MachineConfig } from '../core/config-types.ts';
import { explainValue, type ValueExplanation, type ValueKind } from '../tools/explain-value.ts';
import { routeMessage, routeRte, type MessageRoute, type MessageRouteSetup } from '../tools/message-route.ts';
import { builtInScenarios } from '../scenario/scenario-library.ts';
import type { GuestSpec, Scenario } from '../scenario/scenario-file.ts';
import type { InterruptRequest } from '../guest/guest-os.ts';
import { renderWord } from './bit-diagram.ts';
import { append, h } from './dom.ts';
import { InputError, parseHex } from './parse-hex.ts';
import { renderSequence } from './sequence-diagram.ts';
import { go, stateHash } from './url-state.ts';

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
  ['VT-d fault 0x25 record', { kind: 'vtd-fault', value: '0x80000025000000181600000000000000' }],
  ['AMD-Vi IO_PAGE_FAULT for an interrupt', { kind: 'amd-event', value: '00000020 20080000 fee00000 00000000' }],
  ['RTE with the remappable format bit', { kind: 'rte', value: '0x000b000000000004' }],
  ['a compatibility RTE on scenario 03\'s machine', { kind: 'rte', value: '0x0100000000000031', machine: 'scenario:03', pin: '4' }],
];

const BITS: Record<ValueKind, number> = { msi: 64, rte: 64, 'intel-irte': 128, 'amd-irte': 128, 'vtd-fault': 128, 'amd-event': 128 };

function baseScenario(prefix: string): Scenario | undefined {
  return builtInScenarios().find((s) => s.variant === null && (s.id === prefix || s.id.startsWith(prefix)));
}

/** The machine the form describes: a built-in scenario's (guest and sources included) or the small custom one. */
function machineSetup(p: URLSearchParams): { setup: MessageRouteSetup; label: string } | null {
  const m = p.get('machine') ?? '';
  if (m.startsWith('scenario:')) {
    const s = baseScenario(m.slice('scenario:'.length));
    if (!s) throw new InputError('machine', `machine: no built-in scenario "${m.slice(9)}"`);
    // IMS sources are set up through a VMM (run-scenario's setupIms), not by the guest alone: the route leaves them out.
    const sources = s.sources.filter((x) => x.kind !== 'ims') as InterruptRequest[];
    return { setup: { machine: s.machine, guest: s.guest, sources }, label: `scenario ${s.id}'s machine, after ${s.guest.os} booted and programmed its ${sources.length} sources` };
  }
  if (m !== 'custom') return null;
  const cpus = Number(p.get('cpus') ?? '4');
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 32768) throw new InputError('cpus', `cpus: must be an integer from 1 to 32768, got ${p.get('cpus')}`);
  const iommu = p.get('iommu') ?? 'none';
  const config: MachineConfig = {
    cpus,
    cpuVendor: p.get('vendor') === 'amd' ? 'amd' : 'intel',
    devices: [{ bdf: p.get('from') || '00:03.0', msix: { entries: 4 } }],
  };
  if (iommu === 'intel' || iommu === 'amd') config.iommu = { kind: iommu };
  if (p.get('ext') === '1') config.hypervisor = { extDestId: true };
  const os = p.get('os');
  const guest: GuestSpec | undefined = os === 'linux' || os === 'windows' ? { os } : undefined;
  return { setup: { machine: config, guest, sources: [] }, label: `${cpus} CPUs (${config.cpuVendor}), IOMMU ${iommu}${config.hypervisor ? ', 15-bit extension' : ''}, ${guest ? guest.os + ' booted' : 'no guest booted'}` };
}

function field(label: string, control: HTMLElement, errorFor: string, errors: Map<string, string>, hint?: string): HTMLElement {
  const id = control.id;
  const err = errors.get(errorFor);
  if (err) {
    control.setAttribute('aria-invalid', 'true');
    control.setAttribute('aria-describedby', `${id}-err`);
  }
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('small', { class: 'hint' }, hint) : null, err ? h('p', { class: 'field-error', id: `${id}-err`, role: 'alert' }, err) : null);
}

function select(id: string, options: [string, string][], value: string): HTMLSelectElement {
  const s = h('select', { id, name: id });
  for (const [v, text] of options) s.append(h('option', { value: v, selected: v === value }, text));
  return s;
}

function renderForm(p: URLSearchParams, errors: Map<string, string>): HTMLElement {
  const kind = (p.get('kind') ?? 'msi') as ValueKind;
  const scenarios = builtInScenarios().filter((s) => s.variant === null);
  const machine = p.get('machine') ?? '';
  const form = h('form', { class: 'explain-form', 'aria-label': 'value to explain' });
  const kindSel = select('kind', KINDS, kind);
  const addr = h('input', { id: 'addr', name: 'addr', value: p.get(kind === 'msi' ? 'addr' : 'value') ?? '', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const data = h('input', { id: 'data', name: 'data', value: p.get('data') ?? '', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const width = select('width', [['128', '128-bit (GAEn = 1)'], ['32', '32-bit (GAEn = 0)']], p.get('width') ?? '128');
  const machineSel = select('machine', [['', 'none (decode only)'], ...scenarios.map((s): [string, string] => [`scenario:${s.id.slice(0, 2)}`, `scenario ${s.id}`]), ['custom', 'custom machine…']], machine);
  const from = h('input', { id: 'from', name: 'from', value: p.get('from') ?? '', placeholder: 'first device', class: 'mono' });
  const pin = h('input', { id: 'pin', name: 'pin', type: 'number', min: 0, max: 119, value: p.get('pin') ?? '0' });
  const custom = h(
    'fieldset',
    { class: 'custom', hidden: machine !== 'custom' },
    h('legend', {}, 'custom machine'),
    field('CPUs', h('input', { id: 'cpus', name: 'cpus', type: 'number', min: 1, max: 32768, value: p.get('cpus') ?? '4' }), 'cpus', errors),
    field('CPU vendor', select('vendor', [['intel', 'Intel'], ['amd', 'AMD']], p.get('vendor') ?? 'intel'), 'vendor', errors),
    field('IOMMU', select('iommu', [['none', 'none'], ['intel', 'Intel VT-d'], ['amd', 'AMD-Vi']], p.get('iommu') ?? 'none'), 'iommu', errors),
    field('hypervisor', select('ext', [['0', 'no extension'], ['1', '15-bit extended destination ID']], p.get('ext') ?? '0'), 'ext', errors),
    field('guest booted first', select('os', [['', 'none (firmware state)'], ['linux', 'Linux'], ['windows', 'Windows']], p.get('os') ?? ''), 'os', errors),
  );
  const isRte = kind === 'rte';
  const fromField = isRte ? field('programmed into I/O APIC pin', pin, 'pin', errors) : field('written by device (BDF)', from, 'from', errors);
  fromField.hidden = machine === '';
  machineSel.addEventListener('change', () => {
    custom.hidden = machineSel.value !== 'custom';
    fromField.hidden = machineSel.value === '';
  });
  const isMsi = kind === 'msi';
  append(form, [
    field('What is it?', kindSel, 'kind', errors),
    field(isMsi ? 'Address' : 'Value', addr, isMsi ? 'addr' : 'value', errors, isMsi ? 'hex, up to 64 bits (0x1000_fee4_6000)' : 'hex; 128-bit values also as four dwords, lowest first'),
    isMsi ? field('Data', data, 'data', errors, 'hex, 32 bits') : null,
    kind === 'amd-irte' ? field('IRTE size', width, 'width', errors) : null,
    isMsi || isRte ? field('Where does it go on…', machineSel, 'machine', errors) : null,
    isMsi || isRte ? fromField : null,
    isMsi || isRte ? custom : null,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Explain')),
  ]);
  kindSel.addEventListener('change', () => go('explain', { kind: kindSel.value }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const get = (k: string) => (fd.get(k) as string | null) ?? undefined;
    const m = get('machine');
    go('explain', {
      kind,
      [isMsi ? 'addr' : 'value']: get('addr'),
      data: isMsi ? get('data') : undefined,
      width: kind === 'amd-irte' ? get('width') : undefined,
      machine: m,
      from: m && isMsi ? get('from') : undefined,
      pin: m && isRte ? get('pin') : undefined,
      ...(m === 'custom' ? { cpus: get('cpus'), vendor: get('vendor'), iommu: get('iommu'), ext: get('ext'), os: get('os') } : {}),
    });
  });
  return form;
}

function appliesText(a: boolean | null): string {
  return a === true ? 'yes' : a === false ? 'no' : 'depends';
}

function renderExplanation(e: ValueExplanation): HTMLElement[] {
  const banner = h(
    'p',
    { class: `banner ${e.interrupt === true ? 'banner-irq' : e.interrupt === false ? 'banner-mem' : 'banner-info'}`, role: 'status' },
    h('b', {}, e.interrupt === true ? 'INTERRUPT' : e.interrupt === false ? (e.kind === 'rte' ? 'MASKED' : 'NOT AN INTERRUPT (memory write)') : 'DECODED'),
    ' ',
    e.verdict,
  );
  const table = h(
    'table',
    { class: 'readings' },
    h('caption', {}, `Every reading of ${e.raw}`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'format'), h('th', { scope: 'col' }, 'applies'), h('th', { scope: 'col' }, 'reading'), h('th', { scope: 'col' }, 'reserved bits set'))),
    h(
      'tbody',
      {},
      e.readings.map((r, k) =>
        h(
          'tr',
          { class: `applies-${appliesText(r.applies)}` },
          h('th', { scope: 'row' }, h('a', { href: `#reading-${k}`, onclick: (ev: Event) => { ev.preventDefault(); document.getElementById(`reading-${k}`)?.scrollIntoView(); } }, r.name)),
          h('td', {}, appliesText(r.applies), h('br'), h('small', {}, r.why)),
          h('td', {}, r.summary),
          h('td', {}, r.notes.length ? r.notes.length + ' (see below)' : 'none'),
        ),
      ),
    ),
  );
  const cards = e.readings.map((r, k) =>
    h(
      'section',
      { class: `reading applies-${appliesText(r.applies)}`, id: `reading-${k}`, 'aria-labelledby': `reading-${k}-h` },
      h('h3', { id: `reading-${k}-h` }, r.name, ' ', h('span', { class: 'tag' }, `applies: ${appliesText(r.applies)}`)),
      h('p', {}, r.summary),
      h('p', { class: 'muted' }, r.why),
      r.notes.length ? h('ul', { class: 'notes' }, r.notes.map((n) => h('li', {}, h('b', {}, '! '), n))) : null,
      r.words.map(renderWord),
    ),
  );
  const extra: HTMLElement[] = [];
  if (e.linuxLog) extra.push(h('section', {}, h('h3', {}, 'As Linux prints it'), h('pre', { class: 'dmesg' }, e.linuxLog)));
  if (e.message) {
    const href = stateHash('explain', { kind: 'msi', addr: '0x' + e.message.addr.toString(16), data: '0x' + e.message.data.toString(16) });
    extra.push(h('p', {}, 'This RTE makes the I/O APIC send ', h('a', { href }, `addr 0x${e.message.addr.toString(16)} data 0x${e.message.data.toString(16)}`), ' — follow the link for every reading of that message.'));
  }
  return [banner, table, ...extra, ...cards];
}

export function renderExplainView(p: URLSearchParams): HTMLElement {
  const errors = new Map<string, string>();
  const kind = (KINDS.some(([k]) => k === p.get('kind')) ? p.get('kind') : 'msi') as ValueKind;
  const out: HTMLElement[] = [];
  const valueField = kind === 'msi' ? 'addr' : 'value';
  const given = p.get(valueField);
  if (given !== null) {
    try {
      const value = parseHex(kind === 'msi' ? 'Address' : 'Value', given, BITS[kind]);
      const data = kind === 'msi' ? Number(parseHex('Data', p.get('data') ?? '0', 32)) : 0;
      const width = p.get('width') === '32' ? 32 : 128;
      const e = explainValue(kind, value, data, width);
      const [banner, ...readings] = renderExplanation(e);
      out.push(banner);
      const m = kind === 'msi' || kind === 'rte' ? machineSetup(p) : null;
      if (m) {
        let route: MessageRoute;
        let what: string;
        if (kind === 'rte') {
          const pinText = p.get('pin') ?? '0';
          const pinNo = /^\d+$/.test(pinText) ? Number(pinText) : NaN;
          if (Number.isNaN(pinNo)) throw new InputError('pin', `programmed into I/O APIC pin: "${pinText}" is not a pin number`);
          try {
            route = routeRte(m.setup, pinNo, value);
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            throw new InputError(message.startsWith('pin ') ? 'pin' : 'machine', message);
          }
          what = `RTE 0x${value.toString(16)} on I/O APIC pin ${pinNo}`;
        } else {
          const from = p.get('from') || m.setup.machine.devices?.[0]?.bdf;
          if (!from) throw new InputError('from', 'written by device: this machine has no PCI device to write the message');
          try {
            route = routeMessage(m.setup, from, value, data);
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            throw new InputError(message.startsWith('requester ') ? 'from' : 'machine', message);
          }
          what = `addr 0x${value.toString(16)} data 0x${data.toString(16)} written by ${from}`;
        }
        out.push(
          h(
            'section',
            { class: 'route', 'aria-labelledby': 'route-h' },
            h('h2', { id: 'route-h' }, `Where it goes: ${what}, on ${m.label}`),
            h('ul', { class: 'outcomes' }, route.outcomes.map((o) => h('li', {}, o))),
            renderSequence(route.hops.filter((x) => !route.iommuFlows.includes(x.flow)), what),
            route.iommuFlows.map((f) => renderSequence(route.hops.filter((x) => x.flow === f), 'the IOMMU\'s own fault-event interrupt, raised while it handled the message')),
            route.faultLog.length ? h('pre', { class: 'dmesg', 'aria-label': 'fault log' }, route.faultLog.join('\n')) : null,
          ),
        );
      }
      out.push(...readings);
    } catch (err) {
      if (err instanceof InputError) errors.set(err.field === 'Address' ? 'addr' : err.field === 'Value' ? 'value' : err.field === 'Data' ? 'data' : err.field, err.message);
      else errors.set(valueField, err instanceof Error ? err.message : String(err));
      out.length = 0;
    }
  }
  const intro = h(
    'section',
    { class: 'intro' },
    h('p', {}, 'Paste a value from a bug report or a mailing-list thread. Every format that could apply reads it side by side; reserved bits are hatched and flagged when set.'),
    h('p', {}, 'Examples: ', EXAMPLES.map(([text, params], k) => [k ? ' · ' : '', h('a', { href: stateHash('explain', params) }, text)])),
  );
  return h('div', { class: 'view view-explain' }, h('h2', {}, 'Explain a message or an entry'), intro, renderForm(p, errors), h('div', { class: 'result', 'aria-live': 'polite' }, ...out));
}
