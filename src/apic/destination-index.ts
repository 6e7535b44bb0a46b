/**
 * The bus's destination index, after KVM's optimized APIC map (arch/x86/kvm/lapic.c kvm_recalculate_apic_map), but
 * maintained per CPU instead of rebuilt: a CPU whose ID, LDR, DFR or mode changes is told to the index
 * ({@link DestinationIndex.update}), which compares what it indexed for that CPU with the LAPIC's registers now.
 *
 * - Physical and x2APIC-logical keys are maintained eagerly, in O(1) per change (O(aliases) when several CPUs
 *   share a key): each key holds a doubly linked chain of CPUs in ascending CPU order, in a dense Int32Array for
 *   keys below max(4096, 4 × CPUs) and in a Map for larger, sparse 32-bit keys. Unlike KVM, aliased IDs (two
 *   CPUs with the same xAPIC ID) stay on the fast path.
 * - The broadcast lists (hardware-enabled CPUs, xAPIC-mode CPUs) and the xAPIC flat / cluster logical slots are
 *   rebuilt lazily, in O(CPUs), on the first message after a change that needs them. Why lazily and not also
 *   incrementally: an OS brings CPUs up one by one with physical IPIs (Linux wakeup_secondary_cpu_via_init), so
 *   thousands of mode switches arrive with no broadcast or xAPIC-logical message in between and cost nothing here;
 *   firmware's broadcast INIT-SIPI-SIPI brackets the APs' switches with two broadcasts, so two rebuilds. Keeping
 *   the lists sorted incrementally would cost O(CPUs) per change (an ordered insert into an array) or order
 *   broadcast deliveries by history instead of by CPU, which would make a restored machine trace differently
 *   from the one it was saved from. A broadcast is itself O(CPUs), so a rebuild at most doubles its cost.
 * - Software enable (SVR bit 8) is not part of the index: it decides acceptance, not addressing (SDM 10.4.7.2), so
 *   SVR writes and an INIT that leaves the addressing registers as they were change nothing here.
 *
 * Every lookup is allocation-free; physical lookups are O(matches). It implements exactly the rules of
 * destination-match.ts; property tests compare the two, including after random sequences of per-CPU changes.
 */
import { DestMode, type ApicMessage } from '../msi/interrupt.ts';
import type { Lapic } from './lapic.ts';
import { DFR_MODEL_CLUSTER, DFR_MODEL_FLAT, Shorthand } from './registers.ts';

/** Keys below this bound (or below 4 × CPUs) live in the dense table; larger keys in a Map. */
const DENSE_MIN_LIMIT = 4096;

const NONE = -1;

/** key → chain of CPUs (ascending CPU index); each CPU is on at most one chain. */
class KeyChains {
  readonly next: Int32Array;
  private readonly prev: Int32Array;
  /** The key each CPU is filed under, or NONE. */
  private readonly keyOf: Float64Array;
  private readonly dense: Int32Array;
  private readonly sparse = new Map<number, number>();

  constructor(cpuCount: number) {
    this.next = new Int32Array(cpuCount).fill(NONE);
    this.prev = new Int32Array(cpuCount).fill(NONE);
    this.keyOf = new Float64Array(cpuCount).fill(NONE);
    this.dense = new Int32Array(Math.max(DENSE_MIN_LIMIT, 4 * cpuCount)).fill(NONE);
  }

  first(key: number): number {
    if (key < this.dense.length) return this.dense[key];
    return this.sparse.get(key) ?? NONE;
  }

  key(cpu: number): number {
    return this.keyOf[cpu];
  }

  /** File `cpu` under `key` (NONE: under no key). O(1), or O(CPUs sharing the key) to keep the chain ordered. */
  set(cpu: number, key: number): void {
    if (this.keyOf[cpu] === key) return;
    if (this.keyOf[cpu] !== NONE) this.unlink(cpu);
    if (key !== NONE) this.link(cpu, key);
  }

