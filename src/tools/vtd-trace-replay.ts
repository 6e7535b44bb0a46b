/**
 * The VT-d half of `irqpath replay` (qemu-trace-replay.ts reads the log and hands events here): every request QEMU's
 * Intel vIOMMU traced is rebuilt with the state of the unit and the table entry the log shows at that moment, run
 * through a VT-d model programmed to match, and set beside what QEMU did, naming every divergence.
 *
 * What the log gives (QEMU hw/i386/intel_iommu.c vtd_interrupt_remap_msi, vtd_remap_irq_get, vtd_irte_get,
 * vtd_handle_gcmd_write, vtd_handle_gcmd_ire, vtd_interrupt_remap_table_setup, vtd_mem_write) and what is assumed:
 * - The request (`vtd_ir_remap_msi_req addr data`) and, when QEMU read one, its IRTE (`vtd_ir_irte_get index low
 *   high`; QEMU prints the IRTE's upper qword as "low"). IRTEs are remembered by index, as a table would be.
 * - QEMU's result: `vtd_ir_remap_msi (request) -> (result)` when it let the request through; no such line when it
 *   refused it.
 * - Whether remapping was on at each request, as the log shows it over time: `vtd_reg_write_gcmd status` (GSTS
 *   before the write, IRES = bit 25), `vtd_ir_enable enable n` (emitted only when IRE changes, so the state before it
 *   was the opposite), and the request itself — QEMU reads an IRTE for a remappable-format request only with
 *   remapping on, and copies it unchanged only with remapping off. A compatibility-format request passes either way;
 *   when nothing before it tells, it waits for the first line that does, and a log that never tells is replayed with
 *   remapping off (GSTS.IRES resets to 0) unless the caller says it was on.
 * - A log whose `-trace` filter left out `vtd_ir_irte_get` still shows what QEMU took from the IRTE (`vtd_ir_remap`
 *   and the message in `vtd_ir_remap_msi`): the entry is rebuilt from those, with SVT = 0.
 * - The table: `vtd_reg_ir_root addr size` (at each SIRTP), else IRTA as written (`vtd_reg_write addr 0xb8`).
 * - IRTA.EIME: from the IRTA write when the log has it; else inferred from a remapped request (`vtd_ir_remap` prints
 *   the destination QEMU used: the IRTE's 32-bit field when EIME = 1, its bits 15:8 when EIME = 0); else 1.
 *   GSTS.CFIS is QEMU-invisible (QEMU ignores it): assumed 0, as Linux and Windows leave it.
 * - The requester: upstream QEMU does not trace it. A patched QEMU's `sid` is used; `sid 0xffff` (QEMU's "no
 *   requester", how its I/O APIC's requests arrive) and an unnamed requester of an I/O APIC-type request (SHV = 0)
 *   become the model's I/O APIC source-id; otherwise the IRTE's own SID, so source validation passes.
 *
 * Each request runs on two models kept for the whole log — hardware, and hardware with the `qemu` VMM profile applied
 * (qemu-vtd-front.ts: what irqpath's model of QEMU does, whose trace lines are set beside QEMU's) — re-programmed only
 * where the request needs it: IRTA and GCMD when the state changed, the one IRTE it reads, that entry's IEC slot, and
 * the fault record it left.
 */
import { Machine } from '../machine/machine.ts';
import { formatBdf } from '../core/bdf.ts';
import type { IommuFaultEvent } from '../core/events.ts';
import { IntelIommu } from '../iommu-intel/intel-iommu.ts';
import * as R from '../iommu-intel/registers.ts';
import type { TraceLogEvent } from './qemu-trace-log.ts';
import { formatHop } from '../machine/trace.ts';
import type { Cpu } from '../machine/cpu.ts';
import { qemuVtdFrontFor } from '../vmm/qemu-vtd-front.ts';
import { VMM_PROFILES } from '../vmm/profiles.ts';
import { TranslationResult } from '../msi/translation-result.ts';
import {
  big, deliveryDifferences, deliveryFromResult, describeDelivery, num, qemuOutcomeFromResult, sameOutcome, withoutExtra,
  type ReplayOutcome,
} from './trace-replay-outcome.ts';

