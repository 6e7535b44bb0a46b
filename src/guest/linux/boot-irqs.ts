/**
 * The interrupts a booting Linux 6.1 sets up on a PC (q35) machine, in the order the kernel takes each allocation
 * and activates each vector — what `/proc/interrupts` lists after boot — driven through the Linux model's
 * allocation steps (linux-guest.ts), so that IRTE indices, vectors and target CPUs come out as the kernel's do:
 *
 * 1. At APIC setup, before the APs are up (LinuxGuest.boot): the timer keeps ISA_IRQ_VECTOR(0) on CPU 0; with
 *    interrupt remapping the DMAR fault interrupt (enable_drhd_fault_handling → dmar_set_interrupt) takes CPU 0's
 *    lowest vector; setup_IO_APIC_irqs gives legacy pins 1..15 their IRQs (and IRTEs) in pin order, in reservation
 *    mode (no vector until requested).
 * 2. Built-in initcalls, in initcall level and link order: the ACPI SCI (subsys_initcall acpi_init →
 *    acpi_os_install_interrupt_handler), the IOMMU's own interrupt where pci_iommu_init (rootfs_initcall) sets it up
 *    (LinuxGuest.setupIommuInitcallInterrupt), i8042 (device_initcall; i8042_probe sets up the AUX port, IRQ 12,
 *    before the keyboard, IRQ 1; drivers/input links before drivers/rtc), rtc_cmos (IRQ 8), then the console's
 *    serial port when kernel_init opens /dev/console (console_on_rootfs → uart_startup → serial8250_startup).
 * 3. The modules userspace loads, in its modprobe order (a property of the boot, given in the plan), each binding
 *    the machine's PCI functions in bus order: pci_enable_device maps the INTx GSI (LinuxGuest.mapGsi), then the
 *    driver's MSI / MSI-X allocation and requests (the drivers below).
 * 4. Bringing the network interfaces up (ip link set up): drivers that request their interrupts in ndo_open.
 *
 * Each default-affinity interrupt is activated when it is requested (x86_vector_activate → activate_reserved →
 * assign_irq_vector_any_locked: the matrix's best CPU), except MSI without per-vector masking, which cannot use
 * reservation mode and gets its vector at allocation (msi_domain_alloc_irqs with MSI_FLAG_ACTIVATE_EARLY).
 */
import { formatBdf } from '../../core/bdf.ts';
import { PCI_DEVICE_ID, PCI_INTERRUPT_PIN, PCI_VENDOR_ID } from '../../pci/type0-header.ts';
import { readMsiCap, readMsixCap } from '../pci-msi-setup.ts';
import { UsageError } from '../../core/errors.ts';
import type { ProgrammedInterrupt } from '../guest-os.ts';
import { isaIrqToGsi, INTI_ACTIVE_HIGH_LEVEL } from '../../machine/firmware.ts';
import { splitKernelArgs } from './kernel-cmdline.ts';
import { spreadManagedMasks } from './affinity-spread.ts';
import type { LinuxGuest } from './linux-guest.ts';

/** What the boot's userspace does that requests interrupts. */
export interface LinuxBootIrqPlan {
  /** The modules loaded, in modprobe order (e.g. a recording harness's /init). */
  modules: readonly string[];
  /** Whether every network interface is then brought up (drivers that request interrupts at open). */
  netUp: boolean;
}

/** One interrupt as the kernel set it up: a `/proc/interrupts` row. */
export interface BootIrq {
  /**
   * The Linux IRQ number: an ISA IRQ's own number; a dynamically allocated one (MSI, the IOMMU's) the lowest free
   * from gsi_top, the I/O APIC's input count (irq_alloc_descs_from → arch_dynirq_lower_bound), taken when the
   * interrupt is allocated, not when it is requested.
   */
  irq: number;
  /** The action name (`acpi`, `virtio0-config`, `nvme0q1`). */
  name: string;
  /** The irq chip's name as /proc/interrupts prints it (`IR-IO-APIC`, `PCI-MSI`, `DMAR-MSI`). */
  chip: string;
  /** I/O APIC pin; PCI MSI: pci_msi_domain_calc_hwirq (requester ID << 11 | entry); DMAR: the unit's sequence. */
  hwirq: number;
  trigger: 'edge' | 'fasteoi';
  cpu: number;
  vector: number;
  irteIndex?: number;
  /** Why the model could not set it up, when it could not. */
  refused?: string;
}

