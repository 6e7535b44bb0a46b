/**
 * A restore refuses what no machine can hold, naming the path, and changes nothing: the cases a random-operation
 * campaign found accepted and silently dropped.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/machine/machine.ts';
import { UsageError } from '../../src/core/errors.ts';

const mk = () => createMachine({ cpus: 2, iommu: { kind: 'intel' }, devices: [{ bdf: '00:03.0', msix: { entries: 2 } }] });

const CASES: [string, (s: any) => void, string][] = [
  ['a field beside version/config/devices', (s) => (s.extra = 1), 'snapshot.extra: no such field in a snapshot'],
  ['a device the machine does not have', (s) => (s.devices.uart = {}), 'snapshot.devices.uart: no such field in this machine\'s state'],
  ['a field in the PCI bus state', (s) => (s.devices.pci.extra = 1), 'snapshot.devices.pci.extra: no such field in this machine\'s state'],
  ['a field in a PCI function', (s) => (s.devices.pci.functions['00:03.0'].romBar = 0), 'snapshot.devices.pci.functions.00:03.0.romBar: no such field in this machine\'s state'],
  ['a field in the MSI-X state', (s) => (s.devices.pci.functions['00:03.0'].msix.masked = []), 'snapshot.devices.pci.functions.00:03.0.msix.masked: no such field in this machine\'s state'],
  ['a field in the I/O APIC', (s) => (s.devices.ioapic.eoi = 0), 'snapshot.devices.ioapic.eoi: no such field in this machine\'s state'],
  ['a field in the IOMMU', (s) => (s.devices.iommu.pmen = 0), 'snapshot.devices.iommu.pmen: no such field in this machine\'s state'],
  ['an MSI-X vector pending twice (one element more than the PBA can say)', (s) => (s.devices.pci.functions['00:03.0'].msix.pending = [1, 1]), 'PCI function 00:03.0 state: msix.pending: vector 1 is listed twice'],
  ['a LAPIC state for another CPU', (s) => (s.devices.cpus[1].cpu = 0), 'lapic1 state.cpu: state is for CPU 0, this LAPIC is CPU 1'],
];

it.each(CASES)('refuses %s, naming it, and changes nothing', (_name, edit, message) => {
  const m = mk();
  m.memory.write32(0x3000, 7);
  const input = JSON.parse(JSON.stringify(m.snapshot()));
  edit(input);
  m.memory.write32(0x3000, 8);
  const before = JSON.stringify(m.snapshot());
  let error: unknown;
  try {
    m.restore(input);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(UsageError);
  expect((error as Error).message).toBe(message);
  expect(JSON.stringify(m.snapshot())).toBe(before);
});
