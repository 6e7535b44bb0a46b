/**
 * Explain any value a reader meets in a bug report — an MSI address/data pair, an I/O APIC RTE, a VT-d or AMD-Vi
 * IRTE, a VT-d fault recording register, an AMD-Vi event-log entry — as every format that could apply reads it, with
 * the bit layout of each reading (src/msi/bit-layout.ts) for drawing. The decoders of each format stay the authority
 * (explain(), decodeRte*, describeIrte, decodeIrte32/128, decodeEvent, Linux's log lines); this module only lines
 * their answers up. It sits in src/machine because it joins the Intel and AMD models, which do not import each other.
 *
 * For tools and the web page, not the hot path: it allocates.
 */
import { UsageError } from '../core/errors.ts';
import { bitsOf, readWord, type BitWord, type FieldValue } from '../msi/bit-layout.ts';
import { describeDelivery, explain } from '../msi/explain.ts';
import type { ExplainedFormats } from '../msi/explain.ts';
import { formatAddr } from '../msi/formats/field-check.ts';
import { MSI_LAYOUTS, RTE_LAYOUTS } from '../msi/formats/layouts.ts';
import { decodeRteCompat, decodeRteExtDest, decodeRteRemappable, rteToMessage } from '../msi/formats/ioapic-rte.ts';
import { hex } from '../msi/interrupt.ts';
import { describeIrte, irteReservedFault } from '../iommu-intel/irte.ts';
import { FaultReason, faultReasonName } from '../iommu-intel/fault-reasons.ts';
import { linuxFaultLine } from '../iommu-intel/linux-log.ts';
import { FRCD_LAYOUT, INTEL_IRTE_LAYOUTS } from '../iommu-intel/layouts.ts';
import { decodeIrte128, decodeIrte32 } from '../iommu-amd/irte.ts';
import { decodeEvent } from '../iommu-amd/event-log.ts';
import { eventCodeName } from '../iommu-amd/event-codes.ts';
import { formatRawEventEntry } from '../iommu-amd/linux-log.ts';
import { AMD_EVENT_LAYOUT, AMD_IRTE_LAYOUTS } from '../iommu-amd/layouts.ts';

export type ValueKind = 'msi' | 'rte' | 'intel-irte' | 'amd-irte' | 'vtd-fault' | 'amd-event';

export interface DrawnWord {
  word: BitWord;
  value: bigint;
  fields: FieldValue[];
}

export interface ValueReading {
  /** Format name ("Intel remappable format", "32-bit IRTE"). */
  name: string;
  /** Stable key of the format: explain()'s key for a message ('compat', 'extDestId', ...), 'compat' / 'extDest' / 'remappable' for an RTE. */
  format: string;
  /** Whether this reading is the one that counts for this value (null: depends on a setting the value does not carry). */
  applies: boolean | null;
  why: string;
  summary: string;
  /** Reserved, ignored or forbidden bits that are set, one sentence each (from the format's decoder). */
  notes: string[];
  words: DrawnWord[];
}

export interface ValueExplanation {
  kind: ValueKind;
  /** The value as given, in hex. */
  raw: string;
  /** Whether hardware would treat it as an interrupt (an MSI or RTE); null where the question does not arise. */
  interrupt: boolean | null;
  verdict: string;
  readings: ValueReading[];
  /** The interrupt message an RTE sends (explain it with kind 'msi'). */
  message?: { addr: bigint; data: number };
  /** The line Linux prints for a fault record or event entry. */
  linuxLog?: string;
}

const U64 = (1n << 64n) - 1n;
const U128 = (1n << 128n) - 1n;

function draw(word: BitWord, value: bigint): DrawnWord {
  return { word, value, fields: readWord(word, value) };
}

function checkWidth(kind: string, value: bigint, bits: number): void {
  if (value < 0n || value >> BigInt(bits) !== 0n) throw new UsageError(`${kind}: ${hex(value)} does not fit in ${bits} bits`);
}

