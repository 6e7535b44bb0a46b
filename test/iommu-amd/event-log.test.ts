/**
 * Event log mechanics (AMD IOMMU spec §2.5) and the IOMMU's own interrupt (§3.4: Status, XT registers).
 */
import { describe, expect, it } from 'vitest';
import { CTRL, EVT_LOG, LinuxAmdDriver, MMIO, STATUS } from './helpers.ts';

const DEV_A = 0x0018;

/** A booted driver with DEV_A's table installed and every entry left RemapEn = 0, so each MSI logs one fault. */
function faulting(driver = {}, opts = {}): LinuxAmdDriver {
  const d = new LinuxAmdDriver(opts, driver).init();
  d.attachTable(DEV_A);
  return d;
}

describe('event log ring', () => {
  it('entries are written at the tail and the tail advances by 16', () => {
    const d = faulting();
    d.msi(DEV_A, 1);
    d.msi(DEV_A, 2);
    expect(Number(d.iommu.read(MMIO.EVT_TAIL, 4))).toBe(32);
    expect(d.host.memory.read32(EVT_LOG + 16 + 4)).toBe(0x20080000);
  });

  it('a full log sets EventOverflow, drops the entry and stops logging until software restarts it', () => {
    const d = faulting({ eventLen: 8 }); // 256 slots: at most 255 entries
    for (let i = 0; i < 255; i++) expect(d.msi(DEV_A, 1).fault!.recorded).toBe(true);
    expect(Number(d.iommu.read(MMIO.EVT_TAIL, 4))).toBe(255 * 16);
    expect(d.status() & STATUS.EVENT_OVERFLOW).toBe(0);

    const dropped = d.msi(DEV_A, 1);
    expect(dropped.fault!.recorded).toBe(false);
    expect(Number(d.iommu.read(MMIO.EVT_TAIL, 4))).toBe(255 * 16);
    expect(d.status() & (STATUS.EVENT_OVERFLOW | STATUS.EVENT_LOG_RUN)).toBe(STATUS.EVENT_OVERFLOW);

    // Software drains the log, but EventLogRun stays clear: still nothing is logged.
    d.consumeEvents();
    expect(d.msi(DEV_A, 1).fault!.recorded).toBe(false);

    // Linux amd_iommu_restart_log: clear EventLogEn, W1C EventOverflow, set EventLogEn.
    d.write64(MMIO.CONTROL, d.control & ~CTRL.EVENT_LOG_EN);
    d.iommu.write(MMIO.STATUS, 4, BigInt(STATUS.EVENT_OVERFLOW));
    d.write64(MMIO.CONTROL, d.control);
    expect(d.status() & (STATUS.EVENT_OVERFLOW | STATUS.EVENT_LOG_RUN)).toBe(STATUS.EVENT_LOG_RUN);
    expect(d.msi(DEV_A, 1).fault!.recorded).toBe(true);
    expect(d.eventEntries()).toHaveLength(1);
  });

  it('nothing is logged while EventLogEn = 0', () => {
    const d = faulting();
    d.setControl(d.control & ~CTRL.EVENT_LOG_EN);
    const rec = d.host.record();
    expect(d.msi(DEV_A, 1).fault!.recorded).toBe(false);
    expect(rec.faults[0].suppressedBy).toMatch(/EventLogEn = 0/);
    expect(d.eventEntries()).toEqual([]);
  });

  it('every logged event is a typed iommu_fault event with the decoded entry and the Linux line', () => {
    const d = faulting();
    const rec = d.host.record();
    d.msi(DEV_A, 7);
    expect(rec.faults).toEqual([
      {
        unit: 'amd-vi',
        sourceId: DEV_A,
        code: 2,
        name: 'IO_PAGE_FAULT',
        index: 7,
        recorded: true,
        linuxLog: 'AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:00:03.0 domain=0x0000 address=0xfee00000 flags=0x0008]',
        record: { type: 'IO_PAGE_FAULT', code: 2, deviceId: DEV_A, pasidOrDomain: 0, flags: 8, address: '0xfee00000' },
      },
    ]);
  });
});

