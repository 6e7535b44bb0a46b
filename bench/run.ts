/**
 * `npm run bench`: the interrupt hot path, measured in one run so the ratios compare like with like.
 *
 *   baseline            decode a compatibility message and set the IRR bit, nothing else
 *   msix-compat         MSI-X signal → translation core (compatibility format) → APIC bus → LAPIC IRR
 *   ioapic-edge         I/O APIC edge pin → RTE message → translation core → LAPIC IRR
 *   msix-intel-ir       MSI-X signal → VT-d remapping (interrupt entry cache warm) → LAPIC IRR
 *   msix-amd-ir         MSI-X signal → AMD-Vi remapping (DTE/IRTE caches warm) → LAPIC IRR
 *   …-walk              the same with the translation core's route slots off: every message goes through the
 *                       IOMMU (its interrupt entry / IRTE cache warm), measuring the remapping lookup itself
 *   linux-intel-ir      the host of vmm-routed alone: the Linux model boots with VT-d and programs the MSI-X entry
 *                       (x2APIC cluster destination, RH = 1: a lowest-priority arbitration per interrupt) — the
 *                       single-machine remapped path with the very IRTE the host kernel writes
 *   vmm-routed          two machines: the host's MSI-X signal → host VT-d (warm) → host LAPIC → the host kernel's
 *                       entry (INTA, EOI, vfio handler) → the VMM's warm route → guest translation core → guest LAPIC
 *   phys-4 / phys-32768 the same physical-destination delivery on a 4-CPU and a 32768-CPU machine
 *   boot-1024 / -4096 / -32768  create a machine of that many vCPUs (15-bit extended destination ID advertised)
 *                       and boot the Linux model on it: firmware x2APIC hand-off, INIT-SIPI-SIPI to every AP, each
 *                       AP's x2APIC switch and software enable (CPU time). Linear is ≈ 4× and ≈ 32× the 1024 boot.
 *   replay-100k / -1M   `irqpath replay` of a real QEMU trace repeated to 10^5 and 10^6 lines, in lines per second of
 *                       CPU time (bench/replay.ts); the 1 M run's cost per line against the 100 k run's (linear: 1×)
 *
 * Targets (issues 2–4, 10): msix-compat within 10× of baseline; phys-32768 within 1.5× of phys-4; a 32768-CPU
 * machine created in under 1 s; Intel and AMD remapping within 2× of msix-compat; a routed interrupt of an assigned
 * device within 3× of the same host's own remapped path, linux-intel-ir (issue 8; its ratio to the hand-programmed
 * msix-intel-ir, a physical-destination IRTE, is printed too); boots close to linear (4096 within 1.5× of linear,
 * 32768 within 2×: see the note at its row), and the 32768-vCPU boot in under 1 s; replay at ≥ 100 000 lines/s (issue 15).
 */
import { createGuest } from '../src/guest/create-guest.ts';
import { createMachine, type Machine } from '../src/machine/machine.ts';
import { decodeCompatInto } from '../src/msi/formats/compat.ts';
import { newApicMessage } from '../src/msi/interrupt.ts';
import { KVM_MAX_IRQ_ROUTES, KvmIrqRouting, type KvmRoutingEntry } from '../src/vmm/kvm-irq-routing.ts';
import { snapshotRows } from './snapshots.ts';
import { replayRows } from './replay.ts';
import { assignedNic, enableBusMaster, enableLapic, programAmdIrte, programIntelIrte, programMsix, programVtdDmaMapping } from './program.ts';

const ITERATIONS = Number(process.env.IRQPATH_BENCH_ITERATIONS ?? 2_000_000);
const ROUNDS = 5;

/** Best of ROUNDS runs of `fn` (ITERATIONS calls each), in deliveries per second. */
function measure(fn: () => void): number {
  for (let i = 0; i < ITERATIONS / 10; i++) fn(); // warm up: JIT, caches, route slots
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) fn();
    const ns = Number(process.hrtime.bigint() - t0);
    best = Math.min(best, ns);
  }
  return ITERATIONS / (best / 1e9);
}

function device(m: Machine) {
  return m.device('00:03.0');
}

const DEV = [{ bdf: '00:03.0', msix: { entries: 4 } }];

function msixCompat(): () => void {
  const m = createMachine({ cpus: 4, devices: DEV });
  enableLapic(m, 1, false);
  programMsix(m, '00:03.0', 0, 0xfee01000n, 0x41);
  const d = device(m);
  return () => d.signal(0);
}

