/**
 * Sparse guest RAM covering the whole physical address space (52-bit). Pages are created on first write, so a stray
 * MSI that misses the APIC visibly scribbles memory at whatever 64-bit address it carried, while untouched memory
 * reads as zero and costs nothing. Addresses are plain numbers (exact up to 2^53); values are little-endian.
 */
export const PAGE_SIZE = 4096;
export const MAX_PHYS_ADDR_BITS = 52;
const MAX_ADDR = 2 ** MAX_PHYS_ADDR_BITS;

export class PhysicalAddressError extends Error {}

export class SparseMemory {
  private readonly pages = new Map<number, Uint8Array>();
  private readonly views = new Map<number, DataView>();

  private check(addr: number, size: number): void {
    if (!Number.isInteger(addr) || addr < 0 || addr + size > MAX_ADDR) {
      throw new PhysicalAddressError(`physical address ${addr} is outside the ${MAX_PHYS_ADDR_BITS}-bit address space`);
    }
  }

  private view(page: number, create: boolean): DataView | undefined {
    let v = this.views.get(page);
    if (v === undefined && create) {
      const bytes = new Uint8Array(PAGE_SIZE);
      this.pages.set(page, bytes);
      v = new DataView(bytes.buffer);
      this.views.set(page, v);
    }
    return v;
  }

  read8(addr: number): number {
    this.check(addr, 1);
    const v = this.view(Math.floor(addr / PAGE_SIZE), false);
    return v === undefined ? 0 : v.getUint8(addr % PAGE_SIZE);
  }

  write8(addr: number, value: number): void {
    this.check(addr, 1);
    this.view(Math.floor(addr / PAGE_SIZE), true)!.setUint8(addr % PAGE_SIZE, value & 0xff);
  }

  read32(addr: number): number {
    this.check(addr, 4);
    const off = addr % PAGE_SIZE;
    if (off > PAGE_SIZE - 4) return Number(this.readSplit(addr, 4));
    const v = this.view(Math.floor(addr / PAGE_SIZE), false);
    return v === undefined ? 0 : v.getUint32(off, true);
  }

  write32(addr: number, value: number): void {
    this.check(addr, 4);
    const off = addr % PAGE_SIZE;
    if (off > PAGE_SIZE - 4) return this.writeSplit(addr, 4, BigInt(value >>> 0));
    this.view(Math.floor(addr / PAGE_SIZE), true)!.setUint32(off, value >>> 0, true);
  }

  read64(addr: number): bigint {
    this.check(addr, 8);
    const off = addr % PAGE_SIZE;
    if (off > PAGE_SIZE - 8) return this.readSplit(addr, 8);
    const v = this.view(Math.floor(addr / PAGE_SIZE), false);
    return v === undefined ? 0n : v.getBigUint64(off, true);
  }

  write64(addr: number, value: bigint): void {
    this.check(addr, 8);
    const off = addr % PAGE_SIZE;
    const v64 = BigInt.asUintN(64, value);
    if (off > PAGE_SIZE - 8) return this.writeSplit(addr, 8, v64);
    this.view(Math.floor(addr / PAGE_SIZE), true)!.setBigUint64(off, v64, true);
  }

  /** Read a little-endian 128-bit value as [low qword, high qword]. */
  read128(addr: number): [bigint, bigint] {
    return [this.read64(addr), this.read64(addr + 8)];
  }

  write128(addr: number, lo: bigint, hi: bigint): void {
    this.write64(addr, lo);
    this.write64(addr + 8, hi);
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

  /** Page-frame numbers that have been written (for reports and snapshots). */
  touchedPages(): number[] {
    return [...this.pages.keys()].sort((a, b) => a - b);
  }

  /** True when any byte of the page holding `addr` was ever written. */
  isTouched(addr: number): boolean {
    return this.pages.has(Math.floor(addr / PAGE_SIZE));
  }

  pageBytes(page: number): Uint8Array | undefined {
    return this.pages.get(page);
  }

  clear(): void {
    this.pages.clear();
    this.views.clear();
  }

  loadPage(page: number, bytes: Uint8Array): void {
    if (bytes.length !== PAGE_SIZE) throw new PhysicalAddressError(`page ${page} must be ${PAGE_SIZE} bytes, got ${bytes.length}`);
    const copy = new Uint8Array(bytes);
    this.pages.set(page, copy);
    this.views.set(page, new DataView(copy.buffer));
  }
}
