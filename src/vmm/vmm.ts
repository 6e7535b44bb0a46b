/**
 * The VMM: the only code that sees both machines. It traps the guest's MSI/MSI-X programming of each assigned
 * device, turns every enabled guest vector into a route — the guest message translated through the guest machine's
 * translation core (and its vIOMMU, if any) with deliverNow = false — asks the host kernel for a host vector the
 * way vfio-pci does, and when the host interrupt arrives, injects the routed interrupt into the guest vCPU's LAPIC
 * (KVM's irqfd → kvm_set_msi), or lets the host IOMMU post it straight into the vCPU's posted-interrupt descriptor.
 *
 * Routes and eviction (qemu-devel, "More than 255 vcpus Windows VM setup without viommu ?", 2024-10-01). A route lives in a {@link RouteSlot} registered with the guest's translation
 * core, so the guest vIOMMU's invalidations (VT-d IEC invalidation, AMD INVALIDATE_INTERRUPT_TABLE) evict exactly
 * the routes whose cookies they cover through the core's ordinary RouteInvalidator path. An evicted route is
 * translated again when its next interrupt arrives, with deliverNow = true, so an entry that became invalid raises
 * the fault the guest can see. A guest rewrite of a vector replaces that vector's route.
 *
 * Hot path (a warm route): host LAPIC → host kernel entry → {@link AssignedRoute.fire} → guest bus → guest core's
 * slot hit → guest APIC bus. No allocation, no scan of CPUs.
 */
import { ConfigError, UsageError } from '../core/errors.ts';
import { formatBdf } from '../core/bdf.ts';
import { decodeCookie } from '../msi/cookie.ts';
import { DeliveryMode, type ApicMessage } from '../msi/interrupt.ts';
import { RouteSlot } from '../msi/route-slot.ts';
import { PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, PCI_COMMAND_MASTER } from '../pci/type0-header.ts';
import { VfioIntx, type VfioIntxReport } from './vfio-intx.ts';
import { TranslationResult } from '../msi/translation-result.ts';
import type { Machine } from '../machine/machine.ts';
import type { AssignedFunction, AssignedFunctionTrap } from './assigned-function.ts';
import type { AssignedBar } from './ath-bar0-quirk.ts';
import type { HostKernel, HostVector } from './host-kernel.ts';
import { POSTED_INTR_VECTOR, POSTED_INTR_WAKEUP_VECTOR, PostedDescriptor } from './posted-descriptor.ts';
import { drainVapicIrr } from '../iommu-amd/vapic-backing-page.ts';
import type { VmmProfile } from './profiles.ts';
import type { ResolvedAssignment, ResolvedSystemConfig } from './system-config.ts';
import { Vcpu, type VcpuScheduler, type VcpuState } from './vcpu.ts';
import type { SavedRoute, VmmShape, VmmState } from './vmm-state.ts';
import { KVM_MAX_IRQ_ROUTES, KvmIrqRouting, type BypassProducer, type EventfdToken, type KvmRoutingEntry } from './kvm-irq-routing.ts';

const TWO_32 = 0x1_0000_0000;
/** QEMU's IOAPIC_NUM_PINS: the GSIs below are the I/O APIC's. */
const IOAPIC_NUM_PINS = 24;

/** What a route serves: MSI message k, MSI-X entry k, or entry k of the device's IMS (device-specific storage). */
export type RouteKind = 'msi' | 'msix' | 'ims';
/** Where the VMM keeps the vCPUs' posted-interrupt descriptors in host memory (64 bytes each, above 4 GiB). */
export const POSTED_DESCRIPTOR_BASE = 0x3_0000_0000;
const PID_STRIDE = 64;
/** Where the VMM keeps the vCPUs' AVIC vAPIC backing pages in host memory (4 KiB each), on an AMD host. */
export const AVIC_BACKING_PAGE_BASE = 0x3_1000_0000;
/**
 * KVM's AVIC_GATAG(vm_id, vcpu_idx) (arch/x86/kvm/svm/avic.c): the VM ID above the 9-bit vCPU index
 * (AVIC_VM_ID_SHIFT = HWEIGHT32(AVIC_PHYSICAL_MAX_INDEX_MASK)); this one VM has ID 1.
 */
const AVIC_VM_ID = 1;
const AVIC_VM_ID_SHIFT = 9;
const AVIC_VCPU_IDX_MASK = 0x1ff;

export function avicGaTag(vcpu: number): number {
  return ((AVIC_VM_ID << AVIC_VM_ID_SHIFT) | (vcpu & AVIC_VCPU_IDX_MASK)) >>> 0;
}

export interface VmmCounters {
  /** Guest messages translated through the guest's translation core (route builds and re-translations). */
  translations: number;
  /** Valid routes evicted by a guest invalidation (or a global change of the guest's remapping state). */
  evictions: number;
  /** Interrupts injected into a guest LAPIC through a route (the non-posted path). */
  injections: number;
  /** Vectors moved from a posted-interrupt descriptor (VT-d) or a vAPIC backing page's IRR (AMD) into a guest vCPU's IRR. */
  posted: number;
  /** KVM wake-ups of a descheduled vCPU for a posted interrupt (VT-d wake-up vector, AMD GA log entry). */
  wakeups: number;
  /** Host interrupts whose re-translation the guest's vIOMMU refused (the guest sees the fault). */
  faults: number;
  /** Host interrupts that found their guest vector disabled (dropped, as vfio-pci with no eventfd would). */
  dropped: number;
  /**
   * Host interrupts that found their guest MSI-X vector masked: QEMU's userspace handler set the vector's bit in the
   * guest-visible PBA instead of delivering it (hw/vfio/pci.c `vfio_msi_interrupt` → `msix_notify`).
   */
  pended: number;
  /** Guest native messages the hypothetical `nativeRemapBySourceId` IOMMU mapped to a vCPU (native-remap-by-source-id.ts). */
  nativeRemaps: number;
  /** vfio INTx: guest EOIs of an assigned device's level interrupt that signalled its resamplefd (vfio_pci_intx_unmask). */
  resamples: number;
  /** vfio INTx: interrupts re-sent at unmask because the device still asserted (vfio_pci_intx_unmask_handler returned 1). */
  resent: number;
}

/** A route as `sys.vmm.routes()` reports it. */
export interface VmmRouteReport {
  guest: { bdf: string; kind: RouteKind; index: number; addr: string; data: string };
  /**
   * `masked`: the guest masked the MSI-X vector (entry or function mask); QEMU keeps the KVM route but points vfio's
   * trigger at its own handler, which pends the vector in the guest-visible PBA (hw/vfio/pci.c
   * `vfio_msix_vector_release`).
   */
  state: 'valid' | 'masked' | 'evicted' | 'untranslated' | 'disabled';
  /** Where the route delivers: the guest vCPU(s) and vector; null until a translation succeeded. */
  target: { vcpus: number[]; dest: number; destMode: number; vector: number; deliveryMode: number } | null;
  /** The remapping entry the route depends on: "none", "intel IRTE 5", "amd 00:05.0 IRTE 2". */
  cookie: string;
  /** What the last translation decided ("deliver", or the fault it met). */
  lastOutcome: string;
  host: { bdf: string; cpu: number; apicId: number; vector: number; irte: number | null; message: { addr: string; data: string } } | null;
  /**
   * The KVM MSI routing entry the VMM installs for the route (kvm_irq_routing_msi after kvm_arch_fixup_msi_route):
   * KVM's x2APIC format (address_hi = destination 31:8) for what the vIOMMU remapped, or — for a compatibility
   * message — the 15-bit extension swizzled into that format when the profile does (kvm_swizzle_msi_ext_dest_id),
   * else the guest's message as it stands. null while the route is not valid.
   */
  kvm: { addressHi: string; addressLo: string; data: string } | null;
  /**
   * When the host IRTE is posted: the vCPU and its descriptor's host address — on an AMD host the vAPIC backing
   * page, with the GA tag the IRTE carries (what a GA log entry names).
   */
  posted: { vcpu: number; descriptor: string; backingPage?: string; gaTag?: string } | null;
  /** The KVM GSI of the route (QEMU's virq), or null while KVM has none (disabled, or QEMU's userspace path). */
  gsi: number | null;
  translations: number;
  evictions: number;
}

