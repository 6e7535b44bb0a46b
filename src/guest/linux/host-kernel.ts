/**
 * The Linux model as the host kernel of a two-machine system: it boots on the host machine (interrupt remapping as
 * the host's firmware tables allow) and does vfio-pci's part of device assignment.
 *
 * - A vector vfio-pci requests (VFIO_DEVICE_SET_IRQS → pci_alloc_irq_vectors + request_irq) goes to the online
 *   host CPU with the fewest vfio vectors so far, lowest index first: the spreading kernel/irq/matrix.c
 *   `matrix_find_best_cpu` does (it picks the CPU with the most free vectors), counted over this kernel's
 *   assignments only.
 * - Interrupt entry for the vectors it owns (vfio's and KVM's posted-interrupt vectors): INTA, EOI — Linux acks an
 *   edge MSI before running the handler (handle_edge_irq → apic_ack_irq) — then the handler. Any other vector is
 *   left pending in IRR for whoever services the host CPU (the fault interrupt of the host IOMMU, for instance).
 */
import { UsageError } from '../../core/errors.ts';
import type { Machine } from '../../machine/machine.ts';
import type { Lapic } from '../../apic/lapic.ts';
import type { HostIntxLine, HostKernel, HostVector, PostedTarget } from '../../vmm/host-kernel.ts';
import { ioapicReadRte, ioapicWriteRte } from '../ioapic-access.ts';
import { RTE_MASK } from '../../msi/formats/ioapic-rte.ts';
import type { ProgrammedInterrupt } from '../guest-os.ts';
import { LinuxGuest } from './linux-guest.ts';

/** A vector vfio-pci holds: the kernel's record of it, and the VMM's view (updated in place when it moves). */
interface VfioVector {
  programmed: ProgrammedInterrupt;
  host: HostVector;
  handler: () => void;
  /** irq_set_vcpu_affinity put its IRTE in posted mode: host affinity changes leave the IRTE alone. */
  posted: boolean;
}

/** An INTx line the kernel requested: its chain of handlers (IRQF_SHARED) and its disable state. */
interface IntxLine {
  line: HostIntxLine;
  actions: { handler: () => boolean; shared: boolean }[];
  /** disable_irq depth (IRQD_IRQ_DISABLED while > 0). */
  disabled: number;
  /** Masked at the I/O APIC by the lazy disable (handle_fasteoi_irq found it disabled). */
  masked: boolean;
  /** Interrupts in a row no handler claimed (note_interrupt). */
  unhandled: number;
}

/**
 * Unhandled interrupts in a row after which the line is disabled ("nobody cared"). Linux's note_interrupt counts
 * 99,900 unhandled of 100,000; here each re-delivery of a stuck level line nests in the one before (interrupt entry
 * is synchronous), so the model gives up far earlier, with Linux's message.
 */
const NOBODY_CARED_LIMIT = 100;

export class LinuxHostKernel implements HostKernel {
  readonly linux: LinuxGuest;
  private readonly handlers: ((() => void) | undefined)[];
  private readonly lapics: Lapic[];
  private readonly perCpu: number[];
  allocations = 0;
  /** vfio's MSI/MSI-X vectors (the ones CPU offline can move), by host IRTE index. */
  private readonly vfioVectors: VfioVector[] = [];
  /** Host CPUs taken offline (CPU hotplug); they get no new vectors. */
  private readonly offline = new Set<number>();
  /** INTx lines requested, by host GSI. */
  private readonly intxLines = new Map<number, IntxLine>();
  /** Per CPU × vector: 1 for a level-triggered line (handle_fasteoi_irq: the handler runs before the EOI). */
  private readonly levelVectors: Uint8Array;

  constructor(private readonly host: Machine) {
    this.linux = new LinuxGuest(host);
    this.linux.boot();
    this.handlers = new Array(host.cpuCount * 256);
    this.lapics = Array.from({ length: host.cpuCount }, (_, i) => host.cpu(i).lapic);
    this.perCpu = new Array(host.cpuCount).fill(0);
    this.levelVectors = new Uint8Array(host.cpuCount * 256);
  }

  get remapping(): 'intel' | 'amd' | null {
    return this.linux.interruptRemapping;
  }

  get log(): readonly string[] {
    return this.linux.log.lines;
  }