  clear(): void {
    this.dense.fill(NONE);
    this.sparse.clear();
    this.next.fill(NONE);
    this.prev.fill(NONE);
    this.keyOf.fill(NONE);
  }

  /** True when no key lives in the Map (for tests and diagnostics). */
  get isDense(): boolean {
    return this.sparse.size === 0;
  }

  private setHead(key: number, cpu: number): void {
    if (key < this.dense.length) this.dense[key] = cpu;
    else if (cpu === NONE) this.sparse.delete(key);
    else this.sparse.set(key, cpu);
  }

  private link(cpu: number, key: number): void {
    this.keyOf[cpu] = key;
    let before = NONE;
    let after = this.first(key);
    while (after !== NONE && after < cpu) {
      before = after;
      after = this.next[after];
    }
    this.prev[cpu] = before;
    this.next[cpu] = after;
    if (after !== NONE) this.prev[after] = cpu;
    if (before !== NONE) this.next[before] = cpu;
    else this.setHead(key, cpu);
  }

  private unlink(cpu: number): void {
    const before = this.prev[cpu];
    const after = this.next[cpu];
    if (after !== NONE) this.prev[after] = before;
    if (before !== NONE) this.next[before] = after;
    else this.setHead(this.keyOf[cpu], after);
    this.prev[cpu] = NONE;
    this.next[cpu] = NONE;
    this.keyOf[cpu] = NONE;
  }
}

/** Lists of CPUs per slot, in CSR form (a CPU may sit in several slots: an xAPIC LDR may have several bits set). */
class SlotLists {
  readonly start: Int32Array;
  cpus = new Int32Array(0);
  private readonly fill: Int32Array;

  constructor(private readonly slots: number) {
    this.start = new Int32Array(slots + 1);
    this.fill = new Int32Array(slots);
  }

  /**
   * `bits[cpu]` (8 bits) says which of the slots `base[cpu]` .. `base[cpu] + 7` the CPU belongs to. Two passes:
   * count per slot, then place each CPU; CPUs stay in ascending order within a slot.
   */
  rebuild(n: number, base: Int32Array, bits: Int32Array): void {
    const counts = this.start;
    counts.fill(0);
    let total = 0;
    for (let cpu = 0; cpu < n; cpu++) {
      const b = bits[cpu];
      for (let i = 0; i < 8; i++) if ((b >>> i) & 1) { counts[base[cpu] + i + 1]++; total++; }
    }
    for (let s = 0; s < this.slots; s++) counts[s + 1] += counts[s];
    if (this.cpus.length < total) this.cpus = new Int32Array(total);
    const fill = this.fill;
    fill.fill(0);
    for (let cpu = 0; cpu < n; cpu++) {
      const b = bits[cpu];
      for (let i = 0; i < 8; i++) {
        const slot = base[cpu] + i;
        if ((b >>> i) & 1) this.cpus[counts[slot] + fill[slot]++] = cpu;
      }
    }
  }
}

/** Indexed mode of a CPU. */
const MODE_DISABLED = 0;
const MODE_XAPIC = 1;
const MODE_X2APIC = 2;

function modeCode(lapic: Lapic): number {
  return lapic.mode === 'x2apic' ? MODE_X2APIC : lapic.mode === 'xapic' ? MODE_XAPIC : MODE_DISABLED;
}

/**
 * What an xAPIC-mode CPU answers to in logical mode, as one number: 0 for nothing, else the DFR model (1 flat,
 * 2 cluster) in bits 9:8 and the logical ID (LDR 31:24) in bits 7:0.
 */
function xapicLogicalSignature(lapic: Lapic): number {
  if (lapic.mode !== 'xapic') return 0;
  const logicalId = lapic.ldr >>> 24;
  if (logicalId === 0) return 0;
  const model = lapic.dfr >>> 28;
  if (model === DFR_MODEL_FLAT) return 0x100 | logicalId;
  if (model === DFR_MODEL_CLUSTER && (logicalId & 0xf) !== 0) return 0x200 | logicalId;
  return 0;
}