export interface BootIrqs {
  irqs: BootIrq[];
  /** Modules and devices the model has no driver behaviour for (they request nothing here). */
  notes: string[];
}

/** ISA IRQs of the PC platform's built-in drivers (i8042 AUX and keyboard, the CMOS RTC). */
const I8042_AUX_IRQ = 12;
const I8042_KBD_IRQ = 1;
const RTC_IRQ = 8;
/** The FADT's SCI_INT on QEMU's q35 (and PIIX) ACPI tables. */
const ACPI_SCI_IRQ = 9;
/** The legacy serial ports' IRQs (8250 SERIAL_PORT_DFNS: ttyS0 at IRQ 4, ttyS1 at IRQ 3). */
const SERIAL_IRQS = [4, 3, 4, 3];

/** PCI IDs each driver's table matches (the few the q35 machines use). */
const VIRTIO_VENDOR = 0x1af4;
const VIRTIO_NET_IDS = [0x1000, 0x1041];
const E1000E_IDS = [0x10d3, 0x105e, 0x10d0, 0x10f6];
const NVME_CLASS = 0x010802;
const QEMU_NVME = { vendor: 0x1b36, device: 0x0010 };
const AHCI_CLASS = 0x010601;
const ICH9_AHCI = { vendor: 0x8086, device: 0x2922 };

/** Guests whose boot interrupts were requested already (a kernel boots once). */
const requested = new WeakSet<LinuxGuest>();

export function requestBootIrqs(g: LinuxGuest, plan: LinuxBootIrqPlan): BootIrqs {
  if (g === null || typeof g !== 'object' || typeof g.setupManagedInterrupt !== 'function') throw new UsageError('requestBootIrqs: expected a Linux guest from createGuest(machine, { os: "linux" })');
  if (g.onlineCpus().length === 0) throw new UsageError('requestBootIrqs: the linux guest has not booted yet (call boot() first)');
  if (requested.has(g)) throw new UsageError("requestBootIrqs: this guest's boot interrupts were requested already (a kernel boots once)");
  const p = plan as unknown as { modules?: unknown; netUp?: unknown } | null;
  if (p === null || typeof p !== 'object') throw new UsageError('requestBootIrqs: the plan must be an object like { modules: ["nvme"], netUp: true }');
  if (!Array.isArray(p.modules) || p.modules.some((m) => typeof m !== 'string' || m === '')) {
    throw new UsageError(`requestBootIrqs: plan.modules must be a list of module names, got ${JSON.stringify(p.modules)}`);
  }
  if (typeof p.netUp !== 'boolean') throw new UsageError(`requestBootIrqs: plan.netUp must be true or false, got ${JSON.stringify(p.netUp)}`);
  requested.add(g);
  const s = new BootSequence(g);
  s.builtIns();
  for (const m of plan.modules) s.modprobe(m);
  if (plan.netUp) s.netUp();
  return { irqs: s.irqs, notes: s.notes };
}

/** PCI_CLASS_REVISION (include/uapi/linux/pci_regs.h): revision in 7:0, the class code in 31:8. */
const PCI_CLASS_REVISION = 0x08;

/** A PCI function as enumerated (BootSequence.functions). */
interface PciFn {
  bdf: string;
  vendor: number;
  device: number;
  classCode: number;
  /** Interrupt Pin register: 0 none, 1..4 INTA..INTD. */
  intPin: number;
  msixEntries: number;
  msiVectors: number;
}

class BootSequence {
  readonly irqs: BootIrq[] = [];
  readonly notes: string[] = [];
  private readonly ir: boolean;
  private readonly all: number[];
  private virtioIndex = 0;
  private nvmeIndex = 0;
  private netIndex = 0;
  /** Linux IRQ numbers in use from gsi_top up (the legacy range and the I/O APIC's GSIs are identity-mapped). */
  private readonly dynamicIrqs = new Set<number>();
  private readonly gsiTop: number;
  private pci: PciFn[] | null = null;
  /** e1000e interfaces waiting for ndo_open: their device and interface name. */
  private readonly openLater: { dev: PciFn; ifname: string; irqs: number[] }[] = [];

  constructor(private readonly g: LinuxGuest) {
    this.ir = g.interruptRemapping !== null;
    this.all = g.onlineCpus().sort((a, b) => a - b);
    this.gsiTop = g.gsiTop;
  }

