/**
 * A two-machine system: a host machine (physical CPUs, the physical IOMMU, the real PCI devices), a guest machine
 * (vCPUs, optionally a vIOMMU) whose assigned devices are stand-ins, and the VMM joining them. `sys.host` and
 * `sys.guest` are ordinary Machines; only the VMM sees both.
 *
 * The host kernel (vfio-pci and the kernel's MSI / interrupt-remapping code) is supplied by the caller: the public
 * `createSystem` (src/guest/create-system.ts) boots the Linux model on the host for it.
 */
import { ConfigError } from '../core/errors.ts';
import { UsageError } from '../core/errors.ts';
import { Machine } from '../machine/machine.ts';
import { AssignedFunction } from './assigned-function.ts';
import { AssignedBar, athQuirkWindow } from './ath-bar0-quirk.ts';
import { ImsTrapBar } from './ims-trap.ts';
import { NativeRemapBySourceId } from './native-remap-by-source-id.ts';
import type { HostKernel } from './host-kernel.ts';
import type { InterruptRemapper } from '../msi/remapper.ts';
import type { EventHub } from '../core/events.ts';
import { VMM_PROFILES } from './profiles.ts';
import { resolveSystemConfig, type ResolvedSystemConfig, type SystemConfig } from './system-config.ts';
import type { Vcpu } from './vcpu.ts';
import { Vmm } from './vmm.ts';
import { checkVmmState, type VmmState } from './vmm-state.ts';
import type { MachineSnapshot } from '../machine/snapshot.ts';
import { qemuVtdFrontFor } from './qemu-vtd-front.ts';

export class System {
  readonly config: ResolvedSystemConfig;
  readonly host: Machine;
  readonly guest: Machine;
  readonly vmm: Vmm;
  readonly hostKernel: HostKernel;
  /** The hypothetical native-remap IOMMU mode, when `hypothetical.nativeRemapBySourceId` is on. */
  nativeRemap: NativeRemapBySourceId | null = null;


  constructor(config: SystemConfig, bootHostKernel: (host: Machine) => HostKernel) {
    const resolved = resolveSystemConfig(config);
    this.config = resolved;
    // The host kernel takes every interrupt its CPUs accept (set as the host machine is assembled; it boots after).
    let kernel: HostKernel | null = null;
    this.host = new Machine(resolved.host, {
      interruptEntry: (cpu, vector) => {
        kernel?.interrupt(cpu, vector);
      },
      remapperFront: resolved.hypothetical.nativeRemapBySourceId ? (unit, parts) => this.nativeRemapFront(unit, parts.events) : undefined,
    });
    kernel = bootHostKernel(this.host);
    this.hostKernel = kernel;
    const profile = VMM_PROFILES[resolved.vmm.profile];
    const vmm = new Vmm(resolved, profile, this.host, this.hostKernel);
    this.vmm = vmm;
    const byRid = new Map(resolved.assigned.map((a) => [a.guestRid, a]));
    const host = this.host;
    this.guest = new Machine(resolved.guest, {
      remapperFront: qemuVtdFrontFor(profile),
      interruptEntriesInvalidated: () => vmm.interruptEntriesInvalidated(),
      functionFor: (d, dma, events) => {
        const a = byRid.get(d.requesterId);
        if (a === undefined) return null;
        const physical = host.device(a.hostBdf);
        const physicalConfig = {
          configRead: (offset: number, size: number) => physical.configRead(offset, size as 1 | 2 | 4),
          configWrite: (offset: number, size: number, value: number) => physical.fn.configWrite(offset, size, value),
        };
        // The physical function's memory BARs are mapped into the guest (vfio-pci region mmap), through a quirk
        // where one applies; the MSI-X table BAR stays virtual (the stand-in's own).
        const { embeddedMsi, ...identity } = d;
        const bars: { index: number; size: number; mmio: AssignedBar | ImsTrapBar }[] = [];
        let fn: AssignedFunction | null = null;
        if (embeddedMsi !== undefined) {
          const index = embeddedMsi.bar ?? 0;
          const bar = physical.fn.bars.find((b) => b.index === index)!;
          if (resolved.vmm.imsTrap) {
            bars.push({ index, size: bar.size, mmio: new ImsTrapBar(bar.mmio, embeddedMsi.registers, a.guestBdf, vmm) });
          } else {
            const quirk = resolved.vmm.athBar0Quirk ? athQuirkWindow(d.vendorId, d.deviceId) : null;
            const mmio = new AssignedBar(bar.mmio, quirk, () => ({ virtual: fn!, physical: physical.fn }));
            vmm.assignedBars.set(a.guestBdf, mmio);
            bars.push({ index, size: bar.size, mmio });
          }
        }
        fn = new AssignedFunction({ ...identity, bars, physical: physicalConfig, msiNoVirt: resolved.vmm.msiNoVirt }, dma, events, vmm);
        return fn;
      },
    });
    vmm.attach(this.guest);
    // The guest exists now: the hypothetical host IOMMU mode can fill its per-source-id tables.
    if (this.nativeRemap !== null) {
      this.nativeRemap.attachGuest(this.guest.apicBus, this.guest.events, vmm.counters);
      for (const a of this.config.assigned) this.nativeRemap.assign(a.hostRid, this.guest.config.apicIds);
    }
  }

