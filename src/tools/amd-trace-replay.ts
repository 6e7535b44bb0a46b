/**
 * The AMD-Vi half of `irqpath replay` (qemu-trace-replay.ts reads the log and does VT-d): every request QEMU's AMD
 * vIOMMU traced is rebuilt with the DTE and IRTE the log shows, run through the AMD IOMMU model on a machine built to
 * match, and set beside what QEMU did, naming every divergence.
 *
 * What the log gives (hw/i386/trace-events; QEMU hw/i386/amd_iommu.c amdvi_int_remap_msi, __amdvi_int_remap_msi,
 * amdvi_int_remap_legacy / amdvi_int_remap_ga, amdvi_get_irte / amdvi_get_irte_ga):
 * - `amdvi_ir_remap_msi_req addr data devid`: the request. QEMU's devid argument is uint8_t: DeviceID 7:0 only; the
 *   replay takes the requester as bus 0 (where QEMU's I/O APIC, 00:14.0 = 0xa0, and q35's devices usually sit).
 * - `amdvi_ir_delivery_mode`: the message type QEMU read from data 10:8.
 * - `amdvi_ir_intctl int_ctl`: DTE.IntCtl. No such line for a fixed/arbitrated request means QEMU passed it before
 *   reading IntCtl: DTE.IV = 0 (or no device table), which the model is given.
 * - `amdvi_ir_irte addr offset`: the interrupt table root and the entry's byte offset (index x 4, or x 16 with
 *   128-bit IRTEs), then `amdvi_ir_irte_val data` (32-bit IRTE) or `amdvi_ir_irte_ga_val hi lo` (128-bit: GAEn = 1).
 * - `amdvi_ir_target_abort` / `amdvi_ir_err`: QEMU refused it; `amdvi_ir_remap_msi (request) -> (result)`: QEMU let
 *   it through, with the result built by x86_iommu_irq_to_msi_message.
 * - Not in any line: DTE.IntTabLen (QEMU never reads it; assumed 9, 512 entries, as Linux sets it, unless given),
 *   Control.XTEn (assumed 1 with 128-bit IRTEs: Linux enables it with XTSup, and QEMU's xtsup=on takes destination
 *   31:24 from the IRTE), the DTE pass bits (taken from what QEMU did with an NMI/INIT/ExtINT).
 *
 * The `qemu` VMM profile (profiles.ts) models no behaviour of QEMU's AMD vIOMMU, so the AMD requests carry no profile
 * column: the reason is given instead.
 *
 * The requests stream in (event by event) and run on one AMD IOMMU model per Control setting (GAEn/XTEn) kept for the
 * whole log; each request re-programs what it reads — its DTE, its IRTE — and rewrites the device table base, which
 * drops the DTE and IRTE caches as the invalidation commands software issues after such changes would, and a fault's
 * event is consumed from the event log (head = tail) as a driver would.
 */
import { createMachine, type Machine } from '../machine/machine.ts';
import { UsageError } from '../core/errors.ts';
import type { IommuFaultEvent } from '../core/events.ts';
import type { Cpu } from '../machine/cpu.ts';
import * as R from '../iommu-amd/registers.ts';
import {
  DTE_D4_INT_TAB_LEN_SHIFT, DTE_D4_IV, DTE_D5_EINT_PASS, DTE_D5_INIT_PASS, DTE_D5_INT_CTL_SHIFT, DTE_D5_NMI_PASS, INT_TAB_LEN_MAX,
} from '../iommu-amd/device-table-entry.ts';
import type { TraceLogEvent } from './qemu-trace-log.ts';
import { formatHop } from '../machine/trace.ts';
import { TranslationResult } from '../msi/translation-result.ts';
import {
  big, deliveryDifferences, deliveryFromResult, describeDelivery, num, qemuOutcomeFromResult, withoutExtra, type ReplayOutcome,
} from './trace-replay-outcome.ts';
import type { RequestSink } from './vtd-trace-replay.ts';

export interface AmdReplayOptions {
  /** DTE.IntTabLen of every requester (0..11; default 9, 512 entries, as Linux sets it). */
  intTabLen?: number;
}

