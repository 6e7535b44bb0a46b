/**
 * The machine irqpath models for a QEMU run (`irqpath qemu`): what the command line says (qemu-command-line.ts)
 * completed by what the guest printed (from-dmesg.ts): the guest's `DMAR: dmar0: ... cap ... ecap ...` gives the
 * VT-d unit's exact registers, its `pci 0000:bb:dd.f: [vvvv:dddd]` lines the address QEMU gave each device. The
 * result is a `machine:` block a scenario accepts as is, with notes on what neither said.
 */
import type { AmdIommuOptions, DeviceOptions, IntelIommuOptions, MachineConfig } from '../core/config-types.ts';
import { ConfigError } from '../core/errors.ts';
import { createMachine } from '../machine/machine.ts';
import { UsageError } from '../core/errors.ts';
import { machineFromDmesg, stripPrefix, type DmesgMachine } from './from-dmesg.ts';
import type { QemuCommandLine, QemuPciDevice } from './qemu-command-line.ts';

/** q35's own PCI functions with interrupts (hw/i386/pc_q35.c): the AHCI controller at 00:1f.2. */
const Q35_AHCI: QemuPciDevice = { driver: 'ich9-ahci', id: null, addr: '1f.2', ids: '8086:2922', vectors: { kind: 'msi', count: 1, why: 'ich9_ahci_realize: msi_init with 1 vector' } };
const DEFAULT_NIC_Q35: QemuPciDevice = { driver: 'e1000e', id: null, addr: null, ids: '8086:10d3', vectors: { kind: 'msix', count: 5, why: 'hw/net/e1000e.c E1000E_MSIX_VEC_NUM' } };

