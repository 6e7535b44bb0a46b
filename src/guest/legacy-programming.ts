/**
 * What a kernel writes to drive the legacy interrupt sources, as Linux writes it — register by register, through the
 * CPU's port, MMIO and MSR accesses only:
 * - the 8259 pair: init_8259A (arch/x86/kernel/i8259.c: ICW1 0x11, vector bases ISA_IRQ_VECTOR(0) = 0x30 and
 *   ISA_IRQ_VECTOR(8) = 0x38, cascade on IR2, ICW4 8086 mode with or without automatic EOI), the IMR, and the specific
 *   EOI of mask_and_ack_8259A;
 * - LVT LINT0 for the virtual wire: ExtINT (setup_local_APIC on the BSP while the 8259 is in use, and check_timer's
 *   "ExtINT IRQ" attempt) or Fixed with the IRQ's vector (check_timer's "Virtual Wire IRQ" attempt);
 * - the LAPIC timer: __setup_APIC_LVTT (LVTT, TDCR divide by 16, TMICT for periodic), lapic_next_event (TMICT) and
 *   lapic_next_deadline (IA32_TSC_DEADLINE = TSC + delta) in arch/x86/kernel/apic/apic.c;
 * - the 8254: pit_set_periodic (control word 0x34: counter 0, LSB then MSB, mode 2), pit_set_oneshot (0x38, mode 4)
 *   and pit_shutdown (0x30) in drivers/clocksource/i8253.c;
 * - the HPET as Linux's legacy clockevent: hpet_enable_legacy_int (LEG_RT_CNF), hpet_clkevt_set_state_periodic (counter
 *   stopped, timer 0 ENABLE | PERIODIC | VAL_SET | 32-bit, comparator = counter + delta then the period, counter
 *   started), hpet_clkevt_set_state_oneshot and hpet_clkevt_set_next_event, in arch/x86/kernel/hpet.c;
 * - the RTC's interrupts as rtc-cmos enables them (drivers/rtc/rtc-cmos.c cmos_irq_enable, cmos_irq_disable: register
 *   A's rate with the 32.768 kHz divider, register B's PIE or UIE) and its handler's read of register C
 *   (cmos_interrupt: `irqstat = CMOS_READ(RTC_INTR_FLAGS)`, which releases IRQ8);
 * - an I/O APIC RTE's mask bit (mask_ioapic_irq), and PCI Command.Interrupt Disable (pci_intx, drivers/pci/pci.c).
 * The scenario runner uses these to stand in for the drivers that own those sources; the guest models set up the
 * I/O APIC pins and MSIs themselves.
 */
import { APIC_LVT_LINT0, APIC_LVT_TIMER, APIC_TDCR, APIC_TMICT } from '../apic/registers.ts';
import { MSR_IA32_TSC_DEADLINE } from '../apic/lapic.ts';
import { RTE_MASK } from '../msi/formats/ioapic-rte.ts';
import { IOAPIC_BASE } from '../machine/firmware.ts';
import type { Cpu } from '../machine/cpu.ts';
import type { Device } from '../machine/device.ts';
import { ioapicReadRte, ioapicWriteRte } from './ioapic-access.ts';
import { lapicBase } from './lapic-eoi.ts';
import { isX2apicMode } from './smp-bringup.ts';

/** ISA_IRQ_VECTOR(irq) = 0x30 + irq (arch/x86/include/asm/irq_vectors.h): the vectors init_8259A gives the 8259s. */
export const ISA_IRQ_VECTOR_BASE = 0x30;
/** LOCAL_TIMER_VECTOR (arch/x86/include/asm/irq_vectors.h). */
export const LOCAL_TIMER_VECTOR = 0xec;
/** APIC_DIVISOR: Linux divides the APIC bus clock by 16 (APIC_TDR_DIV_16 = 0x3 in TDCR). */
export const LINUX_APIC_DIVISOR = 16;
const APIC_TDR_DIV_16 = 0x3;
const APIC_LVT_MASKED = 1 << 16;
const APIC_LVT_TIMER_PERIODIC = 1 << 17;
const APIC_LVT_TIMER_TSCDEADLINE = 2 << 17;
const APIC_DM_EXTINT = 0x700;
const PIC_MASTER_CMD = 0x20;
const PIC_MASTER_IMR = 0x21;
const PIC_SLAVE_CMD = 0xa0;
const PIC_SLAVE_IMR = 0xa1;
const PIC_CASCADE_IR = 2;
const PIT_MODE = 0x43;
const PIT_CH0 = 0x40;
const PCI_COMMAND = 0x04;
const PCI_COMMAND_INTX_DISABLE = 1 << 10;

