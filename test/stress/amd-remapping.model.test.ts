/**
 * Model-based stress test of AMD-Vi interrupt remapping: random sequences of DTE and IRTE writes,
 * INVALIDATE_DEVTAB_ENTRY / INVALIDATE_INTERRUPT_TABLE through the command buffer, Control writes (GAEn, XTEn,
 * IRTCacheDis), MSI-X programming and interrupts, device DMA writes and direct translations, on a whole machine,
 * compared with an independent model (models/amd-remapping-model.ts). Budget: IRQPATH_STRESS_RUNS, as the VT-d test.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import type { TraceHop } from '../../src/core/events.ts';
import { programMsix } from '../../bench/program.ts';
import { AmdRemappingModel, type AmdPrediction, type DteWords } from './models/amd-remapping-model.ts';
import { stressRuns, stressSeed } from './budget.ts';
import { addReached, campaignStats } from './campaign-stats.ts';

// MMIO offsets and Control bits (AMD IOMMU spec §3.4), written out rather than imported.
const DEV_TAB_BASE = 0x0000;
const CMD_BUF_BASE = 0x0008;
const CONTROL = 0x0018;
const CMD_HEAD = 0x2000;
const CMD_TAIL = 0x2008;
const IOMMU_EN = 1n << 0n;
const CMD_BUF_EN = 1n << 12n;
const GA_EN = 1n << 17n;
const XT_EN = 1n << 50n;
const IRT_CACHE_DIS = 1n << 59n;

const DEV_TABLE = 0x100000; // Size 0x1FF: 2 MiB, every DeviceID
const CMD_BUF = 0x300000; // ComLen 9: 512 commands
const CMD_BYTES = 512 * 16;
/** Two interrupt tables a DTE can point at (128-byte aligned, room for 512 128-bit entries each). */
const ROOTS = [0x400000, 0x404000];
const DEVICES = [
  { bdf: '00:03.0', id: 0x0018 },
  { bdf: '01:00.0', id: 0x0100 },
];
const SOURCE_IDS = [0x0018, 0x0100, 0x0019];

interface Message {
  addrHi: number;
  addrLo: number;
  data: number;
}

interface Real {
  m: Machine;
  base: number;
  cmdTail: number;
  hops: TraceHop[];
  faults: number[];
  memoryWrites: number;
}

interface ModelState {
  model: AmdRemappingModel;
  msix: Map<string, Message>;
}

function setup(start: { ga: boolean; xt: boolean }): { model: ModelState; real: Real } {
  const m = createMachine({ cpus: 2, iommu: { kind: 'amd', dmaTranslation: false }, devices: DEVICES.map((d) => ({ bdf: d.bdf, msix: { entries: 4 } })) });
  const base = m.firmware.ivrs!.registerBase;
  const cpu = m.cpu(0);
  for (const d of DEVICES) m.device(d.bdf).configWrite(0x04, 2, 0x6);
  cpu.write64(base + DEV_TAB_BASE, BigInt(DEV_TABLE) | 0x1ffn);
  cpu.write64(base + CMD_BUF_BASE, BigInt(CMD_BUF) | (9n << 56n));
  cpu.write64(base + CONTROL, IOMMU_EN | CMD_BUF_EN | (start.ga ? GA_EN : 0n) | (start.xt ? XT_EN : 0n));
  const model = new AmdRemappingModel();
  model.setControl(start.ga, start.xt, false);
  // Every source starts with a remapping DTE (IV, IntTabLen 9, IntCtl 10b) on table 0, as Linux sets them up.
  for (const id of SOURCE_IDS) {
    const dte: DteWords = [(1 | (9 << 1) | ROOTS[0]) >>> 0, (2 << 28) >>> 0];
    model.dtes.set(id, dte);
    m.memory.write32(DEV_TABLE + id * 32 + 16, dte[0]);
    m.memory.write32(DEV_TABLE + id * 32 + 20, dte[1]);
  }
  // Both tables hold IRTEs 0–7 in the starting format: RemapEn, fixed, physical, destination i, vector 0x40 + i
  // (table 0) or 0x80 + i (table 1).
  ROOTS.forEach((root, t) => {
    for (let i = 0; i < 8; i++) {
      const vector = (t === 0 ? 0x40 : 0x80) + i;
      const words = start.ga ? [(1 | (i << 8)) >>> 0, 0, vector, 0] : [(1 | (i << 8) | (vector << 16)) >>> 0];
      words.forEach((w, k) => {
        const at = root + i * (start.ga ? 16 : 4) + 4 * k;
        model.ram.set(at, w);
        m.memory.write32(at, w);
      });
    }
  });
  const real: Real = { m, base, cmdTail: 0, hops: [], faults: [], memoryWrites: 0 };
  m.events.on('hop', (h) => {
    if (h.name === 'apic_deliver_irq') real.hops.push(h);
  });
  m.events.on('iommu_fault', (f) => real.faults.push(f.code));
  m.events.on('memory_write', () => real.memoryWrites++);
  return { model: { model, msix: new Map() }, real };
}

