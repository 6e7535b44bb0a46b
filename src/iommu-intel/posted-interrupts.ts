/**
 * VT-d interrupt posting into a posted-interrupt descriptor (PID) in memory.
 *
 * Layout (64 bytes, 64-byte aligned), as Linux defines it in `struct pi_desc` (arch/x86/include/asm/posted_intr.h,
 * and KVM's arch/x86/kvm/vmx/posted_intr.h with per-bit comments):
 *   bits 255:0   PIR  — one request bit per vector (bytes 0..31)
 *   bit  256     ON   — outstanding notification
 *   bit  257     SN   — suppress notification
 *   bits 271:258 reserved
 *   bits 279:272 NV   — notification vector
 *   bits 287:280 reserved
 *   bits 319:288 NDST — notification destination: x2APIC mode the 32-bit APIC ID; xAPIC mode the APIC ID in
 *                       bits 15:8 (KVM writes `(dest << 8) & 0xFF00` unless x2APIC), so 7:0 and 31:16 are reserved
 *   bits 511:320 reserved
 *
 * Posting (VT-d "interrupt posting" operation): set PIR[vector]; then, if ON was clear and (SN clear or IRTE.URG
 * set), set ON and send the notification event — NV to NDST, physical, fixed, edge. A reserved bit set in the
 * descriptor is fault 0x28; a descriptor the unit cannot access is fault 0x27.
 */
import type { SparseMemory } from '../core/memory.ts';
import { DeliveryMode } from '../msi/interrupt.ts';
import type { ApicMessage } from '../msi/interrupt.ts';
import { FaultReason } from './fault-reasons.ts';

export const PID_SIZE = 64;
const CONTROL = 32; // byte offset of the ON/SN/NV dword
const NDST = 36;
const CONTROL_ON = 1 << 0;
const CONTROL_SN = 1 << 1;
/** Reserved bits in the control dword: 15:2 and 31:24. */
const CONTROL_RSVD = 0xff00fffc;
const NDST_XAPIC_RSVD = 0xffff00ff;

/** 0 when the descriptor at `addr` holds no reserved bit, else fault 0x28. */
export function pidReservedFault(memory: SparseMemory, addr: number, eime: boolean): number {
  if (memory.read32(addr + CONTROL) & CONTROL_RSVD) return FaultReason.PidReserved;
  if (!eime && memory.read32(addr + NDST) & NDST_XAPIC_RSVD) return FaultReason.PidReserved;
  for (let off = 40; off < PID_SIZE; off += 4) if (memory.read32(addr + off) !== 0) return FaultReason.PidReserved;
  return 0;
}

/** Fill `msg` with the descriptor's notification event: NV to NDST, physical, fixed, edge. Reads only. */
export function readNotificationEvent(memory: SparseMemory, addr: number, eime: boolean, msg: ApicMessage): void {
  const control = memory.read32(addr + CONTROL);
  const ndst = memory.read32(addr + NDST);
  msg.dest = eime ? ndst >>> 0 : (ndst >>> 8) & 0xff;
  msg.destWidth = eime ? 32 : 8;
  msg.destMode = 0;
  msg.deliveryMode = DeliveryMode.Fixed;
  msg.vector = (control >>> 16) & 0xff;
  msg.trigger = 0;
  msg.level = 1;
  msg.redirectionHint = 0;
}

/**
 * Post `vector` into the descriptor at `addr` (already checked for access and reserved bits) and fill `msg` with the
 * notification event. Returns true when this post set ON, i.e. the notification must be sent.
 */
export function postInterrupt(memory: SparseMemory, addr: number, vector: number, urgent: number, eime: boolean, msg: ApicMessage): boolean {
  const pirAddr = addr + ((vector >>> 5) << 2);
  memory.write32(pirAddr, memory.read32(pirAddr) | (1 << (vector & 31)));
  readNotificationEvent(memory, addr, eime, msg);
  const control = memory.read32(addr + CONTROL);
  if (control & CONTROL_ON) return false;
  if (control & CONTROL_SN && !urgent) return false;
  memory.write32(addr + CONTROL, control | CONTROL_ON);
  return true;
}