export interface AmdReplayedRequest {
  /** Line of the `amdvi_ir_remap_msi_req` in the log. */
  line: number;
  /** `AMD-Vi fixed/arbitrated`, `AMD-Vi nmi`, ...: the message type QEMU read. */
  kind: string;
  addr: bigint;
  data: number;
  /** DeviceID the model used (QEMU prints 7:0; bus 0 assumed). */
  deviceId: number;
  /** The DTE fields the model was given, and where each came from. */
  dte: { iv: boolean; intCtl: number | null; intTabLen: number; tableRoot: bigint | null };
  /** The IRTE QEMU read (128-bit: `hi`/`lo` qwords; 32-bit: `lo` only), with its index. */
  irte: { index: number; ga: boolean; lo: bigint; hi: bigint } | null;
  qemu: ReplayOutcome;
  hardware: ReplayOutcome;
  /** Why there is no `qemu` profile column for this request. */
  qemuProfile: { applies: false; reason: string };
  /** The log's lines and the hardware model's lines (irqpath has no model of QEMU's AMD vIOMMU to print them). */
  trace: { qemu: string[]; irqpath: string[] };
  divergences: string[];
}

export interface AmdUnitReport {
  machine: { ga: boolean; xtEn: boolean; intTabLen: number; ioapicDeviceId: number };
  assumptions: string[];
}

const PROFILE_REASON = "irqpath's `qemu` VMM profile models QEMU's Intel vIOMMU only; no AMD-Vi behaviour of QEMU is in it yet";
/** Where the model puts the device table (all 65 536 DTEs) and the event log; any RAM does. */
const DEV_TABLE = 0x0100_0000;
const EVENT_LOG = 0x0300_0000;
const DEFAULT_IRT = 0x0400_0000;
const DEFAULT_INT_TAB_LEN = 9;
/** QEMU's AMDVI_IOAPIC_SB_DEVID: 00:14.0, the requester QEMU gives its I/O APIC. */
const IOAPIC_DEVICE_ID = 0xa0;

interface PendingAmd {
  req: TraceLogEvent;
  lines: TraceLogEvent[];
  mode: string | null;
  intCtl: number | null;
  irteAt: { root: bigint; offset: number } | null;
  irteVal: { ga: boolean; lo: bigint; hi: bigint } | null;
  refusal: string | null;
  result: TraceLogEvent | null;
}

interface ModelSetup { ga: boolean; xtEn: boolean; intTabLen: number }

/** One AMD IOMMU model with a fixed Control (GAEn, XTEn), kept for the whole replay. */
class AmdModel {
  private readonly m: Machine;
  private readonly cpu: Cpu;
  private readonly base: number;
  private readonly out = new TranslationResult();
  private readonly faults: IommuFaultEvent[] = [];

  constructor(setup: ModelSetup) {
    this.m = createMachine({ cpus: 1, iommu: { kind: 'amd', ga: true, xt: true } });
    this.base = this.m.firmware.ivrs!.registerBase;
    this.cpu = this.m.cpu(0);
    this.cpu.write64(this.base + R.DEV_TAB_BASE, BigInt(DEV_TABLE) | R.DEV_TAB_SIZE_MASK);
    this.cpu.write64(this.base + R.EVT_LOG_BASE, BigInt(EVENT_LOG) | (9n << R.BUF_LEN_SHIFT));
    let control = R.CTRL_IOMMU_EN | R.CTRL_EVENT_LOG_EN;
    if (setup.ga) control |= R.CTRL_GA_EN;
    if (setup.xtEn) control |= R.CTRL_XT_EN;
    this.cpu.write64(this.base + R.CONTROL, control);
    this.m.events.on('iommu_fault', (f) => this.faults.push(f));
  }

