/**
 * Sparse guest RAM covering the whole physical address space (52-bit). Pages are created on first write, so a stray
 * MSI that misses the APIC visibly scribbles memory at whatever 64-bit address it carried, while untouched memory
 * reads as zero and costs nothing. Addresses are numbers (exact up to 2^53) or bigints, like the CPU accessors take;
 * values are little-endian. A bad address or value is a {@link UsageError} (the public `machine.memory` is this
 * class); the IOMMU models call it with addresses they have range-checked or whose failure they turn into a fault.
 */
import { bytesToBase64 } from './byte-text.ts';
import { showValue, UsageError } from './errors.ts';

export const PAGE_SIZE = 4096;
export const MAX_PHYS_ADDR_BITS = 52;
const MAX_ADDR = 2 ** MAX_PHYS_ADDR_BITS;

/** A physical address as the API takes it. */
export type PhysicalAddress = number | bigint;

/**
 * The touched pages of a memory at one moment, shared copy-on-write with the memory it came from: taking one costs a
 * map copy, not a page copy, and nothing is encoded until it is serialised (`JSON.stringify` calls {@link toJSON}:
 * page frame in lower-case hex → base64 page, the form a restore also accepts).
 */
export class MemoryImage {
  /** Page frame → the page's bytes. Never written: the memory copies a shared page before its next write. */
  readonly pages: ReadonlyMap<number, Uint8Array>;

  constructor(pages: ReadonlyMap<number, Uint8Array>) {
    this.pages = pages;
    Object.freeze(this);
  }

  get pageCount(): number {
    return this.pages.size;
  }

  toJSON(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const pfn of [...this.pages.keys()].sort((a, b) => a - b)) out[pfn.toString(16)] = bytesToBase64(this.pages.get(pfn)!);
    return out;
  }
}

export class SparseMemory {
  private pages = new Map<number, Uint8Array>();
  private readonly views = new Map<number, DataView>();
  /**
   * Copy-on-write bookkeeping without a walk per image: every image taken bumps `generation`, and a page may be
   * written in place only while `owned` records the current generation for it (it was created or copied since the
   * last image). Any other page may be held by an image, so its next write copies it first.
   */
  private generation = 0;
  private readonly owned = new Map<number, number>();

  /** The address as a number, after checking that [addr, addr + size) lies in the 52-bit physical space. */
  private check(addr: PhysicalAddress, size: number): number {
    if (typeof addr === 'number') {
      if (Number.isInteger(addr) && addr >= 0 && addr + size <= MAX_ADDR) return addr;
      const shown = Number.isInteger(addr) && addr >= 0 ? `0x${addr.toString(16)}` : showValue(addr);
      throw new UsageError(`physical address ${shown} (${size} bytes) is outside the ${MAX_PHYS_ADDR_BITS}-bit physical address space`);
    }
    if (typeof addr === 'bigint') {
      if (addr >= 0n && addr + BigInt(size) <= BigInt(MAX_ADDR)) return Number(addr);
      const shown = addr < 0n ? `-0x${(-addr).toString(16)}` : `0x${addr.toString(16)}`;
      throw new UsageError(`physical address ${shown} (${size} bytes) is outside the ${MAX_PHYS_ADDR_BITS}-bit physical address space`);
    }
    throw new UsageError(`physical address ${showValue(addr)} must be a number or a bigint`);
  }

  private view(page: number, create: boolean): DataView | undefined {
    let v = this.views.get(page);
    if (v === undefined) {
      const bytes = this.pages.get(page);
      if (bytes !== undefined) {
        // A page loaded from an image gets its view on first use.
        v = new DataView(bytes.buffer, bytes.byteOffset, PAGE_SIZE);
        this.views.set(page, v);
      } else {
        if (!create) return undefined;
        const fresh = new Uint8Array(PAGE_SIZE);
        this.pages.set(page, fresh);
        this.owned.set(page, this.generation);
        v = new DataView(fresh.buffer);
        this.views.set(page, v);
        return v;
      }
    }
    if (create && this.owned.get(page) !== this.generation) v = this.unshare(page);
    return v;
  }

  read8(address: PhysicalAddress): number {
    const addr = this.check(address, 1);
    const v = this.view(Math.floor(addr / PAGE_SIZE), false);
    return v === undefined ? 0 : v.getUint8(addr % PAGE_SIZE);
  }

  write8(address: PhysicalAddress, value: number): void {
    const addr = this.check(address, 1);
    checkValue(value, 8);
    this.view(Math.floor(addr / PAGE_SIZE), true)!.setUint8(addr % PAGE_SIZE, value & 0xff);
  }

  read32(address: PhysicalAddress): number {
    const addr = this.check(address, 4);
    const off = addr % PAGE_SIZE;
    if (off > PAGE_SIZE - 4) return Number(this.readSplit(addr, 4));
    const v = this.view(Math.floor(addr / PAGE_SIZE), false);
    return v === undefined ? 0 : v.getUint32(off, true);
  }

