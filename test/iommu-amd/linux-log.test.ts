/**
 * Linux's event-log lines (drivers/iommu/amd/iommu.c iommu_print_event / amd_iommu_report_page_fault, current
 * formats). Raw entries are built by hand from the event layout of AMD IOMMU spec §2.5.
 */
import { describe, expect, it } from 'vitest';
import { formatRawEventEntry } from '../../src/iommu-amd/linux-log.ts';

/** dword0 = devid | pasid[19:16] << 16; dword1 = pasid[15:0] | flags << 16 | code << 28. */
function entry(code: number, devid: number, pasid: number, flags: number, address: bigint): number[] {
  return [
    (devid | ((pasid >>> 16) << 16)) >>> 0,
    ((pasid & 0xffff) | (flags << 16) | (code << 28)) >>> 0,
    Number(address & 0xffffffffn),
    Number(address >> 32n),
  ];
}

describe('Linux event-log lines', () => {
  it('IO_PAGE_FAULT (device unknown to Linux: pr_err form with segment)', () => {
    expect(formatRawEventEntry(entry(2, 0x0018, 0x0007, 0x008, 0xfee00000n))).toBe(
      'AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:00:03.0 domain=0x0007 address=0xfee00000 flags=0x0008]',
    );
  });

  it('ILLEGAL_DEV_TABLE_ENTRY (on the IOMMU device, pasid %05x)', () => {
    expect(formatRawEventEntry(entry(1, 0x00a0, 0, 0x088, 0xfee00000n))).toBe(
      'iommu ivhd0: AMD-Vi: Event logged [ILLEGAL_DEV_TABLE_ENTRY device=0000:00:14.0 pasid=0x00000 address=0xfee00000 flags=0x0088]',
    );
  });

  it('INVALID_DEVICE_REQUEST reproduces a real log line in the pre-segment format', () => {
    expect(formatRawEventEntry(entry(8, 0, 0, 0xa00, 0xfffffffdf8000000n), { style: 'pre-segment' })).toBe(
      'iommu ivhd0: AMD-Vi: Event logged [INVALID_DEVICE_REQUEST device=00:00.0 pasid=0x00000 address=0xfffffffdf8000000 flags=0x0a00]',
    );
  });

  it('ILLEGAL_COMMAND_ERROR prints only the address', () => {
    expect(formatRawEventEntry(entry(5, 0, 0, 0, 0x300010n))).toBe('iommu ivhd0: AMD-Vi: Event logged [ILLEGAL_COMMAND_ERROR address=0x300010]');
  });

  it('COMMAND_HARDWARE_ERROR', () => {
    expect(formatRawEventEntry(entry(6, 0, 0, 0x600, 0x10000000000000n))).toBe(
      'iommu ivhd0: AMD-Vi: Event logged [COMMAND_HARDWARE_ERROR address=0x10000000000000 flags=0x0600]',
    );
  });

  it('DEV_TAB_HARDWARE_ERROR and PAGE_TAB_HARDWARE_ERROR (pasid %04x)', () => {
    expect(formatRawEventEntry(entry(3, 0x0101, 0, 0x408, 0x1000n))).toBe(
      'iommu ivhd0: AMD-Vi: Event logged [DEV_TAB_HARDWARE_ERROR device=0000:01:00.1 address=0x1000 flags=0x0408]',
    );
    expect(formatRawEventEntry(entry(4, 0x0101, 3, 0x408, 0x2000n))).toBe(
      'iommu ivhd0: AMD-Vi: Event logged [PAGE_TAB_HARDWARE_ERROR device=0000:01:00.1 pasid=0x0003 address=0x2000 flags=0x0408]',
    );
  });

  it('IOTLB_INV_TIMEOUT and INVALID_PPR_REQUEST', () => {
    expect(formatRawEventEntry(entry(7, 0x0300, 0, 0, 0x300040n))).toBe(
      'iommu ivhd0: AMD-Vi: Event logged [IOTLB_INV_TIMEOUT device=0000:03:00.0 address=0x300040]',
    );
    // tag = dword1[9:0] = 0x2a (with pasid[15:0] = 0x2a).
    expect(formatRawEventEntry(entry(9, 0x0300, 0x2a, 0, 0x1000n))).toBe(
      'iommu ivhd0: AMD-Vi: Event logged [INVALID_PPR_REQUEST device=0000:03:00.0 pasid=0x0002a address=0x1000 flags=0x0000 tag=0x02a]',
    );
  });

  it('unknown codes print the raw dwords without a closing bracket, as Linux does', () => {
    expect(formatRawEventEntry([0x12, 0xa0000000, 0x3, 0x4])).toBe(
      'iommu ivhd0: AMD-Vi: Event logged [UNKNOWN event[0]=0x00000012 event[1]=0xa0000000 event[2]=0x00000003 event[3]=0x00000004',
    );
  });

  it('code 0 is the erratum 732 case: "No event written"', () => {
    expect(formatRawEventEntry([0, 0, 0, 0])).toBe('AMD-Vi: No event written to event log');
  });

  it('accepts the entry as two qwords', () => {
    expect(formatRawEventEntry([0x2008_0007_0000_0018n, 0xfee00000n])).toBe(
      'AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:00:03.0 domain=0x0007 address=0xfee00000 flags=0x0008]',
    );
  });
});
