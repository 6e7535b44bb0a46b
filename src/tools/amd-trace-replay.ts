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
 */
import { createMachine } from '../machine/machine.ts';
import { UsageError } from '../core/errors.ts';
import type { IommuFaultEvent } from '../core/events.ts';
import * as R from '../iommu-amd/registers.ts';
import {
  DTE_D4_INT_TAB_LEN_SHIFT, DTE_D4_IV, DTE_D5_EINT_PASS, DTE_D5_INIT_PASS, DTE_D5_INT_CTL_SHIFT, DTE_D5_NMI_PASS, INT_TAB_LEN_MAX,
} from '../iommu-amd/device-table-entry.ts';
import type { TraceLogEvent } from './qemu-trace-log.ts';
import { formatHop } from '../machine/trace.ts';
import {
  big, deliveryDifferences, deliveryFromResult, describeDelivery, num, qemuOutcomeFromResult, withoutExtra, type ReplayOutcome,
} from './trace-replay-outcome.ts';

export interface AmdReplayOptions {
  /** DTE.IntTabLen of every requester (0..11; default 9, 512 entries, as Linux sets it). */
  intTabLen?: number;
}

export interface AmdReplayedRequest {
  /** Line of the `amdvi_ir_remap_msi_req` in the log. */
  line: number;
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
  trace: { qemu: string[]; irqpath: string[] };
  divergences: string[];
}

export interface AmdReplay {
  machine: { ga: boolean; xtEn: boolean; intTabLen: number; ioapicDeviceId: number };
  assumptions: string[];
  requests: AmdReplayedRequest[];
}

const PROFILE_REASON = "irqpath's `qemu` VMM profile models QEMU's Intel vIOMMU only; no AMD-Vi behaviour of QEMU is in it yet";
/** Where the model puts the device table (all 65 536 DTEs) and the event log; any RAM does. */
const DEV_TABLE = 0x0100_0000;
const EVENT_LOG = 0x0300_0000;
const DEFAULT_IRT = 0x0400_0000;
const DEFAULT_INT_TAB_LEN = 9;

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

function collectAmd(events: TraceLogEvent[]): PendingAmd[] {
  const out: PendingAmd[] = [];
  let cur: PendingAmd | null = null;
  for (const ev of events) {
    if (!ev.name.startsWith('amdvi_')) continue;
    if (ev.name === 'amdvi_ir_remap_msi_req') {
      cur = { req: ev, lines: [ev], mode: null, intCtl: null, irteAt: null, irteVal: null, refusal: null, result: null };
      out.push(cur);
      continue;
    }
    if (cur === null) continue;
    switch (ev.name) {
      case 'amdvi_ir_delivery_mode': cur.mode = ev.values.str as string; break;
      case 'amdvi_ir_intctl': cur.intCtl = num(ev.values.val) & 3; break;
      case 'amdvi_ir_irte': cur.irteAt = { root: big(ev.values.addr), offset: num(ev.values.offset) }; break;
      case 'amdvi_ir_irte_val': cur.irteVal = { ga: false, lo: big(ev.values.data) & 0xffffffffn, hi: 0n }; break;
      case 'amdvi_ir_irte_ga_val': cur.irteVal = { ga: true, lo: big(ev.values.lo), hi: big(ev.values.hi) }; break;
      case 'amdvi_ir_target_abort': case 'amdvi_ir_err': case 'amdvi_err': cur.refusal = ev.values.str as string; break;
      case 'amdvi_ir_remap_msi': cur.result = ev; break;
      default: continue; // command-buffer and invalidation events belong to no request
    }
    cur.lines.push(ev);
    if (ev.name === 'amdvi_ir_remap_msi' || cur.refusal !== null) cur = null;
  }
  return out;
}

interface ModelSetup { ga: boolean; xtEn: boolean; intTabLen: number }

