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
import { PCI_COMMAND } from '../pci/type0-header.ts';
import type { TranslationResult } from '../msi/translation-result.ts';
import type { Machine } from '../machine/machine.ts';
import type { AssignedFunction, AssignedFunctionTrap } from './assigned-function.ts';
import type { AssignedBar } from './ath-bar0-quirk.ts';
import type { HostKernel, HostVector } from './host-kernel.ts';
import { POSTED_INTR_VECTOR, POSTED_INTR_WAKEUP_VECTOR, PostedDescriptor } from './posted-descriptor.ts';
import { drainVapicIrr } from '../iommu-amd/vapic-backing-page.ts';
import type { VmmProfile } from './profiles.ts';
import type { ResolvedAssignment, ResolvedSystemConfig } from './system-config.ts';
import { Vcpu, type VcpuScheduler } from './vcpu.ts';

const TWO_32 = 0x1_0000_0000;

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
  /** Guest native messages the hypothetical `nativeRemapBySourceId` IOMMU mapped to a vCPU (native-remap-by-source-id.ts). */
  nativeRemaps: number;
}

/** A route as `sys.vmm.routes()` reports it. */
export interface VmmRouteReport {
  guest: { bdf: string; kind: RouteKind; index: number; addr: string; data: string };
  state: 'valid' | 'evicted' | 'untranslated' | 'disabled';
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
  readonly counters: VmmCounters = { translations: 0, evictions: 0, injections: 0, posted: 0, wakeups: 0, faults: 0, dropped: 0, nativeRemaps: 0 };
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

  constructor(
    readonly config: ResolvedSystemConfig,
    readonly profile: VmmProfile,
    private readonly host: Machine,
    private readonly kernel: HostKernel,
  ) {
    this.byGuestRid = new Map(config.assigned.map((a) => [a.guestRid, a]));
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
    if (offset < PCI_COMMAND + 2 && offset + size > PCI_COMMAND) this.syncBusMaster(fn, a);
    const msi = fn.msi;
    if (msi !== null && offset < msi.offset + msi.length && offset + size > msi.offset) this.syncMsi(fn, a);
    const msix = fn.msix;
    if (msix !== null && offset < msix.offset + 12 && offset + size > msix.offset) {
      for (let n = 0; n < msix.entries; n++) this.syncMsix(fn, a, n);
    }
  }

