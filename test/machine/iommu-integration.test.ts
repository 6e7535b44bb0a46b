/**
 * The IOMMUs wired into the machine bus: behaviour that only shows when the translation core, its route slots and
 * the remapping units work together.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../src/machine/machine.ts';
import type { IommuFaultEvent } from '../../src/core/events.ts';
import * as amdvi from '../../src/iommu-amd/registers.ts';
import { enableLapic, programAmdIrte, programIntelIrte, programMsix } from '../../bench/program.ts';

const NVME = [{ bdf: '00:03.0', msix: { entries: 2 } }];

describe('IOMMUs on the machine bus', () => {
  it('AMD IRTCacheDis: an IRTE rewritten without invalidation takes effect at once, also through a warm route', () => {
    const m = createMachine({ cpus: 2, iommu: { kind: 'amd' }, devices: NVME });
    enableLapic(m, 1, true);
    programAmdIrte(m, 0x200000, 0x400000, 0x18, 3, 1, 0x40);
    const base = m.firmware.ivrs!.registerBase;
    m.cpu(0).write64(base + amdvi.CONTROL, m.cpu(0).read64(base + amdvi.CONTROL) | amdvi.CTRL_IRT_CACHE_DIS);
    programMsix(m, '00:03.0', 0, 0xfee00000n, 3);
    m.device('00:03.0').signal(0);
    expect(m.cpu(1).acknowledge()).toBe(0x40);
    m.cpu(1).wrmsr(0x80b, 0n); // EOI, so the next vector of the same priority class can be taken
    // Rewrite IRTE 3's vector (128-bit IRTE: vector in bits 71:64) and do NOT issue INVALIDATE_INTERRUPT_TABLE.
    m.memory.write64(0x400000 + 16 * 3 + 8, 0x41n);
    m.device('00:03.0').signal(0);
    expect(m.cpu(1).acknowledge()).toBe(0x41);
  });

  it('AMD with IRTE caching on: the same rewrite is invisible until INVALIDATE_INTERRUPT_TABLE', () => {
    const m = createMachine({ cpus: 2, iommu: { kind: 'amd' }, devices: NVME });
    enableLapic(m, 1, true);
    programAmdIrte(m, 0x200000, 0x400000, 0x18, 3, 1, 0x40);
    programMsix(m, '00:03.0', 0, 0xfee00000n, 3);
    m.device('00:03.0').signal(0);
    m.memory.write64(0x400000 + 16 * 3 + 8, 0x41n);
    m.device('00:03.0').signal(0);
    expect([m.cpu(1).acknowledge(), m.cpu(1).acknowledge()]).toEqual([0x40, null]);
  });

  it('Intel: a compatibility-format message claimed by a hypervisor ABI (Windows high bits) is still blocked with 0x25 under EIME', () => {
    const m = createMachine({ cpus: 2, apicIds: [0, 0x100], iommu: { kind: 'intel', dmaTranslation: false }, hypervisor: { windowsHighAddressBits: true }, devices: NVME });
    enableLapic(m, 1, true);
    programIntelIrte(m, 0x100000, 0, 0x100, 0x40); // IRE on with EIME: compatibility format is blocked
    const faults: IommuFaultEvent[] = [];
    m.events.on('iommu_fault', (e) => faults.push(e));
    // Windows' layout for APIC 0x100: destination 31:8 = 1 in address 55:32.
    programMsix(m, '00:03.0', 0, 0x0000_0001_fee0_0000n, 0x40);
    m.device('00:03.0').signal(0);
    expect(faults.map((f) => f.code)).toEqual([0x25]);
    expect(m.cpu(1).acknowledge()).toBeNull();
    expect(m.memory.isTouched(0x1_fee0_0000)).toBe(false);
  });
});
