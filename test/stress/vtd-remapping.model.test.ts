/**
 * Model-based stress test of VT-d interrupt remapping: random sequences of register writes (IRTA, GCMD
 * IRE/CFI/SIRTP), IRTE writes to memory, IEC invalidations through the invalidation queue, MSI-X programming and
 * interrupts, device DMA writes and direct translations, on a whole machine, each outcome compared with an
 * independent model of the rules (models/vtd-remapping-model.ts, written from the VT-d spec, importing nothing
 * from src/). In particular a changed IRTE must take effect only once the cached copy is invalidated — through the
 * IEC and through the translation core's route slots alike — and an inspection (deliverNow = false) caches nothing.
 *
 * Runs: IRQPATH_STRESS_RUNS (default 150 sequences of up to 80 commands, about two seconds); e.g.
 * `IRQPATH_STRESS_RUNS=20000 npx vitest run test/stress` for a long campaign. IRQPATH_STRESS_SEED replays a seed.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import type { TraceHop } from '../../src/core/events.ts';
import { programMsix } from '../../bench/program.ts';
import { VtdRemappingModel, type Irte, type Prediction } from './models/vtd-remapping-model.ts';
import { stressRuns, stressSeed } from './budget.ts';
import { addReached, campaignStats } from './campaign-stats.ts';

// Register offsets (VT-d spec §11.4) and bits (§11.4.4), written out rather than imported.
const GCMD = 0x18;
const FSTS = 0x34;
const IQH = 0x80;
const IQT = 0x88;
const IQA = 0x90;
const IRTA = 0xb8;
const QIE = 1 << 26;
const IRE = 1 << 25;
const SIRTP = 1 << 24;
const CFI = 1 << 23;
const FSTS_IQE = 1 << 4;

const TABLE = 0x200000;
const QUEUE = 0x100000;
const DEVICES = [
  { bdf: '00:03.0', sid: 0x0018 },
  { bdf: '01:00.0', sid: 0x0100 },
];
/** Requester IDs for direct translations: the two devices, the I/O APIC's default source-id, a neighbour function. */
const SOURCE_IDS = [0x0018, 0x0100, 0xff00, 0x0019];
const MSIX_ENTRIES = 4;
const MAX_INDEX = 20; // IRTE indices written and addressed; the table has 2..32 entries, so some are out of range
/** Most traffic goes to a few indices, so that entries get cached, rewritten and invalidated under each other. */
const hotIndex = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 3 }), weight: 8 },
  { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: MAX_INDEX }), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 },
);

interface Message {
  addrHi: number;
  addrLo: number;
  data: number;
}

interface Real {
  m: Machine;
  base: number;
  queueTail: number;
  hops: TraceHop[];
  faults: number[];
  memoryWrites: { addr: bigint; data: number }[];
  /** The message programmed in each (device, MSI-X entry), for signal(). */
  msix: Map<string, Message>;
}

interface ModelState {
  model: VtdRemappingModel;
  msix: Map<string, Message>;
}

