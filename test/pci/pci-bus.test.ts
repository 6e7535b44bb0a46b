/** Config access by BDF, absent functions, and save/restore of functions and the bus. */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { EventHub } from '../../src/core/events.ts';
import { PciBus } from '../../src/pci/pci-bus.ts';
import { PciFunction } from '../../src/pci/pci-function.ts';
import { RecordingDma } from '../ioapic/recording-dma.ts';
import { COMMAND, MASTER } from './helpers.ts';

function twoFunctionBus() {
  const hub = new EventHub();
  const dma = new RecordingDma();
  const nic = new PciFunction({ bdf: '00:03.0', name: 'nic', msix: { entries: 4 } }, dma, hub);
  const disk = new PciFunction({ bdf: '00:04.0', msi: { vectors: 8, perVectorMask: true } }, dma, hub);
  const bus = new PciBus();
  bus.add(nic);
  bus.add(disk);
  return { bus, nic, disk, dma, hub };
}

describe('PCI bus config access', () => {
  it('reaches a function by BDF string or requester ID', () => {
    const { bus } = twoFunctionBus();
    expect(bus.configRead('00:03.0', 0, 2)).toBe(0x1b36);
    expect(bus.configRead(0x20, 0, 4)).toBe(0x00051b36); // 00:04.0 = 4 << 3
    bus.configWrite('00:04.0', COMMAND, 2, MASTER);
    expect(bus.configRead('00:04.0', COMMAND, 2)).toBe(MASTER);
  });

  it('an absent function reads all ones and ignores writes (master abort)', () => {
    const { bus } = twoFunctionBus();
    expect(bus.configRead('00:05.0', 0, 4)).toBe(0xffffffff);
    expect(bus.configRead('00:05.0', 0, 2)).toBe(0xffff);
    expect(bus.configRead('00:05.0', 0x0e, 1)).toBe(0xff);
    bus.configWrite('00:05.0', COMMAND, 2, MASTER);
  });

  it('validates the access even for an absent function', () => {
    const { bus } = twoFunctionBus();
    expect(() => bus.configRead('00:05.0', 0x101, 1)).toThrow(UsageError);
    expect(() => bus.configWrite('00:05.0', 2, 4, 0)).toThrow(/not aligned/);
    expect(() => bus.configRead('00:20.0', 0, 4)).toThrow(/device number/);
  });

  it('refuses two functions at one address', () => {
    const { bus, dma, hub } = twoFunctionBus();
    expect(() => bus.add(new PciFunction({ bdf: '00:03.0' }, dma, hub))).toThrow(/already taken/);
  });
});

describe('save and restore', () => {
  function programmed() {
    const r = twoFunctionBus();
    const { nic, disk } = r;
    nic.configWrite(COMMAND, 2, MASTER);
    nic.programBar(0, 0xc000_0000);
    nic.msix!.write(16, 4, 0xfee01000n);
    nic.msix!.write(24, 4, 0x4041n);
    nic.msix!.write(28, 4, 0n); // entry 1 unmasked; the function mask below holds it
    nic.configWrite(0x42, 2, 0xc000); // enable + function mask
    nic.signal(1); // pends in the PBA
    disk.configWrite(COMMAND, 2, MASTER);
    disk.configWrite(0x44, 4, 0xfee00000);
    disk.configWrite(0x4c, 2, 0x60);
    disk.configWrite(0x50, 4, 0x4); // mask message 2
    disk.configWrite(0x42, 2, 0x0031); // enable, MME = 3 (8 messages)
    disk.signal(2); // pends
    return r;
  }

  it('restore(save()) gives the same future messages', () => {
    const a = programmed();
    const state = JSON.parse(JSON.stringify(a.bus.save()));
    const b = twoFunctionBus();
    b.bus.restore(state);
    expect(b.bus.save()).toEqual(a.bus.save());
    for (const r of [a, b]) {
      r.dma.clear();
      r.nic.configWrite(0x42, 2, 0x8000); // function unmask → pending vector 1 goes out
      r.disk.configWrite(0x50, 4, 0); // unmask message 2 → pending message goes out
    }
    expect(b.dma.messages.map((m) => [m.sourceId, m.addrLo >>> 0, m.data])).toEqual([
      [0x18, 0xfee01000, 0x4041],
      [0x20, 0xfee00000, 0x62],
    ]);
    expect(a.dma.messages.map((m) => [m.sourceId, m.addrLo >>> 0, m.data])).toEqual(
      b.dma.messages.map((m) => [m.sourceId, m.addrLo >>> 0, m.data]),
    );
    expect(b.nic.bars[0].base).toBe(0xc000_0000);
  });

  it('restore sends nothing by itself', () => {
    const a = programmed();
    const b = twoFunctionBus();
    b.bus.restore(a.bus.save());
    expect(b.dma.messages).toHaveLength(0);
  });

  it('a bad state is rejected and nothing changes', () => {
    const a = programmed();
    const good = a.bus.save();
    const before = JSON.stringify(good);
    const nic = good.functions['00:03.0'] as Record<string, unknown>;
    const disk = good.functions['00:04.0'] as Record<string, unknown>;
    const withDisk = (patch: object) => ({ ...good, functions: { ...good.functions, '00:04.0': { ...disk, ...patch } } });
    const config = disk.config as string;
    const broken = [
      { ...good, version: 9 },
      { ...good, functions: { '00:03.0': nic } },
      withDisk({ version: 2 }),
      withDisk({ config: 'ab' }),
      withDisk({ config: '0000' + config.slice(4) }), // vendor ID is read-only: another device's state
      { ...good, functions: { ...good.functions, '00:03.0': { ...nic, msix: { table: [], pending: [] } } } },
      { ...good, functions: { ...good.functions, '00:03.0': { ...nic, msix: { ...(nic.msix as object), pending: [4] } } } },
    ];
    for (const state of broken) {
      expect(() => a.bus.restore(state as never)).toThrow(UsageError);
      expect(JSON.stringify(a.bus.save())).toBe(before);
    }
    // Control 0x01F7: RO bits 0x0186 (per-vector masking, 64-bit, MMC 3) kept, MME 7 > MMC 3, enable.
    const mme7 = withDisk({ config: config.slice(0, 0x42 * 2) + 'f701' + config.slice(0x44 * 2) });
    expect(() => a.bus.restore(mme7 as never)).toThrow(/Multiple Message Enable 7 is above Multiple Message Capable 3/);
    expect(JSON.stringify(a.bus.save())).toBe(before);
  });
});
