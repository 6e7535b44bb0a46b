/**
 * Local APIC bring-up as an OS does it on x86 (SDM 8.4.4 "MP initialization example", 10.12 x2APIC; Linux
 * arch/x86/kernel/smpboot.c `wakeup_secondary_cpu_via_init`, apic.c `setup_local_APIC`, `x2apic_enable`):
 *
 * - the BSP wakes an AP with INIT (level assert, then the de-assert older APICs need) and two STARTUP IPIs whose
 *   vector is the page number of the real-mode trampoline, through the ICR: in x2APIC mode one 64-bit WRMSR 0x830
 *   with the 32-bit destination in bits 63:32, in xAPIC mode ICR high (destination in 31:24) then ICR low;
 * - the AP, now running the trampoline, switches its own APIC to x2APIC (IA32_APIC_BASE.EXTD) when the OS runs in
 *   x2APIC mode and software-enables it through the spurious-interrupt vector register.
 */
import { MSR_IA32_APIC_BASE, APIC_BASE_EN, APIC_BASE_EXTD } from '../apic/apic-base.ts';
import {
  APIC_DFR,
  APIC_ICR_HI,
  APIC_LDR,
  APIC_ICR_LO,
  APIC_SVR,
  ICR_LEVEL_ASSERT,
  ICR_SHORTHAND_SHIFT,
  ICR_TRIGGER_LEVEL,
  SVR_APIC_ENABLED,
  Shorthand,
} from '../apic/registers.ts';
import { MSR_X2APIC_ICR, MSR_X2APIC_LDR, MSR_X2APIC_SVR } from '../apic/x2apic-msr.ts';
import type { Cpu } from '../machine/cpu.ts';
import { DeliveryMode } from '../msi/interrupt.ts';

/** Linux's SPURIOUS_APIC_VECTOR. */
export const SPURIOUS_APIC_VECTOR = 0xff;
/** The trampoline page Linux's real-mode code lives at is firmware-dependent; irqpath uses 0x9A000 (vector 0x9A). */
export const TRAMPOLINE_VECTOR = 0x9a;

const ICR_INIT_ASSERT = (DeliveryMode.INIT << 8) | ICR_TRIGGER_LEVEL | ICR_LEVEL_ASSERT;
const ICR_INIT_DEASSERT = (DeliveryMode.INIT << 8) | ICR_TRIGGER_LEVEL;

/**
 * IA32_APIC_BASE.EN and EXTD both set (SDM 10.12.1). The LAPIC keeps the mode those bits select, so it is read from
 * there instead of through RDMSR and two BigInt masks: an OS asks before every IPI it sends.
 */
export function isX2apicMode(cpu: Cpu): boolean {
  return cpu.lapic.mode === 'x2apic';
}

/** Switch this CPU's APIC to x2APIC mode (xAPIC → x2APIC is a legal one-step transition, SDM 10.12.5). */
export function enableX2apic(cpu: Cpu): void {
  const base = cpu.rdmsr(MSR_IA32_APIC_BASE);
  if ((base & APIC_BASE_EXTD) !== 0n) return;
  cpu.wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD);
}

/** Write the ICR of `from`: physical destination `dest`, or a shorthand (then `dest` is ignored). */
export function sendIpi(from: Cpu, dest: number, icrLow: number, shorthand: number = Shorthand.None): void {
  const lo = (icrLow | (shorthand << ICR_SHORTHAND_SHIFT)) >>> 0;
  if (isX2apicMode(from)) {
    const hi = dest >>> 0;
    // One BigInt for the 64-bit ICR value; below 2^21 the destination and command fit a double exactly.
    from.wrmsr(MSR_X2APIC_ICR, hi < 0x20_0000 ? BigInt(hi * 0x1_0000_0000 + lo) : (BigInt(hi) << 32n) | BigInt(lo));
  } else {
    const page = Number(from.rdmsr(MSR_IA32_APIC_BASE) & 0x000f_ffff_ffff_f000n);
    from.write32(page + APIC_ICR_HI, ((dest & 0xff) << 24) >>> 0);
    from.write32(page + APIC_ICR_LO, lo);
  }
}

/** INIT, INIT de-assert, STARTUP, STARTUP to one APIC ID (Linux `wakeup_secondary_cpu_via_init`). */
export function sendInitSipiSipi(bsp: Cpu, apicId: number, trampolineVector = TRAMPOLINE_VECTOR): void {
  sendIpi(bsp, apicId, ICR_INIT_ASSERT);
  sendIpi(bsp, apicId, ICR_INIT_DEASSERT);
  const startup = (DeliveryMode.StartUp << 8) | (trampolineVector & 0xff);
  sendIpi(bsp, apicId, startup);
  sendIpi(bsp, apicId, startup);
}

/** The same sequence to every other CPU at once (shorthand "all excluding self"), as firmware MP init does. */
export function broadcastInitSipiSipi(bsp: Cpu, trampolineVector = TRAMPOLINE_VECTOR): void {
  sendIpi(bsp, 0, ICR_INIT_ASSERT, Shorthand.AllExcludingSelf);
  sendIpi(bsp, 0, ICR_INIT_DEASSERT, Shorthand.AllExcludingSelf);
  const startup = (DeliveryMode.StartUp << 8) | (trampolineVector & 0xff);
  sendIpi(bsp, 0, startup, Shorthand.AllExcludingSelf);
  sendIpi(bsp, 0, startup, Shorthand.AllExcludingSelf);
}

/** INIT to every other CPU: they return to wait-for-SIPI, keeping their APIC mode (SDM 10.4.7.3). */
export function broadcastInit(bsp: Cpu): void {
  sendIpi(bsp, 0, ICR_INIT_ASSERT, Shorthand.AllExcludingSelf);
  sendIpi(bsp, 0, ICR_INIT_DEASSERT, Shorthand.AllExcludingSelf);
}

/** DFR model bits 31:28 = 1111b: the flat model (SDM 10.6.2.2). */
const DFR_FLAT = 0xffffffff;

/**
 * What each CPU runs to set up its own local APIC (Linux `setup_local_APIC`): enter x2APIC mode if the OS uses it,
 * then software-enable the APIC with the spurious vector. Returns the logical destination register (x2APIC: the
 * hardware-derived cluster ID Linux's cluster driver reads into x86_cpu_to_logical_apicid), or 0 in xAPIC mode.
 *
 * `flatLogicalId`: xAPIC with Linux's logical flat driver (apic_flat's init_apic_ldr): DFR = flat, LDR bits 31:24
 * = the CPU's bit (1 << cpu number, at most 8 CPUs); returned as the 8-bit logical ID.
 */
export function setupLocalApic(cpu: Cpu, x2apic: boolean, flatLogicalId?: number): number {
  if (x2apic) {
    enableX2apic(cpu);
    cpu.wrmsr(MSR_X2APIC_SVR, SVR_APIC_ENABLED | SPURIOUS_APIC_VECTOR);
    return Number(cpu.rdmsr(MSR_X2APIC_LDR));
  }
  const page = Number(cpu.rdmsr(MSR_IA32_APIC_BASE) & 0x000f_ffff_ffff_f000n);
  if (flatLogicalId !== undefined) {
    cpu.write32(page + APIC_DFR, DFR_FLAT);
    cpu.write32(page + APIC_LDR, ((flatLogicalId & 0xff) << 24) >>> 0);
  }
  cpu.write32(page + APIC_SVR, SVR_APIC_ENABLED | SPURIOUS_APIC_VECTOR);
  return flatLogicalId ?? 0;
}
