/**
 * The interrupts Linux 6.1 sets up while booting on q35 (src/guest/linux/boot-irqs.ts), on machines built here like
 * the recorded QEMU 7.2 boots (4 TCG vCPUs without x2APIC, virtio-net, e1000e, nvme and the ICH9 AHCI, each with
 * INTA). Expected values are the recorded kernel's (test/fixtures/qemu-recordings/<name>/: interrupts.txt for IRQ,
 * chip, hwirq and name, irq-affinity.txt for the CPU, irt.json for IRTE index and vector), and each follows from the
 * kernel's rules by hand:
 * - CPU 0 holds the timer (0x30) and, with remapping, the DMAR fault vector (0x21, set up before the APs are up);
 *   every later default-affinity vector goes to the CPU with the most available vectors (matrix_find_best_cpu), at
 *   its lowest free vector: acpi → CPU 1, i8042 AUX → 2, keyboard → 3, rtc0 → 1 (0x22), ttyS0 → 2, virtio config → 3;
 * - legacy pins 1..15 own IRTEs 0..14; each PCI function's INTx GSI takes the next IRTE at pci_enable_device, before
 *   its MSI-X entries (one IRTE each): virtio 15 / 16-18, e1000e 19 / 20-22, nvme 23 / 24-28 (its first admin IRTE
 *   24 freed and taken again), AHCI 29 / 30;
 * - nvme's four queue vectors are managed, one CPU each, reserved before the admin vector is requested (so the admin
 *   vector, unmanaged, lands on CPU 2 at 0x24, past CPU 2's reservation 0x23);
 * - e1000e requests its vectors only when eth1 is brought up, after nvme and ahci.
 */
import { describe, expect, it } from 'vitest';
import type { MachineConfig } from '../../src/core/config-types.ts';
import { createGuest } from '../../src/guest/create-guest.ts';
import { requestBootIrqs, type BootIrq } from '../../src/guest/linux/boot-irqs.ts';
import { createMachine } from '../../src/machine/machine.ts';
import { HARNESS_BOOT } from '../../src/tools/qemu-recording.ts';

/** The devices QEMU placed in the recordings with the Intel vIOMMU (the AMD one takes 00:02.0 and shifts them by one). */
function q35(iommu: MachineConfig['iommu'], firstSlot = 2): MachineConfig {
  const slot = (n: number) => `00:0${firstSlot + n}.0`;
  return {
    cpus: 4,
    cpuVendor: 'amd',
    cpu: { x2apic: false },
    bareMetal: true,
    iommu,
    devices: [
      { bdf: slot(0), name: 'virtio-net-pci', vendorId: 0x1af4, deviceId: 0x1000, msix: { entries: 4 }, intx: 'A' },
      { bdf: slot(1), name: 'e1000e', vendorId: 0x8086, deviceId: 0x10d3, msix: { entries: 5 }, intx: 'A' },
      { bdf: slot(2), name: 'nvme', vendorId: 0x1b36, deviceId: 0x0010, msix: { entries: 65 }, intx: 'A' },
      { bdf: '00:1f.2', name: 'ich9-ahci', vendorId: 0x8086, deviceId: 0x2922, msi: { vectors: 1 }, intx: 'A' },
    ],
  };
}

function bootIrqs(config: MachineConfig, cmdline = 'console=ttyS0') {
  const g = createGuest(createMachine(config), { os: 'linux', version: '6.1', cmdline });
  g.boot();
  return { g, ...requestBootIrqs(g, HARNESS_BOOT) };
}

const row = (b: BootIrq) => [b.irq, b.name, b.chip, b.hwirq, b.trigger, b.cpu, b.vector, b.irteIndex];

