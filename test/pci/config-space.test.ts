/** Type-0 header, write masks, RW1C, capability list, BAR sizing and config access validation (PCI 3.0 §6.1–6.7). */
import { describe, expect, it } from 'vitest';
import { ConfigError, UsageError } from '../../src/core/errors.ts';
import { PCI_STATUS, PciConfigSpace } from '../../src/pci/config-space.ts';
import { COMMAND, rig } from './helpers.ts';

describe('type-0 header', () => {
  it('defaults to vendor 0x1b36, device 0x0005, class 0xff0000, header type 0', () => {
    const { fn } = rig();
    expect(fn.configRead(0x00, 4)).toBe(0x00051b36); // device ID in the high half
    expect(fn.configRead(0x08, 4)).toBe(0xff000000); // class code 23:0 in bits 31:8, revision 0
    expect(fn.configRead(0x0e, 1)).toBe(0x00);
  });

  it('takes configured IDs and class code', () => {
    const { fn } = rig({ vendorId: 0x8086, deviceId: 0x10d3, classCode: 0x020000 });
    expect(fn.configRead(0x00, 4)).toBe(0x10d38086);
    expect(fn.configRead(0x08, 4)).toBe(0x02000000);
  });

  it('only memory space, bus master and INTx disable are writable in Command', () => {
    const { fn } = rig();
    fn.configWrite(COMMAND, 2, 0xffff);
    expect(fn.configRead(COMMAND, 2)).toBe(0x0406); // bits 1, 2, 10
    fn.configWrite(COMMAND, 2, 0);
    expect(fn.configRead(COMMAND, 2)).toBe(0);
  });

  it('vendor ID, device ID and class code are read-only', () => {
    const { fn } = rig();
    fn.configWrite(0x00, 4, 0);
    fn.configWrite(0x08, 4, 0);
    expect(fn.configRead(0x00, 4)).toBe(0x00051b36);
    expect(fn.configRead(0x08, 4)).toBe(0xff000000);
  });

  it('Status bit 4 is set and read-only when capabilities exist, clear otherwise', () => {
    expect(rig().fn.configRead(0x06, 2) & 0x10).toBe(0);
    const { fn } = rig({ msi: { vectors: 1 } });
    fn.configWrite(0x06, 2, 0xffff);
    expect(fn.configRead(0x06, 2) & 0x10).toBe(0x10);
  });

  it('rejects a vendor ID of 0xFFFF (it means "no function")', () => {
    expect(() => rig({ vendorId: 0xffff })).toThrow(ConfigError);
  });
});

describe('capability list', () => {
  it('walks 0x34 → MSI → MSI-X → end', () => {
    const { fn } = rig({ msi: { vectors: 4, perVectorMask: true }, msix: { entries: 8 } });
    // MSI 64-bit with masking is 0x18 bytes at 0x40, so MSI-X follows at 0x58.
    expect(fn.configRead(0x34, 1)).toBe(0x40);
    expect(fn.configRead(0x40, 2)).toBe(0x5805); // ID 0x05, next 0x58
    expect(fn.configRead(0x58, 2)).toBe(0x0011); // ID 0x11, next 0 (end)
    expect(fn.config.capabilities()).toEqual([{ id: 0x05, offset: 0x40 }, { id: 0x11, offset: 0x58 }]);
  });

  it('capability IDs and next pointers are read-only', () => {
    const { fn } = rig({ msi: { vectors: 1 }, msix: { entries: 1 } });
    const before = fn.config.capabilities();
    fn.configWrite(0x40, 2, 0);
    fn.configWrite(0x34, 1, 0);
    expect(fn.config.capabilities()).toEqual(before);
  });

  it('32-bit MSI without masking takes 0x0A bytes, rounded to a dword', () => {
    const { fn } = rig({ msi: { vectors: 1, addr64: false }, msix: { entries: 1 } });
    expect(fn.config.capabilities().map((c) => c.offset)).toEqual([0x40, 0x4c]);
  });

  it('the walk stops at a cycle', () => {
    const space = new PciConfigSpace();
    const a = space.addCapability(0x05, 8);
    space.set8(a + 1, a); // points at itself
    expect(space.capabilities().length).toBe(48);
  });

  it('a capability that does not fit is a usage error', () => {
    const space = new PciConfigSpace();
    expect(() => space.addCapability(0x10, 0xc1)).toThrow(UsageError); // 0x40 + 0xC4 > 0x100
  });
});

