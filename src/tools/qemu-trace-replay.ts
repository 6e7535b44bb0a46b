/**
 * `irqpath replay`: take a real QEMU trace log (qemu-trace-log.ts), rebuild every interrupt request it shows with the
 * table entries the log printed, run each through a VT-d model programmed to match, and put what QEMU did next to what
 * hardware does, naming every divergence.
 *
 * What the log gives and what is assumed:
 * - The request (`vtd_ir_remap_msi_req addr data`) and, when QEMU read one, its IRTE (`vtd_ir_irte_get index low high`;
 *   QEMU prints the IRTE's upper qword as "low"). IRTEs are remembered by index across the log, as a table would be.
 * - QEMU's result: `vtd_ir_remap_msi (request) -> (result)` when it let the request through (the result in the form
 *   x86_iommu_irq_to_msi_message builds); no such line when it refused it.
 * - Whether remapping was on (`vtd_ir_enable`); the table (`vtd_reg_ir_root addr size`) when the log has it.
 * - IRTA.EIME is not in any QEMU line. It is inferred from a remapped request (`vtd_ir_remap` prints the destination
 *   QEMU used: the IRTE's 32-bit field when EIME = 1, its bits 15:8 when EIME = 0), else taken from the options,
 *   else assumed 1. GSTS.CFIS is QEMU-invisible too (QEMU ignores it): assumed 0, as Linux and Windows leave it.
 * - The requester: upstream QEMU does not trace it. A patched QEMU's `sid` is used; `sid 0xffff` (QEMU's "no
 *   requester", how its I/O APIC's requests arrive) and an unnamed requester of an I/O APIC-type request (SHV = 0)
 *   become the model's I/O APIC source-id; otherwise the IRTE's own SID, so source validation passes, and the report
 *   says so.
 *
 * Each request is also run through the same model with the `qemu` VMM profile applied (profiles.ts,
 * profile-hooks.ts): what irqpath's model of QEMU does, set beside what the real QEMU did, so a disagreement between
 * the two shows a gap in the model rather than hiding it. Output is data (ReplayReport); the CLI formats it.
 */
import { createMachine } from '../machine/machine.ts';
import { formatBdf } from '../core/bdf.ts';
import type { IommuFaultEvent } from '../core/events.ts';
import { UsageError } from '../core/errors.ts';
import * as R from '../iommu-intel/registers.ts';
import { parseQemuTraceLog, type TraceLog, type TraceLogEvent } from './qemu-trace-log.ts';
import { formatHop } from '../machine/trace.ts';
import { applyProfile } from '../vmm/profile-hooks.ts';
import { VMM_PROFILES, type VmmProfile } from '../vmm/profiles.ts';
import {
  big, deliveryDifferences, deliveryFromResult, describeDelivery, num, qemuOutcomeFromResult, sameOutcome, withoutExtra,
  type ReplayOutcome,
} from './trace-replay-outcome.ts';
import { replayAmdRequests, type AmdReplay, type AmdReplayOptions } from './amd-trace-replay.ts';

export interface ReplayOptions extends AmdReplayOptions {
  /** IRTA.EIME (default: inferred from the log, else true). */
  eime?: boolean;
  /** GSTS.CFIS (default false). */
  cfis?: boolean;
}

export type { ReplayOutcome } from './trace-replay-outcome.ts';

export interface ReplayedRequest {
  /** Line of the `vtd_ir_remap_msi_req` in the log. */
  line: number;
  addr: bigint;
  data: number;
  format: 'remappable' | 'compatibility';
  /** The requester the model used, and where it came from. */
  sourceId: number;
  sourceNote: string;
  /** The IRTE the model read (as QEMU printed it), or null. */
  irte: { index: number; low: bigint; high: bigint } | null;
  qemu: ReplayOutcome;
  hardware: ReplayOutcome;
  /** irqpath's model with the `qemu` VMM profile applied, and whether it did what the logged QEMU did. */
  qemuProfile: ReplayOutcome & { matchesLog: boolean };
  /** The log's lines for this request and irqpath's lines for the same request, both in QEMU's formats. */
  trace: { qemu: string[]; irqpath: string[] };
  /** Where hardware differs from what QEMU did (empty when they agree). */
  divergences: string[];
}

