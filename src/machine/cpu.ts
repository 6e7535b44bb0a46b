/**
 * A CPU as software sees it: loads and stores to physical addresses (its own local APIC page first, then the
 * machine's address decoder), RDMSR/WRMSR, and the INTA cycle. Nothing here interprets an address except the local
 * APIC page, which is private to each CPU on real hardware.
 */
import type { Lapic } from '../apic/lapic.ts';
import type { AddressSpace } from './address-space.ts';
import { GeneralProtectionFault, showValue, UsageError } from '../core/errors.ts';
import type { SparseMemory } from '../core/memory.ts';
import type { AccessSize } from '../core/mmio.ts';
import type { IoPortSpace } from './io-ports.ts';
import { tscAt } from '../apic/lapic-timer.ts';
import type { SimClock } from '../core/sim-clock.ts';

const LAPIC_PAGE = 0x1000;
const IA32_APIC_BASE = 0x1b;
const X2APIC_MSR_FIRST = 0x800;
const X2APIC_MSR_LAST = 0xbff;
const IA32_TIME_STAMP_COUNTER = 0x10;
const IA32_TSC_DEADLINE = 0x6e0;

/** What a CPU reaches outside its LAPIC and the memory bus: I/O ports, the 8259's INTA cycle, the clock. */
export interface CpuPlatform {
  ports: IoPortSpace;
  /** The INTA cycle on the system bus: the 8259 pair answers with a vector. */
  interruptAcknowledge(): number;
  clock: SimClock;
  tscHz: number;
}

export type Address = bigint | number;

export function toPhysical(addr: Address, what = 'address'): number {
  if (typeof addr === 'bigint') {
    if (addr < 0n || addr >= 1n << 52n) throw new UsageError(`${what} ${showValue(addr)} is outside the 52-bit physical address space`);
    return Number(addr);
  }
  if (typeof addr !== 'number' || !Number.isInteger(addr) || addr < 0 || addr >= 2 ** 52) {
    throw new UsageError(`${what} ${showValue(addr)} is not a physical address (an integer or bigint below 2^52)`);
  }
  return addr;
}

/** A register value given as a number (a non-negative safe integer) or a bigint, checked to fit `bits`. */
function toUnsigned(value: number | bigint, bits: number, what: string): bigint {
  let v: bigint | null = null;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  if (v === null || v < 0n || v >= 1n << BigInt(bits)) throw new UsageError(`${what} ${showValue(value)} does not fit in ${bits} bits`);
  return v;
}

function toU32(value: number | bigint, what: string): number {
  // The common case (a number already in range) without a BigInt round trip.
  if (typeof value === 'number' && value >= 0 && value <= 0xffff_ffff && Number.isInteger(value)) return value;
  return Number(toUnsigned(value, 32, what));
}

function toU64(value: number | bigint, what: string): bigint {
  return toUnsigned(value, 64, what);
}

/** ECX of RDMSR/WRMSR: a 32-bit MSR index. */
function msrIndex(msr: number, op: string): number {
  if (typeof msr !== 'number' || !Number.isInteger(msr) || msr < 0 || msr > 0xffffffff) throw new UsageError(`${op}: MSR index ${showValue(msr)} is not a 32-bit integer`);
  return msr;
}

export class Cpu {
  constructor(
    /** Index in the machine (cpu(i)). */
    readonly index: number,
    /** This CPU's local APIC. */
    readonly lapic: Lapic,
    private readonly space: AddressSpace,
    private readonly memory: SparseMemory,
    private readonly platform: CpuPlatform,
  ) {}

  // --- I/O ports ---------------------------------------------------------------------------------------------------

  /** IN AL, DX. */
  in8(port: number): number {
    return this.platform.ports.read(port, 1);
  }

  /** OUT DX, AL. */
  out8(port: number, value: number): void {
    this.platform.ports.write(port, 1, value);
  }

  in16(port: number): number {
    return this.platform.ports.read(port, 2);
  }

  out16(port: number, value: number): void {
    this.platform.ports.write(port, 2, value);
  }

  in32(port: number): number {
    return this.platform.ports.read(port, 4);
  }

  out32(port: number, value: number): void {
    this.platform.ports.write(port, 4, value);
  }

  /** RDTSC: the time-stamp counter at the machine's simulated time. */
  rdtsc(): bigint {
    return tscAt(this.platform.clock.now, this.platform.tscHz);
  }

  /** The CPU's initial APIC ID (x2APIC ID; the xAPIC ID register holds its low 8 bits at reset). */
  get apicId(): number {
    return this.lapic.initialApicId;
  }

  get runState(): 'running' | 'wait-for-sipi' {
    return this.lapic.runState;
  }