class VmmRouteSlot extends RouteSlot {
  constructor(private readonly onEvict: () => void) {
    super();
  }

  override invalidate(): void {
    if (this.valid) this.onEvict();
    super.invalidate();
  }
}

/** One enabled guest vector of an assigned device. */
export class AssignedRoute {
  readonly slot: VmmRouteSlot;
  addrHi = 0;
  addrLo = 0;
  data = 0;
  enabled = false;
  /**
   * The guest masked this MSI-X vector: vfio's trigger goes to QEMU's handler instead of KVM's irqfd, so the interrupt
   * is pended in the guest's PBA and nothing is injected or posted until unmask.
   */
  masked = false;
  /** The guest's stand-in function (whose virtual MSI-X table and PBA the guest sees). */
  fn: AssignedFunction | null = null;
  /** The KVM GSI of this route (QEMU's virq), or null while KVM has no route for it. */
  gsi: number | null = null;
  /**
   * `qemu` profile: where QEMU's userspace handler sends the vector through the vIOMMU when KVM has no route for it
   * (never kept: QEMU's vIOMMU caches nothing).
   */
  readonly userspaceSlot = new RouteSlot();
  /** The eventfd KVM's irqfd for this route's GSI listens on (QEMU's vector->kvm_interrupt). */
  readonly kvmInterrupt: EventfdToken = {};
  /** The eventfd QEMU's own handler listens on (vector->interrupt): vfio's trigger while masked or routeless. */
  readonly userspaceInterrupt: EventfdToken = {};
  /** vfio's trigger for this vector as an irqbypass producer (null while vfio has no host vector for it). */
  producer: BypassProducer | null = null;
  host: HostVector | null = null;
  postedTo: number | null = null;
  translations = 0;
  evictions = 0;
  /** The last translation's outcome was evicted after being valid. */
  evicted = false;
  lastOutcome = 'not translated';

  constructor(
    readonly assignment: ResolvedAssignment,
    readonly kind: RouteKind,
    readonly index: number,
    private readonly vmm: Vmm,
  ) {
    this.slot = new VmmRouteSlot(() => vmm.evicted(this));
  }

  /** The host interrupt for this vector arrived (vfio_msihandler → irqfd). */
  fire(): void {
    this.vmm.deliver(this);
  }
}

export class Vmm implements AssignedFunctionTrap, VcpuScheduler {
  readonly counters: VmmCounters = { translations: 0, evictions: 0, injections: 0, posted: 0, wakeups: 0, faults: 0, dropped: 0, pended: 0, nativeRemaps: 0, resamples: 0, resent: 0 };
  readonly vcpus: Vcpu[] = [];
  /** The guest's mapping of each assigned device's register BAR (with its quirk, if any), by guest BDF. */
  readonly assignedBars = new Map<string, AssignedBar>();
  private guestMachine: Machine | null = null;
  /** The guest's APIC bus and event hub, cached for the warm path. */
  private apicBus: Machine['apicBus'] | null = null;
  private quiet: { active: boolean } = { active: true };
  private readonly routeMap = new Map<string, AssignedRoute>();
  private readonly byGuestRid: Map<number, ResolvedAssignment>;
  private readonly vcpusByHostCpu: Vcpu[][];
  private readonly postedOn: boolean;
  /** Which posting the host IOMMU does: VT-d posted interrupts or AMD guest virtual APIC. */
  private readonly postedKind: 'intel' | 'amd' | null;
  /** Host CPU index by physical APIC ID (the doorbell names an APIC ID; no scan on the interrupt path). */
  private readonly cpuByApicId = new Map<number, number>();
  /** KVM's routing table, irqfds and irqbypass pairings for this VM (`sys.vmm.kvm`). */
  readonly kvm: KvmIrqRouting;
  /** The route behind each GSI the VMM allocated. */
  private readonly routesByGsi = new Map<number, AssignedRoute>();
  /** `qemu` profile: routes are KVM's copies, refreshed on IEC notifications (profiles.ts `kvmRouteCopies`). */
  private readonly kvmRouteCopies: boolean;
  /** Where a KVM route's re-translation lands before it replaces the route (a failure must leave the old one). */
  private readonly scratch = new TranslationResult();
  /** A system restore is under way: evictions are not counted and KVM's pairing callbacks change nothing. */
  private restoring = false;
  /**
   * KVM's VM-wide APICv inhibit reasons set so far (kvm_set_apicv_inhibit). Modelled: APIC_ID_MODIFIED, set the first
   * time a vCPU in xAPIC mode takes an APIC ID other than its own (kvm_lapic_xapic_id_updated) and never cleared.
   */
  readonly apicvInhibits = new Set<string>();
  /** vfio INTx of each assigned device with an INTx pin, by guest BDF. */
  private readonly intxByBdf = new Map<string, VfioIntx>();

  constructor(
    readonly config: ResolvedSystemConfig,
    readonly profile: VmmProfile,
    private readonly host: Machine,
    private readonly kernel: HostKernel,
  ) {
    this.byGuestRid = new Map(config.assigned.map((a) => [a.guestRid, a]));
    this.kvmRouteCopies = profile.kvmRouteCopies;
    this.kvm = new KvmIrqRouting({
      // The VMM injects through its routes' precomputed messages; an irqfd signalled directly injects the entry.
      inject: () => {},
      // KVM's sources on a guest I/O APIC pin (vfio INTx's irqfd): one source of the guest's wired-OR line.
      setPin: (pin, level) => this.guestMachine?.lines.gsi(pin, level),
      paired: (gsi) => {
        if (this.restoring) return;
        const r = this.routesByGsi.get(gsi);
        if (r !== undefined) this.updatePosting(r);
      },
      unpaired: (gsi) => {
        if (this.restoring) return;
        const r = this.routesByGsi.get(gsi);
        if (r !== undefined && r.postedTo !== null) this.unpost(r);
      },
    });
    this.postedOn = config.vmm.postedInterrupts;
    this.vcpusByHostCpu = Array.from({ length: host.cpuCount }, () => []);
    this.postedKind = this.postedOn ? kernel.remapping : null;
    if (this.postedOn && kernel.remapping === null) {
      throw new ConfigError('vmm.postedInterrupts', 'the host kernel did not enable interrupt remapping, so it cannot post (is the host IOMMU\'s interruptRemapping on?)');
    }
    // AMD: KVM uses the IOMMU's guest vAPIC mode only when the kernel runs it (amd_iommu_guest_ir == VAPIC, which needs
    // EFR.GAMSup) and registers avic_ga_log_notifier for the GA log.
    if (this.postedKind === 'amd' && !kernel.enableGuestVapic((tag) => this.gaLogNotified(tag))) {
      throw new ConfigError('vmm.postedInterrupts', 'the host AMD IOMMU does not offer guest virtual APIC posting (EFR.GAMSup; set host iommu.vapic: true)');
    }
  }

  /** The guest machine, once built (its stand-ins call back into this VMM while it is assembled). */
  get guest(): Machine {
    if (this.guestMachine === null) throw new Error('the guest machine is not built yet');
    return this.guestMachine;
  }