  /** irq_alloc_descs: the lowest free IRQ number from gsi_top. */
  private allocIrq(): number {
    let irq = this.gsiTop;
    while (this.dynamicIrqs.has(irq)) irq++;
    this.dynamicIrqs.add(irq);
    return irq;
  }

  /** `count` IRQ numbers, one per MSI-X descriptor (msi_domain_alloc_irqs allocates each on its own). */
  private allocIrqs(count: number): number[] {
    return Array.from({ length: count }, () => this.allocIrq());
  }

  /**
   * The PCI functions as the kernel enumerates them (pci_scan_bus, in bus order), with what its drivers look at in
   * configuration space: the IDs and class code, the Interrupt Pin, and the MSI-X table size / MSI message count.
   */
  private functions(): PciFn[] {
    if (this.pci !== null) return this.pci;
    const fns: PciFn[] = [];
    const m = this.g.machine;
    for (const member of m.pci.functions()) {
      const bdf = formatBdf(member.requesterId);
      // Only the machine's device functions take drivers here (the IOMMU's own function is the IOMMU driver's).
      if (!(m.config.devices ?? []).some((d) => d.bdf === bdf)) continue;
      const dev = m.device(bdf);
      fns.push({
        bdf,
        vendor: member.configRead(PCI_VENDOR_ID, 2),
        device: member.configRead(PCI_DEVICE_ID, 2),
        classCode: member.configRead(PCI_CLASS_REVISION, 4) >>> 8,
        intPin: member.configRead(PCI_INTERRUPT_PIN, 1),
        msixEntries: readMsixCap(dev)?.tableSize ?? 0,
        msiVectors: readMsiCap(dev)?.vectorsCapable ?? 0,
      });
    }
    this.pci = fns;
    return fns;
  }

  private row(irq: number, name: string, chip: string, hwirq: number, p: ProgrammedInterrupt, trigger: 'edge' | 'fasteoi' = 'edge'): void {
    const r: BootIrq = { irq, name, chip: (p.irteIndex !== undefined ? 'IR-' : '') + chip, hwirq, trigger, cpu: p.cpu, vector: p.vector };
    if (p.irteIndex !== undefined) r.irteIndex = p.irteIndex;
    if (p.status === 'refused') r.refused = p.note;
    this.irqs.push(r);
  }

  /** request_irq of an ISA IRQ through the I/O APIC (the pin the MADT overrides name, with their trigger). */
  private isa(irq: number, name: string): void {
    const overrides = this.g.machine.firmware.madt.interruptSourceOverrides;
    const pin = isaIrqToGsi(irq, overrides);
    const o = overrides.find((x) => x.source === irq);
    const level = o !== undefined && (o.flags & 0xc) === (INTI_ACTIVE_HIGH_LEVEL & 0xc);
    const p = this.g.setupInterrupt({ id: name, kind: 'ioapic', pin, trigger: level ? 'level' : 'edge', cpu: 0, affinity: this.all });
    this.row(irq, name, 'IO-APIC', pin, p, level ? 'fasteoi' : 'edge');
  }

  builtIns(): void {
    const g = this.g;
    if (g.timer !== null) this.row(0, 'timer', 'IO-APIC', g.timer.request.pin ?? 2, g.timer);
    const dmar = g.log.decisions.dmarFaultVector;
    if (typeof dmar === 'number') this.irqs.push({ irq: this.allocIrq(), name: 'dmar0', chip: 'DMAR-MSI', hwirq: 0, trigger: 'edge', cpu: 0, vector: dmar });
    if (g.cmdline.noapic) return;
    this.isa(ACPI_SCI_IRQ, 'acpi');
    const iommu = g.setupIommuInitcallInterrupt();
    if (iommu !== null) {
      const unit = g.machine.iommu as { requesterId?: number } | null;
      const hwirq = iommu.chip === 'PCI-MSI' ? (unit?.requesterId ?? 0) << 11 : 0;
      this.irqs.push({ irq: this.allocIrq(), name: iommu.chip === 'PCI-MSI' ? 'AMD-Vi' : 'dmar0', chip: iommu.chip, hwirq, trigger: 'edge', cpu: iommu.cpu, vector: iommu.vector });
    } else if (g.interruptRemapping === 'amd' && typeof g.log.decisions.amdViEventVector === 'number') {
      // XT mode: the model set the event interrupt up at boot on CPU 0 (linux-guest.ts); the kernel's
      // iommu_setup_intcapxt does it here, on the matrix's CPU, as an IRQ of its own domain.
      this.notes.push('AMD-Vi event interrupt in XT mode: set up at boot on CPU 0, not here (the kernel: iommu_setup_intcapxt at pci_iommu_init); no row for it');
    }
    this.isa(I8042_AUX_IRQ, 'i8042');
    this.isa(I8042_KBD_IRQ, 'i8042');
    this.isa(RTC_IRQ, 'rtc0');
    // The last console= names the console /dev/console opens (console_setup keeps the last as preferred).
    const consoles = splitKernelArgs(g.cmdline.text).filter((a) => a.name === 'console' && a.value !== null).map((a) => /^ttyS(\d+)/.exec(a.value!));
    const serial = consoles.length > 0 ? consoles[consoles.length - 1] : null;
    if (serial) {
      const n = Number(serial[1]);
      if (n < SERIAL_IRQS.length) this.isa(SERIAL_IRQS[n], `ttyS${n}`);
    }
  }

