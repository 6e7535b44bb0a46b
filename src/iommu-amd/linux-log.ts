/**
 * Event-log entries formatted the way Linux prints them (drivers/iommu/amd/iommu.c, iommu_print_event and
 * amd_iommu_report_page_fault, current multi-segment formats), so a user can put irqpath's output
 * next to a real guest's dmesg.
 *
 * - IO_PAGE_FAULT for a device Linux does not know (always the case here: irqpath has no driver model):
 *   pr_err "AMD-Vi: Event logged [IO_PAGE_FAULT device=%04x:%02x:%02x.%x domain=0x%04x address=0x%llx flags=0x%04x]"
 * - Everything else is dev_err() on the IOMMU's own device ("iommu ivhd0: AMD-Vi: Event logged [...]").
 * - Unknown codes (including EVENT_COUNTER_ZERO and the SNP RMP events, which Linux formats from other fields)
 *   print the UNKNOWN line, which in Linux lacks the closing bracket.
 *
 * Style 'pre-segment' gives the format of kernels before multi-segment support ("device=%02x:%02x.%x", before
 * Linux 6.0: `amdViDeviceStyle` in core/linux-version.ts picks the style for a kernel version).
 */
import { decodeEvent, type AmdEvent } from './event-log.ts';
import { EventCode } from './event-codes.ts';
import { UsageError } from '../core/errors.ts';

export interface LinuxLogOptions {
  style?: 'current' | 'pre-segment';
  /** Device name Linux prefixes dev_err() lines with (default "iommu ivhd0"). */
  iommuDevice?: string;
  /** PCI segment (default 0). */
  segment?: number;
}

const hex = (v: number | bigint, width = 0): string => v.toString(16).padStart(width, '0');

function device(devid: number, opts: LinuxLogOptions): string {
  const bdf = `${hex((devid >> 8) & 0xff, 2)}:${hex((devid >> 3) & 0x1f, 2)}.${devid & 7}`;
  return opts.style === 'pre-segment' ? bdf : `${hex(opts.segment ?? 0, 4)}:${bdf}`;
}

/** Format one decoded entry as Linux prints it (without the kernel timestamp). */
export function formatLinuxEvent(ev: AmdEvent, opts: LinuxLogOptions = {}): string {
  const dev = (): string => device(ev.deviceId, opts);
  const addr = '0x' + hex(ev.address);
  const flags = '0x' + hex(ev.flags, 4);
  const onIommu = (body: string): string => `${opts.iommuDevice ?? 'iommu ivhd0'}: AMD-Vi: Event logged [${body}`;
  switch (ev.code) {
    case 0:
      // Erratum 732/733: Linux polls for a non-zero code and then gives up.
      return 'AMD-Vi: No event written to event log';
    case EventCode.IO_PAGE_FAULT:
      return `AMD-Vi: Event logged [IO_PAGE_FAULT device=${dev()} domain=0x${hex(ev.pasid & 0xffff, 4)} address=${addr} flags=${flags}]`;
    case EventCode.ILLEGAL_DEV_TABLE_ENTRY:
      return onIommu(`ILLEGAL_DEV_TABLE_ENTRY device=${dev()} pasid=0x${hex(ev.pasid, 5)} address=${addr} flags=${flags}]`);
    case EventCode.DEV_TAB_HARDWARE_ERROR:
      return onIommu(`DEV_TAB_HARDWARE_ERROR device=${dev()} address=${addr} flags=${flags}]`);
    case EventCode.PAGE_TAB_HARDWARE_ERROR:
      return onIommu(`PAGE_TAB_HARDWARE_ERROR device=${dev()} pasid=0x${hex(ev.pasid, 4)} address=${addr} flags=${flags}]`);
    case EventCode.ILLEGAL_COMMAND_ERROR:
      return onIommu(`ILLEGAL_COMMAND_ERROR address=${addr}]`);
    case EventCode.COMMAND_HARDWARE_ERROR:
      return onIommu(`COMMAND_HARDWARE_ERROR address=${addr} flags=${flags}]`);
    case EventCode.IOTLB_INV_TIMEOUT:
      return onIommu(`IOTLB_INV_TIMEOUT device=${dev()} address=${addr}]`);
    case EventCode.INVALID_DEVICE_REQUEST:
      return onIommu(`INVALID_DEVICE_REQUEST device=${dev()} pasid=0x${hex(ev.pasid, 5)} address=${addr} flags=${flags}]`);
    default: {
      const words = rawWords(ev);
      return onIommu(
        `UNKNOWN event[0]=0x${hex(words[0], 8)} event[1]=0x${hex(words[1], 8)} event[2]=0x${hex(words[2], 8)} event[3]=0x${hex(words[3], 8)}`,
      );
    }
  }
}

function rawWords(ev: AmdEvent): number[] {
  return [
    ((ev.deviceId & 0xffff) | (((ev.pasid >>> 16) & 0xf) << 16)) >>> 0,
    ((ev.pasid & 0xffff) | ((ev.flags & 0xfff) << 16) | ((ev.code & 0xf) << 28)) >>> 0,
    Number(ev.address & 0xffff_ffffn),
    Number((ev.address >> 32n) & 0xffff_ffffn),
  ];
}

/**
 * Decode a raw 128-bit entry read from guest memory (four little-endian dwords, or the low and high qwords) and
 * format it the Linux way. INVALID_PPR_REQUEST also needs dword values Linux reads separately (tag = dword1[9:0],
 * PASID from the first qword), so it is formatted here rather than from the decoded fields.
 */
export function formatRawEventEntry(entry: ArrayLike<number> | readonly [bigint, bigint], opts: LinuxLogOptions = {}): string {
  const words = toWords(entry);
  const ev = decodeEvent(words);
  if (ev.code === EventCode.INVALID_PPR_REQUEST) {
    // Linux takes the PASID with its PPR_PASID() macro on the first qword; its exact bit split is not confirmed
    // here, so the generic DeviceID/PASID split is used here (UNCONFIRMED for this one event type).
    const pasid = ev.pasid;
    const tag = words[1] & 0x3ff;
    const addr = (BigInt(words[3]) << 32n) | BigInt(words[2]);
    return `${opts.iommuDevice ?? 'iommu ivhd0'}: AMD-Vi: Event logged [INVALID_PPR_REQUEST device=${device(ev.deviceId, opts)} pasid=0x${hex(pasid, 5)} address=0x${hex(addr)} flags=0x${hex(ev.flags, 4)} tag=0x${hex(tag, 3)}]`;
  }
  return formatLinuxEvent(ev, opts);
}

function toWords(entry: ArrayLike<number> | readonly [bigint, bigint]): number[] {
  if (entry.length === 2 && typeof entry[0] === 'bigint') {
    const [lo, hi] = entry as readonly [bigint, bigint];
    return [Number(lo & 0xffff_ffffn), Number((lo >> 32n) & 0xffff_ffffn), Number(hi & 0xffff_ffffn), Number((hi >> 32n) & 0xffff_ffffn)];
  }
  const w = entry as ArrayLike<number>;
  if (w.length !== 4) throw new UsageError(`an AMD-Vi event-log entry is 4 dwords (128 bits), got ${w.length} values`);
  return [w[0] >>> 0, w[1] >>> 0, w[2] >>> 0, w[3] >>> 0];
}