  /** Second half of construction: the guest machine exists; create the vCPUs and the host-side vectors. */
  attach(guest: Machine): void {
    this.guestMachine = guest;
    this.apicBus = guest.apicBus;
    this.quiet = guest.events;
    const host = this.host;
    for (let i = 0; i < guest.cpuCount; i++) {
      const hostCpu = i % host.cpuCount;
      const hostApicId = host.config.apicIds[hostCpu];
      const pid = this.postedKind === 'intel' ? new PostedDescriptor(host.memory, POSTED_DESCRIPTOR_BASE + i * PID_STRIDE) : null;
      const vcpu = new Vcpu(i, hostCpu, hostApicId, pid, this);
      if (this.postedKind === 'amd') vcpu.backingPage = AVIC_BACKING_PAGE_BASE + i * 4096;
      const lapic = guest.cpu(i).lapic;
      vcpu.deliverPosted = (vector) => this.acceptPosted(i, lapic.physicalId, vector, lapic);
      pid?.program(hostApicId, host.cpu(hostCpu).lapic.mode === 'x2apic', POSTED_INTR_VECTOR);
      this.vcpus.push(vcpu);
      this.vcpusByHostCpu[hostCpu].push(vcpu);
    }
    guest.apicBus.addressingListener = (cpu) => this.apicMapChanged(cpu);
    // KVM's ack notifier on the guest's I/O APIC: a level EOI resamples (kvm_notify_acked_irq → irqfd_resampler_ack).
    guest.ioapic.levelEoiNotify = (pin) => this.kvm.ackIoapicPin(pin);
    // The I/O APIC's pins are routed from the start (QEMU kvm_pc_setup_irq_routing / kvm_arch_init_irq_routing when
    // the machine is created), before an INTx irqfd is bound to one.
    if (this.config.assigned.some((a) => a.device.intx !== undefined)) this.commitRoutes();
    for (const a of this.config.assigned) {
      if (a.device.intx === undefined) continue;
      const intx = new VfioIntx(a.guestBdf, a.hostBdf, host.device(a.hostBdf).fn, guest.intxRoute(a.guestBdf).gsi, !this.config.vmm.nointxmask, this.kernel, this.kvm, guest.events, host.events, this.counters);
      this.intxByBdf.set(a.guestBdf, intx);
      intx.enable();
    }
    if (this.postedKind === 'amd') {
      for (let c = 0; c < host.cpuCount; c++) this.cpuByApicId.set(host.config.apicIds[c], c);
      // The IOMMU's doorbell reaches the host CPU running the vCPU; its AVIC hardware takes the IRR (no VM exit).
      host.bus.avicDoorbell = (apicId, page) => this.avicDoorbell(apicId, page);
    } else if (this.postedOn) {
      for (let c = 0; c < host.cpuCount; c++) {
        this.kernel.requestSystemVector(c, POSTED_INTR_VECTOR, () => this.postedNotification(c));
        this.kernel.requestSystemVector(c, POSTED_INTR_WAKEUP_VECTOR, () => this.wakeupHandler(c));
      }
    }
  }

  // ---- Traps --------------------------------------------------------------------------------------------------

