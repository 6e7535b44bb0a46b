/**
 * The Linux model: what an x86-64 kernel programs, and the lines it prints, on this machine — a guest or, with
 * `bareMetal`, a host. The kernel version (default DEFAULT_LINUX_VERSION) picks the version-dependent behaviour and
 * log formats (core/linux-version.ts); the command line (kernel-cmdline.ts) the options that change the interrupt
 * path; the CPU's x2APIC bit comes from CPUID (machine `cpu.x2apic`). docs/linux-model.md describes it for users.
 *
 * Boot, in the kernel's order of decisions:
 * 1. Early parameters print while the command line is parsed (intel_iommu_setup's "DMAR: IOMMU disabled").
 * 2. Firmware hand-off: x2APIC already on when an APIC ID exceeds 254 ("x2apic: enabled by BIOS, switching to x2apic
 *    ops"); `nox2apic` clears the CPU's x2APIC bit unless the BSP needs it (setup_nox2apic).
 * 3. Interrupt remapping is prepared before x2APIC is decided (`enable_IR_x2apic`; nothing with `noapic`): Intel
 *    DMAR-IR (intel-ir-prepare.ts), AMD-Vi when IVRS is present (x2APIC mode iff EFR.XTSup && EFR.GASup).
 * 4. `try_to_enable_x2apic`: nothing without the CPU bit; with IR in x2APIC mode the cluster x2APIC driver (physical
 *    with `x2apic_phys`); otherwise on bare metal xAPIC, in a VM x2APIC with `apic_limit` 255 (32767 with the
 *    hypervisor's 15-bit extended destination ID) in physical mode. In xAPIC mode `default_setup_apic_routing` keeps
 *    logical flat for at most 8 CPUs on kernels that still have it, else physical flat.
 * 5. MADT: x2APIC entries above the limit print "ACPI: x2apic entry ignored" and never become CPUs.
 * 6. SMP: INIT/SIPI/SIPI to each present AP; the AP enables x2APIC (or programs the flat LDR) and software-enables
 *    its APIC.
 * 7. The timer keeps ISA_IRQ_VECTOR(0) on CPU 0; with interrupt remapping the DMAR fault interrupt (set up before
 *    the APs, so on CPU 0); setup_IO_APIC_irqs gives legacy pins 1..15 their IRTEs in pin order and check_timer
 *    programs pin 2.
 *
 * Interrupts: a vector on the requested CPU, or on the CPU the vector matrix picks for an affinity mask
 * (vector-allocator.ts, kernel/irq/matrix.c); messages as in msi-compose.ts. The kernel's separate steps — an INTx
 * GSI mapped at pci_enable_device, MSI-X IRTEs taken at allocation, managed vectors reserved then activated, vectors
 * and IRTEs freed, the IOMMU's pci_iommu_init interrupt — are methods of their own, which boot-irqs.ts calls in the
 * kernel's boot order. Simplifications, stated: Linux's PCI/IOMMU DMA translation is modelled only as far as
 * mapDma/unmapDma go; in XT mode the AMD-Vi event interrupt is set up at boot on CPU 0 (the kernel does it at
 * pci_iommu_init on the matrix's CPU); Xen PIRQs are used for MSI/MSI-X only (GSIs stay on the emulated I/O APIC).
 */
import { UsageError } from '../../core/errors.ts';
import { toPhysical, type Address } from '../../machine/cpu.ts';
import { amdViDeviceStyle, apicIdRejection, apicRoutingLine, cpuEnumerationLine, dmarFaultStyle, DEFAULT_LINUX_VERSION, keepsLogicalFlat, parseLinuxVersion, supportsExtDestId, type LinuxVersion } from '../../core/linux-version.ts';
import { parseKernelCmdline, type LinuxCmdline } from './kernel-cmdline.ts';
import type { Machine } from '../../machine/machine.ts';
import { firmwareHandoff } from '../firmware-handoff.ts';
import { GuestBase, type CheckedRequest } from '../guest-base.ts';
import { readMsiCap } from '../pci-msi-setup.ts';
import type { InterruptRequest, ProgrammedInterrupt } from '../guest-os.ts';
import type { AmdIommu } from '../../iommu-amd/amd-iommu.ts';
import { rteToMessage } from '../../msi/formats/ioapic-rte.ts';
import { sendInitSipiSipi, setupLocalApic } from '../smp-bringup.ts';
import { VectorAllocator } from '../vector-allocator.ts';
import { type AmdGuestIrteFields, AmdIrDriver } from '../drivers/amd-ir.ts';
import { AmdDmaDomain } from './amd-dma-domain.ts';
import { IntelDmaDomain } from './intel-dma-domain.ts';
import { parseBdf } from '../../core/bdf.ts';
import type { DmaMapping } from '../guest-os.ts';
import { IntelIrDriver, type IntelIrteFields } from '../drivers/intel-ir.ts';
import { driverFor, prepareIntelRemapping, type IntelRemapping } from './intel-ir-prepare.ts';
import { EFR_GAM_SUP_SHIFT } from '../../iommu-amd/extended-features.ts';
import { XAPIC_MAX_ID } from '../firmware-handoff.ts';
import { isaIrqToGsi } from '../../machine/firmware.ts';
import {
  composeAmdRemappable,
  composeApicMessage,
  composeIntelRemappable,
  composeXenPirq,
  rteFromMessage,
  rteIntelRemappable,
  type ComposedMessage,
} from '../drivers/msi-compose.ts';

/** x2APIC IDs reach 0xFFFFFFFE (0xFFFFFFFF is the broadcast, SDM 10.12.1.3). */
const X2APIC_MAX_ID = 0xfffffffe;
const LIMIT_8BIT = 255;
const LIMIT_15BIT = 32767;
/** First PIRQ the model hands out: high enough that addresses carry PIRQ bits in addr 63:40 (Xen PIRQ MSIs;
 * QEMU xen_evtchn_translate_pirq_msi). */
export const XEN_FIRST_PIRQ = 4160;
/** SVT = 01b (verify the requester ID), SQ = 00b (all 16 bits): what Linux programs for MSI and I/O APIC IRTEs. */
const SVT_VERIFY_SID = 1;
/** SVT = 00b: no requester-id check (set_irte_sid with intremap=nosid). */
const SVT_NO_VERIFY = 0;
/** ISA_IRQ_VECTOR(irq) = 0x30 + irq: where the legacy IRQs sit (arch/x86/include/asm/irq_vectors.h). */
const ISA_IRQ_VECTOR_BASE = 0x30;
/** PIC_CASCADE_IR: IRQ 2 cascades the slave 8259; its ISA vector is a system vector on every CPU. */
const PIC_CASCADE_IR = 2;
/** The legacy IRQs, 0..15 (nr_legacy_irqs() with an 8259 pair). */
const NR_LEGACY_IRQS = 16;
/** Logical flat addressing has one LDR bit per CPU: 8 CPUs (physflat_probe switches above num_possible_cpus() 8). */
const FLAT_MAX_CPUS = 8;
/** IOAPIC_SB_DEVID (drivers/iommu/amd/init.c): "SB IOAPIC is always on this device in AMD systems", 00:14.0. */
const IOAPIC_SB_DEVID = 0x00a0;

type RemapMode = 'x2apic' | 'xapic' | null;

/** A map key for MSI-X entry `entry` of requester `sid` (entries stay below 2048). */
const msiKey = (sid: number, entry: number): number => sid * 2048 + entry;

