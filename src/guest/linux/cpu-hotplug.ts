/**
 * CPU hotplug in the Linux model: a CPU going offline takes none of its interrupts with it, and one coming back gets
 * its managed interrupts back.
 *
 * Offline (`echo 0 > /sys/devices/system/cpu/cpuN/online`): the dying CPU leaves the online mask, then
 * `fixup_irqs` → `irq_migrate_all_off_this_cpu` runs `migrate_one_irq` on every interrupt whose effective affinity is
 * that CPU (kernel/irq/cpuhotplug.c):
 * - the new affinity is its affinity mask's online CPUs; if none is left, a managed interrupt is shut down
 *   (`irq_shutdown_and_deactivate`: masked, its message or remapping entry deactivated) and everything else "breaks
 *   affinity" to all online CPUs (pr_debug "IRQ %u: no longer affine to CPU%u");
 * - `irq_do_set_affinity` then picks the CPU with the fewest vectors in the mask (matrix_find_best_cpu), allocates a
 *   vector there and reprograms the source: under interrupt remapping the source keeps its message and its IRTE is
 *   rewritten and invalidated (intel_ir_set_affinity / amd_ir_set_affinity); otherwise the MSI / MSI-X message or the
 *   I/O APIC RTE is rewritten with the new destination and vector (msi_set_affinity, ioapic_set_affinity).
 * Then `fixup_irqs` looks at the dying CPU's IRR: a moved interrupt whose old vector is still pending there is
 * retriggered (`irq_retrigger` → `apic_retrigger_irq`: an IPI with the interrupt's new vector to its new CPU), so an
 * interrupt that arrived just before the move is not lost. Then "smpboot: CPU N is now offline".
 *
 * Online: the CPU rejoins the online mask and `irq_affinity_online_cpu` → `irq_restore_affinity_of_irq` starts
 * every managed interrupt whose affinity includes it again on it (irq_startup: activated with a vector there, then
 * unmasked). Interrupts that were merely moved stay where they went.
 *
 * Each hop is traced on the machine: `irqpath_migrate_one_irq` (irq, from, to, how), `irqpath_irq_shutdown`,
 * `irqpath_irq_startup`, besides the hops of the register writes themselves.
 */
import { UsageError } from '../../core/errors.ts';
import type { ProgrammedInterrupt } from '../guest-os.ts';
import { barBase, readMsiCap, readMsixCap } from '../pci-msi-setup.ts';
import { ioapicReadRte, ioapicWriteRte } from '../ioapic-access.ts';
import { MSIX_ENTRY_CTRL_MASKBIT, MSIX_ENTRY_SIZE, MSIX_ENTRY_VECTOR_CTRL } from '../../pci/msix-capability.ts';
import { MSI_MASK_32, MSI_MASK_64 } from '../../pci/msi-capability.ts';
import { RTE_MASK } from '../../msi/formats/ioapic-rte.ts';
import type { LinuxGuest } from './linux-guest.ts';
import { testVector } from '../../apic/lapic.ts';
import { sendIpi } from '../smp-bringup.ts';

/** What happened to one interrupt when a CPU went offline or came online. */
export interface HotplugMove {
  id: string;
  from: { cpu: number; vector: number };
  /** null: shut down (a managed interrupt with no online CPU left in its affinity). */
  to: { cpu: number; vector: number } | null;
  /** How it was reprogrammed: its IRTE, its MSI/MSI-X message, its RTE; or shut down / started up. */
  how: 'irte' | 'message' | 'rte' | 'shutdown' | 'startup';
}

/** Managed interrupts shut down by an offline, per guest (kept until a CPU of their affinity comes back). */
const shutDown = new WeakMap<LinuxGuest, ProgrammedInterrupt[]>();

function affinityOf(p: ProgrammedInterrupt): number[] {
  return p.request.affinity ?? [p.request.cpu];
}

/** Take CPU `cpu` of a booted Linux guest offline, moving its interrupts. Returns what moved, in irq order. */
export function offlineCpu(linux: LinuxGuest, cpu: number): HotplugMove[] {
  const online = linux.onlineCpus();
  if (!Number.isInteger(cpu) || !online.includes(cpu)) throw new UsageError(`offlineCpu(${String(cpu)}): CPU ${String(cpu)} is not online (online: ${online.join(', ')})`);
  if (cpu === 0) throw new UsageError('offlineCpu(0): the boot CPU cannot go offline here (CONFIG_BOOTPARAM_HOTPLUG_CPU0 is off)');
  linux.setCpuOnline(cpu, false);
  const moves: HotplugMove[] = [];
  const events = linux.machine.events;
  const dying = linux.machine.cpu(cpu);
  const retrigger: ProgrammedInterrupt[] = [];
  for (const p of linux.programmedInterrupts()) {
    if (p.cpu !== cpu || p.status !== 'programmed') continue;
    const left = affinityOf(p).filter((c) => linux.onlineCpus().includes(c));
    if (left.length === 0 && p.request.managed === true) {
      shutdownIrq(linux, p);
      moves.push({ id: p.request.id, from: { cpu, vector: p.vector }, to: null, how: 'shutdown' });
      if (events.active) events.hop('irqpath_irq_shutdown', [['irq', p.request.id], ['cpu', cpu]]);
      continue;
    }
    if (left.length === 0) linux.log.print(`IRQ ${p.request.id}: no longer affine to CPU${cpu}`);
    const to = linux.pickCpu(left.length > 0 ? left : linux.onlineCpus());
    const pending = testVector(dying.lapic.irr, p.vector);
    const { next, how } = reprogram(linux, p, to);
    if (pending) retrigger.push(next);
    moves.push({ id: p.request.id, from: { cpu, vector: p.vector }, to: { cpu: next.cpu, vector: next.vector }, how });
    if (events.active) events.hop('irqpath_migrate_one_irq', [['irq', p.request.id], ['from', cpu], ['to', next.cpu], ['vector', next.vector], ['how', how]]);
  }
  // fixup_irqs: what was still pending in the dying CPU's IRR is sent again, with its new vector, to its new CPU.
  for (const next of retrigger) {
    if (events.active) events.hop('irqpath_irq_retrigger', [['irq', next.request.id], ['cpu', next.cpu], ['vector', next.vector]]);
    sendIpi(dying, next.apicId, next.vector);
  }
  linux.log.print(`smpboot: CPU ${cpu} is now offline`);
  return moves;
}