/** apic_write: the xAPIC page or, in x2APIC mode, MSR 0x800 + offset/16. */
export function apicWrite(cpu: Cpu, offset: number, value: number): void {
  if (isX2apicMode(cpu)) cpu.wrmsr(0x800 + (offset >> 4), value >>> 0);
  else cpu.write32(lapicBase(cpu) + offset, value >>> 0);
}

export function apicRead(cpu: Cpu, offset: number): number {
  if (isX2apicMode(cpu)) return Number(cpu.rdmsr(0x800 + (offset >> 4)) & 0xffffffffn);
  return cpu.read32(lapicBase(cpu) + offset);
}

// ---- The 8259 pair --------------------------------------------------------------------------------------------------

/** init_8259A(auto_eoi): both chips masked, initialised, and the IMRs set to `mask` (bit n = IRQ n masked). */
export function init8259(cpu: Cpu, autoEoi: boolean, mask: number): void {
  cpu.out8(PIC_MASTER_IMR, 0xff);
  cpu.out8(PIC_SLAVE_IMR, 0xff);
  cpu.out8(PIC_MASTER_CMD, 0x11);
  cpu.out8(PIC_MASTER_IMR, ISA_IRQ_VECTOR_BASE);
  cpu.out8(PIC_MASTER_IMR, 1 << PIC_CASCADE_IR);
  cpu.out8(PIC_MASTER_IMR, autoEoi ? 0x03 : 0x01);
  cpu.out8(PIC_SLAVE_CMD, 0x11);
  cpu.out8(PIC_SLAVE_IMR, ISA_IRQ_VECTOR_BASE + 8);
  cpu.out8(PIC_SLAVE_IMR, PIC_CASCADE_IR);
  cpu.out8(PIC_SLAVE_IMR, 0x01);
  cpu.out8(PIC_MASTER_IMR, mask & 0xff);
  cpu.out8(PIC_SLAVE_IMR, (mask >> 8) & 0xff);
}

/** The IMR bit of ISA IRQ `irq` (enable_8259A_irq / disable_8259A_irq); a slave IRQ also needs the cascade open. */
export function set8259Mask(cpu: Cpu, irq: number, masked: boolean): void {
  const port = irq < 8 ? PIC_MASTER_IMR : PIC_SLAVE_IMR;
  const bit = 1 << (irq & 7);
  const imr = cpu.in8(port);
  cpu.out8(port, masked ? imr | bit : imr & ~bit);
  if (irq >= 8 && !masked) cpu.out8(PIC_MASTER_IMR, cpu.in8(PIC_MASTER_IMR) & ~(1 << PIC_CASCADE_IR));
}

/** mask_and_ack_8259A's acknowledgement: a specific EOI to the slave and the master's IR2, or to the master. */
export function eoi8259(cpu: Cpu, irq: number): void {
  if (irq >= 8) {
    cpu.out8(PIC_SLAVE_CMD, 0x60 + (irq & 7));
    cpu.out8(PIC_MASTER_CMD, 0x60 + PIC_CASCADE_IR);
  } else {
    cpu.out8(PIC_MASTER_CMD, 0x60 + irq);
  }
}

/** LVT LINT0 as an ExtINT virtual wire (unmasked). */
export function lint0ExtInt(cpu: Cpu): void {
  apicWrite(cpu, APIC_LVT_LINT0, APIC_DM_EXTINT);
}

