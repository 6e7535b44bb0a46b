/**
 * Stress-campaign finding 7: an IOMMU's own interrupt (VT-d fault event / invalidation completion, AMD
 * event log through the IOMMU function's MSI) is a DMA write like any other. Only an address whose bits 31:20 are
 * 0xFEE is an interrupt (SDM 10.11.1; VT-d FEADDR_REG "Message Address": bits 31:20 must be 0xFEE for an interrupt);
 * anything else is a plain memory write, as it would be from a device.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import type { MemoryWriteEvent } from '../../src/core/events.ts';
import * as vtd from '../../src/iommu-intel/registers.ts';
import * as amdvi from '../../src/iommu-amd/registers.ts';
import type { AmdIommu } from '../../src/iommu-amd/amd-iommu.ts';
import { enableLapic, programAmdIrte, programIntelIrte, programMsix } from '../../bench/program.ts';

const NVME = [{ bdf: '00:03.0', msix: { entries: 1 } }];

/** Intel: IR on (EIME), FECTL unmasked with (FEADDR, FEDATA); then a remappable MSI to a not-present IRTE (0x22). */
function intelFault(feaddr: number, fedata: number): Machine {
  const m = createMachine({ cpus: 2, iommu: { kind: 'intel', dmaTranslation: false }, devices: NVME });
  enableLapic(m, 1, false);
  const base = m.firmware.dmar!.registerBase;
  const cpu = m.cpu(0);
  cpu.write32(base + vtd.FEDATA_REG, fedata);
  cpu.write32(base + vtd.FEADDR_REG, feaddr);
  cpu.write32(base + vtd.FECTL_REG, 0); // IM = 0
  programIntelIrte(m, 0x100000, 0, 1, 0x40);
  // Remappable format (VT-d §5.1.2.2): handle 5 in address 19:5, bit 4 = 1, SHV = 0. IRTE 5 is all zeros: P = 0.
  programMsix(m, '00:03.0', 0, BigInt((0xfee00000 | (5 << 5) | (1 << 4)) >>> 0), 0);
  return m;
}

describe('finding 7: an IOMMU interrupt whose address is not 0xFEEx_xxxx is a memory write', () => {
  it('VT-d fault event with FEADDR = 0x1000 writes FEDATA to 0x1000 and interrupts no CPU', () => {
    const m = intelFault(0x1000, 0x41);
    const writes: MemoryWriteEvent[] = [];
    m.events.on('memory_write', (e) => writes.push(e));
    m.device('00:03.0').signal(0);
    expect(m.memory.read32(0x1000)).toBe(0x41);
    expect(writes.map((w) => [w.addr, w.data])).toEqual([[0x1000n, 0x41]]);
    expect(m.cpu(1).acknowledge()).toBeNull();
    expect(m.cpu(0).acknowledge()).toBeNull();
  });

  it('VT-d fault event with FEADDR = 0xFEE01000 still interrupts APIC 1 (the control case)', () => {
    const m = intelFault(0xfee01000, 0x41);
    m.device('00:03.0').signal(0);
    expect(m.cpu(1).acknowledge()).toBe(0x41);
    expect(m.memory.isTouched(0xfee01000)).toBe(false);
  });

  it('AMD event-log interrupt through the IOMMU function MSI at 0x2000 writes memory', () => {
    const m = createMachine({ cpus: 2, iommu: { kind: 'amd', xt: false }, devices: NVME });
    enableLapic(m, 1, false);
    const unit = m.iommu as AmdIommu;
    const base = m.firmware.ivrs!.registerBase;
    const cpu = m.cpu(0);
    // The IOMMU function's MSI capability (PCI 3.0 §6.8.1): address, data, enable.
    const fn = unit.pciFunction;
    let cap = fn.configRead(0x34, 1);
    while (fn.configRead(cap, 1) !== 0x05) cap = fn.configRead(cap + 1, 1);
    fn.configWrite(cap + 4, 4, 0x2000);
    fn.configWrite(cap + 8, 4, 0);
    fn.configWrite(cap + 12, 2, 0x42);
    fn.configWrite(cap + 2, 2, 1);
    programAmdIrte(m, 0x200000, 0x400000, 0x18, 3, 1, 0x40);
    cpu.write64(base + amdvi.EVT_LOG_BASE, 0x300000n | (8n << 56n)); // 256 entries
    cpu.write64(base + amdvi.CONTROL, cpu.read64(base + amdvi.CONTROL) | amdvi.CTRL_EVENT_LOG_EN | amdvi.CTRL_EVENT_INT_EN);
    m.memory.write64(0x400000 + 16 * 3, 0n); // IRTE 3: RemapEn = 0 → IO_PAGE_FAULT logged, event-log interrupt
    programMsix(m, '00:03.0', 0, 0xfee00000n, 3);
    m.device('00:03.0').signal(0);
    expect(m.memory.read32(0x2000)).toBe(0x42);
    expect(m.cpu(1).acknowledge()).toBeNull();
  });
});