  configWritten(fn: AssignedFunction, offset: number, size: number): void {
    const a = this.byGuestRid.get(fn.requesterId);
    if (a === undefined) return;
    if (offset < PCI_COMMAND + 2 && offset + size > PCI_COMMAND) {
      this.syncBusMaster(fn, a);
      this.intxByBdf.get(a.guestBdf)?.guestCommandWritten((fn.configRead(PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE) !== 0);
    }
    const msi = fn.msi;
    if (msi !== null && offset < msi.offset + msi.length && offset + size > msi.offset) this.syncMsi(fn, a);
    const msix = fn.msix;
    if (msix !== null && offset < msix.offset + 12 && offset + size > msix.offset) {
      for (let n = 0; n < msix.entries; n++) this.syncMsix(fn, a, n);
    }
    this.syncIntxMode(fn, a);
  }

  /**
   * QEMU uses one interrupt mode at a time: enabling MSI or MSI-X tears INTx down (vfio_msi_enable / vfio_msix_enable
   * → vfio_disable_interrupts → vfio_intx_disable), disabling it sets INTx up again (vfio_msi_disable /
   * vfio_msix_disable → vfio_intx_enable).
   */
  private syncIntxMode(fn: AssignedFunction, a: ResolvedAssignment): void {
    const intx = this.intxByBdf.get(a.guestBdf);
    if (intx === undefined) return;
    const msiMode = (fn.msi?.enabled() ?? false) || (fn.msix?.enabled() ?? false);
    if (msiMode && intx.enabled) intx.disable();
    else if (!msiMode && !intx.enabled) intx.enable();
  }

  /**
   * vfio-pci passes the guest's Bus Master Enable through to the physical function, set and clear alike
   * (drivers/vfio/pci/vfio_pci_config.c: PCI_COMMAND_MASTER is among the Command bits a user may write), so a device
   * whose driver sends interrupts by DMA (IMS, embedded controllers) can, and a guest that clears it stops the
   * device's DMA — its MSI and MSI-X messages included (PCIe Base Specification, Command register: "setting the Bus
   * Master Enable bit to 0b disables MSI/MSI-X interrupt Messages as well").
   */
  private syncBusMaster(fn: AssignedFunction, a: ResolvedAssignment): void {
    const physical = this.host.device(a.hostBdf).fn;
    const want = fn.busMasterEnabled();
    if (physical.busMasterEnabled() === want) return;
    const command = physical.configRead(PCI_COMMAND, 2);
    physical.configWrite(PCI_COMMAND, 2, want ? command | PCI_COMMAND_MASTER : command & ~PCI_COMMAND_MASTER);
  }

  msixEntryWritten(fn: AssignedFunction, n: number): void {
    const a = this.byGuestRid.get(fn.requesterId);
    if (a !== undefined) this.syncMsix(fn, a, n);
  }

  /**
   * QEMU vfio_msi_enable / vfio_update_msi: while MSI is enabled, every allocated message k (the guest's data with
   * its low MME bits replaced by k) has a route; disabling MSI disables them.
   */
  private syncMsi(fn: AssignedFunction, a: ResolvedAssignment): void {
    const msi = fn.msi!;
    if (!msi.enabled()) {
      for (let k = 0; k < msi.vectors; k++) this.disable(a, 'msi', k);
      return;
    }
    const allocated = msi.allocated();
    for (let k = 0; k < msi.vectors; k++) {
      if (k >= allocated) {
        this.disable(a, 'msi', k);
        continue;
      }
      const m = msi.message(k);
      this.program(a, 'msi', k, m.addr, m.data, fn);
    }
  }

  /**
   * QEMU msix_handle_mask_update → vfio_msix_vector_use / vfio_msix_vector_release: an entry is (re)routed when it is
   * unmasked with MSI-X enabled; writes to a masked entry (Linux masks, writes address and data, unmasks) only take
   * effect at unmask. Masking (the entry's bit or the function's) keeps the KVM route but moves vfio's trigger from
   * KVM's irqfd to QEMU's own handler, which pends the vector (see {@link deliver}); posting stops with the irqfd.
   */
  private syncMsix(fn: AssignedFunction, a: ResolvedAssignment, n: number): void {
    const msix = fn.msix!;
    if (!msix.enabled()) {
      this.disable(a, 'msix', n);
      return;
    }
    const e = msix.entry(n);
    if (e.masked) {
      this.mask(a, n);
      return;
    }
    this.program(a, 'msix', n, e.addr, e.data, fn);
  }

  /** vfio_msix_vector_release: the guest masked MSI-X vector n. */
  private mask(a: ResolvedAssignment, n: number): void {
    const route = this.routeMap.get(this.key(a, 'msix', n));
    if (route === undefined || !route.enabled || route.masked) return;
    route.masked = true;
    if (this.guest.events.active) this.guest.events.hop('vfio_msix_vector_release', [['name', vfioName(a)], ['index', n]]);
    // vfio now signals QEMU's eventfd, which no irqfd consumes: the pairing, and the posted IRTE, go.
    this.syncProducer(route);
  }

  /**
   * vfio's trigger for the route (VFIO_DEVICE_SET_IRQS ACTION_TRIGGER): KVM's irqfd eventfd when the route has a GSI
   * and the vector is unmasked, else QEMU's own (hw/vfio/pci.c `vfio_enable_vectors`, `vfio_msix_vector_release`).
   * vfio-pci re-registers its irqbypass producer whenever the eventfd changes (drivers/vfio/pci/vfio_pci_intrs.c
   * `vfio_msi_set_vector_signal`), which pairs or unpairs it with the irqfd.
   */
  private syncProducer(route: AssignedRoute): void {
    const token = route.host === null || !route.enabled ? null : route.gsi !== null && !route.masked ? route.kvmInterrupt : route.userspaceInterrupt;
    if (route.producer?.token === token) return;
    if (route.producer !== null) this.kvm.unregisterProducer(route.producer);
    route.producer = token === null ? null : { token, name: `${vfioName(route.assignment)} ${route.kind === 'msix' ? 'MSI-X' : route.kind === 'msi' ? 'MSI' : 'IMS'} ${route.index}` };
    if (route.producer !== null) this.kvm.registerProducer(route.producer);
  }

  /** KVM_SET_GSI_ROUTING with the whole table, as QEMU's `kvm_irqchip_commit_routes` does: the I/O APIC's pins, then every route. */
  private commitRoutes(): void {
    const table: KvmRoutingEntry[] = [];
    for (let pin = 0; pin < IOAPIC_NUM_PINS; pin++) table.push({ gsi: pin, type: 'ioapic', pin });
    for (const [gsi, r] of this.routesByGsi) table.push({ gsi, type: 'msi', ...this.kvmMessage(r) });
    this.kvm.setRouting(table);
  }

  private key(a: ResolvedAssignment, kind: RouteKind, index: number): string {
    return `${a.guestRid}:${kind}:${index}`;
  }

  private disable(a: ResolvedAssignment, kind: RouteKind, index: number): void {
    const route = this.routeMap.get(this.key(a, kind, index));
    if (route === undefined || !route.enabled) return;
    route.enabled = false;
    route.masked = false;
    this.syncProducer(route);
    if (route.postedTo !== null) this.unpost(route);
    route.slot.valid = false;
    // vfio_remove_kvm_msi_virq → kvm_irqchip_remove_irqfd_notifier_gsi, kvm_irqchip_release_virq.
    if (route.gsi !== null) {
      this.kvm.deassignIrqfd(route.kvmInterrupt);
      this.routesByGsi.delete(route.gsi);
      if (this.guest.events.active) this.guest.events.hop('kvm_irqchip_release_virq', [['virq', route.gsi]]);
      route.gsi = null;
      this.commitRoutes();
    }
  }

  /** A guest vector was enabled or rewritten: (re)build its route; an unchanged message keeps its route. */
  private program(a: ResolvedAssignment, kind: RouteKind, index: number, addr: bigint, data: number, fn: AssignedFunction | null): void {
    const k = this.key(a, kind, index);
    let route = this.routeMap.get(k);
    if (route === undefined) {
      route = new AssignedRoute(a, kind, index, this);
      this.routeMap.set(k, route);
    }
    route.fn = fn;
    const unmasked = route.masked;
    route.masked = false;
    if (unmasked && this.guest.events.active) this.guest.events.hop('vfio_msix_vector_do_use', [['name', vfioName(a)], ['index', index]]);
    const hi = Number((addr >> 32n) & 0xffffffffn);
    const lo = Number(addr & 0xffffffffn);
    if (route.enabled && route.addrHi === hi && route.addrLo === lo && route.data === data >>> 0) {
      // vfio_msix_vector_do_use with an unchanged message: the irqfd is signalled again, and pairs again for posting.
      if (unmasked) this.syncProducer(route);
      return;
    }
    route.enabled = true;
    route.addrHi = hi;
    route.addrLo = lo;
    route.data = data >>> 0;
    if (route.postedTo !== null) this.unpost(route);
    this.prepare(route);
    if (route.host === null) {
      const r = route;
      const handler = () => this.deliver(r);
      const host = kind === 'ims' ? this.kernel.enableImsVector(a.hostBdf, index, handler) : this.kernel.enableVector(a.hostBdf, kind, index, handler);
      if (typeof host === 'string') {
        route.lastOutcome = `host kernel refused the vector: ${host}`;
      } else {
        route.host = host;
      }
    }
    this.commitRoutes();
    this.syncProducer(route);
    this.updatePosting(route);
  }

  /**
   * Translate the guest message for a route without raising anything (deliverNow = false): KVM_SET_GSI_ROUTING for
   * the vector's GSI (`kvm_irqchip_add_msi_route` the first time, `kvm_irqchip_update_msi_route` after).
   */
  private prepare(route: AssignedRoute): void {
    if (this.kvmRouteCopies) {
      this.updateKvmCopy(route);
      return;
    }
    this.counters.translations++;
    route.translations++;
    route.evicted = false;
    const guest = this.guest;
    this.traceRouteChange(route);
    const result = guest.core.prepareRoute(route.assignment.guestRid, route.addrHi, route.addrLo, route.data, route.slot);
    route.lastOutcome = describeOutcome(result);
  }

  /**
   * Give the route a GSI if it has none, and trace QEMU's line for it: `kvm_irqchip_add_msi_route` for a new route
   * (dev is the PCI device's QEMU name), `kvm_irqchip_update_msi_route` for a changed one.
   */
  private traceRouteChange(route: AssignedRoute): void {
    const added = route.gsi === null;
    const gsi = added ? this.allocateGsi(route) : route.gsi!;
    const events = this.guest.events;
    if (!events.active) return;
    if (added) events.hop('kvm_irqchip_add_msi_route', [['name', 'vfio-pci'], ['vector', route.index], ['virq', gsi]]);
    else events.hop('kvm_irqchip_update_msi_route', [['virq', gsi]]);
  }

  /**
   * KVM's next free GSI (kvm_irqchip_get_virq: the lowest clear bit of the used-GSI bitmap). Under QEMU's
   * kernel-irqchip=split the I/O APIC's 24 pins hold GSIs 0..23 (kvm_arch_init_irq_routing adds one MSI route per pin
   * at boot), so device vectors start at 24.
   */
  private allocateGsi(route: AssignedRoute): number {
    const g = this.nextFreeGsi();
    this.routesByGsi.set(g, route);
    route.gsi = g;
    // kvm_irqchip_add_irqfd_notifier_gsi: KVM's irqfd for the GSI, on the route's kvm_interrupt eventfd.
    this.kvm.assignIrqfd(g, route.kvmInterrupt);
    return g;
  }

  /**
   * `qemu` profile (profiles.ts `kvmRouteCopies`): KVM's route is a copy of a translation made with do_fault = 0.
   * A successful translation becomes (or replaces) the route; a failed one adds no route — the vector stays on
   * QEMU's userspace path — or, for a vector that has one, leaves the old route in place, silently
   * (`kvm_irqchip_update_msi_route` returns -EINVAL from `kvm_arch_fixup_msi_route` before the update).
   */
  private updateKvmCopy(route: AssignedRoute): void {
    this.counters.translations++;
    route.translations++;
    const guest = this.guest;
    const r = guest.core.translate(route.assignment.guestRid, route.addrHi, route.addrLo, route.data, false, this.scratch);
    const hadRoute = route.gsi !== null;
    if (r.kind === 'deliver') {
      this.traceRouteChange(route);
      route.slot.result.copyFrom(r);
      route.slot.valid = true;
      route.lastOutcome = describeOutcome(r);
      return;
    }
    if (guest.events.active) guest.events.hop('kvm_x86_fixup_msi_error', [['gsi', hadRoute ? route.gsi! : this.nextFreeGsi()]]);
    route.lastOutcome = hadRoute
      ? `${describeOutcome(r)}: KVM kept the old route (kvm_irqchip_update_msi_route failed)`
      : `${describeOutcome(r)}: no KVM route, QEMU's userspace path (kvm_irqchip_add_msi_route failed)`;
  }

  private nextFreeGsi(): number {
    let g = IOAPIC_NUM_PINS;
    while (this.routesByGsi.has(g)) g++;
    if (g >= KVM_MAX_IRQ_ROUTES) throw new UsageError(`KVM has no free GSI: all ${KVM_MAX_IRQ_ROUTES} (KVM_MAX_IRQ_ROUTES) are in use`);
    return g;
  }

  /**
   * The guest's Intel vIOMMU invalidated interrupt entries (any IEC invalidation, or SIRTP). Under the `qemu` profile
   * this is QEMU's IEC notifier, target/i386/kvm/kvm.c `kvm_update_msi_routes_all`: every MSI route in its list is
   * translated again, whatever the invalidation covered (disabled and masked vectors are skipped but counted), and the
   * routes are committed together, which re-pairs posting (kvm_irq_routing_update → kvm_arch_update_irqfd_routing).
   * The `hardware` profile ignores it: there the vIOMMU evicts by cookie through the translation core.
   */
  interruptEntriesInvalidated(): void {
    if (!this.kvmRouteCopies || this.guestMachine === null) return;
    let cnt = 0;
    for (const r of this.routeMap.values()) {
      if (r.gsi === null) continue;
      cnt++;
      if (!r.enabled || r.masked) continue;
      this.updateKvmCopy(r);
    }
    // One commit for all of them: KVM redoes the posting of exactly the paired GSIs whose entry changed.
    this.commitRoutes();
    const events = this.guest.events;
    if (events.active) {
      events.hop('kvm_irqchip_commit_routes', []);
      events.hop('kvm_x86_update_msi_routes', [['num', cnt]]);
    }
  }

  /**
   * `qemu` profile, a vector KVM has no route for: vfio signals QEMU's eventfd and `vfio_msi_interrupt` sends the
   * guest's message itself (`msix_notify` / `msi_notify` → `msi_send_message`), a DMA write the vIOMMU translates
   * with do_fault = 1 and keeps nothing of.
   */
  private userspaceSend(route: AssignedRoute): void {
    const guest = this.guest;
    if (guest.events.active) {
      guest.events.beginFlow();
      guest.events.hop('vfio_msi_interrupt', [['name', vfioName(route.assignment)], ['index', route.index], ['addr', (BigInt(route.addrHi >>> 0) << 32n) | BigInt(route.addrLo >>> 0)], ['data', route.data]]);
    }
    this.counters.translations++;
    route.translations++;
    const slot = route.userspaceSlot;
    guest.bus.sendMessage(route.assignment.guestRid, route.addrHi, route.addrLo, route.data, slot);
    const result = slot.result;
    if (result.kind === 'deliver') this.counters.injections++;
    else if (result.kind === 'fault') this.counters.faults++;
    route.lastOutcome = `${describeOutcome(result)} (QEMU's userspace path)`;
    slot.invalidate();
  }

  // ---- IMS (device-specific interrupt storage, LKML 2020-11-08) ------------------------------------------------

  /**
   * The guest stored a message in IMS entry k of an assigned device (trapped by a device quirk), or asked for one
   * through the paravirtual compose call: build the route from the guest's message and return the host message the
   * physical entry must hold (null when the host kernel refused a vector).
   */
  programIms(guestBdf: string, k: number, addr: bigint, data: number): { addr: bigint; data: number } | null {
    const a = this.config.assigned.find((x) => x.guestBdf === guestBdf);
    if (a === undefined) throw new UsageError(`IMS: ${guestBdf} is not an assigned device`);
    this.program(a, 'ims', k, addr, data, null);
    const host = this.routeMap.get(this.key(a, 'ims', k))!.host;
    return host === null ? null : host.message;
  }

  /**
   * The paravirtual "compose MSI" hypercall of LKML 2020-11-08 ("a hypercall interface to compose an MSI message on behalf
   * of the guest, for IMS to use"): the guest passes the message it composed for itself for IMS entry k of an
   * assigned device and gets back the message to write into the device. Needs `vmm.pvComposeMsi`.
   */
  composeMsi(guestBdf: string, k: number, message: { addr: bigint; data: number }): { addr: bigint; data: number } {
    if (!this.config.vmm.pvComposeMsi) throw new UsageError('composeMsi: this VMM does not offer the paravirtual compose-MSI call (vmm.pvComposeMsi)');
    const host = this.programIms(guestBdf, k, message.addr, message.data);
    if (host === null) throw new UsageError(`composeMsi: the host kernel refused a vector for ${guestBdf} IMS entry ${k}`);
    return host;
  }

  // ---- The interrupt path -----------------------------------------------------------------------------------

  /** @internal the host interrupt of `route` arrived. */
  deliver(route: AssignedRoute): void {
    if (!route.enabled) {
      this.counters.dropped++;
      return;
    }
    if (route.masked) {
      this.pend(route);
      return;
    }
    const slot = route.slot;
    const warm = slot.valid;
    if (warm && this.apicBus !== null && !this.quiet.active) {
      // KVM's irqfd fast path (kvm_arch_set_irq_inatomic → kvm_set_msi_irq): the routing entry already holds the
      // decoded interrupt, so it goes straight to the guest's APIC bus.
      this.counters.injections++;
      this.apicBus.deliver(slot.result.msg);
      return;
    }
    if (this.kvmRouteCopies) {
      if (!warm) {
        this.userspaceSend(route);
        return;
      }
      // KVM delivers its copy of the translation (kvm_set_msi_irq from the routing entry); the vIOMMU is not asked,
      // whatever the guest changed since the route was last updated.
      const events = this.guest.events;
      if (events.active) {
        events.beginFlow();
        events.hop('irqpath_kvm_set_msi', [['gsi', route.gsi ?? -1], ['dev', route.assignment.guestBdf], ['vector', route.index], ['route', 'kvm-copy']]);
      }
      this.counters.injections++;
      this.guest.apicBus.deliver(slot.result.msg);
      return;
    }
    const guest = this.guest;
    if (guest.events.active) {
      guest.events.beginFlow();
      guest.events.hop('irqpath_kvm_set_msi', [['dev', route.assignment.guestBdf], ['vector', route.index], ['addr', (BigInt(route.addrHi >>> 0) << 32n) | BigInt(route.addrLo >>> 0)], ['data', route.data], ['route', warm ? 'cached' : 'translate']]);
    }
    if (!warm) {
      // No valid route (evicted, or its translation failed): translate now, with deliverNow = true.
      this.counters.translations++;
      route.translations++;
      route.evicted = false;
    }
    guest.bus.sendMessage(route.assignment.guestRid, route.addrHi, route.addrLo, route.data, slot);
    const result = slot.result;
    if (result.kind === 'deliver') this.counters.injections++;
    else if (result.kind === 'fault') this.counters.faults++;
    if (!warm) {
      route.lastOutcome = describeOutcome(result);
      // The route's entry now holds the new translation (or the guest's message again): KVM_SET_GSI_ROUTING.
      if (route.gsi !== null) this.commitRoutes();
      if (this.postedOn) this.updatePosting(route);
    }
  }

  /**
   * QEMU's userspace handler for a masked MSI-X vector (hw/vfio/pci.c `vfio_msi_interrupt`): set the vector's PBA bit
   * and enable the emulated PBA (`vfio_msix_pba_enable`), then `msix_notify`, which for a masked vector only pends
   * it. The guest's unmask sends it once, with the entry's contents at that moment (`msix_handle_mask_update`).
   */
  private pend(route: AssignedRoute): void {
    this.counters.pended++;
    const fn = route.fn!;
    const events = this.guest.events;
    if (events.active) {
      events.beginFlow();
      const e = fn.msix!.entry(route.index);
      events.hop('vfio_msix_pba_enable', [['name', vfioName(route.assignment)]]);
      events.hop('vfio_msi_interrupt', [['name', vfioName(route.assignment)], ['index', route.index], ['addr', e.addr], ['data', e.data]]);
    }
    fn.msix!.signal(route.index);
  }

  /**
   * KVM's posting decision (vmx_pi_update_irte / kvm_intr_is_single_vcpu): post only a Fixed or LowestPriority
   * interrupt that resolves to exactly one vCPU; anything else keeps the host vector and goes through injection.
   */
  private updatePosting(route: AssignedRoute): void {
    if (!this.postedOn || route.host === null) return;
    const r = route.slot.result;
    let vcpu: number | null = null;
    const paired = route.gsi !== null && this.kvm.isPaired(route.gsi);
    if (paired && !this.postingInhibited && route.enabled && !route.masked && route.slot.valid && r.kind === 'deliver' && (r.msg.deliveryMode === DeliveryMode.Fixed || r.msg.deliveryMode === DeliveryMode.LowestPriority)) {
      const targets = this.guest.apicBus.matchSlow(r.msg);
      if (targets.length === 1) vcpu = targets[0];
    }
    if (vcpu === null) {
      if (route.postedTo !== null) this.unpost(route);
      return;
    }
    if (route.postedTo === vcpu) return;
    const v = this.vcpus[vcpu];
    if (v.backingPage !== null) {
      // avic_pi_update_irte → irq_set_vcpu_affinity → amd_ir_set_vcpu_affinity: GuestMode = 1 with the vCPU's backing
      // page, its GA tag, and IsRun / Destination as the vCPU is scheduled now.
      this.kernel.postVector(route.assignment.hostBdf, route.host, {
        descriptor: v.backingPage, vector: r.msg.vector, urgent: false,
        amd: { gaTag: avicGaTag(vcpu), dest: v.hostApicId, isRun: v.isRunning },
      });
    } else {
      this.kernel.postVector(route.assignment.hostBdf, route.host, { descriptor: v.descriptor!.address, vector: r.msg.vector, urgent: false });
    }
    route.postedTo = vcpu;
  }

  private unpost(route: AssignedRoute): void {
    if (route.host !== null) this.kernel.unpostVector(route.assignment.hostBdf, route.host);
    route.postedTo = null;
  }

  /** @internal a guest invalidation evicted this route's slot. */
  evicted(route: AssignedRoute): void {
    // A restore empties the guest's route cache; the routes come back from the snapshot, not as evictions.
    if (this.restoring) return;
    this.counters.evictions++;
    route.evictions++;
    route.evicted = true;
    // The posted IRTE was built from the evicted translation: stop posting until the route is rebuilt
    // (KVM updates the IRTE whenever the route behind an irqfd changes: kvm_arch_update_irqfd_routing).
    if (route.postedTo !== null) this.unpost(route);
  }

  // ---- The guest's APIC map -----------------------------------------------------------------------------------

  /**
   * A guest vCPU changed its APIC ID, LDR, DFR or APIC mode: KVM recalculates its APIC map (kvm_recalculate_apic_map).
   * Injected interrupts follow at once — kvm_set_msi resolves each one through the map, as the guest's APIC bus here
   * matches every message against the LAPICs as they are now. Posting does not: KVM chose the posted vCPU
   * (kvm_intr_is_single_vcpu) when the route was last updated and only a routing update chooses again
   * (kvm_arch_update_irqfd_routing → vmx_pi_update_irte / avic_pi_update_irte). What KVM does on an xAPIC ID change
   * (kvm_lapic_xapic_id_updated, Linux 6.0+: "KVM: x86: inhibit APICv/AVIC on changes to APIC ID or APIC base") is
   * inhibit APICv for the whole VM: AVIC then puts every IRTE back in remapped mode (avic_refresh_apicv_exec_ctrl →
   * avic_set_pi_irte_mode) and posts nothing more, so the interrupts are injected through the new map; VT-d posting
   * ignores the inhibit (vmx_can_use_vtd_pi), so a posted IRTE keeps its vCPU until the route is updated. KVM ignores
   * an APIC ID write in x2APIC mode (the register is read-only there: the write never gets this far).
   */
  private apicMapChanged(cpu: number): void {
    if (this.restoring || this.guestMachine === null) return;
    const lapic = this.guest.cpu(cpu).lapic;
    const events = this.guest.events;
    if (events.active) events.hop('irqpath_kvm_recalculate_apic_map', [['vcpu', cpu], ['mode', lapic.mode], ['id', lapic.mode === 'xapic' ? lapic.id >>> 24 : lapic.id], ['ldr', lapic.ldr >>> 0]]);
    // kvm_lapic_xapic_id_updated: a hardware-enabled xAPIC whose ID is not (u8) its vcpu_id.
    if (lapic.mode !== 'xapic' || lapic.id >>> 24 === (lapic.initialApicId & 0xff) || this.apicvInhibits.has('APIC_ID_MODIFIED')) return;
    this.apicvInhibits.add('APIC_ID_MODIFIED');
    if (events.active) events.hop('irqpath_kvm_apicv_inhibit', [['reason', 'APIC_ID_MODIFIED'], ['set', 1]]);
    if (this.postedKind !== 'amd') return;
    for (const r of this.routeMap.values()) if (r.postedTo !== null) this.unpost(r);
  }

  /** AVIC posts only while APICv is not inhibited (avic_pi_update_irte checks kvm_vcpu_apicv_active). */
  private get postingInhibited(): boolean {
    return this.postedKind === 'amd' && this.apicvInhibits.size > 0;
  }

  // ---- Posted interrupts and vCPU scheduling ----------------------------------------------------------------

  /** POSTED_INTR_VECTOR on host CPU c: running vCPUs there process their descriptors (no VM exit). */
  private postedNotification(c: number): void {
    const list = this.vcpusByHostCpu[c];
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (v.isRunning && v.descriptor !== null) this.counters.posted += v.descriptor.drain(v.deliverPosted);
    }
  }