  enableVector(hostBdf: string, kind: 'msi' | 'msix', index: number, handler: () => void): HostVector | string {
    const cpu = this.leastLoadedCpu();
    const p = this.linux.setupInterrupt({ id: `vfio-msi${kind === 'msix' ? 'x' : ''}-${index}(${hostBdf})`, kind, device: hostBdf, vector: index, cpu });
    if (p.status !== 'programmed' || p.message === undefined) return p.note ?? 'refused';
    this.perCpu[p.cpu]++;
    this.allocations++;
    this.handlers[p.cpu * 256 + p.vector] = handler;
    const host: HostVector = { cpu: p.cpu, apicId: p.apicId, vector: p.vector, irteIndex: p.irteIndex ?? null, message: p.message };
    this.vfioVectors.push({ programmed: p, host, handler, posted: false });
    return host;
  }

  enableImsVector(hostBdf: string, index: number, handler: () => void): HostVector | string {
    const cpu = this.leastLoadedCpu();
    const r = this.linux.composeDeviceMessage(hostBdf, cpu);
    if (typeof r === 'string') return r;
    void index;
    this.perCpu[r.cpu]++;
    this.allocations++;
    this.handlers[r.cpu * 256 + r.vector] = handler;
    return { cpu: r.cpu, apicId: r.apicId, vector: r.vector, irteIndex: r.irteIndex ?? null, message: r.message };
  }

  private leastLoadedCpu(): number {
    const online = this.linux.onlineCpus().filter((c) => !this.offline.has(c));
    let cpu = online[0];
    for (const c of online) if (this.perCpu[c] < this.perCpu[cpu]) cpu = c;
    return cpu;
  }

  /**
   * request_irq on the device's INTx line. The line's GSI is where the host's ACPI routing (_PRT, ICH9 PIRQ) puts the
   * device's pin; the first request programs its RTE level-triggered, active low (acpi_register_gsi), and each one
   * adds its handler to the line's chain — both must be IRQF_SHARED to share (__setup_irq: -EBUSY otherwise).
   */
  requestIntx(hostBdf: string, shared: boolean, handler: () => boolean): HostIntxLine | string {
    const gsi = this.host.intxRoute(hostBdf).gsi;
    const existing = this.intxLines.get(gsi);
    if (existing !== undefined) {
      if (!shared || existing.actions.some((a) => !a.shared)) return `request_irq: IRQ ${gsi} is busy (-EBUSY): it is already requested and not every handler is IRQF_SHARED`;
      existing.actions.push({ handler, shared });
      return existing.line;
    }
    const cpu = this.leastLoadedCpu();
    const p = this.linux.setupInterrupt({ id: `vfio-intx(${hostBdf})`, kind: 'ioapic', pin: gsi, trigger: 'level', polarity: 'low', cpu });
    if (p.status !== 'programmed') return p.note ?? 'refused';
    this.perCpu[p.cpu]++;
    this.allocations++;
    const entry: IntxLine = { line: { gsi, cpu: p.cpu, vector: p.vector }, actions: [{ handler, shared }], disabled: 0, masked: false, unhandled: 0 };
    this.intxLines.set(gsi, entry);
    this.handlers[p.cpu * 256 + p.vector] = () => this.fasteoi(entry);
    this.levelVectors[p.cpu * 256 + p.vector] = 1;
    return entry.line;
  }

  /**
   * handle_fasteoi_irq for an INTx line: a line disabled by disable_irq_nosync is masked now (lazy disable) and its
   * handlers do not run; otherwise every handler on the chain runs (a shared line: each checks its own device). The
   * EOI follows in the interrupt entry.
   */
  private fasteoi(entry: IntxLine): void {
    if (entry.disabled > 0) {
      this.setIntxMask(entry, true);
      return;
    }
    let handled = false;
    for (const a of entry.actions) if (a.handler()) handled = true;
    if (handled) {
      entry.unhandled = 0;
      return;
    }
    // note_interrupt → __report_bad_irq: a line nobody claims is eventually disabled.
    if (++entry.unhandled < NOBODY_CARED_LIMIT) return;
    this.linux.log.print(`irq ${entry.line.gsi}: nobody cared (try booting with the "irqpoll" option)`);
    this.linux.log.print(`Disabling IRQ #${entry.line.gsi}`);
    entry.disabled++;
    this.setIntxMask(entry, true);
  }

