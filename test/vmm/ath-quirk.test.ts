/** QEMU's ath11k BAR0 quirk (kvm/qemu-devel, "[PATCH RFC/RFT] vfio/pci-quirks: Quirk for ath wireless", 2024-08-12, vfio_ath_quirk_write) on the guest's mapping of the assigned BAR. */
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/guest/create-system.ts';
import { createGuest } from '../../src/guest/create-guest.ts';
import { copyMsiToEmbeddedController } from '../../src/guest/drivers/embedded-msi.ts';
import { barBase } from '../../src/guest/pci-msi-setup.ts';

const REGISTERS = [0xb849c, 0xb85a4, 0xb86ac, 0xb87b4];

function athSystem(athBar0Quirk: boolean, deviceId = 0x1103) {
  const sys = createSystem({
    host: { cpus: 4, iommu: { kind: 'intel' }, devices: [{ bdf: '02:00.0', vendorId: 0x17cb, deviceId, msi: { vectors: 4, addr64: false }, embeddedMsi: { registers: REGISTERS } }] },
    guest: { cpus: 4, iommu: { kind: 'intel', dmaTranslation: false }, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
    vmm: { profile: 'qemu', athBar0Quirk },
  });
  const guest = createGuest(sys.guest, { os: 'windows' });
  guest.boot();
  for (let k = 0; k < 4; k++) guest.setupInterrupt({ id: `m${k}`, kind: 'msi', device: '00:05.0', vector: k, cpu: k });
  const dev = sys.guest.device('00:05.0');
  const copied = [0, 1, 2, 3].map((k) => copyMsiToEmbeddedController(sys.guest.cpu(0), dev, { registers: REGISTERS }, k));
  const chip = sys.host.device('02:00.0').fn.embedded!;
  return { sys, copied, chip, dev };
}

describe('the ath-bar0 quirk', () => {
  it('substitutes the host address and the host data plus the vector offset for each copied message', () => {
    const { sys, copied, chip } = athSystem(true);
    const physical = sys.host.device('02:00.0').fn.msiMessage(0);
    // The guest copied its own (virtual) messages: one address, data base + k.
    expect(new Set(copied.map((m) => m.addr)).size).toBe(1);
    expect(copied.map((m) => m.data - copied[0].data)).toEqual([0, 1, 2, 3]);
    // The chip holds the physical address and the physical data base + k (vfio_ath_quirk_write: phys += nr).
    for (let k = 0; k < 4; k++) expect(chip.message(k)).toEqual({ addr: Number(physical.addr), data: physical.data + k });
  });

  it('without the quirk the chip keeps the guest\'s messages', () => {
    const { copied, chip } = athSystem(false);
    for (let k = 0; k < 4; k++) expect(chip.message(k)).toEqual(copied[k]);
  });

  it('traps only its window: a copy of the guest address outside 0x80000..0xbffff reaches the chip unchanged', () => {
    const { sys, copied, dev } = athSystem(true);
    const bar = barBase(dev, 0);
    sys.guest.cpu(0).write32(bar + 0x1000, copied[0].addr);
    expect(sys.host.device('02:00.0').fn.bars[0].mmio.read(0x1000, 4)).toBe(BigInt(copied[0].addr));
  });

  it('applies only to the device IDs QEMU probes (an ath10k 0x003e gets no quirk)', () => {
    const { copied, chip } = athSystem(true, 0x003e);
    expect(chip.message(0)).toEqual(copied[0]);
  });
});