  run(p: PendingAmd, deviceId: number, intTabLen: number, iv: boolean): { outcome: ReplayOutcome; trace: string[] } {
    const { m, cpu } = this;
    const type = (p.req.values.data as bigint) >> 8n & 7n;
    // The DTE (qword 2 = dwords 4/5): IV, IntTabLen, table root, IntCtl, the pass bits. QEMU passing an NMI/INIT/ExtINT
    // shows the pass bit set; refusing it ("passthrough is not enabled") shows it clear.
    const root = p.irteAt?.root ?? BigInt(DEFAULT_IRT);
    let d4 = (iv ? DTE_D4_IV : 0) | (intTabLen << DTE_D4_INT_TAB_LEN_SHIFT) | (Number(root & 0xffffffc0n) >>> 0);
    let d5 = Number((root >> 32n) & 0xfffffn) | ((p.intCtl ?? 0) << DTE_D5_INT_CTL_SHIFT);
    const passed = p.result !== null;
    if (passed && type === 4n) d5 |= DTE_D5_NMI_PASS;
    if (passed && type === 5n) d5 |= DTE_D5_INIT_PASS;
    if (passed && type === 7n) d5 |= DTE_D5_EINT_PASS;
    d4 >>>= 0;
    m.memory.write64(DEV_TABLE + deviceId * 32 + 16, (BigInt(d5 >>> 0) << 32n) | BigInt(d4));
    if (p.irteAt && p.irteVal) {
      const at = Number(root) + p.irteAt.offset;
      if (p.irteVal.ga) {
        m.memory.write64(at, p.irteVal.lo);
        m.memory.write64(at + 8, p.irteVal.hi);
      } else {
        m.memory.write32(at, Number(p.irteVal.lo));
      }
    }
    // Rewriting the device table base drops the DTE and IRTE caches: what INVALIDATE_DEVTAB_ENTRY and
    // INVALIDATE_INTERRUPT_TABLE would do after software changed this DTE and IRTE.
    cpu.write64(this.base + R.DEV_TAB_BASE, BigInt(DEV_TABLE) | R.DEV_TAB_SIZE_MASK);

    this.faults.length = 0;
    const rec = m.startTrace();
    const addr = big(p.req.values.addr);
    const r = m.core.translate(deviceId, Number(addr >> 32n) >>> 0, Number(addr & 0xffffffffn) >>> 0, num(p.req.values.data) >>> 0, true, this.out);
    rec.stop();
    const trace = rec.hops.filter((h) => h.name.startsWith('amdvi_')).map(formatHop);
    const logged = this.faults[0];
    // A driver consumes the event it was given: head = tail, so the log never fills over a long replay.
    if (logged?.recorded) cpu.write64(this.base + R.EVT_LOG_HEAD, cpu.read64(this.base + R.EVT_LOG_TAIL));
    if (r.kind === 'fault' && r.fault) {
      const f = r.fault;
      const event = !logged
        ? 'no event (the IOMMU defines none for this abort)'
        : logged.recorded
          ? `${f.name} written to the event log`
          : `${f.name} not logged (${logged.suppressedBy ?? 'event log unavailable'})`;
      return {
        outcome: {
          kind: 'blocked',
          summary: `target abort: ${f.detail}; ${event}`,
          fault: { code: f.code, name: f.name, index: f.index, recorded: logged?.recorded ?? false, linuxLog: logged?.recorded ? logged.linuxLog ?? null : null },
        },
        trace,
      };
    }
    const delivery = deliveryFromResult(r.msg);
    if (r.format === 'amd-irte') return { outcome: { kind: 'remapped', summary: `remapped to ${describeDelivery(delivery)}`, delivery }, trace };
    return { outcome: { kind: 'passed', summary: `passed through unchanged: ${describeDelivery(delivery)}`, delivery }, trace };
  }
}

