/**
 * Fault records formatted exactly as Linux's DMAR fault handler prints them (drivers/iommu/intel/dmar.c
 * `dmar_fault_do_one`), in the three formats kernels have used (core/linux-version.ts `dmarFaultStyle`):
 * up to 5.13 index and address without 0x and the reason in decimal; 5.14 everything with 0x, bus and device too;
 * 5.15 onwards (the default) bus and device without 0x again. The "DMAR: " prefix is Linux's pr_fmt. Users compare
 * these lines with a real host's or guest's dmesg.
 */
import { formatBdf } from '../core/bdf.ts';
import type { DmarFaultStyle } from '../core/linux-version.ts';
import { linuxReasonString } from './fault-reasons.ts';

function hex2(v: number): string {
  return v.toString(16).padStart(2, '0');
}

/**
 * One record: `DMAR: [INTR-REMAP] Request device [bb:dd.f] fault index 0x.. [fault reason 0x..] <reason>`.
 * Reasons Linux does not know as INTR-REMAP (0x27, 0x28) fall through to its DMA line with the FI field as the
 * address, T = 0 ("DMA Write") and no PASID, and the reason "Unknown" — what a real kernel prints for them.
 */
export function linuxFaultLine(sourceId: number, reason: number, index: number, style: DmarFaultStyle = 'current'): string {
  const { text, intrRemap } = linuxReasonString(reason);
  const addr = BigInt(index & 0xffff) << 48n;
  if (style === 'decimal') {
    // "%llx" and "%02d": no 0x, reason in decimal (0x25 prints as 37). These kernels print the DMA line with
    // "PASID %x" and INVALID_IOASID (0xffffffff) when the record has no PASID.
    const reasonDec = reason.toString(10).padStart(2, '0');
    if (intrRemap) return `DMAR: [INTR-REMAP] Request device [${formatBdf(sourceId)}] fault index ${index.toString(16)} [fault reason ${reasonDec}] ${text}`;
    return `DMAR: [DMA Write] Request device [${formatBdf(sourceId)}] PASID ffffffff fault addr ${addr.toString(16)} [fault reason ${reasonDec}] ${text}`;
  }
  const device = style === 'hex-bdf' ? linuxHexBdf(sourceId) : formatBdf(sourceId);
  if (intrRemap) {
    return `DMAR: [INTR-REMAP] Request device [${device}] fault index 0x${index.toString(16)} [fault reason 0x${hex2(reason)}] ${text}`;
  }
  return `DMAR: [DMA Write NO_PASID] Request device [${device}] fault addr 0x${addr.toString(16)} [fault reason 0x${hex2(reason)}] ${text}`;
}

/** Linux 5.14's "[0x%02x:0x%02x.%d]": bus and device with 0x, function plain. */
export function linuxHexBdf(sourceId: number): string {
  return `0x${hex2((sourceId >> 8) & 0xff)}:0x${hex2((sourceId >> 3) & 0x1f)}.${sourceId & 7}`;
}

/**
 * A DMA-remapping fault as `dmar_fault_do_one` prints it. `addr` is the recorded page address (FI, bits 63:12);
 * `pasid` is given when the record has PP = 1.
 * - 'current' (5.15 on): `DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x12345000 [fault reason 0x06]
 *   PTE Read access is not set`, or `[DMA Write PASID 0x5]`;
 * - 'hex-bdf' (5.14): the same with `[0x03:0x00.0]`;
 * - 'decimal' (up to 5.13): `DMAR: [DMA Read] Request device [03:00.0] PASID ffffffff fault addr 12345000 [fault
 *   reason 06] ...` — the PASID printed with %x, INVALID_IOASID (0xffffffff) when the record has none.
 */
export function linuxDmaFaultLine(sourceId: number, reason: number, addr: bigint, isRead: boolean, pasid?: number, style: DmarFaultStyle = 'current'): string {
  const { text } = linuxReasonString(reason);
  const kind = isRead ? 'DMA Read' : 'DMA Write';
  if (style === 'decimal') {
    const reasonDec = reason.toString(10).padStart(2, '0');
    return `DMAR: [${kind}] Request device [${formatBdf(sourceId)}] PASID ${(pasid ?? 0xffffffff).toString(16)} fault addr ${addr.toString(16)} [fault reason ${reasonDec}] ${text}`;
  }
  const device = style === 'hex-bdf' ? linuxHexBdf(sourceId) : formatBdf(sourceId);
  const tag = pasid === undefined ? `${kind} NO_PASID` : `${kind} PASID 0x${pasid.toString(16)}`;
  return `DMAR: [${tag}] Request device [${device}] fault addr 0x${addr.toString(16)} [fault reason 0x${hex2(reason)}] ${text}`;
}

/**
 * Any fault recording register (VT-d spec §10.4.14 FRCD_REG: high qword F 63, T 62, PV 59:40, FR 39:32, PP 31,
 * SID 15:0; low qword FI 63:12) as Linux's `dmar_fault` loop decodes and prints it: interrupt reasons (0x20–0x26) as
 * INTR-REMAP with the index FI >> 48, everything else as a DMA line with the request type from T, PASID from PP/PV
 * and the page address from FI.
 */
export function linuxFrcdLine(hi: bigint, lo: bigint, style: DmarFaultStyle = 'current'): string {
  const sid = Number(hi & 0xffffn);
  const reason = Number((hi >> 32n) & 0xffn);
  const fi = lo & ~0xfffn & 0xffff_ffff_ffff_ffffn;
  if (linuxReasonString(reason).intrRemap) return linuxFaultLine(sid, reason, Number(fi >> 48n), style);
  const isRead = ((hi >> 62n) & 1n) === 1n;
  const pasidPresent = ((hi >> 31n) & 1n) === 1n;
  const pasid = Number((hi >> 40n) & 0xfffffn);
  return linuxDmaFaultLine(sid, reason, fi, isRead, pasidPresent ? pasid : undefined, style);
}

/** The line Linux prints once per fault interrupt before walking the records (`dmar_fault`). */
export function linuxFaultStatusLine(fsts: number): string {
  return `DMAR: DRHD: handling fault status reg ${(fsts >>> 0).toString(16)}`;
}
