/**
 * DMA through a Linux guest's IOMMU domains on a whole machine: device writes and reads go through the requester's
 * translation; faults are logged the way Linux prints them; the interrupt window is never translated (iommu list, "RMRR device on non-Intel platform", 2023-04-26).
 * Expected values: the spec's fault reasons / IO_PAGE_FAULT flags and Linux's format strings (see the unit tests).
 */
import { describe, expect, it } from 'vitest';
import { createGuest } from '../../src/guest/create-guest.ts';
import type { LinuxGuest } from '../../src/guest/linux/linux-guest.ts';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import type { IommuFaultEvent } from '../../src/core/events.ts';

const DEV = '03:00.0';

function boot(iommu: 'intel' | 'amd'): { m: Machine; guest: LinuxGuest; faults: IommuFaultEvent[]; accepted: number[] } {
  const m = createMachine({
    cpus: 4,
    cpuVendor: iommu,
    iommu: { kind: iommu },
    devices: [{ bdf: DEV, name: 'nic', msix: { entries: 2 } }],
  });
  const guest = createGuest(m, { os: 'linux' }) as LinuxGuest;
  guest.boot();
  const faults: IommuFaultEvent[] = [];
  const accepted: number[] = [];
  m.events.on('iommu_fault', (e) => faults.push(e));
  m.events.on('apic_accept', (e) => accepted.push(e.vector));
  // The driver enables bus mastering (PCI command register bit 2) before it starts DMA.
  const dev = m.device(DEV);
  dev.configWrite(4, 2, dev.configRead(4, 2) | 4);
  return { m, guest, faults, accepted };
}

describe.each(['intel', 'amd'] as const)('Linux DMA API on %s', (iommu) => {
  it('a mapped page receives the device write at its physical address, not at the IOVA', () => {
    const { m, guest } = boot(iommu);
    const map = guest.mapDma(DEV, 0x10_0000, { read: true, write: true });
    expect(map.translated).toBe(true);
    expect(map.physical).not.toBe(map.iova);
    m.device(DEV).dmaWrite(0x10_0008, 0xcafe_f00d);
    expect(m.memory.read32(Number(map.physical) + 8)).toBe(0xcafe_f00d);
    expect(m.memory.read32(0x10_0008)).toBe(0);
    expect(m.device(DEV).dmaRead(0x10_0008)).toBe(0xcafe_f00d);
  });

  it('a write to an unmapped IOVA is blocked and logged as Linux prints it', () => {
    const { m, guest, faults } = boot(iommu);
    // The model attaches the device to its DMA domain at the driver's first mapping.
    guest.mapDma(DEV, 0x10_0000, { read: true, write: true });
    m.device(DEV).dmaWrite(0x20_0010, 1);
    expect(m.memory.read32(0x20_0010)).toBe(0);
    expect(faults).toHaveLength(1);
    // Intel: not-present leaf, write → reason 0x5 (LGN.3), T = 0; the recorded FI is the page address.
    // AMD: IO_PAGE_FAULT, PR = 0 (not present), RW = 1 (0x20); domain 1 is the first Linux domain here.
    expect(faults[0].linuxLog).toBe(
      iommu === 'intel'
        ? 'DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x200000 [fault reason 0x05] PTE Write access is not set'
        : 'AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:03:00.0 domain=0x0001 address=0x200010 flags=0x0020]',
    );
  });

  it('a read-only mapping: reads work, writes fault (Intel 0x5 / AMD PR|RW|PE)', () => {
    const { m, guest, faults } = boot(iommu);
    const map = guest.mapDma(DEV, 0x30_0000, { read: true, write: false });
    m.memory.write32(map.physical, 0x1234);
    expect(m.device(DEV).dmaRead(0x30_0000)).toBe(0x1234);
    m.device(DEV).dmaWrite(0x30_0000, 0x5678);
    expect(m.memory.read32(map.physical)).toBe(0x1234);
    expect(faults[0].linuxLog).toContain(iommu === 'intel' ? '[fault reason 0x05] PTE Write access is not set' : 'flags=0x0070]');
  });

  it('after dma_unmap (with its invalidation) the device can no longer reach the page', () => {
    const { m, guest, faults } = boot(iommu);
    const map = guest.mapDma(DEV, 0x40_0000, { read: true, write: true });
    m.device(DEV).dmaWrite(0x40_0000, 7); // warms the IOTLB
    guest.unmapDma(DEV, 0x40_0000);
    m.device(DEV).dmaWrite(0x40_0000, 8);
    expect(m.memory.read32(map.physical)).toBe(7);
    expect(faults).toHaveLength(1);
  });

  it('the x86 side of the iommu-list MSI IOVA thread: an IOVA mapped inside 0xFEE00000–0xFEEFFFFF is an interrupt request, never memory', () => {
    const { m, guest, accepted } = boot(iommu);
    const map = guest.mapDma(DEV, 0xfee0_0000, { read: true, write: true });
    // What the guest expects to be a DMA write into its buffer: address 0xFEE00000, data 0x45.
    m.device(DEV).dmaWrite(0xfee0_0000, 0x45);
    expect(m.memory.read32(map.physical)).toBe(0);
    // It went to interrupt remapping instead: with remapping on, a compatibility-format request is blocked or
    // remapped, never written to RAM; in no case does vector 0x45 land in the buffer.
    expect(m.memory.isTouched(map.physical)).toBe(false);
    void accepted;
    // And a read of the window is not memory either (unsupported request).
    expect(m.device(DEV).dmaRead(0xfee0_0000)).toBeNull();
  });

  it('reports the interrupt window as an msi reserved region', () => {
    const { m } = boot(iommu);
    const lines = m.reservedRegions(DEV).map((r) => r.line);
    expect(lines).toContain('0x00000000fee00000 0x00000000feefffff msi');
  });
});
