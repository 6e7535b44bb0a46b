/**
 * Model-based stress test over every kind of machine a guest meets: no IOMMU with an xAPIC-only CPU, no IOMMU with
 * x2APIC, Intel VT-d interrupt remapping with and without EIM, AMD-Vi with and without GA and XT, and VT-d behind the
 * QEMU front (irqpath's model of QEMU's vIOMMU). On each, the Linux or the Windows model boots and random sequences set interrupts
 * up on CPUs of the driver's choosing (MSI-X entries and an MSI), fire them, handle them and take snapshot round
 * trips.
 *
 * Each interrupt is checked against independent models that read only what the hardware holds: the message in the
 * device's MSI-X table or MSI capability, the remapping unit's registers and its tables in memory — decoded by the
 * VT-d and AMD-Vi models (models/vtd-remapping-model.ts, amd-remapping-model.ts, from the specs) — and the local
 * APICs' IDs and logical destinations (models/apic-destination-model.ts, SDM §10.6.2): the CPUs that accept it must
 * be the ones addressed (one of them for lowest priority), with the remapped vector. The CPU and vector must also be
 * those the guest meant (its ProgrammedInterrupt), and each CPU acknowledges its highest pending vector
 * (models/pending-interrupt-model.ts).
 *
 * Runs: IRQPATH_STRESS_RUNS (default 35 sequences of up to 50 operations); IRQPATH_STRESS_SEED replays a seed.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Machine, createMachine } from '../../src/machine/machine.ts';
import type { MachineConfig } from '../../src/core/config-types.ts';
import { roundTripThroughJson } from './snapshot-round-trip.ts';
import { createGuest } from '../../src/guest/create-guest.ts';
import { qemuVtdFrontFor } from '../../src/vmm/qemu-vtd-front.ts';
import { VMM_PROFILES } from '../../src/vmm/profiles.ts';
import { VtdRemappingModel, type Irte } from './models/vtd-remapping-model.ts';
import { AmdRemappingModel } from './models/amd-remapping-model.ts';
import { addressedCpus, type LapicView } from './models/apic-destination-model.ts';
import { PendingInterruptModel } from './models/pending-interrupt-model.ts';
import { stressRuns, stressSeed } from './budget.ts';
import { addReached, campaignStats } from './campaign-stats.ts';

const CPUS = 4;
const MSIX_DEV = '00:03.0';
const MSI_DEV = '00:04.0';
const DEVICES: MachineConfig['devices'] = [
  { bdf: MSIX_DEV, msix: { entries: 4 } },
  { bdf: MSI_DEV, msi: { vectors: 1 } },
];

const KINDS: { name: string; config: MachineConfig; qemuFront?: boolean }[] = [
  { name: 'no IOMMU, xAPIC-only CPU', config: { cpus: CPUS, cpu: { x2apic: false }, devices: DEVICES } },
  { name: 'no IOMMU, x2APIC CPU', config: { cpus: CPUS, devices: DEVICES } },
  { name: 'Intel IR with EIM', config: { cpus: CPUS, iommu: { kind: 'intel' }, devices: DEVICES } },
  { name: 'Intel IR without EIM', config: { cpus: CPUS, iommu: { kind: 'intel', eim: false }, devices: DEVICES } },
  { name: 'AMD-Vi with GA and XT', config: { cpus: CPUS, iommu: { kind: 'amd', ga: true, xt: true }, devices: DEVICES } },
  { name: 'AMD-Vi without GA or XT', config: { cpus: CPUS, iommu: { kind: 'amd', ga: false, xt: false }, devices: DEVICES } },
  { name: 'Intel IR behind the QEMU front', config: { cpus: CPUS, iommu: { kind: 'intel' }, devices: DEVICES }, qemuFront: true },
];

/** The sources: the four MSI-X entries of one device and the MSI of another. */
const SOURCES: { id: string; kind: 'msi' | 'msix'; device: string; vector: number }[] = [
  ...[0, 1, 2, 3].map((n) => ({ id: `q${n}`, kind: 'msix' as const, device: MSIX_DEV, vector: n })),
  { id: 'm0', kind: 'msi', device: MSI_DEV, vector: 0 },
];

