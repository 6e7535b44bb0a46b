/**
 * The OS's interrupt entry and exit on one CPU: INTA (the CPU moves the highest deliverable IRR vector to ISR) and
 * the local APIC EOI write. SDM 10.8.5: in x2APIC mode EOI is WRMSR 0x80B with value 0 (a non-zero value #GPs); in
 * xAPIC mode it is a store of 0 to offset 0xB0 of the APIC page.
 */
import { APIC_EOI } from '../apic/registers.ts';
import { MSR_X2APIC_EOI } from '../apic/x2apic-msr.ts';
import type { Cpu } from '../machine/cpu.ts';
import { isX2apicMode } from './smp-bringup.ts';

export function lapicEoi(cpu: Cpu): void {
  if (isX2apicMode(cpu)) cpu.wrmsr(MSR_X2APIC_EOI, 0);
  else cpu.write32(lapicBase(cpu) + APIC_EOI, 0);
}

/** The APIC page base the CPU's IA32_APIC_BASE points at (bits 51:12). */
export function lapicBase(cpu: Cpu): number {
  return Number(cpu.rdmsr(0x1b) & 0x000f_ffff_ffff_f000n);
}
