/**
 * The message QEMU's x86 IOMMUs hand to the APIC after remapping (hw/i386/x86-iommu.c `x86_iommu_irq_to_msi_message`),
 * printed in their `vtd_ir_remap_msi` / `amdvi_ir_remap_msi` trace lines. It is the KVM x2APIC API layout
 * (kvm-x2apic-api.ts): destination 7:0 in address 19:12, destination 31:8 in address 63:40, DM in bit 2, RH in bit 3,
 * address bits 1:0 kept from the request; data = vector | delivery mode << 8 | level (always 1) << 14 | trigger << 15.
 * Only built for traces, never on the delivery path.
 */
import type { ApicMessage } from './interrupt.ts';

export function qemuRemappedMessage(msg: ApicMessage, requestAddrLo: number): { addr: bigint; data: number } {
  const dest = msg.dest >>> 0;
  const lo = (0xfee00000 | ((dest & 0xff) << 12) | ((msg.redirectionHint & 1) << 3) | ((msg.destMode & 1) << 2) | (requestAddrLo & 3)) >>> 0;
  const hi = (dest & 0xffffff00) >>> 0;
  const data = ((msg.vector & 0xff) | ((msg.deliveryMode & 7) << 8) | (1 << 14) | ((msg.trigger & 1) << 15)) >>> 0;
  return { addr: (BigInt(hi) << 32n) | BigInt(lo), data };
}