describe('Linux 6.1 boot IRQs on q35 (recorded: intel-ir-4cpu, amd-iommu, intel-ir-k-intremap-off)', () => {
  it('Intel vIOMMU with remapping: every /proc/interrupts row, its CPU, vector and IRTE', () => {
    const { irqs, notes } = bootIrqs(q35({ kind: 'intel' }));
    expect(notes).toEqual([]);
    expect([...irqs].sort((a, b) => a.irq - b.irq).map(row)).toEqual([
      [0, 'timer', 'IR-IO-APIC', 2, 'edge', 0, 0x30, 1],
      [1, 'i8042', 'IR-IO-APIC', 1, 'edge', 3, 0x21, 0],
      [4, 'ttyS0', 'IR-IO-APIC', 4, 'edge', 2, 0x22, 3],
      [8, 'rtc0', 'IR-IO-APIC', 8, 'edge', 1, 0x22, 7],
      [9, 'acpi', 'IR-IO-APIC', 9, 'fasteoi', 1, 0x21, 8],
      [12, 'i8042', 'IR-IO-APIC', 12, 'edge', 2, 0x21, 11],
      [24, 'dmar0', 'DMAR-MSI', 0, 'edge', 0, 0x21, undefined],
      [25, 'virtio0-config', 'IR-PCI-MSI', 32768, 'edge', 3, 0x22, 16],
      [26, 'virtio0-input.0', 'IR-PCI-MSI', 32769, 'edge', 0, 0x22, 17],
      [27, 'virtio0-output.0', 'IR-PCI-MSI', 32770, 'edge', 1, 0x23, 18],
      [28, 'eth1-rx-0', 'IR-PCI-MSI', 49152, 'edge', 0, 0x24, 20],
      [29, 'eth1-tx-0', 'IR-PCI-MSI', 49153, 'edge', 1, 0x25, 21],
      [30, 'eth1', 'IR-PCI-MSI', 49154, 'edge', 2, 0x25, 22],
      [31, 'nvme0q0', 'IR-PCI-MSI', 65536, 'edge', 2, 0x24, 24],
      [32, 'nvme0q1', 'IR-PCI-MSI', 65537, 'edge', 0, 0x23, 25],
      [33, 'nvme0q2', 'IR-PCI-MSI', 65538, 'edge', 1, 0x24, 26],
      [34, 'nvme0q3', 'IR-PCI-MSI', 65539, 'edge', 2, 0x23, 27],
      [35, 'nvme0q4', 'IR-PCI-MSI', 65540, 'edge', 3, 0x23, 28],
      [36, 'ahci[0000:00:1f.2]', 'IR-PCI-MSI', 512000, 'edge', 3, 0x24, 30],
    ]);
  });

  it('AMD vIOMMU: the AMD-Vi event-log interrupt goes through the IOMMU function\'s MSI (CPU 2, vector 0x21), after the SCI', () => {
    // QEMU 7.2's amd-iommu has no XTSup (the recording's "Extended features (0x29d3, 0x0): PreF PPR GT IA GA HE").
    const { g, irqs } = bootIrqs(q35({ kind: 'amd', efr: '0x29d3' }, 3));
    const amdVi = irqs.find((b) => b.name === 'AMD-Vi')!;
    // interrupts.txt: "24: PCI-MSI 32768-edge AMD-Vi"; irq-affinity: 24 effective=2.
    expect(row(amdVi)).toEqual([24, 'AMD-Vi', 'PCI-MSI', 32768, 'edge', 2, 0x21, undefined]);
    expect(irqs.map((b) => b.name).slice(0, 4)).toEqual(['timer', 'acpi', 'AMD-Vi', 'i8042']);
    // pci-config.txt of 00:02.0, MSI capability: control 0x0081 (enabled, 64-bit), address 0xfee04004 (logical
    // destination 0x04 = CPU 2's flat LDR bit, DM = 1), data 0x0021.
    const fn = g.machine.pci.get('00:02.0')!;
    const msi = (g.machine.iommu as unknown as { pciFunction: { msiCapOffset: number } }).pciFunction.msiCapOffset;
    expect(fn.configRead(msi + 2, 2) & 1).toBe(1);
    expect(fn.configRead(msi + 4, 4) >>> 0).toBe(0xfee04004);
    expect(fn.configRead(msi + 12, 2)).toBe(0x21);
    // The I/O APIC's entries are indexed by pin (irt.json 0xa0: acpi at 9 → vector 0x21, i8042 AUX at 12 → CPU 3).
    expect(irqs.filter((b) => b.chip === 'IR-IO-APIC').map((b) => [b.hwirq, b.irteIndex, b.cpu, b.vector])).toEqual([
      [2, 2, 0, 0x30],
      [9, 9, 1, 0x21],
      [12, 12, 3, 0x21],
      [1, 1, 0, 0x21],
      [8, 8, 1, 0x22],
      [4, 4, 2, 0x22],
    ]);
  });

  it('intremap=off: the DMAR fault interrupt is set up for DMA remapping at pci_iommu_init, after the SCI (CPU 2), not remapped', () => {
    const { irqs } = bootIrqs(q35({ kind: 'intel' }), 'console=ttyS0 intremap=off');
    expect(irqs.slice(0, 4).map((b) => [b.irq, b.name, b.chip, b.cpu])).toEqual([
      [0, 'timer', 'IO-APIC', 0],
      [9, 'acpi', 'IO-APIC', 1],
      [24, 'dmar0', 'DMAR-MSI', 2],
      [12, 'i8042', 'IO-APIC', 3],
    ]);
    expect(irqs.every((b) => b.irteIndex === undefined)).toBe(true);
  });

  it('a module with no modelled driver behaviour is named, not dropped silently', () => {
    const g = createGuest(createMachine(q35({ kind: 'intel' })), { os: 'linux', version: '6.1', cmdline: '' });
    g.boot();
    const r = requestBootIrqs(g, { modules: ['virtio_pci', 'snd_hda_intel'], netUp: false });
    expect(r.notes).toEqual(['module snd_hda_intel: no driver behaviour modelled; it requests no interrupts here']);
    // No console= on the command line: no serial port is opened, so no ttyS row.
    expect(r.irqs.map((b) => b.name)).toEqual(['timer', 'dmar0', 'acpi', 'i8042', 'i8042', 'rtc0']);
  });

  it('misuse is a usage error naming what is wrong, with nothing set up', () => {
    const m = createMachine(q35({ kind: 'intel' }));
    const g = createGuest(m, { os: 'linux', version: '6.1', cmdline: '' });
    expect(() => requestBootIrqs(g, HARNESS_BOOT)).toThrow(/has not booted yet \(call boot\(\) first\)/);
    g.boot();
    expect(() => requestBootIrqs(g, { modules: 'nvme', netUp: true } as never)).toThrow(/plan\.modules must be a list of module names, got "nvme"/);
    expect(() => requestBootIrqs(g, { modules: [], netUp: 'yes' } as never)).toThrow(/plan\.netUp must be true or false, got "yes"/);
    expect(() => requestBootIrqs({} as never, HARNESS_BOOT)).toThrow(/expected a Linux guest/);
    requestBootIrqs(g, HARNESS_BOOT);
    expect(() => requestBootIrqs(g, HARNESS_BOOT)).toThrow(/requested already/);
  });
});