function setup(start: { eime: boolean; cfi: boolean }): { model: ModelState; real: Real } {
  const m = createMachine({
    cpus: 2,
    iommu: { kind: 'intel', dmaTranslation: false },
    devices: DEVICES.map((d) => ({ bdf: d.bdf, msix: { entries: MSIX_ENTRIES } })),
  });
  const base = m.firmware.dmar!.registerBase;
  const cpu = m.cpu(0);
  // Queued invalidation as Linux sets it up (dmar_enable_qi): IQT = 0, IQA = one page (QS = 0), QIE.
  cpu.write64(base + IQT, 0n);
  cpu.write64(base + IQA, BigInt(QUEUE));
  cpu.write32(base + GCMD, QIE);
  // A table latched once (S = 3: 16 entries, x2APIC or xAPIC mode) and IR on, with or without CFI.
  cpu.write64(base + IRTA, BigInt(TABLE) | (start.eime ? 1n << 11n : 0n) | 3n);
  cpu.write32(base + GCMD, QIE | SIRTP);
  cpu.write32(base + GCMD, QIE | IRE | (start.cfi ? CFI : 0));
  // Memory space and bus mastering on, as a driver's pci_set_master does: a device without it sends nothing.
  for (const d of DEVICES) m.device(d.bdf).configWrite(0x04, 2, 0x6);
  const model = new VtdRemappingModel();
  model.programmed = { s: 3, eime: start.eime };
  model.sirtp();
  model.ire = true;
  model.cfis = start.cfi;
  // A small table already in memory (VT-d spec §9.10 layout): IRTEs 0–7 present, fixed, physical, DST = i << 8 (APIC i
  // in xAPIC mode, where the ID sits in 47:40; APIC 0x100·i in x2APIC mode), vector 0x40 + i; 0–5 without source
  // validation, 6 verifying requester 00:03.0 exactly (SVT 01, SQ 00), 7 the bus range 00–01 (SVT 10).
  for (let i = 0; i < 8; i++) {
    const sourceCheck = i === 6 ? 0x0018 | (1 << 18) : i === 7 ? 0x0001 | (2 << 18) : 0;
    const irte: Irte = [(1 | ((0x40 + i) << 16)) >>> 0, i << 8, sourceCheck, 0];
    model.writeIrte(i, irte);
    for (let k = 0; k < 4; k++) m.memory.write32(TABLE + 16 * i + 4 * k, irte[k]);
  }
  const real: Real = { m, base, queueTail: 0, hops: [], faults: [], memoryWrites: [], msix: new Map() };
  m.events.on('hop', (h) => {
    if (h.name === 'apic_deliver_irq') real.hops.push(h);
  });
  m.events.on('iommu_fault', (f) => real.faults.push(f.code));
  m.events.on('memory_write', (w) => real.memoryWrites.push({ addr: w.addr, data: w.data }));
  return { model: { model, msix: new Map() }, real };
}

/** What the machine did with one message, in the model's terms, from the events it emitted. */
function observed(real: Real, run: () => void): Prediction | { kind: 'nothing' } {
  real.hops.length = 0;
  real.faults.length = 0;
  real.memoryWrites.length = 0;
  run();
  const outcomes: Prediction[] = [];
  for (const code of real.faults) outcomes.push({ kind: 'fault', code });
  for (const _ of real.memoryWrites) outcomes.push({ kind: 'memory' });
  for (const h of real.hops) {
    const arg = (k: string): number => Number(h.args.find(([key]) => key === k)![1]);
    outcomes.push({ kind: 'deliver', dest: arg('dest'), destMode: arg('dest_mode'), deliveryMode: arg('delivery_mode'), vector: arg('vector'), trigger: arg('trigger_mode'), redirectionHint: -1 });
  }
  if (outcomes.length === 0) return { kind: 'nothing' };
  expect(outcomes).toHaveLength(1); // exactly one outcome per message
  return outcomes[0];
}

/** The hop has no redirection hint: compare everything else. */
function withoutRh(p: Prediction): Prediction {
  return p.kind === 'deliver' ? { ...p, redirectionHint: -1 } : p;
}

function fromResult(r: ReturnType<Machine['core']['translateMessage']>): Prediction {
  if (r.kind === 'memory') return { kind: 'memory' };
  if (r.kind === 'fault') return { kind: 'fault', code: r.fault!.code };
  if (r.kind !== 'deliver') throw new Error(`unexpected result kind ${r.kind}`);
  const msg = r.msg;
  return { kind: 'deliver', dest: msg.dest >>> 0, destMode: msg.destMode, deliveryMode: msg.deliveryMode, vector: msg.vector, trigger: msg.trigger, redirectionHint: msg.redirectionHint };
}

function describeMessage(msg: Message): string {
  return `addr 0x${msg.addrHi.toString(16)}_${msg.addrLo.toString(16).padStart(8, '0')} data 0x${msg.data.toString(16)}`;
}

// ---- Commands ------------------------------------------------------------------------------------------------------

type Cmd = fc.Command<ModelState, Real>;

class WriteIrte implements Cmd {
  constructor(readonly index: number, readonly irte: Irte) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    s.model.writeIrte(this.index, this.irte);
    for (let i = 0; i < 4; i++) r.m.memory.write32(TABLE + 16 * this.index + 4 * i, this.irte[i]);
  }
  toString = (): string => `irte[${this.index}] = [${this.irte.map((w) => '0x' + w.toString(16)).join(', ')}]`;
}

