/**
 * Addresses are one type in the event stream: every hop argument that names an address — `addr`, `addr2`, `iova`,
 * `gpa`, `pda`, `rtaddr`, `backing_page` — is a bigint, on every hop a machine emits (QEMU-named and irqpath_*), so
 * a listener can compare or mask it without checking its type first. (irqpath_msi_route once carried a number where vtd_ir_remap_msi_req carried a
 * bigint, and several hops carried "0x…" strings.) The machines below are booted by the Linux model with IOMMU DMA
 * translation and interrupt remapping, so their hops include the guest's register programming, invalidation waits,
 * DMA translation and faults as well as the interrupts, and every built-in scenario's traced sources are checked too.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import type { MachineConfig } from '../../src/core/config-types.ts';
import type { TraceHop } from '../../src/core/events.ts';
import { LinuxGuest } from '../../src/guest/linux/linux-guest.ts';
import { DEFAULT_LINUX_VERSION, parseLinuxVersion } from '../../src/core/linux-version.ts';
import { builtInScenarios } from '../../src/scenario/scenario-library.ts';
import { runScenario } from '../../src/scenario/run-scenario.ts';

const ADDRESS_ARGS = new Set(['addr', 'addr2', 'iova', 'gpa', 'pda', 'rtaddr', 'backing_page']);

/** "name addr=number" for every address argument that is not a bigint. */
function notBigint(hops: readonly TraceHop[]): string[] {
  const bad = new Set<string>();
  for (const hop of hops) for (const [k, v] of hop.args) if (ADDRESS_ARGS.has(k) && typeof v !== 'bigint') bad.add(`${hop.name} ${k}=${typeof v}`);
  return [...bad];
}

function bootAndExercise(config: MachineConfig): { machine: Machine; hops: TraceHop[] } {
  const machine = createMachine(config);
  const hops: TraceHop[] = [];
  machine.events.on('hop', (h) => hops.push(h));
  const guest = new LinuxGuest(machine, parseLinuxVersion(DEFAULT_LINUX_VERSION, 'version'));
  guest.boot();
  guest.setupInterrupt({ id: 'q0', kind: 'msix', device: '00:03.0', vector: 0, cpu: 1 });
  guest.setupInterrupt({ id: 'uart', kind: 'ioapic', pin: 4, cpu: 2 });
  machine.device('00:03.0').signal(0);
  machine.ioapic.assert(4);
  // A mapped page, an unmapped one (a DMA fault), and a write into the interrupt window (an interrupt request).
  const mapping = guest.mapDma('00:03.0', 0x10000, { read: true, write: true });
  machine.device('00:03.0').dmaWrite(mapping.iova, 0x1234);
  machine.device('00:03.0').dmaRead(mapping.iova);
  machine.device('00:03.0').dmaWrite(0x20000, 0x1234);
  machine.device('00:03.0').dmaWrite(0xfee00000, 0x45);
  return { machine, hops };
}

describe('address arguments of hops are bigints', () => {
  it('on an Intel VT-d machine (DMA translation and interrupt remapping)', () => {
    const { hops } = bootAndExercise({ cpus: 4, devices: [{ bdf: '00:03.0', msix: { entries: 2 } }], iommu: { kind: 'intel', dmaTranslation: true, interruptRemapping: true } });
    expect(hops.some((h) => h.name === 'irqpath_msi_route')).toBe(true);
    expect(hops.some((h) => h.name === 'vtd_dmar_fault')).toBe(true);
    expect(notBigint(hops)).toEqual([]);
  });

  it('on an AMD-Vi machine (DMA translation and interrupt remapping)', () => {
    const { hops } = bootAndExercise({ cpus: 4, cpuVendor: 'amd', devices: [{ bdf: '00:03.0', msix: { entries: 2 } }], iommu: { kind: 'amd', dmaTranslation: true } });
    expect(hops.some((h) => h.name === 'amdvi_ir_remap_msi_req')).toBe(true);
    expect(notBigint(hops)).toEqual([]);
  });

  it('in every built-in scenario', () => {
    const hops = builtInScenarios().flatMap((s) => runScenario(s, { trace: true }).sources.flatMap((src) => src.hops));
    expect(hops.length).toBeGreaterThan(100);
    expect(notBigint(hops)).toEqual([]);
  });
});
