/**
 * Running a scenario: build the machine, boot the guest model, let it program every source, then stimulate each
 * source and watch — through the machine's event stream only — where each interrupt went. The outcome is compared
 * with the scenario's expected facts; nothing here knows the answer in advance.
 */
import { testVector } from '../apic/lapic.ts';
import { APIC_BASE_DEFAULT_ADDRESS, APIC_BASE_EXTD, MSR_IA32_APIC_BASE } from '../apic/apic-base.ts';
import { APIC_ID, APIC_LDR } from '../apic/registers.ts';
import { offlineCpu, onlineCpu } from '../guest/linux/cpu-hotplug.ts';
import { createMachine, type Machine } from '../machine/machine.ts';
import type { IommuFaultEvent, TraceHop } from '../core/events.ts';
import { formatHop } from '../machine/trace.ts';
import { createGuest } from '../guest/create-guest.ts';
import type { GuestOs, InterruptRequest, ProgrammedInterrupt } from '../guest/guest-os.ts';
import { barBase, enableBusMaster, readMsiCap, readMsixCap } from '../guest/pci-msi-setup.ts';
import { MSIX_ENTRY_CTRL_MASKBIT, MSIX_ENTRY_SIZE, MSIX_ENTRY_VECTOR_CTRL } from '../pci/msix-capability.ts';
import { MSI_MASK_32, MSI_MASK_64 } from '../pci/msi-capability.ts';
import { EMBEDDED_DATA_OFFSET } from '../pci/embedded-msi-controller.ts';
import { PCI_COMMAND, PCI_COMMAND_INTX_DISABLE } from '../pci/type0-header.ts';
import type { DmaExpectation, Scenario, ScenarioDma, ScenarioSource, SourceExpectation } from './scenario-file.ts';
import { parseDuration } from './legacy-words.ts';
import type { Device } from '../machine/device.ts';
import { UsageError } from '../core/errors.ts';
import type { System } from '../vmm/system.ts';
import type { VmmCounters, VmmRouteReport } from '../vmm/vmm.ts';
import { createSystem } from '../guest/create-system.ts';
import { LinuxGuest } from '../guest/linux/linux-guest.ts';
import { copyMsiToEmbeddedController } from '../guest/drivers/embedded-msi.ts';
import { isLegacyKind, LegacyStimulus, setupLegacySource } from './legacy-sources.ts';
import type { SourceObservation } from './observation.ts';
import type { HeldBy } from './legacy-words.ts';

export type { Delivery, SourceObservation } from './observation.ts';

export interface SourceResult {
  source: ScenarioSource;
  programmed: ProgrammedInterrupt;
  observed: SourceObservation;
  expectation: SourceExpectation;
  ok: boolean;
  expected: string;
  actual: string;
  /** Every hop of this source's interrupts (empty unless the run was traced). */
  hops: TraceHop[];
  /** The hops as QEMU-style trace lines. */
  trace: string[];
}

/** One DMA request of the scenario, what it was expected to do and what it did. */
export interface DmaResult {
  request: ScenarioDma;
  /** Where the guest's buffer is (null without a mapping or without translation). */
  physical: bigint | null;
  ok: boolean;
  expected: string;
  actual: string;
  /** The fault lines Linux prints for this request, if it faulted. */
  linuxLog: string[];
  /** Every hop of the request (empty unless the run was traced). */
  hops: TraceHop[];
}

export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

export type Verdict = 'REPRODUCED' | 'FIXED' | 'UNEXPECTED';

export interface ScenarioResult {
  scenario: Scenario;
  verdict: Verdict;
  machine: string;
  guest: string;
  bootLog: string[];
  /** What the guest kernel printed after boot (its fault handlers, for instance). */
  runtimeLog: string[];
  decisions: Record<string, string | number | boolean>;
  onlineCpus: number;
  checks: Check[];
  sources: SourceResult[];
  /** Linux-format log lines of every fault the IOMMU recorded or suppressed during the run. */
  faultLog: string[];
  /** DMA requests (`dma:`) and the IOMMU's reserved regions for their devices (Linux's reserved_regions lines). */
  dma?: DmaResult[];
  reservedRegions?: string[];
  /** Two-machine scenarios: the VMM's route table and counters at the end, and the host kernel's log. */
  vmmRoutes?: VmmRouteReport[];
  vmmCounters?: VmmCounters;
  hostLog?: string[];
  /** Set when the run itself failed (bad machine config, a guest model error). */
  error: string | null;
  durationMs: number;
}

