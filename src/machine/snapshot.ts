/**
 * Machine snapshots: every device's plain `save()` state plus the touched RAM pages. Device states are deep-copied
 * and frozen with immer, so a stored snapshot cannot be changed by accident; RAM is a {@link MemoryImage} that shares
 * its pages copy-on-write with the machine, so a snapshot costs in proportion to the device state, not to the RAM a
 * machine has touched, and pages are encoded (base64) only when the snapshot is serialised with `JSON.stringify`.
 * Restore takes either form — the live snapshot or its parsed JSON — validates the whole snapshot before it applies
 * anything, and rolls back if a device refuses its part, so a bad snapshot never leaves the machine half-restored.
 *
 * The translation core's route cache is not saved: a restore empties it, and the first interrupt of each source after
 * a restore is translated afresh (its trace shows `translate` hops where the run that was snapshotted showed
 * `cached` ones); delivery is the same either way, since a cached route is only ever a copy of what translation gives.
 */
import { freeze } from 'immer';
import { MAX_PHYS_ADDR_BITS, MemoryImage, PAGE_SIZE, type SparseMemory } from '../core/memory.ts';
import { UsageError } from '../core/errors.ts';
import { base64ToBytes } from '../core/byte-text.ts';
import { checkStateFields } from './snapshot-shape.ts';

export const SNAPSHOT_VERSION = 1;

export interface MachineSnapshot {
  version: number;
  /** The resolved configuration: a snapshot restores only into a machine of the same shape. */
  config: string;
  devices: {
    cpus: unknown[];
    ioapic: unknown;
    pci: unknown;
    iommu: unknown | null;
    /** Units after the first on a machine with several (`iommus:`); absent otherwise. */
    moreIommus?: unknown[];
    /** The 8259 pair. */
    pic: unknown;
    hpet: unknown;
    /** The 8254 PIT (absent in snapshots taken before it was modelled). */
    pit?: unknown;
    /** The MC146818 RTC (absent in snapshots taken before it was modelled). */
    rtc?: unknown;
    /** The interrupt wires' source counts and the simulated time. */
    wires: unknown;
    /**
     * Touched RAM pages: a {@link MemoryImage} in a live snapshot; in its JSON form (and accepted by restore) an
     * object of page-frame number (lower-case hex) → base64 page.
     */
    memory: MemoryImage | Record<string, string>;
  };
}

/** One device's plain state: saved as JSON, restored (validated) from it. */
interface SavedDevice {
  save(): unknown;
  restore(state: never): void;
}

/**
 * The parts of a machine a snapshot reads and writes. `Machine` passes itself; naming them here instead of importing
 * the class keeps machine.ts → snapshot.ts one-way.
 */
export interface SnapshotSubject {
  readonly config: unknown;
  readonly cpuCount: number;
  readonly apicBus: { saveStates(): readonly unknown[]; restoreStates(states: readonly unknown[]): void };
  readonly ioapic: SavedDevice;
  readonly pci: SavedDevice;
  readonly iommu: SavedDevice | null;
  readonly iommus: readonly SavedDevice[];
  readonly memory: SparseMemory;
  readonly core: { invalidateAllRoutes(): void };
  readonly pic: SavedDevice;
  readonly hpet: SavedDevice;
  readonly pit: { save(): unknown; restore(state: unknown): void };
  readonly rtc: { save(): unknown; restore(state: unknown): void };
  saveWires(): unknown;
  restoreWires(state: unknown): void;
}

type DeviceStates = Omit<MachineSnapshot['devices'], 'memory'>;

export class MachineSnapshots {
  /**
   * The configuration as a snapshot records it, computed on the first snapshot or restore and kept (the
   * configuration never changes); a machine that is never snapshotted — a matrix cell — never pays for it.
   */
  private configTextMemo: string | null = null;
  private get configText(): string {
    return (this.configTextMemo ??= JSON.stringify(this.m.config));
  }

  constructor(private readonly m: SnapshotSubject) {}

  take(): MachineSnapshot {
    // The other devices' states go through JSON so the snapshot holds plain data that shares nothing with the live
    // devices; the LAPIC states come frozen from the bus already (and are shared with earlier snapshots).
    const { cpus, ...rest } = this.saveDevices();
    const others = freeze(JSON.parse(JSON.stringify(rest)) as Omit<DeviceStates, 'cpus'>, true);
    return Object.freeze({ version: SNAPSHOT_VERSION, config: this.configText, devices: Object.freeze({ cpus, ...others, memory: this.m.memory.image() }) });
  }

  /** Every device's `save()`, as they return it (fresh objects: no copy needed for a rollback); `cpus` on request. */
  private saveDevices(withCpus = true): DeviceStates {
    const m = this.m;
    return {
      cpus: withCpus ? (m.apicBus.saveStates() as unknown[]) : [],
      ioapic: m.ioapic.save(),
      pci: m.pci.save(),
      iommu: m.iommu ? m.iommu.save() : null,
      ...(m.iommus.length > 1 ? { moreIommus: m.iommus.slice(1).map((u) => u.save()) } : {}),
      pic: m.pic.save(),
      hpet: m.hpet.save(),
      pit: m.pit.save(),
      rtc: m.rtc.save(),
      wires: m.saveWires(),
    };
  }

