/**
 * XT (x2APIC) interrupt control registers: 0x170 event log (and completion wait), 0x178 PPR log, 0x180 GA log
 * (AMD IOMMU spec §3.4; Linux union intcapxt, Xen, FreeBSD, VBox). Used for the IOMMU's own interrupts when
 * Control.IntCapXTEn = 1, "replacing the legacy MSI capability registers" (OpenVMM amd_iommu, on spec §3.4.13).
 *
 *   [2] DestMode (0 physical, 1 logical)   [31:8] Destination[23:0]   [39:32] Vector
 *   [40] IntType ("DM" in spec 3.04 per Xen; Xen fills it from the MSI delivery mode, i.e. 0 fixed, 1 lowest
 *        priority — the exact meaning is UNCONFIRMED, so that reading is used here)
 *   [63:56] Destination[31:24]
 */
import type { ApicMessage } from '../msi/interrupt.ts';

/** Decode an XT interrupt control register (given as its two dwords) into `out`: a 32-bit-destination message. */
export function decodeXtInterruptControl(lo: number, hi: number, out: ApicMessage): ApicMessage {
  out.dest = (((lo >>> 8) & 0xffffff) | ((hi >>> 24) << 24)) >>> 0;
  out.destWidth = 32;
  out.destMode = (lo >>> 2) & 1;
  out.vector = hi & 0xff;
  out.deliveryMode = (hi >>> 8) & 1;
  out.trigger = 0;
  out.level = 1;
  out.redirectionHint = 0;
  return out;
}

/** Compose a register value (for tests and drivers): the inverse of {@link decodeXtInterruptControl}. */
export function composeXtInterruptControl(dest: number, vector: number, destMode = 0, intType = 0): bigint {
  const lo = ((((dest & 0xffffff) << 8) | ((destMode & 1) << 2)) >>> 0);
  const hi = (((dest >>> 24) << 24) | ((intType & 1) << 8) | (vector & 0xff)) >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}
