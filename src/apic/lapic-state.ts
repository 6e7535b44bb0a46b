/**
 * The JSON-serialisable snapshot of one LAPIC and its validating restore (all-or-nothing: everything is checked
 * before anything is written). 32-bit registers are plain numbers; IA32_APIC_BASE is a hex string (64-bit).
 */
import { UsageError } from '../core/errors.ts';
import { APIC_BASE_BSP, APIC_BASE_RESERVED, apicBaseMode } from './apic-base.ts';
import { CpuRunState, isIntInRange, type CpuRunStateSnapshot } from './cpu-run-state.ts';
import type { LapicTimer, LapicTimerState } from './lapic-timer.ts';
import {
  APIC_BITMAP_WORDS,
  APIC_LVT_COUNT,
  DFR_RESERVED_ONES,
  ICR_HI_XAPIC_MASK,
  ICR_LO_WRITABLE,
  LDR_XAPIC_MASK,
  LVT_REMOTE_IRR,
  LVT_WRITABLE,
  SVR_WRITABLE,
  TDCR_WRITABLE,
} from './registers.ts';

export const LAPIC_STATE_VERSION = 1;

/** The 32-bit registers and latches a state holds exactly as the LAPIC does (both interfaces below share them). */
export interface LapicScalarRegisters {
  id: number;
  tpr: number;
  ldr: number;
  dfr: number;
  svr: number;
  icrLo: number;
  icrHi: number;
  tmict: number;
  tdcr: number;
  esr: number;
  esrPending: number;
  errorInterruptArmed: boolean;
}

/**
 * The register file a state is saved from and applied to. `Lapic` implements it; naming the fields here (instead
 * of importing the class) keeps the import graph one-way: lapic.ts uses this module, never the reverse.
 */
export interface LapicRegisterFile extends LapicScalarRegisters {
  readonly cpu: number;
  readonly initialApicId: number;
  apicBase: bigint;
  mode: 'disabled' | 'xapic' | 'x2apic';
  readonly lvt: Uint32Array;
  readonly irr: Uint32Array;
  readonly isr: Uint32Array;
  readonly tmr: Uint32Array;
  readonly run: CpuRunState;
  /** A plain copy of one register block (what a saved state holds), read without making the typed-array views. */
  copyRegisterWords(block: 'lvt' | 'irr' | 'isr' | 'tmr'): number[];
  lintLines: number;
  readonly timerState: LapicTimer | null;
  ensureTimer(): LapicTimer;
}

export interface LapicState extends LapicScalarRegisters {
  version: number;
  cpu: number;
  /** Identifies the LAPIC: a state restores only onto the LAPIC with the same initial APIC ID. */
  initialApicId: number;
  /** IA32_APIC_BASE as "0x..." */
  apicBase: string;
  lvt: number[];
  irr: number[];
  isr: number[];
  tmr: number[];
  run: CpuRunStateSnapshot;
  /** LINT0 (bit 0) and LINT1 (bit 1) input levels as last seen. */
  lintLines: number;
  /** The timer's counting state; null when the timer was never touched. */
  timer: LapicTimerState | null;
}

/** The fields of a {@link LapicState}: exactly what {@link saveLapicRegisters} writes. */
const LAPIC_STATE_KEYS: ReadonlySet<string> = new Set([
  'version', 'cpu', 'initialApicId', 'apicBase', 'id', 'tpr', 'ldr', 'dfr', 'svr', 'icrLo', 'icrHi', 'tmict', 'tdcr',
  'esr', 'esrPending', 'errorInterruptArmed', 'lvt', 'irr', 'isr', 'tmr', 'run', 'lintLines', 'timer',
]);
const TIMER_STATE_KEYS: ReadonlySet<string> = new Set(['running', 'countBase', 'baseTime', 'tscDeadline']);

export function saveLapicRegisters(lapic: LapicRegisterFile): LapicState {
  return {
    version: LAPIC_STATE_VERSION,
    cpu: lapic.cpu,
    initialApicId: lapic.initialApicId,
    apicBase: '0x' + lapic.apicBase.toString(16),
    id: lapic.id,
    tpr: lapic.tpr,
    ldr: lapic.ldr,
    dfr: lapic.dfr,
    svr: lapic.svr,
    icrLo: lapic.icrLo,
    icrHi: lapic.icrHi,
    tmict: lapic.tmict,
    tdcr: lapic.tdcr,
    esr: lapic.esr,
    esrPending: lapic.esrPending,
    errorInterruptArmed: lapic.errorInterruptArmed,
    lvt: lapic.copyRegisterWords('lvt'),
    irr: lapic.copyRegisterWords('irr'),
    isr: lapic.copyRegisterWords('isr'),
    tmr: lapic.copyRegisterWords('tmr'),
    run: lapic.run.save(),
    lintLines: lapic.lintLines,
    timer: lapic.timerState === null ? null : lapic.timerState.save(),
  };
}

