/**
 * The IOMMU's device-table and interrupt-remapping-table caches. Software changes a DTE or IRTE in memory and must
 * then issue INVALIDATE_DEVTAB_ENTRY / INVALIDATE_INTERRUPT_TABLE (+ COMPLETION_WAIT) before the change takes effect
 * (Linux iommu_flush_irt_and_complete, Xen amd_iommu_flush_intremap) — unless Control.IRTCacheDis turns IRTE caching
 * off (AMD IOMMU spec §2.2.5, §3.4 Control). QEMU and VirtualBox never cache, so they hide missing invalidations; this model does not.
 *
 * Both caches are filled on a miss and then read without allocation: the DTE cache is one typed array indexed by
 * DeviceID, the IRTE cache one typed-array block per DeviceID (allocated on that device's first interrupt). IRTE
 * blocks are tagged with the table root and entry size they were filled from, so a DTE that points the device at a
 * different table (after its own invalidation) never serves entries of the old table.
 */
import type { SparseMemory } from '../core/memory.ts';
import { DTE_BYTES as ENTRY_BYTES, DTE_DWORDS as ENTRY_DWORDS } from './device-table-entry.ts';

// Local copies: the hot path must not pay for imported-binding getters some loaders generate (tsx does).
const DTE_BYTES = ENTRY_BYTES;
const DTE_DWORDS = ENTRY_DWORDS;

const DEVICE_IDS = 0x10000;
/** Largest table: IntTabLen = 11 → 2048 entries. */
const MAX_IRTES = 2048;

/** DTEs are kept in blocks of one bus (256 DeviceIDs, 8 KiB), each made when a DTE on that bus is first cached. */
const BUS_SHIFT = 8;
const BUS_MASK = (1 << BUS_SHIFT) - 1;
const NO_WORDS = new Uint32Array(0);

export class DteCache {
  private readonly valid = new Uint8Array(DEVICE_IDS);
  /** Per bus: its DTEs (NO_WORDS until one of them is cached), so a machine with a few devices keeps a few KiB, not 2 MiB. */
  private readonly buses: Uint32Array[] = new Array<Uint32Array>(DEVICE_IDS >>> BUS_SHIFT).fill(NO_WORDS);

  private busFor(deviceId: number): Uint32Array {
    let words = this.buses[deviceId >>> BUS_SHIFT];
    if (words === NO_WORDS) this.buses[deviceId >>> BUS_SHIFT] = words = new Uint32Array((BUS_MASK + 1) * DTE_DWORDS);
    return words;
  }

  /**
   * Copy the DTE of `deviceId` into `out` (8 dwords), reading it from `tableBase` on a miss and keeping it when
   * `fill` is set. Throws the memory's error when the entry lies outside the physical address space (the caller
   * turns that into DEV_TAB_HARDWARE_ERROR).
   */
  read(memory: SparseMemory, tableBase: number, deviceId: number, fill: boolean, out: Uint32Array): void {
    const at = (deviceId & BUS_MASK) * DTE_DWORDS;
    if (this.valid[deviceId] === 0) {
      const addr = tableBase + deviceId * DTE_BYTES;
      for (let i = 0; i < DTE_DWORDS; i++) out[i] = memory.read32(addr + 4 * i);
      if (fill) {
        const words = this.busFor(deviceId);
        for (let i = 0; i < DTE_DWORDS; i++) words[at + i] = out[i];
        this.valid[deviceId] = 1;
      }
      return;
    }
    const words = this.buses[deviceId >>> BUS_SHIFT];
    for (let i = 0; i < DTE_DWORDS; i++) out[i] = words[at + i];
  }

  isCached(deviceId: number): boolean {
    return this.valid[deviceId] === 1;
  }

  invalidate(deviceId: number): void {
    this.valid[deviceId & 0xffff] = 0;
  }

  invalidateAll(): void {
    this.valid.fill(0);
  }

  /** Cached entries as [deviceId, 8 dwords] (for save()). */
  entries(): [number, number[]][] {
    const list: [number, number[]][] = [];
    for (let id = 0; id < DEVICE_IDS; id++) {
      const at = (id & BUS_MASK) * DTE_DWORDS;
      if (this.valid[id] === 1) list.push([id, Array.from(this.buses[id >>> BUS_SHIFT].subarray(at, at + DTE_DWORDS))]);
    }
    return list;
  }

  load(deviceId: number, words: readonly number[]): void {
    this.busFor(deviceId).set(words, (deviceId & BUS_MASK) * DTE_DWORDS);
    this.valid[deviceId] = 1;
  }
}

