/**
 * A memory Base Address Register (PCI Local Bus 3.0 §6.2.5.1). The BAR's size is encoded by which address bits are
 * writable: software writes all ones and reads back ~(size − 1) with the read-only type bits in 3:0, exactly as the
 * spec describes size probing. That falls out of the config space's per-byte write masks, so this class only
 * installs the masks and decodes the programmed address.
 *
 * Bits 3:0 of the low dword: bit 0 = 0 (memory space), bits 2:1 = 00 (32-bit) or 10 (64-bit), bit 3 = prefetchable.
 * A 64-bit BAR uses the next BAR slot for address bits 63:32.
 */
import { ConfigError } from '../core/errors.ts';
import type { AccessSize, MmioDevice } from '../core/mmio.ts';
import type { PciConfigSpace } from './config-space.ts';
import { PCI_BASE_ADDRESS_0 } from './type0-header.ts';

export const PCI_NUM_BARS = 6;
export const BAR_MEM_TYPE_64 = 0b10 << 1;
export const BAR_MEM_PREFETCH = 1 << 3;
export const BAR_MEM_ADDR_MASK = 0xfffffff0;
/** The low four bits carry flags, so a memory BAR decodes at least 16 bytes. */
export const BAR_MIN_SIZE = 16;
/** Largest size accepted for a 64-bit BAR (keeps addresses exact in a JavaScript number). */
export const BAR_MAX_SIZE_64 = 2 ** 48;
export const BAR_MAX_SIZE_32 = 2 ** 31;
const TWO_32 = 2 ** 32;

export interface BarOptions {
  /** BAR slot 0..5 (a 64-bit BAR also takes slot index + 1). */
  index: number;
  /** Bytes decoded: a power of two, at least 16. */
  size: number;
  is64?: boolean;
  prefetchable?: boolean;
  /** The registers the BAR decodes (default: nothing behind it; reads 0, writes ignored). */
  mmio?: MmioDevice;
}

/** A BAR with nothing implemented behind it. */
export class EmptyBarMmio implements MmioDevice {
  constructor(readonly name: string) {}
  read(_offset: number, _size: AccessSize): bigint {
    return 0n;
  }
  write(_offset: number, _size: AccessSize, _value: bigint): void {}
}

export class PciBar {
  readonly index: number;
  readonly size: number;
  readonly is64: boolean;
  readonly prefetchable: boolean;
  /** Config-space offset of the low dword. */
  readonly offset: number;
  /** What the BAR decodes, at offsets relative to {@link base}. */
  readonly mmio: MmioDevice;

  constructor(private readonly space: PciConfigSpace, opts: BarOptions, configPath = 'bar') {
    const is64 = opts.is64 ?? false;
    if (!Number.isInteger(opts.index) || opts.index < 0 || opts.index >= PCI_NUM_BARS - (is64 ? 1 : 0)) {
      throw new ConfigError(`${configPath}.index`, `must be 0..${PCI_NUM_BARS - (is64 ? 2 : 1)} for a ${is64 ? '64' : '32'}-bit BAR, got ${opts.index}`);
    }
    const max = is64 ? BAR_MAX_SIZE_64 : BAR_MAX_SIZE_32;
    if (!Number.isInteger(opts.size) || opts.size < BAR_MIN_SIZE || opts.size > max || !isPowerOfTwo(opts.size)) {
      throw new ConfigError(`${configPath}.size`, `must be a power of two from ${BAR_MIN_SIZE} to 0x${max.toString(16)}, got ${opts.size}`);
    }
    this.index = opts.index;
    this.size = opts.size;
    this.is64 = is64;
    this.prefetchable = opts.prefetchable ?? false;
    this.offset = PCI_BASE_ADDRESS_0 + 4 * this.index;
    this.mmio = opts.mmio ?? new EmptyBarMmio(`${configPath} (BAR${this.index})`);
    this.install();
  }

  /** Type bits and write masks; the address starts at 0 (unassigned). */
  private install(): void {
    const flags = (this.is64 ? BAR_MEM_TYPE_64 : 0) | (this.prefetchable ? BAR_MEM_PREFETCH : 0);
    this.space.set32(this.offset, flags);
    const lowMask = this.size >= TWO_32 ? 0 : (~(this.size - 1) & BAR_MEM_ADDR_MASK) >>> 0;
    this.space.setWritable(this.offset, 4, lowMask);
    if (this.is64) {
      this.space.set32(this.offset + 4, 0);
      const highMask = this.size <= TWO_32 ? 0xffffffff : ~(this.size / TWO_32 - 1) >>> 0;
      this.space.setWritable(this.offset + 4, 4, highMask);
    }
  }

  /** Config-space bytes this BAR occupies (4 or 8). */
  get length(): number {
    return this.is64 ? 8 : 4;
  }

  /** The programmed base address. */
  get base(): number {
    const low = (this.space.get32(this.offset) & BAR_MEM_ADDR_MASK) >>> 0;
    return this.is64 ? this.space.get32(this.offset + 4) * TWO_32 + low : low;
  }
}

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n));
}