class WriteIrta implements Cmd {
  constructor(readonly s: number, readonly eime: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    s.model.programmed = { s: this.s, eime: this.eime };
    r.m.cpu(0).write64(r.base + IRTA, BigInt(TABLE) | (this.eime ? 1n << 11n : 0n) | BigInt(this.s));
  }
  toString = (): string => `IRTA S=${this.s} EIME=${this.eime}`;
}

class WriteGcmd implements Cmd {
  constructor(readonly ire: boolean, readonly cfi: boolean, readonly sirtp: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    if (this.sirtp) s.model.sirtp();
    s.model.ire = this.ire;
    s.model.cfis = this.cfi;
    r.m.cpu(0).write32(r.base + GCMD, QIE | (this.ire ? IRE : 0) | (this.cfi ? CFI : 0) | (this.sirtp ? SIRTP : 0));
  }
  toString = (): string => `GCMD IRE=${this.ire} CFI=${this.cfi}${this.sirtp ? ' SIRTP' : ''}`;
}

class InvalidateIec implements Cmd {
  constructor(readonly global: boolean, readonly iidx: number, readonly im: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    if (this.global) s.model.invalidateGlobal();
    else s.model.invalidateIndex(this.iidx, this.im);
    // IEC descriptor (VT-d 6.5.2.7): type 4, G bit 4 (1 = index-selective), IM 31:27, IIDX 47:32.
    const qw0 = this.global ? 4n : 4n | (1n << 4n) | (BigInt(this.im) << 27n) | (BigInt(this.iidx) << 32n);
    r.m.memory.write128(QUEUE + r.queueTail, qw0, 0n);
    r.queueTail = (r.queueTail + 16) % 4096;
    const cpu = r.m.cpu(0);
    cpu.write32(r.base + IQT, r.queueTail);
    expect(cpu.read32(r.base + IQH)).toBe(r.queueTail);
    expect(cpu.read32(r.base + FSTS) & FSTS_IQE).toBe(0);
  }
  toString = (): string => (this.global ? 'IEC global' : `IEC index ${this.iidx} IM=${this.im}`);
}

class Translate implements Cmd {
  constructor(readonly sid: number, readonly msg: Message, readonly deliverNow: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const expected = s.model.predict(this.sid, this.msg.addrHi, this.msg.addrLo, this.msg.data, this.deliverNow);
    const addr = (BigInt(this.msg.addrHi) << 32n) | BigInt(this.msg.addrLo);
    const result = r.m.core.translateMessage({ sourceId: this.sid, addr, data: this.msg.data }, { deliverNow: this.deliverNow });
    expect(fromResult(result), this.toString()).toEqual(expected);
  }
  toString = (): string => `translate sid 0x${this.sid.toString(16)} ${describeMessage(this.msg)}${this.deliverNow ? '' : ' (inspect)'}`;
}

class DmaWrite implements Cmd {
  constructor(readonly device: number, readonly msg: Message) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const d = DEVICES[this.device];
    const expected = s.model.predict(d.sid, this.msg.addrHi, this.msg.addrLo, this.msg.data, true);
    const addr = (BigInt(this.msg.addrHi) << 32n) | BigInt(this.msg.addrLo);
    expect(observed(r, () => r.m.device(d.bdf).dmaWrite(addr, this.msg.data)), this.toString()).toEqual(withoutRh(expected));
    if (expected.kind === 'memory') expect(r.m.memory.read32(addr)).toBe(this.msg.data);
  }
  toString = (): string => `${DEVICES[this.device].bdf} DMA ${describeMessage(this.msg)}`;
}

class ProgramMsix implements Cmd {
  constructor(readonly device: number, readonly entry: number, readonly msg: Message) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const key = `${this.device}/${this.entry}`;
    s.msix.set(key, this.msg);
    programMsix(r.m, DEVICES[this.device].bdf, this.entry, (BigInt(this.msg.addrHi) << 32n) | BigInt(this.msg.addrLo), this.msg.data);
  }
  toString = (): string => `${DEVICES[this.device].bdf} MSI-X ${this.entry} = ${describeMessage(this.msg)}`;
}