interface MsiBlock {
  base: number;
  /** Messages the MSI capability is enabled for (2^MME): the allocation rounded up to a power of two. */
  count: number;
  /** Messages the driver allocated (nvec); a message past them has no IRQ. */
  allocated: number;
  /** Whether the capability has been written (at the first message's activation). */
  written: boolean;
}

/** __roundup_pow_of_two. */
const roundupPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(n));

export class LinuxGuest extends GuestBase {
  readonly os = 'linux';
  private readonly vectors: VectorAllocator;
  private intel: IntelIrDriver | null = null;
  private amd: AmdIrDriver | null = null;
  private remap: RemapMode = null;
  /** Every Intel unit's driver when Intel remapping is on (several DRHDs: one each). */
  private intelRemapping: IntelRemapping | null = null;
  /** x2APIC mode (false only on bare metal without x2APIC-capable remapping). */
  private x2apic = true;
  private apicLimit = LIMIT_8BIT;
  private extDestId = false;
  private cluster = false;
  /** xAPIC with the logical flat driver (apic_flat): DM = 1, destination = the CPU's LDR bit. */
  private flat = false;
  /** x86_cpu_to_logical_apicid: the LDR each CPU read back after entering x2APIC mode. */
  private readonly logicalId: Uint32Array;
  private xenPirq = false;
  private nextPirq = XEN_FIRST_PIRQ;
  /** IRTE index Linux allocated for each legacy I/O APIC pin at I/O APIC setup (Intel remapping). */
  private readonly legacyIrte = new Map<number, number>();
  /** The timer (IRQ0 on pin 2) as the kernel set it up at boot; null with noapic. */
  timer: ProgrammedInterrupt | null = null;
  /** Multi-MSI IRTE blocks under remapping, per device. */
  private readonly msiBlocks = new Map<number, MsiBlock>();
  /**
   * IRTE indices (Intel) / interrupt-table indices (AMD) allocated for MSI-X entries before their vector is
   * activated (allocateMsixIrtes), by requester ID and entry (msiKey).
   */
  private readonly preallocated = new Map<number, number>();

  /** The kernel version modelled (guest: { os: linux, version }). */
  readonly version: LinuxVersion;
  /** The kernel command line's interrupt-path options (guest: { os: linux, cmdline }). */
  readonly cmdline: LinuxCmdline;

  constructor(machine: Machine, version: LinuxVersion = parseLinuxVersion(DEFAULT_LINUX_VERSION, 'guest.version'), cmdline: LinuxCmdline = parseKernelCmdline('')) {
    super(machine);
    this.version = version;
    this.cmdline = cmdline;
    this.vectors = new VectorAllocator(machine.cpuCount);
    // lapic_assign_system_vectors: the cascade's ISA vector is taken on every CPU (lapic_assign_legacy_vector).
    this.vectors.reserveSystem(ISA_IRQ_VECTOR_BASE + PIC_CASCADE_IR);
    this.logicalId = new Uint32Array(machine.cpuCount);
  }

  /** DMA domains by device (one per device, as the DMA API gives each device behind an IOMMU its own domain). */
  private readonly dmaDomains = new Map<number, IntelDmaDomain | AmdDmaDomain>();

  /**
   * dma_map_single for a driver of `device`: one 4 KiB buffer page of guest RAM, mapped at `iova` with the given
   * permissions in the device's DMA domain (created and attached on the first mapping: context / device table entry,
   * and on Intel the first attach turns DMA remapping on). Returns the buffer's physical address. Without an IOMMU
   * that translates, the IOVA is the physical address (dma-direct) and nothing is mapped.
   */
  mapDma(device: string, iova: Address, access: { read: boolean; write: boolean }): DmaMapping {
    const sid = parseBdf(device);
    const at = toPhysical(iova, 'mapDma: IOVA');
    if (at % 4096 !== 0) throw new UsageError(`mapDma: IOVA 0x${at.toString(16)} is not 4 KiB aligned`);
    // iommu=pt: the default domain is an identity (passthrough) domain, so the DMA API hands out physical addresses.
    const domain = this.cmdline.iommuPassthrough ? null : this.dmaDomain(sid);
    if (domain === null) return { iova: BigInt(at), physical: BigInt(at), translated: false };
    const physical = this.mem.alloc(4096);
    domain.map(at, physical, access.read, access.write);
    return { iova: BigInt(at), physical: BigInt(physical), translated: true };
  }

  /** dma_unmap_single: clear the page's entry and invalidate it (IOTLB page-selective / INVALIDATE_IOMMU_PAGES). */
  unmapDma(device: string, iova: Address): void {
    const domain = this.dmaDomains.get(parseBdf(device));
    if (domain !== undefined) domain.unmap(toPhysical(iova, 'unmapDma: IOVA'));
  }

  private dmaDomain(sid: number): IntelDmaDomain | AmdDmaDomain | null {
    const known = this.dmaDomains.get(sid);
    if (known !== undefined) return known;
    // Domain IDs from 1 (Linux reserves DID 0 / FLPT_DEFAULT_DID on VT-d); one per device here.
    const id = this.dmaDomains.size + 1;
    let domain: IntelDmaDomain | AmdDmaDomain | null = null;
    if (this.intelRemapping !== null) {
      const drv = driverFor(this.machine, this.intelRemapping, sid, -1);
      if (drv === null || drv.dmaCapabilities.sagaw === 0) return null; // "No supported address widths": no DMA remapping
      domain = new IntelDmaDomain(this.machine, this.mem, drv, id);
    } else if (this.amd !== null) {
      if (this.amd.hostLevels < 3) return null; // HATS = 11b: no host translation
      domain = new AmdDmaDomain(this.machine, this.mem, this.amd, id);
    }
    if (domain === null || !domain.attach(sid)) return null;
    this.dmaDomains.set(sid, domain);
    return domain;
  }