  /** pci_enable_device: the INTx pin's GSI gets its IRQ (acpi_pci_irq_enable). */
  private enable(dev: PciFn): void {
    if (dev.intPin === 0) return;
    this.g.mapGsi(this.g.machine.intxRoute(dev.bdf).gsi);
  }

  private rid(dev: PciFn): number {
    return this.g.machine.device(dev.bdf).requesterId;
  }

  /** request_irq of MSI-X entry `entry` of `dev` (Linux IRQ `irq`), default affinity (activate_reserved). */
  private msix(dev: PciFn, irq: number, entry: number, name: string): ProgrammedInterrupt {
    const p = this.g.setupInterrupt({ id: name, kind: 'msix', device: dev.bdf, vector: entry, cpu: 0, affinity: this.all });
    this.row(irq, name, 'PCI-MSI', (this.rid(dev) << 11) | entry, p);
    return p;
  }

  modprobe(module: string): void {
    const is = (d: PciFn, vendor: number, ids: number[]) => d.vendor === vendor && ids.includes(d.device);
    switch (module) {
      case 'virtio_pci':
        for (const d of this.functions()) if (d.vendor === VIRTIO_VENDOR) this.enable(d);
        return;
      case 'virtio_net':
        for (const d of this.functions()) if (is(d, VIRTIO_VENDOR, VIRTIO_NET_IDS)) this.virtioNet(d);
        return;
      case 'e1000e':
        for (const d of this.functions()) if (is(d, 0x8086, E1000E_IDS)) this.e1000eProbe(d);
        return;
      case 'nvme':
        for (const d of this.functions()) if (d.classCode === NVME_CLASS || is(d, QEMU_NVME.vendor, [QEMU_NVME.device])) this.nvme(d);
        return;
      case 'ahci':
        for (const d of this.functions()) if (d.classCode === AHCI_CLASS || is(d, ICH9_AHCI.vendor, [ICH9_AHCI.device])) this.ahci(d);
        return;
      case 'sd_mod':
        return; // a SCSI upper-level driver: no interrupts of its own
      default:
        this.notes.push(`module ${module}: no driver behaviour modelled; it requests no interrupts here`);
    }
  }

  /**
   * virtio_net probe → init_vqs → vp_find_vqs_msix with per-VQ vectors: one vector for the config change and one
   * per virtqueue with a callback (receive and transmit of each queue pair; the control queue has none), allocated
   * together, then requested config first, then the queues in order.
   */
  private virtioNet(dev: PciFn): void {
    const entries = dev.msixEntries;
    const pairs = Math.max(1, Math.floor((entries - 2) / 2));
    const n = this.virtioIndex++;
    this.netIndex++;
    if (entries < 1 + 2 * pairs) {
      this.notes.push(`${dev.bdf}: virtio-net without enough MSI-X entries; INTx is not modelled here`);
      return;
    }
    this.g.allocateMsixIrtes(dev.bdf, 1 + 2 * pairs);
    const irqs = this.allocIrqs(1 + 2 * pairs);
    this.msix(dev, irqs[0], 0, `virtio${n}-config`);
    for (let q = 0; q < pairs; q++) {
      this.msix(dev, irqs[1 + 2 * q], 1 + 2 * q, `virtio${n}-input.${q}`);
      this.msix(dev, irqs[2 + 2 * q], 2 + 2 * q, `virtio${n}-output.${q}`);
    }
  }