function runAmdModel(p: PendingAmd, deviceId: number, setup: ModelSetup, iv: boolean): { outcome: ReplayOutcome; trace: string[] } {
  const m = createMachine({ cpus: 1, iommu: { kind: 'amd', ga: true, xt: true } });
  const base = m.firmware.ivrs!.registerBase;
  const cpu = m.cpu(0);
  const type = (p.req.values.data as bigint) >> 8n & 7n;
  // The DTE (qword 2 = dwords 4/5): IV, IntTabLen, table root, IntCtl, the pass bits. QEMU passing an NMI/INIT/ExtINT
  // shows the pass bit set; refusing it ("passthrough is not enabled") shows it clear.
  const root = p.irteAt?.root ?? BigInt(DEFAULT_IRT);
  let d4 = (iv ? DTE_D4_IV : 0) | (setup.intTabLen << DTE_D4_INT_TAB_LEN_SHIFT) | (Number(root & 0xffffffc0n) >>> 0);
  let d5 = Number((root >> 32n) & 0xfffffn) | ((p.intCtl ?? 0) << DTE_D5_INT_CTL_SHIFT);
  const passed = p.result !== null;
  if (passed && type === 4n) d5 |= DTE_D5_NMI_PASS;
  if (passed && type === 5n) d5 |= DTE_D5_INIT_PASS;
  if (passed && type === 7n) d5 |= DTE_D5_EINT_PASS;
  d4 >>>= 0;
  const dteAt = DEV_TABLE + deviceId * 32;
  m.memory.write64(dteAt + 16, (BigInt(d5 >>> 0) << 32n) | BigInt(d4));
  if (p.irteAt && p.irteVal) {
    const at = Number(root) + p.irteAt.offset;
    if (p.irteVal.ga) {
      m.memory.write64(at, p.irteVal.lo);
      m.memory.write64(at + 8, p.irteVal.hi);
    } else {
      m.memory.write32(at, Number(p.irteVal.lo));
    }
  }
  cpu.write64(base + R.DEV_TAB_BASE, BigInt(DEV_TABLE) | R.DEV_TAB_SIZE_MASK);
  cpu.write64(base + R.EVT_LOG_BASE, BigInt(EVENT_LOG) | (9n << R.BUF_LEN_SHIFT));
  let control = R.CTRL_IOMMU_EN | R.CTRL_EVENT_LOG_EN;
  if (setup.ga) control |= R.CTRL_GA_EN;
  if (setup.xtEn) control |= R.CTRL_XT_EN;
  cpu.write64(base + R.CONTROL, control);

  const faults: IommuFaultEvent[] = [];
  m.events.on('iommu_fault', (f) => faults.push(f));
  const rec = m.startTrace();
  const r = m.core.translateMessage({ sourceId: deviceId, addr: big(p.req.values.addr), data: num(p.req.values.data) }, { deliverNow: true });
  rec.stop();
  const trace = rec.hops.filter((h) => h.name.startsWith('amdvi_')).map(formatHop);
  if (r.kind === 'fault' && r.fault) {
    const f = r.fault;
    const logged = faults[0];
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

/** Replay the AMD-Vi requests of a parsed log (none: an empty replay). */
export function replayAmdRequests(events: TraceLogEvent[], options: AmdReplayOptions = {}): AmdReplay | null {
  if (options.intTabLen !== undefined && !(Number.isInteger(options.intTabLen) && options.intTabLen >= 0 && options.intTabLen <= INT_TAB_LEN_MAX)) {
    throw new UsageError(`intTabLen: expected an integer 0..${INT_TAB_LEN_MAX} (DTE.IntTabLen; 2^n entries), got ${String(options.intTabLen)}`);
  }
  const pending = collectAmd(events);
  if (pending.length === 0) return null;
  const assumptions: string[] = [];
  const intTabLen = options.intTabLen ?? DEFAULT_INT_TAB_LEN;
  if (options.intTabLen === undefined) {
    assumptions.push(`DTE.IntTabLen = ${DEFAULT_INT_TAB_LEN} (512 entries, as Linux sets it): QEMU never reads it, so no line shows it`);
  }
  const ga = pending.some((p) => p.irteVal?.ga === true);
  assumptions.push(ga
    ? 'Control.GAEn = 1 (the log shows 128-bit IRTEs) and XTEn = 1 (32-bit destinations, as Linux enables with XTSup)'
    : 'Control.GAEn = 0: the log shows 32-bit IRTEs only (or none)');
  assumptions.push('requesters on bus 0: QEMU prints DeviceID bits 7:0 only');
  const setup: ModelSetup = { ga, xtEn: ga, intTabLen };
  const ioapicDeviceId = 0xa0;

  const requests = pending.map((p): AmdReplayedRequest => {
    const deviceId = num(p.req.values.devid) & 0xff;
    const data = num(p.req.values.data);
    const type = (data >>> 8) & 7;
    // No IntCtl line on a fixed/arbitrated request that QEMU let through: QEMU found DTE.IV = 0 and copied it.
    const iv = !(type <= 1 && p.intCtl === null && p.result !== null);
    const passedWhy = !iv ? 'DTE.IV = 0' : p.intCtl === 1 ? 'IntCtl = 01b, forward unmapped' : type > 1 ? `${p.mode ?? 'pass-through'} type, pass bit set` : null;
    const qemu = qemuOutcomeFromResult(p.result, `refused (${p.refusal ?? 'no amdvi_ir_remap_msi line follows'}): the interrupt was dropped, no event logged`, passedWhy);
    const { outcome: hardware, trace } = runAmdModel(p, deviceId, setup, iv);
    const index = p.irteAt ? p.irteAt.offset / (p.irteVal?.ga ? 16 : 4) : -1;
    return {
      line: p.req.line,
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
  });
  return { machine: { ga, xtEn: ga, intTabLen, ioapicDeviceId }, assumptions, requests };
}