/** Counts of the index's O(CPUs) rebuilds. */
export interface IndexRebuilds {
  /** Everything, from the LAPICs' registers: on first use and after a restore. */
  full: number;
  /** The lists of hardware-enabled and xAPIC-mode CPUs: before a broadcast or shorthand after a mode change. */
  broadcast: number;
  /** The xAPIC flat / cluster slots: before an 8-bit logical message after an LDR, DFR or mode change. */
  xapicLogical: number;
}

export class DestinationIndex {
  private readonly n: number;
  /** Everything must be rebuilt (at creation and after state was restored behind the index's back). */
  private allStale = true;
  /** A CPU's mode changed since the broadcast lists were built. */
  private broadcastStale = true;
  /** A CPU's xAPIC logical membership changed since the flat / cluster slots were built. */
  private xapicLogicalStale = true;

  /** Mode per CPU as indexed (MODE_*). */
  private readonly modes: Uint8Array;
  /** xapicLogicalSignature per CPU as indexed. */
  private readonly xapicLogical: Int32Array;
  /** Physical key: the xAPIC ID (xAPIC mode) or the x2APIC ID (x2APIC mode); none when hardware-disabled. */
  private readonly phys: KeyChains;
  /** x2APIC logical key: LDR cluster (31:16) × 16 + bit number; x2APIC-mode CPUs only. */
  private readonly x2Logical: KeyChains;

  /** Broadcast lists (rebuilt lazily): hardware-enabled CPUs and xAPIC-mode CPUs, ascending. */
  private readonly enabled: Int32Array;
  private enabledCount = 0;
  private readonly xapicMode: Int32Array;
  private xapicCount = 0;

  /** xAPIC flat model: slot b holds CPUs whose LDR[31:24] has bit b (rebuilt lazily). */
  private readonly flat = new SlotLists(8);
  /** xAPIC cluster model: slot (cluster × 4 + b) holds CPUs with LDR[31:28] = cluster and LDR bit 24+b. */
  private readonly cluster = new SlotLists(64);
  /** Scratch for the slot rebuilds: per-CPU slot base and membership bits. */
  private readonly slotBase: Int32Array;
  private readonly slotBits: Int32Array;

  /** Per-CPU stamp of the last resolve that listed it (dedupes CPUs in several logical slots). */
  private readonly seen: Uint32Array;
  private stamp = 0;

  /** How often each O(CPUs) rebuild ran (diagnostics: tests check that per-CPU changes cause none). */
  readonly rebuilds: IndexRebuilds = { full: 0, broadcast: 0, xapicLogical: 0 };

  constructor(private readonly lapics: readonly Lapic[]) {
    const n = (this.n = lapics.length);
    this.modes = new Uint8Array(n);
    this.xapicLogical = new Int32Array(n);
    this.phys = new KeyChains(n);
    this.x2Logical = new KeyChains(n);
    this.enabled = new Int32Array(n);
    this.xapicMode = new Int32Array(n);
    this.slotBase = new Int32Array(n);
    this.slotBits = new Int32Array(n);
    this.seen = new Uint32Array(n);
  }

  /** Forget everything; the next lookup rebuilds in O(CPUs). For state changed behind the index's back. */
  invalidate(): void {
    this.allStale = true;
  }

  /**
   * The addressing state of one CPU (APIC ID, LDR, DFR or mode) may have changed: bring its entries up to date.
   * O(1) (O(aliases) for a shared key); nothing happens when the CPU answers to the same destinations as before.
   */
  update(cpu: number): void {
    if (this.allStale) return; // the coming full rebuild reads every CPU anyway
    const lapic = this.lapics[cpu];
    const mode = modeCode(lapic);
    if (mode !== this.modes[cpu]) {
      this.modes[cpu] = mode;
      this.broadcastStale = true;
    }
    this.phys.set(cpu, mode === MODE_X2APIC ? lapic.id : mode === MODE_XAPIC ? lapic.id >>> 24 : NONE);
    this.x2Logical.set(cpu, mode === MODE_X2APIC ? x2LogicalKey(lapic) : NONE);
    const signature = xapicLogicalSignature(lapic);
    if (signature !== this.xapicLogical[cpu]) {
      this.xapicLogical[cpu] = signature;
      this.xapicLogicalStale = true;
    }
  }