/** Why the model refuses a unit the guest printed (null: it accepts it). */
function whyUnusable(unit: IntelIommuOptions): string | null {
  try {
    createMachine({ cpus: 1, iommu: unit });
    return null;
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
}

const PCI_LINE = /^pci 0000:([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): \[([0-9a-f]{4}:[0-9a-f]{4})\] type/;

function slotBdf(addr: string): string | null {
  const m = /^(?:0x)?([0-9a-f]{1,2})(?:\.([0-7]))?$/i.exec(addr);
  if (!m) return null;
  return `00:${parseInt(m[1], 16).toString(16).padStart(2, '0')}.${m[2] ?? '0'}`;
}

/**
 * A serial console as text lines: terminal control sequences (SeaBIOS's `ESC c`, `ESC [2J`) removed, and a bare
 * carriage return or a terminal reset (`ESC c`) taken as a line break (the kernel's first line follows SeaBIOS's last
 * one after either).
 */
export function consoleText(raw: string): string {
  return raw
    .replace(/\x1bc/g, '\n') // RIS, a full reset: what follows starts a fresh screen
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b[@-Z\\-_a-z]/g, '')
    .replace(/\r\n/g, '\n')
    .replace(/\r/g, '\n');
}

/** What the guest console says about the machine; a console with no Linux boot log at all says nothing. */
function machineFromConsole(console: string): DmesgMachine {
  try {
    return machineFromDmesg(console);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return { machine: { cpus: 1 }, kernel: null, cmdline: null, notes: [], warnings: [], lines: [], onlineCpus: null, complete: false, uncompared: [] };
  }
}

export function machineFromQemu(cmd: QemuCommandLine, rawConsole: string): DmesgMachine {
  const console = consoleText(rawConsole);
  const fromLog = machineFromConsole(console);
  const booted = fromLog.kernel !== null;
  const notes = [...cmd.notes];
  const machine: MachineConfig = { cpus: cmd.cpus };
  if (booted && fromLog.machine.cpus !== cmd.cpus) notes.push(`vCPUs: -smp says ${cmd.cpus}, the guest brought up ${fromLog.machine.cpus}`);
  const vendor = cmd.cpuVendor ?? (booted ? fromLog.machine.cpuVendor ?? 'intel' : 'intel');
  if (vendor === 'amd') machine.cpuVendor = 'amd';
  // x2APIC: -cpu ...,-x2apic, or what the guest's log says (QEMU 7.2's TCG CPUs have none).
  if (cmd.x2apic === false || (booted && fromLog.machine.cpu?.x2apic === false)) machine.cpu = { x2apic: false };
  // Under TCG the guest detects no hypervisor: the kernel decides as on bare metal.
  if (booted && fromLog.machine.bareMetal) machine.bareMetal = true;
  if (cmd.kernelIrqchip === 'split' && cmd.accel === 'kvm') {
    machine.hypervisor = { x2apicApi: true };
    notes.push("KVM with kernel-irqchip=split: QEMU enables KVM's x2APIC API (kvm_enable_x2apic)");
  }
  if (fromLog.machine.ioapic) machine.ioapic = fromLog.machine.ioapic;

  // The vIOMMU: the guest's register dump is exact; the options are what is left when the guest printed none.
  const iommu = cmd.iommu;
  if (iommu?.kind === 'intel') {
    const printed = fromLog.machine.iommu?.kind === 'intel' ? (fromLog.machine.iommu as IntelIommuOptions) : fromLog.machine.iommus?.length === 1 ? fromLog.machine.iommus[0] : null;
    const unusable = printed ? whyUnusable(printed) : null;
    if (printed && unusable === null) {
      machine.iommu = printed;
      if (fromLog.machine.dmar) machine.dmar = fromLog.machine.dmar;
      notes.push('VT-d unit: CAP and ECAP as the guest printed them (DMAR: dmar0: ... cap ... ecap ...)');
    } else {
      if (unusable !== null) notes.push(`the VT-d registers the guest printed are not a unit irqpath's model accepts (${unusable}); the unit comes from the options instead`);
      const u: IntelIommuOptions = { kind: 'intel', awBits: iommu.awBits };
      if (iommu.intremap === false) u.interruptRemapping = false;
      u.eim = iommu.eim === true || (iommu.eim === 'auto' && cmd.accel === 'kvm' && cmd.kernelIrqchip === 'split' && iommu.intremap !== false);
      if (!iommu.dmaTranslation) u.dmaTranslation = false;
      machine.iommu = u;
      notes.push(`VT-d unit from the options: intremap ${iommu.intremap}, eim ${u.eim ? 'on' : 'off'}${iommu.eim === 'auto' ? ' (auto: on only with KVM and kernel-irqchip=split, vtd_decide_config)' : ''}, aw-bits ${iommu.awBits}`);
    }
    if (iommu.cachingMode) notes.push('caching-mode=on: CAP.CM = 1 in QEMU; the machine: block keeps the guest-printed CAP when there is one');
    if (iommu.buggyEim) notes.push('x-buggy-eim=on: QEMU accepts eim=on without KVM\'s x2APIC API (destinations above 255 then do not work); not modelled');
  } else if (iommu?.kind === 'amd') {
    const printed = fromLog.machine.iommu?.kind === 'amd' ? (fromLog.machine.iommu as AmdIommuOptions) : null;
    const u: AmdIommuOptions = printed ? { ...printed } : { kind: 'amd' };
    if (iommu.xtsup) u.xt = true;
    machine.iommu = u;
    if (iommu.intremap === false) notes.push('amd-iommu intremap=off: QEMU refuses remapped requests ("Interrupt remapping is enabled in the guest but not in the host"); Linux disables remapping when its IVRS lacks the I/O APIC');
  }

  // PCI devices: the guest's enumeration lines give the address QEMU chose; else addr=, else the next free slot.
  const listed = console.split('\n').map(stripPrefix).map((l) => PCI_LINE.exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => ({ bdf: m[1], ids: m[2], used: false }));
  const wanted = [...(cmd.defaultNic && /q35/.test(cmd.machineType) ? [DEFAULT_NIC_Q35] : []), ...cmd.devices, ...(/q35/.test(cmd.machineType) ? [Q35_AHCI] : [])];
  const taken = new Set(['00:00.0', '00:01.0', '00:1f.0', '00:1f.2', '00:1f.3']);
  const devices: DeviceOptions[] = [];
  let nextSlot = 2;
  for (const d of wanted) {
    const seen = listed.find((l) => !l.used && l.ids === d.ids);
    let bdf: string | null = null;
    if (seen) {
      seen.used = true;
      bdf = seen.bdf;
    } else if (d.addr !== null) {
      bdf = slotBdf(d.addr);
    } else {
      while (taken.has(`00:${nextSlot.toString(16).padStart(2, '0')}.0`)) nextSlot++;
      bdf = `00:${nextSlot.toString(16).padStart(2, '0')}.0`;
      if (booted) notes.push(`${d.driver}: the guest did not list it; placed at ${bdf} (the next free slot)`);
    }
    if (bdf === null) {
      notes.push(`${d.driver}: addr=${d.addr} is not a slot irqpath reads; left out`);
      continue;
    }
    taken.add(bdf);
    if (d.driver === 'amd-iommu') {
      const u = machine.iommu as AmdIommuOptions | undefined;
      if (u && bdf !== '00:02.0') u.bdf = bdf;
      continue;
    }
    const dev: DeviceOptions = { bdf, name: d.id ?? d.driver };
    const [vendorId, deviceId] = d.ids!.split(':').map((x) => parseInt(x, 16));
    dev.vendorId = vendorId;
    dev.deviceId = deviceId;
    if (d.vectors?.kind === 'msix') dev.msix = { entries: d.vectors.count };
    else if (d.vectors?.kind === 'msi') dev.msi = { vectors: d.vectors.count };
    // Every PCI device irqpath reads from a QEMU command line has Interrupt Pin INTA (pci_config_set_interrupt_pin
    // (…, 1) in virtio_pci_realize, e1000e_pci_realize, nvme_init_pci, ich9_ahci_realize, pci_e1000_realize): the
    // kernel maps its GSI when the driver enables the device, MSI or not.
    dev.intx = 'A';
    if (d.vectors) notes.push(`${d.driver} at ${bdf}: ${d.vectors.count} ${d.vectors.kind === 'msix' ? 'MSI-X' : 'MSI'} vector${d.vectors.count === 1 ? '' : 's'} (${d.vectors.why})`);
    else notes.push(`${d.driver} at ${bdf}: no MSI or MSI-X (INTx only)`);
    devices.push(dev);
  }
  if (devices.length > 0) machine.devices = devices;
  if (!booted) notes.push('the guest printed no Linux boot log: the machine comes from the command line alone');
  return {
    ...fromLog,
    machine,
    notes: [...notes, ...(booted ? fromLog.notes.filter((n) => !/^CPU count|^CPU vendor/.test(n)) : [])],
  };
}