export interface RunOptions {
  trace?: boolean;
}

/** Longest run of handler invocations on one CPU before the runner calls it an interrupt storm. */
const STORM_LIMIT = 64;

function hex(n: number | bigint): string {
  return '0x' + n.toString(16);
}

/**
 * The Linux model's IMS driver (LKML, "[PATCH v4 06/17] PCI: add SIOV and IMS capability detection", 2020-11-08): its irq domain composes a message for IMS entry k — or, when the VMM
 * offers the paravirtual compose-MSI call, the guest hands that message to the VMM and stores what comes back —
 * and the driver writes address and data into the entry with CPU stores.
 */
function setupIms(guest: GuestOs, m: Machine, src: ScenarioSource, sys: System | null): ProgrammedInterrupt {
  const request = src as unknown as InterruptRequest;
  const refused = (note: string): ProgrammedInterrupt => ({ request, status: 'refused', cpu: src.cpu, apicId: 0, vector: 0, note, encoding: 'none' });
  if (!(guest instanceof LinuxGuest)) return refused('only the linux model has an IMS irq domain');
  const device = m.device(src.device!);
  const controller = m.config.devices.find((d) => d.requesterId === device.requesterId)?.embeddedMsi;
  if (controller === undefined) return refused(`${device.bdf} has no IMS table`);
  const k = src.vector ?? 0;
  const r = guest.composeDeviceMessage(device.bdf, src.cpu);
  if (typeof r === 'string') return refused(r);
  let message = r.message;
  let encoding = 'ims-native';
  if (sys !== null && sys.config.vmm.pvComposeMsi && sys.config.assigned.some((a) => a.guestBdf === device.bdf)) {
    message = sys.vmm.composeMsi(device.bdf, k, message);
    encoding = 'ims-pv-composed';
  }
  enableBusMaster(device); // pci_set_master: the device sends its IMS messages by DMA
  const at = barBase(device, controller.bar ?? 0) + controller.registers[k];
  m.cpu(0).write32(at, Number(message.addr & 0xffffffffn));
  m.cpu(0).write32(at + EMBEDDED_DATA_OFFSET, message.data >>> 0);
  return { request, status: 'programmed', cpu: r.cpu, apicId: r.apicId, vector: r.vector, message, irteIndex: r.irteIndex, encoding };
}

/** One line for a two-machine system: host, guest, and the VMM's profile and options. */
export function describeSystem(sys: System): string {
  const v = sys.config.vmm;
  const opts = [v.postedInterrupts ? 'posted interrupts' : null, v.msiNoVirt ? 'MSI_NOVIRT' : null, v.pvComposeMsi ? 'PV compose-MSI' : null, sys.config.hypothetical.nativeRemapBySourceId ? 'hypothetical IOMMU: native remap by source-id' : null, v.athBar0Quirk ? 'quirk ath-bar0' : null, v.imsTrap ? 'quirk ims-trap' : null].filter((x) => x !== null);
  const assigned = sys.config.assigned.map((a) => `${a.hostBdf} → guest ${a.guestBdf}`).join(', ');
  return `host: ${describeMachine(sys.host)} ‖ guest: ${describeMachine(sys.guest)} ‖ VMM: profile ${v.profile}${opts.length ? ', ' + opts.join(', ') : ''}; assigned ${assigned}`;
}

export function describeMachine(m: Machine): string {
  const c = m.config;
  const ids = c.apicIds;
  const maxId = Math.max(...ids);
  const parts = [`${c.cpus} vCPUs (APIC IDs ${Math.min(...ids)}–${maxId})`, `${c.cpuVendor === 'amd' ? 'AMD' : 'Intel'} CPU`];
  if (c.iommu?.kind === 'intel') {
    parts.push(`Intel VT-d (${c.iommu.dmaTranslation === false ? 'IR only, SAGAW = 0' : 'DMA + IR'}${c.iommu.eim === false ? ', no EIM' : ', EIM'})`);
  } else if (c.iommu?.kind === 'amd') {
    parts.push(`AMD-Vi (${c.iommu.dmaTranslation === false ? 'IR only, HATS = 11b' : 'DMA + IR'}${c.iommu.xt === false ? '' : ', XT'})`);
  } else parts.push('no IOMMU');
  const hv = Object.entries(c.hypervisor).filter(([, v]) => v).map(([k]) => k);
  parts.push(hv.length ? `hypervisor: ${hv.join(', ')}` : 'no hypervisor extensions');
  parts.push(`I/O APIC ${c.ioapic.pins} pins v${hex(c.ioapic.version)}`);
  if (c.devices.length) parts.push(`devices: ${c.devices.map((d) => `${d.bdf}${d.name ? ' ' + d.name : ''}`).join(', ')}`);
  return parts.join(' · ');
}

