/** Register file, features, PCI function, options and snapshots (AMD IOMMU spec §3.4). */
import { describe, expect, it } from 'vitest';
import { AmdIommu, resolveAmdOptions } from '../../src/iommu-amd/amd-iommu.ts';
import { ConfigError, UsageError } from '../../src/core/errors.ts';
import { CMD_BUF, CTRL, FakeHost, LinuxAmdDriver, MMIO, STATUS } from './helpers.ts';

const DEV_A = 0x0018;

describe('extended features', () => {
  it('EFR advertises XTSup (2), IASup (6), GASup (7) and HATS = 10b by default', () => {
    const d = new LinuxAmdDriver();
    // 0x4 | 0x40 | 0x80 | (2 << 10) = 0x8c4
    expect(d.read64(MMIO.EFR)).toBe(0x8c4n);
    expect(d.read64(MMIO.EFR2)).toBe(0n);
  });

  it('dmaTranslation: false sets HATS = 11b; xt/ga off clear their bits; 2K mode sets EFR2[9:8] = 01b', () => {
    const d = new LinuxAmdDriver({ dmaTranslation: false, xt: false, ga: false, intRemap2k: true });
    expect(d.read64(MMIO.EFR)).toBe(0x40n | (3n << 10n));
    expect(d.read64(MMIO.EFR2)).toBe(0x100n);
  });

  it('EFR is read-only', () => {
    const d = new LinuxAmdDriver();
    d.write64(MMIO.EFR, 0n);
    expect(d.read64(MMIO.EFR)).toBe(0x8c4n);
  });
});

describe('register accesses', () => {
  it('32-bit reads return the two halves of a 64-bit register', () => {
    const d = new LinuxAmdDriver().init();
    d.write64(MMIO.EXCL_BASE, 0x0000_0123_4567_8000n | 1n);
    expect(d.iommu.read(MMIO.EXCL_BASE, 4)).toBe(0x4567_8001n);
    expect(d.iommu.read(MMIO.EXCL_BASE + 4, 4)).toBe(0x123n);
  });

  it('a base register written as two dwords takes effect when the high dword arrives', () => {
    const d = new LinuxAmdDriver();
    d.iommu.write(MMIO.CMD_BUF_BASE, 4, BigInt(CMD_BUF));
    expect(d.read64(MMIO.CMD_BUF_BASE)).toBe(0n); // latched, not yet visible
    d.iommu.write(MMIO.CMD_BUF_BASE + 4, 4, 9n << 24n); // ComLen 9 in bits 59:56
    expect(d.read64(MMIO.CMD_BUF_BASE)).toBe(BigInt(CMD_BUF) | (9n << 56n));
  });

  it('a command buffer length below 1000b is ignored (VBox)', () => {
    const d = new LinuxAmdDriver();
    d.write64(MMIO.CMD_BUF_BASE, BigInt(CMD_BUF) | (7n << 56n));
    expect(d.read64(MMIO.CMD_BUF_BASE)).toBe(0n);
  });

  it('misaligned and byte accesses read 0 and are ignored', () => {
    const d = new LinuxAmdDriver().init();
    expect(d.iommu.read(MMIO.CONTROL + 2, 4)).toBe(0n);
    expect(d.iommu.read(MMIO.CONTROL, 1)).toBe(0n);
    d.iommu.write(MMIO.CONTROL, 1, 0n);
    expect(d.read64(MMIO.CONTROL) & CTRL.IOMMU_EN).toBe(CTRL.IOMMU_EN);
  });

  it('control bits of unsupported features read back 0', () => {
    const d = new LinuxAmdDriver({ xt: false, ga: false });
    d.write64(MMIO.CONTROL, CTRL.XT_EN | CTRL.INTCAPXT_EN | CTRL.GA_EN | CTRL.NUM_INT_REMAP_2K | (1n << 13n) | CTRL.IRT_CACHE_DIS);
    expect(d.read64(MMIO.CONTROL)).toBe(CTRL.IRT_CACHE_DIS);
  });

  it('status: W1C bits clear on 1, run bits are read-only', () => {
    const d = new LinuxAmdDriver().init();
    d.attachTable(DEV_A);
    d.msi(DEV_A, 1); // logs → EventLogInt
    expect(d.status()).toBe(STATUS.EVENT_LOG_INT | STATUS.EVENT_LOG_RUN | STATUS.CMD_BUF_RUN);
    d.iommu.write(MMIO.STATUS, 4, 0xffffffffn);
    expect(d.status()).toBe(STATUS.EVENT_LOG_RUN | STATUS.CMD_BUF_RUN);
  });

  it('run bits follow IommuEn && EventLogEn / CmdBufEn', () => {
    const d = new LinuxAmdDriver();
    d.write64(MMIO.CMD_BUF_BASE, BigInt(CMD_BUF) | (8n << 56n));
    d.write64(MMIO.CONTROL, CTRL.EVENT_LOG_EN | CTRL.CMD_BUF_EN);
    expect(d.status()).toBe(0);
    d.write64(MMIO.CONTROL, CTRL.EVENT_LOG_EN | CTRL.CMD_BUF_EN | CTRL.IOMMU_EN);
    expect(d.status()).toBe(STATUS.EVENT_LOG_RUN | STATUS.CMD_BUF_RUN);
  });

  it('a head/tail pointer beyond the buffer is ignored; pointers keep bits 18:4', () => {
    const d = new LinuxAmdDriver().init(); // 512-entry buffers: 8 KiB
    d.iommu.write(MMIO.EVT_HEAD, 4, 0x2000n);
    expect(d.iommu.read(MMIO.EVT_HEAD, 4)).toBe(0n);
    d.iommu.write(MMIO.EVT_HEAD, 4, 0x1ff7n);
    expect(d.iommu.read(MMIO.EVT_HEAD, 4)).toBe(0x1ff0n);
  });
});

