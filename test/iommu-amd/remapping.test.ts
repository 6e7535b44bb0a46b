/**
 * Interrupt remapping through DTE → per-device IRT (AMD IOMMU spec §2.2.2.1, §2.2.5). Expected values are worked out from the
 * IRTE/DTE layouts of the spec; event-log dwords from the §2.5 generic layout:
 *   dword0 = DeviceID | PASID[19:16] << 16, dword1 = DomainID | flags << 16 | code << 28, dwords 2–3 = address.
 */
import { describe, expect, it } from 'vitest';
import { amdCookie } from '../../src/msi/cookie.ts';
import { RTE_TRIGGER, rteMessageAddrLo, rteMessageData } from '../../src/msi/formats/ioapic-rte.ts';
import { IOAPIC_DEVID, LinuxAmdDriver, MMIO, MSI_ADDR, STATUS } from './helpers.ts';

const DEV_A = 0x0018; // 00:03.0
const DEV_B = 0x0020; // 00:04.0

function booted(opts = {}, driver = {}): LinuxAmdDriver {
  return new LinuxAmdDriver(opts, driver).init();
}

describe('remapped delivery', () => {
  it('two devices using the same index reach different CPUs (per-device tables)', () => {
    const d = booted();
    d.attachTable(DEV_A);
    d.attachTable(DEV_B);
    d.setIrte(DEV_A, 0, { dest: 1, vector: 0x30 });
    d.setIrte(DEV_B, 0, { dest: 2, vector: 0x31 });
    const a = d.msi(DEV_A, 0);
    const b = d.msi(DEV_B, 0);
    expect(a.kind).toBe('deliver');
    expect([a.msg.dest, a.msg.vector, a.msg.destWidth]).toEqual([1, 0x30, 8]);
    expect([b.msg.dest, b.msg.vector]).toEqual([2, 0x31]);
    expect(a.format).toBe('amd-irte');
    expect(a.cookie).toBe(amdCookie(DEV_A, 0));
    expect(b.cookie).toBe(amdCookie(DEV_B, 0));
  });

  it('MSI-X vectors: data = index selects the entry, the address carries nothing', () => {
    const d = booted();
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 5, { dest: 4, vector: 0x45, dm: 1, intType: 1 });
    d.setIrte(DEV_A, 6, { dest: 6, vector: 0x46 });
    const r5 = d.msi(DEV_A, 5, 0xfee0_0ff8); // address bits 19:3 (destination/RH in compat format) are ignored
    expect([r5.msg.dest, r5.msg.vector, r5.msg.destMode, r5.msg.deliveryMode]).toEqual([4, 0x45, 1, 1]);
    const r6 = d.msi(DEV_A, 6);
    expect([r6.msg.dest, r6.msg.vector, r6.msg.destMode, r6.msg.deliveryMode]).toEqual([6, 0x46, 0, 0]);
  });

  it('I/O APIC pin N reaches the CPU of IRTE N in the table of 00:14.0 (RTE vector field = pin)', () => {
    const d = booted();
    d.attachTable(IOAPIC_DEVID);
    d.attachTable(DEV_A);
    d.setIrte(IOAPIC_DEVID, 9, { dest: 3, vector: 0x41 });
    d.setIrte(DEV_A, 9, { dest: 7, vector: 0x77 });
    // Linux programs the RTE from the composed MSI: vector field = index 9, delivery mode 0, dest 0, level trigger.
    const rteLo = 9 | RTE_TRIGGER;
    const addrLo = rteMessageAddrLo(rteLo, 0);
    const data = rteMessageData(rteLo);
    expect(addrLo).toBe(MSI_ADDR);
    expect(data).toBe(0x8009);
    const r = d.msi(IOAPIC_DEVID, data, addrLo);
    expect([r.msg.dest, r.msg.vector]).toEqual([3, 0x41]);
    // The trigger mode is the source's (data bit 15), kept as VirtualBox does: a level pin stays level.
    expect(r.msg.trigger).toBe(1);
    expect(r.cookie).toBe(amdCookie(IOAPIC_DEVID, 9));
  });

  it('XT mode with 128-bit IRTEs delivers to an x2APIC ID above 255', () => {
    const d = booted({ xt: true, ga: true }, { xt: true });
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 1, { dest: 0x0102_0304, vector: 0x55 });
    const r = d.msi(DEV_A, 1);
    // Destination[23:0] from bits 31:8 (0x020304), Destination[31:24] from bits 127:120 (0x01).
    expect([r.msg.dest, r.msg.destWidth, r.msg.vector]).toEqual([0x0102_0304, 32, 0x55]);
  });

  it('without XTEn a 128-bit IRTE gives only Destination[7:0]', () => {
    const d = booted({ xt: true, ga: true }, { xt: false });
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 1, { dest: 0x1234, vector: 0x55 });
    const r = d.msi(DEV_A, 1);
    expect([r.msg.dest, r.msg.destWidth]).toEqual([0x34, 8]);
  });

  it('32-bit IRTEs (GAEn = 0): destination in bits 15:8, vector in 23:16', () => {
    const d = booted({}, { ga: false });
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 2, { dest: 0xfe, vector: 0xef });
    // The IRTE in memory is RemapEn | 0xfe << 8 | 0xef << 16 = 0x00effe01.
    expect(d.host.memory.read32(d.tables.get(DEV_A)! + 8)).toBe(0x00effe01);
    const r = d.msi(DEV_A, 2);
    expect([r.msg.dest, r.msg.vector, r.msg.destWidth]).toEqual([0xfe, 0xef, 8]);
  });

  it('2K mode: DM = 1 makes data bits 10:0 the index; DM = 0 leaves 10:8 a message type', () => {
    const d = booted({ intRemap2k: true }, { intTabLen: 11, extraControl: 1n << 43n });
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 1500, { dest: 9, vector: 0x99 });
    // 1500 = 0x5DC: with DM = 1 (address bit 2) all eleven bits index the 2048-entry table.
    const r = d.msi(DEV_A, 0x5dc, MSI_ADDR | 4);
    expect([r.kind, r.msg.dest, r.msg.vector]).toEqual(['deliver', 9, 0x99]);
    // With DM = 0, data 10:8 = 101b is INIT: InitPass = 0 → target abort, not IRTE 1500.
    const init = d.msi(DEV_A, 0x5dc, MSI_ADDR);
    expect(init.kind).toBe('fault');
    expect(init.fault!.name).toBe('target abort');
  });

  it('without 2K mode the DM bit does not widen the index', () => {
    const d = booted({ intRemap2k: true }, { intTabLen: 11 });
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 1500, { dest: 9, vector: 0x99 });
    const r = d.msi(DEV_A, 0x5dc, MSI_ADDR | 4);
    expect(r.kind).toBe('fault'); // read as INIT
  });
});

