/**
 * Fault records formatted exactly as Linux's DMAR fault handler prints them (drivers/iommu/intel/dmar.c
 * `dmar_fault_do_one`, format of Sep 2021 onwards: no "0x" before bus/device, reason in hex). The "DMAR: " prefix is
 * Linux's pr_fmt. Users compare these lines with a real guest's dmesg.
 */
import { formatBdf } from '../core/bdf.ts';
import { linuxReasonString } from './fault-reasons.ts';

function hex2(v: number): string {
  return v.toString(16).padStart(2, '0');
}

/**
 * One record: `DMAR: [INTR-REMAP] Request device [bb:dd.f] fault index 0x.. [fault reason 0x..] <reason>`.
 * Reasons Linux does not know as INTR-REMAP (0x27, 0x28) fall through to its DMA line with the FI field as the
 * address, T = 0 ("DMA Write") and no PASID, and the reason "Unknown" — what a real kernel prints for them.
 */
export function linuxFaultLine(sourceId: number, reason: number, index: number): string {
  const { text, intrRemap } = linuxReasonString(reason);
  if (intrRemap) {
    return `DMAR: [INTR-REMAP] Request device [${formatBdf(sourceId)}] fault index 0x${index.toString(16)} [fault reason 0x${hex2(reason)}] ${text}`;
  }
  const addr = BigInt(index & 0xffff) << 48n;
  return `DMAR: [DMA Write NO_PASID] Request device [${formatBdf(sourceId)}] fault addr 0x${addr.toString(16)} [fault reason 0x${hex2(reason)}] ${text}`;
}

/** The line Linux prints once per fault interrupt before walking the records (`dmar_fault`). */
export function linuxFaultStatusLine(fsts: number): string {
  return `DMAR: DRHD: handling fault status reg ${(fsts >>> 0).toString(16)}`;
}