function observed(real: Real, run: () => void): AmdPrediction | { kind: 'nothing' } | { kind: 'aborted' } {
  real.hops.length = 0;
  real.faults.length = 0;
  real.memoryWrites = 0;
  run();
  const outcomes: AmdPrediction[] = [];
  for (const code of real.faults) outcomes.push({ kind: 'fault', code });
  for (let i = 0; i < real.memoryWrites; i++) outcomes.push({ kind: 'memory' });
  for (const h of real.hops) {
    const arg = (k: string): number => Number(h.args.find(([key]) => key === k)![1]);
    outcomes.push({ kind: 'deliver', dest: arg('dest'), destMode: arg('dest_mode'), deliveryMode: arg('delivery_mode'), vector: arg('vector'), trigger: arg('trigger_mode') });
  }
  expect(outcomes.length).toBeLessThanOrEqual(1);
  // A target abort with no event-log entry leaves no trace but the missing interrupt.
  return outcomes[0] ?? { kind: 'aborted' };
}

/** What a DMA or MSI-X write shows of a prediction: an event-less target abort is just "aborted". */
function visible(p: AmdPrediction): AmdPrediction | { kind: 'aborted' } {
  return p.kind === 'fault' && p.code === 0 ? { kind: 'aborted' } : p;
}

function fromResult(r: ReturnType<Machine['core']['translateMessage']>): AmdPrediction {
  if (r.kind === 'memory') return { kind: 'memory' };
  if (r.kind === 'fault') return { kind: 'fault', code: r.fault!.code };
  if (r.kind !== 'deliver') throw new Error(`unexpected result kind ${r.kind}`);
  return { kind: 'deliver', dest: r.msg.dest >>> 0, destMode: r.msg.destMode, deliveryMode: r.msg.deliveryMode, vector: r.msg.vector, trigger: r.msg.trigger };
}

const show = (msg: Message): string => `addr 0x${msg.addrHi.toString(16)}_${msg.addrLo.toString(16).padStart(8, '0')} data 0x${msg.data.toString(16)}`;

type Cmd = fc.Command<ModelState, Real>;

/** Queue one command (dword 0 = DeviceID, opcode in dword 1 bits 31:28; AMD IOMMU spec §2.4) and let the IOMMU run it. */
function command(r: Real, opcode: number, deviceId: number): void {
  const at = CMD_BUF + r.cmdTail;
  r.m.memory.write128(at, BigInt(deviceId) | (BigInt(opcode) << 60n), 0n);
  r.cmdTail = (r.cmdTail + 16) % CMD_BYTES;
  const cpu = r.m.cpu(0);
  cpu.write32(r.base + CMD_TAIL, r.cmdTail);
  expect(cpu.read32(r.base + CMD_HEAD)).toBe(r.cmdTail);
}

/** A DTE write, usually followed by INVALIDATE_DEVTAB_ENTRY as Linux does (device_flush_dte); sometimes not. */
class WriteDte implements Cmd {
  constructor(readonly device: number, readonly dte: DteWords, readonly flush: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const id = SOURCE_IDS[this.device];
    s.model.dtes.set(id, this.dte);
    r.m.memory.write32(DEV_TABLE + id * 32 + 16, this.dte[0]);
    r.m.memory.write32(DEV_TABLE + id * 32 + 20, this.dte[1]);
    if (this.flush) new Invalidate('dte', this.device).run(s, r);
  }
  toString = (): string => `DTE[0x${SOURCE_IDS[this.device].toString(16)}] = 0x${this.dte[1].toString(16)}_${this.dte[0].toString(16).padStart(8, '0')}${this.flush ? ' + flush' : ''}`;
}

