/**
 * A device's own interrupt controller behind a memory BAR, as Qualcomm's ath11k/ath12k WLAN chips have ("ath11k and vfio-pci support", 2024-01):
 * the driver copies an MSI address and data into device registers, and the device then raises interrupts by plain
 * DMA writes of those values — not through its MSI capability. The BAR is otherwise a plain register file (reads
 * return what was written), which is all the scenarios need of the rest of the chip.
 *
 * Each interrupt source k has an address register at `registers[k]` and its data register 8 bytes above it, the
 * layout the QEMU trace in that thread shows (region0+0xb849c = 0xfee00000, region0+0xb84a4 = 0x21).
 */
import type { AccessSize, MmioDevice } from '../core/mmio.ts';
import { UsageError } from '../core/errors.ts';

/** The data register sits 8 bytes above its address register. */
export const EMBEDDED_DATA_OFFSET = 8;

export class EmbeddedMsiController implements MmioDevice {
  readonly name: string;
  private readonly regs = new Map<number, number>();

  constructor(
    label: string,
    readonly size: number,
    /** BAR offset of each source's address register. */
    readonly registers: readonly number[],
    /** The device's posted write with its own requester ID (the function gates it on Bus Master Enable). */
    private readonly write32: (addrHi: number, addrLo: number, data: number) => void,
  ) {
    this.name = `${label} embedded interrupt controller`;
  }

  read(offset: number, size: AccessSize): bigint {
    const lo = BigInt(this.regs.get(offset & ~3) ?? 0);
    if (size === 8) return lo | (BigInt(this.regs.get((offset & ~3) + 4) ?? 0) << 32n);
    const shift = BigInt(8 * (offset & 3));
    return (lo >> shift) & ((1n << BigInt(8 * size)) - 1n);
  }

  write(offset: number, size: AccessSize, value: bigint): void {
    if (size === 8) {
      this.regs.set(offset, Number(value & 0xffffffffn));
      this.regs.set(offset + 4, Number((value >> 32n) & 0xffffffffn));
      return;
    }
    if (size !== 4) return; // the chip takes 4- and 8-byte accesses only (vfio/pci-quirks ath patch, 2024-08-12: "Only 4- and 8-byte accesses")
    this.regs.set(offset, Number(value & 0xffffffffn));
  }

  /** The message source k would send now. */
  message(k: number): { addr: number; data: number } {
    const at = this.registers[k];
    if (at === undefined) throw new UsageError(`${this.name}: no interrupt source ${k} (it has ${this.registers.length})`);
    return { addr: this.regs.get(at) ?? 0, data: this.regs.get(at + EMBEDDED_DATA_OFFSET) ?? 0 };
  }

  /** Source k raises its interrupt: a DMA write of its programmed address and data. */
  fire(k: number): void {
    const m = this.message(k);
    this.write32(0, m.addr >>> 0, m.data >>> 0);
  }
}
