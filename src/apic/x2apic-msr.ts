/**
 * x2APIC MSR ↔ xAPIC offset mapping and the #GP rules for RDMSR/WRMSR (SDM 10.12.1.2,
 * Table 10-6; KVM kvm_x2apic_msr_read/write).
 *
 * MSR = 0x800 + (offset >> 4). Registers missing in x2APIC mode (APR 0x809, RRD 0x80C, DFR 0x80E, ICR high 0x831,
 * CMCI 0x82F since irqpath models no CMCI) and every unlisted MSR in 0x800–0xBFF raise #GP.
 */
import { GeneralProtectionFault } from '../core/errors.ts';
import {
  ICR_X2APIC_RESERVED_LO,
  LVT_DELIVERY_STATUS,
  LVT_REMOTE_IRR,
  LVT_WRITABLE,
  SVR_WRITABLE,
  TDCR_WRITABLE,
} from './registers.ts';

export const X2APIC_MSR_FIRST = 0x800;
/** The MSRs the LAPIC decodes; the SDM reserves 0x800–0xBFF for the x2APIC. */
export const X2APIC_MSR_LAST = 0x8ff;
export const X2APIC_MSR_RESERVED_LAST = 0xbff;

/** @public */
export const MSR_X2APIC_ID = 0x802;
/** @public */
export const MSR_X2APIC_TPR = 0x808;
/** @public */
export const MSR_X2APIC_PPR = 0x80a;
export const MSR_X2APIC_EOI = 0x80b;
export const MSR_X2APIC_LDR = 0x80d;
export const MSR_X2APIC_SVR = 0x80f;
export const MSR_X2APIC_ESR = 0x828;
export const MSR_X2APIC_ICR = 0x830;
export const MSR_X2APIC_SELF_IPI = 0x83f;

const READ = 1;
const WRITE = 2;

/** Access rights per MSR - 0x800 (SDM Table 10-6). */
const ACCESS = new Uint8Array(0x100);
function allow(first: number, last: number, rights: number): void {
  for (let msr = first; msr <= last; msr++) ACCESS[msr - X2APIC_MSR_FIRST] = rights;
}
allow(0x802, 0x803, READ); // ID, version
allow(0x808, 0x808, READ | WRITE); // TPR
allow(0x80a, 0x80a, READ); // PPR
allow(0x80b, 0x80b, WRITE); // EOI
allow(0x80d, 0x80d, READ); // LDR (derived from the x2APIC ID)
allow(0x80f, 0x80f, READ | WRITE); // SVR
allow(0x810, 0x827, READ); // ISR, TMR, IRR
allow(0x828, 0x828, READ | WRITE); // ESR
allow(0x830, 0x830, READ | WRITE); // ICR (64-bit)
allow(0x832, 0x838, READ | WRITE); // LVT timer..error, TMICT
allow(0x839, 0x839, READ); // TMCCT
allow(0x83e, 0x83e, READ | WRITE); // TDCR
allow(0x83f, 0x83f, WRITE); // SELF IPI

/**
 * Bits of the low dword a WRMSR may set, per MSR - 0x800; anything else is reserved and #GPs (SDM 10.12.1.3
 * "Reserved Bit Checking": "Non-zero writes (by WRMSR instruction) to reserved bits to these registers will raise a
 * general protection fault exception while reads return zeros"). The field layouts are SDM Figures 10-8 (LVT),
 * 10-10 (divide configuration), 10-18 (TPR) and 10-23 (SVR). LVT delivery status (12) and LINT remote IRR (14) are
 * defined read-only fields, not reserved bits: writing them is ignored, not a fault. KVM (kvm_lapic_reg_write) does
 * not check these bits and masks them instead; irqpath follows the SDM. EOI, ESR, SELF IPI and ICR have their own
 * rules below. Registers absent here (0) accept any low dword.
 */
const WRITABLE_LOW = new Uint32Array(0x100);
WRITABLE_LOW[0x808 - X2APIC_MSR_FIRST] = 0xff; // TPR: 31:8 reserved
WRITABLE_LOW[0x80f - X2APIC_MSR_FIRST] = SVR_WRITABLE; // SVR: 31:13, 11:10 reserved (bit 12: LVR bit 24 is set)
for (let i = 0; i < LVT_WRITABLE.length; i++) {
  const lint = i === 3 || i === 4; // LINT0, LINT1 carry remote IRR
  WRITABLE_LOW[0x832 + i - X2APIC_MSR_FIRST] = (LVT_WRITABLE[i] | LVT_DELIVERY_STATUS | (lint ? LVT_REMOTE_IRR : 0)) >>> 0;
}
WRITABLE_LOW[0x838 - X2APIC_MSR_FIRST] = 0xffffffff; // TMICT: 32-bit count
WRITABLE_LOW[0x83e - X2APIC_MSR_FIRST] = TDCR_WRITABLE; // TDCR: bits 0, 1, 3

