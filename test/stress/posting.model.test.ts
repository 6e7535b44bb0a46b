/**
 * Model-based stress test of the two-machine system (host + VMM + guest) with an assigned device: random sequences
 * of interrupts from the host's NIC, vCPU scheduling (running, preempted, blocked), vCPU migration to other host
 * CPUs, the guest moving an interrupt to its other vCPU (a new vector, a new route), the guest masking and unmasking
 * MSI-X vectors, the guest handling interrupts, and snapshot round trips of the whole system — with and without VT-d
 * posted interrupts on an Intel host, AMD guest virtual APIC on an AMD host. After each interrupt the VMM's route for the entry must target the vCPU and vector the guest
 * programmed; a masked vector's interrupt waits in the guest-visible PBA and is sent once at unmask.
 *
 * The oracle (models/pending-interrupt-model.ts) knows only what was fired and what the guest handled. After every
 * operation each vector the guest's sources use must be where the VT-d spec (§5.2.3 "Interrupt Posting", §9.11
 * "Posted Interrupt Descriptor") and the SDM (§29.6 "Posted-Interrupt Processing") put it: an interrupt fired and
 * not yet handled is pending — in the posted descriptor's PIR (bits 255:0 at offset 0, read from host memory here)
 * while its vCPU is not running, or in the vCPU's virtual IRR — never lost, and never pending when it was not fired.
 * One interrupt is never both posted and delivered: PIR and IRR both hold a vector only when it was fired again
 * while already pending in the IRR of a vCPU that then stopped running (the two coalesce when VM entry ORs PIR into
 * the IRR, as a second edge interrupt coalesces in a LAPIC's IRR). A running vCPU has an empty PIR (the
 * notification, or VM entry, moved it); the guest acknowledges the highest pending vector (SDM §10.8.3.1).
 *
 * Runs: IRQPATH_STRESS_RUNS (default 30 sequences of up to 60 operations); IRQPATH_STRESS_SEED replays a seed.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createSystem } from '../../src/guest/create-system.ts';
import { createGuest } from '../../src/guest/create-guest.ts';
import type { System, SystemSnapshot } from '../../src/vmm/system.ts';
import { barBase, readMsixCap } from '../../src/guest/pci-msi-setup.ts';
import { PendingInterruptModel } from './models/pending-interrupt-model.ts';
import { stressRuns, stressSeed } from './budget.ts';
import { addReached, campaignStats } from './campaign-stats.ts';

const HOST_NIC = '02:00.0';
const GUEST_NIC = '00:05.0';
const HOST_CPUS = 4;
const VCPUS = 2;
const SOURCES = 3;
const STATES = ['running', 'preempted', 'blocked'] as const;

interface Source {
  vcpu: number;
  vector: number;
}

interface Real {
  sys: System;
  guest: ReturnType<typeof createGuest>;
  sources: Source[];
  posted: boolean;
}

interface ModelState {
  model: PendingInterruptModel;
  /** Which vCPU each source targets (the guest's own bookkeeping is the real side's). */
  sourceVcpu: number[];
  /** Each source's MSI-X vector control mask bit, and its pending bit (PCI 3.0 §6.8.2.9–10: a message the function
   *  would send while the vector is masked is pending in the PBA, and is sent — with the entry's message then — when
   *  the vector is unmasked). */
  masked: boolean[];
  pba: boolean[];
}