  restore(snapshot: MachineSnapshot): void {
    const m = this.m;
    if (typeof snapshot !== 'object' || snapshot === null) throw new UsageError('snapshot: expected an object from machine.snapshot()');
    if (snapshot.version !== SNAPSHOT_VERSION) throw new UsageError(`snapshot: version ${String(snapshot.version)} is not supported (expected ${SNAPSHOT_VERSION})`);
    if (snapshot.config !== this.configText) throw new UsageError('snapshot: it was taken on a machine with a different configuration');
    const d = snapshot.devices;
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new UsageError('snapshot: devices must be an object');
    if (!Array.isArray(d.cpus) || d.cpus.length !== m.cpuCount) throw new UsageError(`snapshot: devices.cpus must hold ${m.cpuCount} CPU states`);
    if (d.iommu === undefined || (d.iommu === null) !== (m.iommu === null)) throw new UsageError('snapshot: devices.iommu does not match this machine');
    if (m.iommus.length > 1 && (!Array.isArray(d.moreIommus) || d.moreIommus.length !== m.iommus.length - 1)) {
      throw new UsageError(`snapshot: devices.moreIommus must hold ${m.iommus.length - 1} unit states`);
    }
    for (const key of Object.keys(snapshot)) {
      if (key !== 'version' && key !== 'config' && key !== 'devices') throw new UsageError(`snapshot.${key}: no such field in a snapshot`);
    }
    const { cpus: _checkedByTheBus, ...current } = this.saveDevices(false);
    const { cpus: _cpus, memory: rawMemory, ...givenDevices } = d;
    checkStateFields(givenDevices, JSON.parse(JSON.stringify(current)), 'snapshot.devices');
    const memory = memoryImageOf(rawMemory);

    // The LAPICs are restored last and all or nothing (the bus checks every state first), so a rollback needs only
    // the other devices' states.
    const { cpus: _unchanged, ...rollback } = this.saveDevices(false);
    try {
      this.apply(d, memory);
    } catch (e) {
      this.apply(rollback, null);
      // Each device validates its own part; anything else it throws on malformed input is still bad input.
      if (e instanceof UsageError) throw e;
      throw new UsageError(`snapshot: malformed device state (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  /** Apply the states; `cpus` and `memory` absent (a rollback) leave the LAPICs and RAM as they are. */
  private apply(d: Omit<DeviceStates, 'cpus'> & { cpus?: unknown[] }, memory: MemoryImage | null): void {
    const m = this.m;
    // Time first: a running LAPIC timer or HPET comparator re-arms relative to it.
    m.restoreWires(d.wires);
    m.ioapic.restore(d.ioapic as never);
    m.pic.restore(d.pic as never);
    m.hpet.restore(d.hpet as never);
    m.pit.restore(d.pit);
    m.rtc.restore(d.rtc);
    m.pci.restore(d.pci as never);
    if (m.iommu) m.iommu.restore(d.iommu as never);
    m.iommus.slice(1).forEach((u, i) => u.restore(d.moreIommus![i] as never));
    if (d.cpus) m.apicBus.restoreStates(d.cpus);
    if (memory) m.memory.loadImage(memory);
    // Cached routes describe the old state.
    m.core.invalidateAllRoutes();
  }
}

/** Page frames of the 52-bit physical address space: 2^(52 − 12). */
const PAGE_FRAMES = 2 ** (MAX_PHYS_ADDR_BITS - 12);

/**
 * `devices.memory` as an image: a live snapshot's own image as it is, a JSON one decoded and checked. It is required:
 * a snapshot lists every touched page, so a missing map would mean "RAM is all zero" and silently wipe the machine's
 * memory.
 */
export function memoryImageOf(memory: unknown): MemoryImage {
  if (memory instanceof MemoryImage) return memory;
  if (typeof memory !== 'object' || memory === null || Array.isArray(memory)) {
    throw new UsageError('snapshot: devices.memory must be an object of page frame (hex) → base64 page (an empty object when no RAM was touched)');
  }
  const pages = new Map<number, Uint8Array>();
  for (const [pfn, b64] of Object.entries(memory)) {
    if (!/^[0-9a-f]{1,11}$/.test(pfn)) throw new UsageError(`snapshot: devices.memory page "${pfn}" is not a page frame number in lower-case hex`);
    const frame = parseInt(pfn, 16);
    if (frame >= PAGE_FRAMES) {
      throw new UsageError(`snapshot: devices.memory page "${pfn}" (address 0x${(frame * PAGE_SIZE).toString(16)}) is outside the ${MAX_PHYS_ADDR_BITS}-bit physical address space`);
    }
    const bytes = typeof b64 === 'string' ? base64ToBytes(b64) : null;
    if (bytes === null) throw new UsageError(`snapshot: devices.memory page "${pfn}" must be a base64 string`);
    if (bytes.length !== PAGE_SIZE) throw new UsageError(`snapshot: devices.memory page "${pfn}" holds ${bytes.length} bytes, not ${PAGE_SIZE}`);
    pages.set(frame, bytes);
  }
  return new MemoryImage(pages);
}
