/**
 * MSI-X (PCI 3.0 §6.8.2). With msix {entries: 8} alone the capability sits at 0x40 (control +2,
 * table +4, PBA +8); BAR0 holds the table at 0 (16 bytes per entry) and the PBA at 0x1000.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { COMMAND, MASTER, rig, sent } from './helpers.ts';

const CTRL = 0x42;
const ENABLE = 0x8000;
const MASKALL = 0x4000;
const PBA = 0x1000;
const entry = (n: number) => 16 * n;

function msixRig(listen = false, extra: Parameters<typeof rig>[0] = {}) {
  const r = rig({ msix: { entries: 8 }, ...extra }, listen);
  r.fn.configWrite(COMMAND, 2, MASTER);
  const table = r.fn.msix!;
  /** Program entry n like a driver: address, data, then vector control. */
  const program = (n: number, addrLo: number, data: number, masked = false, addrHi = 0) => {
    table.write(entry(n), 4, BigInt(addrLo));
    table.write(entry(n) + 4, 4, BigInt(addrHi));
    table.write(entry(n) + 8, 4, BigInt(data));
    table.write(entry(n) + 12, 4, masked ? 1n : 0n);
  };
  return { ...r, table, program };
}

describe('MSI-X capability', () => {
  it('reports table size N−1 and the table/PBA offsets with BIR, read-only', () => {
    const { fn } = msixRig();
    expect(fn.configRead(CTRL, 2)).toBe(7);
    expect(fn.configRead(0x44, 4)).toBe(0x00000000); // table at 0 in BAR0
    expect(fn.configRead(0x48, 4)).toBe(0x00001000); // PBA at 0x1000 in BAR0
    fn.configWrite(0x44, 4, 0xffffffff);
    fn.configWrite(CTRL, 2, 0x07ff);
    expect(fn.configRead(0x44, 4)).toBe(0);
    expect(fn.configRead(CTRL, 2)).toBe(7);
  });

  it('BIR names the configured BAR', () => {
    const { fn } = rig({ msix: { entries: 4, bar: 2, tableOffset: 0x800 } });
    expect(fn.configRead(0x44, 4)).toBe(0x802);
    expect(fn.configRead(0x48, 4)).toBe(0x1002);
    expect(fn.bars.map((b) => [b.index, b.size])).toEqual([[2, 0x2000]]);
  });

  it('every table entry starts masked, with zero address and data', () => {
    const { table, fn } = msixRig();
    for (let n = 0; n < 8; n++) {
      expect(table.read(entry(n) + 12, 4)).toBe(1n);
      expect(fn.msixEntry(n)).toEqual({ addr: 0n, data: 0, masked: true, pending: false });
    }
  });

  it('an overlapping table and PBA is a configuration error', () => {
    expect(() => rig({ msix: { entries: 8, pbaOffset: 0x40 } })).toThrow(/overlaps the table/);
    expect(() => rig({ msix: { entries: 8, tableOffset: 4 } })).toThrow(/8-byte aligned/);
  });
});