/** An IRTE write, mostly in the format Control.GAEn selects at the time (`sameFormat`), sometimes in the other. */
class WriteIrte implements Cmd {
  wide = false;
  constructor(readonly root: number, readonly index: number, readonly sameFormat: boolean, readonly wideWords: number[], readonly narrowWords: number[]) {}
  check = (): boolean => true;
  get words(): number[] {
    return this.wide ? this.wideWords : this.narrowWords;
  }
  run(s: ModelState, r: Real): void {
    this.wide = s.model.gaEn === this.sameFormat;
    const at = ROOTS[this.root] + this.index * (this.wide ? 16 : 4);
    this.words.slice(0, this.wide ? 4 : 1).forEach((w, k) => {
      s.model.ram.set(at + 4 * k, w);
      r.m.memory.write32(at + 4 * k, w);
    });
  }
  toString = (): string => `IRTE${this.wide ? 128 : 32} table ${this.root} [${this.index}] = ${this.words.slice(0, this.wide ? 4 : 1).map((w) => '0x' + w.toString(16)).join(' ')}`;
}

class Invalidate implements Cmd {
  constructor(readonly what: 'dte' | 'irt', readonly device: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const id = SOURCE_IDS[this.device];
    if (this.what === 'dte') s.model.invalidateDte(id);
    else s.model.invalidateIrt(id);
    command(r, this.what === 'dte' ? 0x2 : 0x5, id);
  }
  toString = (): string => `${this.what === 'dte' ? 'INVALIDATE_DEVTAB_ENTRY' : 'INVALIDATE_INTERRUPT_TABLE'} 0x${SOURCE_IDS[this.device].toString(16)}`;
}

class WriteControl implements Cmd {
  constructor(readonly ga: boolean, readonly xt: boolean, readonly irtCacheDis: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    s.model.setControl(this.ga, this.xt, this.irtCacheDis);
    r.m.cpu(0).write64(r.base + CONTROL, IOMMU_EN | CMD_BUF_EN | (this.ga ? GA_EN : 0n) | (this.xt ? XT_EN : 0n) | (this.irtCacheDis ? IRT_CACHE_DIS : 0n));
  }
  toString = (): string => `Control GAEn=${this.ga} XTEn=${this.xt} IRTCacheDis=${this.irtCacheDis}`;
}

class Translate implements Cmd {
  constructor(readonly device: number, readonly msg: Message, readonly deliverNow: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const id = SOURCE_IDS[this.device];
    const expected = s.model.predict(id, this.msg.addrHi, this.msg.addrLo, this.msg.data, this.deliverNow);
    const addr = (BigInt(this.msg.addrHi) << 32n) | BigInt(this.msg.addrLo);
    expect(fromResult(r.m.core.translateMessage({ sourceId: id, addr, data: this.msg.data }, { deliverNow: this.deliverNow })), this.toString()).toEqual(expected);
  }
  toString = (): string => `translate 0x${SOURCE_IDS[this.device].toString(16)} ${show(this.msg)}${this.deliverNow ? '' : ' (inspect)'}`;
}

class DmaWrite implements Cmd {
  constructor(readonly device: number, readonly msg: Message) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const d = DEVICES[this.device];
    const expected = s.model.predict(d.id, this.msg.addrHi, this.msg.addrLo, this.msg.data, true, true);
    const addr = (BigInt(this.msg.addrHi) << 32n) | BigInt(this.msg.addrLo);
    expect(observed(r, () => r.m.device(d.bdf).dmaWrite(addr, this.msg.data)), this.toString()).toEqual(visible(expected));
  }
  toString = (): string => `${DEVICES[this.device].bdf} DMA ${show(this.msg)}`;
}