describe('pass-through', () => {
  it('IommuEn = 0 forwards every request unchanged', () => {
    const d = new LinuxAmdDriver();
    expect(d.passesThrough(DEV_A, 0x30)).toBe(true);
  });

  it('DTE.IV = 0 forwards unchanged', () => {
    const d = booted();
    expect(d.passesThrough(DEV_A, 0x30)).toBe(true);
  });

  it('each pass bit forwards its message type and its absence aborts it', () => {
    const cases: [string, number, bigint][] = [
      ['INIT', 0x500, 1n << 56n],
      ['ExtINT', 0x700, 1n << 57n],
      ['NMI', 0x400, 1n << 58n],
    ];
    for (const [name, data, bit] of cases) {
      const d = booted();
      d.attachTable(DEV_A, { passBits: bit });
      expect(d.passesThrough(DEV_A, data), `${name} with its pass bit`).toBe(true);
      d.attachTable(DEV_A, { passBits: 0n });
      const r = d.msi(DEV_A, data);
      expect(r.kind, `${name} without its pass bit`).toBe('fault');
      expect(r.fault!.recorded).toBe(false);
      expect(d.eventEntries()).toEqual([]); // a pass-bit abort has no event-log entry
    }
  });

  it('a passed type (SMI/NMI/INIT/ExtINT) with address DM = 1 is aborted even when its pass bit is set', () => {
    // QEMU amdvi_int_remap_msi and VirtualBox (note below the spec's Table 19): only physical
    // destination mode is passed for types other than fixed/arbitrated. No event is defined for it.
    const d = booted();
    d.attachTable(DEV_A, { passBits: (1n << 56n) | (1n << 57n) | (1n << 58n) });
    for (const data of [0x200, 0x400, 0x500, 0x700]) {
      expect(d.passesThrough(DEV_A, data), `type ${data >> 8} DM = 0`).toBe(true);
      const r = d.msi(DEV_A, data, MSI_ADDR | 4);
      expect(r.kind, `type ${data >> 8} DM = 1`).toBe('fault');
      expect(r.fault!.recorded).toBe(false);
    }
    expect(d.eventEntries()).toEqual([]);
  });

  it('a pass bit does not forward other types', () => {
    const d = booted();
    d.attachTable(DEV_A, { passBits: 1n << 58n }); // NMIPass only
    expect(d.msi(DEV_A, 0x500).kind).toBe('fault'); // INIT
  });

  it('SMI is forwarded (VirtualBox behaviour) and reserved types 011b/110b abort', () => {
    const d = booted();
    d.attachTable(DEV_A);
    expect(d.passesThrough(DEV_A, 0x200)).toBe(true);
    expect(d.msi(DEV_A, 0x300).fault!.name).toBe('target abort');
    expect(d.msi(DEV_A, 0x600).fault!.name).toBe('target abort');
  });
});

