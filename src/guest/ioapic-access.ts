/**
 * The OS's I/O APIC accessors (Linux arch/x86/kernel/apic/io_apic.c `io_apic_read/write`, `__ioapic_write_entry`,
 * `io_apic_eoi`): indirect registers through IOREGSEL (offset 0x00) and IOWIN (0x10), and the EOI register at 0x40
 * on version 0x20 parts. An RTE is written high dword first so that the entry is unmasked by the final low write.
 */
import type { Cpu } from '../machine/cpu.ts';
import { IOAPIC_EOI, IOAPIC_REG_RTE_BASE, IOAPIC_REG_VER, IOREGSEL, IOWIN, VER_MAX_RTE_SHIFT } from '../ioapic/ioapic.ts';

export function ioapicRead(cpu: Cpu, base: number, index: number): number {
  cpu.write32(base + IOREGSEL, index);
  return cpu.read32(base + IOWIN);
}

export function ioapicWrite(cpu: Cpu, base: number, index: number, value: number): void {
  cpu.write32(base + IOREGSEL, index);
  cpu.write32(base + IOWIN, value >>> 0);
}

/** Version (bits 7:0) and number of redirection entries (max index in bits 23:16, plus one). */
export function ioapicVersion(cpu: Cpu, base: number): { version: number; pins: number } {
  const v = ioapicRead(cpu, base, IOAPIC_REG_VER);
  return { version: v & 0xff, pins: ((v >>> VER_MAX_RTE_SHIFT) & 0xff) + 1 };
}

export function ioapicWriteRte(cpu: Cpu, base: number, pin: number, rte: bigint): void {
  ioapicWrite(cpu, base, IOAPIC_REG_RTE_BASE + 2 * pin + 1, Number(rte >> 32n));
  ioapicWrite(cpu, base, IOAPIC_REG_RTE_BASE + 2 * pin, Number(rte & 0xffffffffn));
}

export function ioapicReadRte(cpu: Cpu, base: number, pin: number): bigint {
  const lo = ioapicRead(cpu, base, IOAPIC_REG_RTE_BASE + 2 * pin);
  const hi = ioapicRead(cpu, base, IOAPIC_REG_RTE_BASE + 2 * pin + 1);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Directed EOI: clears Remote IRR of every level RTE whose vector field equals `vector` (version ≥ 0x20). */
export function ioapicEoi(cpu: Cpu, base: number, vector: number): void {
  cpu.write32(base + IOAPIC_EOI, vector & 0xff);
}