  /** POSTED_INTR_WAKEUP_VECTOR on host CPU c: pi_wakeup_handler kicks the blocked vCPUs on c's wake-up list whose ON is set. */
  private wakeupHandler(c: number): void {
    for (const v of this.vcpusByHostCpu[c]) {
      if (v.current === 'blocked' && v.descriptor !== null && v.descriptor.outstanding) this.wake(v, 'posted interrupt');
    }
  }

  private wake(v: Vcpu, reason: string): void {
    v.wakeups++;
    this.counters.wakeups++;
    if (this.guestMachine !== null && this.guest.events.active) this.guest.events.hop('irqpath_kvm_vcpu_wake_up', [['vcpu', v.index], ['reason', reason]]);
  }

  get hostCpuCount(): number {
    return this.host.cpuCount;
  }

  hostCpuOnline(cpu: number): boolean {
    return this.kernel.onlineCpus().includes(cpu);
  }

  /** The host scheduler put vCPU `v` in `state`, on host CPU `hostCpu` (its next one, when it is not running). */
  schedule(v: Vcpu, state: VcpuState, hostCpu: number): void {
    v.nextHostCpu = hostCpu;
    const was = v.current;
    if (state === 'running') {
      if (was === 'running' && hostCpu === v.hostCpu) return;
      // A running vCPU moved by the scheduler is put (preempted) and loaded on its new CPU.
      if (was === 'running') this.put(v, 'preempted');
      this.load(v, hostCpu);
      return;
    }
    if (was === state) return;
    if (was !== 'running') {
      // Preempted ↔ blocked without running in between: as if loaded where it last ran and put again.
      this.load(v, v.hostCpu);
    }
    this.put(v, state);
  }