  boot(): void {
    if (this.booted) throw new UsageError('boot(): the linux guest has already booted');
    const m = this.machine;
    const fw = m.firmware;
    const log = this.log;
    // Early parameters print while the command line is parsed, before anything below.
    for (const line of this.cmdline.parseLines) log.print(line);
    const handoff = firmwareHandoff(m);
    if (handoff.x2apicByFirmware) log.print('x2apic: enabled by BIOS, switching to x2apic ops');
    log.decide('x2apicByFirmware', handoff.x2apicByFirmware);
    const cpuX2apic = this.cpuHasX2apic(handoff.x2apicByFirmware);
    log.decide('cpuX2apic', cpuX2apic);

    // enable_IR_x2apic: skip_ioapic_setup (noapic) → neither remapping nor x2APIC (try_to_enable_x2apic is not
    // reached); the IOMMU is still probed later for DMA remapping, so its table lines appear all the same.
    if (this.cmdline.noapic) log.print('Not enabling interrupt remapping due to skipped IO-APIC setup');
    this.prepareRemapping(cpuX2apic, !this.cmdline.noapic && !this.cmdline.intremapOff);
    this.decideX2apic(handoff.x2apicByFirmware, cpuX2apic);

    // MADT: processors above the limit are either never registered (6.9 on) or registered and refused at bring-up
    // (core/linux-version.ts apicIdRejection).
    const rejection = apicIdRejection(this.version);
    const present: number[] = [];
    fw.madt.apicIds.forEach((id, cpu) => {
      if (id > this.apicLimit && rejection.at === 'madt') log.print('ACPI: x2apic entry ignored');
      else present.push(cpu);
    });
    log.print(cpuEnumerationLine(this.version, present.length, 0));
    log.decide('presentCpus', present.length);
    log.decide('ignoredCpus', fw.madt.apicIds.length - present.length);

    this.logicalId[0] = setupLocalApic(this.bsp, this.x2apic, this.flat ? 1 : undefined);
    this.markOnline(0);
    log.print('smp: Bringing up secondary CPUs ...');
    for (const cpu of present) {
      if (cpu === 0) continue;
      if (rejection.at === 'bringup' && this.apicIdOf(cpu) > this.apicLimit) {
        // native_cpu_up / native_kick_ap: !apic_id_valid(apicid) → "%s: bad cpu %d" (smpboot.c), CPU stays offline.
        log.print(`smpboot: ${rejection.fn}: bad cpu ${cpu}`);
        continue;
      }
      const ap = m.cpu(cpu);
      sendInitSipiSipi(this.bsp, this.apicIdOf(cpu));
      if (ap.runState !== 'running') {
        log.print(`smpboot: do_boot_cpu failed(-1) to wakeup CPU#${cpu}`);
        continue;
      }
      this.logicalId[cpu] = setupLocalApic(ap, this.x2apic, this.flat ? 1 << cpu : undefined);
      this.markOnline(cpu);
    }
    log.print(`smp: Brought up 1 node, ${this.online.length} CPUs`);
    log.decide('onlineCpus', this.online.length);

    this.xenPirq = fw.cpuid.xenPirq;
    log.decide('xenPirq', this.xenPirq);
    this.booted = true;
    // IRQ0 keeps ISA_IRQ_VECTOR(0) on CPU 0 (vector_configure_legacy: the timer is activated before the I/O APIC
    // setup), so the IOMMU's own interrupt and every device vector come after it.
    this.vectors.claim(0, ISA_IRQ_VECTOR_BASE);
    // lapic_assign_system_vectors gave every legacy IRQ its ISA_IRQ_VECTOR on CPU 0; the I/O APIC's setup releases
    // them (vector_configure_legacy), but with noapic the 8259 keeps delivering IRQs 1..15 there.
    if (this.cmdline.noapic) for (let irq = 1; irq < NR_LEGACY_IRQS; irq++) if (irq !== PIC_CASCADE_IR) this.vectors.claim(0, ISA_IRQ_VECTOR_BASE + irq);
    this.setupIommuInterrupt();
    if (!this.cmdline.noapic) this.setupLegacyIrqs();
  }

  /**
   * X86_FEATURE_X2APIC after the command line: the CPUID bit, cleared by `nox2apic` (setup_nox2apic) — unless the
   * firmware already runs the BSP in x2APIC mode with an APIC ID an xAPIC cannot hold, which nox2apic cannot undo.
   */
  private cpuHasX2apic(byFirmware: boolean): boolean {
    const cpuid = this.machine.firmware.cpuid.x2apic;
    if (!this.cmdline.nox2apic || !cpuid) return cpuid;
    if (byFirmware) {
      const bspId = this.apicIdOf(0);
      if (bspId >= 255) {
        this.log.print(`Apicid: ${bspId.toString(16).padStart(8, '0')}, cannot enforce nox2apic`);
        return true;
      }
      // The firmware's x2APIC mode on a machine whose BSP fits xAPIC: setup_nox2apic prints this and turns x2APIC
      // off again. The model's firmware only enables x2APIC for APIC IDs above 254, so the APs would then be
      // unreachable; this combination is reported and otherwise kept in x2APIC mode.
      this.log.print('x2apic already enabled.');
      return true;
    }
    return false;
  }

  /** irq_remapping_prepare + enable: pick the unit(s) and the mode. */
  private prepareRemapping(cpuX2apic: boolean, irAllowed: boolean): void {
    const fw = this.machine.firmware;
    const log = this.log;
    const cmd = this.cmdline;
    if (fw.dmar !== null) {
      const r = prepareIntelRemapping(this.machine, this.mem, log, dmarFaultStyle(this.version), {
        cpuX2apic,
        disabled: !irAllowed,
        noX2apicOptout: cmd.noX2apicOptout,
      });
      if (r !== null) {
        this.intelRemapping = r;
        // The unit that remaps the I/O APIC is the one the model's single-unit paths (faults, posting) use.
        this.intel = driverFor(this.machine, r, fw.dmar.ioapicSourceId, -1) ?? r.drivers[0];
        this.remap = r.eim ? 'x2apic' : 'xapic';
      }
    } else if (fw.ivrs !== null && cmd.amdIommuOff) {
      // amd_iommu=off: iommu_go_to_state stops at IOMMU_CMDLINE_DISABLED before reading the IVHDs (no AMD-Vi lines).
      log.decide('dmaTranslation', 'none (amd_iommu=off)');
    } else if (fw.ivrs !== null) {
      const drv = new AmdIrDriver(this.machine, this.mem, log, amdViDeviceStyle(this.version));
      const p = drv.probe();
      log.decide('dmaTranslation', p.noDmaTranslation ? 'none (HATS = 11b)' : 'available');
      // amd_iommu_prepare → check_ioapic_information (drivers/iommu/amd/init.c): every MADT I/O APIC must be an IVRS
      // special device, and one of them the southbridge I/O APIC at 00:14.0 (IOAPIC_SB_DEVID), else no remapping.
      // With intremap=off irq_remapping_prepare never calls amd_iommu_prepare: the unit is probed for DMA only.
      if (irAllowed && this.amdIoapicsListed()) {
        // XT mode needs XTSup and GA (128-bit IRTEs): amd_iommu_xt_mode is only set with FEATURE_GA.
        const xt = p.xtSup && p.gaSup;
        if (drv.enable(xt, this.machine.devices.map((d) => d.requesterId))) {
          this.amd = drv;
          this.remap = xt ? 'x2apic' : 'xapic';
          // AMD_IOMMU_GUEST_IR_VAPIC stays the guest-IR mode only with GASup and GAMSup's vAPIC bit (FEATURE_GAM_VAPIC).
          if (p.gaSup && (p.efr & (1n << EFR_GAM_SUP_SHIFT)) !== 0n) log.print('AMD-Vi: Virtual APIC enabled');
        }
      }
    }
    const why = cmd.noapic ? 'off (noapic)' : cmd.intremapOff ? 'off (intremap=off)' : 'off';
    log.decide('interruptRemapping', this.intel ? `intel-${this.remap}` : this.amd ? `amd-${this.remap}` : why);
  }

  /** check_ioapic_information: the lines and the verdict for the machine's one I/O APIC. */
  private amdIoapicsListed(): boolean {
    const fw = this.machine.firmware;
    const id = fw.madt.ioapic.id;
    const entry = fw.ivrs!.specialDevices.find((d) => d.variety === 'ioapic' && d.handle === id);
    const southbridge = entry !== undefined && entry.deviceId === IOAPIC_SB_DEVID;
    // pr_fmt "AMD-Vi: " + "%s: ..." with fw_bug = FW_BUG ("[Firmware Bug]: "): hence the ": :" real logs show.
    if (entry === undefined) this.log.print(`AMD-Vi: [Firmware Bug]: : IOAPIC[${id}] not in IVRS table`);
    if (!southbridge) {
      this.log.print('AMD-Vi: [Firmware Bug]: : No southbridge IOAPIC found');
      this.log.print('AMD-Vi: Disabling interrupt remapping');
    }
    this.log.decide('amdSouthbridgeIoapic', southbridge);
    return southbridge;
  }

