/**
 * The guest vAPIC backing page as the IOMMU touches it when it posts an interrupt (IRTE GuestMode = 1): the page is
 * the 4 KiB virtual APIC register page of AVIC (APM vol. 2 §15.29), addressed by the IRTE's GA Root Ptr. The IOMMU
 * sets the guest vector's bit in the IRR: 256 bits at offset 0x200, eight 32-bit registers at a 16-byte stride, as in
 * the xAPIC register layout (SDM 11.8.4). KVM reads it back on VM entry / avic_vcpu_load through the same layout.
 */
import type { SparseMemory } from '../core/memory.ts';
import { drainVectorBitmap } from '../core/vector-bitmap.ts';

export const VAPIC_IRR_OFFSET = 0x200;
export const VAPIC_REG_STRIDE = 16;

/** Address of the IRR register that holds `vector`'s bit. */
export function vapicIrrWordAddress(backingPage: number, vector: number): number {
  return backingPage + VAPIC_IRR_OFFSET + (vector >>> 5) * VAPIC_REG_STRIDE;
}

/** Set `vector` in the IRR of the backing page (a locked read-modify-write in hardware). Throws outside memory. */
export function setVapicIrr(memory: SparseMemory, backingPage: number, vector: number): void {
  const at = vapicIrrWordAddress(backingPage, vector);
  memory.write32(at, (memory.read32(at) | (1 << (vector & 31))) >>> 0);
}

/**
 * Move every IRR bit of the backing page into a LAPIC (`deliver(vector)`), clearing them; how many moved. What KVM's
 * AVIC does with interrupts the IOMMU posted while the vCPU was away, at the next VM entry. Allocation-free.
 */
export function drainVapicIrr(memory: SparseMemory, backingPage: number, deliver: (vector: number) => void): number {
  return drainVectorBitmap(memory, backingPage + VAPIC_IRR_OFFSET, VAPIC_REG_STRIDE, deliver);
}