  /**
   * The vCPU is loaded on host CPU `cpu` and enters the guest. VT-d (vmx_vcpu_pi_load): off any wake-up list, NDST =
   * the CPU's APIC ID, NV = POSTED_INTR_VECTOR, SN = 0, then ON set if PIR is not empty; VM entry moves PIR into the
   * virtual APIC (vmx_sync_pir_to_irr). AMD (avic_vcpu_load): every IRTE posting to it gets IsRun = 1 and the new
   * Destination (amd_iommu_update_ga), and VMRUN evaluates the backing page's IRR.
   */
  private load(v: Vcpu, cpu: number): void {
    if (cpu !== v.hostCpu) {
      const from = this.vcpusByHostCpu[v.hostCpu];
      from.splice(from.indexOf(v), 1);
      this.vcpusByHostCpu[cpu].push(v);
      v.hostCpu = cpu;
      v.hostApicId = this.host.config.apicIds[cpu];
    }
    v.current = 'running';
    if (this.guestMachine !== null && this.guest.events.active) {
      this.guest.events.hop('irqpath_vcpu_load', [['vcpu', v.index], ['cpu', cpu], ['apic', v.hostApicId]]);
    }
    if (v.backingPage !== null) {
      this.avicSchedule(v, true);
      return;
    }
    const pid = v.descriptor;
    if (pid === null) return;
    pid.program(v.hostApicId, this.host.cpu(cpu).lapic.mode === 'x2apic', POSTED_INTR_VECTOR);
    if (pid.hasPending()) pid.setOutstanding();
    if (pid.outstanding) this.counters.posted += pid.drain(v.deliverPosted);
  }