/** Bring CPU `cpu` back online: its managed interrupts start again on it. */
export function onlineCpu(linux: LinuxGuest, cpu: number): HotplugMove[] {
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= linux.machine.cpuCount) throw new UsageError(`onlineCpu(${String(cpu)}): the machine has CPUs 0..${linux.machine.cpuCount - 1}`);
  if (linux.onlineCpus().includes(cpu)) throw new UsageError(`onlineCpu(${cpu}): CPU ${cpu} is already online`);
  linux.setCpuOnline(cpu, true);
  linux.log.print(`smpboot: Booting Node 0 Processor ${cpu} APIC 0x${linux.machine.firmware.madt.apicIds[cpu].toString(16)}`);
  const moves: HotplugMove[] = [];
  const waiting = shutDown.get(linux) ?? [];
  const events = linux.machine.events;
  for (const p of [...waiting]) {
    if (!affinityOf(p).includes(cpu)) continue;
    waiting.splice(waiting.indexOf(p), 1);
    const { next } = reprogram(linux, p, cpu);
    unmask(linux, next);
    moves.push({ id: p.request.id, from: { cpu: p.cpu, vector: p.vector }, to: { cpu: next.cpu, vector: next.vector }, how: 'startup' });
    if (events.active) events.hop('irqpath_irq_startup', [['irq', p.request.id], ['cpu', next.cpu], ['vector', next.vector]]);
  }
  return moves;
}

/** irq_do_set_affinity: a vector on `to`, and the source told of it the way this kernel programs it. */
function reprogram(linux: LinuxGuest, p: ProgrammedInterrupt, to: number): { next: ProgrammedInterrupt; how: HotplugMove['how'] } {
  const r = p.request;
  if (p.irteIndex !== undefined && r.kind !== 'ioapic') {
    // Remapped: the device keeps its message; the IRTE is rewritten and its cache entry invalidated.
    const next = linux.retargetInterrupt(p, to, { invalidate: true });
    linux.recordInterrupt(next);
    return { next, how: 'irte' };
  }
  // The message (or RTE) is composed again for the new CPU and written to the source.
  const next = linux.setupInterrupt({ ...r, cpu: to, affinity: undefined });
  if (next.status !== 'programmed') throw new UsageError(`CPU hotplug: ${r.id} could not be moved to CPU ${to}: ${next.note ?? 'refused'}`);
  // setupInterrupt recorded it under the same source; keep the driver's affinity mask in the descriptor.
  const kept = { ...next, request: r };
  linux.recordInterrupt(kept);
  return { next: kept, how: r.kind === 'ioapic' ? 'rte' : 'message' };
}

/** irq_shutdown_and_deactivate: mask the source, and take its remapping entry down. */
function shutdownIrq(linux: LinuxGuest, p: ProgrammedInterrupt): void {
  mask(linux, p, true);
  if (p.irteIndex !== undefined && p.request.kind !== 'ioapic') linux.releaseIrte(p);
  let waiting = shutDown.get(linux);
  if (waiting === undefined) shutDown.set(linux, (waiting = []));
  waiting.push(p);
}

function unmask(linux: LinuxGuest, p: ProgrammedInterrupt): void {
  mask(linux, p, false);
}

/** The source's own mask: MSI-X vector control, MSI per-vector Mask (when the function has it), the RTE's mask. */
function mask(linux: LinuxGuest, p: ProgrammedInterrupt, masked: boolean): void {
  const m = linux.machine;
  const r = p.request;
  const cpu = m.cpu(0);
  if (r.kind === 'ioapic') {
    const base = m.firmware.madt.ioapic.address;
    const rte = ioapicReadRte(cpu, base, r.pin!);
    ioapicWriteRte(cpu, base, r.pin!, masked ? rte | BigInt(RTE_MASK) : rte & ~BigInt(RTE_MASK));
    return;
  }
  const dev = m.device(r.device!);
  const k = r.vector ?? 0;
  if (r.kind === 'msix') {
    const cap = readMsixCap(dev)!;
    const at = barBase(dev, cap.tableBir) + cap.tableOffset + k * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CTRL;
    const ctrl = cpu.read32(at);
    cpu.write32(at, masked ? (ctrl | MSIX_ENTRY_CTRL_MASKBIT) >>> 0 : (ctrl & ~MSIX_ENTRY_CTRL_MASKBIT) >>> 0);
    return;
  }
  const cap = readMsiCap(dev);
  if (cap === null || !cap.maskable) return; // an MSI without per-vector masking cannot be masked at the device
  const at = cap.offset + (cap.is64 ? MSI_MASK_64 : MSI_MASK_32);
  const bits = dev.configRead(at, 4) >>> 0;
  dev.configWrite(at, 4, (masked ? bits | (1 << k) : bits & ~(1 << k)) >>> 0);
}