  /**
   * The hypothetical host IOMMU mode of LKML, 2020-11-08 (hypothetical.nativeRemapBySourceId), put in front of the host's unit while the
   * host machine is assembled.
   */
  private nativeRemapFront(unit: InterruptRemapper, hostEvents: EventHub): InterruptRemapper {
    const front = new NativeRemapBySourceId(unit, hostEvents);
    this.nativeRemap = front;
    return front;
  }

  /**
   * A snapshot of the whole system: both machines (machine.snapshot()), and the VMM's routes, GSIs, posting and vCPU
   * scheduling state. The host kernel and guest OS models are not in it: a snapshot restores only while the host
   * kernel has allocated no vector since it was taken (restore refuses otherwise), and the guest OS model is the
   * caller's, as with a machine snapshot.
   */
  snapshot(): SystemSnapshot {
    return { version: SYSTEM_SNAPSHOT_VERSION, host: this.host.snapshot(), guest: this.guest.snapshot(), vmm: this.vmm.saveState() };
  }

  /**
   * Put the system back into a snapshot's state (the live object or its JSON). Everything is checked first; a
   * snapshot refused at any point leaves the system as it was (UsageError naming what was wrong).
   */
  restore(snapshot: SystemSnapshot): void {
    if (typeof snapshot !== 'object' || snapshot === null || Array.isArray(snapshot)) throw new UsageError('system snapshot: expected an object from sys.snapshot()');
    for (const k of Object.keys(snapshot)) if (!['version', 'host', 'guest', 'vmm'].includes(k)) throw new UsageError(`system snapshot: ${k} is not a field of a system snapshot`);
    if (snapshot.version !== SYSTEM_SNAPSHOT_VERSION) throw new UsageError(`system snapshot: version ${JSON.stringify(snapshot.version)} is not supported (expected ${SYSTEM_SNAPSHOT_VERSION})`);
    const vmmState = checkVmmState(snapshot.vmm, this.vmm.stateShape());
    if (vmmState.hostAllocations !== this.hostKernel.allocations) {
      throw new UsageError(`system snapshot: the host kernel has allocated ${this.hostKernel.allocations - vmmState.hostAllocations} vector(s) since it was taken; the host kernel model is not part of a snapshot, so it restores only onto the host kernel as it was`);
    }
    const before = this.snapshot();
    this.vmm.beginRestore();
    try {
      this.host.restore(snapshot.host);
      this.guest.restore(snapshot.guest);
    } catch (e) {
      this.host.restore(before.host);
      this.guest.restore(before.guest);
      this.vmm.applyState(before.vmm);
      throw e instanceof UsageError ? new UsageError(`system snapshot: ${e.message}`) : e;
    }
    this.vmm.applyState(vmmState);
  }

  /**
   * CPU hotplug on the host: host CPU `cpu` goes offline. The scheduler moves the vCPUs that ran (or would run) there
   * to the lowest-numbered CPU still online (sched_cpu_dying → migrate_tasks), and the host kernel moves the vfio
   * vectors bound to it (irq_migrate_all_off_this_cpu). Returns how many vectors moved.
   */
  offlineHostCpu(cpu: number): number {
    const online = this.hostKernel.onlineCpus();
    if (!Number.isInteger(cpu) || !online.includes(cpu)) throw new UsageError(`offlineHostCpu(${String(cpu)}): host CPU ${String(cpu)} is not online (online: ${online.join(', ')})`);
    if (online.length === 1) throw new UsageError(`offlineHostCpu(${cpu}): it is the last online host CPU`);
    const to = online.find((c) => c !== cpu)!;
    for (const v of this.vmm.vcpus) if (v.hostCpuIndex === cpu) v.moveTo(to);
    return this.hostKernel.offlineCpu(cpu);
  }

  /** Guest vCPU i (its scheduling state and, with posting, its descriptor). */
  vcpu(i: number): Vcpu {
    const v = this.vmm.vcpus[i];
    if (v === undefined) throw new UsageError(`vcpu(${i}): the guest has vCPUs 0..${this.vmm.vcpus.length - 1}`);
    return v;
  }
}

export const SYSTEM_SNAPSHOT_VERSION = 1;

export interface SystemSnapshot {
  version: typeof SYSTEM_SNAPSHOT_VERSION;
  host: MachineSnapshot;
  guest: MachineSnapshot;
  vmm: VmmState;
}

export function buildSystem(config: SystemConfig, bootHostKernel: (host: Machine) => HostKernel): System {
  if (typeof bootHostKernel !== 'function') throw new ConfigError('hostKernel', 'a system needs a host kernel');
  return new System(config, bootHostKernel);
}