/** LVT LINT0 as a Fixed, edge-triggered input with `vector` (check_timer's "Virtual Wire IRQ"). */
export function lint0Fixed(cpu: Cpu, vector: number): void {
  apicWrite(cpu, APIC_LVT_LINT0, vector & 0xff);
}

// ---- The LAPIC timer ------------------------------------------------------------------------------------------------

export type LapicTimerMode = 'one-shot' | 'periodic' | 'tsc-deadline';

/**
 * __setup_APIC_LVTT then the first event: LVTT (vector, mode), TDCR ÷16 and TMICT = `busClocks` / 16 — or, in
 * TSC-deadline mode, IA32_TSC_DEADLINE = TSC + `tscTicks`.
 */
export function startLapicTimer(cpu: Cpu, mode: LapicTimerMode, vector: number, busClocks: number, tscTicks: bigint): void {
  const lvtt = (vector & 0xff) | (mode === 'periodic' ? APIC_LVT_TIMER_PERIODIC : mode === 'tsc-deadline' ? APIC_LVT_TIMER_TSCDEADLINE : 0);
  apicWrite(cpu, APIC_LVT_TIMER, lvtt);
  if (mode === 'tsc-deadline') {
    cpu.wrmsr(MSR_IA32_TSC_DEADLINE, cpu.rdtsc() + tscTicks);
    return;
  }
  apicWrite(cpu, APIC_TDCR, (apicRead(cpu, APIC_TDCR) & ~0xb) | APIC_TDR_DIV_16);
  apicWrite(cpu, APIC_TMICT, busClocks / LINUX_APIC_DIVISOR);
}

/** The LVTT mask bit (lapic_timer_shutdown masks; the interrupt is inhibited, the count runs on). */
export function maskLapicTimer(cpu: Cpu, masked: boolean): void {
  const lvtt = apicRead(cpu, APIC_LVT_TIMER);
  apicWrite(cpu, APIC_LVT_TIMER, masked ? lvtt | APIC_LVT_MASKED : lvtt & ~APIC_LVT_MASKED);
}

/** lapic_timer_shutdown: LVTT masked, TMICT 0. */
export function stopLapicTimer(cpu: Cpu): void {
  maskLapicTimer(cpu, true);
  apicWrite(cpu, APIC_TMICT, 0);
}

// ---- The 8254 -------------------------------------------------------------------------------------------------------

/** Counter 0 in `mode` (0, 2, 3 or 4) with LSB/MSB access and a binary `count` (65536 is written as 0). */
export function startPit(cpu: Cpu, mode: 0 | 2 | 3 | 4, count: number): void {
  cpu.out8(PIT_MODE, 0x30 | (mode << 1));
  cpu.out8(PIT_CH0, count & 0xff);
  cpu.out8(PIT_CH0, (count >> 8) & 0xff);
}

/** pit_shutdown's control word: counter 0 in mode 0 with no count (OUT low, nothing counting). */
export function stopPit(cpu: Cpu): void {
  cpu.out8(PIT_MODE, 0x30);
}

// ---- The HPET ------------------------------------------------------------------------------------------------------

const HPET_CFG = 0xfed00010;
const HPET_COUNTER = 0xfed000f0;
const HPET_T0_CFG = 0xfed00100;
const HPET_T0_CMP = 0xfed00108;
const HPET_CFG_ENABLE = 1 << 0;
const HPET_CFG_LEGACY = 1 << 1;
const HPET_TN_ENABLE = 1 << 2;
const HPET_TN_PERIODIC = 1 << 3;
const HPET_TN_SETVAL = 1 << 6;
const HPET_TN_32BIT = 1 << 8;