/** Cached IRTEs of one DeviceID, tagged with the table they came from. */
class DeviceIrtBlock {
  root = -1;
  entryBytes = 0;
  readonly valid = new Uint8Array(MAX_IRTES);
  readonly words = new Uint32Array(MAX_IRTES * 4);
}

export class IrteCache {
  private readonly blocks = new Map<number, DeviceIrtBlock>();

  /**
   * Copy IRTE `index` of `deviceId`'s table at `root` into `out` (4 dwords; a 32-bit entry fills out[0] and zeros
   * the rest). With `cached` false (Control.IRTCacheDis) the entry always comes from memory and nothing is kept;
   * with `fill` false (an inspection, not a hardware request) a cached copy is used but a miss is not kept.
   */
  read(memory: SparseMemory, deviceId: number, root: number, index: number, entryBytes: 4 | 16, cached: boolean, fill: boolean, out: Uint32Array): void {
    if (!cached) {
      readIrte(memory, root, index, entryBytes, out);
      return;
    }
    const block = fill ? this.blockFor(deviceId, root, entryBytes) : this.blocks.get(deviceId);
    const at = index * 4;
    if (block === undefined || block.root !== root || block.entryBytes !== entryBytes || block.valid[index] === 0) {
      readIrte(memory, root, index, entryBytes, out);
      if (!fill || block === undefined) return;
      block.words[at] = out[0];
      block.words[at + 1] = out[1];
      block.words[at + 2] = out[2];
      block.words[at + 3] = out[3];
      block.valid[index] = 1;
      return;
    }
    out[0] = block.words[at];
    out[1] = block.words[at + 1];
    out[2] = block.words[at + 2];
    out[3] = block.words[at + 3];
  }

  isCached(deviceId: number, index: number): boolean {
    const block = this.blocks.get(deviceId);
    return block !== undefined && block.valid[index] === 1;
  }

  /** INVALIDATE_INTERRUPT_TABLE has no index field: the whole table of the DeviceID goes. */
  invalidateDevice(deviceId: number): void {
    this.blocks.get(deviceId & 0xffff)?.valid.fill(0);
  }

  invalidateAll(): void {
    for (const block of this.blocks.values()) block.valid.fill(0);
  }

  /** Cached entries per device, in DeviceID order so that a snapshot does not depend on first use (save()). */
  entries(): { deviceId: number; root: number; entryBytes: number; irtes: [number, number[]][] }[] {
    const list = [];
    for (const [deviceId, block] of [...this.blocks].sort((a, b) => a[0] - b[0])) {
      const irtes: [number, number[]][] = [];
      for (let i = 0; i < MAX_IRTES; i++) {
        if (block.valid[i] === 1) irtes.push([i, Array.from(block.words.subarray(i * 4, i * 4 + 4))]);
      }
      if (irtes.length > 0) list.push({ deviceId, root: block.root, entryBytes: block.entryBytes, irtes });
    }
    return list;
  }

  load(deviceId: number, root: number, entryBytes: 4 | 16, index: number, words: readonly number[]): void {
    const block = this.blockFor(deviceId, root, entryBytes);
    block.words.set(words, index * 4);
    block.valid[index] = 1;
  }

  /**
   * The cache block of `deviceId`'s table, created on first use. A block caches one table: when the DTE now points
   * at another root, or the IRTE size changed (GAEn), the entries it holds describe nothing and are dropped.
   */
  private blockFor(deviceId: number, root: number, entryBytes: 4 | 16): DeviceIrtBlock {
    let block = this.blocks.get(deviceId);
    if (block === undefined) {
      block = new DeviceIrtBlock();
      this.blocks.set(deviceId, block);
    }
    if (block.root !== root || block.entryBytes !== entryBytes) {
      block.valid.fill(0);
      block.root = root;
      block.entryBytes = entryBytes;
    }
    return block;
  }
}

function readIrte(memory: SparseMemory, root: number, index: number, entryBytes: 4 | 16, out: Uint32Array): void {
  const addr = root + index * entryBytes;
  out[0] = memory.read32(addr);
  if (entryBytes === 16) {
    out[1] = memory.read32(addr + 4);
    out[2] = memory.read32(addr + 8);
    out[3] = memory.read32(addr + 12);
  } else {
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
  }
}

/** The largest index an IRTE cache block holds (exported for tests and restore validation). */
export const IRTE_CACHE_ENTRIES = MAX_IRTES;