  /**
   * try_to_enable_x2apic and the APIC driver choice (default_setup_apic_routing: the first driver whose probe
   * accepts, announced only when it differs from the default driver).
   */
  private decideX2apic(byFirmware: boolean, cpuX2apic: boolean): void {
    const log = this.log;
    const hypervisor = this.machine.firmware.cpuid.hypervisorPresent;
    let x2apic = true;
    if (byFirmware && this.cmdline.noapic) {
      // x2APIC stays on from the firmware; enable_IR_x2apic returned before limiting the APIC IDs.
      this.apicLimit = X2APIC_MAX_ID;
      this.cluster = !this.cmdline.x2apicPhys;
    } else if (!byFirmware && (!cpuX2apic || this.cmdline.noapic)) {
      // x2apic_state is X2APIC_DISABLED (no CPUID bit, or nox2apic) or try_to_enable_x2apic is never reached (noapic):
      // xAPIC, silently.
      x2apic = false;
      this.apicLimit = XAPIC_MAX_ID;
    } else if (this.remap === 'x2apic') {
      this.apicLimit = X2APIC_MAX_ID;
      // x2apic_phys (command line) makes x2apic_phys_probe accept first; otherwise the cluster driver.
      this.cluster = !this.cmdline.x2apicPhys;
    } else if (!hypervisor && !byFirmware) {
      // Bare metal: "Using X2APIC without IR is not architecturally supported on bare metal" — x2apic_available()
      // is false without a hypervisor, so Linux stays in xAPIC mode (try_to_enable_x2apic, arch/x86/kernel/apic/apic.c).
      log.print("x2apic: IRQ remapping doesn't support X2APIC mode");
      x2apic = false;
      this.apicLimit = XAPIC_MAX_ID;
    } else {
      // In a VM x2apic_available() is true, so Linux keeps x2APIC without IR and limits the APIC IDs instead of
      // printing "x2apic: IRQ remapping doesn't support X2APIC mode". (Bare metal with x2APIC already on from the
      // firmware — APIC IDs above 254 — is not modelled: Linux would try to disable x2APIC; the model keeps it.)
      // The 15-bit extended destination ID is read from the hypervisor's CPUID from 5.10 on.
      this.extDestId = this.machine.firmware.cpuid.msiExtDestId && supportsExtDestId(this.version);
      this.apicLimit = this.extDestId ? LIMIT_15BIT : LIMIT_8BIT;
    }
    this.x2apic = x2apic;
    // xAPIC: physflat_probe accepts when more than 8 CPUs are possible; otherwise the default logical flat driver
    // stays (kernels that still have it, core/linux-version.ts keepsLogicalFlat).
    const logicalFlat = keepsLogicalFlat(this.version);
    this.flat = !x2apic && logicalFlat && this.machine.firmware.madt.apicIds.length <= FLAT_MAX_CPUS;
    const routing = x2apic ? (this.cluster ? 'cluster x2apic' : 'physical x2apic') : this.flat ? 'flat' : 'physical flat';
    if (x2apic && !byFirmware) log.print('x2apic enabled');
    if (routing !== (logicalFlat ? 'flat' : 'physical flat')) log.print(apicRoutingLine(this.version, routing));
    log.decide('x2apic', x2apic);
    log.decide('apicRouting', routing);
    log.decide('apicLimit', this.apicLimit);
    log.decide('extDestId', this.extDestId);
  }

  /** DMAR fault interrupt / AMD-Vi event-log interrupt on CPU 0. */
  private setupIommuInterrupt(): void {
    const vector = this.intel || (this.amd && this.remap === 'x2apic') ? this.vectors.allocate(0) : null;
    if (vector === null) return;
    const dest = this.destinationOf(0);
    if (this.intel) {
      const drv = this.intel;
      drv.setupFaultInterrupt(dest, vector, this.logicalDest);
      this.registerSystemHandler(0, vector, () => drv.handleFault());
      this.log.decide('dmarFaultVector', vector);
    } else if (this.amd) {
      const drv = this.amd;
      drv.setupXtEventInterrupt(dest, vector, this.cluster);
      this.registerSystemHandler(0, vector, () => this.amdIommuInterrupt());
      this.iommuVector = vector;
      this.log.decide('amdViEventVector', vector);
    }
  }

  /** Logical destination mode: the cluster x2APIC driver, or xAPIC logical flat. */
  private get logicalDest(): boolean {
    return this.cluster || this.flat;
  }

  /**
   * setup_IO_APIC → setup_IO_APIC_irqs: every legacy pin gets its IRQ, and under Intel remapping its IRTE, in pin
   * order (with QEMU's MADT pin 0 has no IRQ: IRQ0 is overridden to pin 2, IRQ2 is the cascade), whether or not a driver ever
   * requests it — so a q35 guest's pins 1..15 own IRTEs 0..14 before any device. Then check_timer programs pin 2 at
   * ISA_IRQ_VECTOR(0) on CPU 0 and prints its verdict.
   */
  private setupLegacyIrqs(): void {
    if (this.ioapicPinCount() < NR_LEGACY_IRQS) return;
    // The pins the ISA IRQs arrive at through the MADT's interrupt source overrides (mp_config_acpi_legacy_irqs);
    // the cascade IRQ 2 has none.
    const overrides = this.machine.firmware.madt.interruptSourceOverrides;
    const pins = new Set<number>();
    for (let irq = 0; irq < NR_LEGACY_IRQS; irq++) if (irq !== PIC_CASCADE_IR) pins.add(isaIrqToGsi(irq, overrides));
    if (this.intel !== null) {
      for (const pin of [...pins].sort((a, b) => a - b)) {
        const index = this.intel.allocIrte(1);
        if (index !== null) this.legacyIrte.set(pin, index);
      }
    }
    const timerPin = isaIrqToGsi(0, overrides);
    const vector = ISA_IRQ_VECTOR_BASE;
    const req: CheckedRequest = {
      request: { id: 'timer', kind: 'ioapic', pin: timerPin, cpu: 0 },
      kind: 'ioapic',
      index: 0,
      device: null,
      msi: null,
      msix: null,
      pin: timerPin,
      pinSetup: { trigger: 'edge', polarity: 'high' },
    };
    this.timer = this.intel ? this.programIntel(req, 0, vector, undefined) : this.amd ? this.programAmd(req, 0, vector, undefined) : this.programDirect(req, 0, vector, undefined);
    // check_timer (io_apic.c): the pin found through the MADT override, no ExtINT pin on a second I/O APIC.
    this.log.print(`..TIMER: vector=0x${vector.toString(16)} apic1=0 pin1=${timerPin} apic2=-1 pin2=-1`);
  }

  /** The destination Linux writes for `cpu`: its logical ID (cluster or flat), else its APIC ID. */
  private destinationOf(cpu: number): number {
    return this.logicalDest ? this.logicalId[cpu] : this.apicIdOf(cpu);
  }

  // ---- The kernel's allocation steps, each at the moment the kernel takes it (boot-irqs.ts orders them) ---------