  /** True when every physical key lives in the dense table (for tests and diagnostics). */
  get physicalIsDense(): boolean {
    if (this.allStale) this.rebuildAll();
    return this.phys.isDense;
  }

  private rebuildAll(): void {
    this.allStale = false;
    this.rebuilds.full++;
    this.phys.clear();
    this.x2Logical.clear();
    this.modes.fill(MODE_DISABLED);
    this.xapicLogical.fill(0);
    // Descending, so that each ordered insert lands at the head of its chain: O(CPUs) in all.
    for (let cpu = this.n - 1; cpu >= 0; cpu--) this.update(cpu);
    this.broadcastStale = true;
    this.xapicLogicalStale = true;
  }

  private rebuildBroadcast(): void {
    this.broadcastStale = false;
    this.rebuilds.broadcast++;
    this.enabledCount = 0;
    this.xapicCount = 0;
    const modes = this.modes;
    for (let cpu = 0; cpu < this.n; cpu++) {
      const mode = modes[cpu];
      if (mode === MODE_DISABLED) continue;
      this.enabled[this.enabledCount++] = cpu;
      if (mode === MODE_XAPIC) this.xapicMode[this.xapicCount++] = cpu;
    }
  }

  private rebuildXapicLogical(): void {
    this.xapicLogicalStale = false;
    this.rebuilds.xapicLogical++;
    const { slotBase, slotBits, xapicLogical, n } = this;
    for (let cpu = 0; cpu < n; cpu++) {
      const s = xapicLogical[cpu];
      slotBase[cpu] = 0;
      slotBits[cpu] = s >>> 8 === 1 ? s & 0xff : 0;
    }
    this.flat.rebuild(n, slotBase, slotBits);
    for (let cpu = 0; cpu < n; cpu++) {
      const s = xapicLogical[cpu];
      slotBase[cpu] = ((s >>> 4) & 0xf) * 4;
      slotBits[cpu] = s >>> 8 === 2 ? s & 0xf : 0;
    }
    this.cluster.rebuild(n, slotBase, slotBits);
  }

  private broadcastLists(): void {
    if (this.broadcastStale) this.rebuildBroadcast();
  }

  /**
   * The one hardware-enabled CPU a non-broadcast physical destination names: its index, -1 when none, -2 when
   * several CPUs alias the ID (then use {@link resolve}). The interrupt hot path's O(1) lookup.
   */
  physicalSingle(dest: number): number {
    if (this.allStale) this.rebuildAll();
    const cpu = this.phys.first(dest);
    if (cpu < 0) return -1;
    return this.phys.next[cpu] < 0 ? cpu : -2;
  }

  /**
   * Write the CPUs `msg` addresses into `out` (each once, ascending within each rule the message matches) and
   * return how many. Only hardware-enabled LAPICs are listed. No allocation; O(matches) for physical destinations.
   */
  resolve(msg: ApicMessage, out: Int32Array): number {
    if (this.allStale) this.rebuildAll();
    const dest = msg.dest >>> 0;
    const logical = msg.destMode === DestMode.Logical;
    if (msg.destWidth === 32) {
      if (dest === 0xffffffff) {
        this.broadcastLists();
        return copy(this.enabled, this.enabledCount, out, 0);
      }
      if (!logical) return this.physical(dest, out, 0, false);
      return this.x2Cluster(dest >>> 16, dest & 0xffff, out, 0);
    }
    const dest8 = dest & 0xff;
    if (!logical) {
      if (dest8 !== 0xff) return this.physical(dest8, out, 0, false);
      // xAPIC broadcast: every xAPIC-mode CPU, plus an x2APIC-mode CPU whose ID is 255.
      this.broadcastLists();
      const count = copy(this.xapicMode, this.xapicCount, out, 0);
      return this.physical(0xff, out, count, true);
    }
    if (dest8 === 0xff) {
      this.broadcastLists();
      const count = copy(this.xapicMode, this.xapicCount, out, 0);
      return this.x2Cluster(0, 0xff, out, count);
    }
    if (this.xapicLogicalStale) this.rebuildXapicLogical();
    const stamp = this.nextStamp();
    let count = this.slotsUnion(this.flat, 0, dest8, stamp, out, 0);
    count = this.slotsUnion(this.cluster, (dest8 >>> 4) * 4, dest8 & 0xf, stamp, out, count);
    // x2APIC-mode CPUs read an 8-bit logical destination as cluster 0, mask = dest.
    return this.x2Cluster(0, dest8, out, count);
  }

