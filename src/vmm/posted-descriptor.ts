/**
 * KVM's side of VT-d posted interrupts: one posted-interrupt descriptor (PID) per vCPU in host memory, and what KVM
 * does with it as the vCPU is scheduled (arch/x86/kvm/vmx/posted_intr.c):
 * - `vmx_vcpu_pi_load` (vCPU about to run on a host CPU): NDST = that CPU's APIC ID, NV = POSTED_INTR_VECTOR, SN = 0;
 * - `pi_enable_wakeup_handler` (vCPU blocks): NV = POSTED_INTR_WAKEUP_VECTOR, so a posted interrupt wakes it;
 * - `vmx_sync_pir_to_irr` (VM entry): if ON, clear it and move every PIR bit into the virtual APIC's IRR.
 * While the vCPU runs in guest mode, the CPU itself processes the notification (SDM 29.6 "posted-interrupt
 * processing"): clear ON, PIR → VIRR, EOI the notification — no VM exit.
 *
 * Layout (VT-d 9.11, Linux struct pi_desc): PIR bytes 0..31; dword 32: ON bit 0, SN bit 1, NV bits 23:16; dword 36:
 * NDST (x2APIC: the 32-bit APIC ID; xAPIC: the APIC ID in bits 15:8).
 */
import type { SparseMemory } from '../core/memory.ts';
import { drainVectorBitmap } from '../core/vector-bitmap.ts';

/** arch/x86/include/asm/irq_vectors.h. */
export const POSTED_INTR_VECTOR = 0xf2;
export const POSTED_INTR_WAKEUP_VECTOR = 0xf1;

const CONTROL = 32;
const NDST = 36;
const ON = 1;
const SN = 2;
const PIR_WORDS = 8;

export class PostedDescriptor {
  constructor(
    private readonly memory: SparseMemory,
    /** Host physical address, 64-byte aligned. */
    readonly address: number,
  ) {}

  /** vmx_vcpu_pi_load / pi_enable_wakeup_handler: point notifications at `apicId` with vector `nv`. */
  program(apicId: number, x2apic: boolean, nv: number): void {
    const control = this.memory.read32(this.address + CONTROL);
    this.memory.write32(this.address + CONTROL, ((control & 0xff00ffff & ~2) | (nv << 16)) >>> 0);
    this.memory.write32(this.address + NDST, x2apic ? apicId >>> 0 : (apicId & 0xff) << 8);
  }

  /** pi_set_sn / pi_clear_sn: suppress notifications (a preempted vCPU) or allow them. */
  setSuppressed(sn: boolean): void {
    const control = this.memory.read32(this.address + CONTROL);
    this.memory.write32(this.address + CONTROL, (sn ? control | SN : control & ~SN) >>> 0);
  }

  get suppressed(): boolean {
    return (this.memory.read32(this.address + CONTROL) & SN) !== 0;
  }

  /** pi_set_on. */
  setOutstanding(): void {
    this.memory.write32(this.address + CONTROL, (this.memory.read32(this.address + CONTROL) | ON) >>> 0);
  }

  /** NDST as KVM wrote it (x2APIC: the APIC ID; xAPIC: the APIC ID in bits 15:8). */
  get notificationDestination(): number {
    return this.memory.read32(this.address + NDST) >>> 0;
  }

  get outstanding(): boolean {
    return (this.memory.read32(this.address + CONTROL) & ON) !== 0;
  }

  get notificationVector(): number {
    return (this.memory.read32(this.address + CONTROL) >>> 16) & 0xff;
  }

  /** True when any PIR bit is set. */
  hasPending(): boolean {
    for (let w = 0; w < PIR_WORDS; w++) if (this.memory.read32(this.address + 4 * w) !== 0) return true;
    return false;
  }

  /**
   * Clear ON and hand every PIR bit to `deliver` (the vCPU's virtual APIC IRR), clearing PIR. Returns how many
   * vectors moved. Allocation-free.
   */
  drain(deliver: (vector: number) => void): number {
    const control = this.memory.read32(this.address + CONTROL);
    this.memory.write32(this.address + CONTROL, (control & ~ON) >>> 0);
    return drainVectorBitmap(this.memory, this.address, 4, deliver);
  }
}
