/**
 * Interrupt Remapping Table Entry (128 bits, VT-d spec §9.10), read as four little-endian dwords:
 * w0 = bits 31:0, w1 = 63:32, w2 = 95:64, w3 = 127:96. Pure bit readers: no allocation, safe on the hot path.
 *
 * Remapped format (IM = 0): P 0, FPD 1, DM 2, RH 3, TM 4, DLM 7:5, AVAIL 11:8, rsvd 14:12, IM 15, V 23:16,
 * rsvd 31:24, DST 63:32, SID 79:64, SQ 81:80, SVT 83:82, rsvd 127:84.
 * Posted format (IM = 1, Linux `struct irte`): P 0, FPD 1, rsvd 7:2, AVAIL 11:8, rsvd 13:12, URG 14, IM 15, V 23:16,
 * rsvd 37:24, PDA[31:6] 63:38, SID/SQ/SVT as above, rsvd 95:84, PDA[63:32] 127:96.
 */
import { FaultReason } from './fault-reasons.ts';

export const IRTE_SIZE = 16;


/** Remapped format, w0: bits 14:12 and 31:24. */
export const IRTE_REMAPPED_W0_RSVD = 0xff007000;
/** xAPIC mode (IRTA.EIME = 0): DST 39:32 and 63:48 are reserved, only 47:40 hold the APIC ID (VBox checks, QEMU does not). */
export const IRTE_XAPIC_W1_RSVD = 0xffff00ff;
/** w2: bits 95:84 reserved in both formats. */
export const IRTE_W2_RSVD = 0xfff00000;
/** Remapped format: bits 127:96 reserved. */
export const IRTE_REMAPPED_W3_RSVD = 0xffffffff;
/** Posted format, w0: bits 7:2, 13:12 and 31:24 (the low part of 37:24). */
export const IRTE_POSTED_W0_RSVD = 0xff0030fc;
/** Posted format, w1: bits 37:32 (the high part of 37:24); 63:38 are PDA[31:6]. */
export const IRTE_POSTED_W1_RSVD = 0x0000003f;

export const irtePresent = (w0: number): number => w0 & 1;
export const irteFpd = (w0: number): number => (w0 >>> 1) & 1;
export const irteDestMode = (w0: number): number => (w0 >>> 2) & 1;
export const irteRedirectionHint = (w0: number): number => (w0 >>> 3) & 1;
export const irteTrigger = (w0: number): number => (w0 >>> 4) & 1;
export const irteDeliveryMode = (w0: number): number => (w0 >>> 5) & 7;
export const irteUrgent = (w0: number): number => (w0 >>> 14) & 1;
export const irteMode = (w0: number): number => (w0 >>> 15) & 1;
export const irteVector = (w0: number): number => (w0 >>> 16) & 0xff;
export const irteSid = (w2: number): number => w2 & 0xffff;
export const irteSq = (w2: number): number => (w2 >>> 16) & 3;
export const irteSvt = (w2: number): number => (w2 >>> 18) & 3;

/** Destination APIC ID: the whole DST in x2APIC mode, DST bits 15:8 (IRTE 47:40) in xAPIC mode. */
export function irteDestination(w1: number, eime: boolean): number {
  return eime ? w1 >>> 0 : (w1 >>> 8) & 0xff;
}

/** Posted-interrupt descriptor address: PDA_H (127:96) : PDA_L (63:38) << 6. */
export function irtePostedDescriptor(w1: number, w3: number): number {
  return (w3 >>> 0) * 0x1_0000_0000 + ((w1 & 0xffffffc0) >>> 0);
}

/**
 * Fault 0x24 check for a present IRTE: returns 0 when the entry is well formed, else FaultReason.IrteReserved.
 * IM = 1 is itself reserved unless CAP.PI (VBox "Irte_Mode_Invalid"; QEMU skips this and treats it as remapped).
 */
export function irteReservedFault(w0: number, w1: number, w2: number, w3: number, eime: boolean, postingSupported: boolean): number {
  if (w2 & IRTE_W2_RSVD) return FaultReason.IrteReserved;
  if (irteMode(w0)) {
    if (!postingSupported) return FaultReason.IrteReserved;
    if (w0 & IRTE_POSTED_W0_RSVD || w1 & IRTE_POSTED_W1_RSVD) return FaultReason.IrteReserved;
    return 0;
  }
  if (w0 & IRTE_REMAPPED_W0_RSVD || w3 & IRTE_REMAPPED_W3_RSVD) return FaultReason.IrteReserved;
  if (!eime && w1 & IRTE_XAPIC_W1_RSVD) return FaultReason.IrteReserved;
  return 0;
}

/** Fields of an IRTE for reports and events (allocates: not for the hot path). */
export function describeIrte(w0: number, w1: number, w2: number, w3: number, eime: boolean): Record<string, number | string> {
  const common = { present: irtePresent(w0), fpd: irteFpd(w0), mode: irteMode(w0), vector: irteVector(w0), sid: irteSid(w2), sq: irteSq(w2), svt: irteSvt(w2) };
  if (irteMode(w0)) return { ...common, urgent: irteUrgent(w0), pda: '0x' + irtePostedDescriptor(w1, w3).toString(16) };
  return {
    ...common,
    destMode: irteDestMode(w0),
    redirectionHint: irteRedirectionHint(w0),
    trigger: irteTrigger(w0),
    deliveryMode: irteDeliveryMode(w0),
    dest: irteDestination(w1, eime),
  };
}