  /**
   * The vCPU leaves its host CPU (vmx_vcpu_pi_put). Blocked in HLT: pi_enable_wakeup_handler puts it on this CPU's
   * wake-up list with NV = POSTED_INTR_WAKEUP_VECTOR (and wakes it at once if ON is already set). Preempted: SN = 1,
   * so the IOMMU sets PIR bits and notifies nobody until the vCPU is loaded again. AMD (avic_vcpu_put): IsRun = 0.
   */
  private put(v: Vcpu, state: 'preempted' | 'blocked'): void {
    v.current = state;
    if (this.guestMachine !== null && this.guest.events.active) {
      this.guest.events.hop('irqpath_vcpu_put', [['vcpu', v.index], ['cpu', v.hostCpu], ['state', state]]);
    }
    if (v.backingPage !== null) {
      this.avicSchedule(v, false);
      return;
    }
    const pid = v.descriptor;
    if (pid === null) return;
    if (state === 'preempted') {
      pid.setSuppressed(true);
      return;
    }
    pid.program(v.hostApicId, this.host.cpu(v.hostCpu).lapic.mode === 'x2apic', POSTED_INTR_WAKEUP_VECTOR);
    if (pid.outstanding) this.wake(v, 'posted interrupt (ON already set)');
  }

  /**
   * AMD: avic_vcpu_load / avic_vcpu_put → avic_update_iommu_vcpu_affinity → amd_iommu_update_ga for every IRTE posting
   * to this vCPU (IsRun, Destination = its host CPU). On load, VMRUN with AVIC evaluates the backing page's IRR, so
   * whatever the IOMMU posted meanwhile reaches the guest LAPIC now.
   */
  private avicSchedule(vcpu: Vcpu, running: boolean): void {
    for (const r of this.routeMap.values()) {
      if (r.postedTo === vcpu.index && r.host !== null) this.kernel.updateGuestVapic(r.assignment.hostBdf, r.host, running, vcpu.hostApicId);
    }
    if (running) this.counters.posted += drainVapicIrr(this.host.memory, vcpu.backingPage!, vcpu.deliverPosted);
  }