describe('write masks', () => {
  it('RW1C bits clear on 1 and keep on 0; read-only bits ignore writes', () => {
    const space = new PciConfigSpace();
    space.setW1c(PCI_STATUS, 2, 0x8000);
    space.set16(PCI_STATUS, 0x8010);
    space.write(PCI_STATUS, 2, 0x0000);
    expect(space.read(PCI_STATUS, 2)).toBe(0x8010);
    space.write(PCI_STATUS, 2, 0xffff); // bit 4 is read-only, bit 15 is cleared
    expect(space.read(PCI_STATUS, 2)).toBe(0x0010);
  });

  it('a byte write changes only that byte', () => {
    const { fn } = rig();
    fn.configWrite(0x3c, 1, 0x0b); // Interrupt Line
    expect(fn.configRead(0x3c, 4)).toBe(0x0000000b); // Interrupt Pin 0: no INTx
  });
});

describe('config access validation', () => {
  it.each([
    [0x100, 1, /outside/],
    [-1, 1, /outside/],
    [0xfe, 4, /outside/],
    [0x41, 2, /not aligned/],
    [0x42, 4, /not aligned/],
    [0x40, 3, /not 1, 2 or 4/],
    [0x40, 8, /not 1, 2 or 4/],
  ])('offset 0x%s size %i is rejected', (offset, size, message) => {
    const { fn } = rig();
    expect(() => fn.configRead(offset, size)).toThrow(message);
    expect(() => fn.configWrite(offset, size, 0)).toThrow(UsageError);
  });

  it('a value wider than the access is rejected', () => {
    const { fn } = rig();
    expect(() => fn.configWrite(0x04, 2, 0x10000)).toThrow(/does not fit in 2 bytes/);
  });
});

describe('BAR sizing', () => {
  it('a 32-bit BAR reads back its size mask after an all-ones write', () => {
    const { fn } = rig({ bars: [{ index: 1, size: 0x100 }] });
    fn.configWrite(0x14, 4, 0xffffffff);
    expect(fn.configRead(0x14, 4)).toBe(0xffffff00); // ~(0x100 − 1), type bits 0 (32-bit, non-prefetchable)
  });

  it('a 64-bit prefetchable BAR reports its type bits and spans two registers', () => {
    const { fn } = rig({ bars: [{ index: 2, size: 0x4000, is64: true, prefetchable: true }] });
    expect(fn.configRead(0x18, 4)).toBe(0x0000000c); // bits 2:1 = 10 (64-bit), bit 3 prefetchable
    fn.configWrite(0x18, 4, 0xffffffff);
    fn.configWrite(0x1c, 4, 0xffffffff);
    expect(fn.configRead(0x18, 4)).toBe(0xffffc00c);
    expect(fn.configRead(0x1c, 4)).toBe(0xffffffff); // size < 4 GiB: every upper address bit is writable
  });

  it('a BAR of 8 GiB has no writable low address bits', () => {
    const { fn } = rig({ bars: [{ index: 0, size: 2 ** 33, is64: true }] });
    fn.configWrite(0x10, 4, 0xffffffff);
    fn.configWrite(0x14, 4, 0xffffffff);
    expect(fn.configRead(0x10, 4)).toBe(0x00000004);
    expect(fn.configRead(0x14, 4)).toBe(0xfffffffe); // ~(2^33/2^32 − 1)
  });

  it('unimplemented BARs read 0 and ignore writes', () => {
    const { fn } = rig();
    fn.configWrite(0x10, 4, 0xffffffff);
    expect(fn.configRead(0x10, 4)).toBe(0);
  });

  it('programBar places the BAR and the base reads back', () => {
    const { fn } = rig({ bars: [{ index: 2, size: 0x4000, is64: true }] });
    fn.programBar(2, 0x1_2345_c000);
    expect(fn.bars[0].base).toBe(0x1_2345_c000);
    expect(fn.configRead(0x18, 4)).toBe(0x2345c004);
    expect(fn.configRead(0x1c, 4)).toBe(0x1);
    expect(() => fn.programBar(2, 0x1000)).toThrow(/aligned/);
    expect(() => fn.programBar(4, 0)).toThrow(/not implemented/);
  });

  it('the MSI-X BAR holds table and PBA, rounded up to 4 KiB and a power of two', () => {
    // 8 entries: table 0x80 bytes at 0, PBA at the next 4 KiB boundary (0x1000), 8 bytes → extent 0x1008 → 0x2000.
    const small = rig({ msix: { entries: 8 } }).fn;
    small.configWrite(0x10, 4, 0xffffffff);
    expect(small.configRead(0x10, 4)).toBe(0xffffe000);
    // 2048 entries: table 0x8000 bytes, PBA 0x100 bytes at 0x8000 → extent 0x9000 → BAR 0x10000.
    expect(rig({ msix: { entries: 2048 } }).fn.bars[0].size).toBe(0x10000);
  });

  it('two BARs in one slot are a configuration error', () => {
    expect(() => rig({ msix: { entries: 4, bar: 1 }, bars: [{ index: 0, size: 0x1000, is64: true }] })).toThrow(/slot 1 is used twice/);
    expect(() => rig({ bars: [{ index: 0, size: 0x1800 }] })).toThrow(/power of two/);
  });
});