function setup(start: { posted: boolean; amd: boolean; firstCpus: number[] }): { model: ModelState; real: Real } {
  const sys = createSystem({
    host: { cpus: HOST_CPUS, iommu: start.amd ? { kind: 'amd', vapic: true } : { kind: 'intel', postedInterrupts: true }, devices: [{ bdf: HOST_NIC, name: 'nic', msix: { entries: 4 } }] },
    guest: { cpus: VCPUS, assigned: [{ bdf: GUEST_NIC, host: HOST_NIC }] },
    vmm: { profile: 'hardware', postedInterrupts: start.posted },
  });
  const guest = createGuest(sys.guest, { os: 'linux' });
  guest.boot();
  const sources: Source[] = [];
  for (let i = 0; i < SOURCES; i++) {
    const p = guest.setupInterrupt({ id: `q${i}`, kind: 'msix', device: GUEST_NIC, vector: i, cpu: start.firstCpus[i] });
    sources.push({ vcpu: p.cpu, vector: p.vector });
  }
  const none = () => sources.map(() => false);
  return { model: { model: new PendingInterruptModel(VCPUS), sourceVcpu: sources.map((s) => s.vcpu), masked: none(), pba: none() }, real: { sys, guest, sources, posted: start.posted } };
}

/**
 * Where a posted interrupt waits for vCPU `vcpu`, from host memory: on an Intel host the PIR bit of its posted-interrupt
 * descriptor (VT-d §9.11: PIR is bits 255:0 at offset 0); on an AMD host the IRR bit of its vAPIC backing page (AMD
 * APM Vol. 2 §15.29.3: the page has the APIC register layout, IRR at 0x200 + 0x10 × (vector / 32)).
 */
function pirBit(r: Real, vcpu: number, vector: number): boolean {
  const v = r.sys.vcpu(vcpu);
  const word = v.backingPage !== null ? v.backingPage + 0x200 + 0x10 * (vector >>> 5) : v.descriptor !== null ? v.descriptor.address + 4 * (vector >>> 5) : null;
  if (word === null) return false;
  return ((r.sys.host.memory.read32(word) >>> (vector & 31)) & 1) === 1;
}

function irrBit(r: Real, vcpu: number, vector: number): boolean {
  return ((r.sys.guest.cpu(vcpu).lapic.irr[vector >>> 5] >>> (vector & 31)) & 1) === 1;
}

/** The guest's MSI-X table and PBA (its emulation by the VMM), through the guest CPU's loads and stores. */
function msix(r: Real) {
  const dev = r.sys.guest.device(GUEST_NIC);
  const cap = readMsixCap(dev)!;
  const table = barBase(dev, cap.tableBir) + cap.tableOffset;
  const pbaReg = dev.configRead(cap.offset + 8, 4) >>> 0; // PBA offset/BIR (PCI 3.0 §6.8.2.5)
  const pba = barBase(dev, pbaReg & 7) + (pbaReg & ~7);
  const cpu = r.sys.guest.cpu(0);
  return {
    vectorControl: (n: number) => cpu.read32(table + 16 * n + 12) & 1,
    setMask: (n: number, masked: boolean) => cpu.write32(table + 16 * n + 12, masked ? 1 : 0),
    pending: (n: number) => ((cpu.read32(pba) >>> n) & 1) === 1,
  };
}

/** Every vector a source uses or used, on every vCPU, against the model; each source's mask and PBA bit. */
function checkPending(s: ModelState, r: Real, after: string): void {
  const view = msix(r);
  for (let i = 0; i < SOURCES; i++) {
    expect(view.vectorControl(i) === 1, `after ${after}: MSI-X ${i} mask bit`).toBe(s.masked[i]);
    expect(view.pending(i), `after ${after}: MSI-X ${i} PBA bit`).toBe(s.pba[i]);
  }
  const vectors = new Set(r.sources.map((x) => x.vector));
  for (const v of s.model.vectorsEverFired()) vectors.add(v);
  for (let c = 0; c < VCPUS; c++) {
    const running = r.sys.vcpu(c).state === 'running';
    for (const v of vectors) {
      const inPir = pirBit(r, c, v);
      const inIrr = irrBit(r, c, v);
      const where = `after ${after}: vCPU ${c} (${r.sys.vcpu(c).state}) vector 0x${v.toString(16)}: PIR ${inPir ? 1 : 0}, IRR ${inIrr ? 1 : 0}`;
      if (inPir && inIrr) {
        expect(s.model.timesFired(c, v), `${where} — one interrupt both posted and delivered`).toBeGreaterThan(1);
        s.model.saw('coalesced across PIR and IRR');
      }
      expect(inPir || inIrr, `${where} — ${s.model.isPending(c, v) ? 'fired and not handled, but lost' : 'pending although not fired'}`).toBe(s.model.isPending(c, v));
      if (running) expect(inPir, `${where} — a running vCPU with a PIR bit`).toBe(false);
      if (inPir) s.model.saw(r.sys.vcpu(c).backingPage !== null ? 'waiting in the vAPIC backing page' : 'waiting in PIR');
      if (inIrr && !running) s.model.saw('in the IRR of a vCPU not running');
    }
  }
}

