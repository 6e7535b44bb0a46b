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
import { VMM_PROFILES } from './profiles.ts';
import { resolveSystemConfig, type ResolvedSystemConfig, type SystemConfig } from './system-config.ts';
import type { Vcpu } from './vcpu.ts';
import { Vmm } from './vmm.ts';
import { applyProfile } from './profile-hooks.ts';

export class System {
  readonly config: ResolvedSystemConfig;
  readonly host: Machine;
  readonly guest: Machine;
  readonly vmm: Vmm;
  readonly hostKernel: HostKernel;
  /** The hypothetical native-remap IOMMU mode, when `vmm.nativeRemapBySourceId` is on. */
  nativeRemap: NativeRemapBySourceId | null = null;

  constructor(config: SystemConfig, bootHostKernel: (host: Machine) => HostKernel) {
    const resolved = resolveSystemConfig(config);
    this.config = resolved;
    this.host = new Machine(resolved.host);
    this.hostKernel = bootHostKernel(this.host);
    const profile = VMM_PROFILES[resolved.vmm.profile];
    const vmm = new Vmm(resolved, profile, this.host, this.hostKernel);
    this.vmm = vmm;
    const byRid = new Map(resolved.assigned.map((a) => [a.guestRid, a]));
    const host = this.host;
    this.guest = new Machine(resolved.guest, {
      functionFor: (d, dma, events) => {
        const a = byRid.get(d.requesterId);
        if (a === undefined) return null;
        const physical = host.device(a.hostBdf);
        const physicalConfigRead = resolved.vmm.msiNoVirt ? (offset: number, size: number) => physical.configRead(offset, size as 1 | 2 | 4) : null;
        // The physical function's memory BARs are mapped into the guest (vfio-pci region mmap), through a quirk
        // where one applies; the MSI-X table BAR stays virtual (the stand-in's own).
        const { embeddedMsi, ...identity } = d;
        const bars: { index: number; size: number; mmio: AssignedBar | ImsTrapBar }[] = [];
        let fn: AssignedFunction | null = null;
        if (embeddedMsi !== undefined) {
          const index = embeddedMsi.bar ?? 0;
          const bar = physical.fn.bars.find((b) => b.index === index)!;
          if (resolved.vmm.quirks.includes('ims-trap')) {
            bars.push({ index, size: bar.size, mmio: new ImsTrapBar(bar.mmio, embeddedMsi.registers, a.guestBdf, vmm) });
          } else {
            const quirk = resolved.vmm.quirks.includes('ath-bar0') ? athQuirkWindow(d.vendorId, d.deviceId) : null;
            const mmio = new AssignedBar(bar.mmio, quirk, () => ({ virtual: fn!, physical: physical.fn }));
            vmm.assignedBars.set(a.guestBdf, mmio);
            bars.push({ index, size: bar.size, mmio });
          }
        }
        fn = new AssignedFunction({ ...identity, bars, physicalConfigRead }, dma, events, vmm);
        return fn;
      },
    });
    applyProfile(profile, this.guest);
    vmm.attach(this.guest);
    if (resolved.vmm.nativeRemapBySourceId) this.installNativeRemap();
    for (let c = 0; c < this.host.cpuCount; c++) {
      const kernel = this.hostKernel;
      this.host.cpu(c).lapic.interruptEntry = (vector) => {
        kernel.interrupt(c, vector);
      };
    }
  }

  /**
   * The hypothetical host IOMMU mode of LKML, 2020-11-08 (vmm.nativeRemapBySourceId): put it in front of the host's unit and fill
   * one table per assigned device's host requester ID with the guest's APIC IDs.
   */
  private installNativeRemap(): void {
    const unit = this.host.core.remapper;
    if (unit === null) throw new ConfigError('vmm.nativeRemapBySourceId', 'the host machine has no interrupt remapper to extend');
    const front = new NativeRemapBySourceId(unit, this.guest.apicBus, this.guest.events, this.host.events, this.vmm.counters);
    for (const a of this.config.assigned) front.assign(a.hostRid, this.guest.config.apicIds);
    this.host.core.remapper = front;
    this.nativeRemap = front;
  }

  /** Guest vCPU i (its scheduling state and, with posting, its descriptor). */
  vcpu(i: number): Vcpu {
    const v = this.vmm.vcpus[i];
    if (v === undefined) throw new UsageError(`vcpu(${i}): the guest has vCPUs 0..${this.vmm.vcpus.length - 1}`);
    return v;
  }
}

export function buildSystem(config: SystemConfig, bootHostKernel: (host: Machine) => HostKernel): System {
  if (typeof bootHostKernel !== 'function') throw new ConfigError('hostKernel', 'a system needs a host kernel');
  return new System(config, bootHostKernel);
}