// Register offsets and bits written out from the specs rather than imported: VT-d §11.4 (GSTS 0x1C: IRES 25,
// CFIS 23; IRTA 0xB8: address 63:12, EIME 11, S 3:0), AMD IOMMU §3.4 (Device Table Base 0x00: 51:12; Control 0x18:
// GAEn 17, XTEn 50).
const VTD_GSTS = 0x1c;
const VTD_IRTA = 0xb8;
const AMD_DEV_TAB = 0x00;
const AMD_CONTROL = 0x18;

interface Real {
  m: Machine;
  guest: ReturnType<typeof createGuest>;
  kind: (typeof KINDS)[number];
  os: string;
  accepts: { cpu: number; vector: number }[];
  /** What the guest meant for each source: CPU and vector (undefined until set up). */
  meant: ({ cpu: number; vector: number } | undefined)[];
}

interface ModelState {
  pending: PendingInterruptModel;
}

function setup(kindIndex: number, os: 'linux' | 'windows'): { model: ModelState; real: Real } {
  const kind = KINDS[kindIndex];
  const m = kind.qemuFront ? new Machine(kind.config, { remapperFront: qemuVtdFrontFor(VMM_PROFILES.qemu) }) : createMachine(kind.config);
  const guest = createGuest(m, { os });
  guest.boot();
  const real: Real = { m, guest, kind, os, accepts: [], meant: SOURCES.map(() => undefined) };
  m.events.on('apic_accept', (e) => real.accepts.push({ cpu: e.cpu, vector: e.vector }));
  return { model: { pending: new PendingInterruptModel(CPUS) }, real };
}

/** The message a source's device sends: its MSI-X table entry (PCI 3.0 §6.8.2) or MSI capability (§6.8.1), read back. */
function messageOf(m: Machine, source: number): { addrHi: number; addrLo: number; data: number } {
  const s = SOURCES[source];
  const d = m.device(s.device);
  const cpu = m.cpu(0);
  let cap = d.configRead(0x34, 1);
  const wanted = s.kind === 'msix' ? 0x11 : 0x05;
  while (cap !== 0 && d.configRead(cap, 1) !== wanted) cap = d.configRead(cap + 1, 1);
  if (s.kind === 'msix') {
    const table = d.configRead(cap + 4, 4);
    const bar = 0x10 + 4 * (table & 7);
    const lo = d.configRead(bar, 4);
    const base = ((lo & 6) === 4 ? d.configRead(bar + 4, 4) * 2 ** 32 : 0) + ((lo & ~0xf) >>> 0) + ((table & ~7) >>> 0) + 16 * s.vector;
    return { addrLo: cpu.read32(base), addrHi: cpu.read32(base + 4), data: cpu.read32(base + 8) };
  }
  const is64 = (d.configRead(cap + 2, 2) & 0x80) !== 0;
  return { addrLo: d.configRead(cap + 4, 4), addrHi: is64 ? d.configRead(cap + 8, 4) : 0, data: d.configRead(cap + (is64 ? 12 : 8), 2) };
}

function lapicViews(m: Machine): LapicView[] {
  return Array.from({ length: CPUS }, (_, i) => {
    const c = m.cpu(i);
    const base = c.rdmsr(0x1b);
    const en = (base & (1n << 11n)) !== 0n;
    const x2apic = en && (base & (1n << 10n)) !== 0n;
    if (!en) return { enabled: false, x2apic: false, id: 0, ldr: 0, flat: true };
    if (x2apic) return { enabled: (Number(c.rdmsr(0x80f)) & 0x100) !== 0, x2apic, id: Number(c.rdmsr(0x802)), ldr: Number(c.rdmsr(0x80d)), flat: false };
    return { enabled: (c.read32(0xfee000f0) & 0x100) !== 0, x2apic, id: c.read32(0xfee00020) >>> 24, ldr: c.read32(0xfee000d0) >>> 0, flat: c.read32(0xfee000e0) >>> 28 === 0xf };
  });
}

interface Expected {
  cpus: number[];
  oneOf: boolean;
  vector: number;
  how: string;
}