export interface VtdReplayOptions {
  /** IRTA.EIME (default: from the log's IRTA write, else inferred from a remapped request, else true). */
  eime?: boolean;
  /** GSTS.CFIS (default false). */
  cfis?: boolean;
  /** GSTS.IRES when the log starts, for a log that does not show it (default: off, the reset value). */
  irEnabled?: boolean;
}

export interface ReplayedRequest {
  /** Line of the `vtd_ir_remap_msi_req` in the log. */
  line: number;
  /** `VT-d remappable` or `VT-d compatibility`. */
  kind: string;
  addr: bigint;
  data: number;
  format: 'remappable' | 'compatibility';
  /** The unit as the log showed it at this request, and how the replay knows whether remapping was on. */
  unit: { irEnabled: boolean; irFrom: string; eime: boolean; cfis: boolean; tableBase: number; tableEntries: number };
  /** The requester the model used, and where it came from. */
  sourceId: number;
  sourceNote: string;
  /** The IRTE the model read (as QEMU printed it), or null. */
  irte: { index: number; low: bigint; high: bigint } | null;
  qemu: ReplayOutcome;
  hardware: ReplayOutcome;
  /** irqpath's model with the `qemu` VMM profile applied, and whether it did what the logged QEMU did. */
  qemuProfile: ReplayOutcome & { matchesLog: boolean };
  /**
   * The log's lines for this request and the lines of irqpath's model of QEMU (the `qemu` profile) for it, in
   * QEMU's formats; `hardware` are the lines of the hardware model (its fault record, for one).
   */
  trace: { qemu: string[]; irqpath: string[]; hardware: string[] };
  /** Where hardware differs from what QEMU did (empty when they agree). */
  divergences: string[];
}

export interface VtdUnitReport {
  /** The state of the unit at the log's end, and the I/O APIC source-id the model gives QEMU's I/O APIC. */
  machine: { irEnabled: boolean; eime: boolean; cfis: boolean; tableBase: number; tableEntries: number; ioapicSourceId: number };
  /** How the model was set up where the log does not say it (or says it only indirectly), each said once. */
  assumptions: string[];
}

/** Hands a finished request on: the group key, its line span and count, and how to replay it. */
export type RequestSink<R> = (key: string, firstLine: number, lastLine: number, count: number, replay: () => R) => void;

/** Where the model puts the remapping table when the log does not say (any RAM address, 1 MiB aligned). */
const DEFAULT_TABLE_BASE = 0x1000_0000;
const DEFAULT_TABLE_ENTRIES = 65536;
const SID_INVALID = 0xffff;
const MSI_ADDR_IF = 1 << 4;
const MSI_ADDR_SHV = 1 << 3;
const IRTA_EIME = 1n << 11n;
const FRCD_F = 0x8000_0000;

interface Pending {
  req: TraceLogEvent;
  lines: TraceLogEvent[];
  irte: { index: number; low: bigint; high: bigint } | null;
  remap: TraceLogEvent | null;
  result: TraceLogEvent | null;
}

type StateWithNotes = Omit<UnitState, 'irEnabled' | 'irFrom'> & { notes: string[] };

interface UnitState {
  irEnabled: boolean;
  irFrom: string;
  eime: boolean;
  cfis: boolean;
  tableBase: number;
  tableEntries: number;
}

/** One VT-d model kept for the whole replay; each request re-programs only what it reads. */
class VtdModel {
  readonly m: Machine;
  private readonly unit: IntelIommu;
  private readonly cpu: Cpu;
  private readonly base: number;
  private irta = -1n;
  private gcmd = -1;
  private readonly out = new TranslationResult();
  private readonly faults: IommuFaultEvent[] = [];

