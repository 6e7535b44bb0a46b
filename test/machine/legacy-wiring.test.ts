/**
 * The legacy half assembled: the 8259's INTR as ExtINT through LINT0 (virtual-wire mode A) and through I/O APIC input
 * 0 (mode B), ISA IRQs through the MADT overrides, and PCI INTx — level-triggered through the I/O APIC, Remote IRR
 * and EOI (broadcast and the EOI register), shared PIRQ lines, Interrupt Disable, the 8259 route, remapping.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import type { MachineConfig } from '../../src/core/config-types.ts';
import { enableLapic } from '../../bench/program.ts';
import { ConfigError, UsageError } from '../../src/core/errors.ts';
import * as vtd from '../../src/iommu-intel/registers.ts';

const REMOTE_IRR = 1 << 14;
const LEVEL = 1 << 15;
const ACTIVE_LOW = 1 << 13;

function machine(config: Partial<MachineConfig> = {}): Machine {
  const m = createMachine({ cpus: 2, ...config });
  enableLapic(m, 0, false);
  return m;
}

function writeRte(m: Machine, pin: number, lo: number, hi = 0): void {
  const cpu = m.cpu(0);
  cpu.write32(0xfec00000, 0x11 + 2 * pin);
  cpu.write32(0xfec00010, hi);
  cpu.write32(0xfec00000, 0x10 + 2 * pin);
  cpu.write32(0xfec00010, lo);
}

function readRteLo(m: Machine, pin: number): number {
  m.cpu(0).write32(0xfec00000, 0x10 + 2 * pin);
  return m.cpu(0).read32(0xfec00010);
}

/** Linux init_8259A: ICW1 0x11, vectors 0x30 / 0x38, slave on IR2, 8086 mode. */
function initPic(m: Machine): void {
  for (const [port, v] of [[0x20, 0x11], [0x21, 0x30], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x38], [0xa1, 0x02], [0xa1, 0x01]]) m.cpu(0).out8(port, v);
}

const irr = (m: Machine, cpu: number, vector: number) => ((m.cpu(cpu).lapic.irr[vector >>> 5] >>> (vector & 31)) & 1) === 1;

describe('virtual wire', () => {
  it('mode A: the 8259 INTR on LINT0 (ExtINT) — the CPU acknowledges through the 8259 and gets its vector', () => {
    const m = machine();
    initPic(m);
    m.cpu(0).write32(0xfee00350, 0x700); // LVT LINT0: ExtINT, unmasked
    m.setIsaIrq(1, true); // the keyboard
    expect(m.cpu(0).lapic.run.extIntPending).toBe(true);
    expect(m.cpu(1).lapic.run.extIntPending).toBe(false); // its LINT0 is masked
    expect(m.cpu(0).acknowledgeExtInt()).toBe(0x31);
    expect(m.cpu(0).lapic.run.extIntPending).toBe(false); // INTR dropped with the INTA
    expect(m.cpu(0).acknowledgeExtInt()).toBeNull();
  });

  it('mode B: the 8259 INTR on I/O APIC input 0 with an ExtINT RTE', () => {
    const m = machine();
    initPic(m);
    writeRte(m, 0, 7 << 8); // ExtINT, edge, physical destination 0
    m.setIsaIrq(12, true);
    expect(m.cpu(0).lapic.run.extIntPending).toBe(true);
    expect(m.cpu(0).acknowledgeExtInt()).toBe(0x3c);
  });

  it('the 8259 comes as the firmware leaves it (SeaBIOS pic_setup): vectors 0x08/0x70, all masked but the cascade', () => {
    const m = machine();
    expect(m.cpu(0).in8(0x21)).toBe(0xfb);
    expect(m.cpu(0).in8(0xa1)).toBe(0xff);
    expect(m.pic.master.vectorBase).toBe(0x08);
    expect(m.pic.slave.vectorBase).toBe(0x70);
    m.setIsaIrq(1, true);
    expect(m.pic.output).toBe(false);
  });

  it('time passing on an idle machine does nothing', () => {
    const m = machine();
    const hops: string[] = [];
    m.events.on('hop', (h) => hops.push(h.name));
    m.advance(1_000_000);
    expect(hops).toEqual([]);
    expect(m.clock.now).toBe(1_000_000);
  });
});