/** What the hardware must do with the message, from the unit's registers and tables as they are in memory. */
function expectedDelivery(r: Real, source: number, msg: { addrHi: number; addrLo: number; data: number }): Expected | { blocked: string } {
  const m = r.m;
  const sid = m.device(SOURCES[source].device).requesterId;
  const read32 = (a: number) => m.memory.read32(a);
  const compat = { dest: (msg.addrLo >>> 12) & 0xff, destMode: (msg.addrLo >>> 2) & 1, deliveryMode: (msg.data >>> 8) & 7, vector: msg.data & 0xff, redirectionHint: (msg.addrLo >>> 3) & 1, width: 8 as 8 | 32 };
  const within = (p: typeof compat, how: string): Expected => ({ ...addressedCpus(lapicViews(m), p), vector: p.vector, how });
  const cfg = r.kind.config.iommu;
  if (cfg?.kind === 'intel') {
    const base = m.firmware.dmar!.registerBase;
    const gsts = m.cpu(0).read32(base + VTD_GSTS);
    const irta = m.cpu(0).read64(base + VTD_IRTA);
    const model = new VtdRemappingModel();
    model.programmed = { s: Number(irta & 0xfn), eime: (irta & (1n << 11n)) !== 0n };
    model.sirtp();
    model.ire = (gsts & (1 << 25)) !== 0;
    model.cfis = (gsts & (1 << 23)) !== 0;
    // The IRTE the message names (VT-d §5.1.2.2): handle 19:5 and 2, plus the subhandle when SHV (bit 3) is set.
    const handle = ((msg.addrLo >>> 5) & 0x7fff) | (((msg.addrLo >>> 2) & 1) << 15);
    const index = (msg.addrLo & 8) !== 0 ? (handle + (msg.data & 0xffff)) & 0xffff : handle;
    const table = Number(irta & ~0xfffn);
    model.writeIrte(index, [0, 1, 2, 3].map((k) => read32(table + 16 * index + 4 * k) >>> 0) as unknown as Irte);
    const p = model.predict(sid, msg.addrHi, msg.addrLo, msg.data, true);
    if (p.kind !== 'deliver') return { blocked: p.kind === 'fault' ? `fault 0x${p.code.toString(16)}` : p.kind };
    const remapped = (msg.addrLo & 0x10) !== 0 && model.ire;
    const width = remapped && model.latched.eime ? 32 : 8;
    return within({ ...p, width }, remapped ? `IRTE ${index}` : 'compatibility format');
  }
  if (cfg?.kind === 'amd') {
    const base = m.firmware.ivrs!.registerBase;
    const control = m.cpu(0).read64(base + AMD_CONTROL);
    const devTab = Number(m.cpu(0).read64(base + AMD_DEV_TAB) & 0xffffffffff000n);
    const model = new AmdRemappingModel();
    const ga = (control & (1n << 17n)) !== 0n;
    const xt = (control & (1n << 50n)) !== 0n;
    model.setControl(ga, xt, false);
    const dte = devTab + 32 * sid + 16;
    const words = [read32(dte) >>> 0, read32(dte + 4) >>> 0] as const;
    model.dtes.set(sid, words);
    // The IRTE the message names (AMD IOMMU §2.2.5.1): data 10:0 into the table at DTE bits 179:134.
    const root = words[0] - (words[0] % 64) + (words[1] & 0xfffff) * 2 ** 32;
    const bytes = ga ? 16 : 4;
    const index = msg.data % 0x200;
    for (let k = 0; k < bytes / 4; k++) model.ram.set(root + index * bytes + 4 * k, read32(root + index * bytes + 4 * k) >>> 0);
    const p = model.predict(sid, msg.addrHi, msg.addrLo, msg.data, true);
    if (p.kind !== 'deliver') return { blocked: p.kind === 'fault' ? `event ${p.code}` : p.kind };
    const remapped = words[0] % 2 === 1;
    return within({ ...p, redirectionHint: remapped ? 0 : compat.redirectionHint, width: remapped && ga && xt ? 32 : 8 }, remapped ? `IRTE ${index}` : 'DTE IV = 0');
  }
  return within(compat, 'compatibility format');
}

type Cmd = fc.Command<ModelState, Real>;

class Setup implements Cmd {
  constructor(readonly source: number, readonly cpu: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const src = SOURCES[this.source];
    const p = r.guest.setupInterrupt({ id: src.id, kind: src.kind, device: src.device, vector: src.vector, cpu: this.cpu });
    expect(p.status, `${this.toString()} on ${r.kind.name} by ${r.os}: ${p.note ?? ''}`).toBe('programmed');
    r.meant[this.source] = { cpu: p.cpu, vector: p.vector };
    s.pending.saw(`set up on ${r.kind.name}`);
    s.pending.saw(`set up by ${r.os}`);
  }
  toString = (): string => `guest sets ${SOURCES[this.source].id} up on CPU ${this.cpu}`;
}