describe('IntCtl', () => {
  it('IntCtl = 00 aborts fixed interrupts and logs INVALID_DEVICE_REQUEST type 101b', () => {
    const d = booted();
    d.attachTable(DEV_A, { intCtl: 0n });
    const r = d.msi(DEV_A, 0x21);
    expect(r.kind).toBe('fault');
    expect(r.fault).toMatchObject({ unit: 'amd-vi', code: 8, recorded: true });
    // flags = type 101b << 9 = 0xA00 → dword1 = 0xA00 << 16 | 8 << 28 = 0x8A000000.
    expect(d.eventEntries()).toEqual([[DEV_A, 0x8a000000, 0xfee00000, 0]]);
  });

  it('IntCtl = 01 forwards fixed and arbitrated interrupts unmapped', () => {
    const d = booted();
    d.attachTable(DEV_A, { intCtl: 1n });
    expect(d.passesThrough(DEV_A, 0x21)).toBe(true);
    expect(d.passesThrough(DEV_A, 0x121)).toBe(true);
  });

  it('IntCtl = 10 remaps', () => {
    const d = booted();
    d.attachTable(DEV_A, { intCtl: 2n });
    d.setIrte(DEV_A, 0x21, { dest: 5, vector: 0x60 });
    expect(d.msi(DEV_A, 0x21).msg.vector).toBe(0x60);
  });

  it('IntCtl = 11 is an illegal DTE: ILLEGAL_DEV_TABLE_ENTRY with I = 1, RZ = 1 and the MSI address', () => {
    const d = booted();
    d.attachTable(DEV_A, { intCtl: 3n });
    const r = d.msi(DEV_A, 0x21);
    expect(r.fault).toMatchObject({ code: 1, name: 'ILLEGAL_DEV_TABLE_ENTRY', recorded: true });
    // VirtualBox iommuAmdIntrTableLookup raises the reserved-IntCtl illegal DTE with fRsvdNotZero = true:
    // flags I | RZ = 0x008 | 0x080 (AMD IOMMU spec §2.5.2) → dword1 = 0x088 << 16 | 1 << 28 = 0x10880000.
    expect(d.eventEntries()).toEqual([[DEV_A, 0x10880000, 0xfee00000, 0]]);
  });

  it('IntCtl governs only fixed/arbitrated requests: with IntCtl = 11 an NMI is still passed by NMIPass', () => {
    // AMD IOMMU spec §2.2.5, the interrupt-type table: the IntCtl column applies to types 000/001; NMI is "forward unchanged iff NMIPass = 1".
    const d = booted();
    d.attachTable(DEV_A, { intCtl: 3n, passBits: 1n << 58n });
    expect(d.passesThrough(DEV_A, 0x400)).toBe(true);
    expect(d.eventEntries()).toEqual([]);
  });
});

