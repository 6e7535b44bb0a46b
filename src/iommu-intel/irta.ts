/**
 * IRTA_REG (0xB8, VT-d spec §11.4): the programmed value, and the copy the hardware latched on GCMD.SIRTP. Writes alone
 * change nothing the remapping hardware uses (QEMU `vtd_interrupt_remap_table_setup`, VBox `uIrtaReg`).
 *
 * 63:12 table base (bits above the host address width are reserved), 11 EIME (reserved unless ECAP.EIM),
 * 10:4 reserved, 3:0 S: the table holds 2^(S+1) entries.
 */
import { IRTA_ADDR_LO_MASK, IRTA_EIME, IRTA_S_MASK } from './registers.ts';

export class InterruptRemapTableAddress {
  /** Programmed register, as two dwords. */
  lo = 0;
  hi = 0;
  /** Latched by SIRTP: table base (byte address), number of entries, x2APIC mode. */
  base = 0;
  entries = 2;
  eime = false;

  private readonly loMask: number;
  private readonly hiMask: number;

  constructor(hawBits: number, eimSupported: boolean) {
    this.loMask = (IRTA_ADDR_LO_MASK | IRTA_S_MASK | (eimSupported ? IRTA_EIME : 0)) >>> 0;
    this.hiMask = hawBits >= 64 ? 0xffffffff : (2 ** (hawBits - 32) - 1) >>> 0;
  }

  writeLo(value: number): void {
    this.lo = (value & this.loMask) >>> 0;
  }

  writeHi(value: number): void {
    this.hi = (value & this.hiMask) >>> 0;
  }

  /** GCMD.SIRTP: make the programmed value the one the hardware uses. */
  latch(): void {
    this.base = this.hi * 0x1_0000_0000 + ((this.lo & IRTA_ADDR_LO_MASK) >>> 0);
    this.entries = 2 ** ((this.lo & IRTA_S_MASK) + 1);
    this.eime = (this.lo & IRTA_EIME) !== 0;
  }

  /** Re-derive the latched fields from a saved latched register value (restore). */
  latchFrom(lo: number, hi: number): void {
    const savedLo = this.lo;
    const savedHi = this.hi;
    this.lo = lo;
    this.hi = hi;
    this.latch();
    this.lo = savedLo;
    this.hi = savedHi;
  }

  /** The latched value as register dwords (for save()). */
  latchedLo(): number {
    return ((this.base % 0x1_0000_0000) | (Math.log2(this.entries) - 1) | (this.eime ? IRTA_EIME : 0)) >>> 0;
  }

  latchedHi(): number {
    return Math.floor(this.base / 0x1_0000_0000) >>> 0;
  }
}