class Fire implements Cmd {
  constructor(readonly source: number) {}
  check = (s: Readonly<ModelState>, r?: Readonly<Real>): boolean => r === undefined || r.meant[this.source] !== undefined;
  run(s: ModelState, r: Real): void {
    const meant = r.meant[this.source];
    if (meant === undefined) return;
    const msg = messageOf(r.m, this.source);
    const expected = expectedDelivery(r, this.source, msg);
    const what = `${this.toString()} on ${r.kind.name} (${r.os}): addr 0x${msg.addrHi.toString(16)}_${msg.addrLo.toString(16)} data 0x${msg.data.toString(16)}`;
    expect(expected, `${what}: the models block what the guest set up`).not.toHaveProperty('blocked');
    const e = expected as Expected;
    r.accepts.length = 0;
    r.m.device(SOURCES[this.source].device).signal(SOURCES[this.source].vector);
    const got = r.accepts.filter((a) => a.vector === e.vector);
    expect(r.accepts.length, `${what}: accepted by ${JSON.stringify(r.accepts)}, expected vector 0x${e.vector.toString(16)} (${e.how})`).toBe(got.length);
    if (e.oneOf) {
      expect(got, `${what}: one of CPUs ${e.cpus}`).toHaveLength(1);
      expect(e.cpus).toContain(got[0].cpu);
      s.pending.saw('lowest priority');
    } else expect(got.map((a) => a.cpu), `${what} (${e.how})`).toEqual(e.cpus);
    // Where the guest meant it to go.
    expect(got.map((a) => [a.cpu, a.vector]), `${what}: the guest meant CPU ${meant.cpu} vector 0x${meant.vector.toString(16)}`).toEqual([[meant.cpu, meant.vector]]);
    for (const a of got) s.pending.fire(a.cpu, a.vector);
    s.pending.saw(`delivered (${e.how.startsWith('IRTE') ? 'remapped' : e.how})`);
  }
  toString = (): string => `${SOURCES[this.source].id} fires`;
}

class Handle implements Cmd {
  constructor(readonly cpu: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const expected = s.pending.highestPending(this.cpu);
    const got = r.guest.handleInterrupt(this.cpu);
    expect(got, this.toString()).toBe(expected);
    if (got !== null) {
      s.pending.handle(this.cpu, got);
      s.pending.saw('handled');
    }
  }
  toString = (): string => `guest handles an interrupt on CPU ${this.cpu}`;
}

class SnapshotRoundTrip implements Cmd {
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    roundTripThroughJson(r.m);
    s.pending.saw('snapshot round trip');
  }
  toString = (): string => 'machine snapshot → JSON → restore';
}

const cpu = fc.integer({ min: 0, max: CPUS - 1 });
const source = fc.integer({ min: 0, max: SOURCES.length - 1 });
const commands = fc.commands<ModelState, Real>(
  [
    ...Array<fc.Arbitrary<Cmd>>(2).fill(fc.tuple(source, cpu).map(([i, c]): Cmd => new Setup(i, c))),
    ...Array<fc.Arbitrary<Cmd>>(5).fill(source.map((i): Cmd => new Fire(i))),
    ...Array<fc.Arbitrary<Cmd>>(3).fill(cpu.map((c): Cmd => new Handle(c))),
    fc.constant<Cmd>(new SnapshotRoundTrip()),
  ],
  { maxCommands: 50, size: 'max' },
);

const stats = campaignStats('machine-kinds');
const RUNS = 35;

describe('interrupts on every machine kind against the spec models (fc.commands)', () => {
  it(`random set-up / fire / handle / snapshot sequences on ${KINDS.length} machine kinds, Linux and Windows (${stressRuns(RUNS)} runs)`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: KINDS.length - 1 }), fc.constantFrom<'linux' | 'windows'>('linux', 'windows'), commands, (kind, os, cmds) => {
        const s = setup(kind, os);
        try {
          fc.modelRun(() => s, stats.instrumented(cmds));
        } finally {
          addReached(seen, s.model.pending.seen);
        }
      }),
      { numRuns: stressRuns(RUNS), seed: stressSeed() },
    );
    stats.coverage('random sequences', seen, [...KINDS.map((k) => `set up on ${k.name}`), 'set up by linux', 'set up by windows', 'delivered (remapped)', 'delivered (compatibility format)', 'handled', 'coalesced', 'snapshot round trip'], stressRuns(RUNS), RUNS);
  }, 600_000);
});
