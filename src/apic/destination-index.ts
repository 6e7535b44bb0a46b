/**
 * The bus's destination index, after KVM's kvm_apic_map (reference/peers-and-style.md "optimized APIC map"):
 * physical IDs map to CPUs in O(1) (a dense Int32Array up to the largest ID in use, or a Map when the IDs are
 * sparse), and logical flat / cluster / x2APIC-cluster lookups go through per-bit lists. It is rebuilt lazily (on
 * the first delivery after an ID, LDR, DFR, software-enable or mode change); a rebuild is O(CPUs + largest dense
 * key), never done per interrupt. Unlike KVM, aliased IDs (two CPUs with the same xAPIC ID) stay on the fast path:
 * every key holds a chain of CPUs.
 *
 * It implements exactly the rules of destination-match.ts; property tests compare the two.
 */
import { DestMode, type ApicMessage } from '../msi/interrupt.ts';
import type { Lapic } from './lapic.ts';
import { DFR_MODEL_CLUSTER, DFR_MODEL_FLAT } from './registers.ts';

/** Keys below this bound (or below 4 × CPUs) use a dense table; larger, sparse keys use a Map. */
const DENSE_MIN_LIMIT = 4096;

/** key → chain of CPUs (ascending CPU index); each CPU is on at most one chain. */
class KeyChains {
  readonly next: Int32Array;
  private dense = new Int32Array(0);
  private denseLength = 0;
  private sparse: Map<number, number> | null = null;

  constructor(cpuCount: number) {
    this.next = new Int32Array(cpuCount);
  }

  /** keys[cpu] is the CPU's key when present[cpu] is 1. */
  rebuild(keys: Float64Array, present: Uint8Array): void {
    const n = keys.length;
    let maxKey = -1;
    for (let cpu = 0; cpu < n; cpu++) if (present[cpu] && keys[cpu] > maxKey) maxKey = keys[cpu];
    if (maxKey < Math.max(DENSE_MIN_LIMIT, 4 * n)) {
      this.sparse = null;
      this.denseLength = maxKey + 1;
      if (this.dense.length < this.denseLength) this.dense = new Int32Array(Math.max(this.denseLength, 256));
      this.dense.fill(-1, 0, this.denseLength);
      for (let cpu = n - 1; cpu >= 0; cpu--) {
        if (!present[cpu]) continue;
        const key = keys[cpu];
        this.next[cpu] = this.dense[key];
        this.dense[key] = cpu;
      }
    } else {
      this.denseLength = 0;
      const map = (this.sparse ??= new Map());
      map.clear();
      for (let cpu = n - 1; cpu >= 0; cpu--) {
        if (!present[cpu]) continue;
        const key = keys[cpu];
        this.next[cpu] = map.get(key) ?? -1;
        map.set(key, cpu);
      }
    }
  }

  first(key: number): number {
    if (this.sparse === null) return key < this.denseLength ? this.dense[key] : -1;
    return this.sparse.get(key) ?? -1;
  }

  get isDense(): boolean {
    return this.sparse === null;
  }
}

/** Lists of CPUs per slot, in CSR form (a CPU may sit in several slots: an xAPIC LDR may have several bits set). */
class SlotLists {
  readonly start: Int32Array;
  cpus = new Int32Array(0);

  constructor(private readonly slots: number) {
    this.start = new Int32Array(slots + 1);
  }

  /** membership(cpu) returns a bitmask of the slots (< 32 per call, offset by `slotBase(cpu)`). */
  rebuild(n: number, slotBase: (cpu: number) => number, membership: (cpu: number) => number): void {
    const counts = this.start;
    counts.fill(0);
    let total = 0;
    for (let cpu = 0; cpu < n; cpu++) {
      const bits = membership(cpu);
      if (bits === 0) continue;
      const base = slotBase(cpu);
      for (let b = 0; b < 8; b++) if ((bits >>> b) & 1) { counts[base + b + 1]++; total++; }
    }
    for (let s = 0; s < this.slots; s++) counts[s + 1] += counts[s];
    if (this.cpus.length < total) this.cpus = new Int32Array(total);
    const fill = new Int32Array(this.slots);
    for (let cpu = 0; cpu < n; cpu++) {
      const bits = membership(cpu);
      if (bits === 0) continue;
      const base = slotBase(cpu);
      for (let b = 0; b < 8; b++) {
        if ((bits >>> b) & 1) this.cpus[counts[base + b] + fill[base + b]++] = cpu;
      }
    }
  }
}

export class DestinationIndex {
  private dirty = true;
  private readonly n: number;
  /** Physical key per CPU: the xAPIC ID (xAPIC mode) or the x2APIC ID (x2APIC mode). */
  private readonly physKeys: Float64Array;
  /** x2APIC logical key per CPU: LDR cluster (31:16) × 16 + bit number. */
  private readonly x2LogicalKeys: Float64Array;
  private readonly inPhys: Uint8Array;
  private readonly inX2Logical: Uint8Array;
  private readonly phys: KeyChains;
  private readonly x2Logical: KeyChains;
  /** xAPIC flat model: slot b holds CPUs whose LDR[31:24] has bit b. */
  private readonly flat = new SlotLists(8);
  /** xAPIC cluster model: slot (cluster × 4 + b) holds CPUs with LDR[31:28] = cluster and LDR bit 24+b. */
  private readonly cluster = new SlotLists(64);
  private readonly enabled: Int32Array;
  private enabledCount = 0;
  private readonly xapicMode: Int32Array;
  private xapicCount = 0;
  /** Per-CPU stamp of the last resolve that listed it (dedupes CPUs in several logical slots). */
  private readonly seen: Uint32Array;
  private stamp = 0;