describe('illegal device table entries', () => {
  it('reserved bits in the interrupt half log ILLEGAL_DEV_TABLE_ENTRY with RZ', () => {
    const d = booted();
    const table = d.attachTable(DEV_A);
    d.writeDteIntr(DEV_A, BigInt(table) | (2n << 60n) | (9n << 1n) | 1n | (1n << 52n)); // bit 180: reserved
    d.queue([DEV_A, 0x20000000, 0, 0]); // INVALIDATE_DEVTAB_ENTRY
    d.msi(DEV_A, 0);
    // flags I | RZ = 0x088 → dword1 = 0x10880000.
    expect(d.eventEntries()).toEqual([[DEV_A, 0x10880000, 0xfee00000, 0]]);
  });

  it('IntTabLen 12 is reserved', () => {
    const d = booted({}, { intTabLen: 12 });
    d.attachTable(DEV_A);
    const r = d.msi(DEV_A, 0);
    expect(r.fault!.name).toBe('ILLEGAL_DEV_TABLE_ENTRY');
    expect(d.eventEntries()[0][1]).toBe(0x10080000);
  });

  it('a reserved IntTabLen does not matter when the DTE forwards (IntCtl = 01): the table is not used', () => {
    // VirtualBox checks IntTabLen only when IntCtl = 10b (it is the length of the table being indexed).
    const d = booted({}, { intTabLen: 12 });
    d.attachTable(DEV_A, { intCtl: 1n });
    expect(d.passesThrough(DEV_A, 0x21)).toBe(true);
    expect(d.eventEntries()).toEqual([]);
  });

  it('a DeviceID beyond the device table size faults with IO_PAGE_FAULT', () => {
    const d = new LinuxAmdDriver();
    d.init();
    d.write64(MMIO.DEV_TAB_BASE, 0x100000n); // Size 0: 4 KiB = 128 DTEs (DeviceIDs 00:00.0..00:0f.7)
    const r = d.msi(0x0100, 0); // 01:00.0
    expect(r.fault).toMatchObject({ code: 2, recorded: true });
    expect(d.eventEntries()).toEqual([[0x0100, 0x20080000, 0xfee00000, 0]]);
  });
});