export interface ReplayReport {
  unit: 'intel-vtd';
  machine: { irEnabled: boolean; eime: boolean; cfis: boolean; tableBase: number; tableEntries: number; ioapicSourceId: number };
  /** How the model was set up where the log does not say it (or says it only indirectly). */
  assumptions: string[];
  requests: ReplayedRequest[];
  /** The `amdvi_*` requests, replayed on an AMD IOMMU model (amd-trace-replay.ts); null when the log has none. */
  amd: AmdReplay | null;
  skipped: Record<string, number>;
  otherLines: number;
  malformed: { line: number; text: string }[];
}

/** Where the model puts the remapping table when the log does not say (any RAM address, 1 MiB aligned). */
const DEFAULT_TABLE_BASE = 0x1000_0000;
const DEFAULT_TABLE_ENTRIES = 65536;
const SID_INVALID = 0xffff;
const MSI_ADDR_IF = 1 << 4;
const MSI_ADDR_SHV = 1 << 3;

interface PendingRequest {
  req: TraceLogEvent;
  lines: TraceLogEvent[];
  irte: { index: number; low: bigint; high: bigint } | null;
  remap: TraceLogEvent | null;
  result: TraceLogEvent | null;
  irEnabled: boolean;
  table: Map<number, { low: bigint; high: bigint }>;
}


/** Group the log into requests, tracking the unit's state (IR on/off, table) as the log shows it. */
function collect(log: TraceLog, assumptions: string[]): { pending: PendingRequest[]; table: { base: number; entries: number } } {
  const pending: PendingRequest[] = [];
  const table = new Map<number, { low: bigint; high: bigint }>();
  let tableAt: { base: number; entries: number } | null = null;
  let irEnabled: boolean | null = null;
  let current: PendingRequest | null = null;
  for (const ev of log.events) {
    if (!ev.name.startsWith('vtd_')) continue;
    switch (ev.name) {
      case 'vtd_ir_enable':
        irEnabled = ev.values.en !== 0n;
        current = null;
        continue;
      case 'vtd_reg_ir_root':
        tableAt = { base: num(ev.values.addr), entries: num(ev.values.size) };
        continue;
      case 'vtd_ir_remap_msi_req':
        if (irEnabled === null) {
          irEnabled = true;
          assumptions.push('interrupt remapping was already enabled when the log starts (no vtd_ir_enable line before the first request)');
        }
        current = { req: ev, lines: [ev], irte: null, remap: null, result: null, irEnabled, table };
        pending.push(current);
        continue;
    }
    if (current === null) continue;
    current.lines.push(ev);
    if (ev.name === 'vtd_ir_irte_get') {
      const irte = { index: num(ev.values.index), low: big(ev.values.low), high: big(ev.values.high) };
      current.irte = irte;
      table.set(irte.index, { low: irte.low, high: irte.high });
    } else if (ev.name === 'vtd_ir_remap') {
      current.remap = ev;
    } else if (ev.name === 'vtd_ir_remap_msi') {
      current.result = ev;
      current = null;
    }
  }
  // Each request sees the table as the log showed it up to then: snapshot per request.
  const seen = new Map<number, { low: bigint; high: bigint }>();
  for (const p of pending) {
    if (p.irte) seen.set(p.irte.index, { low: p.irte.low, high: p.irte.high });
    p.table = new Map(seen);
  }
  if (tableAt === null) {
    assumptions.push(`the table's address and size are not in the log (no vtd_reg_ir_root line): 0x${DEFAULT_TABLE_BASE.toString(16)}, ${DEFAULT_TABLE_ENTRIES} entries`);
  }
  return { pending, table: tableAt ?? { base: DEFAULT_TABLE_BASE, entries: DEFAULT_TABLE_ENTRIES } };
}

/** EIME from a remapped request: which destination did QEMU take from the IRTE? */
function inferEime(pending: PendingRequest[]): boolean | null {
  for (const p of pending) {
    if (!p.irte || !p.remap) continue;
    const field = Number(p.irte.high >> 32n) >>> 0;
    const xapic = (field >>> 8) & 0xff;
    const printed = num(p.remap.values.dest) >>> 0;
    if (field === xapic) continue; // both readings agree: this entry does not tell
    if (printed === field) return true;
    if (printed === xapic) return false;
  }
  return null;
}

function qemuOutcome(p: PendingRequest, compat: boolean): ReplayOutcome {
  const r = p.result;
  const unchanged = r !== null && big(r.values.addr2) === big(r.values.addr) && num(r.values.data2) === num(r.values.data);
  const passedWhy = unchanged && (compat || !p.irEnabled) ? (p.irEnabled ? 'compatibility format' : 'remapping disabled') : null;
  return qemuOutcomeFromResult(r, 'refused (no vtd_ir_remap_msi line follows the request): the interrupt was dropped', passedWhy);
}