type Cmd = fc.Command<ModelState, Real>;

class Fire implements Cmd {
  constructor(readonly source: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const { vcpu, vector } = r.sources[this.source];
    expect(vcpu).toBe(s.sourceVcpu[this.source]);
    if (s.masked[this.source]) {
      s.pba[this.source] = true;
      s.model.saw('pended in the PBA');
    } else s.model.fire(vcpu, vector);
    r.sys.host.device(HOST_NIC).signal(this.source);
    if (!s.masked[this.source]) {
      // The VMM's route for the entry (its GSI route, kvm_irqchip_update_msi_route) delivers where the guest said.
      const route = r.sys.vmm.route(GUEST_NIC, 'msix', this.source);
      expect(route?.target, `${this.toString()}: the route's target`).toMatchObject({ vcpus: [vcpu], vector });
    }
    checkPending(s, r, this.toString());
  }
  toString = (): string => `host NIC signals MSI-X ${this.source}`;
}

class Schedule implements Cmd {
  constructor(readonly vcpu: number, readonly state: (typeof STATES)[number]) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    if (r.sys.vcpu(this.vcpu).state !== this.state) s.model.saw(`${this.state}`);
    r.sys.vcpu(this.vcpu).state = this.state;
    checkPending(s, r, this.toString());
  }
  toString = (): string => `vCPU ${this.vcpu} ${this.state}`;
}

class Move implements Cmd {
  constructor(readonly vcpu: number, readonly hostCpu: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    if (s.model.anyPending(this.vcpu)) s.model.saw('moved while pending');
    r.sys.vcpu(this.vcpu).moveTo(this.hostCpu);
    checkPending(s, r, this.toString());
  }
  toString = (): string => `vCPU ${this.vcpu} moves to host CPU ${this.hostCpu}`;
}

/** The guest moves a source to another vCPU (irq_set_affinity): a new vector there, a new route on the host. */
class Retarget implements Cmd {
  constructor(readonly source: number, readonly vcpu: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const p = r.guest.setupInterrupt({ id: `q${this.source}`, kind: 'msix', device: GUEST_NIC, vector: this.source, cpu: this.vcpu });
    expect(p.status).toBe('programmed');
    expect(p.cpu).toBe(this.vcpu);
    r.sources[this.source] = { vcpu: p.cpu, vector: p.vector };
    s.sourceVcpu[this.source] = this.vcpu;
    s.model.saw('retargeted');
    // The guest rewrote the entry; if that left it unmasked, a pending message goes out now, with the new message.
    const masked = msix(r).vectorControl(this.source) === 1;
    if (s.masked[this.source] && !masked) unmasked(s, this.source, p.cpu, p.vector);
    s.masked[this.source] = masked;
    checkPending(s, r, this.toString());
  }
  toString = (): string => `guest moves q${this.source} to vCPU ${this.vcpu}`;
}

function unmasked(s: ModelState, source: number, vcpu: number, vector: number): void {
  if (!s.pba[source]) return;
  s.pba[source] = false;
  s.model.fire(vcpu, vector);
  s.model.saw('sent at unmask');
}