class ProgramMsix implements Cmd {
  constructor(readonly device: number, readonly entry: number, readonly msg: Message) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    s.msix.set(`${this.device}/${this.entry}`, this.msg);
    programMsix(r.m, DEVICES[this.device].bdf, this.entry, (BigInt(this.msg.addrHi) << 32n) | BigInt(this.msg.addrLo), this.msg.data);
  }
  toString = (): string => `${DEVICES[this.device].bdf} MSI-X ${this.entry} = ${show(this.msg)}`;
}

class SignalMsix implements Cmd {
  constructor(readonly device: number, readonly entry: number) {}
  check = (s: Readonly<ModelState>): boolean => s.msix.has(`${this.device}/${this.entry}`);
  run(s: ModelState, r: Real): void {
    const d = DEVICES[this.device];
    const msg = s.msix.get(`${this.device}/${this.entry}`)!;
    const expected = s.model.predict(d.id, msg.addrHi, msg.addrLo, msg.data, true, true);
    expect(observed(r, () => r.m.device(d.bdf).signal(this.entry)), `${this.toString()}: ${show(msg)}`).toEqual(visible(expected));
  }
  toString = (): string => `${DEVICES[this.device].bdf} signal MSI-X ${this.entry}`;
}

// ---- Generators ----------------------------------------------------------------------------------------------------

const bit = fc.integer({ min: 0, max: 1 });
const hotIndex = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 1 }), weight: 8 }, { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 511 }), weight: 1 });

/** DTE qword 2 (AMD IOMMU spec §2.2.2.1): IV 0, IntTabLen 4:1, IG 5, root 51:6; InitPass 56, EIntPass 57, NMIPass 58, IntCtl 61:60. */
const dteArb: fc.Arbitrary<DteWords> = fc
  .record({ iv: fc.integer({ min: 0, max: 9 }).map((n) => (n === 0 ? 0 : 1)), len: fc.constantFrom(1, 2, 4, 9, 9), ig: bit, root: fc.constantFrom(0, 0, 0, 1), pass: fc.integer({ min: 0, max: 7 }), intCtl: fc.constantFrom(0, 1, 2, 2, 2, 2, 3) })
  .map((f) => [(f.iv | (f.len << 1) | (f.ig << 5) | ROOTS[f.root]) >>> 0, ((f.pass << 24) | (f.intCtl << 28)) >>> 0] as const);

/** An IRTE of either size (AMD IOMMU spec §2.2.5): RemapEn 0, SupIOPF 1, IntType 4:2, DM 6, GuestMode 7, destination, vector. */
const irteArb = fc
  .record({
    root: fc.constantFrom(0, 0, 0, 0, 1), index: hotIndex, sameFormat: fc.integer({ min: 0, max: 6 }).map((n) => n > 0),
    remapEn: fc.integer({ min: 0, max: 9 }).map((n) => (n === 0 ? 0 : 1)), supIopf: bit, intType: fc.constantFrom(0, 0, 0, 0, 1, 1, 2, 5),
    dm: bit, guestMode: fc.integer({ min: 0, max: 19 }).map((n) => (n === 0 ? 1 : 0)),
    dest: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 0xffffffff })), vector: fc.integer({ min: 0x10, max: 0xff }),
  })
  .map((f) => {
    const ctl = f.remapEn | (f.supIopf << 1) | (f.intType << 2) | (f.dm << 6) | (f.guestMode << 7);
    const wide = [(ctl | ((f.dest & 0xffffff) << 8)) >>> 0, 0, f.vector, ((f.dest >>> 24) << 24) >>> 0];
    const narrow = [(ctl | ((f.dest & 0xff) << 8) | (f.vector << 16)) >>> 0, 0, 0, 0];
    return new WriteIrte(f.root, f.index % 512, f.sameFormat, wide, narrow);
  });

/**
 * MSI data = message type 10:8 | index (Linux writes the index with type 000), trigger 15; address DM bit 2. Type 001
 * (arbitrated) sets data bit 8, which is index bit 8 as well: its index is 256 + X[7:0].
 */