function requester(p: PendingRequest, ioapicSid: number): { sourceId: number; note: string } {
  const sid = p.req.extra.sid;
  const addrLo = Number(big(p.req.values.addr) & 0xffffffffn);
  const ioapicType = (addrLo & MSI_ADDR_IF) === 0 || (addrLo & MSI_ADDR_SHV) === 0;
  if (sid !== undefined && /^0x[0-9a-f]+$|^\d+$/i.test(sid)) {
    const v = Number(sid) & 0xffff;
    if (v !== SID_INVALID) return { sourceId: v, note: `sid ${sid} from the log (${formatBdf(v)})` };
    return { sourceId: ioapicSid, note: `sid 0xffff (QEMU: no requester, its I/O APIC) → the I/O APIC's source-id ${formatBdf(ioapicSid)}` };
  }
  if (ioapicType) return { sourceId: ioapicSid, note: `not in the log; an I/O APIC-type request → the I/O APIC's source-id ${formatBdf(ioapicSid)}` };
  const irteSid = p.irte ? Number(p.irte.low & 0xffffn) : 0;
  return { sourceId: irteSid, note: `not in the log; taken from the IRTE's SID (${formatBdf(irteSid)}) so source validation passes` };
}

function runModel(p: PendingRequest, sourceId: number, eime: boolean, cfis: boolean, tableAt: { base: number; entries: number }, profile?: VmmProfile):
  { outcome: ReplayOutcome; trace: string[] } {
  const m = createMachine({ cpus: 1, iommu: { kind: 'intel', eim: true, dmaTranslation: false } });
  const base = m.firmware.dmar!.registerBase;
  const cpu = m.cpu(0);
  for (const [index, e] of p.table) {
    if (index >= tableAt.entries) continue;
    const at = tableAt.base + index * 16;
    m.memory.write64(at, e.high); // QEMU's "high" is the IRTE's lower qword (bits 63:0)
    m.memory.write64(at + 8, e.low);
  }
  const sizeField = Math.max(0, Math.log2(tableAt.entries) - 1);
  cpu.write64(base + R.IRTA_REG, BigInt(tableAt.base) | (eime ? BigInt(R.IRTA_EIME) : 0n) | BigInt(sizeField));
  cpu.write32(base + R.GCMD_REG, R.GCMD_SIRTP);
  if (p.irEnabled) cpu.write32(base + R.GCMD_REG, R.GCMD_IRE | (cfis ? R.GCMD_CFI : 0));
  if (profile) applyProfile(profile, m);
  const faults: IommuFaultEvent[] = [];
  m.events.on('iommu_fault', (f) => faults.push(f));
  const rec = m.startTrace();
  const addr = big(p.req.values.addr);
  const data = num(p.req.values.data);
  const r = m.core.translateMessage({ sourceId, addr, data }, { deliverNow: true });
  rec.stop();
  const trace = rec.hops.filter((h) => h.name.startsWith('vtd_')).map(formatHop);
  if (r.kind === 'fault' && r.fault) {
    const f = r.fault;
    const linuxLog = faults[0]?.linuxLog ?? null;
    const recordIndex = faults[0] ? Number(BigInt(faults[0].record.fi as string) >> 48n) : f.index;
    return {
      outcome: {
        kind: 'blocked',
        summary: `blocked: fault 0x${f.code.toString(16)} (${f.name}), recorded with index 0x${recordIndex.toString(16)}`,
        fault: { code: f.code, name: f.name, index: recordIndex, recorded: f.recorded, linuxLog },
      },
      trace,
    };
  }
  const delivery = deliveryFromResult(r.msg);
  const remapped = r.format === 'intel-irte' || r.format === 'intel-irte-amd-style' || r.format === 'intel-posted';
  if (r.kind === 'posted') return { outcome: { kind: 'remapped', summary: `posted; notification ${describeDelivery(delivery)}`, delivery }, trace };
  return {
    outcome: remapped
      ? { kind: 'remapped', summary: `remapped to ${describeDelivery(delivery)}`, delivery }
      : { kind: 'passed', summary: `passed through unchanged: ${describeDelivery(delivery)}`, delivery },
    trace,
  };
}