class SignalMsix implements Cmd {
  constructor(readonly device: number, readonly entry: number) {}
  check = (s: Readonly<ModelState>): boolean => s.msix.has(`${this.device}/${this.entry}`);
  run(s: ModelState, r: Real): void {
    const d = DEVICES[this.device];
    const msg = s.msix.get(`${this.device}/${this.entry}`)!;
    const expected = s.model.predict(d.sid, msg.addrHi, msg.addrLo, msg.data, true);
    expect(observed(r, () => r.m.device(d.bdf).signal(this.entry)), `${this.toString()}: ${describeMessage(msg)}`).toEqual(withoutRh(expected));
  }
  toString = (): string => `${DEVICES[this.device].bdf} signal MSI-X ${this.entry}`;
}

// ---- Generators ----------------------------------------------------------------------------------------------------

const bit = fc.integer({ min: 0, max: 1 });

/** An IRTE, mostly well-formed: random fields, sometimes not present, sometimes with one reserved bit set. */
const irteArb: fc.Arbitrary<Irte> = fc
  .record({
    present: fc.integer({ min: 0, max: 15 }).map((n) => (n === 0 ? 0 : 1)),
    fpd: bit, dm: bit, rh: bit, tm: bit,
    dlm: fc.constantFrom(0, 0, 0, 1, 2, 4, 5, 7),
    vector: fc.integer({ min: 0x10, max: 0xff }),
    dest32: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 0xffffffff })),
    xapicStyle: fc.boolean(),
    svt: fc.constantFrom(0, 0, 0, 1, 2, 3),
    sq: fc.integer({ min: 0, max: 3 }),
    sid: fc.constantFrom(0x0018, 0x0100, 0x0019, 0x0101, 0x0001, 0x01ff),
    noise: fc.option(fc.constantFrom<[number, number]>([0, 12], [0, 15], [0, 24], [0, 31], [1, 0], [1, 16], [2, 20], [2, 31], [3, 0], [3, 31]), { freq: 8 }),
  })
  .map((f) => {
    // In xAPIC style the 8-bit destination sits in DST 47:40 (dword 1 bits 15:8), as Linux writes it.
    const w: number[] = [
      f.present | (f.fpd << 1) | (f.dm << 2) | (f.rh << 3) | (f.tm << 4) | (f.dlm << 5) | (f.vector << 16),
      f.xapicStyle ? (f.dest32 & 0xff) << 8 : f.dest32,
      f.sid | (f.sq << 16) | (f.svt << 18),
      0,
    ];
    if (f.noise !== null) w[f.noise[0]] |= 1 << f.noise[1];
    return w.map((x) => x >>> 0) as unknown as Irte;
  });

const compatArb: fc.Arbitrary<Message> = fc
  .record({ dest: fc.integer({ min: 0, max: 0xff }), dm: bit, rh: bit, vector: fc.integer({ min: 0, max: 0xff }), dlm: fc.integer({ min: 0, max: 7 }), tm: bit, level: bit, high: fc.constantFrom(0, 0, 0, 0x1234) })
  .map((f) => ({
    addrHi: 0,
    addrLo: (0xfee00000 | (f.dest << 12) | (f.rh << 3) | (f.dm << 2)) >>> 0,
    data: ((f.high << 16) | (f.tm << 15) | (f.level << 14) | (f.dlm << 8) | f.vector) >>> 0,
  }));

const remappableArb: fc.Arbitrary<Message> = fc
  .record({
    handle: hotIndex,
    shv: bit,
    sub: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.integer({ min: 0, max: 2 }), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 }),
    high: fc.constantFrom(0, 0, 0, 0, 0, 0, 0, 1, 0x8000),
  })
  .map((f) => ({
    addrHi: 0,
    addrLo: (0xfee00000 | ((f.handle & 0x7fff) << 5) | (1 << 4) | (f.shv << 3) | ((f.handle >> 15) << 2)) >>> 0,
    data: ((f.high << 16) | f.sub) >>> 0,
  }));