  /** The IOMMU rang host APIC `apicId` for `page`: the running vCPU with that backing page takes its IRR (no VM exit). */
  private avicDoorbell(apicId: number, page: number): void {
    const cpu = this.cpuByApicId.get(apicId);
    if (cpu === undefined) return;
    const list = this.vcpusByHostCpu[cpu];
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (v.backingPage === page && v.isRunning) this.counters.posted += drainVapicIrr(this.host.memory, page, v.deliverPosted);
    }
  }

  /** avic_ga_log_notifier: the GA log named a vCPU that was not running; wake it (kvm_vcpu_wake_up). */
  private gaLogNotified(gaTag: number): void {
    const v = this.vcpus[gaTag & AVIC_VCPU_IDX_MASK];
    // kvm_vcpu_wake_up of a runnable (preempted) vCPU has nothing to wake.
    if (v === undefined || v.current !== 'blocked') return;
    this.wake(v, `GA log (GATag 0x${(gaTag >>> 0).toString(16)})`);
  }

  private acceptPosted(cpu: number, apicId: number, vector: number, lapic: { acceptInterrupt(v: number, t: number): boolean }): void {
    lapic.acceptInterrupt(vector, 0);
    const events = this.guest.events;
    if (events.active) {
      events.hop(this.postedKind === 'amd' ? 'irqpath_avic_irr_to_lapic' : 'irqpath_vmx_sync_pir_to_irr', [['vcpu', cpu], ['vector', vector]]);
      events.emit('apic_accept', { flow: events.currentFlow, cpu, apicId, vector, deliveryMode: DeliveryMode.Fixed, trigger: 0 });
    }
  }

  // ---- System snapshots -----------------------------------------------------------------------------------------

  /** The VMM's part of a system snapshot (vmm-state.ts). */
  saveState(): VmmState {
    const routes: SavedRoute[] = [];
    for (const r of this.routeMap.values()) {
      const res = r.slot.result;
      const m = res.msg;
      routes.push({
        guestBdf: r.assignment.guestBdf, kind: r.kind, index: r.index, addrHi: r.addrHi, addrLo: r.addrLo, data: r.data,
        enabled: r.enabled, masked: r.masked, gsi: r.gsi,
        host: r.host === null ? null : { cpu: r.host.cpu, apicId: r.host.apicId, vector: r.host.vector, irteIndex: r.host.irteIndex, addr: hex(r.host.message.addr), data: r.host.message.data },
        postedTo: r.postedTo,
        delivery: r.slot.valid && res.kind === 'deliver'
          ? { format: res.format, cookie: res.cookie, dest: m.dest >>> 0, destWidth: m.destWidth, destMode: m.destMode, deliveryMode: m.deliveryMode, vector: m.vector, trigger: m.trigger, level: m.level, redirectionHint: m.redirectionHint }
          : null,
        translations: r.translations, evictions: r.evictions, evicted: r.evicted, lastOutcome: r.lastOutcome,
      });
    }
    return {
      routes,
      vcpus: this.vcpus.map((v) => ({ state: v.current, hostCpu: v.hostCpu, nextHostCpu: v.nextHostCpu, wakeups: v.wakeups })),
      intx: [...this.intxByBdf.values()].map((x) => x.save()),
      apicvInhibits: [...this.apicvInhibits],
      counters: { ...this.counters },
      hostAllocations: this.kernel.allocations,
    };
  }

  /** The shape a saved state must fit (for checkVmmState). */
  stateShape(): VmmShape {
    return { guestBdfs: new Set(this.config.assigned.map((a) => a.guestBdf)), intxBdfs: [...this.intxByBdf.keys()], intxEnabled: [...this.intxByBdf.values()].map((x) => x.enabled), vcpus: this.vcpus.length, hostCpus: this.host.cpuCount };
  }

  /** First step of a restore, before the machines are restored: KVM's irqfds and producers go; evictions are not counted. */
  beginRestore(): void {
    this.restoring = true;
    for (const r of this.routeMap.values()) {
      if (r.producer !== null) this.kvm.unregisterProducer(r.producer);
      r.producer = null;
      if (r.gsi !== null) this.kvm.deassignIrqfd(r.kvmInterrupt);
    }
    this.routesByGsi.clear();
  }

  /**
   * Last step of a restore, after both machines are restored: routes, vCPUs and counters from a checked state; the
   * guest's route cache gets the routes' translations back as they were (not translated again), and KVM's table,
   * irqfds and pairings are rebuilt from the routes. The host kernel must have allocated nothing since the save.
   */
  applyState(state: VmmState): void {
    this.restoring = true;
    const apicIds = this.host.config.apicIds;
    for (const list of this.vcpusByHostCpu) list.length = 0;
    state.vcpus.forEach((sv, i) => {
      const v = this.vcpus[i];
      v.current = sv.state;
      v.hostCpu = sv.hostCpu;
      v.hostApicId = apicIds[sv.hostCpu];
      v.nextHostCpu = sv.nextHostCpu;
      v.wakeups = sv.wakeups;
      this.vcpusByHostCpu[sv.hostCpu].push(v);
    });
    const byBdf = new Map(this.config.assigned.map((a) => [a.guestBdf, a]));
    const next = new Map<string, AssignedRoute>();
    for (const sr of state.routes) {
      const a = byBdf.get(sr.guestBdf)!;
      const key = this.key(a, sr.kind, sr.index);
      const route = this.routeMap.get(key) ?? new AssignedRoute(a, sr.kind, sr.index, this);
      route.addrHi = sr.addrHi;
      route.addrLo = sr.addrLo;
      route.data = sr.data;
      route.enabled = sr.enabled;
      route.masked = sr.masked;
      route.gsi = sr.gsi;
      route.host = sr.host === null ? null : { cpu: sr.host.cpu, apicId: sr.host.apicId, vector: sr.host.vector, irteIndex: sr.host.irteIndex, message: { addr: BigInt(sr.host.addr), data: sr.host.data } };
      route.postedTo = sr.postedTo;
      route.translations = sr.translations;
      route.evictions = sr.evictions;
      route.evicted = sr.evicted;
      route.lastOutcome = sr.lastOutcome;
      route.fn = sr.kind === 'ims' ? null : this.guest.device(sr.guestBdf).fn as AssignedFunction;
      const slot = route.slot;
      slot.invalidate();
      if (sr.delivery !== null) {
        const d = sr.delivery;
        const res = slot.result.reset();
        res.kind = 'deliver';
        res.format = d.format as TranslationResult['format'];
        res.cookie = d.cookie;
        const m = res.msg;
        m.dest = d.dest;
        m.destWidth = d.destWidth;
        m.destMode = d.destMode;
        m.deliveryMode = d.deliveryMode;
        m.vector = d.vector;
        m.trigger = d.trigger;
        m.level = d.level;
        m.redirectionHint = d.redirectionHint;
        if (this.kvmRouteCopies) {
          // KVM's copy: the guest's translation core never evicts it.
          slot.valid = true;
        } else {
          this.guest.core.adoptRoute(slot, a.guestRid, sr.addrHi, sr.addrLo, sr.data);
        }
      }
      next.set(key, route);
    }
    this.routeMap.clear();
    for (const [k, r] of next) this.routeMap.set(k, r);
    for (const r of this.routeMap.values()) {
      if (r.gsi === null) continue;
      this.routesByGsi.set(r.gsi, r);
      this.kvm.assignIrqfd(r.gsi, r.kvmInterrupt);
    }
    for (const r of this.routeMap.values()) this.syncProducer(r);
    this.commitRoutes();
    state.intx.forEach((x) => this.intxByBdf.get(x.guestBdf)!.restore(x));
    this.apicvInhibits.clear();
    for (const r of state.apicvInhibits) this.apicvInhibits.add(r);
    Object.assign(this.counters, state.counters);
    this.restoring = false;
  }

  // ---- Reports --------------------------------------------------------------------------------------------------

  /** vfio INTx of every assigned device with an INTx pin (vfio-intx.ts). */
  intx(): VfioIntxReport[] {
    return [...this.intxByBdf.values()].map((x) => x.report());
  }

  routes(): VmmRouteReport[] {
    const out: VmmRouteReport[] = [];
    for (const r of this.routeMap.values()) out.push(this.report(r));
    return out;
  }

  /** The route of one guest vector (MSI message k / MSI-X entry k of the guest device `bdf`). */
  route(bdf: string, kind: RouteKind, index: number): VmmRouteReport | undefined {
    for (const r of this.routeMap.values()) {
      if (r.assignment.guestBdf === bdf && r.kind === kind && r.index === index) return this.report(r);
    }
    return undefined;
  }

  /**
   * The KVM MSI routing entry for a route (kvm_irq_routing_msi after kvm_arch_fixup_msi_route): KVM's x2APIC format
   * (address_hi = destination 31:8) for what the vIOMMU remapped, or — for a compatibility message — the 15-bit
   * extension swizzled into that format when the profile does (kvm_swizzle_msi_ext_dest_id), else the guest's message
   * as it stands; the guest's message too while the route holds no translation.
   */
  private kvmMessage(r: AssignedRoute): { addressHi: number; addressLo: number; data: number } {
    const res = r.slot.result;
    if (!r.slot.valid || res.kind !== 'deliver') return { addressHi: r.addrHi, addressLo: r.addrLo, data: r.data };
    const compat = res.format === 'compat' || res.format === 'ext-dest-id';
    if (compat) {
      if (!this.profile.kvmX2apicSwizzle) return { addressHi: r.addrHi, addressLo: r.addrLo, data: r.data };
      // kvm_swizzle_msi_ext_dest_id: address bits 11:5 (destination 14:8) move to address bits 46:40, i.e.
      // address_hi bits 14:8; the data is kept.
      const ext = r.addrLo & 0xfe0;
      return { addressHi: (r.addrHi | (ext << 3)) >>> 0, addressLo: (r.addrLo & ~ext) >>> 0, data: r.data };
    }
    // Remapped by the vIOMMU: vtd_generate_msi_message / amdvi's equivalent compose the KVM x2APIC format.
    const m = res.msg;
    const dest = m.dest >>> 0;
    // The compatibility layout with destination 7:0 in address 19:12 and 31:8 in address_hi (KVM_X2APIC_API).
    const lo = (0xfee00000 | ((dest & 0xff) << 12) | (m.redirectionHint << 3) | (m.destMode << 2)) >>> 0;
    const data = (m.vector | (m.deliveryMode << 8) | (m.level << 14) | (m.trigger << 15)) >>> 0;
    return { addressHi: m.destWidth === 32 ? (dest & 0xffffff00) >>> 0 : 0, addressLo: lo, data };
  }

  private postedReport(vcpu: number): VmmRouteReport['posted'] {
    const v = this.vcpus[vcpu];
    if (v.backingPage !== null) return { vcpu, descriptor: hex(v.backingPage), backingPage: hex(v.backingPage), gaTag: hex(avicGaTag(vcpu)) };
    return { vcpu, descriptor: hex(v.descriptor!.address) };
  }

  private report(r: AssignedRoute): VmmRouteReport {
    const res = r.slot.result;
    const valid = r.enabled && r.slot.valid;
    const target = valid && res.kind === 'deliver' ? describeTarget(this.guest, res.msg) : null;
    const h = r.host;
    return {
      guest: { bdf: r.assignment.guestBdf, kind: r.kind, index: r.index, addr: hex(r.addrHi * TWO_32 + r.addrLo), data: hex(r.data) },
      state: !r.enabled ? 'disabled' : r.masked ? 'masked' : valid ? 'valid' : r.evicted ? 'evicted' : 'untranslated',
      target,
      cookie: valid ? formatCookie(res.cookie) : 'none',
      lastOutcome: r.lastOutcome,
      kvm: target === null ? null : hexMessage(this.kvmMessage(r)),
      host: h === null ? null : { bdf: r.assignment.hostBdf, cpu: h.cpu, apicId: h.apicId, vector: h.vector, irte: h.irteIndex, message: { addr: hex(h.message.addr), data: hex(h.message.data) } },
      posted: r.postedTo === null ? null : this.postedReport(r.postedTo),
      gsi: r.gsi,
      translations: r.translations,
      evictions: r.evictions,
    };
  }
}

/** QEMU's vbasedev.name for a vfio-pci device: the host device's sysfs name, "0000:bb:dd.f". */
function vfioName(a: ResolvedAssignment): string {
  return `0000:${a.hostBdf}`;
}

function hexMessage(m: { addressHi: number; addressLo: number; data: number }): VmmRouteReport['kvm'] {
  return { addressHi: hex(m.addressHi), addressLo: hex(m.addressLo), data: hex(m.data) };
}

function hex(v: number | bigint): string {
  return '0x' + v.toString(16);
}

function describeOutcome(r: TranslationResult): string {
  if (r.kind === 'fault' && r.fault) return `fault ${r.fault.unit} 0x${r.fault.code.toString(16)} (${r.fault.name})`;
  return r.kind === 'deliver' ? `deliver (${r.format})` : r.kind;
}

function describeTarget(guest: Machine, msg: ApicMessage): VmmRouteReport['target'] {
  return { vcpus: guest.apicBus.matchSlow(msg), dest: msg.dest >>> 0, destMode: msg.destMode, vector: msg.vector, deliveryMode: msg.deliveryMode };
}

function formatCookie(cookie: number): string {
  const c = decodeCookie(cookie);
  if (c.kind === 'intel') return `intel IRTE ${c.index}`;
  if (c.kind === 'amd') return c.index === 0xffff ? `amd ${formatBdf(c.deviceId)} DTE` : `amd ${formatBdf(c.deviceId)} IRTE ${c.index}`;
  return 'none';
}