const MSI_ROWS: (keyof ExplainedFormats)[] = ['compat', 'intelRemappable', 'amdRemappable', 'extDestId', 'xenPirq', 'kvmX2apicApi', 'windowsHighBits'];

/** An MSI address/data pair: explain()'s readings, each with its layout. */
export function explainMessageValue(addr: bigint, data: number): ValueExplanation {
  const e = explain(addr, data);
  const readings: ValueReading[] = [];
  for (const key of MSI_ROWS) {
    const reading = e.formats[key];
    if (!reading) continue;
    const [addrWord, dataWord] = MSI_LAYOUTS[key];
    readings.push({ name: reading.name, format: key, applies: reading.applies, why: reading.why, summary: reading.summary, notes: reading.reserved, words: [draw(addrWord, addr), draw(dataWord, BigInt(data))] });
  }
  return { kind: 'msi', raw: `addr ${formatAddr(addr)} data ${hex(data, 8)}`, interrupt: e.interrupt, verdict: e.verdict, readings };
}

/** An I/O APIC redirection-table entry in its three layouts, and the message it sends. */
export function explainRteValue(rte: bigint): ValueExplanation {
  checkWidth('RTE', rte, 64);
  const remappable = bitsOf(rte, 48, 48) === 1n;
  const compat = decodeRteCompat(rte);
  const ext = decodeRteExtDest(rte);
  const remap = decodeRteRemappable(rte);
  const control = (d: typeof compat) => describeDelivery(d.destination, { destMode: d.destMode, redirectionHint: 0, vector: d.vector, deliveryMode: d.deliveryMode, triggerMode: d.triggerMode, level: 0 });
  const pin = `${compat.mask ? 'masked' : 'unmasked'}, active ${compat.polarity ? 'low' : 'high'}`;
  const message = rteToMessage(rte);
  return {
    kind: 'rte',
    raw: hex(rte, 16),
    interrupt: compat.mask === 0,
    verdict: compat.mask
      ? 'The pin is masked (bit 16): an edge on it is lost and a level is held until unmasked; no message is sent now.'
      : `Unmasked: an assertion sends addr ${formatAddr(message.addr)} data ${hex(message.data, 8)} (82093AA §3.2.4; the same copy rule for every layout).`,
    readings: [
      { name: 'compatibility RTE', format: 'compat', applies: !remappable, why: remappable ? 'bit 48 is set: the format bit of a remappable RTE' : 'bit 48 clear and no interrupt remapping', summary: `${control(compat)}, ${pin}`, notes: compat.reserved, words: [draw(RTE_LAYOUTS.compat, rte)] },
      { name: 'extended-destination RTE', format: 'extDest', applies: remappable ? false : null, why: 'when the hypervisor advertises the 15-bit extended destination ID', summary: `${control(ext)}, ${pin}`, notes: ext.reserved, words: [draw(RTE_LAYOUTS.extDest, rte)] },
      { name: 'Intel remappable RTE', format: 'remappable', applies: remappable, why: remappable ? 'bit 48 = 1 under VT-d interrupt remapping' : 'needs bit 48 = 1', summary: `IRTE index ${remap.index} (${hex(remap.index, 4)}), vector field ${hex(remap.vector, 2)}, ${pin}`, notes: remap.reserved, words: [draw(RTE_LAYOUTS.remappable, rte)] },
    ],
    message,
  };
}

function dwords(value: bigint): [number, number, number, number] {
  return [0, 1, 2, 3].map((k) => Number((value >> BigInt(32 * k)) & 0xffffffffn)) as [number, number, number, number];
}