  /**
   * e1000_probe: pci_enable_device_mem, then e1000e_set_interrupt_capability allocates the 82574's three MSI-X
   * vectors (receive, transmit, other); e1000_request_msix requests them in that order at ndo_open.
   */
  private e1000eProbe(dev: PciFn): void {
    this.enable(dev);
    const ifname = `eth${this.netIndex++}`;
    if (dev.msixEntries < 3) {
      this.notes.push(`${dev.bdf}: e1000e without 3 MSI-X entries; MSI and INTx are not modelled here`);
      return;
    }
    this.g.allocateMsixIrtes(dev.bdf, 3);
    this.openLater.push({ dev, ifname, irqs: this.allocIrqs(3) });
  }

  netUp(): void {
    for (const { dev, ifname, irqs } of this.openLater) {
      this.msix(dev, irqs[0], 0, `${ifname}-rx-0`);
      this.msix(dev, irqs[1], 1, `${ifname}-tx-0`);
      this.msix(dev, irqs[2], 2, ifname);
    }
    this.openLater.length = 0;
  }

  /**
   * nvme_reset_work: nvme_pci_enable (pci_enable_device_mem; one vector for the admin queue,
   * pci_alloc_irq_vectors(1, 1)), the admin queue's irq requested; then nvme_setup_io_queues frees it
   * (pci_free_irq, pci_free_irq_vectors) and allocates 1 + one per I/O queue with PCI_IRQ_AFFINITY (pre_vectors = 1:
   * the admin vector unmanaged, the queues' managed over irq_create_affinity_masks), requests the admin queue, and
   * nvme_create_io_queues requests each queue's in order. One I/O queue per possible CPU (nvme_max_io_queues), no
   * more than the MSI-X table holds after the admin entry.
   */
  private nvme(dev: PciFn): void {
    this.enable(dev);
    const n = this.nvmeIndex++;
    const entries = dev.msixEntries;
    if (entries < 2) {
      this.notes.push(`${dev.bdf}: nvme without MSI-X; MSI and INTx are not modelled here`);
      return;
    }
    const g = this.g;
    g.allocateMsixIrtes(dev.bdf, 1);
    const [adminIrq] = this.allocIrqs(1);
    const first = g.setupInterrupt({ id: `nvme${n}q0`, kind: 'msix', device: dev.bdf, vector: 0, cpu: 0, affinity: this.all });
    g.freeMsix(dev.bdf, [first]);
    this.dynamicIrqs.delete(adminIrq);
    const queues = Math.min(this.all.length, entries - 1);
    const masks = spreadManagedMasks(this.all, queues);
    g.allocateMsixIrtes(dev.bdf, 1 + queues);
    const irqs = this.allocIrqs(1 + queues);
    for (const mask of masks) g.reserveManagedVector(mask);
    this.msix(dev, irqs[0], 0, `nvme${n}q0`);
    masks.forEach((mask, i) => {
      const name = `nvme${n}q${i + 1}`;
      const p = g.setupManagedInterrupt({ id: name, kind: 'msix', device: dev.bdf, vector: i + 1, cpu: mask[0] }, mask);
      this.row(irqs[i + 1], name, 'PCI-MSI', (this.rid(dev) << 11) | (i + 1), p);
    });
  }

  /**
   * ahci_init_one: pcim_enable_device, then ahci_init_msi asks for one vector per port (MSI-X or MSI), which an
   * MSI capability of fewer messages refuses before allocating anything, then for a single vector — an MSI without
   * per-vector masking, so activated at allocation — and requests it as `ahci[bdf]`.
   */
  private ahci(dev: PciFn): void {
    this.enable(dev);
    if (dev.msiVectors === 0) {
      this.notes.push(`${dev.bdf}: AHCI without MSI; INTx is not modelled here`);
      return;
    }
    const name = `ahci[0000:${dev.bdf}]`;
    const irq = this.allocIrq();
    if (!this.g.allocateMsiIrtes(dev.bdf, 1)) this.notes.push(`${dev.bdf}: no room in the interrupt remapping table for its MSI`);
    const p = this.g.setupInterrupt({ id: name, kind: 'msi', device: dev.bdf, vector: 0, cpu: 0, affinity: this.all });
    this.row(irq, name, 'PCI-MSI', this.rid(dev) << 11, p);
  }
}