function ioapicEdge(): () => void {
  const m = createMachine({ cpus: 4 });
  enableLapic(m, 1, false);
  const cpu = m.cpu(0);
  // RTE 5: vector 0x42, fixed, physical, edge, unmasked, destination APIC 1.
  cpu.write32(0xfec00000, 0x10 + 2 * 5);
  cpu.write32(0xfec00010, 0x42);
  cpu.write32(0xfec00000, 0x10 + 2 * 5 + 1);
  cpu.write32(0xfec00010, 1 << 24);
  const io = m.ioapic;
  return () => io.pulse(5);
}

function msixIntel(routeCaching = true): () => void {
  const m = createMachine({ cpus: 4, iommu: { kind: 'intel', dmaTranslation: false }, devices: DEV });
  enableLapic(m, 1, true);
  programIntelIrte(m, 0x100000, 5, 1, 0x43);
  programMsix(m, '00:03.0', 0, 0xfee00000n | (5n << 5n) | 0x18n, 0);
  m.core.routeCaching = routeCaching;
  const d = device(m);
  return () => d.signal(0);
}

function msixAmd(routeCaching = true): () => void {
  const m = createMachine({ cpus: 4, iommu: { kind: 'amd' }, devices: DEV });
  enableLapic(m, 1, true);
  programAmdIrte(m, 0x200000, 0x400000, 0x18, 3, 1, 0x44);
  programMsix(m, '00:03.0', 0, 0xfee00000n, 3);
  m.core.routeCaching = routeCaching;
  const d = device(m);
  return () => d.signal(0);
}

/** The host of vmmRouted on its own: Linux programs the device's MSI-X entry through VT-d and the device fires it. */
function linuxIntelIr(): () => void {
  const m = createMachine({ cpus: 4, iommu: { kind: 'intel', dmaTranslation: false }, devices: [{ bdf: '02:00.0', msix: { entries: 4 } }] });
  const linux = createGuest(m, { os: 'linux' });
  linux.boot();
  linux.setupInterrupt({ id: 'q0', kind: 'msix', device: '02:00.0', vector: 0, cpu: 1 });
  const d = m.device('02:00.0');
  return () => d.signal(0);
}

/** An assigned NIC: Linux host with VT-d, Linux guest; the guest programs MSI-X entry 0, the host device fires it. */
function vmmRouted(): () => void {
  const { sys, device: d } = assignedNic();
  d.signal(0);
  if (sys.vmm.counters.injections !== 1) throw new Error('vmm-routed: the routed interrupt did not reach the guest');
  return () => d.signal(0);
}

/** Physical delivery to the last APIC ID through the 15-bit extended destination (reaches 32767). */
function physical(cpus: number): { fn: () => void; createMs: number } {
  const t0 = performance.now();
  const m = createMachine({ cpus, hypervisor: { extDestId: true }, devices: DEV });
  const createMs = performance.now() - t0;
  const last = cpus - 1;
  enableLapic(m, last, true);
  const addr = 0xfee00000n | (BigInt(last & 0xff) << 12n) | (BigInt(last >> 8) << 5n);
  programMsix(m, '00:03.0', 0, addr, 0x45);
  const d = device(m);
  return { fn: () => d.signal(0), createMs };
}

/** One create-and-boot of a Linux guest on `cpus` vCPUs; returns the process's CPU time for it, in milliseconds. */
function bootOnce(cpus: number): number {
  const before = process.cpuUsage();
  const m = createMachine({ cpus, hypervisor: { extDestId: true } });
  const guest = createGuest(m, { os: 'linux' });
  guest.boot();
  const used = process.cpuUsage(before);
  if (guest.onlineCpus().length !== cpus) throw new Error(`boot of ${cpus} vCPUs brought ${guest.onlineCpus().length} online`);
  return (used.user + used.system) / 1000;
}

/**
 * Best CPU time of several boots per size, the sizes interleaved so that they share whatever else the machine is
 * doing. CPU time (not wall time) because a boot of a few milliseconds on a shared machine is otherwise mostly
 * scheduling noise; it includes the garbage collector's helper threads.
 */
function boots(sizes: readonly number[], rounds: (cpus: number) => number): Map<number, number> {
  const best = new Map<number, number>();
  for (const cpus of sizes) bootOnce(cpus); // warm up the JIT on every size
  const most = Math.max(...sizes.map(rounds));
  for (let r = 0; r < most; r++) {
    for (const cpus of sizes) {
      if (r >= rounds(cpus)) continue;
      best.set(cpus, Math.min(best.get(cpus) ?? Infinity, bootOnce(cpus)));
    }
  }
  return best;
}