/** Not an interrupt: address bits 63:32 set, or a low dword outside 0xFEEx_xxxx (kept away from the tables). */
const memoryArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ addrHi: fc.integer({ min: 1, max: 3 }), addrLo: fc.integer({ min: 0, max: 0xfffff }).map((x) => (0xfee00000 | (x & ~3)) >>> 0), data: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ addrHi: fc.constant(0), addrLo: fc.integer({ min: 0, max: 0xffff }).map((x) => 0x40000000 + 4 * x), data: fc.integer({ min: 0, max: 0xffffffff }) }),
);

const messageArb = fc.oneof({ arbitrary: remappableArb, weight: 10 }, { arbitrary: compatArb, weight: 2 }, { arbitrary: memoryArb, weight: 1 });
const device = fc.integer({ min: 0, max: DEVICES.length - 1 });
/** Two of the four MSI-X entries carry traffic, so that a programmed entry is signalled again and again. */
const entry = fc.integer({ min: 0, max: 1 });

const irteWrite = fc.tuple(hotIndex.map((i) => i % (MAX_INDEX + 1)), irteArb).map(([i, e]): Cmd => new WriteIrte(i, e));
const irtaWrite = fc.tuple(fc.constantFrom(0, 2, 3, 3, 4, 4), fc.boolean()).map(([s, eime]): Cmd => new WriteIrta(s, eime));
const gcmdWrite = fc
  .tuple(fc.integer({ min: 0, max: 5 }).map((n) => n > 0), fc.boolean(), fc.integer({ min: 0, max: 3 }).map((n) => n === 0))
  .map(([ire, cfi, sirtp]): Cmd => new WriteGcmd(ire, cfi, sirtp));
const iecInvalidation = fc
  .tuple(fc.integer({ min: 0, max: 4 }).map((n) => n === 0), hotIndex, fc.oneof({ arbitrary: fc.integer({ min: 0, max: 2 }), weight: 6 }, { arbitrary: fc.integer({ min: 0, max: 31 }), weight: 1 }))
  .map(([g, i, im]): Cmd => new InvalidateIec(g, i, im));
const translation = fc
  .tuple(fc.constantFrom(...SOURCE_IDS), messageArb, fc.integer({ min: 0, max: 4 }).map((n) => n > 0))
  .map(([sid, msg, now]): Cmd => new Translate(sid, msg, now));
const dmaWrite = fc.tuple(device, messageArb).map(([d, msg]): Cmd => new DmaWrite(d, msg));
const msixProgramming = fc.tuple(device, entry, messageArb).map(([d, e, msg]): Cmd => new ProgramMsix(d, e, msg));
const msixSignal = fc.tuple(device, entry).map(([d, e]): Cmd => new SignalMsix(d, e));

/** Weighted: interrupts through warm route slots (MSI-X signals) are most of the traffic, as on a running system. */
export const commands = fc.commands<ModelState, Real>(
  [
    ...Array<fc.Arbitrary<Cmd>>(3).fill(irteWrite),
    irtaWrite,
    gcmdWrite,
    ...Array<fc.Arbitrary<Cmd>>(2).fill(iecInvalidation),
    ...Array<fc.Arbitrary<Cmd>>(2).fill(translation),
    dmaWrite,
    ...Array<fc.Arbitrary<Cmd>>(2).fill(msixProgramming),
    ...Array<fc.Arbitrary<Cmd>>(5).fill(msixSignal),
  ],
  { maxCommands: 80, size: 'max' },
);

const stats = campaignStats('vtd-remapping');

describe('VT-d interrupt remapping against an independent model (fc.commands)', () => {
  it(`random register / IRTE / IEC / MSI-X / DMA sequences (${stressRuns(150)} runs)`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(fc.record({ eime: fc.boolean(), cfi: fc.boolean() }), commands, (start, cmds) => {
        const s = setup(start);
        try {
          fc.modelRun(() => s, stats.instrumented(cmds));
        } finally {
          addReached(seen, s.model.model.seen);
        }
      }),
      { numRuns: stressRuns(150), seed: stressSeed() },
    );
    stats.coverage('random sequences', seen, ['remapped', 'memory', 'deliver', 'stale IEC entry used', 'inspection', 'fault 0x20', 'fault 0x21', 'fault 0x22', 'fault 0x24', 'fault 0x25', 'fault 0x26'], stressRuns(150), 150);
  }, 600_000);
});