/** A VT-d IRTE: remapped (xAPIC and x2APIC destination) or posted, as its IM bit says. */
export function explainIntelIrteValue(irte: bigint): ValueExplanation {
  checkWidth('VT-d IRTE', irte, 128);
  const [w0, w1, w2, w3] = dwords(irte);
  const posted = (w0 >>> 15) & 1;
  const present = w0 & 1;
  const fields = (eime: boolean) => describeIrte(w0, w1, w2, w3, eime);
  const fault = (eime: boolean, pi: boolean): string[] => {
    const code = irteReservedFault(w0, w1, w2, w3, eime, pi);
    return code ? [`a request using this entry faults: reason ${hex(code, 2)} (${faultReasonName(code)})`] : [];
  };
  const remapped = (eime: boolean) => {
    const d = fields(eime);
    return `dest ${hex(Number(d.dest), eime ? 8 : 2)} ${d.destMode ? 'logical' : 'physical'}, vector ${hex(Number(d.vector), 2)}, delivery mode ${d.deliveryMode}, ${d.trigger ? 'level' : 'edge'}${d.redirectionHint ? ', RH' : ''}; SID ${hex(Number(d.sid), 4)} SQ ${d.sq} SVT ${d.svt}`;
  };
  const p = fields(true);
  return {
    kind: 'intel-irte',
    raw: hex(irte, 32),
    interrupt: null,
    verdict: present
      ? `P = 1: requests naming this entry are remapped${p.fpd ? ' (FPD = 1: its faults are not recorded)' : ''}.`
      : `P = 0: a request naming this entry is blocked with fault reason ${hex(FaultReason.IrteNotPresent, 2)} (${faultReasonName(FaultReason.IrteNotPresent)}).`,
    readings: [
      { name: 'remapped, xAPIC mode (IRTA.EIME = 0)', format: 'remappedXapic', applies: posted ? false : null, why: 'IM = 0 and the table was set up without EIME', summary: remapped(false), notes: posted ? [] : fault(false, false), words: [draw(INTEL_IRTE_LAYOUTS.remappedXapic, irte)] },
      { name: 'remapped, x2APIC mode (IRTA.EIME = 1)', format: 'remappedX2apic', applies: posted ? false : null, why: 'IM = 0 and the table was set up with EIME', summary: remapped(true), notes: posted ? [] : fault(true, false), words: [draw(INTEL_IRTE_LAYOUTS.remappedX2apic, irte)] },
      { name: 'posted (IM = 1)', format: 'posted', applies: posted === 1, why: posted ? 'IM = 1: the interrupt is posted to a vCPU (needs CAP.PI, else fault 0x24)' : 'IM = 0', summary: `vector ${hex(Number(p.vector), 2)}${p.urgent ? ' urgent' : ''}, posted-interrupt descriptor at ${p.pda ?? '?'}`, notes: posted ? fault(true, true) : [], words: [draw(INTEL_IRTE_LAYOUTS.posted, irte)] },
    ],
  };
}

/** An AMD-Vi IRTE: the 32-bit format (Control.GAEn = 0) or the 128-bit one (GAEn = 1), by the value's width. */
export function explainAmdIrteValue(irte: bigint, width: 32 | 128): ValueExplanation {
  checkWidth(`AMD-Vi ${width}-bit IRTE`, irte, width);
  const [w0, w1, w2, w3] = dwords(irte);
  const d = width === 32 ? decodeIrte32(w0) : decodeIrte128(w0, w1, w2, w3);
  const fixedOrArbitrated = d.intType === undefined || d.intType <= 1;
  const verdict = !d.remapEn
    ? `RemapEn = 0: the interrupt is target-aborted and an IO_PAGE_FAULT logged${d.supIopf ? ' (suppressed: SupIOPF = 1)' : ''}.`
    : !fixedOrArbitrated
      ? `IntType ${d.intType} is reserved: IO_PAGE_FAULT with RZ = 1.`
      : d.guestMode
        ? `GuestMode = 1: posted to a guest vAPIC (needs Control.GAEn and the vAPIC feature).`
        : `Remapped to destination ${hex(d.destination, width === 32 ? 2 : 8)} vector ${hex(d.vector, 2)}.`;
  const word = width === 32 ? AMD_IRTE_LAYOUTS.irte32 : d.guestMode ? AMD_IRTE_LAYOUTS.irte128Vapic : AMD_IRTE_LAYOUTS.irte128;
  const summary = d.guestMode
    ? `guest vector ${hex(d.vector, 2)}, destination ${hex(d.destination, 8)}, GATag ${hex(d.gaTag ?? 0, 8)}, GA root ${d.gaRootPtr ?? '?'}${d.isRun ? ', IsRun' : ''}`
    : `destination ${hex(d.destination, width === 32 ? 2 : 8)} ${d.destMode ? 'logical' : 'physical'}, vector ${hex(d.vector, 2)}, IntType ${d.intType}${d.rqEoi ? ', RqEoi' : ''}`;
  const readings: ValueReading[] = [{ name: `${width}-bit IRTE${d.guestMode ? ' (vAPIC)' : ''}`, format: `irte${width}`, applies: true, why: width === 32 ? 'Control.GAEn = 0' : 'Control.GAEn = 1', summary, notes: [], words: [draw(word, irte)] }];
  return { kind: 'amd-irte', raw: hex(irte, width / 4), interrupt: null, verdict, readings };
}