describe('MSI-X delivery', () => {
  it('an enabled, unmasked entry sends its address and data', () => {
    const { fn, dma, program } = msixRig();
    program(2, 0xfee02000, 0x4061, false, 0x0000_0100);
    fn.configWrite(CTRL, 2, ENABLE);
    fn.signal(2);
    expect(sent(dma)).toEqual([[0x100, 0xfee02000, 0x4061]]);
    expect(dma.messages[0].slot).toBe(fn.msix!.routeSlot(2));
  });

  it('function mask: the vector pends in the PBA and is sent when the function is unmasked', () => {
    const { fn, dma, table, program } = msixRig();
    program(2, 0xfee00000, 0x62);
    fn.configWrite(CTRL, 2, ENABLE | MASKALL);
    fn.signal(2);
    expect(dma.messages).toHaveLength(0);
    expect(table.read(PBA, 4)).toBe(0b100n);
    fn.configWrite(CTRL, 2, ENABLE);
    expect(sent(dma)).toEqual([[0, 0xfee00000, 0x62]]);
    expect(table.read(PBA, 4)).toBe(0n);
  });

  it('entry mask: the vector pends and is sent when the entry is unmasked', () => {
    const { fn, dma, table, program } = msixRig();
    program(5, 0xfee00000, 0x65, true);
    fn.configWrite(CTRL, 2, ENABLE);
    fn.signal(5);
    expect(dma.messages).toHaveLength(0);
    expect(fn.msixEntry(5)).toEqual({ addr: 0xfee00000n, data: 0x65, masked: true, pending: true });
    table.write(entry(5) + 12, 4, 0n);
    expect(dma.messages.map((m) => m.data)).toEqual([0x65]);
    expect(fn.msixEntry(5).pending).toBe(false);
  });

  it('the pending message uses the entry contents at unmask time', () => {
    const { fn, dma, table, program } = msixRig();
    program(1, 0xfee00000, 0x30, true);
    fn.configWrite(CTRL, 2, ENABLE);
    fn.signal(1);
    table.write(entry(1) + 8, 4, 0x31n); // the driver retargets while masked
    table.write(entry(1) + 12, 4, 0n);
    expect(dma.messages.map((m) => m.data)).toEqual([0x31]);
  });

  it('a function unmask does not send a vector whose entry is still masked', () => {
    const { fn, dma, table, program } = msixRig();
    program(3, 0xfee00000, 0x33, true);
    fn.configWrite(CTRL, 2, ENABLE | MASKALL);
    fn.signal(3);
    fn.configWrite(CTRL, 2, ENABLE);
    expect(dma.messages).toHaveLength(0);
    expect(table.read(PBA, 4)).toBe(0b1000n);
  });

  it('PBA writes are ignored', () => {
    const { fn, table, program } = msixRig();
    program(0, 0xfee00000, 0x40, true);
    fn.configWrite(CTRL, 2, ENABLE);
    fn.signal(0);
    table.write(PBA, 4, 0n);
    expect(table.read(PBA, 4)).toBe(1n);
    table.write(PBA, 8, 0xffn);
    expect(table.read(PBA, 8)).toBe(1n);
  });

  it('disabling MSI-X masks every vector; the signal falls back to MSI', () => {
    const { fn, dma, program } = msixRig(false, { msi: { vectors: 1 } });
    program(0, 0xfee00000, 0x70);
    fn.configWrite(0x42, 2, 0x0001); // MSI enable (MSI capability first at 0x40)
    fn.configWrite(0x44, 4, 0xfee00000);
    fn.configWrite(0x4c, 2, 0x51);
    fn.signal(0);
    expect(dma.messages.map((m) => m.data)).toEqual([0x51]);
    expect(fn.msixEntry(0).masked).toBe(true);
  });

  it('MSI-X takes precedence when both are enabled', () => {
    const { fn, dma, program } = msixRig(false, { msi: { vectors: 1 } });
    program(0, 0xfee00000, 0x70);
    fn.configWrite(0x42, 2, 0x0001);
    fn.configWrite(0x52, 2, ENABLE); // MSI-X control: capability at 0x50 (after the 0x0E-byte MSI, dword aligned)
    expect(fn.config.capabilities().map((c) => c.offset)).toEqual([0x40, 0x50]);
    fn.signal(0);
    expect(dma.messages.map((m) => m.data)).toEqual([0x70]);
  });

  it('enabling MSI-X with a pending, unmasked vector sends it', () => {
    const { fn, dma, program } = msixRig();
    program(4, 0xfee00000, 0x44);
    fn.configWrite(CTRL, 2, ENABLE | MASKALL);
    fn.signal(4);
    fn.configWrite(CTRL, 2, 0); // disable: still masked (disabled), still pending
    expect(dma.messages).toHaveLength(0);
    fn.configWrite(CTRL, 2, ENABLE);
    expect(dma.messages.map((m) => m.data)).toEqual([0x44]);
  });

  it('bus master disable blocks MSI-X: interrupt_lost, no PBA bit', () => {
    const { fn, dma, table, lost, program } = msixRig(true);
    program(0, 0xfee00000, 0x40);
    fn.configWrite(CTRL, 2, ENABLE);
    fn.configWrite(COMMAND, 2, 0);
    fn.signal(0);
    expect(dma.messages).toHaveLength(0);
    expect(table.read(PBA, 4)).toBe(0n);
    expect(lost.map((e) => [e.source, e.reason])).toEqual([['00:03.0 MSI-X vector 0', 'bus master disabled']]);
  });

  it('an out-of-range vector is a usage error naming the table size', () => {
    const { fn } = msixRig();
    fn.configWrite(CTRL, 2, ENABLE);
    expect(() => fn.signal(8)).toThrow(UsageError);
    expect(() => fn.signal(8)).toThrow(/00:03\.0.*8 entries/);
  });

  it('reports irqpath_msix_masked_pending and irqpath_msix_notify', () => {
    const { fn, hops, program } = msixRig(true);
    program(1, 0xfee00000, 0x41, true);
    fn.configWrite(CTRL, 2, ENABLE);
    hops.length = 0;
    fn.signal(1);
    fn.msix!.write(entry(1) + 12, 4, 0n);
    expect(hops.map((h) => [h.name, Object.fromEntries(h.args)])).toEqual([
      ['irqpath_msix_masked_pending', { bdf: '00:03.0', vector: 1 }],
      ['irqpath_msix_notify', { bdf: '00:03.0', vector: 1, addr: 0xfee00000n, data: 0x41 }],
    ]);
  });
});

describe('MSI-X table accesses', () => {
  it('a QWORD write fills address low and high', () => {
    const { table, fn } = msixRig();
    table.write(entry(3), 8, 0x0000_0002_fee0_1000n);
    expect(fn.msixEntry(3).addr).toBe(0x2_fee0_1000n);
    expect(table.read(entry(3), 8)).toBe(0x0000_0002_fee0_1000n);
  });

  it('address bits 1:0 and vector control bits 31:1 read as 0', () => {
    const { table } = msixRig();
    table.write(entry(0), 4, 0xfee00003n);
    table.write(entry(0) + 12, 4, 0xfffffffen);
    expect(table.read(entry(0), 4)).toBe(0xfee00000n);
    expect(table.read(entry(0) + 12, 4)).toBe(0n);
  });

  it('narrow or misaligned accesses are ignored and read all ones', () => {
    const { table } = msixRig();
    table.write(entry(0) + 8, 2, 0x1234n);
    table.write(entry(0) + 4, 8, 0xffffffffffffffffn);
    expect(table.read(entry(0) + 8, 4)).toBe(0n);
    expect(table.read(entry(0) + 4, 4)).toBe(0n);
    expect(table.read(entry(0), 2)).toBe(0xffffn);
    expect(table.read(entry(0) + 4, 8)).toBe(0xffffffffffffffffn);
  });

  it('the rest of the BAR reads 0', () => {
    const { table } = msixRig();
    expect(table.read(0x800, 4)).toBe(0n);
  });
});