  /**
   * gsi_top: one past the last GSI of the I/O APIC (mp_register_ioapic: its GSI base 0 plus the redirection entries
   * its version register reports); dynamically allocated IRQ numbers start there (arch_dynirq_lower_bound).
   */
  get gsiTop(): number {
    return this.ioapicPinCount();
  }

  /**
   * mp_map_gsi_to_irq(gsi, IOAPIC_MAP_ALLOC) for a PCI function's INTx line at pci_enable_device
   * (pcibios_enable_irq → acpi_pci_irq_enable → acpi_register_gsi): the GSI's IRQ is allocated in the I/O APIC
   * domain, and under Intel remapping intel_irq_remapping_alloc → alloc_irte gives it an IRTE then, whether or not
   * the driver ever requests that IRQ. A GSI already mapped (a shared line, a legacy pin) takes nothing new; AMD's
   * I/O APIC table has an index per pin already (irq_remapping_alloc: index = pin).
   */
  mapGsi(pin: number): void {
    this.requireBooted('mapGsi');
    if (this.intel === null || this.legacyIrte.has(pin)) return;
    const index = this.intel.allocIrte(1);
    if (index !== null) this.legacyIrte.set(pin, index);
  }

  /**
   * pci_alloc_irq_vectors for MSI-X entries 0..count-1 of `device`: msi_domain_alloc_irqs allocates each
   * descriptor on its own, so under remapping each entry takes one IRTE (intel_irq_remapping_alloc → alloc_irte(1))
   * or one index of the device's table (irq_remapping_alloc → alloc_irq_index, no alignment for MSI-X) now, in
   * entry order; its vector comes when the entry is activated (setupInterrupt / setupManagedInterrupt).
   */
  allocateMsixIrtes(device: string, count: number): void {
    this.requireBooted('allocateMsixIrtes');
    const sid = this.machine.device(device).requesterId;
    for (let entry = 0; entry < count; entry++) {
      if (this.preallocated.has(msiKey(sid, entry))) continue;
      const index = this.intel !== null ? this.intel.allocIrte(1) : this.amd !== null ? this.amd.allocIndex(sid, 1) : null;
      if (index !== null) this.preallocated.set(msiKey(sid, entry), index);
    }
  }

  /**
   * pci_alloc_irq_vectors(nvec) with PCI_IRQ_MSI under remapping (multi-MSI): one allocation for all messages.
   * Intel takes one aligned block of __roundup_pow_of_two(nvec) IRTEs (intel_irq_remapping_alloc → alloc_irte →
   * bitmap_find_free_region); AMD takes nvec indices starting at a multiple of roundup_pow_of_two(nvec)
   * (irq_remapping_alloc → alloc_irq_index with align). The capability is then enabled for the rounded-up count of
   * messages (MME), written when the first message is activated; a message past nvec has no IRQ. Without remapping
   * nothing is taken (the plain PCI-MSI domain gives a device one message). False when the table has no room.
   */
  allocateMsiIrtes(device: string, nvec: number): boolean {
    this.requireBooted('allocateMsiIrtes');
    const dev = this.machine.device(device);
    const cap = readMsiCap(dev);
    if (cap === null) throw new UsageError(`allocateMsiIrtes: device ${device} has no MSI capability`);
    if (!Number.isInteger(nvec) || nvec < 1 || nvec > cap.vectorsCapable) throw new UsageError(`allocateMsiIrtes: device ${device} supports 1..${cap.vectorsCapable} MSI messages, got ${JSON.stringify(nvec)}`);
    const sid = dev.requesterId;
    if (this.msiBlocks.has(sid)) throw new UsageError(`allocateMsiIrtes: device ${device} has its MSI messages allocated already`);
    const count = roundupPow2(nvec);
    let base: number | null = null;
    if (this.intel !== null) {
      const drv = this.intelRemapping !== null && this.intelRemapping.drivers.length > 1 ? driverFor(this.machine, this.intelRemapping, sid, this.machine.firmware.dmar!.ioapicSourceId) : this.intel;
      base = drv === null ? null : drv.allocIrte(count);
    } else if (this.amd !== null) {
      base = this.amd.allocIndex(sid, nvec, count);
    } else {
      return true;
    }
    if (base === null) return false;
    this.msiBlocks.set(sid, { base, count, allocated: nvec, written: false });
    return true;
  }

  /**
   * pci_free_irq + pci_free_irq_vectors for MSI-X sources of `device`: each vector goes back to the matrix
   * (irq_matrix_free; a managed one stays reserved), and each IRTE / table index is cleared and freed (free_irte,
   * with the cache invalidation that follows).
   */
  freeMsix(device: string, programmed: readonly ProgrammedInterrupt[]): void {
    this.requireBooted('freeMsix');
    const sid = this.machine.device(device).requesterId;
    for (const p of programmed) {
      if (p.status !== 'programmed') continue;
      this.vectors.free(p.cpu, p.vector);
      if (p.irteIndex !== undefined && this.intel !== null) this.intel.freeIrte(p.irteIndex);
      else if (p.irteIndex !== undefined && this.amd !== null) this.amd.freeIndex(sid, p.irteIndex);
      this.preallocated.delete(msiKey(sid, p.request.vector ?? 0));
    }
  }

  /**
   * x86_vector_alloc_irqs → reserve_managed_vector for a managed interrupt (irq_create_affinity_masks gave it
   * `mask`): irq_matrix_reserve_managed takes one vector on every CPU of the mask. False when a CPU has none left.
   */
  reserveManagedVector(mask: readonly number[]): boolean {
    this.requireBooted('reserveManagedVector');
    return this.vectors.reserveManaged(mask);
  }

  /**
   * request_irq of a managed interrupt (irq_startup → activate_managed → assign_managed_vector): the vector comes
   * from irq_matrix_alloc_managed over the online CPUs of its mask, out of the reservation reserveManagedVector made.
   */
  setupManagedInterrupt(request: InterruptRequest, mask: readonly number[]): ProgrammedInterrupt {
    this.requireBooted('setupManagedInterrupt');
    const req = this.checkRequest(request);
    const got = this.vectors.allocateManaged(mask.filter((c) => this.isOnline[c]));
    if (got === null) return this.refused(req, request.cpu, 'no reserved managed vector on an online CPU of the mask');
    return this.programVector(req, got.cpu, got.vector, undefined);
  }