/** A VT-d fault recording register (128 bits) as recorded for an interrupt-remapping fault. */
export function explainVtdFaultValue(frcd: bigint): ValueExplanation {
  checkWidth('VT-d fault record', frcd, 128);
  const reason = Number(bitsOf(frcd, 103, 96));
  const sid = Number(bitsOf(frcd, 79, 64));
  const index = Number(bitsOf(frcd, 63, 48));
  const f = bitsOf(frcd, 127, 127) === 1n;
  const line = linuxFaultLine(sid, reason, index);
  return {
    kind: 'vtd-fault',
    raw: hex(frcd, 32),
    interrupt: null,
    verdict: `${f ? 'F = 1: a pending record' : 'F = 0: already serviced (or empty)'}; fault reason ${hex(reason, 2)} (${faultReasonName(reason)}) from ${hex(sid, 4)}, interrupt index ${hex(index)}.`,
    readings: [{ name: 'fault recording register (FRCD)', format: 'frcd', applies: true, why: 'VT-d §11.4.14', summary: line, notes: [], words: [draw(FRCD_LAYOUT, frcd)] }],
    linuxLog: line,
  };
}

/** An AMD-Vi event-log entry (128 bits). */
export function explainAmdEventValue(entry: bigint): ValueExplanation {
  checkWidth('AMD-Vi event entry', entry, 128);
  const words = dwords(entry);
  const ev = decodeEvent(words);
  const line = formatRawEventEntry(words);
  const interruptRequest = (ev.flags & 0x8) !== 0;
  return {
    kind: 'amd-event',
    raw: hex(entry, 32),
    interrupt: null,
    verdict: `${eventCodeName(ev.code)} (code ${hex(ev.code, 1)}) from DeviceID ${hex(ev.deviceId, 4)}${ev.code === 2 ? (interruptRequest ? ': an interrupt request (I = 1)' : ': a DMA request (I = 0)') : ''}.`,
    readings: [{ name: 'event-log entry', format: 'event', applies: true, why: 'AMD IOMMU §2.5; flags named as for IO_PAGE_FAULT', summary: line, notes: [], words: [draw(AMD_EVENT_LAYOUT, entry)] }],
    linuxLog: line,
  };
}

/** One entry point by kind (the web page's form). `value` is the whole value; `data` only for 'msi'. */
export function explainValue(kind: ValueKind, value: bigint, data = 0, width: 32 | 128 = 128): ValueExplanation {
  switch (kind) {
    case 'msi':
      if (value < 0n || value > U64) throw new UsageError(`MSI address ${hex(value)} does not fit in 64 bits`);
      return explainMessageValue(value, data);
    case 'rte':
      return explainRteValue(value);
    case 'intel-irte':
      return explainIntelIrteValue(value);
    case 'amd-irte':
      return explainAmdIrteValue(value, width);
    case 'vtd-fault':
      return explainVtdFaultValue(value);
    case 'amd-event':
      if (value > U128) throw new UsageError('an AMD-Vi event entry is 128 bits');
      return explainAmdEventValue(value);
  }
}