function baseline(): () => void {
  const msg = newApicMessage();
  const irr = new Uint32Array(8);
  return () => {
    decodeCompatInto(0xfee01000, 0x41, msg);
    irr[msg.vector >>> 5] |= 1 << (msg.vector & 31);
  };
}

/**
 * A device's 32-bit DMA write to RAM on a machine with a VT-d unit: `translated` false leaves TE clear (the write
 * goes straight to memory), true maps the page and sets TE, so every write after the first is served by the warm
 * context cache and IOTLB.
 */
function dmaWrite(translated: boolean): () => void {
  const m = createMachine({ cpus: 1, iommu: { kind: 'intel' }, devices: DEV });
  enableBusMaster(m, '00:03.0');
  const iova = 0x4000_0000;
  if (translated) programVtdDmaMapping(m, '00:03.0', iova, 0x0200_0000);
  const d = device(m);
  let i = 0;
  return () => d.dmaWrite(iova + ((i++ & 0x3ff) << 2), i);
}

function fmt(rate: number): string {
  return rate >= 1e6 ? `${(rate / 1e6).toFixed(2)} M/s` : `${(rate / 1e3).toFixed(1)} k/s`;
}

function row(name: string, rate: number, ref: number, refName: string, target?: number): string {
  const ratio = ref / rate;
  const verdict = target === undefined ? '' : ratio <= target ? `  ✓ target ≤ ${target}×` : `  ✗ target ≤ ${target}×`;
  return `${name.padEnd(14)} ${fmt(rate).padStart(11)}   ${ratio.toFixed(2)}× the cost of ${refName}${verdict}`;
}

const results: Record<string, number> = {};
results.baseline = measure(baseline());
results['msix-compat'] = measure(msixCompat());
results['ioapic-edge'] = measure(ioapicEdge());
results['msix-intel-ir'] = measure(msixIntel());
results['msix-amd-ir'] = measure(msixAmd());
results['intel-ir-walk'] = measure(msixIntel(false));
results['amd-ir-walk'] = measure(msixAmd(false));
results['linux-intel-ir'] = measure(linuxIntelIr());
results['vmm-routed'] = measure(vmmRouted());
results['dma-untranslated'] = measure(dmaWrite(false));
results['dma-iotlb'] = measure(dmaWrite(true));
const small = physical(4);
const big = physical(32768);
results['phys-4'] = measure(small.fn);
results['phys-32768'] = measure(big.fn);

console.log(`irqpath hot-path benchmark (${ITERATIONS.toLocaleString('en')} deliveries per round, best of ${ROUNDS}, Node ${process.version})`);
console.log('');
console.log(row('baseline', results.baseline, results.baseline, 'baseline'));
console.log(row('msix-compat', results['msix-compat'], results.baseline, 'baseline', 10));
console.log(row('ioapic-edge', results['ioapic-edge'], results.baseline, 'baseline', 10));
console.log(row('msix-intel-ir', results['msix-intel-ir'], results['msix-compat'], 'msix-compat', 2));
console.log(row('msix-amd-ir', results['msix-amd-ir'], results['msix-compat'], 'msix-compat', 2));
console.log(row('intel-ir-walk', results['intel-ir-walk'], results['msix-compat'], 'msix-compat') + '  (route slots off: IEC lookup every time)');
console.log(row('amd-ir-walk', results['amd-ir-walk'], results['msix-compat'], 'msix-compat') + '  (route slots off: DTE/IRTE cache every time)');
console.log(row('linux-intel-ir', results['linux-intel-ir'], results['msix-intel-ir'], 'msix-intel-ir') + '  (the IRTE Linux writes: cluster destination, RH = 1)');
console.log(row('vmm-routed', results['vmm-routed'], results['linux-intel-ir'], 'linux-intel-ir', 3) + '  (host MSI → host IOMMU → warm route → guest LAPIC)');
console.log(row('', results['vmm-routed'], results['msix-intel-ir'], 'msix-intel-ir'));
console.log(row('dma-untranslated', results['dma-untranslated'], results['dma-untranslated'], 'dma-untranslated') + '  (device DMA write to RAM, VT-d present, TE clear)');
console.log(row('dma-iotlb', results['dma-iotlb'], results['dma-untranslated'], 'dma-untranslated', 3) + '  (the same write translated: context cache and IOTLB warm)');
console.log(row('phys-4', results['phys-4'], results['phys-4'], 'phys-4'));
console.log(row('phys-32768', results['phys-32768'], results['phys-4'], 'phys-4', 1.5));
console.log('');
console.log(`createMachine({ cpus: 32768 }): ${big.createMs.toFixed(0)} ms  ${big.createMs < 1000 ? '✓' : '✗'} target < 1000 ms`);

