/**
 * The MSI capability (ID 0x05; PCI Local Bus 3.0 §6.8.1). Four layouts: 32/64-bit address, with or
 * without per-vector masking.
 *
 *   +0 ID, next   +2 Message Control   +4 Address low (bits 1:0 read 0)
 *   32-bit: +8 Data, +0xC Mask, +0x10 Pending          64-bit: +8 Address high, +0xC Data, +0x10 Mask, +0x14 Pending
 *
 * Message Control: bit 0 enable (RW), 3:1 Multiple Message Capable (RO), 6:4 Multiple Message Enable (RW), bit 7
 * 64-bit capable (RO), bit 8 per-vector masking capable (RO).
 *
 * With 2^MME messages allocated, message k is sent with the low MME bits of the data replaced by k
 * (QEMU msi_prepare_message). The write carries the 16-bit data zero-extended to 32 bits.
 */
import { ConfigError, showValue, UsageError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import { RouteSlot } from '../msi/route-slot.ts';
import type { PciConfigSpace } from './config-space.ts';
import type { InterruptMessageReport, InterruptMessageSink } from './interrupt-sink.ts';

export const PCI_CAP_ID_MSI = 0x05;

export const MSI_FLAGS = 0x02;
export const MSI_FLAGS_ENABLE = 0x0001;
export const MSI_FLAGS_QMASK = 0x000e;
export const MSI_FLAGS_QMASK_SHIFT = 1;
export const MSI_FLAGS_QSIZE = 0x0070;
export const MSI_FLAGS_QSIZE_SHIFT = 4;
export const MSI_FLAGS_64BIT = 0x0080;
export const MSI_FLAGS_MASKBIT = 0x0100;
export const MSI_ADDRESS_LO = 0x04;
export const MSI_ADDRESS_HI = 0x08;
export const MSI_DATA_32 = 0x08;
export const MSI_DATA_64 = 0x0c;
export const MSI_MASK_32 = 0x0c;
export const MSI_MASK_64 = 0x10;
/** Capability lengths (QEMU msi.c): 32-bit, 64-bit, 32-bit + masking, 64-bit + masking. */
export const MSI_CAP_SIZE_32 = 0x0a;
export const MSI_CAP_SIZE_64 = 0x0e;
export const MSI_CAP_SIZE_32_MASK = 0x14;
export const MSI_CAP_SIZE_64_MASK = 0x18;
export const MSI_VECTORS_MAX = 32;

export interface MsiCapabilityOptions {
  /** Vectors requested (Multiple Message Capable): a power of two, 1..32. */
  vectors: number;
  /** 64-bit address capable (default true). */
  addr64?: boolean;
  /** Per-vector masking capable (default false). */
  perVectorMask?: boolean;
}

export class MsiCapability {
  /** Offset of the capability in config space. */
  readonly offset: number;
  readonly length: number;
  /** Vectors the function can use (2^MMC). */
  readonly vectors: number;
  readonly addr64: boolean;
  readonly perVectorMask: boolean;
  private readonly mmc: number;
  private readonly dataOffset: number;
  private readonly maskOffset: number;
  private readonly pendingOffset: number;
  private readonly vectorBits: number;
  private readonly slots: RouteSlot[] = [];

  constructor(
    private readonly space: PciConfigSpace,
    opts: MsiCapabilityOptions,
    private readonly sink: InterruptMessageSink,
    private readonly events: EventHub,
    /** Names the owner in errors and hops (e.g. "00:03.0"). */
    private readonly label: string,
    configPath = 'msi',
  ) {
    const v = opts.vectors;
    if (!Number.isInteger(v) || v < 1 || v > MSI_VECTORS_MAX || (v & (v - 1)) !== 0) {
      throw new ConfigError(`${configPath}.vectors`, `must be a power of two from 1 to 32, got ${String(v)}`);
    }
    this.vectors = v;
    this.mmc = Math.log2(v);
    this.addr64 = opts.addr64 ?? true;
    this.perVectorMask = opts.perVectorMask ?? false;
    this.length = this.addr64
      ? (this.perVectorMask ? MSI_CAP_SIZE_64_MASK : MSI_CAP_SIZE_64)
      : (this.perVectorMask ? MSI_CAP_SIZE_32_MASK : MSI_CAP_SIZE_32);
    this.offset = space.addCapability(PCI_CAP_ID_MSI, this.length);
    this.dataOffset = this.offset + (this.addr64 ? MSI_DATA_64 : MSI_DATA_32);
    this.maskOffset = this.offset + (this.addr64 ? MSI_MASK_64 : MSI_MASK_32);
    this.pendingOffset = this.maskOffset + 4;
    this.vectorBits = v === 32 ? 0xffffffff : (1 << v) - 1;
    for (let i = 0; i < v; i++) this.slots.push(new RouteSlot());

    const control = (this.mmc << MSI_FLAGS_QMASK_SHIFT) | (this.addr64 ? MSI_FLAGS_64BIT : 0) | (this.perVectorMask ? MSI_FLAGS_MASKBIT : 0);
    space.set16(this.offset + MSI_FLAGS, control);
    space.setWritable(this.offset + MSI_FLAGS, 2, MSI_FLAGS_ENABLE | MSI_FLAGS_QSIZE);
    // Address bits 1:0: "Reserved. Always returns 0 on read. Write operations have no effect."
    space.setWritable(this.offset + MSI_ADDRESS_LO, 4, 0xfffffffc);
    if (this.addr64) space.setWritable(this.offset + MSI_ADDRESS_HI, 4, 0xffffffff);
    // 16-bit Message Data; the upper 16 bits of its dword (Extended Message Data) are not implemented: RO 0.
    space.setWritable(this.dataOffset, 2, 0xffff);
    if (this.perVectorMask) {
      // Mask bits exist only for implemented vectors (QEMU: 0xffffffff >> (32 - nr_vectors)); pending bits are RO.
      space.setWritable(this.maskOffset, 4, this.vectorBits);
      space.setDeviceOwned(this.pendingOffset, 4, this.vectorBits);
    }
  }

  enabled(): boolean {
    return (this.space.get16(this.offset + MSI_FLAGS) & MSI_FLAGS_ENABLE) !== 0;
  }

  /** Messages software allocated (2^MME). */
  allocated(): number {
    return 1 << ((this.space.get16(this.offset + MSI_FLAGS) & MSI_FLAGS_QSIZE) >>> MSI_FLAGS_QSIZE_SHIFT);
  }

  /**
   * The function raises interrupt `n` (0 <= n < vectors). With fewer messages allocated than requested, the event
   * uses message n mod 2^MME: the function replaces the low MME data bits with the low MME bits of n. (How a function
   * shares messages is device-specific in the spec; this is the natural hardware wiring.) A masked message sets its
   * pending bit instead. Returns false (nothing sent or pended) when MSI is disabled.
   */
  signal(n: number): boolean {
    if (!Number.isInteger(n) || n < 0 || n >= this.vectors) {
      throw new UsageError(`${this.label}: MSI vector ${showValue(n)} is out of range (the function has ${this.vectors} MSI vector${this.vectors === 1 ? '' : 's'})`);
    }
    if (!this.enabled()) return false;
    const k = n & (this.allocated() - 1);
    if (this.isMasked(k)) {
      this.space.set32(this.pendingOffset, (this.space.get32(this.pendingOffset) | (1 << k)) >>> 0);
      if (this.events.active) this.events.hop('irqpath_msi_masked_pending', [['bdf', this.label], ['vector', k]]);
      return true;
    }
    this.send(k);
    return true;
  }

  private isMasked(k: number): boolean {
    return this.perVectorMask && ((this.space.get32(this.maskOffset) >>> k) & 1) !== 0;
  }

  /**
   * React to a software config write that overlapped [offset, offset + size). Clamps MME and, while enabled, sends
   * every pending message that is no longer masked (clearing its pending bit), as QEMU msi_write_config does.
   */
  handleConfigWrite(offset: number, size: number): void {
    if (offset + size <= this.offset || offset >= this.offset + this.length) return;
    const control = this.space.get16(this.offset + MSI_FLAGS);
    const mme = (control & MSI_FLAGS_QSIZE) >>> MSI_FLAGS_QSIZE_SHIFT;
    if (mme > this.mmc) {
      // The spec leaves MME > MMC undefined; QEMU clamps it to MMC ("not legal by spec"), and so do we.
      this.space.set16(this.offset + MSI_FLAGS, (control & ~MSI_FLAGS_QSIZE) | (this.mmc << MSI_FLAGS_QSIZE_SHIFT));
    }
    if (!this.perVectorMask || !this.enabled()) return;
    const allocated = this.allocated();
    const allocatedBits = allocated === 32 ? 0xffffffff : (1 << allocated) - 1;
    // Pending bits of messages no longer allocated are discarded (QEMU msi_write_config).
    let pending = (this.space.get32(this.pendingOffset) & allocatedBits) >>> 0;
    this.space.set32(this.pendingOffset, pending);
    const mask = this.space.get32(this.maskOffset);
    for (let k = 0; k < allocated && pending !== 0; k++) {
      const bit = (1 << k) >>> 0;
      if ((pending & bit) === 0 || (mask & bit) !== 0) continue;
      pending = (pending & ~bit) >>> 0;
      this.space.set32(this.pendingOffset, pending);
      this.events.beginFlow();
      this.send(k);
    }
  }

  /** Message k of the allocated block as it would be sent now. */
  message(k: number): InterruptMessageReport {
    if (!Number.isInteger(k) || k < 0 || k >= this.vectors) {
      throw new UsageError(`${this.label}: MSI message ${showValue(k)} is out of range (the function has ${this.vectors} MSI vector${this.vectors === 1 ? '' : 's'})`);
    }
    const addrHi = this.addr64 ? this.space.get32(this.offset + MSI_ADDRESS_HI) : 0;
    const addrLo = this.space.get32(this.offset + MSI_ADDRESS_LO);
    return {
      addr: (BigInt(addrHi) << 32n) | BigInt(addrLo),
      data: this.composeData(k),
      masked: this.isMasked(k),
      pending: this.perVectorMask && ((this.space.get32(this.pendingOffset) >>> k) & 1) !== 0,
    };
  }

  /** The route slot of message k. */
  routeSlot(k: number): RouteSlot {
    return this.slots[k];
  }

  /** Invalidate every route slot (after a restore). */
  invalidateRoutes(): void {
    for (const slot of this.slots) slot.invalidate();
  }

  /** A reason a saved config image is inconsistent with this capability, or null. */
  checkSavedConfig(bytes: Uint8Array): string | null {
    const control = bytes[this.offset + MSI_FLAGS] | (bytes[this.offset + MSI_FLAGS + 1] << 8);
    const mme = (control & MSI_FLAGS_QSIZE) >>> MSI_FLAGS_QSIZE_SHIFT;
    if (mme > this.mmc) return `MSI Multiple Message Enable ${mme} is above Multiple Message Capable ${this.mmc}`;
    return null;
  }

  private composeData(k: number): number {
    const data = this.space.get16(this.dataOffset);
    return ((data & ~(this.allocated() - 1)) | k) & 0xffff;
  }

  private send(k: number): void {
    const addrHi = this.addr64 ? this.space.get32(this.offset + MSI_ADDRESS_HI) : 0;
    const addrLo = this.space.get32(this.offset + MSI_ADDRESS_LO);
    const data = this.composeData(k);
    if (this.events.active) {
      this.events.hop('irqpath_msi_notify', [['bdf', this.label], ['vector', k], ['addr', (BigInt(addrHi) << 32n) | BigInt(addrLo)], ['data', data]]);
    }
    this.sink.sendInterrupt('msi', k, addrHi, addrLo, data, this.slots[k]);
  }
}