/** Timer 0 as Linux's legacy clockevent (IRQ0): `ticks` counter ticks per period, or until the one-shot fires. */
export function startHpetLegacyTimer(cpu: Cpu, periodic: boolean, ticks: number): void {
  cpu.write32(HPET_CFG, cpu.read32(HPET_CFG) | HPET_CFG_LEGACY);
  if (periodic) {
    cpu.write32(HPET_CFG, cpu.read32(HPET_CFG) & ~HPET_CFG_ENABLE);
    const now = cpu.read32(HPET_COUNTER);
    cpu.write32(HPET_T0_CFG, cpu.read32(HPET_T0_CFG) | HPET_TN_ENABLE | HPET_TN_PERIODIC | HPET_TN_SETVAL | HPET_TN_32BIT);
    cpu.write32(HPET_T0_CMP, (now + ticks) >>> 0);
    cpu.write32(HPET_T0_CMP, ticks >>> 0);
    cpu.write32(HPET_CFG, cpu.read32(HPET_CFG) | HPET_CFG_ENABLE);
    return;
  }
  cpu.write32(HPET_CFG, cpu.read32(HPET_CFG) | HPET_CFG_ENABLE);
  cpu.write32(HPET_T0_CFG, ((cpu.read32(HPET_T0_CFG) & ~HPET_TN_PERIODIC) | HPET_TN_ENABLE | HPET_TN_32BIT) >>> 0);
  cpu.write32(HPET_T0_CMP, (cpu.read32(HPET_COUNTER) + ticks) >>> 0);
}

/** hpet_clkevt_set_state_shutdown (timer 0's ENABLE cleared), and the general configuration put back to `config`. */
export function stopHpetLegacyTimer(cpu: Cpu, config: number): void {
  cpu.write32(HPET_T0_CFG, cpu.read32(HPET_T0_CFG) & ~HPET_TN_ENABLE);
  cpu.write32(HPET_CFG, config);
}

/** The HPET's general configuration register (ENABLE_CNF, LEG_RT_CNF). */
export function hpetConfig(cpu: Cpu): number {
  return cpu.read32(HPET_CFG);
}

// ---- The RTC -------------------------------------------------------------------------------------------------------

const RTC_PORT_INDEX = 0x70;
const RTC_PORT_DATA = 0x71;

function cmosRead(cpu: Cpu, index: number): number {
  cpu.out8(RTC_PORT_INDEX, index);
  return cpu.in8(RTC_PORT_DATA);
}

function cmosWrite(cpu: Cpu, index: number, value: number): void {
  cpu.out8(RTC_PORT_INDEX, index);
  cpu.out8(RTC_PORT_DATA, value);
}

/** Register A = 32.768 kHz divider | `rate`, then register B's PIE (periodic) or UIE (update) set. */
export function startRtc(cpu: Cpu, periodic: boolean, rate: number): void {
  if (periodic) cmosWrite(cpu, 0x0a, 0x20 | (rate & 0x0f));
  cmosWrite(cpu, 0x0b, cmosRead(cpu, 0x0b) | (periodic ? 0x40 : 0x10));
}

/** Register C read: its flags (and IRQ8 released). */
export function readRtcFlags(cpu: Cpu): number {
  return cmosRead(cpu, 0x0c);
}

/** PIE, AIE and UIE cleared, and register C read so that IRQ8 is released. */
export function stopRtc(cpu: Cpu): void {
  cmosWrite(cpu, 0x0b, cmosRead(cpu, 0x0b) & ~0x70);
  readRtcFlags(cpu);
}

// ---- I/O APIC pins and PCI INTx -------------------------------------------------------------------------------------

/** mask_ioapic_irq / unmask_ioapic_irq on pin `pin` of the I/O APIC at the MADT's address. */
export function setIoapicPinMask(cpu: Cpu, pin: number, masked: boolean): void {
  const rte = ioapicReadRte(cpu, IOAPIC_BASE, pin);
  ioapicWriteRte(cpu, IOAPIC_BASE, pin, masked ? rte | BigInt(RTE_MASK) : rte & ~BigInt(RTE_MASK));
}

/** pci_intx(dev, enable): Command.Interrupt Disable cleared (enable) or set. */
export function setPciIntxDisable(device: Device, disabled: boolean): void {
  const cmd = device.configRead(PCI_COMMAND, 2);
  device.configWrite(PCI_COMMAND, 2, disabled ? cmd | PCI_COMMAND_INTX_DISABLE : cmd & ~PCI_COMMAND_INTX_DISABLE);
}