  /**
   * The IOMMU's own interrupt where the kernel sets it up at pci_iommu_init (rootfs_initcall), after the ACPI SCI:
   * the DMAR fault interrupt of a unit that only does DMA remapping (init_dmars → dmar_set_interrupt; with remapping
   * on it was set up at APIC setup, dmar_set_interrupt returns early), and the AMD-Vi event-log interrupt through the
   * IOMMU function's own MSI capability (iommu_init_irq → iommu_setup_msi → pci_enable_msi, when not in XT mode).
   * Neither is remapped. The vector goes where the matrix picks (a default-affinity interrupt activated at
   * allocation). Returns what was set up, or null when the kernel sets up none here.
   */
  setupIommuInitcallInterrupt(): { chip: 'DMAR-MSI' | 'PCI-MSI'; cpu: number; vector: number } | null {
    this.requireBooted('setupIommuInitcallInterrupt');
    const fw = this.machine.firmware;
    const cpu = this.vectors.bestCpu(this.online);
    if (this.amd !== null && this.remap === 'xapic') {
      const vector = this.vectors.allocate(cpu);
      if (vector === null) return null;
      const unit = this.machine.iommu as AmdIommu;
      const fn = unit.pciFunction;
      const msg = composeApicMessage(this.destinationOf(cpu), vector, this.flat);
      // msi_capability_init: address, then data, then MSI Enable (PCI Local Bus 3.0 6.8.1; 64-bit layout).
      fn.configWrite(fn.msiCapOffset + 4, 4, Number(msg.addr & 0xffffffffn));
      fn.configWrite(fn.msiCapOffset + 8, 4, Number(msg.addr >> 32n));
      fn.configWrite(fn.msiCapOffset + 12, 2, msg.data);
      fn.configWrite(fn.msiCapOffset + 2, 2, fn.configRead(fn.msiCapOffset + 2, 2) | 1);
      const drv = this.amd;
      drv.enableEventInterrupt();
      this.registerSystemHandler(cpu, vector, () => this.amdIommuInterrupt());
      this.iommuVector = vector;
      this.log.decide('amdViEventVector', vector);
      return { chip: 'PCI-MSI', cpu, vector };
    }
    const dmaRemapping = fw.dmar !== null && this.intelRemapping === null && this.cmdline.intelIommu !== 'off' && this.log.decisions.dmaTranslation === 'available';
    if (dmaRemapping) {
      const vector = this.vectors.allocate(cpu);
      if (vector === null) return null;
      const drv = new IntelIrDriver(this.machine, this.mem, this.log, dmarFaultStyle(this.version), 0);
      drv.setupFaultInterrupt(this.destinationOf(cpu), vector, this.logicalDest);
      this.registerSystemHandler(cpu, vector, () => drv.handleFault());
      this.log.decide('dmarFaultVector', vector);
      return { chip: 'DMAR-MSI', cpu, vector };
    }
    return null;
  }

  // ---- Interrupt setup ------------------------------------------------------------------------------------------

  /** irq_matrix_alloc → matrix_find_best_cpu: the CPU of the mask with the most vectors available (managed reservations count as taken). */
  protected override chooseCpu(onlineCpus: readonly number[]): number {
    return this.vectors.bestCpu(onlineCpus);
  }

  protected program(req: CheckedRequest, cpu: number, note: string | undefined): ProgrammedInterrupt {
    if (this.cmdline.noapic && req.kind === 'ioapic') return this.refused(req, cpu, 'noapic: the kernel does not use the I/O APIC (skip_ioapic_setup)');
    if (this.xenPirq && req.kind !== 'ioapic') return this.programXenPirq(req, cpu, note);
    const vector = this.vectors.allocate(cpu);
    if (vector === null) return this.refused(req, cpu, `no free vector on CPU ${cpu}`);
    return this.programVector(req, cpu, vector, note);
  }

  /** The source programmed at a vector already taken on `cpu`, through remapping when it is on. */
  private programVector(req: CheckedRequest, cpu: number, vector: number, note: string | undefined): ProgrammedInterrupt {
    if (this.intel) return this.programIntel(req, cpu, vector, note);
    if (this.amd) return this.programAmd(req, cpu, vector, note);
    return this.programDirect(req, cpu, vector, note);
  }

  private result(req: CheckedRequest, cpu: number, vector: number, note: string | undefined, extra: Partial<ProgrammedInterrupt> & { encoding: string }): ProgrammedInterrupt {
    const out: ProgrammedInterrupt = { request: req.request, status: 'programmed', cpu, apicId: this.apicIdOf(cpu), vector, ...extra };
    if (note !== undefined) out.note = note;
    return out;
  }

  /** No remapping: compatibility format, or the 15-bit extension for APIC IDs 256..32767. */
  private programDirect(req: CheckedRequest, cpu: number, vector: number, note: string | undefined): ProgrammedInterrupt {
    const dest = this.destinationOf(cpu);
    if (dest > LIMIT_8BIT && !(this.extDestId && dest <= LIMIT_15BIT)) {
      return this.refused(req, cpu, `APIC ID ${dest} cannot be expressed in an MSI without interrupt remapping`);
    }
    const encoding = dest > LIMIT_8BIT ? 'ext-dest-id' : 'compat';
    const msg = composeApicMessage(dest, vector, this.flat);
    if (req.kind === 'ioapic') {
      const rte = rteFromMessage(msg, req.pinSetup);
      this.writeRte(req.pin, rte);
      return this.result(req, cpu, vector, note, { message: rteToMessage(rte), rte, encoding });
    }
    if (req.kind === 'msi') {
      // The default (non-IR) PCI-MSI domain lacks MSI_FLAG_MULTI_PCI_MSI: one vector per device.
      if (req.index !== 0) return this.refused(req, cpu, 'multiple MSI messages need interrupt remapping (Linux allocates one MSI vector per device without it)');
      this.writeMsi(req, msg, 0);
    } else {
      this.writeMsix(req, msg);
    }
    return this.result(req, cpu, vector, note, { message: msg, encoding });
  }

  private programXenPirq(req: CheckedRequest, cpu: number, note: string | undefined): ProgrammedInterrupt {
    // xen_hvm_setup_msi_irqs returns 1 for multi-MSI: a PIRQ MSI has exactly one vector.
    if (req.kind === 'msi' && req.index !== 0) return this.refused(req, cpu, 'Xen PIRQ MSIs cannot use more than one vector');
    const pirq = this.nextPirq++;
    const msg = composeXenPirq(pirq);
    if (req.kind === 'msi') this.writeMsi(req, msg, 0);
    else this.writeMsix(req, msg);
    const why = `bound to Xen PIRQ ${pirq} (event channel upcall, no APIC vector of its own)`;
    return this.result(req, cpu, 0, note ? `${note}; ${why}` : why, { message: msg, pirq, encoding: 'xen-pirq' });
  }

  /**
   * The host kernel's side of posting (irq_set_vcpu_affinity → intel_ir_set_vcpu_affinity): IRTE `index`, which
   * this kernel set up for device `sid`, now posts `vector` into the descriptor at `descriptor`.
   */
  postIrte(index: number, sid: number, target: { descriptor: number; vector: number; urgent: boolean }): void {
    if (this.intel === null) throw new UsageError('postIrte: this kernel has no Intel interrupt remapping');
    this.intel.writePostedIrte(index, { ...target, sid, sq: 0, svt: SVT_VERIFY_SID });
  }

  /** irq_set_vcpu_affinity(NULL): IRTE `index` back to remapped delivery of `vector` on `cpu`. */
  remapIrte(index: number, sid: number, cpu: number, vector: number): void {
    if (this.amd !== null) {
      // amd_ir_set_vcpu_affinity with no vCPU data → amd_iommu_deactivate_guest_mode: a GuestMode = 0 entry again.
      this.amd.writeIrte(sid, index, { vector, dest: this.destinationOf(cpu), destMode: this.logicalDest ? 1 : 0 });
      return;
    }
    if (this.intel === null) throw new UsageError('remapIrte: this kernel has no interrupt remapping');
    this.intel.writeIrte(index, this.irteFor(cpu, vector, sid));
  }

  /** The vector of the IOMMU's own interrupt on CPU 0 (DMAR fault / AMD-Vi event and GA log), or null. */
  iommuVector: number | null = null;
  /** Who hears of GA log entries (KVM's avic_ga_log_notifier, registered with amd_iommu_register_ga_log_notifier). */
  private gaLogNotifier: (gaTag: number) => void = () => {};