  private setIntxMask(entry: IntxLine, masked: boolean): void {
    if (entry.masked === masked) return;
    entry.masked = masked;
    // mask_ioapic_irq / unmask_ioapic_irq: the RTE's mask bit; an unmasked level line still asserted fires again.
    const cpu = this.host.cpu(0);
    const base = this.host.firmware.madt.ioapic.address;
    const rte = ioapicReadRte(cpu, base, entry.line.gsi);
    ioapicWriteRte(cpu, base, entry.line.gsi, masked ? rte | BigInt(RTE_MASK) : rte & ~BigInt(RTE_MASK));
  }

  freeIntx(line: HostIntxLine, handler: () => boolean): void {
    const entry = this.intxLines.get(line.gsi);
    if (entry === undefined) return;
    const i = entry.actions.findIndex((a) => a.handler === handler);
    if (i < 0) return;
    entry.actions.splice(i, 1);
    if (entry.actions.length > 0) return;
    // __free_irq → irq_shutdown: the last action gone, the line is masked and its vector freed.
    this.setIntxMask(entry, true);
    this.handlers[line.cpu * 256 + line.vector] = undefined;
    this.levelVectors[line.cpu * 256 + line.vector] = 0;
    this.perCpu[line.cpu]--;
    this.intxLines.delete(line.gsi);
  }

  disableIntx(line: HostIntxLine): void {
    const entry = this.intxLines.get(line.gsi);
    if (entry !== undefined) entry.disabled++;
  }

  enableIntx(line: HostIntxLine): void {
    const entry = this.intxLines.get(line.gsi);
    if (entry === undefined || entry.disabled === 0) return;
    // irq_enable → unmask_irq; a level line needs no resend (check_irq_resend): the I/O APIC sees it still asserted.
    if (--entry.disabled === 0) this.setIntxMask(entry, false);
  }

  postVector(hostBdf: string, host: HostVector, target: PostedTarget): void {
    if (host.irteIndex === null) throw new UsageError(`postVector: ${hostBdf}'s vector has no IRTE to post through`);
    const sid = this.host.device(hostBdf).requesterId;
    this.markPosted(host, true);
    if (target.amd !== undefined) {
      this.linux.postAmdIrte(host.irteIndex, sid, { vector: target.vector, backingPage: target.descriptor, ...target.amd });
      return;
    }
    this.linux.postIrte(host.irteIndex, sid, target);
  }

  private markPosted(host: HostVector, posted: boolean): void {
    const v = this.vfioVectors.find((x) => x.host === host);
    if (v !== undefined) v.posted = posted;
  }

  /**
   * CPU hotplug, host side: CPU `cpu` goes offline and every vfio vector bound to it moves to the least-loaded CPU
   * still online (kernel/irq/cpuhotplug.c `irq_migrate_all_off_this_cpu` → `irq_do_set_affinity`; the vector matrix
   * picks the CPU). A remapped vector gets a new vector there and its IRTE rewritten and invalidated
   * (intel_ir_set_affinity / amd_ir_set_affinity); a posted one keeps its IRTE — `intel_ir_reconfigure_irte` leaves a
   * posted entry alone — and only its host vector moves, used again when it is unposted. Returns the vectors moved.
   */
  offlineCpu(cpu: number): number {
    const online = this.linux.onlineCpus().filter((c) => !this.offline.has(c));
    if (!online.includes(cpu)) throw new UsageError(`offlineCpu(${String(cpu)}): host CPU ${String(cpu)} is not online`);
    if (online.length === 1) throw new UsageError(`offlineCpu(${cpu}): it is the last online host CPU`);
    this.offline.add(cpu);
    let moved = 0;
    for (const v of this.vfioVectors) {
      if (v.host.cpu !== cpu) continue;
      const to = this.leastLoadedCpu();
      const p = this.linux.retargetInterrupt(v.programmed, to, { invalidate: true, keepIrte: v.posted });
      this.handlers[v.host.cpu * 256 + v.host.vector] = undefined;
      this.perCpu[v.host.cpu]--;
      this.handlers[p.cpu * 256 + p.vector] = v.handler;
      this.perCpu[p.cpu]++;
      // A new host vector was allocated: a system snapshot from before no longer matches this kernel.
      this.allocations++;
      v.programmed = p;
      v.host.cpu = p.cpu;
      v.host.apicId = p.apicId;
      v.host.vector = p.vector;
      moved++;
    }
    for (const entry of this.intxLines.values()) {
      if (entry.line.cpu !== cpu) continue;
      moved++;
      this.moveIntxLine(entry, this.leastLoadedCpu());
    }
    return moved;
  }