function emptyObservation(): SourceObservation {
  return { deliveries: [], iommuInterrupts: [], faults: [], lost: [], memoryWrites: [], pirqs: [], held: [] };
}

function describeObservation(o: SourceObservation): string {
  const parts: string[] = [];
  const byTarget = new Map<string, number>();
  for (const d of o.deliveries) {
    const key = `CPU ${d.cpu} (APIC ${hex(d.apicId)}) vector ${hex(d.vector)}`;
    byTarget.set(key, (byTarget.get(key) ?? 0) + 1);
  }
  for (const [k, n] of byTarget) parts.push(n > 1 ? `${k} ×${n}` : k);
  for (const f of o.faults) parts.push(`${f.recorded ? 'fault' : 'suppressed fault'} ${f.unit} ${hex(f.code)} (${f.name})`);
  for (const w of o.memoryWrites) parts.push(`memory write of ${hex(w.data)} at ${hex(w.addr)}`);
  for (const p of o.pirqs) parts.push(`Xen PIRQ ${p}`);
  for (const d of o.iommuInterrupts) parts.push(`IOMMU fault event → CPU ${d.cpu} vector ${hex(d.vector)}`);
  if (parts.length === 0 && o.lost.length) parts.push(`lost: ${o.lost[0]}`);
  if (parts.length === 0) parts.push('nothing arrived');
  for (const h of o.held) parts.push(`held: ${h}`);
  return parts.join('; ');
}

function judge(
  exp: SourceExpectation,
  p: ProgrammedInterrupt,
  o: SourceObservation,
  all: Map<string, ProgrammedInterrupt>,
  previous: ProgrammedInterrupt | null = null,
): { ok: boolean; expected: string } {
  const delivered = o.deliveries.length;
  const recordedFaults = o.faults.filter((f) => f.recorded);
  switch (exp.kind) {
    case 'intended': {
      const ok =
        p.status === 'programmed' &&
        p.cpu === p.request.cpu &&
        delivered === exp.times &&
        o.deliveries.every((d) => d.cpu === p.cpu && d.vector === p.vector) &&
        recordedFaults.length === 0;
      return { ok, expected: `CPU ${p.request.cpu} vector ${hex(p.vector)}${exp.times !== 1 ? ` ×${exp.times}` : ''} (as the guest intended)` };
    }
    case 'reaches': {
      const vector = exp.vector ?? p.vector;
      const ok = delivered === exp.times && o.deliveries.every((d) => d.cpu === exp.cpu && d.vector === vector);
      return { ok, expected: `CPU ${exp.cpu} vector ${hex(vector)}${exp.times !== 1 ? ` ×${exp.times}` : ''}` };
    }
    case 'reaches-source': {
      const other = all.get(exp.source);
      if (!other) return { ok: false, expected: `the target of ${exp.source}` };
      const ok = delivered >= 1 && o.deliveries.every((d) => d.cpu === other.cpu && d.vector === other.vector);
      return { ok, expected: `${exp.source}'s target: CPU ${other.cpu} vector ${hex(other.vector)}` };
    }
    case 'fault': {
      const ok = delivered === 0 && o.faults.some((f) => f.unit === exp.unit && f.code === exp.code);
      return { ok, expected: `no delivery; ${exp.unit} fault ${hex(exp.code)}` };
    }
    case 'wrong-vector': {
      const ok = delivered >= 1 && o.deliveries.some((d) => d.vector !== p.vector);
      return { ok, expected: `delivered with a vector other than ${hex(p.vector)}` };
    }
    case 'memory-write': {
      const ok = delivered === 0 && o.memoryWrites.length >= 1 && (!exp.above4G || o.memoryWrites.every((w) => w.addr >= 0x1_0000_0000n));
      return { ok, expected: `no delivery; a memory write${exp.above4G ? ' above 4 GiB' : ''}` };
    }
    case 'pirq': {
      const ok = delivered === 0 && p.pirq !== undefined && o.pirqs.length >= 1 && o.pirqs.every((x) => x === p.pirq);
      return { ok, expected: `Xen PIRQ ${p.pirq ?? '(none bound)'}` };
    }
    case 'refused':
      return { ok: p.status === 'refused', expected: 'the guest refuses to program it' };
    case 'lost': {
      const reason = 'reason' in exp ? exp.reason : undefined;
      const ok = p.status === 'programmed' && delivered === 0 && recordedFaults.length === 0 && (reason === undefined || o.lost.some((l) => l.includes(reason)));
      return { ok, expected: `no delivery and no recorded fault (lost${reason === undefined ? '' : `: "${reason}"`})` };
    }
    case 'held': {
      const ok = p.status === 'programmed' && o.held.includes(exp.by) && delivered === exp.delivered && o.deliveries.every((d) => d.cpu === p.cpu && d.vector === p.vector);
      return { ok, expected: `${exp.delivered === 0 ? 'no delivery' : `CPU ${p.cpu} vector ${hex(p.vector)}${exp.delivered !== 1 ? ` ×${exp.delivered}` : ''}`}, then held: ${exp.by}` };
    }
    case 'stale': {
      if (previous === null) return { ok: false, expected: 'the target before a retarget step (the source has none)' };
      const ok = delivered >= 1 && o.deliveries.every((d) => d.cpu === previous.cpu && d.vector === previous.vector);
      return { ok, expected: `CPU ${previous.cpu} vector ${hex(previous.vector)}, its target before the retarget (stale)` };
    }
  }
}