describe("the IOMMU's own interrupt", () => {
  const msi = { addrLo: 0xfee01000, data: 0x4021 };

  it('EventLogInt 0→1 sends the PCI MSI once; it is sent again only after software clears EventLogInt', () => {
    const d = faulting({ msi });
    d.msi(DEV_A, 1);
    expect(d.host.ownMsis).toEqual([{ addrHi: 0, addrLo: 0xfee01000, data: 0x4021 }]);
    expect(d.status() & STATUS.EVENT_LOG_INT).toBe(STATUS.EVENT_LOG_INT);
    d.msi(DEV_A, 1); // EventLogInt still set: no new interrupt
    expect(d.host.ownMsis).toHaveLength(1);
    d.consumeEvents(); // W1C EventLogInt
    d.msi(DEV_A, 1);
    expect(d.host.ownMsis).toHaveLength(2);
    expect(d.host.apicBus).toEqual([]);
  });

  it('EventIntEn = 0: EventLogInt is set but no interrupt is sent', () => {
    const d = new LinuxAmdDriver({}, { msi }).init();
    d.setControl(d.control & ~CTRL.EVENT_INT_EN);
    d.attachTable(DEV_A);
    d.msi(DEV_A, 1);
    expect(d.status() & STATUS.EVENT_LOG_INT).toBe(STATUS.EVENT_LOG_INT);
    expect(d.host.ownMsis).toEqual([]);
  });

  it('MSI disabled in the PCI function: nothing is sent', () => {
    const d = faulting();
    d.msi(DEV_A, 1);
    expect(d.host.ownMsis).toEqual([]);
  });

  it('with IntCapXTEn the interrupt goes through XT register 0x170 to an x2APIC destination above 255', () => {
    const d = faulting({ intCapXt: { dest: 0x0001_0203, vector: 0x62 }, msi });
    d.msi(DEV_A, 1);
    expect(d.host.ownMsis).toEqual([]); // the PCI MSI is not used
    expect(d.host.apicBus).toHaveLength(1);
    expect(d.host.apicBus[0]).toMatchObject({ dest: 0x0001_0203, destWidth: 32, destMode: 0, vector: 0x62, deliveryMode: 0, trigger: 0 });
  });

  it('XT register layout: Destination[31:24] comes from bits 63:56', () => {
    const d = faulting({ intCapXt: { dest: 0x8000_0100, vector: 0x70 } });
    // Register value: 0x80 << 56 | 0x70 << 32 | 0x000100 << 8.
    expect(d.read64(MMIO.XT_GEN_INTR_CTRL)).toBe(0x8000_0070_0001_0000n);
    d.msi(DEV_A, 1);
    expect(d.host.apicBus[0].dest).toBe(0x8000_0100);
  });

  it('EventOverflow with EventIntEn also interrupts', () => {
    const d = faulting({ eventLen: 8, msi });
    for (let i = 0; i < 255; i++) d.msi(DEV_A, 1);
    d.iommu.write(MMIO.STATUS, 4, BigInt(STATUS.EVENT_LOG_INT)); // handler ran, but did not drain
    const before = d.host.ownMsis.length;
    d.msi(DEV_A, 1); // overflow
    expect(d.host.ownMsis.length).toBe(before + 1);
  });
});

describe('trace hops', () => {
  it('a remapped interrupt and its faults leave QEMU-named hops when someone listens', () => {
    const d = new LinuxAmdDriver({}, { xt: true }).init();
    d.attachTable(DEV_A);
    d.attachTable(0x0020, { intCtl: 3n });
    d.setIrte(DEV_A, 1, { dest: 300, vector: 0x30 });
    d.setIrte(DEV_A, 2, { dest: 1, vector: 0x30, guestMode: true });
    const rec = d.host.record();
    d.msi(DEV_A, 1);
    d.msi(DEV_A, 2);
    d.msi(DEV_A, 3);
    d.msi(0x0020, 0);
    d.flushIrt(DEV_A);
    const names = new Set(rec.hops.map((h) => h.name));
    for (const n of ['amdvi_ir_remap_msi_req', 'amdvi_ir_intctl', 'amdvi_ir_delivery_mode', 'amdvi_ir_irte', 'amdvi_ir_irte_ga_val',
      'amdvi_ir_remap_msi', 'amdvi_ir_target_abort', 'irqpath_amdvi_event_log', 'amdvi_intr_inval', 'amdvi_completion_wait']) {
      expect(names.has(n), n).toBe(true);
    }
    const remapped = rec.hops.find((h) => h.name === 'amdvi_ir_remap_msi')!;
    // QEMU's form of the remapped message (x86_iommu_irq_to_msi_message): dest 300 = 0x12C → 0x2C in address 19:12,
    // 0x1 (dest 31:8) in address 63:40.
    const addr2 = remapped.args.find(([k]) => k === 'addr2')![1] as bigint;
    expect((addr2 >> 12n) & 0xffn).toBe(0x2cn);
    expect(addr2 >> 40n).toBe(1n);
    // Index 2 (GuestMode = 1 with GAMEn = 000b: reserved field), index 3 (RemapEn = 0), then the IntCtl = 11b DTE.
    expect(rec.faults.map((f) => f.name)).toEqual(['IO_PAGE_FAULT', 'IO_PAGE_FAULT', 'ILLEGAL_DEV_TABLE_ENTRY']);
  });
});