  constructor(qemuProfile: boolean) {
    // The qemu profile's front (QEMU's vIOMMU as vtd_int_remap behaves) is installed while the machine is assembled.
    this.m = new Machine({ cpus: 1, iommu: { kind: 'intel', eim: true, dmaTranslation: false } }, { remapperFront: qemuProfile ? qemuVtdFrontFor(VMM_PROFILES.qemu) : undefined });
    this.unit = this.m.iommu as IntelIommu;
    this.cpu = this.m.cpu(0);
    this.base = this.m.firmware.dmar!.registerBase;
    this.m.events.on('iommu_fault', (f) => this.faults.push(f));
  }

  get ioapicSourceId(): number {
    return this.m.firmware.dmar!.ioapicSourceId;
  }

  run(s: UnitState, index: number | null, irte: { low: bigint; high: bigint } | null, sourceId: number, addr: bigint, data: number): { outcome: ReplayOutcome; trace: string[] } {
    const cpu = this.cpu;
    const sizeField = Math.max(0, Math.log2(s.tableEntries) - 1);
    const irta = BigInt(s.tableBase) | (s.eime ? IRTA_EIME : 0n) | BigInt(sizeField);
    const gcmd = (s.irEnabled ? R.GCMD_IRE : 0) | (s.cfis ? R.GCMD_CFI : 0);
    if (irta !== this.irta) {
      cpu.write64(this.base + R.IRTA_REG, irta);
      cpu.write32(this.base + R.GCMD_REG, (gcmd | R.GCMD_SIRTP) >>> 0);
      this.irta = irta;
    }
    if (gcmd !== this.gcmd) {
      cpu.write32(this.base + R.GCMD_REG, gcmd >>> 0);
      this.gcmd = gcmd;
    }
    if (index !== null && index < s.tableEntries) {
      // QEMU's "high" is the IRTE's lower qword (bits 63:0); an entry the log never showed reads as zero (P = 0).
      const at = s.tableBase + index * 16;
      this.m.memory.write64(at, irte?.high ?? 0n);
      this.m.memory.write64(at + 8, irte?.low ?? 0n);
      this.unit.iec.invalidateRange(index, 1);
    }
    this.faults.length = 0;
    const rec = this.m.startTrace();
    const r = this.m.core.translate(sourceId, Number(addr >> 32n) >>> 0, Number(addr & 0xffffffffn) >>> 0, data >>> 0, true, this.out);
    rec.stop();
    const trace = rec.hops.filter((h) => h.name.startsWith('vtd_')).map(formatHop);
    const logged = this.faults[0];
    if (logged?.recorded) {
      // Software's part: clear the record (FRCD.F is RW1C) and the status, so the next fault is recorded too.
      const slot = logged.record.frcd as number;
      cpu.write32(this.base + this.unit.options.frcdOffset + slot * R.FRCD_SIZE + 12, FRCD_F);
      cpu.write32(this.base + R.FSTS_REG, R.FSTS_W1C);
    }
    if (r.kind === 'fault' && r.fault) {
      const f = r.fault;
      const recordIndex = logged ? Number(BigInt(logged.record.fi as string) >> 48n) : f.index;
      return {
        outcome: {
          kind: 'blocked',
          summary: `blocked: fault 0x${f.code.toString(16)} (${f.name}), recorded with index 0x${recordIndex.toString(16)}`,
          fault: { code: f.code, name: f.name, index: recordIndex, recorded: f.recorded, linuxLog: logged?.linuxLog ?? null },
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
}

function divergences(qemu: ReplayOutcome, hw: ReplayOutcome, compat: boolean, s: UnitState): string[] {
  const out: string[] = [];
  if (qemu.kind !== 'blocked' && hw.kind === 'blocked') {
    const f = hw.fault!;
    if (qemu.kind === 'passed' && compat) {
      const rule = s.eime ? 'EIME=1' : 'CFIS=0';
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
  return out;
}

const isRemappable = (addr: bigint) => (Number(addr & 0xffffffffn) & MSI_ADDR_IF) !== 0;

/** The IRTE index a remappable request names (handle, plus the sub-handle when SHV), or null for compatibility format. */
function requestIndex(addr: bigint, data: number): number | null {
  const lo = Number(addr & 0xffffffffn);
  if ((lo & MSI_ADDR_IF) === 0) return null;
  const handle = ((lo >>> 5) & 0x7fff) | (((lo >>> 2) & 1) << 15);
  return lo & MSI_ADDR_SHV ? (handle + (data & 0xffff)) & 0xffff : handle;
}

/**
 * What the log shows of one request about the remapping state: QEMU read an IRTE (on), or copied a
 * remappable-format request unchanged without reading one (off). A compatibility-format request tells nothing.
 */
function evidence(p: Pending): boolean | null {
  if (!isRemappable(big(p.req.values.addr))) return null;
  if (p.irte) return true;
  const r = p.result;
  if (r && big(r.values.addr2) === big(r.values.addr) && num(r.values.data2) === num(r.values.data)) return false;
  return true;
}

/** The VT-d requests of one log, read event by event. */
export class VtdTraceReplay {
  private readonly assumptions = new Set<string>();
  private models: { hardware: VtdModel; qemu: VtdModel } | null = null;
  private current: Pending | null = null;
  /** GSTS.IRES as the log has shown it so far (null: not yet). */
  private irEnabled: boolean | null = null;
  private irFrom = '';
  private table: { base: number; entries: number; from: string } | null = null;
  private irtaTable: { base: number; entries: number } | null = null;
  private irtaEime: boolean | null = null;
  private inferredEime: boolean | null = null;
  /** IRTEs the log showed, by index (what a request that does not print its IRTE reads). */
  private readonly seen = new Map<number, { low: bigint; high: bigint }>();
  /** Compatibility-format requests seen while the log had not yet shown whether remapping was on, grouped. */
  private undecided = new Map<string, { first: number; last: number; count: number; p: Pending; s: StateWithNotes }>();
  private requests = 0;

  constructor(private readonly options: VtdReplayOptions, private readonly sink: RequestSink<ReplayedRequest>) {}

  /** Events this half reads (the reader decodes only these). */
  static reads(name: string): boolean {
    return name.startsWith('vtd_ir_') || name.startsWith('vtd_warn_ir_') || name === 'vtd_reg_ir_root' || name === 'vtd_reg_write_gcmd' || name === 'vtd_reg_write';
  }

  event(ev: TraceLogEvent): void {
    switch (ev.name) {
      case 'vtd_ir_enable': {
        this.close();
        const en = ev.values.en !== 0n;
        // QEMU traces it only when IRE changes (vtd_handle_gcmd_write → vtd_handle_gcmd_ire): before it, the opposite.
        if (this.irEnabled === null) this.decide(!en, `line ${ev.line}: vtd_ir_enable enable ${en ? 1 : 0} (QEMU traces a change only)`);
        this.irEnabled = en;
        this.irFrom = `vtd_ir_enable enable ${en ? 1 : 0} at line ${ev.line}`;
        return;
      }
      case 'vtd_reg_write_gcmd': {
        this.close();
        const on = (num(ev.values.status) & R.GSTS_IRES) !== 0;
        if (this.irEnabled === null) this.decide(on, `line ${ev.line}: vtd_reg_write_gcmd status 0x${num(ev.values.status).toString(16)} (GSTS.IRES = ${on ? 1 : 0})`);
        this.irEnabled = on;
        this.irFrom = `GSTS.IRES = ${on ? 1 : 0} in vtd_reg_write_gcmd at line ${ev.line}`;
        return;
      }
      case 'vtd_reg_ir_root':
        this.close();
        this.table = { base: num(ev.values.addr), entries: num(ev.values.size), from: `vtd_reg_ir_root at line ${ev.line}` };
        return;
      case 'vtd_reg_write':
        if (num(ev.values.addr) === R.IRTA_REG && num(ev.values.size) === 8) {
          this.close();
          const v = big(ev.values.val);
          this.irtaEime = (v & IRTA_EIME) !== 0n;
          this.irtaTable = { base: Number(v & ~0xfffn), entries: 2 ** (Number(v & 0xfn) + 1) };
        }
        return;
      case 'vtd_ir_remap_msi_req':
        this.close();
        this.current = { req: ev, lines: [ev], irte: null, remap: null, result: null };
        return;
    }
    const cur = this.current;
    if (cur === null) return;
    if (ev.name === 'vtd_ir_irte_get') {
      cur.irte = { index: num(ev.values.index), low: big(ev.values.low), high: big(ev.values.high) };
      this.seen.set(cur.irte.index, { low: cur.irte.low, high: cur.irte.high });
    } else if (ev.name === 'vtd_ir_remap') {
      cur.remap = ev;
    } else if (!ev.name.startsWith('vtd_ir_') && !ev.name.startsWith('vtd_warn_ir_')) {
      return;
    }
    cur.lines.push(ev);
    if (ev.name === 'vtd_ir_remap_msi') {
      cur.result = ev;
      this.close();
    }
  }

  /** The request the log ends in the middle of, if any (see ReplaySummary.cutOff). */
  cutOff: number | null = null;

  /** The log has ended. */
  finish(): void {
    const p = this.current;
    if (p !== null && p.result === null && p.remap !== null) {
      // QEMU had remapped it (vtd_ir_remap) and the closing vtd_ir_remap_msi line would have followed: the log was
      // cut, not the request refused.
      this.cutOff = p.req.line;
      this.current = null;
    }
    this.close();
    if (this.undecided.size > 0) {
      const on = this.options.irEnabled ?? false;
      const why = this.options.irEnabled === undefined
        ? 'no line of the log shows whether interrupt remapping was on: replayed with it off (GSTS.IRES resets to 0); if the trace started after the guest enabled it, say so (--ir on)'
        : `interrupt remapping ${on ? 'on' : 'off'} when the log starts, as given`;
      this.assumptions.add(why);
      this.decide(on, why);
    }
  }

  report(): VtdUnitReport | null {
    if (this.requests === 0) return null;
    const s = this.state();
    if (this.irEnabled ?? this.options.irEnabled) for (const n of s.notes) this.assumptions.add(n);
    return {
      machine: { irEnabled: this.irEnabled ?? this.options.irEnabled ?? false, eime: s.eime, cfis: s.cfis, tableBase: s.tableBase, tableEntries: s.tableEntries, ioapicSourceId: this.model().hardware.ioapicSourceId },
      assumptions: [...this.assumptions],
    };
  }

  private model(): { hardware: VtdModel; qemu: VtdModel } {
    this.models ??= { hardware: new VtdModel(false), qemu: new VtdModel(true) };
    return this.models;
  }

  /**
   * The unit's state now, apart from IRES; EIME from the request being closed when nothing better is known. What
   * had to be assumed comes with it, to be noted only for requests replayed with remapping on (with it off, none of
   * it is read).
   */
  private state(p?: Pending): Omit<UnitState, 'irEnabled' | 'irFrom'> & { notes: string[] } {
    const notes: string[] = [];
    let eime = this.options.eime ?? this.irtaEime;
    if (eime === undefined || eime === null) {
      const inferred = p ? inferEime(p) : null;
      if (inferred !== null) this.inferredEime ??= inferred;
      eime = inferred ?? this.inferredEime;
      if (eime === null) {
        eime = true;
        notes.push('IRTA.EIME = 1 (x2APIC mode) by default where neither an IRTA write nor a remapped request in the log shows it');
      } else {
        notes.push(`IRTA.EIME = ${eime ? 1 : 0}, inferred from the destination QEMU's vtd_ir_remap printed (the log has no IRTA write)`);
      }
    }
    const cfis = this.options.cfis ?? false;
    if (this.options.cfis === undefined) notes.push('GSTS.CFIS = 0 (QEMU does not model it; Linux and Windows leave it clear)');
    let table = this.table ?? this.irtaTable;
    if (table === null) {
      table = { base: DEFAULT_TABLE_BASE, entries: DEFAULT_TABLE_ENTRIES };
      notes.push(`the table's address and size are not in the log (no vtd_reg_ir_root line): 0x${DEFAULT_TABLE_BASE.toString(16)}, ${DEFAULT_TABLE_ENTRIES} entries`);
    }
    return { eime, cfis, tableBase: table.base, tableEntries: table.entries, notes };
  }

  private close(): void {
    const p = this.current;
    if (p === null) return;
    this.current = null;
    this.requests++;
    const s = this.state(p);
    const seenAt = evidence(p);
    if (seenAt !== null) {
      // This request shows the state now, not before it: requests still waiting keep waiting for a line that shows
      // the state over time (a vtd_ir_enable the log's filter did not capture may lie between).
      if (this.irEnabled !== seenAt) {
        this.irFrom = `QEMU ${seenAt ? 'translated' : 'copied unchanged'} the remappable-format request at line ${p.req.line}`;
      }
      this.irEnabled = seenAt;
      const from = this.irFrom;
      this.emit(p, { ...s, irEnabled: seenAt, irFrom: from }, p.req.line, p.req.line, 1);
      return;
    }
    if (this.irEnabled !== null) {
      this.emit(p, { ...s, irEnabled: this.irEnabled, irFrom: this.irFrom }, p.req.line, p.req.line, 1);
      return;
    }
    const key = stateKey(s) + requestKey(p, this.seen);
    const held = this.undecided.get(key);
    if (held) {
      held.count++;
      held.last = p.req.line;
    } else {
      this.undecided.set(key, { first: p.req.line, last: p.req.line, count: 1, p, s });
    }
  }

  /** The remapping state before the first line that showed it is now known: replay what waited for it. */
  private decide(on: boolean, from: string): void {
    if (this.undecided.size === 0) return;
    const waiting = this.undecided;
    this.undecided = new Map();
    for (const w of waiting.values()) this.emit(w.p, { ...w.s, irEnabled: on, irFrom: from }, w.first, w.last, w.count);
  }

  private emit(p: Pending, state: UnitState & { notes: string[] }, first: number, last: number, count: number): void {
    const { notes, ...s } = state;
    if (s.irEnabled) for (const n of notes) this.assumptions.add(n);
    const key = `${s.irEnabled ? 1 : 0}|${stateKey(s)}${requestKey(p, this.seen)}`;
    this.sink(key, first, last, count, () => this.replay(p, s));
  }

  private replay(p: Pending, s: UnitState): ReplayedRequest {
    const models = this.model();
    const addr = big(p.req.values.addr);
    const data = num(p.req.values.data);
    const compat = !isRemappable(addr);
    const ioapicSid = models.hardware.ioapicSourceId;
    const who = requester(p, ioapicSid);
    const rebuilt = p.irte === null && p.remap !== null ? irteFromRemap(p.remap, p.result, s.eime) : null;
    const index = p.irte?.index ?? rebuilt?.index ?? requestIndex(addr, data);
    const irte = p.irte ?? rebuilt ?? (index !== null ? this.seen.get(index) ?? null : null);
    if (rebuilt) {
      this.assumptions.add("IRTEs rebuilt from vtd_ir_remap where the log has no vtd_ir_irte_get line (its -trace filter left it out): P = 1, the printed vector, delivery mode, trigger mode, destination mode and destination, RH from QEMU's message (address bit 3); SVT = 0 (no source validation), which no line shows");
    }
    const passedWhy = !s.irEnabled ? 'remapping disabled' : compat ? 'compatibility format' : null;
    const r = p.result;
    const unchanged = r !== null && big(r.values.addr2) === big(r.values.addr) && num(r.values.data2) === num(r.values.data);
    const qemu = qemuOutcomeFromResult(r, 'refused (no vtd_ir_remap_msi line follows the request): the interrupt was dropped', unchanged ? passedWhy : null);
    const hw = models.hardware.run(s, index, irte, who.sourceId, addr, data);
    const modelled = models.qemu.run(s, index, irte, who.sourceId, addr, data);
    return {
      line: p.req.line,
      kind: `VT-d ${compat ? 'compatibility' : 'remappable'}`,
      addr,
      data,
      format: compat ? 'compatibility' : 'remappable',
      unit: { ...s },
      sourceId: who.sourceId,
      sourceNote: who.note,
      irte: p.irte,
      qemu,
      hardware: hw.outcome,
      qemuProfile: { ...modelled.outcome, matchesLog: sameOutcome(qemu, modelled.outcome) },
      trace: { qemu: p.lines.map(withoutExtra), irqpath: modelled.trace, hardware: hw.trace },
      divergences: divergences(qemu, hw.outcome, compat, s),
    };
  }
}

function stateKey(s: Omit<UnitState, 'irEnabled' | 'irFrom'>): string {
  return `${s.eime ? 1 : 0}|${s.cfis ? 1 : 0}|${s.tableBase}|${s.tableEntries}|`;
}

/** Everything of a request the replay reads: its lines as printed, and the remembered IRTE it would read. */
function requestKey(p: Pending, seen: Map<number, { low: bigint; high: bigint }>): string {
  let key = p.lines.map((l) => l.text).join('\n');
  if (!p.irte) {
    const index = requestIndex(big(p.req.values.addr), num(p.req.values.data));
    const e = index === null ? undefined : seen.get(index);
    if (e) key += `\n@${e.low.toString(16)}:${e.high.toString(16)}`;
  }
  return key;
}

/**
 * An IRTE that makes the unit do what `vtd_ir_remap index trigger vector deliver dest mode` says QEMU did, for a log
 * without the `vtd_ir_irte_get` line (VT-d IRTE layout: P 0, DM 2, TM 4, DLM 7:5, vector 23:16, destination 63:32 in
 * x2APIC mode or 47:40 in xAPIC mode), in QEMU's printing (`low` = bits 127:64, `high` = bits 63:0).
 */
function irteFromRemap(remap: TraceLogEvent, result: TraceLogEvent | null, eime: boolean): { index: number; low: bigint; high: bigint } {
  const v = remap.values;
  const dest = BigInt(num(v.dest) >>> 0);
  const destField = eime ? dest << 32n : (dest & 0xffn) << 40n;
  // RH (bit 3) is not printed by vtd_ir_remap, but QEMU copies it into the message it hands on: address bit 3.
  const rh = result !== null ? (big(result.values.addr2) >> 3n) & 1n : 0n;
  const high = destField | (BigInt(num(v.vector) & 0xff) << 16n) | (BigInt(num(v.deliver) & 7) << 5n) | (BigInt(num(v.trigger) & 1) << 4n) | (rh << 3n) | (BigInt(num(v.mode) & 1) << 2n) | 1n;
  return { index: num(v.index), low: 0n, high };
}

/** EIME from a remapped request: which destination did QEMU take from the IRTE? */
function inferEime(p: Pending): boolean | null {
  if (!p.irte || !p.remap) return null;
  const field = Number(p.irte.high >> 32n) >>> 0;
  const xapic = (field >>> 8) & 0xff;
  const printed = num(p.remap.values.dest) >>> 0;
  if (field === xapic) return null; // both readings agree: this entry does not tell
  if (printed === field) return true;
  if (printed === xapic) return false;
  return null;
}

function requester(p: Pending, ioapicSid: number): { sourceId: number; note: string } {
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