describe('ISA IRQs and the MADT overrides', () => {
  it('the firmware lists QEMU\'s overrides: IRQ0 → GSI 2 (dfl), 5/9/10/11 active high level', () => {
    const m = machine();
    expect(m.firmware.madt.interruptSourceOverrides.map((o) => [o.source, o.gsi, o.flags])).toEqual([[0, 2, 0], [5, 5, 0xd], [9, 9, 0xd], [10, 10, 0xd], [11, 11, 0xd]]);
    expect(m.firmware.madt.localApicNmi).toEqual({ processorUid: 0xff, flags: 0, lint: 1 });
  });

  it('IRQ0 arrives at I/O APIC input 2, IRQ4 at input 4', () => {
    const m = machine();
    writeRte(m, 2, 0x30);
    writeRte(m, 4, 0x34);
    m.setIsaIrq(0, true);
    m.setIsaIrq(4, true);
    expect(irr(m, 0, 0x30)).toBe(true);
    expect(irr(m, 0, 0x34)).toBe(true);
    expect(m.ioapic.isAsserted(0)).toBe(false);
  });

  it('the SCI (IRQ9, active high level): Remote IRR holds it until the EOI, re-delivered while still asserted', () => {
    const m = machine();
    writeRte(m, 9, 0x49 | LEVEL);
    m.setIsaIrq(9, true);
    expect(readRteLo(m, 9) & REMOTE_IRR).toBe(REMOTE_IRR);
    expect(m.cpu(0).acknowledge()).toBe(0x49);
    m.cpu(0).write32(0xfee000b0, 0);
    expect(m.cpu(0).acknowledge()).toBe(0x49);
    m.setIsaIrq(9, false);
    m.cpu(0).write32(0xfee000b0, 0);
    expect(readRteLo(m, 9) & REMOTE_IRR).toBe(0);
  });

  it('refuses the cascade IRQ2 and IRQs beyond 15', () => {
    const m = machine();
    expect(() => m.setIsaIrq(2, true)).toThrow(UsageError);
    expect(() => m.setIsaIrq(16, true)).toThrow(UsageError);
  });
});

