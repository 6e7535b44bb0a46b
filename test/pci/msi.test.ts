/**
 * MSI capability (PCI 3.0 §6.8.1). With msi {vectors: 4, perVectorMask: true} the 64-bit capability
 * sits at 0x40: control +2, address +4/+8, data +0xC, mask +0x10, pending +0x14.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { COMMAND, MASTER, RID, rig, sent } from './helpers.ts';

const CAP = 0x40;
const CTRL = CAP + 2;
const ADDR_LO = CAP + 4;
const ADDR_HI = CAP + 8;
const DATA = CAP + 0xc;
const MASK = CAP + 0x10;
const PENDING = CAP + 0x14;
const ENABLE = 0x0001;
const mme = (log2: number) => log2 << 4;

function msiRig(vectors = 4, perVectorMask = true, listen = false) {
  const r = rig({ msi: { vectors, perVectorMask } }, listen);
  r.fn.configWrite(COMMAND, 2, MASTER);
  r.fn.configWrite(ADDR_LO, 4, 0xfee01000);
  r.fn.configWrite(ADDR_HI, 4, 0);
  return r;
}

describe('MSI message control', () => {
  it('advertises MMC, 64-bit and per-vector masking read-only', () => {
    const { fn } = msiRig();
    // MMC = log2(4) = 2 in bits 3:1 → 0x4; 64-bit 0x80; per-vector masking 0x100.
    expect(fn.configRead(CTRL, 2)).toBe(0x0184);
    fn.configWrite(CTRL, 2, 0);
    expect(fn.configRead(CTRL, 2)).toBe(0x0184);
  });

  it('MME above MMC is clamped to MMC (undefined in the spec; QEMU clamps)', () => {
    const { fn } = msiRig();
    fn.configWrite(CTRL, 2, ENABLE | mme(5));
    expect((fn.configRead(CTRL, 2) >> 4) & 7).toBe(2);
  });

  it('address bits 1:0 read as 0 and the upper half of the data dword is not implemented', () => {
    const { fn } = msiRig();
    fn.configWrite(ADDR_LO, 4, 0xfee00003);
    fn.configWrite(DATA, 4, 0xabcd1234);
    expect(fn.configRead(ADDR_LO, 4)).toBe(0xfee00000);
    expect(fn.configRead(DATA, 4)).toBe(0x1234);
  });

  it('mask bits exist only for the vectors the function has', () => {
    const { fn } = msiRig(4);
    fn.configWrite(MASK, 4, 0xffffffff);
    expect(fn.configRead(MASK, 4)).toBe(0xf);
  });
});

describe('MSI multiple messages', () => {
  it('message k replaces the low MME bits of the data: base 0x40, MME 2 → 0x40..0x43', () => {
    const { fn, dma } = msiRig();
    fn.configWrite(DATA, 2, 0x40);
    fn.configWrite(CTRL, 2, ENABLE | mme(2));
    for (let k = 0; k < 4; k++) fn.signal(k);
    expect(sent(dma)).toEqual([0x40, 0x41, 0x42, 0x43].map((d) => [0, 0xfee01000, d]));
  });

  it('a base of 0x41 gives the same messages (its low bits are replaced)', () => {
    const { fn, dma } = msiRig();
    fn.configWrite(DATA, 2, 0x41);
    fn.configWrite(CTRL, 2, ENABLE | mme(2));
    for (let k = 0; k < 4; k++) fn.signal(k);
    expect(dma.messages.map((m) => m.data)).toEqual([0x40, 0x41, 0x42, 0x43]);
  });

  it('with fewer messages allocated than requested, event n uses message n mod 2^MME', () => {
    const { fn, dma } = msiRig();
    fn.configWrite(DATA, 2, 0x40);
    fn.configWrite(CTRL, 2, ENABLE | mme(1)); // 2 of 4 messages allocated
    fn.signal(3);
    expect(dma.messages.map((m) => m.data)).toEqual([0x41]);
  });

  it('the 16-bit data is zero-extended and sent with the requester ID', () => {
    const { fn, dma } = msiRig(1, false);
    fn.configWrite(DATA, 2, 0xffff);
    fn.configWrite(CTRL, 2, ENABLE);
    fn.signal(0);
    expect(dma.messages[0].data).toBe(0x0000ffff);
    expect(dma.messages[0].sourceId).toBe(RID);
  });

  it('a 32-bit capability sends address high 0', () => {
    const { fn, dma } = rig({ msi: { vectors: 1, addr64: false } });
    fn.configWrite(COMMAND, 2, MASTER);
    fn.configWrite(0x44, 4, 0xfee00000);
    fn.configWrite(0x48, 2, 0x31); // data at +8 in the 32-bit layout
    fn.configWrite(0x42, 2, ENABLE);
    fn.signal(0);
    expect(sent(dma)).toEqual([[0, 0xfee00000, 0x31]]);
  });

  it('each message has its own reused route slot', () => {
    const { fn, dma } = msiRig();
    fn.configWrite(CTRL, 2, ENABLE | mme(2));
    fn.signal(1);
    fn.signal(2);
    fn.signal(1);
    expect(dma.messages[0].slot).toBe(dma.messages[2].slot);
    expect(dma.messages[0].slot).not.toBe(dma.messages[1].slot);
  });
});

describe('MSI per-vector masking', () => {
  it('a masked vector sets its pending bit and sends nothing; unmasking sends it and clears pending', () => {
    const { fn, dma } = msiRig();
    fn.configWrite(DATA, 2, 0x50);
    fn.configWrite(CTRL, 2, ENABLE | mme(2));
    fn.configWrite(MASK, 4, 0b0010);
    fn.signal(1);
    expect(dma.messages).toHaveLength(0);
    expect(fn.configRead(PENDING, 4)).toBe(0b0010);
    expect(fn.msiMessage(1)).toEqual({ addr: 0xfee01000n, data: 0x51, masked: true, pending: true });
    fn.configWrite(MASK, 4, 0);
    expect(dma.messages.map((m) => m.data)).toEqual([0x51]);
    expect(fn.configRead(PENDING, 4)).toBe(0);
  });

  it('pending bits are read-only to software', () => {
    const { fn } = msiRig();
    fn.configWrite(CTRL, 2, ENABLE | mme(2));
    fn.configWrite(MASK, 4, 0b0001);
    fn.signal(0);
    fn.configWrite(PENDING, 4, 0);
    expect(fn.configRead(PENDING, 4)).toBe(0b0001);
    fn.configWrite(PENDING, 4, 0xf);
    expect(fn.configRead(PENDING, 4)).toBe(0b0001);
  });

  it('unmasking a vector that is not pending sends nothing', () => {
    const { fn, dma } = msiRig();
    fn.configWrite(CTRL, 2, ENABLE | mme(2));
    fn.configWrite(MASK, 4, 0xf);
    fn.configWrite(MASK, 4, 0);
    expect(dma.messages).toHaveLength(0);
  });

  it('without per-vector masking there are no mask or pending registers', () => {
    const { fn } = rig({ msi: { vectors: 4 } });
    expect(fn.config.capabilities()).toEqual([{ id: 5, offset: 0x40 }]);
    // 64-bit without masking: 0x0E bytes, +0xC is the data; where a mask register would be (+0x10) nothing is.
    fn.configWrite(0x50, 4, 0xffffffff);
    expect(fn.configRead(0x50, 4)).toBe(0);
    expect(fn.msiMessage(0).masked).toBe(false);
  });
});

describe('MSI delivery conditions', () => {
  it('bus master disable blocks the message: interrupt_lost, no pending bit', () => {
    const { fn, dma, lost } = msiRig(4, true, true);
    fn.configWrite(CTRL, 2, ENABLE);
    fn.configWrite(COMMAND, 2, 0);
    fn.signal(0);
    expect(dma.messages).toHaveLength(0);
    expect(fn.configRead(PENDING, 4)).toBe(0);
    expect(lost.map((e) => [e.source, e.reason])).toEqual([['00:03.0 MSI vector 0', 'bus master disabled']]);
  });

  it('MSI disabled: nothing is sent and the loss is reported', () => {
    const { fn, dma, lost } = msiRig(4, true, true);
    fn.signal(2);
    expect(dma.messages).toHaveLength(0);
    expect(lost.map((e) => e.reason)).toEqual(['MSI and MSI-X disabled']);
  });

  it('an out-of-range vector is a usage error naming the device and the limit', () => {
    const { fn } = msiRig(4);
    fn.configWrite(CTRL, 2, ENABLE | mme(2));
    expect(() => fn.signal(4)).toThrow(UsageError);
    expect(() => fn.signal(4)).toThrow(/00:03\.0.*4 MSI vectors/);
    expect(() => fn.signal(4)).toThrow(/out of range/);
  });

  it('reports irqpath_msi_notify (QEMU has no event for it) with bdf, vector, address and data', () => {
    const { fn, hops } = msiRig(4, true, true);
    fn.configWrite(DATA, 2, 0x40);
    fn.configWrite(CTRL, 2, ENABLE | mme(2));
    hops.length = 0;
    fn.signal(3);
    expect(hops.map((h) => [h.name, Object.fromEntries(h.args)])).toEqual([
      ['irqpath_msi_notify', { bdf: '00:03.0', vector: 3, addr: 0xfee01000n, data: 0x43 }],
    ]);
  });

  it('reports pci_cfg_write with QEMU\'s arguments (device, bus, slot, function, offset, value) for software config writes', () => {
    const { fn, hops } = rig({}, true);
    fn.configWrite(COMMAND, 2, MASTER);
    expect(hops.map((h) => [h.name, Object.fromEntries(h.args)])).toEqual([
      ['pci_cfg_write', { dev: '00:03.0', bus: 0, slot: 3, func: 0, offs: 4, val: 4 }],
    ]);
  });
});

describe('DMA writes', () => {
  it('go out with the requester ID while bus mastering is on', () => {
    const { fn, dma } = rig();
    fn.configWrite(COMMAND, 2, MASTER);
    fn.dmaWrite(0x1, 0x2000, 0xdeadbeef);
    expect(dma.writes).toEqual([{ kind: 'dma', sourceId: RID, addrHi: 1, addrLo: 0x2000, data: 0xdeadbeef, slot: null }]);
  });

  it('are blocked while bus mastering is off', () => {
    const { fn, dma, lost } = rig({}, true);
    fn.dmaWrite(0, 0xfee00000, 0x30);
    expect(dma.writes).toHaveLength(0);
    expect(lost.map((e) => e.reason)).toEqual(['bus master disabled']);
  });
});
