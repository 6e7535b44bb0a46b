/**
 * fireVector / programVector: a message of the caller's choosing, sent by a device's MSI or MSI-X vector, without
 * the caller touching config space. Expected deliveries are read off the compatibility format (Intel SDM Vol. 3
 * §11.11.1-2: destination ID in address 19:12, vector in data 7:0) and PCI 3.0 §6.8.1.5 (MSI message k carries the
 * data with its low log2(n) bits = k). The machines are booted by the Linux model first, so every LAPIC is
 * software-enabled and accepts fixed interrupts.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createMachine, createGuest, fireVector, programVector, type ApicAcceptEvent, type LinuxGuest, type WindowsGuest } from '../../src/index.ts';
import { UsageError } from '../../src/core/errors.ts';

function booted() {
  const m = createMachine({
    cpus: 4,
    devices: [
      { bdf: '00:03.0', msix: { entries: 4 } },
      { bdf: '00:04.0', msi: { vectors: 4, addr64: true } },
      { bdf: '00:05.0', msi: { vectors: 1, addr64: false } },
    ],
  });
  createGuest(m, { os: 'linux' }).boot();
  const accepted: ApicAcceptEvent[] = [];
  m.events.on('apic_accept', (e) => accepted.push(e));
  return { m, accepted };
}

describe('fireVector', () => {
  it('programs MSI-X entry 3 and fires it: address 0xfee02000 data 0x4031 reaches CPU 2 at vector 0x31', () => {
    const { m, accepted } = booted();
    const sent = fireVector(m, '00:03.0', 'msix', 3, { addr: 0xfee02000n, data: 0x4031 });
    expect(sent).toEqual({ addr: 0xfee02000n, data: 0x4031 });
    expect(accepted.map((e) => [e.cpu, e.vector])).toEqual([[2, 0x31]]);
  });

  it('programs MSI message 2 of 4: data 0x42 (bits 1:0 = 2) reaches CPU 1 at vector 0x42; the capability holds 0x40', () => {
    const { m, accepted } = booted();
    fireVector(m, '00:04.0', 'msi', 2, { addr: 0xfee01000, data: 0x42 });
    expect(accepted.map((e) => [e.cpu, e.vector])).toEqual([[1, 0x42]]);
    // Message 0 of the same capability carries the base data, 0x40.
    m.device('00:04.0').signal(0);
    expect(accepted.map((e) => [e.cpu, e.vector])).toEqual([[1, 0x42], [1, 0x40]]);
  });

  it('turns MSI off when it programs MSI-X on the same device, and the other way round', () => {
    const m = createMachine({ cpus: 2, devices: [{ bdf: '00:03.0', msi: { vectors: 1 }, msix: { entries: 1 } }] });
    createGuest(m, { os: 'linux' }).boot();
    const accepted: number[] = [];
    m.events.on('apic_accept', (e) => accepted.push(e.vector));
    fireVector(m, '00:03.0', 'msix', 0, { addr: 0xfee00000n, data: 0x51 });
    fireVector(m, '00:03.0', 'msi', 0, { addr: 0xfee00000n, data: 0x52 });
    fireVector(m, '00:03.0', 'msix', 0, { addr: 0xfee00000n, data: 0x53 });
    expect(accepted).toEqual([0x51, 0x52, 0x53]);
  });

  it('refuses what the device cannot send, naming why, and programs nothing', () => {
    const { m, accepted } = booted();
    expect(() => fireVector(m, '00:04.0', 'msi', 2, { addr: 0xfee01000n, data: 0x41 })).toThrow(/message 2 carries data with bits 1:0 = 2; data 0x41 has 1/);
    expect(() => fireVector(m, '00:05.0', 'msi', 0, { addr: 0x1_fee01000n, data: 0x41 })).toThrow(/32-bit and cannot hold address 0x1fee01000/);
    expect(() => fireVector(m, '00:03.0', 'msix', 4, { addr: 0xfee01000n, data: 0x41 })).toThrow(/MSI-X table has entries 0\.\.3/);
    expect(() => fireVector(m, '00:03.0', 'msi', 0, { addr: 0xfee01000n, data: 0x41 })).toThrow(/has no MSI capability/);
    expect(() => fireVector(m, '00:04.0', 'msi', 0, { addr: 0xfee01000n, data: 0x1_0000 })).toThrow(UsageError);
    expect(() => programVector(m, '00:03.0', 'msix', 0, { addr: 1n << 64n, data: 0 })).toThrow(/not a 64-bit address/);
    expect(accepted).toEqual([]);
  });
});

describe('createGuest is typed by its os', () => {
  it('returns LinuxGuest for linux and WindowsGuest for windows', () => {
    const m = createMachine({ cpus: 2 });
    const linux = createGuest(m, { os: 'linux' });
    expectTypeOf(linux).toEqualTypeOf<LinuxGuest>();
    expect(typeof linux.mapDma).toBe('function');
    const windows = createGuest(createMachine({ cpus: 2 }), { os: 'windows' });
    expectTypeOf(windows).toEqualTypeOf<WindowsGuest>();
  });
});