/** Drive one source's stimulus steps. */
class Stimulus {
  private readonly raised = new Set<string>();
  private readonly acked: { cpu: number; vector: number }[] = [];

  /** The source's target before its last retarget step, for a `stale` expectation. */
  previous: ProgrammedInterrupt | null = null;

  /** The legacy source's own steps (an ISA IRQ, INTx, a timer), or null for an MSI or I/O APIC pin source. */
  private readonly legacy: LegacyStimulus | null;

  constructor(
    private readonly m: Machine,
    private readonly guest: GuestOs,
    private readonly src: ScenarioSource,
    public programmed: ProgrammedInterrupt,
    private readonly obs: SourceObservation,
    private readonly sys: System | null = null,
    /** Every source as the guest programmed it, by id (for steps that name another source). */
    private readonly others: ReadonlyMap<string, ProgrammedInterrupt> = new Map(),
  ) {
    this.legacy = isLegacyKind(src.kind) ? new LegacyStimulus(m, guest, src, programmed, obs) : null;
  }

  /** Where the source's interrupt is held back now (legacy sources). */
  held(): HeldBy[] {
    return this.legacy?.held() ?? [];
  }

  /** The physical device behind an assigned guest device, or null when the source's device is the guest's own. */
  private hostDevice(): Device | null {
    const a = this.sys?.config.assigned.find((x) => x.guestBdf === this.m.device(this.src.device!).bdf);
    return a === undefined ? null : this.sys!.host.device(a.hostBdf);
  }

  private linux(step: string): LinuxGuest {
    if (!(this.guest instanceof LinuxGuest)) throw new UsageError(`step "${step}": only the linux guest model can rewrite an IRTE`);
    return this.guest;
  }

  private takenCpu(): number | null {
    for (let i = this.obs.deliveries.length - 1; i >= 0; i--) {
      const d = this.obs.deliveries[i];
      if (testVector(this.m.cpu(d.cpu).lapic.irr, d.vector)) return d.cpu;
    }
    return null;
  }