  /** amd_iommu_int_thread: the event log, then (guest vAPIC mode) the GA log. */
  amdIommuInterrupt(): void {
    const drv = this.amd;
    if (drv === null) return;
    drv.pollEvents();
    drv.pollGaLog(this.gaLogNotifier);
  }

  /**
   * AMD_IOMMU_GUEST_IR_VAPIC for a hypervisor: GAMEn and the GA log (AmdIrDriver.enableGuestVapic), with `notify`
   * as the GA log notifier. False when the IOMMU has no guest vAPIC support (EFR.GAMSup) or no AMD remapping runs.
   */
  enableAmdGuestVapic(notify: (gaTag: number) => void): boolean {
    if (this.amd === null || !this.amd.enableGuestVapic()) return false;
    this.gaLogNotifier = notify;
    return true;
  }

  /** amd_ir_set_vcpu_affinity: IRTE `index` of device `sid` posts into a vCPU's vAPIC backing page (GuestMode = 1). */
  postAmdIrte(index: number, sid: number, fields: AmdGuestIrteFields): void {
    if (this.amd === null || !this.amd.vapic) throw new UsageError('postAmdIrte: guest vAPIC mode is not enabled');
    this.amd.writeGuestIrte(sid, index, fields);
  }

  /** amd_iommu_update_ga: the vCPU behind IRTE `index` was scheduled in (IsRun, Destination) or out. */
  updateAmdGa(index: number, sid: number, isRun: boolean, dest: number): void {
    if (this.amd === null) throw new UsageError('updateAmdGa: this kernel has no AMD interrupt remapping');
    this.amd.updateGa(sid, index, isRun, dest);
  }

  /**
   * irq_set_affinity for a remapped MSI/MSI-X source: a new vector on `cpu`, written into the source's IRTE
   * (intel_ir_set_affinity / amd_ir_set_affinity → modify_irte), then the IOMMU's cache of that entry is invalidated
   * (qi_flush_iec / INVALIDATE_INTERRUPT_TABLE). `invalidate: false` skips the invalidation — the device keeps
   * sending the same message, so only the cached entry decides where it goes. Returns the source as now programmed.
   */
  retargetInterrupt(p: ProgrammedInterrupt, cpu: number, options: { invalidate?: boolean; keepIrte?: boolean } = {}): ProgrammedInterrupt {
    this.requireBooted('retargetInterrupt');
    const flush = options.invalidate !== false;
    const req = p.request;
    if (p.status !== 'programmed' || p.irteIndex === undefined || req.kind === 'ioapic' || req.device === undefined) {
      throw new UsageError(`retargetInterrupt(${req.id}): only a programmed, remapped MSI/MSI-X source has an IRTE to rewrite`);
    }
    if (!this.online.includes(cpu)) throw new UsageError(`retargetInterrupt(${req.id}): CPU ${cpu} is not online`);
    const vector = this.vectors.allocate(cpu);
    if (vector === null) throw new UsageError(`retargetInterrupt(${req.id}): no free vector on CPU ${cpu}`);
    const sid = this.machine.device(req.device).requesterId;
    // keepIrte: the entry is in posted mode (irq_set_vcpu_affinity); intel_ir_reconfigure_irte / amd_ir_set_affinity
    // leave a vCPU-posted entry alone, so only the host vector moves.
    if (options.keepIrte === true) {
      this.log.print(`irq ${req.id}: affinity set to CPU ${cpu}, vector 0x${vector.toString(16)} (posted IRTE left as it is)`);
      return { ...p, cpu, apicId: this.apicIdOf(cpu), vector };
    }
    if (this.intel !== null) this.intel.writeIrte(p.irteIndex, this.irteFor(cpu, vector, sid), flush);
    else if (this.amd !== null) this.amd.writeIrte(sid, p.irteIndex, { vector, dest: this.destinationOf(cpu), destMode: this.logicalDest ? 1 : 0 }, flush);
    else throw new UsageError(`retargetInterrupt(${req.id}): interrupt remapping is off`);
    this.log.print(`irq ${req.id}: affinity set to CPU ${cpu}, vector 0x${vector.toString(16)}${flush ? '' : ' (interrupt entry cache NOT invalidated)'}`);
    return { ...p, cpu, apicId: this.apicIdOf(cpu), vector };
  }

  /**
   * qi_flush_iec(index, 0) on its own: invalidate one entry of the Intel IOMMU's interrupt entry cache (what Linux
   * does after modify_irte of that entry, here without touching the entry).
   */
  invalidateInterruptEntry(index: number): void {
    this.requireBooted('invalidateInterruptEntry');
    if (this.intel === null) throw new UsageError('invalidateInterruptEntry: Intel interrupt remapping is off');
    if (!Number.isInteger(index) || index < 0 || index > 0xffff) throw new UsageError(`invalidateInterruptEntry: ${String(index)} is not an IRTE index 0..65535`);
    this.intel.flushIec(index, 0);
  }

  /**
   * free_irte for a remapped MSI/MSI-X source (what pci_free_irq_vectors does to its IRTE): the entry is cleared and
   * invalidated. The device is left programmed, so a later interrupt from it meets a non-present entry.
   */
  releaseIrte(p: ProgrammedInterrupt): void {
    this.requireBooted('releaseIrte');
    const req = p.request;
    if (p.status !== 'programmed' || p.irteIndex === undefined || req.device === undefined) {
      throw new UsageError(`releaseIrte(${req.id}): only a programmed, remapped MSI/MSI-X source has an IRTE`);
    }
    if (this.intel !== null) this.intel.clearIrte(p.irteIndex);
    else if (this.amd !== null) this.amd.clearIrte(this.machine.device(req.device).requesterId, p.irteIndex);
    else throw new UsageError(`releaseIrte(${req.id}): interrupt remapping is off`);
  }

  /**
   * An interrupt for device-specific storage (IMS; LKML, "[PATCH v4 06/17] PCI: add SIOV and IMS capability detection", 2020-11-08): a vector on `cpu` and the message composed for it
   * the way this kernel's irq domain does — an IRTE and a remappable message under interrupt remapping, else a
   * compatibility message — returned, not written anywhere: the IMS driver stores it in its device's own table.
   */
  composeDeviceMessage(bdf: string, cpu: number): { cpu: number; apicId: number; vector: number; irteIndex?: number; message: { addr: bigint; data: number } } | string {
    this.requireBooted('composeDeviceMessage');
    if (!this.online.includes(cpu)) return `CPU ${cpu} is not online`;
    const sid = this.machine.device(bdf).requesterId;
    const vector = this.vectors.allocate(cpu);
    if (vector === null) return `no free vector on CPU ${cpu}`;
    const apicId = this.apicIdOf(cpu);
    if (this.intel !== null && this.remap !== null) {
      const index = this.intel.allocIrte(1);
      if (index === null) return "DMAR-IR: IR0: can't allocate an IRTE";
      this.intel.writeIrte(index, this.irteFor(cpu, vector, sid));
      return { cpu, apicId, vector, irteIndex: index, message: composeIntelRemappable(index, 0) };
    }
    if (this.amd !== null && this.remap !== null) {
      const index = this.amd.allocIndex(sid, 1);
      if (index === null) return 'AMD-Vi: Failed to allocate IRTE';
      this.amd.writeIrte(sid, index, { vector, dest: this.destinationOf(cpu), destMode: this.logicalDest ? 1 : 0 });
      return { cpu, apicId, vector, irteIndex: index, message: composeAmdRemappable(index, this.amd.twoKMode) };
    }
    if (apicId > LIMIT_8BIT && !(this.extDestId && apicId <= LIMIT_15BIT)) return `APIC ID ${apicId} cannot be expressed in an MSI without interrupt remapping`;
    return { cpu, apicId, vector, message: composeApicMessage(this.destinationOf(cpu), vector, this.flat) };
  }