const BOOT_ROUNDS = (cpus: number) => (cpus <= 1024 ? 20 : cpus <= 4096 ? 10 : 3);
const bootMs = boots([1024, 4096, 32768], BOOT_ROUNDS);
const bootRow = (cpus: number, target?: number): string => {
  const ms = bootMs.get(cpus)!;
  const ratio = ms / bootMs.get(1024)!;
  const verdict = target === undefined ? '' : ratio <= target ? `  ✓ target ≤ ${target}×` : `  ✗ target ≤ ${target}×`;
  const perCpu = `${((ms * 1000) / cpus).toFixed(2)} µs/vCPU`;
  return `${`boot-${cpus}`.padEnd(14)} ${`${ms.toFixed(1)} ms`.padStart(11)}   ${ratio.toFixed(2)}× the cost of boot-1024 (${perCpu})${verdict}`;
};
console.log('');
console.log(`Linux boots: create the machine and boot the guest, best CPU time of ${BOOT_ROUNDS(1024)} / ${BOOT_ROUNDS(4096)} / ${BOOT_ROUNDS(32768)} runs`);
console.log(bootRow(1024));
console.log(bootRow(4096, 6) + '  (linear: 4×)');
// Up to a few thousand vCPUs a machine lives and dies in V8's young generation; a 32768-vCPU one (about 15 MB) is
// promoted, which the scavenger pays for per object. That is a constant per vCPU (about 1.7 µs below the knee,
// about 3 µs above it, flat from 8192 to 32768 vCPUs), not a term that grows with the count: hence ≤ 2× linear.
console.log(bootRow(32768, 64) + '  (linear: 32×)');
const big32768 = bootMs.get(32768)!;
console.log(`boot of 32768 vCPUs: ${big32768.toFixed(0)} ms  ${big32768 < 1000 ? '✓' : '✗'} target < 1000 ms`);

/**
 * gsi-replace: KVM_SET_GSI_ROUTING of a full 4096-GSI table (24 I/O APIC pins, 4072 MSI routes, every MSI GSI with a
 * paired irqfd) in which one route changed. The posting work KVM redoes (kvm_arch_update_irqfd_routing) must be for
 * the changed route only — O(routes changed), counted, not timed; the time per replacement is printed beside it.
 */
function gsiReplace(): { postingUpdates: number; changed: number; us: number } {
  let postingUpdates = 0;
  const routing = new KvmIrqRouting({ inject: () => {}, paired: () => postingUpdates++, unpaired: () => {} });
  const table = (changedData: number): KvmRoutingEntry[] =>
    Array.from({ length: KVM_MAX_IRQ_ROUTES }, (_, gsi) => (gsi < 24 ? { gsi, type: 'ioapic' as const, pin: gsi } : { gsi, type: 'msi' as const, addressHi: 0, addressLo: 0xfee00000, data: gsi === 2000 ? changedData : 0x40 }));
  routing.setRouting(table(0x40));
  for (let gsi = 24; gsi < KVM_MAX_IRQ_ROUTES; gsi++) {
    const token = {};
    routing.assignIrqfd(gsi, token);
    routing.registerProducer({ token, name: `gsi ${gsi}` });
  }
  const tables = [table(0x41), table(0x40)];
  postingUpdates = 0;
  const rounds = 200;
  const t0 = process.hrtime.bigint();
  let changed = 0;
  for (let i = 0; i < rounds; i++) changed += routing.setRouting(tables[i & 1]).length;
  const us = Number(process.hrtime.bigint() - t0) / 1000 / rounds;
  return { postingUpdates: postingUpdates / rounds, changed: changed / rounds, us };
}
const gsi = gsiReplace();
console.log('');
console.log(`gsi-replace    ${`${gsi.us.toFixed(0)} µs`.padStart(11)}   full 4096-GSI table, 1 route changed: ${gsi.changed} entry changed, ${gsi.postingUpdates} posting update${gsi.postingUpdates === 1 ? '' : 's'}  ${gsi.postingUpdates === gsi.changed ? '✓' : '✗'} target: O(routes changed)`);
console.log('');
for (const line of snapshotRows()) console.log(line);

console.log('');
for (const line of replayRows()) console.log(line);