  run(step: string): void {
    const [verb, arg] = step.split(' ');
    if (verb === 'advance') {
      this.legacy?.begin();
      this.m.advance(parseDuration(arg));
      return;
    }
    if (this.legacy?.run(verb, arg)) return;
    const name = arg ?? this.src.id;
    const pin = this.src.pin ?? 0;
    switch (verb) {
      case 'signal': {
        const physical = this.hostDevice();
        if (physical !== null) {
          // The physical device raises the interrupt on the host; the VMM carries it to the guest.
          if (this.src.embedded || this.src.kind === 'ims') {
            this.sys!.host.events.beginFlow();
            physical.fn.embedded!.fire(this.src.vector ?? 0);
          } else {
            physical.signal(this.src.vector ?? 0);
          }
          return;
        }
        const device = this.m.device(this.src.device!);
        if (this.src.kind === 'ims') {
          this.m.events.beginFlow();
          device.fn.embedded!.fire(this.src.vector ?? 0);
          return;
        }
        const embedded = this.src.embeddedMessage;
        if (embedded === undefined) {
          device.signal(this.src.vector ?? 0);
        } else {
          // The device's embedded controller writes the message it was given, bypassing its MSI capability.
          const msg = embedded === 'from-msi-capability' ? this.programmed.message : embedded;
          if (msg) device.dmaWrite(msg.addr, msg.data);
        }
        return;
      }
      case 'pulse':
        this.m.ioapic.pulse(pin);
        return;
      case 'raise':
        if (this.raised.size === 0) this.setLevel(pin, true);
        this.raised.add(name);
        return;
      case 'lower':
        this.raised.delete(name);
        if (this.raised.size === 0) this.setLevel(pin, false);
        return;
      case 'ack': {
        const cpu = this.takenCpu();
        if (cpu === null) return;
        const vector = this.m.cpu(cpu).acknowledge();
        if (vector !== null) this.acked.push({ cpu, vector });
        return;
      }
      case 'eoi': {
        const last = this.acked.pop();
        if (last) this.guest.endOfInterrupt(last.cpu, last.vector);
        return;
      }
      case 'handle':
        this.run('ack');
        this.run('eoi');
        return;
      case 'retarget':
      case 'retarget-stale': {
        const cpu = Number(name);
        this.previous = this.programmed;
        this.programmed = this.linux(step).retargetInterrupt(this.programmed, cpu, { invalidate: verb === 'retarget' });
        this.linux(step).recordInterrupt(this.programmed);
        return;
      }
      case 'release':
        this.linux(step).releaseIrte(this.programmed);
        return;
      case 'deschedule':
      case 'preempt':
      case 'resume':
        // The vCPU the source targets blocks in HLT (deschedule), is preempted while runnable, or runs again.
        if (this.sys === null) throw new UsageError(`step "${step}" needs a two-machine scenario`);
        this.sys.vcpu(this.programmed.cpu).state = verb === 'resume' ? 'running' : verb === 'preempt' ? 'preempted' : 'blocked';
        return;
      case 'migrate':
        // The host scheduler moves the source's target vCPU to host CPU N.
        if (this.sys === null) throw new UsageError(`step "${step}" needs a two-machine scenario`);
        this.sys.vcpu(this.programmed.cpu).moveTo(Number(name));
        return;
      case 'mask':
      case 'unmask':
        this.setMask(verb === 'mask');
        return;
      case 'cpu-offline':
      case 'cpu-online': {
        // The guest's CPU hotplug; the source's descriptor follows what the OS did to it.
        const linux = this.linux(step);
        if (verb === 'cpu-offline') offlineCpu(linux, Number(name));
        else onlineCpu(linux, Number(name));
        const now = linux.programmedInterrupts().find((p) => p.request.id === this.src.id);
        if (now !== undefined) this.programmed = now;
        return;
      }
      case 'apic-id':
      case 'ldr': {
        // CPU C stores into its xAPIC ID (bits 31:24) or LDR (bits 31:24) register.
        const [, c, value] = step.split(' ');
        this.m.cpu(Number(c)).write32(Number(APIC_BASE_DEFAULT_ADDRESS) + (verb === 'apic-id' ? APIC_ID : APIC_LDR), (Number(value) << 24) >>> 0);
        return;
      }
      case 'x2apic':
        // Every CPU sets IA32_APIC_BASE.EXTD (xAPIC → x2APIC: the ID becomes the initial APIC ID, the LDR is derived).
        for (let c = 0; c < this.m.cpuCount; c++) {
          const cpu = this.m.cpu(c);
          cpu.wrmsr(MSR_IA32_APIC_BASE, cpu.rdmsr(MSR_IA32_APIC_BASE) | APIC_BASE_EXTD);
        }
        return;
      case 'invalidate-iec': {
        const other = this.others.get(name);
        if (other?.irteIndex === undefined) throw new UsageError(`step "${step}": source "${name}" has no IRTE`);
        this.linux(step).invalidateInterruptEntry(other.irteIndex);
        return;
      }
    }
  }

  /**
   * A pin's level: driven at the I/O APIC, or — for a pin that names its INTx device — the device's interrupt
   * condition (Status.Interrupt Status), the physical device's for an assigned one, which drives the pin through its
   * INTx# wire (or, assigned, through vfio-pci and KVM).
   */
  private setLevel(pin: number, asserted: boolean): void {
    if (this.src.device === undefined) {
      if (asserted) this.m.ioapic.assert(pin);
      else this.m.ioapic.deassert(pin);
      return;
    }
    const device = this.hostDevice() ?? this.m.device(this.src.device);
    device.fn.setIntx(asserted);
  }