  /** Which IOMMU's interrupt remapping this kernel enabled at boot, if any. */
  get interruptRemapping(): 'intel' | 'amd' | null {
    return this.intel !== null && this.remap !== null ? 'intel' : this.amd !== null && this.remap !== null ? 'amd' : null;
  }

  private irteFor(cpu: number, vector: number, sid: number): IntelIrteFields {
    // prepare_irte: Fixed, edge (the RTE carries the real trigger), redirection hint set, driver's DM; set_irte_sid
    // drops the requester-id check with intremap=nosid.
    const svt = this.cmdline.intremapNosid ? SVT_NO_VERIFY : SVT_VERIFY_SID;
    return { vector, dest: this.destinationOf(cpu), destMode: this.logicalDest ? 1 : 0, redirectionHint: 1, trigger: 0, deliveryMode: 0, sid, sq: 0, svt };
  }

  private programIntel(req: CheckedRequest, cpu: number, vector: number, note: string | undefined): ProgrammedInterrupt {
    let drv = this.intel!;
    if (req.kind !== 'ioapic' && this.intelRemapping !== null && this.intelRemapping.drivers.length > 1) {
      // Several DRHDs: the device's own unit (dmar_find_matched_drhd_unit). A device under no unit is not remapped
      // and gets the ordinary PCI-MSI domain's compatibility-format message.
      const own = driverFor(this.machine, this.intelRemapping, req.device!.requesterId, this.machine.firmware.dmar!.ioapicSourceId);
      if (own === null) return this.programDirect(req, cpu, vector, note);
      drv = own;
    }
    if (req.kind === 'ioapic') {
      const index = this.legacyIrte.get(req.pin) ?? drv.allocIrte(1);
      if (index === null) return this.refused(req, cpu, 'DMAR-IR: IR0: can\'t allocate an IRTE');
      // One IRQ per GSI, its IRTE allocated once (intel_irq_remapping_alloc); a later affinity change rewrites that
      // entry (intel_ir_set_affinity → modify_irte) rather than taking another.
      this.legacyIrte.set(req.pin, index);
      drv.writeIrte(index, this.irteFor(cpu, vector, this.machine.firmware.dmar!.ioapicSourceId));
      const rte = rteIntelRemappable(index, req.pin, req.pinSetup);
      this.writeRte(req.pin, rte);
      // ioapic_ir_ack_level: "Intr-remapping uses pin number as the virtual vector in the RTE".
      if (req.pinSetup.trigger === 'level') this.registerIoapicEoi(cpu, vector, req.pin, req.pin & 0xff);
      return this.result(req, cpu, vector, note, { message: rteToMessage(rte), rte, irteIndex: index, encoding: 'intel-remappable' });
    }
    const sid = req.device!.requesterId;
    if (req.kind === 'msix') {
      const index = this.preallocated.get(msiKey(sid, req.index)) ?? drv.allocIrte(1);
      if (index === null) return this.refused(req, cpu, 'DMAR-IR: IR0: can\'t allocate an IRTE');
      drv.writeIrte(index, this.irteFor(cpu, vector, sid));
      const msg = composeIntelRemappable(index, 0);
      this.writeMsix(req, msg);
      return this.result(req, cpu, vector, note, { message: msg, irteIndex: index, encoding: 'intel-remappable' });
    }
    // Multi-MSI: an aligned block of IRTEs; the device adds k to the data, which is the subhandle (SHV = 1).
    let block = this.msiBlocks.get(sid);
    if (block === undefined) {
      const count = req.msi!.vectorsCapable;
      const base = drv.allocIrte(count);
      if (base === null) return this.refused(req, cpu, 'DMAR-IR: IR0: can\'t allocate an IRTE');
      block = { base, count, allocated: count, written: false };
      this.msiBlocks.set(sid, block);
    }
    if (req.index >= block.allocated) return this.refused(req, cpu, `MSI message ${req.index} has no IRQ: the driver allocated ${block.allocated}`);
    if (!block.written) {
      this.writeMsi(req, composeIntelRemappable(block.base, 0), Math.log2(block.count));
      block.written = true;
    }
    const index = block.base + req.index;
    drv.writeIrte(index, this.irteFor(cpu, vector, sid));
    return this.result(req, cpu, vector, note, { message: composeIntelRemappable(block.base, req.index), irteIndex: index, encoding: 'intel-remappable' });
  }

  private programAmd(req: CheckedRequest, cpu: number, vector: number, note: string | undefined): ProgrammedInterrupt {
    const drv = this.amd!;
    const fields = { vector, dest: this.destinationOf(cpu), destMode: (this.logicalDest ? 1 : 0) as 0 | 1 };
    if (req.kind === 'ioapic') {
      const devid = drv.ioapicDeviceId;
      // irq_remapping_alloc: for the I/O APIC, index = pin (indices 0..31 of its table are kept for pins).
      const index = req.pin;
      drv.claimIndex(devid, index);
      drv.writeIrte(devid, index, fields);
      const rte = rteFromMessage(composeAmdRemappable(index, drv.twoKMode), req.pinSetup);
      this.writeRte(req.pin, rte);
      if (req.pinSetup.trigger === 'level') this.registerIoapicEoi(cpu, vector, req.pin, index & 0xff);
      return this.result(req, cpu, vector, note, { message: rteToMessage(rte), rte, irteIndex: index, encoding: 'amd-remappable' });
    }
    const devid = req.device!.requesterId;
    if (req.kind === 'msix') {
      const index = this.preallocated.get(msiKey(devid, req.index)) ?? drv.allocIndex(devid, 1);
      if (index === null) return this.refused(req, cpu, 'AMD-Vi: Failed to allocate IRTE');
      drv.writeIrte(devid, index, fields);
      const msg = composeAmdRemappable(index, drv.twoKMode);
      this.writeMsix(req, msg);
      return this.result(req, cpu, vector, note, { message: msg, irteIndex: index, encoding: 'amd-remappable' });
    }
    let block = this.msiBlocks.get(devid);
    if (block === undefined) {
      const count = req.msi!.vectorsCapable;
      const base = drv.allocIndex(devid, count);
      if (base === null) return this.refused(req, cpu, 'AMD-Vi: Failed to allocate IRTE');
      block = { base, count, allocated: count, written: false };
      this.msiBlocks.set(devid, block);
    }
    if (req.index >= block.allocated) return this.refused(req, cpu, `MSI message ${req.index} has no IRQ: the driver allocated ${block.allocated}`);
    if (!block.written) {
      this.writeMsi(req, composeAmdRemappable(block.base, drv.twoKMode), Math.log2(block.count));
      block.written = true;
    }
    const index = block.base + req.index;
    drv.writeIrte(devid, index, fields);
    const msg: ComposedMessage = composeAmdRemappable(block.base | req.index, drv.twoKMode);
    return this.result(req, cpu, vector, note, { message: msg, irteIndex: index, encoding: 'amd-remappable' });
  }
}