/** Why QEMU and hardware differ, in words (QEMU deviations: hw/i386/amd_iommu.c amdvi_int_remap_msi). */
function amdDivergences(p: PendingAmd, qemu: ReplayOutcome, hw: ReplayOutcome, intTabLen: number): string[] {
  const out: string[] = [];
  if (qemu.kind !== 'blocked' && hw.kind === 'blocked') {
    const f = hw.fault!;
    const index = p.irteAt ? p.irteAt.offset / (p.irteVal?.ga ? 16 : 4) : -1;
    if (f.name === 'IO_PAGE_FAULT' && index >= 1 << intTabLen) {
      out.push(`QEMU ignores DTE.IntTabLen and read IRTE ${index}; hardware with IntTabLen ${intTabLen} (${1 << intTabLen} entries) aborts it and logs IO_PAGE_FAULT`);
    } else {
      out.push(`QEMU ${qemu.kind === 'passed' ? 'passed it through' : 'remapped it'}; hardware aborts it (${f.name})`);
    }
    return out;
  }
  if (qemu.kind === 'blocked' && hw.kind !== 'blocked') {
    out.push(`QEMU dropped the request; hardware ${hw.kind === 'passed' ? 'passes it' : 'remaps it'} to ${describeDelivery(hw.delivery!)}`);
    return out;
  }
  if (qemu.kind === 'blocked' && hw.kind === 'blocked') {
    // Both drop it; QEMU's AMD vIOMMU writes no event for any interrupt-remapping failure (amdvi_int_remap_msi only
    // traces and returns an error), where hardware logs one.
    if (hw.fault?.recorded) out.push(`both drop it, but hardware also logs ${hw.fault.name} in the event log (the guest sees it); QEMU never logs an event for an interrupt-remapping failure`);
    return out;
  }
  if (!qemu.delivery || !hw.delivery) return out;
  out.push(...deliveryDifferences(qemu.delivery, hw.delivery, {
    trigger: "QEMU's AMD vIOMMU rebuilds the message with trigger mode 0 (x86_iommu_irq_to_msi_message); hardware keeps the request's",
  }));
  if (qemu.kind !== hw.kind) out.push(`QEMU ${qemu.kind} it, hardware ${hw.kind} it`);
  return out;
}

/** The AMD-Vi requests of one log, read event by event. */
export class AmdTraceReplay {
  private readonly intTabLen: number;
  private readonly models = new Map<boolean, AmdModel>();
  private current: PendingAmd | null = null;
  /** GAEn as the last IRTE read showed it (128-bit IRTE: 1). */
  private ga: boolean | null = null;
  private anyGa = false;
  private requests = 0;

  constructor(private readonly options: AmdReplayOptions, private readonly sink: RequestSink<AmdReplayedRequest>) {
    if (options.intTabLen !== undefined && !(Number.isInteger(options.intTabLen) && options.intTabLen >= 0 && options.intTabLen <= INT_TAB_LEN_MAX)) {
      throw new UsageError(`intTabLen: expected an integer 0..${INT_TAB_LEN_MAX} (DTE.IntTabLen; 2^n entries), got ${String(options.intTabLen)}`);
    }
    this.intTabLen = options.intTabLen ?? DEFAULT_INT_TAB_LEN;
  }

  static reads(name: string): boolean {
    return name.startsWith('amdvi_ir_') || name === 'amdvi_err';
  }

  event(ev: TraceLogEvent): void {
    if (ev.name === 'amdvi_ir_remap_msi_req') {
      this.close();
      this.current = { req: ev, lines: [ev], mode: null, intCtl: null, irteAt: null, irteVal: null, refusal: null, result: null };
      return;
    }
    const cur = this.current;
    if (cur === null) return;
    switch (ev.name) {
      case 'amdvi_ir_delivery_mode': cur.mode = ev.values.str as string; break;
      case 'amdvi_ir_intctl': cur.intCtl = num(ev.values.val) & 3; break;
      case 'amdvi_ir_irte': cur.irteAt = { root: big(ev.values.addr), offset: num(ev.values.offset) }; break;
      case 'amdvi_ir_irte_val': cur.irteVal = { ga: false, lo: big(ev.values.data) & 0xffffffffn, hi: 0n }; break;
      case 'amdvi_ir_irte_ga_val': cur.irteVal = { ga: true, lo: big(ev.values.lo), hi: big(ev.values.hi) }; break;
      case 'amdvi_ir_target_abort': case 'amdvi_ir_err': case 'amdvi_err': cur.refusal = ev.values.str as string; break;
      case 'amdvi_ir_remap_msi': cur.result = ev; break;
      default: return; // command-buffer and invalidation events belong to no request
    }
    cur.lines.push(ev);
    if (ev.name === 'amdvi_ir_remap_msi' || cur.refusal !== null) this.close();
  }