const messageArb: fc.Arbitrary<Message> = fc.oneof(
  { arbitrary: fc.record({ dest: fc.integer({ min: 0, max: 0xff }), dm: fc.integer({ min: 0, max: 5 }).map((n) => (n === 0 ? 1 : 0)), type: fc.oneof({ arbitrary: fc.constant(0), weight: 16 }, { arbitrary: fc.constant(1), weight: 1 }, { arbitrary: fc.integer({ min: 2, max: 7 }), weight: 3 }), index: hotIndex, tm: bit }).map((f) => ({ addrHi: 0, addrLo: (0xfee00000 | (f.dest << 12) | (f.dm << 2)) >>> 0, data: ((f.tm << 15) | (f.type << 8) | (f.index & 0xff)) >>> 0 })), weight: 10 },
  { arbitrary: fc.record({ addrHi: fc.integer({ min: 1, max: 3 }), addrLo: fc.constant(0xfee00000), data: fc.integer({ min: 0, max: 0xffff }) }), weight: 1 },
  { arbitrary: fc.record({ addrHi: fc.constant(0), addrLo: fc.integer({ min: 0, max: 0xffff }).map((x) => 0x40000000 + 4 * x), data: fc.integer({ min: 0, max: 0xffffffff }) }), weight: 1 },
);
const device = fc.integer({ min: 0, max: DEVICES.length - 1 });
const anySource = fc.integer({ min: 0, max: SOURCE_IDS.length - 1 });
const entry = fc.integer({ min: 0, max: 1 });

const commands = fc.commands<ModelState, Real>(
  [
    ...Array<fc.Arbitrary<Cmd>>(2).fill(fc.tuple(anySource, dteArb, fc.integer({ min: 0, max: 4 }).map((n) => n > 0)).map(([d, dte, flush]): Cmd => new WriteDte(d, dte, flush))),
    ...Array<fc.Arbitrary<Cmd>>(3).fill(irteArb.map((c): Cmd => c)),
    ...Array<fc.Arbitrary<Cmd>>(2).fill(fc.tuple(fc.constantFrom<'dte' | 'irt'>('dte', 'irt'), anySource).map(([w, d]): Cmd => new Invalidate(w, d))),
    ...Array<fc.Arbitrary<Cmd>>(3).fill(fc.tuple(fc.integer({ min: 0, max: 7 }).map((n) => n > 0), fc.boolean(), fc.integer({ min: 0, max: 2 }).map((n) => n === 0)).map(([ga, xt, dis]): Cmd => new WriteControl(ga, xt, dis))),
    ...Array<fc.Arbitrary<Cmd>>(2).fill(fc.tuple(anySource, messageArb, fc.integer({ min: 0, max: 4 }).map((n) => n > 0)).map(([d, msg, now]): Cmd => new Translate(d, msg, now))),
    fc.tuple(device, messageArb).map(([d, msg]): Cmd => new DmaWrite(d, msg)),
    ...Array<fc.Arbitrary<Cmd>>(2).fill(fc.tuple(device, entry, messageArb).map(([d, e, msg]): Cmd => new ProgramMsix(d, e, msg))),
    ...Array<fc.Arbitrary<Cmd>>(5).fill(fc.tuple(device, entry).map(([d, e]): Cmd => new SignalMsix(d, e))),
  ],
  { maxCommands: 80, size: 'max' },
);

const stats = campaignStats('amd-remapping');

describe('AMD-Vi interrupt remapping against an independent model (fc.commands)', () => {
  it(`random DTE / IRTE / command / Control / MSI-X / DMA sequences (${stressRuns(100)} runs)`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(fc.record({ ga: fc.integer({ min: 0, max: 3 }).map((n) => n > 0), xt: fc.boolean() }), commands, (start, cmds) => {
        const s = setup(start);
        try {
          fc.modelRun(() => s, stats.instrumented(cmds));
        } finally {
          addReached(seen, s.model.model.seen);
        }
      }),
      { numRuns: stressRuns(100), seed: stressSeed() },
    );
    stats.coverage('random sequences', seen, ['remapped', 'memory', 'deliver', 'stale IRTE used', 'stale DTE used', 'inspection', 'fault 0', 'fault 1', 'fault 2', 'fault 8'], stressRuns(100), 100);
  }, 600_000);
});