describe('IRTE faults', () => {
  it('an index beyond 2^IntTabLen logs IO_PAGE_FAULT (I = 1, PR = 0) with the DomainID and aborts', () => {
    const d = booted({}, { intTabLen: 2 }); // 4 entries
    d.attachTable(DEV_A, { domainId: 7 });
    d.setIrte(DEV_A, 3, { dest: 1, vector: 0x30 });
    expect(d.msi(DEV_A, 3).kind).toBe('deliver');
    const r = d.msi(DEV_A, 4);
    expect(r.fault).toMatchObject({ code: 2, name: 'IO_PAGE_FAULT', index: 4, recorded: true });
    // dword1 = domain 7 | flags I (0x008) << 16 | 2 << 28 = 0x20080007.
    expect(d.eventEntries()).toEqual([[DEV_A, 0x20080007, 0xfee00000, 0]]);
  });

  it('RemapEn = 0 logs IO_PAGE_FAULT and aborts', () => {
    const d = booted();
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 1, { dest: 1, vector: 0x30, remapEn: false });
    const r = d.msi(DEV_A, 1);
    expect(r.fault).toMatchObject({ code: 2, index: 1, recorded: true });
    expect(d.eventEntries()).toEqual([[DEV_A, 0x20080000, 0xfee00000, 0]]);
  });

  it('RemapEn = 0 with IRTE.SupIOPF aborts without logging, but emits the suppressed event', () => {
    const d = booted();
    const rec = d.host.record();
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 1, { dest: 1, vector: 0x30, remapEn: false, supIopf: true });
    const r = d.msi(DEV_A, 1);
    expect(r.kind).toBe('fault');
    expect(r.fault!.recorded).toBe(false);
    expect(d.eventEntries()).toEqual([]);
    expect(rec.faults).toHaveLength(1);
    expect(rec.faults[0]).toMatchObject({ unit: 'amd-vi', code: 2, recorded: false, suppressedBy: 'IRTE.SupIOPF' });
  });

  it('DTE.IG = 1 suppresses logging of unmapped interrupts (Xen reading); IG = 0 logs them', () => {
    const d = booted();
    d.attachTable(DEV_A, { ig: true });
    d.setIrte(DEV_A, 1, { dest: 1, vector: 0x30, remapEn: false });
    expect(d.msi(DEV_A, 1).fault!.recorded).toBe(false);
    expect(d.msi(DEV_A, 600 & 0x1ff).kind).toBe('fault'); // in range, RemapEn = 0 (zeroed memory)
    expect(d.eventEntries()).toEqual([]);
    d.attachTable(DEV_A, { ig: false });
    expect(d.msi(DEV_A, 1).fault!.recorded).toBe(true);
    expect(d.eventEntries()).toHaveLength(1);
  });

  it('a reserved IntType logs IO_PAGE_FAULT with PR and RZ', () => {
    const d = booted();
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 1, { dest: 1, vector: 0x30, intType: 2 });
    d.msi(DEV_A, 1);
    // flags I | PR | RZ = 0x008 | 0x010 | 0x080 = 0x098 → dword1 = 0x20980000.
    expect(d.eventEntries()).toEqual([[DEV_A, 0x20980000, 0xfee00000, 0]]);
  });

  it('GuestMode = 1 in a 32-bit IRTE is a reserved-bit IO_PAGE_FAULT', () => {
    const d = booted({}, { ga: false });
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 1, { dest: 1, vector: 0x30, guestMode: true });
    d.msi(DEV_A, 1);
    expect(d.eventEntries()).toEqual([[DEV_A, 0x20980000, 0xfee00000, 0]]);
  });

  it('a guest-mode 128-bit IRTE while Control.GAMEn = 000b is a reserved-bit IO_PAGE_FAULT, as in the 32-bit format', () => {
    const d = booted();
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 1, { dest: 1, vector: 0x30, guestMode: true });
    const r = d.msi(DEV_A, 1);
    expect(r.fault).toMatchObject({ unit: 'amd-vi', code: 2, name: 'IO_PAGE_FAULT', recorded: true, index: 1 });
    expect(r.fault!.detail).toContain('GAMEn');
    // flags I | PR | RZ = 0x098, code 2 → dword1 = 0x20980000.
    expect(d.eventEntries()).toEqual([[DEV_A, 0x20980000, 0xfee00000, 0]]);
  });

  it('deliverNow = false fills a fault but records nothing', () => {
    const d = booted();
    const rec = d.host.record();
    d.attachTable(DEV_A);
    const r = d.msi(DEV_A, 1, MSI_ADDR, false);
    expect(r.fault).toMatchObject({ code: 2, recorded: false });
    expect(d.eventEntries()).toEqual([]);
    expect(rec.faults).toEqual([]);
    expect(d.status() & STATUS.EVENT_LOG_INT).toBe(0);
  });
});
