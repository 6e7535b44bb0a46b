/**
 * Machine snapshots: every device's plain `save()` state plus touched RAM pages, frozen with immer so a stored
 * snapshot cannot be changed by accident. Restore validates the whole snapshot before it applies anything and rolls
 * back if a device refuses its part, so a bad snapshot never leaves the machine half-restored.
 */
import { freeze } from 'immer';
import type { SparseMemory } from '../core/memory.ts';
import { MAX_PHYS_ADDR_BITS, PAGE_SIZE } from '../core/memory.ts';
import { UsageError } from '../core/errors.ts';
import { base64ToBytes, bytesToBase64 } from '../core/byte-text.ts';

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
    /** The interrupt wires' source counts and the simulated time. */
    wires: unknown;
    /** Touched RAM pages by page-frame number (hex), base64-encoded. */
    memory: Record<string, string>;
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
  readonly apicBus: { readonly lapics: readonly SavedDevice[]; rebuildMaps?(): void };
  readonly ioapic: SavedDevice;
  readonly pci: SavedDevice;
  readonly iommu: SavedDevice | null;
  readonly iommus: readonly SavedDevice[];
  readonly memory: SparseMemory;
  readonly core: { invalidateAllRoutes(): void };
  readonly pic: SavedDevice;
  readonly hpet: SavedDevice;
  saveWires(): unknown;
  restoreWires(state: unknown): void;
}

export class MachineSnapshots {
  constructor(private readonly m: SnapshotSubject) {}

  take(): MachineSnapshot {
    const m = this.m;
    const memory: Record<string, string> = {};
    for (const page of m.memory.touchedPages()) memory[page.toString(16)] = bytesToBase64(m.memory.pageBytes(page)!);
    const snapshot: MachineSnapshot = {
      version: SNAPSHOT_VERSION,
      config: JSON.stringify(m.config),
      devices: {
        cpus: m.apicBus.lapics.map((l) => l.save()),
        ioapic: m.ioapic.save(),
        pci: m.pci.save(),
        iommu: m.iommu ? m.iommu.save() : null,
        ...(m.iommus.length > 1 ? { moreIommus: m.iommus.slice(1).map((u) => u.save()) } : {}),
        pic: m.pic.save(),
        hpet: m.hpet.save(),
        wires: m.saveWires(),
        memory,
      },
    };
    return freeze(JSON.parse(JSON.stringify(snapshot)) as MachineSnapshot, true);
  }

  restore(snapshot: MachineSnapshot): void {
    const m = this.m;
    if (typeof snapshot !== 'object' || snapshot === null) throw new UsageError('snapshot: expected an object from machine.snapshot()');
    if (snapshot.version !== SNAPSHOT_VERSION) throw new UsageError(`snapshot: version ${String(snapshot.version)} is not supported (expected ${SNAPSHOT_VERSION})`);
    if (snapshot.config !== JSON.stringify(m.config)) throw new UsageError('snapshot: it was taken on a machine with a different configuration');
    const d = snapshot.devices;
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new UsageError('snapshot: devices must be an object');
    if (!Array.isArray(d.cpus) || d.cpus.length !== m.cpuCount) throw new UsageError(`snapshot: devices.cpus must hold ${m.cpuCount} CPU states`);
    if (d.iommu === undefined || (d.iommu === null) !== (m.iommu === null)) throw new UsageError('snapshot: devices.iommu does not match this machine');
    if (m.iommus.length > 1 && (!Array.isArray(d.moreIommus) || d.moreIommus.length !== m.iommus.length - 1)) {
      throw new UsageError(`snapshot: devices.moreIommus must hold ${m.iommus.length - 1} unit states`);
    }
    const pages = validatePages(d.memory);

    const rollback = this.take();
    try {
      this.apply(d, pages);
    } catch (e) {
      this.apply(rollback.devices, validatePages(rollback.devices.memory));
      // Each device validates its own part; anything else it throws on malformed input is still bad input.
      if (e instanceof UsageError) throw e;
      throw new UsageError(`snapshot: malformed device state (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  private apply(d: MachineSnapshot['devices'], pages: Map<number, Uint8Array>): void {
    const m = this.m;
    // Time first: a running LAPIC timer or HPET comparator re-arms relative to it.
    m.restoreWires(d.wires);
    m.apicBus.lapics.forEach((l, i) => l.restore(d.cpus[i] as never));
    m.apicBus.rebuildMaps?.();
    m.ioapic.restore(d.ioapic as never);
    m.pic.restore(d.pic as never);
    m.hpet.restore(d.hpet as never);
    m.pci.restore(d.pci as never);
    if (m.iommu) m.iommu.restore(d.iommu as never);
    m.iommus.slice(1).forEach((u, i) => u.restore(d.moreIommus![i] as never));
    m.memory.clear();
    for (const [pfn, bytes] of pages) m.memory.loadPage(pfn, bytes);
    // Cached routes describe the old state.
    m.core.invalidateAllRoutes();
  }
}

/** Page frames of the 52-bit physical address space: 2^(52 − 12). */
const PAGE_FRAMES = 2 ** (MAX_PHYS_ADDR_BITS - 12);

/**
 * `devices.memory` as page frame → bytes. It is required: a snapshot lists every touched page, so a missing map
 * would mean "RAM is all zero" and silently wipe the machine's memory.
 */
function validatePages(memory: unknown): Map<number, Uint8Array> {
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
  return pages;
}