function divergences(p: PendingRequest, qemu: ReplayOutcome, hw: ReplayOutcome, compat: boolean, eime: boolean): string[] {
  const out: string[] = [];
  if (qemu.kind !== 'blocked' && hw.kind === 'blocked') {
    const f = hw.fault!;
    if (qemu.kind === 'passed' && compat) {
      const rule = eime ? 'EIME=1' : 'CFIS=0';
      out.push(`QEMU passed a compatibility-format request through; hardware with ${rule} blocks it with fault 0x${f.code.toString(16)}`);
    } else {
      out.push(`QEMU ${qemu.kind === 'passed' ? 'passed it through' : 'remapped it'}; hardware blocks it with fault 0x${f.code.toString(16)} (${f.name})`);
    }
    return out;
  }
  if (qemu.kind === 'blocked' && hw.kind !== 'blocked') {
    out.push(`QEMU dropped the request; hardware ${hw.kind === 'passed' ? 'passes it' : 'remaps it'} to ${describeDelivery(hw.delivery!)}`);
    return out;
  }
  if (qemu.kind === 'blocked' || !qemu.delivery || !hw.delivery) return out;
  out.push(...deliveryDifferences(qemu.delivery, hw.delivery));
  if (qemu.kind !== hw.kind) out.push(`QEMU ${qemu.kind} it, hardware ${hw.kind} it`);
  void p;
  return out;
}

/** Replay a parsed log. */
export function replayTraceLog(log: TraceLog, options: ReplayOptions = {}): ReplayReport {
  const assumptions: string[] = [];
  const amd = replayAmdRequests(log.events, options);
  const { pending, table } = collect(log, assumptions);
  let eime = options.eime;
  if (eime === undefined) {
    const inferred = inferEime(pending);
    if (inferred === null) {
      eime = true;
      assumptions.push('IRTA.EIME = 1 (x2APIC mode) by default: no remapped request in the log shows which destination QEMU took');
    } else {
      eime = inferred;
      assumptions.push(`IRTA.EIME = ${inferred ? 1 : 0}, inferred from the destination QEMU's vtd_ir_remap printed`);
    }
  }
  const cfis = options.cfis ?? false;
  if (options.cfis === undefined) assumptions.push('GSTS.CFIS = 0 by default (QEMU does not model it; Linux and Windows leave it clear)');
  const ioapicSid = createMachine({ cpus: 1, iommu: { kind: 'intel' } }).firmware.dmar!.ioapicSourceId;

  const requests = pending.map((p): ReplayedRequest => {
    const addr = big(p.req.values.addr);
    const data = num(p.req.values.data);
    const compat = (Number(addr & 0xffffffffn) & MSI_ADDR_IF) === 0;
    const who = requester(p, ioapicSid);
    const qemu = qemuOutcome(p, compat);
    const { outcome: hardware, trace } = runModel(p, who.sourceId, eime, cfis, table);
    const { outcome: modelled } = runModel(p, who.sourceId, eime, cfis, table, VMM_PROFILES.qemu);
    return {
      line: p.req.line,
      addr,
      data,
      format: compat ? 'compatibility' : 'remappable',
      sourceId: who.sourceId,
      sourceNote: who.note,
      irte: p.irte,
      qemu,
      hardware,
      qemuProfile: { ...modelled, matchesLog: sameOutcome(qemu, modelled) },
      trace: { qemu: p.lines.map((l) => withoutExtra(l)), irqpath: trace },
      divergences: divergences(p, qemu, hardware, compat, eime),
    };
  });
  return {
    unit: 'intel-vtd',
    machine: { irEnabled: pending.some((p) => p.irEnabled), eime, cfis, tableBase: table.base, tableEntries: table.entries, ioapicSourceId: ioapicSid },
    // With no VT-d request in the log, the VT-d defaults describe nothing.
    assumptions: pending.length > 0 ? assumptions : [],
    requests,
    amd,
    skipped: log.skipped,
    otherLines: log.otherLines,
    malformed: log.malformed,
  };
}

/** Parse and replay a log's text. */
export function replayQemuTrace(text: string, options: ReplayOptions = {}): ReplayReport {
  const log = parseQemuTraceLog(text);
  if (log.events.length === 0 && log.malformed.length === 0) {
    throw new UsageError('no QEMU trace events found: run QEMU with -trace \'vtd_*\' (and amdvi_*, ioapic_*, apic_*, msi*, pci_cfg_*)');
  }
  return replayTraceLog(log, options);
}