describe('multi-MSI allocation under remapping (pci_alloc_irq_vectors with PCI_IRQ_MSI)', () => {
  const DEV = '00:05.0';
  const machine = (iommu: MachineConfig['iommu']) =>
    createMachine({ cpus: 2, cpu: { x2apic: false }, bareMetal: true, iommu, devices: [{ bdf: DEV, msi: { vectors: 8 } }, { bdf: '00:06.0', msix: { entries: 2 } }] });

  it('Intel: 3 messages take an aligned block of 4 IRTEs (alloc_irte: __roundup_pow_of_two, bitmap_find_free_region); MME = 2; message 3 has no IRQ', () => {
    const g = createGuest(machine({ kind: 'intel' }), { os: 'linux', version: '6.1' });
    g.boot();
    // Pins 1..15 own IRTEs 0..14; the first free block of 4 aligned to 4 starts at 16, leaving 15 free.
    expect(g.allocateMsiIrtes(DEV, 3)).toBe(true);
    const got = [0, 1, 2].map((k) => g.setupInterrupt({ id: `m${k}`, kind: 'msi', device: DEV, vector: k, cpu: 1 }).irteIndex);
    expect(got).toEqual([16, 17, 18]);
    const dev = g.machine.device(DEV);
    const cap = 0x40; // the model's first capability
    expect(dev.configRead(cap, 1)).toBe(0x05);
    expect((dev.configRead(cap + 2, 2) >> 4) & 7).toBe(2); // MME: 4 messages
    expect(g.setupInterrupt({ id: 'm3', kind: 'msi', device: DEV, vector: 3, cpu: 1 })).toMatchObject({ status: 'refused', note: 'MSI message 3 has no IRQ: the driver allocated 3' });
    // The next single allocation takes the first free IRTE: 15.
    g.allocateMsixIrtes('00:06.0', 1);
    expect(g.setupInterrupt({ id: 'x', kind: 'msix', device: '00:06.0', vector: 0, cpu: 1 }).irteIndex).toBe(15);
  });

  it('AMD: 3 messages take 3 indices at an index aligned to 4 (alloc_irq_index with align); index 3 stays free', () => {
    const g = createGuest(machine({ kind: 'amd', efr: '0x29d3' }), { os: 'linux', version: '6.1' });
    g.boot();
    expect(g.allocateMsiIrtes(DEV, 3)).toBe(true);
    expect([0, 1, 2].map((k) => g.setupInterrupt({ id: `m${k}`, kind: 'msi', device: DEV, vector: k, cpu: 1 }).irteIndex)).toEqual([0, 1, 2]);
    expect(g.setupInterrupt({ id: 'm3', kind: 'msi', device: DEV, vector: 3, cpu: 1 }).status).toBe('refused');
  });

  it('a count the capability cannot hold, or a second allocation, is a usage error', () => {
    const g = createGuest(machine({ kind: 'intel' }), { os: 'linux', version: '6.1' });
    g.boot();
    expect(() => g.allocateMsiIrtes(DEV, 9)).toThrow(/supports 1\.\.8 MSI messages, got 9/);
    expect(() => g.allocateMsiIrtes('00:06.0', 1)).toThrow(/00:06\.0 has no MSI capability/);
    g.allocateMsiIrtes(DEV, 2);
    expect(() => g.allocateMsiIrtes(DEV, 2)).toThrow(/allocated already/);
  });
});