describe('PCI INTx', () => {
  const DEVS = [
    { bdf: '00:03.0', intx: 'A' as const },
    { bdf: '00:07.0', intx: 'A' as const },
    { bdf: '00:04.0', intx: 'B' as const, behindBridges: [5] },
  ];

  it('Interrupt Pin reads the configured pin; each function reaches the PIRQ of QEMU\'s table', () => {
    const m = machine({ devices: DEVS });
    expect(m.device('00:03.0').configRead(0x3d, 1)).toBe(1);
    expect(m.intxRoute('00:03.0')).toEqual({ pirq: 'PIRQH', gsi: 23, picIrq: -1 });
    expect(m.intxRoute('00:07.0')).toEqual({ pirq: 'PIRQH', gsi: 23, picIrq: -1 });
    // INTB of device 4 behind a bridge at slot 5: swizzle(2, 4) = INTB at the bridge; slot 5 INTB → (5 + 1) mod 4 + 4 = PIRQG.
    expect(m.intxRoute('00:04.0')).toEqual({ pirq: 'PIRQG', gsi: 22, picIrq: -1 });
  });

  it('level INTx through the I/O APIC: Remote IRR, EOI broadcast, re-delivery while asserted', () => {
    const m = machine({ devices: DEVS });
    const fn = m.device('00:03.0').fn;
    writeRte(m, 23, 0x60 | LEVEL | ACTIVE_LOW);
    fn.setIntx(true);
    expect(fn.configRead(0x06, 2) & 0x8).toBe(0x8); // Status.Interrupt Status
    expect(m.ioapic.isAsserted(23)).toBe(true);
    expect(readRteLo(m, 23) & REMOTE_IRR).toBe(REMOTE_IRR);
    expect(m.cpu(0).acknowledge()).toBe(0x60);
    m.cpu(0).write32(0xfee000b0, 0); // EOI: level vector → broadcast → Remote IRR clear → still asserted → again
    expect(m.cpu(0).acknowledge()).toBe(0x60);
    fn.setIntx(false);
    m.cpu(0).write32(0xfee000b0, 0);
    expect(readRteLo(m, 23) & REMOTE_IRR).toBe(0);
    expect(m.cpu(0).acknowledge()).toBeNull();
  });

  it('directed EOI: with EOI-broadcast suppression only the I/O APIC EOI register clears Remote IRR', () => {
    const m = machine({ devices: DEVS });
    const fn = m.device('00:03.0').fn;
    m.cpu(0).write32(0xfee000f0, 0x1ff | (1 << 12)); // SVR: enabled, EOI-broadcast suppression
    writeRte(m, 23, 0x61 | LEVEL | ACTIVE_LOW);
    fn.setIntx(true);
    m.cpu(0).acknowledge();
    fn.setIntx(false);
    m.cpu(0).write32(0xfee000b0, 0);
    expect(readRteLo(m, 23) & REMOTE_IRR).toBe(REMOTE_IRR);
    m.cpu(0).write32(0xfec00040, 0x61); // the I/O APIC EOI register (version 0x20)
    expect(readRteLo(m, 23) & REMOTE_IRR).toBe(0);
  });

  it('a shared line stays asserted while any function asserts it', () => {
    const m = machine({ devices: DEVS });
    const a = m.device('00:03.0').fn;
    const b = m.device('00:07.0').fn;
    a.setIntx(true);
    b.setIntx(true);
    a.setIntx(false);
    expect(m.ioapic.isAsserted(23)).toBe(false); // RTE 23 still masked at reset: polarity active high reads the low wire as idle
    writeRte(m, 23, 0x62 | LEVEL | ACTIVE_LOW | (1 << 16));
    expect(m.ioapic.isAsserted(23)).toBe(true);
    b.setIntx(false);
    expect(m.ioapic.isAsserted(23)).toBe(false);
  });

  it('Command.Interrupt Disable holds INTx# off while Status.Interrupt Status still shows the condition', () => {
    const m = machine({ devices: DEVS });
    const fn = m.device('00:03.0').fn;
    writeRte(m, 23, 0x63 | LEVEL | ACTIVE_LOW | (1 << 16));
    fn.configWrite(0x04, 2, fn.configRead(0x04, 2) | 0x400);
    fn.setIntx(true);
    expect(fn.configRead(0x06, 2) & 0x8).toBe(0x8);
    expect(m.ioapic.isAsserted(23)).toBe(false);
    fn.configWrite(0x04, 2, fn.configRead(0x04, 2) & ~0x400);
    expect(m.ioapic.isAsserted(23)).toBe(true);
  });

  it('PIRQH_ROUT = 0x0B routes the line to the 8259 IRQ11 as well; an asserted PIRQ moves with the route', () => {
    const m = machine({ devices: DEVS });
    initPic(m);
    m.cpu(0).out8(0x4d1, 0x08); // ELCR2: IRQ11 level
    const fn = m.device('00:03.0').fn;
    fn.setIntx(true);
    expect(m.pic.isHigh(11)).toBe(false);
    m.pci.configWrite('00:1f.0', 0x6b, 1, 0x0b);
    expect(m.pic.isHigh(11)).toBe(true);
    expect(m.intxRoute('00:03.0').picIrq).toBe(11);
    expect(m.pic.acknowledge()).toBe(0x3b);
    m.pci.configWrite('00:1f.0', 0x6b, 1, 0x80);
    expect(m.pic.isHigh(11)).toBe(false);
  });

  it('through VT-d interrupt remapping: a remappable RTE reaches its level-triggered IRTE; the EOI clears Remote IRR', () => {
    const m = machine({ devices: DEVS, iommu: { kind: 'intel' } });
    const cpu = m.cpu(0);
    const table = 0x100000;
    // IRTE 3: present, trigger mode level (bit 4), vector 0x70, destination APIC ID 0.
    cpu.write64(table + 16 * 3, (0x70n << 16n) | (1n << 4n) | 1n);
    cpu.write64(table + 16 * 3 + 8, 0n);
    const base = m.firmware.dmar!.registerBase;
    cpu.write64(base + vtd.IRTA_REG, BigInt(table) | 0xfn);
    cpu.write32(base + vtd.GCMD_REG, vtd.GCMD_SIRTP);
    cpu.write32(base + vtd.GCMD_REG, vtd.GCMD_IRE);
    // Remappable RTE (VT-d 5.1.5.1): format bit 48, handle 14:0 in 63:49; vector field = the IRTE's (Linux).
    writeRte(m, 23, 0x70 | LEVEL | ACTIVE_LOW, (1 << 16) | (3 << 17));
    m.device('00:03.0').fn.setIntx(true);
    expect(irr(m, 0, 0x70)).toBe(true);
    expect(readRteLo(m, 23) & REMOTE_IRR).toBe(REMOTE_IRR);
    m.device('00:03.0').fn.setIntx(false);
    expect(cpu.acknowledge()).toBe(0x70);
    cpu.write32(0xfee000b0, 0);
    expect(readRteLo(m, 23) & REMOTE_IRR).toBe(0);
  });

  it('configuration errors name the field', () => {
    expect(() => createMachine({ cpus: 1, devices: [{ bdf: '00:03.0', intx: 'E' as never }] })).toThrow(/devices\[0\]\.intx/);
    expect(() => createMachine({ cpus: 1, devices: [{ bdf: '00:03.0', behindBridges: [1] }] })).toThrow(/give intx too/);
    expect(() => createMachine({ cpus: 1, devices: [{ bdf: '00:03.0', intx: 'A', behindBridges: [32] }] })).toThrow(ConfigError);
    expect(() => createMachine({ cpus: 1, legacy: { pic: 'i8259' as never } })).toThrow(/legacy\.pic/);
    expect(() => createMachine({ cpus: 1, ioapic: { pins: 16 }, devices: [{ bdf: '00:03.0', intx: 'A' }] })).toThrow(/16\.\.23/);
  });
});