  /** The request the log ends in the middle of, if any (see ReplaySummary.cutOff). */
  cutOff: number | null = null;

  finish(): void {
    const p = this.current;
    if (p !== null && p.result === null && p.refusal === null) {
      // QEMU's AMD vIOMMU traces every refusal (amdvi_ir_err, amdvi_ir_target_abort, amdvi_err): with neither that
      // nor the closing line, the log was cut inside the request.
      this.cutOff = p.req.line;
      this.current = null;
    }
    this.close();
  }

  report(): AmdUnitReport | null {
    if (this.requests === 0) return null;
    const assumptions: string[] = [];
    if (this.options.intTabLen === undefined) {
      assumptions.push(`DTE.IntTabLen = ${DEFAULT_INT_TAB_LEN} (512 entries, as Linux sets it): QEMU never reads it, so no line shows it`);
    }
    assumptions.push(this.anyGa
      ? 'Control.GAEn = 1 where the log shows 128-bit IRTEs, with XTEn = 1 (32-bit destinations, as Linux enables with XTSup)'
      : 'Control.GAEn = 0: the log shows 32-bit IRTEs only (or none)');
    assumptions.push('requesters on bus 0: QEMU prints DeviceID bits 7:0 only');
    return { machine: { ga: this.anyGa, xtEn: this.anyGa, intTabLen: this.intTabLen, ioapicDeviceId: IOAPIC_DEVICE_ID }, assumptions };
  }

  private close(): void {
    const p = this.current;
    if (p === null) return;
    this.current = null;
    this.requests++;
    if (p.irteVal) this.ga = p.irteVal.ga;
    if (p.irteVal?.ga) this.anyGa = true;
    const ga = this.ga ?? false;
    const key = `${ga ? 1 : 0}|` + p.lines.map((l) => l.text).join('\n');
    this.sink(key, p.req.line, p.req.line, 1, () => this.replay(p, ga));
  }

  private replay(p: PendingAmd, ga: boolean): AmdReplayedRequest {
    let model = this.models.get(ga);
    if (!model) {
      model = new AmdModel({ ga, xtEn: ga, intTabLen: this.intTabLen });
      this.models.set(ga, model);
    }
    const intTabLen = this.intTabLen;
    const deviceId = num(p.req.values.devid) & 0xff;
    const data = num(p.req.values.data);
    const type = (data >>> 8) & 7;
    // No IntCtl line on a fixed/arbitrated request that QEMU let through: QEMU found DTE.IV = 0 and copied it.
    const iv = !(type <= 1 && p.intCtl === null && p.result !== null);
    const passedWhy = !iv ? 'DTE.IV = 0' : p.intCtl === 1 ? 'IntCtl = 01b, forward unmapped' : type > 1 ? `${p.mode ?? 'pass-through'} type, pass bit set` : null;
    const qemu = qemuOutcomeFromResult(p.result, `refused (${p.refusal ?? 'no amdvi_ir_remap_msi line follows'}): the interrupt was dropped, no event logged`, passedWhy);
    const { outcome: hardware, trace } = model.run(p, deviceId, intTabLen, iv);
    const index = p.irteAt ? p.irteAt.offset / (p.irteVal?.ga ? 16 : 4) : -1;
    return {
      line: p.req.line,
      kind: `AMD-Vi ${p.mode ?? 'request'}`,
      addr: big(p.req.values.addr),
      data,
      deviceId,
      dte: { iv, intCtl: p.intCtl, intTabLen, tableRoot: p.irteAt?.root ?? null },
      irte: p.irteAt && p.irteVal ? { index, ...p.irteVal } : null,
      qemu,
      hardware,
      qemuProfile: { applies: false, reason: PROFILE_REASON },
      trace: { qemu: p.lines.map(withoutExtra), irqpath: trace },
      divergences: amdDivergences(p, qemu, hardware, intTabLen),
    };
  }
}