describe('the allocation steps on their own', () => {
  it('two functions whose INTA share a PIRQ map one GSI: one IRTE (mp_map_gsi_to_irq finds the mapping)', () => {
    // q35: slot s INTA → PIRQ E + (s mod 4) (ich9 irr defaults): slots 2 and 6 both reach PIRQG, GSI 22.
    const m = createMachine({ cpus: 1, iommu: { kind: 'intel' }, devices: [{ bdf: '00:02.0', intx: 'A', msix: { entries: 1 } }, { bdf: '00:06.0', intx: 'A' }] });
    expect(m.intxRoute('00:02.0').gsi).toBe(22);
    expect(m.intxRoute('00:06.0').gsi).toBe(22);
    const g = createGuest(m, { os: 'linux', version: '6.1' });
    g.boot();
    g.mapGsi(22);
    g.mapGsi(22);
    // Pins 1..15 hold IRTEs 0..14, GSI 22 took 15 once: the next IRTE is 16.
    g.allocateMsixIrtes('00:02.0', 1);
    expect(g.setupInterrupt({ id: 'x', kind: 'msix', device: '00:02.0', vector: 0, cpu: 0 }).irteIndex).toBe(16);
  });

  it('freeMsix gives the vector and the IRTE back: the next allocation takes both again', () => {
    const g = createGuest(createMachine({ cpus: 1, iommu: { kind: 'intel' }, devices: [{ bdf: '00:02.0', msix: { entries: 2 } }] }), { os: 'linux', version: '6.1' });
    g.boot();
    g.allocateMsixIrtes('00:02.0', 1);
    const first = g.setupInterrupt({ id: 'a', kind: 'msix', device: '00:02.0', vector: 0, cpu: 0 });
    expect([first.irteIndex, first.vector]).toEqual([15, 0x22]); // 0x21 is the DMAR fault vector
    g.freeMsix('00:02.0', [first]);
    g.allocateMsixIrtes('00:02.0', 2);
    const again = [0, 1].map((k) => g.setupInterrupt({ id: `b${k}`, kind: 'msix', device: '00:02.0', vector: k, cpu: 0 }));
    expect(again.map((p) => [p.irteIndex, p.vector])).toEqual([[15, 0x22], [16, 0x23]]);
  });

  it('the IOMMU interrupt at pci_iommu_init: none with remapping on (set up at boot), none without DMA remapping (intel_iommu=off) or without an IOMMU', () => {
    const guest = (config: MachineConfig, cmdline: string) => {
      const g = createGuest(createMachine(config), { os: 'linux', version: '6.1', cmdline });
      g.boot();
      return g.setupIommuInitcallInterrupt();
    };
    expect(guest({ cpus: 2, iommu: { kind: 'intel' } }, '')).toBeNull();
    expect(guest({ cpus: 2, iommu: { kind: 'intel' } }, 'intremap=off intel_iommu=off')).toBeNull();
    expect(guest({ cpus: 2 }, '')).toBeNull();
    expect(guest({ cpus: 2, iommu: { kind: 'intel' } }, 'intremap=off')).toEqual({ chip: 'DMAR-MSI', cpu: 1, vector: 0x21 });
  });
});

describe('what the boot IRQs do not model is said', () => {
  it('an XT-capable AMD unit: the event interrupt was set up at boot, and the notes say there is no row for it', () => {
    // The model's default AMD unit has XTSup and GASup: XT mode (amd_iommu_xt_mode), event interrupt through XT registers.
    const { irqs, notes } = bootIrqs(q35({ kind: 'amd' }, 3));
    expect(irqs.some((b) => b.name === 'AMD-Vi')).toBe(false);
    expect(notes).toEqual(['AMD-Vi event interrupt in XT mode: set up at boot on CPU 0, not here (the kernel: iommu_setup_intcapxt at pci_iommu_init); no row for it']);
  });
});
