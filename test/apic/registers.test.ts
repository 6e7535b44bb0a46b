/** xAPIC register file: reset values (SDM 10.12.5.1), write masks (KVM), MMIO access rules (SDM 10.4.1). */
import { describe, expect, test } from 'vitest';
import { makeBus, mmioRead, mmioWrite, softwareEnable, enterX2apic } from './helpers.ts';

describe('reset state', () => {
  test('ID is the initial APIC ID << 24 (its low 8 bits), LVR is 0x01050014', () => {
    const { bus } = makeBus([0, 5, 0x1234]);
    expect(mmioRead(bus.lapics[1], 0x20)).toBe(0x05000000);
    expect(mmioRead(bus.lapics[2], 0x20)).toBe(0x34000000);
    expect(mmioRead(bus.lapics[0], 0x30)).toBe(0x01050014);
  });

  test('SVR 0xFF, DFR all ones, TPR/LDR/IRR/ISR/TMR 0, every LVT masked (0x10000)', () => {
    const l = makeBus([0, 1]).bus.lapics[1];
    expect(mmioRead(l, 0xf0)).toBe(0xff);
    expect(mmioRead(l, 0xe0) >>> 0).toBe(0xffffffff);
    expect(mmioRead(l, 0x80)).toBe(0);
    expect(mmioRead(l, 0xd0)).toBe(0);
    for (let off = 0x100; off < 0x280; off += 0x10) expect(mmioRead(l, off)).toBe(0);
    for (let off = 0x320; off <= 0x370; off += 0x10) expect(mmioRead(l, off)).toBe(0x10000);
  });

  test('CPU 0 runs at reset, the others wait for SIPI', () => {
    const { bus } = makeBus([0, 1, 2]);
    expect(bus.lapics.map((l) => l.runState)).toEqual(['running', 'wait-for-sipi', 'wait-for-sipi']);
  });
});

describe('write masks', () => {
  test('DFR write 0 reads 0x0FFFFFFF (only 31:28 writable)', () => {
    const l = makeBus().bus.lapics[1];
    mmioWrite(l, 0xe0, 0);
    expect(mmioRead(l, 0xe0)).toBe(0x0fffffff);
  });

  test('LDR write 0xFFFFFFFF reads 0xFF000000', () => {
    const l = makeBus().bus.lapics[1];
    mmioWrite(l, 0xd0, 0xffffffff);
    expect(mmioRead(l, 0xd0) >>> 0).toBe(0xff000000);
  });

  test('xAPIC ID is writable in bits 31:24 only', () => {
    const l = makeBus().bus.lapics[1];
    mmioWrite(l, 0x20, 0x12345678);
    expect(mmioRead(l, 0x20)).toBe(0x12000000);
  });

  test('SVR keeps bits 9:0 and 12 (LVR bit 24 advertises directed EOI)', () => {
    const l = makeBus().bus.lapics[1];
    mmioWrite(l, 0xf0, 0xffffffff);
    expect(mmioRead(l, 0xf0)).toBe(0x13ff);
  });

  test('TPR keeps bits 7:0', () => {
    const l = makeBus().bus.lapics[1];
    mmioWrite(l, 0x80, 0x1ff);
    expect(mmioRead(l, 0x80)).toBe(0xff);
  });

  test('LVT write masks: delivery status and remote IRR are read-only', () => {
    const l = makeBus().bus.lapics[1];
    softwareEnable(l);
    for (let off = 0x320; off <= 0x370; off += 0x10) mmioWrite(l, off, 0xffffffff);
    expect(mmioRead(l, 0x320)).toBe(0x000700ff); // timer: vector, mask, mode 18:17
    expect(mmioRead(l, 0x330)).toBe(0x000107ff); // thermal: vector, delivery mode, mask
    expect(mmioRead(l, 0x350)).toBe(0x0001a7ff); // LINT0: + polarity 13, trigger 15; not 12, 14
    expect(mmioRead(l, 0x370)).toBe(0x000100ff); // error: vector, mask
  });

  test('while software-disabled, LVT mask bits stay set', () => {
    const l = makeBus().bus.lapics[1];
    mmioWrite(l, 0x370, 0x30);
    expect(mmioRead(l, 0x370)).toBe(0x10030);
  });

  test('software-disabling the APIC masks every LVT', () => {
    const l = makeBus().bus.lapics[1];
    softwareEnable(l);
    mmioWrite(l, 0x360, 0x400); // LINT1 as NMI, unmasked
    expect(mmioRead(l, 0x360)).toBe(0x400);
    mmioWrite(l, 0xf0, 0xff);
    expect(mmioRead(l, 0x360)).toBe(0x10400);
  });

  test('timer registers are stored (TDCR keeps bits 0,1,3); a TMICT write loads TMCCT (SDM 10.5.4)', () => {
    const l = makeBus().bus.lapics[1];
    mmioWrite(l, 0x3e0, 0xf);
    mmioWrite(l, 0x380, 0x10000);
    expect(mmioRead(l, 0x3e0)).toBe(0xb);
    expect(mmioRead(l, 0x380)).toBe(0x10000);
    expect(mmioRead(l, 0x390)).toBe(0x10000);
  });
});