  /**
   * The guest's own store to the source's mask bit: MSI-X vector control bit 0, the MSI per-vector Mask bit, or for
   * an INTx device, Command.Interrupt Disable.
   */
  private setMask(masked: boolean): void {
    if (this.src.kind === 'ioapic') {
      if (this.src.device === undefined) throw new UsageError(`step "${masked ? 'mask' : 'unmask'}": a pin without its INTx device has no mask bit here (name the device)`);
      const fn = this.m.device(this.src.device);
      const command = fn.configRead(PCI_COMMAND, 2);
      fn.configWrite(PCI_COMMAND, 2, masked ? command | PCI_COMMAND_INTX_DISABLE : command & ~PCI_COMMAND_INTX_DISABLE);
      return;
    }
    const device = this.m.device(this.src.device!);
    const k = this.src.vector ?? 0;
    if (this.src.kind === 'msix') {
      const cap = readMsixCap(device)!;
      const at = barBase(device, cap.tableBir) + cap.tableOffset + k * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CTRL;
      this.m.cpu(0).write32(at, masked ? MSIX_ENTRY_CTRL_MASKBIT : 0);
      return;
    }
    const cap = readMsiCap(device);
    if (cap === null || !cap.maskable) throw new UsageError(`step "${masked ? 'mask' : 'unmask'}": ${this.src.device} has no MSI per-vector masking`);
    const at = cap.offset + (cap.is64 ? MSI_MASK_64 : MSI_MASK_32);
    const mask = device.configRead(at, 4) >>> 0;
    device.configWrite(at, 4, (masked ? mask | (1 << k) : mask & ~(1 << k)) >>> 0);
  }

  /** Let the guest take whatever is still pending on the CPUs this source (or the IOMMU's fault event) reached. */
  drain(): void {
    this.legacy?.drain();
    const cpus = new Set([...this.obs.deliveries, ...this.obs.iommuInterrupts].map((d) => d.cpu));
    for (const cpu of cpus) {
      for (let i = 0; i < STORM_LIMIT; i++) if (this.guest.handleInterrupt(cpu) === null) break;
    }
    // Leave every line the way it started.
    if (this.raised.size > 0) {
      this.raised.clear();
      this.setLevel(this.src.pin ?? 0, false);
    }
  }
}

function describeDmaExpectation(e: DmaExpectation): string {
  if (e.kind === 'memory') return 'lands in the mapped buffer';
  if (e.kind === 'interrupt') return 'taken as an interrupt request (never memory)';
  return `blocked with ${e.unit} fault 0x${e.code.toString(16)}`;
}

/**
 * Map the buffer (through the guest's DMA API), let the device write, and see what became of the write — from the
 * machine's own counters and events: the buffer holds the value, the bus took it as an interrupt request (delivered,
 * remapped, blocked or lost as one), or the IOMMU blocked it as DMA and recorded a fault.
 */
function runDma(m: Machine, guest: GuestOs, d: ScenarioDma, exp: DmaExpectation): DmaResult {
  let physical: bigint | null = null;
  if (d.map !== 'none') {
    if (guest.mapDma === undefined) {
      return { request: d, physical, ok: false, expected: describeDmaExpectation(exp), actual: `the ${guest.os} model has no DMA API`, linuxLog: [], hops: [] };
    }
    const mapping = guest.mapDma(d.device, d.iova, { read: true, write: d.map === 'rw' });
    if (mapping.translated) physical = mapping.physical;
  }
  const faults: IommuFaultEvent[] = [];
  const onFault = (e: IommuFaultEvent): void => {
    faults.push(e);
  };
  m.events.on('iommu_fault', onFault);
  const st = m.bus.stats;
  const before = { memory: st.memoryWrites, blocked: st.dmaBlocked, interrupt: st.delivered + st.faulted + st.posted + st.noDestination + st.pirq };
  const dev = m.device(d.device);
  dev.configWrite(4, 2, dev.configRead(4, 2) | 4); // the driver has bus mastering on (pci_set_master)
  dev.dmaWrite(d.address, d.value);
  m.events.off('iommu_fault', onFault);
  const target = physical === null ? d.address : physical + (d.address - d.iova);
  let actual: string;
  let kind: DmaExpectation['kind'] | 'other';
  if (st.delivered + st.faulted + st.posted + st.noDestination + st.pirq > before.interrupt) {
    kind = 'interrupt';
    actual = `taken as an interrupt request${faults.length ? ` (${faults[0].unit} fault 0x${faults[0].code.toString(16)}: ${faults[0].name})` : ''}`;
  } else if (st.dmaBlocked > before.blocked) {
    kind = 'fault';
    actual = faults.length ? `blocked with ${faults[0].unit} fault 0x${faults[0].code.toString(16)} (${faults[0].name})${faults[0].recorded ? '' : `, not recorded: ${faults[0].suppressedBy}`}` : 'blocked';
  } else if (st.memoryWrites > before.memory && m.memory.read32(Number(target)) === d.value) {
    kind = 'memory';
    actual = `written to 0x${target.toString(16)}${physical === null ? '' : ` (the buffer behind IOVA 0x${d.iova.toString(16)})`}`;
  } else {
    kind = 'other';
    actual = 'went nowhere';
  }
  const ok = kind === exp.kind && (exp.kind !== 'fault' || faults.some((f) => f.unit === exp.unit && f.code === exp.code));
  return { request: d, physical, ok, expected: describeDmaExpectation(exp), actual, linuxLog: faults.map((f) => f.linuxLog), hops: [] };
}