  /**
   * An INTx line follows its CPU going offline (irq_do_set_affinity → ioapic_set_affinity): a vector on `to` and the
   * RTE written again for it (under host interrupt remapping, the pin's own IRTE rewritten, as intel_ir_set_affinity
   * does). A line masked by a lazy disable stays masked.
   */
  private moveIntxLine(entry: IntxLine, to: number): void {
    const { line } = entry;
    const p = this.linux.setupInterrupt({ id: `vfio-intx(gsi ${line.gsi})`, kind: 'ioapic', pin: line.gsi, trigger: 'level', polarity: 'low', cpu: to });
    if (p.status !== 'programmed') throw new UsageError(`offlineCpu: the INTx line at GSI ${line.gsi} could not move to CPU ${to}: ${p.note ?? 'refused'}`);
    this.handlers[line.cpu * 256 + line.vector] = undefined;
    this.levelVectors[line.cpu * 256 + line.vector] = 0;
    this.perCpu[line.cpu]--;
    this.handlers[p.cpu * 256 + p.vector] = () => this.fasteoi(entry);
    this.levelVectors[p.cpu * 256 + p.vector] = 1;
    this.perCpu[p.cpu]++;
    this.allocations++;
    line.cpu = p.cpu;
    line.vector = p.vector;
    if (entry.masked) {
      entry.masked = false;
      this.setIntxMask(entry, true);
    }
  }

  /** Host CPUs online now (the kernel's view, CPU hotplug included). */
  onlineCpus(): number[] {
    return this.linux.onlineCpus().filter((c) => !this.offline.has(c));
  }

  enableGuestVapic(notify: (gaTag: number) => void): boolean {
    if (!this.linux.enableAmdGuestVapic(notify)) return false;
    // The IOMMU's interrupt (event log and GA log share it) is taken at interrupt entry like vfio's vectors, so a
    // GA log entry wakes its vCPU at once (amd_iommu_int_thread_galog → iommu_poll_ga_log).
    const vector = this.linux.iommuVector;
    if (vector !== null) this.handlers[vector] = () => this.linux.amdIommuInterrupt();
    return true;
  }

  updateGuestVapic(hostBdf: string, host: HostVector, isRun: boolean, dest: number): void {
    if (host.irteIndex === null) return;
    this.linux.updateAmdGa(host.irteIndex, this.host.device(hostBdf).requesterId, isRun, dest);
  }

  unpostVector(hostBdf: string, host: HostVector): void {
    this.markPosted(host, false);
    if (host.irteIndex === null) return;
    this.linux.remapIrte(host.irteIndex, this.host.device(hostBdf).requesterId, host.cpu, host.vector);
  }

  requestSystemVector(cpu: number, vector: number, handler: () => void): void {
    this.handlers[cpu * 256 + vector] = handler;
  }

  servicePending(): void {
    for (const cpu of this.linux.onlineCpus()) {
      // Bounded like the scenario runner's drain: a level source that never goes away must not spin forever.
      for (let n = 0; n < 64; n++) if (this.linux.handleInterrupt(cpu) === null) break;
    }
  }

  interrupt(cpu: number, vector: number): boolean {
    const handlers = this.handlers;
    if (handlers[cpu * 256 + vector] === undefined) return false;
    const lapic = this.lapics[cpu];
    const taken = lapic.acknowledge();
    if (taken === null) return false;
    const h = handlers[cpu * 256 + taken];
    if (this.levelVectors[cpu * 256 + taken] === 1) {
      // handle_fasteoi_irq: the handler, then the EOI (local, and the I/O APIC's under remapping: ioapic_ir_ack_level).
      h?.();
      this.linux.endOfInterrupt(cpu, taken);
      return true;
    }
    lapic.eoi();
    if (h !== undefined) h();
    return true;
  }
}