/** Freeze a state from {@link saveLapicRegisters} in place (it shares nothing with the LAPIC), arrays included. */
export function freezeLapicState(s: LapicState): Readonly<LapicState> {
  Object.freeze(s.lvt);
  Object.freeze(s.irr);
  Object.freeze(s.isr);
  Object.freeze(s.tmr);
  Object.freeze(s.run);
  if (s.timer) Object.freeze(s.timer);
  return Object.freeze(s);
}

/** A state that passed validation for one particular LAPIC. */
export interface ValidatedLapicState {
  readonly lapic: LapicRegisterFile;
  readonly state: LapicState;
  readonly mode: 'disabled' | 'xapic' | 'x2apic';
  readonly apicBase: bigint;
}

/** Check every field of `state` against `lapic`; throws {@link UsageError} naming the first bad field. */
export function validateLapicState(lapic: LapicRegisterFile, state: unknown): ValidatedLapicState {
  const where = `lapic${lapic.cpu} state`;
  if (typeof state !== 'object' || state === null) throw new UsageError(`${where}: expected an object`);
  const s = state as Record<string, unknown>;
  const fail = (field: string, why: string): never => {
    throw new UsageError(`${where}.${field}: ${why}`);
  };
  if (s.version !== LAPIC_STATE_VERSION) fail('version', `expected ${LAPIC_STATE_VERSION}, got ${JSON.stringify(s.version)}`);
  // A field no LAPIC has would be dropped by the restore: refuse it rather than lose it silently.
  for (const key of Object.keys(s)) if (!LAPIC_STATE_KEYS.has(key)) fail(key, 'no such field in a LAPIC state');
  if (s.cpu !== lapic.cpu) fail('cpu', `state is for CPU ${JSON.stringify(s.cpu)}, this LAPIC is CPU ${lapic.cpu}`);
  if (s.initialApicId !== lapic.initialApicId) {
    fail('initialApicId', `state is for APIC ID ${JSON.stringify(s.initialApicId)}, this LAPIC has ${lapic.initialApicId}`);
  }
  const u32 = (field: string, allowed = 0xffffffff): number => {
    const v = s[field];
    if (!isIntInRange(v, 0, 0xffffffff)) return fail(field, 'expected an unsigned 32-bit integer');
    if ((v & ~allowed) !== 0) fail(field, `bits 0x${((v & ~allowed) >>> 0).toString(16)} cannot be set in this register`);
    return v;
  };
  const words = (field: string, length: number, allowed: (i: number) => number): number[] => {
    const v = s[field];
    if (!Array.isArray(v) || v.length !== length) return fail(field, `expected an array of ${length} numbers`);
    v.forEach((w, i) => {
      if (!isIntInRange(w, 0, 0xffffffff)) fail(`${field}[${i}]`, 'expected an unsigned 32-bit integer');
      if ((w & ~allowed(i)) !== 0) fail(`${field}[${i}]`, 'reserved bits set');
    });
    return v as number[];
  };

  if (typeof s.apicBase !== 'string' || !/^0x[0-9a-f]{1,16}$/i.test(s.apicBase)) {
    fail('apicBase', 'expected a hex string "0x..." of at most 64 bits');
  }
  const apicBase = BigInt(s.apicBase as string);
  if ((apicBase & APIC_BASE_RESERVED) !== 0n) fail('apicBase', 'reserved bits set');
  const mode = apicBaseMode(apicBase);
  if (mode === 'invalid') fail('apicBase', 'EN=0 with EXTD=1 is not a state the APIC can be in');
  if ((apicBase & APIC_BASE_BSP) !== (lapic.apicBase & APIC_BASE_BSP)) fail('apicBase', 'the BSP bit is fixed by hardware');

  const id = u32('id');
  const ldr = u32('ldr');
  if (mode === 'x2apic') {
    if (id !== lapic.initialApicId) fail('id', 'in x2APIC mode the ID is the initial APIC ID');
    const expectedLdr = (((id >>> 4) << 16) | (1 << (id & 0xf))) >>> 0;
    if (ldr !== expectedLdr) fail('ldr', 'in x2APIC mode the LDR is derived from the ID');
  } else if (mode === 'xapic') {
    if ((id & 0x00ffffff) !== 0) fail('id', 'the xAPIC ID lives in bits 31:24');
    if ((ldr & ~LDR_XAPIC_MASK) !== 0) fail('ldr', 'the xAPIC LDR lives in bits 31:24');
  }
  u32('tpr', 0xff);
  const dfr = u32('dfr');
  if ((dfr & DFR_RESERVED_ONES) !== DFR_RESERVED_ONES) fail('dfr', 'bits 27:0 read as ones');
  u32('svr', SVR_WRITABLE);
  u32('icrLo', ICR_LO_WRITABLE);
  // A disabled APIC keeps the ICR it had: after x2APIC → disabled that is a 32-bit destination (the bits are cut
  // to the xAPIC field only on disabled → xAPIC), so only xAPIC mode limits ICR high to bits 31:24.
  u32('icrHi', mode === 'xapic' ? ICR_HI_XAPIC_MASK : 0xffffffff);
  u32('tmict');
  u32('tdcr', TDCR_WRITABLE);
  u32('esr', 0xff);
  u32('esrPending', 0xff);
  if (typeof s.errorInterruptArmed !== 'boolean') fail('errorInterruptArmed', 'expected a boolean');
  words('lvt', APIC_LVT_COUNT, (i) => LVT_WRITABLE[i] | LVT_REMOTE_IRR);
  // SDM Vol. 3A Figure 10-20: in IRR, ISR and TMR the bits of vectors 0–15 are reserved (such a vector is refused
  // with "receive illegal vector" and never reaches these registers).
  const vectorBits = (i: number): number => (i === 0 ? 0xffff0000 : 0xffffffff);
  words('irr', APIC_BITMAP_WORDS, vectorBits);
  words('isr', APIC_BITMAP_WORDS, vectorBits);
  words('tmr', APIC_BITMAP_WORDS, vectorBits);
  CpuRunState.validate(s.run, `${where}.run`);
  if (!isIntInRange(s.lintLines, 0, 3)) fail('lintLines', 'expected 0..3 (bit 0 LINT0, bit 1 LINT1)');
  if (s.timer === undefined) fail('timer', 'expected the timer state or null');
  if (s.timer !== null) {
    const t = s.timer as Record<string, unknown>;
    if (typeof t !== 'object') fail('timer', 'expected an object or null');
    for (const key of Object.keys(t)) if (!TIMER_STATE_KEYS.has(key)) fail(`timer.${key}`, 'no such field in a LAPIC timer state');
    if (typeof t.running !== 'boolean') fail('timer.running', 'expected a boolean');
    if (!isIntInRange(t.countBase, 0, 0xffffffff)) fail('timer.countBase', 'expected an unsigned 32-bit count');
    if (!isIntInRange(t.baseTime, 0, Number.MAX_SAFE_INTEGER)) fail('timer.baseTime', 'expected a time in ns (a non-negative integer)');
    if (typeof t.tscDeadline !== 'string' || !/^0x[0-9a-f]{1,16}$/i.test(t.tscDeadline)) fail('timer.tscDeadline', 'expected a hex string "0x..." of at most 64 bits');
  }
  return { lapic, state: s as unknown as LapicState, mode: mode as ValidatedLapicState['mode'], apicBase };
}

/** Apply a validated state (cannot fail). */
export function applyLapicState(v: ValidatedLapicState): void {
  const { lapic, state: s } = v;
  lapic.apicBase = v.apicBase;
  lapic.mode = v.mode;
  lapic.id = s.id;
  lapic.ldr = s.ldr;
  lapic.tpr = s.tpr;
  lapic.dfr = s.dfr;
  lapic.svr = s.svr;
  lapic.icrLo = s.icrLo;
  lapic.icrHi = s.icrHi;
  lapic.tmict = s.tmict;
  lapic.tdcr = s.tdcr;
  lapic.esr = s.esr;
  lapic.esrPending = s.esrPending;
  lapic.errorInterruptArmed = s.errorInterruptArmed;
  lapic.lvt.set(s.lvt);
  lapic.irr.set(s.irr);
  lapic.isr.set(s.isr);
  lapic.tmr.set(s.tmr);
  lapic.run.load(s.run);
  lapic.lintLines = s.lintLines;
  if (s.timer) lapic.ensureTimer().load(s.timer);
  else lapic.timerState?.stop();
}