describe('PPR (SDM 10.8.3.1)', () => {
  test('PPR = TPR when nothing is in service', () => {
    const l = makeBus().bus.lapics[1];
    mmioWrite(l, 0x80, 0x35);
    expect(mmioRead(l, 0xa0)).toBe(0x35);
  });

  test('PPR = ISRV & 0xF0 when the in-service class is higher than TPR\'s', () => {
    const l = makeBus().bus.lapics[1];
    mmioWrite(l, 0x80, 0x35);
    l.isr[0x61 >>> 5] |= 1 << (0x61 & 31);
    expect(mmioRead(l, 0xa0)).toBe(0x60);
  });

  test('PPR = TPR when TPR\'s class is at least the in-service class (0x75 vs 0x61)', () => {
    const l = makeBus().bus.lapics[1];
    mmioWrite(l, 0x80, 0x75);
    l.isr[0x61 >>> 5] |= 1 << (0x61 & 31);
    expect(mmioRead(l, 0xa0)).toBe(0x75);
  });
});

describe('MMIO access rules', () => {
  test('accesses that are not 4 bytes wide and 16-byte aligned read 0 and are ignored', () => {
    const l = makeBus().bus.lapics[1];
    mmioWrite(l, 0x80, 0x20);
    expect(l.read(0x80, 2)).toBe(0n);
    expect(l.read(0x84, 4)).toBe(0n);
    l.write(0x80, 2, 0x40n);
    l.write(0x84, 4, 0x40n);
    expect(mmioRead(l, 0x80)).toBe(0x20);
  });

  test('a reserved register offset sets ESR bit 7 (illegal register address)', () => {
    const l = makeBus().bus.lapics[1];
    expect(mmioRead(l, 0x40)).toBe(0);
    mmioWrite(l, 0x280, 0);
    expect(mmioRead(l, 0x280)).toBe(0x80);
  });

  test('SELF IPI (0x3F0) is a reserved offset in xAPIC mode', () => {
    const { bus } = makeBus();
    softwareEnable(bus.lapics[1]);
    mmioWrite(bus.lapics[1], 0x3f0, 0x50);
    expect(bus.lapics[1].irr[0x50 >>> 5]).toBe(0);
    mmioWrite(bus.lapics[1], 0x280, 0);
    expect(mmioRead(bus.lapics[1], 0x280)).toBe(0x80);
  });

  test('EOI is write-only: it reads 0', () => {
    expect(mmioRead(makeBus().bus.lapics[1], 0xb0)).toBe(0);
  });

  test('in x2APIC mode the page reads all ones and drops writes', () => {
    const l = makeBus().bus.lapics[1];
    enterX2apic(l);
    expect(l.read(0x80, 4)).toBe(0xffffffffn);
    l.write(0x80, 4, 0x20n);
    expect(l.rdmsr(0x808)).toBe(0n);
  });
});