/** The xAPIC MMIO offset of an x2APIC MSR. */
export function x2apicMsrToOffset(msr: number): number {
  return (msr - X2APIC_MSR_FIRST) << 4;
}

export function isX2apicMsr(msr: number): boolean {
  return msr >= X2APIC_MSR_FIRST && msr <= X2APIC_MSR_RESERVED_LAST;
}

function rights(msr: number): number {
  return msr <= X2APIC_MSR_LAST ? ACCESS[msr - X2APIC_MSR_FIRST] : 0;
}

const hexMsr = (msr: number) => '0x' + msr.toString(16);

/** RDMSR of an x2APIC MSR in x2APIC mode: #GP if the register is absent or write-only (EOI, SELF IPI). */
export function checkX2apicRead(msr: number): void {
  const r = rights(msr);
  if (r === 0) throw new GeneralProtectionFault(`RDMSR ${hexMsr(msr)}: no such x2APIC register`);
  if ((r & READ) === 0) throw new GeneralProtectionFault(`RDMSR ${hexMsr(msr)}: x2APIC register is write-only`);
}

/**
 * WRMSR of an x2APIC MSR in x2APIC mode: #GP if the register is absent or read-only, if reserved bits 63:32 are set
 * (every MSR but ICR), if ICR reserved bits 31:20, 17:16 or 13 are set, if EOI or ESR get a non-zero value, if
 * SELF IPI has a bit above 7 set, or if a reserved bit of TPR, SVR, an LVT entry or TDCR is set (SDM 10.12.1.3; see
 * {@link WRITABLE_LOW}).
 */
const U64_MAX = 0xffff_ffff_ffff_ffffn;
const U32_MAX = 0xffff_ffffn;
/**
 * Bits 31:0 of a 64-bit MSR value as a number. Values below 2^53 — every ICR write naming an x2APIC ID below 2^21 —
 * are split as doubles (ToUint32 is exact there) without making BigInts: an OS writes the ICR once per IPI,
 * thousands of times per boot.
 */
export function low32(value: bigint): number {
  const n = Number(value);
  return n <= Number.MAX_SAFE_INTEGER ? n >>> 0 : Number(value & U32_MAX);
}

/** Bits 63:32 of a 64-bit MSR value as a number (see {@link low32}). */
export function high32(value: bigint): number {
  const n = Number(value);
  return n <= Number.MAX_SAFE_INTEGER ? (n - (n >>> 0)) / 0x1_0000_0000 : Number(value >> 32n);
}

export function checkX2apicWrite(msr: number, value: bigint): void {
  const r = rights(msr);
  if (r === 0) throw new GeneralProtectionFault(`WRMSR ${hexMsr(msr)}: no such x2APIC register`);
  if ((r & WRITE) === 0) throw new GeneralProtectionFault(`WRMSR ${hexMsr(msr)}: x2APIC register is read-only`);
  if (value < 0n || value > U64_MAX) {
    throw new GeneralProtectionFault(`WRMSR ${hexMsr(msr)}: value ${value} is not a 64-bit value`);
  }
  if (msr === MSR_X2APIC_ICR) {
    const reserved = low32(value) & ICR_X2APIC_RESERVED_LO;
    if (reserved !== 0) {
      throw new GeneralProtectionFault(`WRMSR ICR: reserved bits set (0x${(reserved >>> 0).toString(16)})`);
    }
    return;
  }
  if (value > U32_MAX) throw new GeneralProtectionFault(`WRMSR ${hexMsr(msr)}: reserved bits 63:32 set`);
  if (msr === MSR_X2APIC_EOI && value !== 0n) throw new GeneralProtectionFault('WRMSR EOI: only 0 may be written');
  if (msr === MSR_X2APIC_ESR && value !== 0n) throw new GeneralProtectionFault('WRMSR ESR: only 0 may be written');
  if (msr === MSR_X2APIC_SELF_IPI && value > 0xffn) {
    throw new GeneralProtectionFault('WRMSR SELF IPI: bits 31:8 are reserved');
  }
  const writable = WRITABLE_LOW[msr - X2APIC_MSR_FIRST];
  if (writable !== 0) {
    const reserved = (Number(value) & ~writable) >>> 0;
    if (reserved !== 0) {
      throw new GeneralProtectionFault(`WRMSR ${hexMsr(msr)}: reserved bits set (0x${reserved.toString(16)})`);
    }
  }
}