describe('PCI function', () => {
  it('shows AMD IOMMU IDs, class 0x0806, capability 0x0F with CapType 011b and the MMIO base', () => {
    const d = new LinuxAmdDriver();
    const fn = d.iommu.pciFunction;
    expect(fn.requesterId).toBe(0x0010);
    expect(fn.configRead(0, 4)).toBe(0x1419_1022);
    expect(fn.configRead(0x08, 4) >>> 8).toBe(0x080600);
    const cap = d.findCap(0x0f);
    const header = fn.configRead(cap, 4);
    expect((header >>> 16) & 7).toBe(0b011);
    expect((header >>> 27) & 1).toBe(1); // EFRSup
    expect(fn.configRead(cap + 4, 4)).toBe(0xfed80001); // base [31:14] | Enable
    expect(fn.configRead(cap + 8, 4)).toBe(0);
    fn.configWrite(cap + 4, 4, 0);
    expect(fn.configRead(cap + 4, 4)).toBe(0xfed80001); // locked
  });

  it('has a 64-bit, one-vector MSI capability without masking', () => {
    const d = new LinuxAmdDriver();
    const fn = d.iommu.pciFunction;
    const msi = d.findCap(0x05);
    const control = fn.configRead(msi + 2, 2);
    expect(control & 0x80).toBe(0x80); // 64-bit
    expect(control & 0x0e).toBe(0); // MMC = 0
    expect(control & 0x100).toBe(0); // no per-vector masking
    fn.configWrite(msi + 2, 2, 0x71); // enable + MME 111b: MME stays 0
    expect(fn.configRead(msi + 2, 2)).toBe(0x81);
  });
});

describe('options', () => {
  it('fills the documented defaults', () => {
    expect(resolveAmdOptions({ kind: 'amd' })).toMatchObject({
      base: 0xfed80000, xt: true, ga: true, intRemap2k: false, dmaTranslation: true, ioapicRequesterId: 0x00a0, requesterId: 0x0010,
    });
  });

  it('names the bad field', () => {
    const bad = (o: object, field: string): void => {
      let err: unknown;
      try {
        resolveAmdOptions({ kind: 'amd', ...o });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).field).toBe(field);
    };
    bad({ base: 0xfed80100 }, 'iommu.base');
    bad({ xt: 'yes' }, 'iommu.xt');
    bad({ ioapicDeviceId: '00:40.0' }, 'iommu.ioapicDeviceId');
    bad({ bdf: 'x' }, 'iommu.bdf');
    bad({ bdf: '00:14.0' }, 'iommu.ioapicDeviceId');
    bad({ colour: 1 }, 'iommu.colour');
  });

  it('the IOMMU exposes its window and IDs', () => {
    const iommu = new AmdIommu({ kind: 'amd', base: 0xfd00_0000, bdf: '00:00.2', ioapicDeviceId: '00:14.0' }, new FakeHost());
    expect([iommu.base, iommu.size, iommu.requesterId, iommu.ioapicDeviceId]).toEqual([0xfd00_0000, 0x4000, 0x0002, 0x00a0]);
  });
});

describe('save / restore', () => {
  it('a restored IOMMU behaves the same, including entries still cached', () => {
    const d = new LinuxAmdDriver().init();
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 3, { dest: 5, vector: 0x35 });
    d.msi(DEV_A, 3); // cache the IRTE
    d.writeIrte(DEV_A, 3, { dest: 6, vector: 0x36 }); // not yet invalidated
    const state = JSON.parse(JSON.stringify(d.iommu.save()));
    const copy = new AmdIommu({ kind: 'amd' }, d.host);
    copy.restore(state);
    for (const off of [MMIO.DEV_TAB_BASE, MMIO.CMD_BUF_BASE, MMIO.EVT_LOG_BASE, MMIO.CONTROL, MMIO.STATUS, MMIO.CMD_TAIL, MMIO.EVT_TAIL]) {
      expect(copy.read(off, 8)).toBe(d.iommu.read(off, 8));
    }
    const probe = d.msi(DEV_A, 3);
    expect(probe.msg.vector).toBe(0x35);
    const out = probe.clone();
    copy.remap(DEV_A, 0, 0xfee00000, 3, true, out);
    expect(out.msg.vector).toBe(0x35); // the cached entry came along
  });

  it('a bad state throws a clear error and changes nothing', () => {
    const d = new LinuxAmdDriver().init();
    const before = d.iommu.save();
    const bad = { ...before, control: '0x' + (1n << 62n).toString(16) };
    expect(() => d.iommu.restore(bad)).toThrow(UsageError);
    expect(() => d.iommu.restore(bad)).toThrow(/control/);
    expect(() => d.iommu.restore({ ...before, cmdBufTail: 8 })).toThrow(/cmdBufTail.*multiple of 16/);
    expect(() => d.iommu.restore({ ...before, version: 2 })).toThrow(/version/);
    expect(d.iommu.save()).toEqual(before);
  });

  it('the PCI function state round-trips and is validated', () => {
    const d = new LinuxAmdDriver({}, { msi: { addrLo: 0xfee01000, data: 0x4021 } }).init();
    const fn = d.iommu.pciFunction;
    const state = fn.save();
    const other = new LinuxAmdDriver();
    other.iommu.pciFunction.restore(state);
    expect(other.iommu.pciFunction.save()).toEqual(state);
    expect(() => other.iommu.pciFunction.checkState({ ...state, msiAddrLo: 0xfee01001 })).toThrow(UsageError);
  });
});