  constructor(private readonly lapics: readonly Lapic[]) {
    const n = (this.n = lapics.length);
    this.physKeys = new Float64Array(n);
    this.x2LogicalKeys = new Float64Array(n);
    this.inPhys = new Uint8Array(n);
    this.inX2Logical = new Uint8Array(n);
    this.phys = new KeyChains(n);
    this.x2Logical = new KeyChains(n);
    this.enabled = new Int32Array(n);
    this.xapicMode = new Int32Array(n);
    this.seen = new Uint32Array(n);
  }

  /** Called whenever an ID, LDR, DFR, software enable or mode changes; the rebuild happens on next use. */
  invalidate(): void {
    this.dirty = true;
  }

  /** True when physical lookups use the dense table (for tests and diagnostics). */
  get physicalIsDense(): boolean {
    if (this.dirty) this.rebuild();
    return this.phys.isDense;
  }

  private rebuild(): void {
    this.dirty = false;
    const lapics = this.lapics;
    this.enabledCount = 0;
    this.xapicCount = 0;
    for (let cpu = 0; cpu < this.n; cpu++) {
      const lapic = lapics[cpu];
      this.inPhys[cpu] = 0;
      this.inX2Logical[cpu] = 0;
      if (lapic.mode === 'disabled') continue;
      this.enabled[this.enabledCount++] = cpu;
      this.inPhys[cpu] = 1;
      if (lapic.mode === 'x2apic') {
        this.physKeys[cpu] = lapic.id;
        this.inX2Logical[cpu] = 1;
        this.x2LogicalKeys[cpu] = (lapic.ldr >>> 16) * 16 + (lapic.id & 0xf);
      } else {
        this.physKeys[cpu] = lapic.id >>> 24;
        this.xapicMode[this.xapicCount++] = cpu;
      }
    }
    this.phys.rebuild(this.physKeys, this.inPhys);
    this.x2Logical.rebuild(this.x2LogicalKeys, this.inX2Logical);
    const xapicLogical = (cpu: number, model: number): number => {
      const lapic = lapics[cpu];
      return lapic.mode === 'xapic' && lapic.dfr >>> 28 === model ? lapic.ldr >>> 24 : 0;
    };
    this.flat.rebuild(this.n, () => 0, (cpu) => xapicLogical(cpu, DFR_MODEL_FLAT));
    this.cluster.rebuild(
      this.n,
      (cpu) => (lapics[cpu].ldr >>> 28) * 4,
      (cpu) => xapicLogical(cpu, DFR_MODEL_CLUSTER) & 0xf,
    );
  }

  /**
   * The one hardware-enabled CPU a non-broadcast physical destination names: its index, -1 when none, -2 when
   * several CPUs alias the ID (then use {@link resolve}). The interrupt hot path's O(1) lookup.
   */
  physicalSingle(dest: number): number {
    if (this.dirty) this.rebuild();
    const cpu = this.phys.first(dest);
    if (cpu < 0) return -1;
    return this.phys.next[cpu] < 0 ? cpu : -2;
  }

  /**
   * Write the CPUs `msg` addresses into `out` (each once, in no particular order) and return how many. Only
   * hardware-enabled LAPICs are listed. No allocation; O(matches) for physical destinations.
   */
  resolve(msg: ApicMessage, out: Int32Array): number {
    if (this.dirty) this.rebuild();
    const dest = msg.dest >>> 0;
    const logical = msg.destMode === DestMode.Logical;
    if (msg.destWidth === 32) {
      if (dest === 0xffffffff) return this.copy(this.enabled, this.enabledCount, out, 0);
      if (!logical) return this.physical(dest, out, 0, false);
      return this.x2Cluster(dest >>> 16, dest & 0xffff, out, 0);
    }
    const dest8 = dest & 0xff;
    if (!logical) {
      if (dest8 !== 0xff) return this.physical(dest8, out, 0, false);
      // xAPIC broadcast: every xAPIC-mode CPU, plus an x2APIC-mode CPU whose ID is 255.
      const count = this.copy(this.xapicMode, this.xapicCount, out, 0);
      return this.physical(0xff, out, count, true);
    }
    if (dest8 === 0xff) {
      const count = this.copy(this.xapicMode, this.xapicCount, out, 0);
      return this.x2Cluster(0, 0xff, out, count);
    }
    const stamp = this.nextStamp();
    let count = this.slotsUnion(this.flat, 0, dest8, stamp, out, 0);
    count = this.slotsUnion(this.cluster, (dest8 >>> 4) * 4, dest8 & 0xf, stamp, out, count);
    // x2APIC-mode CPUs read an 8-bit logical destination as cluster 0, mask = dest.
    return this.x2Cluster(0, dest8, out, count);
  }

  private copy(list: Int32Array, length: number, out: Int32Array, count: number): number {
    for (let i = 0; i < length; i++) out[count++] = list[i];
    return count;
  }

  private physical(key: number, out: Int32Array, count: number, x2apicOnly: boolean): number {
    for (let cpu = this.phys.first(key); cpu >= 0; cpu = this.phys.next[cpu]) {
      if (x2apicOnly && this.lapics[cpu].mode !== 'x2apic') continue;
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