/** The guest masks or unmasks an MSI-X vector (its vector control, PCI 3.0 §6.8.2.9). */
class Mask implements Cmd {
  constructor(readonly source: number, readonly masked: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    if (s.masked[this.source] && !this.masked) unmasked(s, this.source, r.sources[this.source].vcpu, r.sources[this.source].vector);
    s.masked[this.source] = this.masked;
    msix(r).setMask(this.source, this.masked);
    checkPending(s, r, this.toString());
  }
  toString = (): string => `guest ${this.masked ? 'masks' : 'unmasks'} MSI-X ${this.source}`;
}

/** The guest takes an interrupt on a running vCPU: acknowledge (the highest pending vector) and EOI. */
class Handle implements Cmd {
  constructor(readonly vcpu: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    if (r.sys.vcpu(this.vcpu).state !== 'running') return; // a vCPU that does not run executes nothing
    const expected = s.model.highestPending(this.vcpu);
    const got = r.guest.handleInterrupt(this.vcpu);
    expect(got, this.toString()).toBe(expected);
    if (got !== null) {
      s.model.handle(this.vcpu, got);
      s.model.saw('handled');
    }
    checkPending(s, r, this.toString());
  }
  toString = (): string => `guest handles an interrupt on vCPU ${this.vcpu}`;
}

/** Snapshot the whole system, through JSON, and restore it: nothing the oracle can see may change. */
class SnapshotRoundTrip implements Cmd {
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const snap = JSON.parse(JSON.stringify(r.sys.snapshot())) as SystemSnapshot;
    const before = JSON.stringify(r.sys.snapshot());
    r.sys.restore(snap);
    expect(JSON.stringify(r.sys.snapshot())).toBe(before);
    s.model.saw('snapshot round trip');
    checkPending(s, r, this.toString());
  }
  toString = (): string => 'system snapshot → JSON → restore';
}

const vcpu = fc.integer({ min: 0, max: VCPUS - 1 });
const source = fc.integer({ min: 0, max: SOURCES - 1 });
const commands = fc.commands<ModelState, Real>(
  [
    ...Array<fc.Arbitrary<Cmd>>(5).fill(source.map((i): Cmd => new Fire(i))),
    ...Array<fc.Arbitrary<Cmd>>(3).fill(fc.tuple(vcpu, fc.constantFrom(...STATES)).map(([c, st]): Cmd => new Schedule(c, st))),
    fc.tuple(vcpu, fc.integer({ min: 0, max: HOST_CPUS - 1 })).map(([c, h]): Cmd => new Move(c, h)),
    fc.tuple(source, vcpu).map(([i, c]): Cmd => new Retarget(i, c)),
    fc.tuple(source, fc.boolean()).map(([i, m]): Cmd => new Mask(i, m)),
    ...Array<fc.Arbitrary<Cmd>>(3).fill(vcpu.map((c): Cmd => new Handle(c))),
    fc.constant<Cmd>(new SnapshotRoundTrip()),
  ],
  { maxCommands: 60, size: 'max' },
);

const stats = campaignStats('posting');
const RUNS = 30;

describe('assigned-device interrupts through the VMM against an oracle of pending interrupts (fc.commands)', () => {
  it(`random fire / schedule / migrate / retarget / handle / snapshot sequences, posted and not, Intel and AMD hosts (${stressRuns(RUNS)} runs)`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(fc.record({ posted: fc.boolean(), amd: fc.boolean(), firstCpus: fc.array(vcpu, { minLength: SOURCES, maxLength: SOURCES }) }), commands, (start, cmds) => {
        const s = setup(start);
        try {
          fc.modelRun(() => s, stats.instrumented(cmds));
        } finally {
          addReached(seen, s.model.model.seen);
        }
      }),
      { numRuns: stressRuns(RUNS), seed: stressSeed() },
    );
    stats.coverage('random sequences', seen, ['fired', 'coalesced', 'handled', 'waiting in PIR', 'waiting in the vAPIC backing page', 'in the IRR of a vCPU not running', 'preempted', 'blocked', 'running', 'moved while pending', 'retargeted', 'pended in the PBA', 'sent at unmask', 'snapshot round trip'], stressRuns(RUNS), RUNS);
  }, 600_000);
});
