/** Command buffer (AMD IOMMU spec §2.4). */
import { describe, expect, it } from 'vitest';
import { buildCommand } from '../../src/iommu-amd/command-buffer.ts';
import { CMD_BUF, CMD_SEM, CTRL, LinuxAmdDriver, MMIO, STATUS } from './helpers.ts';

const DEV_A = 0x0018;

describe('COMPLETION_WAIT', () => {
  it('S = 1 stores the 64-bit StoreData at StoreAddr', () => {
    const d = new LinuxAmdDriver().init();
    d.queue(buildCommand.completionWait({ storeAddress: CMD_SEM + 8, storeData: 0x1122_3344_5566_7788n }));
    expect(d.host.memory.read64(CMD_SEM + 8)).toBe(0x1122_3344_5566_7788n);
    expect(Number(d.iommu.read(MMIO.CMD_HEAD, 4))).toBe(16);
  });

  it('the command layout: S in bit 0, I in bit 1, StoreAddr[31:3] in 31:3, StoreAddr[51:32] in 51:32, opcode 1 in 63:60', () => {
    expect(buildCommand.completionWait({ storeAddress: 0x12_3456_7898, storeData: 5n, interrupt: true })).toEqual([0x3456789b, 0x10000012, 5, 0]) // 0x34567898 | S | I;
  });

  it('I = 1 sets ComWaitInt and interrupts only when ComWaitIntEn (OpenVMM/VBox, not QEMU)', () => {
    const msi = { addrLo: 0xfee02000, data: 0x22 };
    const d = new LinuxAmdDriver({}, { msi }).init();
    d.queue(buildCommand.completionWait({ interrupt: true }));
    expect(d.status() & STATUS.COM_WAIT_INT).toBe(STATUS.COM_WAIT_INT);
    expect(d.host.ownMsis).toEqual([]);

    d.iommu.write(MMIO.STATUS, 4, BigInt(STATUS.COM_WAIT_INT));
    expect(d.status() & STATUS.COM_WAIT_INT).toBe(0);
    d.setControl(d.control | CTRL.COM_WAIT_INT_EN);
    d.queue(buildCommand.completionWait({ interrupt: true }));
    expect(d.host.ownMsis).toEqual([{ addrHi: 0, addrLo: 0xfee02000, data: 0x22 }]);
  });
});

describe('command processing', () => {
  it('commands are not fetched while CmdBufEn = 0, and run when it is set', () => {
    const d = new LinuxAmdDriver().init();
    d.setControl(d.control & ~CTRL.CMD_BUF_EN);
    expect(d.completionWait()).toBe(false);
    d.setControl(d.control | CTRL.CMD_BUF_EN);
    expect(d.host.memory.read64(CMD_SEM)).toBe(1n);
  });

  it('INVALIDATE_IOMMU_PAGES (all pages of a domain) and INVALIDATE_IOMMU_ALL are accepted', () => {
    const d = new LinuxAmdDriver().init();
    d.queue(buildCommand.invalidateIommuAllPages(1));
    d.queue(buildCommand.invalidateIommuAll());
    expect(d.completionWait()).toBe(true);
    expect(d.eventEntries()).toEqual([]);
  });

  it('an unknown opcode logs ILLEGAL_COMMAND_ERROR with its address and stops the buffer until software restarts it', () => {
    const d = new LinuxAmdDriver().init();
    d.completionWait(); // slot 0
    d.queue([0, 0xf0000000, 0, 0]); // slot 1: opcode 0xF
    expect(d.completionWait()).toBe(false); // slot 2 is not executed
    // ILLEGAL_COMMAND_ERROR: code 5 in dword1[31:28], address = SPA of the command (CMD_BUF + 0x10).
    expect(d.eventEntries()).toEqual([[0, 0x50000000, CMD_BUF + 0x10, 0]]);
    expect(d.status() & STATUS.CMD_BUF_RUN).toBe(0);
    expect(Number(d.iommu.read(MMIO.CMD_HEAD, 4))).toBe(0x10); // head stays at the illegal command

    d.resetCommandBuffer();
    expect(d.status() & STATUS.CMD_BUF_RUN).toBe(STATUS.CMD_BUF_RUN);
    expect(d.completionWait()).toBe(true);
  });

  it('reserved bits make a command illegal', () => {
    const d = new LinuxAmdDriver().init();
    d.queue([DEV_A, 0x50000000, 1, 0]); // INVALIDATE_INTERRUPT_TABLE with a bit in dword 2
    expect(d.eventEntries()).toEqual([[0, 0x50000000, CMD_BUF, 0]]);
  });

  it('INVALIDATE_IOTLB_PAGES is illegal: the capability does not advertise IOTLB support', () => {
    const d = new LinuxAmdDriver().init();
    d.queue([DEV_A, 0x40000000 | DEV_A, 0, 0]);
    expect(d.eventEntries()).toHaveLength(1);
    expect(d.eventEntries()[0][1] >>> 28).toBe(5);
  });

  it('a command fetched from beyond the physical address space is a COMMAND_HARDWARE_ERROR', () => {
    const d = new LinuxAmdDriver().init();
    d.setControl(d.control & ~CTRL.CMD_BUF_EN);
    // Base 0xF_FFFF_FFFF_F000 with 512 entries (8 KiB): slot 256 lies at 2^52, outside the 52-bit space.
    d.write64(MMIO.CMD_BUF_BASE, 0x000f_ffff_ffff_f000n | (9n << 56n));
    d.iommu.write(MMIO.CMD_HEAD, 4, 0x1000n);
    d.iommu.write(MMIO.CMD_TAIL, 4, 0x1010n);
    d.setControl(d.control | CTRL.CMD_BUF_EN);
    // COMMAND_HARDWARE_ERROR code 6, type data error (11b) in flags 10:9 = 0x600 → dword1 = 0x66000000.
    const e = d.eventEntries();
    expect(e).toHaveLength(1);
    expect(e[0][1]).toBe(0x66000000);
    expect(BigInt(e[0][3]) * 2n ** 32n + BigInt(e[0][2])).toBe(2n ** 52n);
    expect(d.status() & STATUS.CMD_BUF_RUN).toBe(0);
  });
});