  write32(address: PhysicalAddress, value: number): void {
    const addr = this.check(address, 4);
    checkValue(value, 32);
    const off = addr % PAGE_SIZE;
    if (off > PAGE_SIZE - 4) return this.writeSplit(addr, 4, BigInt(value >>> 0));
    this.view(Math.floor(addr / PAGE_SIZE), true)!.setUint32(off, value >>> 0, true);
  }

  read64(address: PhysicalAddress): bigint {
    const addr = this.check(address, 8);
    const off = addr % PAGE_SIZE;
    if (off > PAGE_SIZE - 8) return this.readSplit(addr, 8);
    const v = this.view(Math.floor(addr / PAGE_SIZE), false);
    return v === undefined ? 0n : v.getBigUint64(off, true);
  }

  /** Stores a 64-bit value, given as a bigint or as a non-negative safe integer (as Cpu.write64 takes it). */
  write64(address: PhysicalAddress, value: bigint | number): void {
    const addr = this.check(address, 8);
    const v64 = qwordValue(value);
    const off = addr % PAGE_SIZE;
    if (off > PAGE_SIZE - 8) return this.writeSplit(addr, 8, v64);
    this.view(Math.floor(addr / PAGE_SIZE), true)!.setBigUint64(off, v64, true);
  }

  /** Read a little-endian 128-bit value as [low qword, high qword]. */
  read128(address: PhysicalAddress): [bigint, bigint] {
    const addr = this.check(address, 16);
    return [this.read64(addr), this.read64(addr + 8)];
  }

  write128(address: PhysicalAddress, lo: bigint | number, hi: bigint | number): void {
    const addr = this.check(address, 16);
    const l = qwordValue(lo);
    const h = qwordValue(hi);
    this.write64(addr, l);
    this.write64(addr + 8, h);
  }

  /** An access that straddles a page boundary, byte by byte. */
  private readSplit(addr: number, size: number): bigint {
    let value = 0n;
    for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.read8(addr + i));
    return value;
  }

  private writeSplit(addr: number, size: number, value: bigint): void {
    for (let i = 0; i < size; i++) this.write8(addr + i, Number((value >> BigInt(8 * i)) & 0xffn));
  }

  /** Copy a page an image shares before it is written, so the image keeps the bytes it was taken with. */
  private unshare(page: number): DataView {
    this.owned.set(page, this.generation);
    const copy = new Uint8Array(this.pages.get(page)!);
    this.pages.set(page, copy);
    const v = new DataView(copy.buffer);
    this.views.set(page, v);
    return v;
  }

  /** The touched pages as they are now, shared copy-on-write (O(pages) references, no bytes copied). */
  image(): MemoryImage {
    this.generation++;
    return new MemoryImage(new Map(this.pages));
  }

  /** Make the memory hold exactly the image's pages, sharing them copy-on-write (nothing copied until written). */
  loadImage(image: MemoryImage): void {
    this.pages = new Map(image.pages);
    this.views.clear();
    this.owned.clear();
  }

  /** Page-frame numbers that have been written (for reports and snapshots). */
  touchedPages(): number[] {
    return [...this.pages.keys()].sort((a, b) => a - b);
  }

  /** True when any byte of the page holding `addr` was ever written. */
  isTouched(address: PhysicalAddress): boolean {
    return this.pages.has(Math.floor(this.check(address, 1) / PAGE_SIZE));
  }

  pageBytes(page: number): Uint8Array | undefined {
    return this.pages.get(page);
  }

  clear(): void {
    this.pages.clear();
    this.views.clear();
    this.owned.clear();
  }

  loadPage(page: number, bytes: Uint8Array): void {
    if (bytes.length !== PAGE_SIZE) throw new UsageError(`page ${page} must be ${PAGE_SIZE} bytes, got ${bytes.length}`);
    const copy = new Uint8Array(bytes);
    this.owned.set(page, this.generation);
    this.pages.set(page, copy);
    this.views.set(page, new DataView(copy.buffer));
  }
}

/**
 * A value for an 8- or 32-bit store: an integer that fits the width, unsigned or as the signed view of the same
 * bits (bit operations in JavaScript give signed 32-bit results, so -1 stores 0xFFFFFFFF as it does in C).
 */
function checkValue(value: number, bits: 8 | 32): void {
  const limit = 2 ** bits;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -(limit / 2) || value >= limit) {
    throw new UsageError(`value ${showValue(value)} does not fit in ${bits} bits`);
  }
}

function qwordValue(value: bigint | number): bigint {
  if (typeof value === 'bigint') {
    if (value >= 0n && value < 1n << 64n) return value;
  } else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
    return BigInt(value);
  }
  throw new UsageError(`value ${showValue(value)} does not fit in 64 bits (give a bigint from 0 to 2^64 − 1, or a non-negative safe integer)`);
}