  /**
   * The CPUs an ICR shorthand addresses (the destination field is ignored): Self is the sender, the "all" forms
   * every hardware-enabled CPU with or without the sender. `source` is the sending CPU, or -1 for none.
   */
  resolveShorthand(shorthand: number, source: number, out: Int32Array): number {
    if (this.allStale) this.rebuildAll();
    if (shorthand === Shorthand.Self) {
      if (source < 0 || this.modes[source] === MODE_DISABLED) return 0;
      out[0] = source;
      return 1;
    }
    this.broadcastLists();
    const skip = shorthand === Shorthand.AllExcludingSelf ? source : NONE;
    let count = 0;
    for (let i = 0; i < this.enabledCount; i++) {
      const cpu = this.enabled[i];
      if (cpu !== skip) out[count++] = cpu;
    }
    return count;
  }

  private physical(key: number, out: Int32Array, count: number, x2apicOnly: boolean): number {
    for (let cpu = this.phys.first(key); cpu >= 0; cpu = this.phys.next[cpu]) {
      if (x2apicOnly && this.modes[cpu] !== MODE_X2APIC) continue;
      out[count++] = cpu;
    }
    return count;
  }

  private x2Cluster(clusterId: number, mask: number, out: Int32Array, count: number): number {
    const base = clusterId * 16;
    for (let bits = mask & 0xffff; bits !== 0; bits &= bits - 1) {
      const bit = 31 - Math.clz32(bits & -bits);
      for (let cpu = this.x2Logical.first(base + bit); cpu >= 0; cpu = this.x2Logical.next[cpu]) out[count++] = cpu;
    }
    return count;
  }

  private slotsUnion(lists: SlotLists, slotBase: number, mask: number, stamp: number, out: Int32Array, count: number): number {
    for (let bits = mask; bits !== 0; bits &= bits - 1) {
      const slot = slotBase + 31 - Math.clz32(bits & -bits);
      for (let i = lists.start[slot]; i < lists.start[slot + 1]; i++) {
        const cpu = lists.cpus[i];
        if (this.seen[cpu] === stamp) continue;
        this.seen[cpu] = stamp;
        out[count++] = cpu;
      }
    }
    return count;
  }

  private nextStamp(): number {
    if (this.stamp === 0xffffffff) {
      this.seen.fill(0);
      this.stamp = 0;
    }
    return ++this.stamp;
  }
}

/**
 * The x2APIC logical key of an x2APIC-mode CPU: cluster × 16 + bit. Its LDR is derived from the ID and has exactly
 * one bit in 15:0 (SDM 10.12.10.2; lapic-state.ts refuses any other LDR on restore).
 */
function x2LogicalKey(lapic: Lapic): number {
  const ldr = lapic.ldr >>> 0;
  return (ldr >>> 16) * 16 + 31 - Math.clz32(ldr & 0xffff);
}

function copy(list: Int32Array, length: number, out: Int32Array, count: number): number {
  for (let i = 0; i < length; i++) out[count++] = list[i];
  return count;
}