  /**
   * Where an access lands. The local APIC page is decoded only while the APIC is in xAPIC mode; in x2APIC mode or
   * hardware-disabled, the page reads all ones and drops writes (KVM's LAPIC_MMIO_HOLE behaviour, which
   * kvm-unit-tests verify_disabled_apic_mmio expects).
   */
  private access(addr: number, size: AccessSize, write: boolean, value: bigint): bigint {
    if (addr % size !== 0) throw new UsageError(`a ${size}-byte access at 0x${addr.toString(16)} is not naturally aligned`);
    const lapic = this.lapic;
    const base = lapic.baseAddress;
    if (addr >= base && addr < base + LAPIC_PAGE) {
      if (lapic.mode !== 'xapic') return write ? 0n : (1n << BigInt(8 * size)) - 1n;
      if (write) {
        lapic.write(addr - base, size, value);
        return 0n;
      }
      return lapic.read(addr - base, size);
    }
    const region = this.space.find(addr, size);
    if (region !== null) {
      if (write) {
        region.device.write(addr - region.base, size, value);
        return 0n;
      }
      return region.device.read(addr - region.base, size);
    }
    if (write) {
      if (size === 8) this.memory.write64(addr, value);
      else if (size === 4) this.memory.write32(addr, Number(value));
      else for (let i = 0; i < size; i++) this.memory.write8(addr + i, Number((value >> BigInt(8 * i)) & 0xffn));
      return 0n;
    }
    if (size === 8) return this.memory.read64(addr);
    if (size === 4) return BigInt(this.memory.read32(addr));
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.memory.read8(addr + i));
    return v;
  }

  read32(addr: Address): number {
    return Number(this.access(toPhysical(addr), 4, false, 0n));
  }

  write32(addr: Address, value: number | bigint): void {
    this.access(toPhysical(addr), 4, true, BigInt(toU32(value, 'value')));
  }

  read64(addr: Address): bigint {
    return this.access(toPhysical(addr), 8, false, 0n);
  }

  write64(addr: Address, value: number | bigint): void {
    this.access(toPhysical(addr), 8, true, toU64(value, 'value'));
  }

  read8(addr: Address): number {
    return Number(this.access(toPhysical(addr), 1, false, 0n));
  }

  write8(addr: Address, value: number): void {
    this.access(toPhysical(addr), 1, true, toUnsigned(value, 8, 'value'));
  }

  /** RDMSR. IA32_APIC_BASE and the x2APIC range go to the local APIC; any other MSR is not modelled and raises #GP. */
  rdmsr(msr: number): bigint {
    msrIndex(msr, 'RDMSR');
    if (msr === IA32_APIC_BASE || msr === IA32_TSC_DEADLINE || (msr >= X2APIC_MSR_FIRST && msr <= X2APIC_MSR_LAST)) return this.lapic.rdmsr(msr);
    if (msr === IA32_TIME_STAMP_COUNTER) return this.rdtsc();
    throw new GeneralProtectionFault(`RDMSR 0x${msr.toString(16)}: MSR not implemented by this machine`);
  }

  wrmsr(msr: number, value: number | bigint): void {
    msrIndex(msr, 'WRMSR');
    // The common case checked inline; the message (with the MSR's number) is made only for a bad value.
    const v = typeof value === 'bigint' && value >= 0n && value <= 0xffff_ffff_ffff_ffffn ? value : toU64(value, `WRMSR 0x${msr.toString(16)} value`);
    if (msr === IA32_APIC_BASE || msr === IA32_TSC_DEADLINE || (msr >= X2APIC_MSR_FIRST && msr <= X2APIC_MSR_LAST)) return this.lapic.wrmsr(msr, v);
    throw new GeneralProtectionFault(`WRMSR 0x${msr.toString(16)}: MSR not implemented by this machine`);
  }

  /** INTA: the highest deliverable IRR vector moves to ISR and is returned; null when nothing is deliverable. */
  acknowledge(): number | null {
    return this.lapic.acknowledge();
  }

  /**
   * The interrupt acknowledge of an ExtINT: when the LAPIC holds one (LINT0 in virtual-wire mode, or an ExtINT
   * message from the I/O APIC), the CPU runs the INTA cycle on the system bus and the 8259 pair supplies the vector
   * (SDM 10.6.2.x "ExtINT": "the processor ... obtain the vector from the external controller"). null when no
   * ExtINT is pending. Software that takes interrupts checks this before {@link acknowledge}.
   */
  acknowledgeExtInt(): number | null {
    if (!this.lapic.run.extIntPending) return null;
    this.lapic.run.extIntPending = false;
    const vector = this.platform.interruptAcknowledge();
    this.lapic.extIntAcknowledged();
    return vector;
  }
}