export function runScenario(scenario: Scenario, options: RunOptions = {}): ScenarioResult {
  const started = performance.now();
  const result: ScenarioResult = {
    scenario,
    verdict: 'UNEXPECTED',
    machine: '',
    guest: `${scenario.guest.os}${scenario.guest.version ? ' ' + scenario.guest.version : ''}${scenario.guest.quirks ? ' ' + JSON.stringify(scenario.guest.quirks) : ''}`,
    bootLog: [],
    runtimeLog: [],
    decisions: {},
    onlineCpus: 0,
    checks: [],
    sources: [],
    faultLog: [],
    error: null,
    durationMs: 0,
  };
  try {
    // A two-machine scenario: the guest OS boots on the guest machine; the host runs the Linux model as its kernel.
    const sys = scenario.system === null ? null : createSystem(scenario.system);
    const m = sys === null ? createMachine(scenario.machine) : sys.guest;
    result.machine = sys === null ? describeMachine(m) : describeSystem(sys);
    const guest = createGuest(m, scenario.guest);

    let current: SourceObservation = emptyObservation();
    // Boot and set-up belong to no source, so what the machine does then is not kept (a 1,024-CPU boot accepts
    // about 4,000 IPIs); only its faults reach the fault log.
    let recording = false;
    let currentTrace: TraceHop[] | null = null;
    const iommuFlows = new Set<number>();
    m.events.on('iommu_interrupt', (e) => iommuFlows.add(e.flow));
    m.events.on('apic_accept', (e) => {
      if (!recording) return;
      // An ExtINT carries no vector: the CPU gets it from the 8259's INTA cycle, where legacy-sources.ts records it.
      if (e.deliveryMode === 7) return;
      const d = { cpu: e.cpu, apicId: e.apicId, vector: e.vector, deliveryMode: e.deliveryMode };
      if (iommuFlows.has(e.flow)) current.iommuInterrupts.push(d);
      else current.deliveries.push(d);
    });
    m.events.on('iommu_fault', (e) => {
      if (recording) current.faults.push(e);
      result.faultLog.push(e.linuxLog);
    });
    m.events.on('memory_write', (e) => recording && current.memoryWrites.push({ addr: e.addr, data: e.data }));
    m.events.on('xen_pirq', (e) => recording && current.pirqs.push(e.pirq));
    m.events.on('interrupt_lost', (e) => recording && current.lost.push(e.reason));
    // In a two-machine system each recorded hop is tagged with its machine (a copy: the hub's object is not ours).
    if (options.trace) m.events.on('hop', (h: TraceHop) => currentTrace?.push(sys === null ? h : { ...h, machine: 'guest' }));
    if (sys !== null) {
      // The host's side of each interrupt: its IOMMU's faults (the host dmesg lines of the "ath11k and vfio-pci support"
      // thread, 2024-01) and its hops.
      sys.host.events.on('iommu_fault', (e) => {
        if (recording) current.faults.push(e);
        result.faultLog.push(e.linuxLog);
      });
      sys.host.events.on('interrupt_lost', (e) => recording && current.lost.push(`host: ${e.reason}`));
      if (options.trace) sys.host.events.on('hop', (h: TraceHop) => currentTrace?.push({ ...h, machine: 'host' }));
    }

    guest.boot();
    result.bootLog = [...guest.log.lines];
    result.decisions = { ...guest.log.decisions };
    result.onlineCpus = guest.onlineCpus().length;

    const programmed = new Map<string, ProgrammedInterrupt>();
    for (const src of scenario.sources) {
      const p = src.kind === 'ims' ? setupIms(guest, m, src, sys) : isLegacyKind(src.kind) ? setupLegacySource(guest, m, src) : guest.setupInterrupt(src as InterruptRequest);
      programmed.set(src.id, p);
      if (src.embedded && p.status === 'programmed') {
        // The driver knows its chip's register layout: the device's embeddedMsi options.
        const device = m.device(src.device!);
        const controller = m.config.devices.find((d) => d.requesterId === device.requesterId)?.embeddedMsi;
        if (controller) copyMsiToEmbeddedController(m.cpu(0), device, controller, src.vector ?? 0);
      }
    }
    // Anything the machine did while the guest programmed it (e.g. boot-time faults) is not part of any source.
    current = emptyObservation();
    recording = true;

    for (const src of scenario.sources) {
      const obs = emptyObservation();
      current = obs;
      const hops: TraceHop[] = [];
      currentTrace = options.trace ? hops : null;
      const p = programmed.get(src.id)!;
      const stimulus = new Stimulus(m, guest, src, p, obs, sys, programmed);
      if (p.status === 'programmed') {
        for (const step of src.steps) stimulus.run(step);
        obs.held = stimulus.held();
        stimulus.drain();
        sys?.hostKernel.servicePending();
      }
      const exp = scenario.expect.sources[src.id];
      const verdict = judge(exp, stimulus.programmed, obs, programmed, stimulus.previous);
      result.sources.push({ source: src, programmed: stimulus.programmed, observed: obs, expectation: exp, ok: verdict.ok, expected: verdict.expected, actual: p.status === 'refused' ? `refused: ${p.note ?? ''}` : describeObservation(obs), hops, trace: hops.map(formatHop) });
    }
    currentTrace = null;
    if (scenario.dma.length > 0) {
      result.dma = scenario.dma.map((d) => {
        const hops: TraceHop[] = [];
        currentTrace = options.trace ? hops : null;
        const r = runDma(m, guest, d, scenario.expect.dma[d.id]);
        currentTrace = null;
        return { ...r, hops };
      });
      result.reservedRegions = [...new Set(scenario.dma.flatMap((d) => m.reservedRegions(d.device).map((r) => `${d.device}: ${r.line}`)))];
    }
    result.runtimeLog = guest.log.lines.slice(result.bootLog.length);

    if (scenario.expect.onlineCpus !== null) {
      result.checks.push({ what: 'CPUs online', ok: result.onlineCpus === scenario.expect.onlineCpus, detail: `expected ${scenario.expect.onlineCpus}, got ${result.onlineCpus}` });
    }
    for (const line of scenario.expect.faultLog) {
      const found = result.faultLog.includes(line) || result.runtimeLog.includes(line) || (sys?.hostKernel.log.includes(line) ?? false);
      result.checks.push({ what: `fault log shows "${line}"`, ok: found, detail: found ? 'present' : 'missing' });
    }
    if (sys !== null) {
      const counters = sys.vmm.counters;
      for (const [name, want] of Object.entries(scenario.expect.vmm)) {
        const got = counters[name as keyof typeof counters];
        result.checks.push({ what: `VMM ${name}`, ok: got === want, detail: `expected ${want}, got ${got}` });
      }
      result.vmmRoutes = sys.vmm.routes();
      result.vmmCounters = { ...counters };
      result.hostLog = [...sys.hostKernel.log];
    }
    for (const fragment of scenario.expect.bootLog) {
      result.checks.push({ what: `boot log shows "${fragment}"`, ok: guest.log.has(fragment), detail: guest.log.has(fragment) ? 'present' : 'missing' });
    }
    const allOk = result.checks.every((c) => c.ok) && result.sources.every((s) => s.ok) && (result.dma ?? []).every((d) => d.ok);
    result.verdict = allOk ? (scenario.expect.verdict === 'reproduced' ? 'REPRODUCED' : 'FIXED') : 'UNEXPECTED';
  } catch (e) {
    result.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    result.verdict = 'UNEXPECTED';
  }
  result.durationMs = performance.now() - started;
  return result;
}