  /**
   * vfio-pci passes the guest's Bus Master Enable through to the physical function (vfio_pci_config's Command
   * register permissions), so a device whose driver sends interrupts by DMA (IMS, embedded controllers) can.
   */
  private syncBusMaster(fn: AssignedFunction, a: ResolvedAssignment): void {
    if (!fn.busMasterEnabled()) return; // clearing it is left to the host kernel, which also uses it for MSI
    const physical = this.host.device(a.hostBdf);
    if (!physical.fn.busMasterEnabled()) physical.fn.enableBusMaster();
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
      this.program(a, 'msi', k, m.addr, m.data);
    }
  }

  /**
   * QEMU msix_handle_mask_update → vfio_msix_vector_use: an entry is (re)routed when it is unmasked with MSI-X
   * enabled; writes to a masked entry (Linux masks, writes address and data, unmasks) only take effect at unmask.
   */
  private syncMsix(fn: AssignedFunction, a: ResolvedAssignment, n: number): void {
    const msix = fn.msix!;
    if (!msix.enabled()) {
      this.disable(a, 'msix', n);
      return;
    }
    const e = msix.entry(n);
    if (e.masked) return;
    this.program(a, 'msix', n, e.addr, e.data);
  }

  private key(a: ResolvedAssignment, kind: RouteKind, index: number): string {
    return `${a.guestRid}:${kind}:${index}`;
  }

  private disable(a: ResolvedAssignment, kind: RouteKind, index: number): void {
    const route = this.routeMap.get(this.key(a, kind, index));
    if (route === undefined || !route.enabled) return;
    route.enabled = false;
    if (route.postedTo !== null) this.unpost(route);
    route.slot.valid = false;
  }

  /** A guest vector was enabled or rewritten: (re)build its route; an unchanged message keeps its route. */
  private program(a: ResolvedAssignment, kind: RouteKind, index: number, addr: bigint, data: number): void {
    const k = this.key(a, kind, index);
    let route = this.routeMap.get(k);
    if (route === undefined) {
      route = new AssignedRoute(a, kind, index, this);
      this.routeMap.set(k, route);
    }
    const hi = Number((addr >> 32n) & 0xffffffffn);
    const lo = Number(addr & 0xffffffffn);
    if (route.enabled && route.addrHi === hi && route.addrLo === lo && route.data === data >>> 0) return;
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
    this.updatePosting(route);
  }

  /** Translate the guest message for a route without raising anything (deliverNow = false). */
  private prepare(route: AssignedRoute): void {
    this.counters.translations++;
    route.translations++;
    route.evicted = false;
    const guest = this.guest;
    if (guest.events.active) {
      guest.events.hop('kvm_irqchip_add_msi_route', [['dev', route.assignment.guestBdf], ['vector', route.index], ['addr', (BigInt(route.addrHi >>> 0) << 32n) | BigInt(route.addrLo >>> 0)], ['data', route.data]]);
    }
    const result = guest.core.prepareRoute(route.assignment.guestRid, route.addrHi, route.addrLo, route.data, route.slot);
    route.lastOutcome = describeOutcome(result);
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
    this.program(a, 'ims', k, addr, data);
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
    const slot = route.slot;
    const warm = slot.valid;
    if (warm && this.apicBus !== null && !this.quiet.active) {
      // KVM's irqfd fast path (kvm_arch_set_irq_inatomic → kvm_set_msi_irq): the routing entry already holds the
      // decoded interrupt, so it goes straight to the guest's APIC bus.
      this.counters.injections++;
      this.apicBus.deliver(slot.result.msg);
      return;
    }
    const guest = this.guest;
    if (guest.events.active) {
      guest.events.beginFlow();
      guest.events.hop('kvm_set_msi', [['dev', route.assignment.guestBdf], ['vector', route.index], ['addr', (BigInt(route.addrHi >>> 0) << 32n) | BigInt(route.addrLo >>> 0)], ['data', route.data], ['route', warm ? 'cached' : 'translate']]);
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
      if (this.postedOn) this.updatePosting(route);
    }
  }

  /**
   * KVM's posting decision (vmx_pi_update_irte / kvm_intr_is_single_vcpu): post only a Fixed or LowestPriority
   * interrupt that resolves to exactly one vCPU; anything else keeps the host vector and goes through injection.
   */
  private updatePosting(route: AssignedRoute): void {
    if (!this.postedOn || route.host === null) return;
    const r = route.slot.result;
    let vcpu: number | null = null;
    if (route.enabled && route.slot.valid && r.kind === 'deliver' && (r.msg.deliveryMode === DeliveryMode.Fixed || r.msg.deliveryMode === DeliveryMode.LowestPriority)) {
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
    this.counters.evictions++;
    route.evictions++;
    route.evicted = true;
    // The posted IRTE was built from the evicted translation: stop posting until the route is rebuilt
    // (KVM updates the IRTE whenever the route behind an irqfd changes: kvm_arch_update_irqfd_routing).
    if (route.postedTo !== null) this.unpost(route);
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

  /** POSTED_INTR_WAKEUP_VECTOR on host CPU c: pi_wakeup_handler kicks the blocked vCPUs whose ON is set. */
  private wakeupHandler(c: number): void {
    for (const v of this.vcpusByHostCpu[c]) {
      if (!v.isRunning && v.descriptor !== null && v.descriptor.outstanding) {
        v.wakeups++;
        this.counters.wakeups++;
        if (this.guest.events.active) this.guest.events.hop('kvm_vcpu_wakeup', [['vcpu', v.index], ['reason', 'posted interrupt']]);
      }
    }
  }

  setRunning(vcpu: Vcpu, running: boolean): void {
    if (vcpu.isRunning === running) return;
    vcpu.isRunning = running;
    if (vcpu.backingPage !== null) {
      this.avicSchedule(vcpu, running);
      return;
    }
    const pid = vcpu.descriptor;
    if (pid === null) return;
    const x2apic = this.host.cpu(vcpu.hostCpu).lapic.mode === 'x2apic';
    if (running) {
      pid.program(vcpu.hostApicId, x2apic, POSTED_INTR_VECTOR);
      // VM entry: vmx_sync_pir_to_irr.
      if (pid.outstanding || pid.hasPending()) this.counters.posted += pid.drain(vcpu.deliverPosted);
    } else {
      pid.program(vcpu.hostApicId, x2apic, POSTED_INTR_WAKEUP_VECTOR);
    }
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
    if (v === undefined || v.isRunning) return;
    v.wakeups++;
    this.counters.wakeups++;
    if (this.guestMachine !== null && this.guest.events.active) this.guest.events.hop('kvm_vcpu_wakeup', [['vcpu', v.index], ['reason', `GA log (GATag 0x${(gaTag >>> 0).toString(16)})`]]);
  }

  private acceptPosted(cpu: number, apicId: number, vector: number, lapic: { acceptInterrupt(v: number, t: number): boolean }): void {
    lapic.acceptInterrupt(vector, 0);
    const events = this.guest.events;
    if (events.active) {
      events.hop(this.postedKind === 'amd' ? 'avic_irr_to_lapic' : 'vmx_posted_interrupt', [['vcpu', cpu], ['vector', vector]]);
      events.emit('apic_accept', { flow: events.currentFlow, cpu, apicId, vector, deliveryMode: DeliveryMode.Fixed, trigger: 0 });
    }
  }

  // ---- Reports --------------------------------------------------------------------------------------------------

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

  private kvmRoute(r: AssignedRoute, res: TranslationResult): VmmRouteReport['kvm'] {
    const compat = res.format === 'compat' || res.format === 'ext-dest-id';
    if (compat) {
      if (!this.profile.kvmX2apicSwizzle) return { addressHi: hex(r.addrHi), addressLo: hex(r.addrLo), data: hex(r.data) };
      // kvm_swizzle_msi_ext_dest_id: address bits 11:5 (destination 14:8) move to address bits 46:40, i.e.
      // address_hi bits 14:8; the data is kept.
      const ext = r.addrLo & 0xfe0;
      return { addressHi: hex((r.addrHi | (ext << 3)) >>> 0), addressLo: hex((r.addrLo & ~ext) >>> 0), data: hex(r.data) };
    }
    // Remapped by the vIOMMU: vtd_generate_msi_message / amdvi's equivalent compose the KVM x2APIC format.
    const m = res.msg;
    const dest = m.dest >>> 0;
    // The compatibility layout with destination 7:0 in address 19:12 and 31:8 in address_hi (KVM_X2APIC_API).
    const lo = (0xfee00000 | ((dest & 0xff) << 12) | (m.redirectionHint << 3) | (m.destMode << 2)) >>> 0;
    const data = (m.vector | (m.deliveryMode << 8) | (m.level << 14) | (m.trigger << 15)) >>> 0;
    return { addressHi: hex(m.destWidth === 32 ? (dest & 0xffffff00) >>> 0 : 0), addressLo: hex(lo), data: hex(data) };
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
      state: !r.enabled ? 'disabled' : valid ? 'valid' : r.evicted ? 'evicted' : 'untranslated',
      target,
      cookie: valid ? formatCookie(res.cookie) : 'none',
      lastOutcome: r.lastOutcome,
      kvm: target === null ? null : this.kvmRoute(r, res),
      host: h === null ? null : { bdf: r.assignment.hostBdf, cpu: h.cpu, apicId: h.apicId, vector: h.vector, irte: h.irteIndex, message: { addr: hex(h.message.addr), data: hex(h.message.data) } },
      posted: r.postedTo === null ? null : this.postedReport(r.postedTo),
      translations: r.translations,
      evictions: r.evictions,
    };
  }
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
