/**
 * The configuration of a two-machine system — a host, a guest and the VMM joining them — and its validation, in the
 * style of `createMachine`: every problem is a ConfigError naming the field path (`guest.assigned[0].host`,
 * `vmm.profile`), unknown fields are errors, and everything is checked before anything is built.
 */
import { parseBdf, formatBdf } from '../core/bdf.ts';
import type { DeviceOptions, MachineConfig } from '../core/config-types.ts';
import { ConfigError, UsageError } from '../core/errors.ts';
import { resolveConfig, type ResolvedConfig } from '../machine/config.ts';
import { resolveIntelOptions } from '../iommu-intel/options.ts';
import { resolveAmdOptions } from '../iommu-amd/options.ts';
import { VMM_PROFILE_NAMES, VMM_PROFILES, type VmmProfileName } from './profiles.ts';

/** One assigned device: the host's physical function `host` appears in the guest at `bdf`. */
export interface AssignedDeviceConfig {
  /** Guest PCI address of the stand-in, "bb:dd.f". */
  bdf: string;
  /** Host PCI address of the physical function (one of `host.devices`). */
  host: string;
}

export interface GuestMachineConfig extends MachineConfig {
  assigned?: AssignedDeviceConfig[];
}

/**
 * What the VMM does, one boolean per behaviour (all off by default) beside the profile that names the VMM being
 * modelled. Two of them are device quirks for assigned devices with their own interrupt storage:
 * - `athBar0Quirk`: QEMU's proposed vfio-pci quirk for Qualcomm ath11k/ath12k (kvm/qemu-devel, "[PATCH RFC/RFT] vfio/pci-quirks: Quirk for ath wireless", 2024-08-12,
 *   `vfio_probe_ath_bar0_quirk`):
 *   trap guest writes into the BAR0 window the driver uses for the device's embedded interrupt controller and
 *   substitute the host's physical MSI address and data (+ the multi-message offset).
 * - `imsTrap`: trap-and-translate for IMS (LKML 2020-11-08): the VMM knows the device's IMS table (its `embeddedMsi`
 *   registers), traps the guest's stores to it, builds a route from each guest message and stores the host's
 *   message in the physical entry — "trap and emulate the places in the device that program additional interrupt
 *   sources and do a full MSI-like flow to set them up in the kernel" (Jason Gunthorpe, kvm list, 2024-08-13).
 *
 * Older spellings are still read: `quirks: [ath-bar0, ims-trap]` for the two quirks, and `nativeRemapBySourceId`
 * here for what is now `hypothetical.nativeRemapBySourceId` (it is a host IOMMU mode, not a VMM behaviour).
 */
export interface VmmConfig {
  /** Which VMM's behaviours to model: 'hardware' (none: the VMM is invisible), 'qemu', 'qemu-amd-hack'. */
  profile: VmmProfileName;
  /**
   * Posted interrupts for assigned devices (KVM's `enable_apicv` with an IOMMU that can post): the host IRTE
   * points at the target vCPU's posted-interrupt descriptor (Intel VT-d PI) or AVIC backing page (AMD guest vAPIC)
   * instead of a host vector. Needs a host IOMMU that can post.
   */
  postedInterrupts?: boolean;
  /**
   * VFIO_DEVICE_FEATURE_PCI_MSI_NOVIRT as the issue frames the fix: the guest reads the host's physical MSI address
   * and data from the assigned device's MSI capability (writes are still trapped to build routes).
   */
  msiNoVirt?: boolean;
  /** Offer the paravirtual compose-MSI call for IMS (LKML 2020-11-08): `sys.vmm.composeMsi(...)`. */
  pvComposeMsi?: boolean;
  athBar0Quirk?: boolean;
  imsTrap?: boolean;
  /**
   * vfio-pci's module parameter `nointxmask`: do not mask an assigned device's INTx with Command.Interrupt Disable
   * (PCI 2.3); mask the host line instead, which then cannot be shared (vfio_pci_intrs.c `vdev->pci_2_3` false).
   */
  nointxmask?: boolean;
  /** @deprecated the older spelling of `athBar0Quirk` / `imsTrap`. */
  quirks?: ('ath-bar0' | 'ims-trap')[];
  /** @deprecated the older place of `hypothetical.nativeRemapBySourceId`. */
  nativeRemapBySourceId?: boolean;
}

/**
 * HYPOTHETICAL hardware, not VT-d or AMD-Vi, kept apart from the VMM so nobody mistakes it for a real option:
 * `nativeRemapBySourceId` is the IOMMU imagined on LKML 2020-11-08 that remaps a guest's native (compatibility-format) message by the
 * requester's source-id — the guest APIC ID in it is mapped to that guest's vCPU through a table the VMM fills for
 * each assigned device (src/vmm/native-remap-by-source-id.ts). Needs a host IOMMU.
 */
export interface HypotheticalHardwareConfig {
  nativeRemapBySourceId?: boolean;
}

export interface ResolvedVmmConfig {
  profile: VmmProfileName;
  postedInterrupts: boolean;
  msiNoVirt: boolean;
  pvComposeMsi: boolean;
  athBar0Quirk: boolean;
  imsTrap: boolean;
  nointxmask: boolean;
}

export interface SystemConfig {
  host: MachineConfig;
  guest: GuestMachineConfig;
  vmm: VmmConfig;
  hypothetical?: HypotheticalHardwareConfig;
}

export interface ResolvedAssignment {
  guestBdf: string;
  guestRid: number;
  hostBdf: string;
  hostRid: number;
  /** The host device's options: the stand-in copies its identity and capability layout. */
  device: DeviceOptions;
}

export interface ResolvedSystemConfig {
  host: MachineConfig;
  /** The guest machine's config with a stand-in device added for every assignment. */
  guest: MachineConfig;
  hostResolved: ResolvedConfig;
  guestResolved: ResolvedConfig;
  assigned: ResolvedAssignment[];
  vmm: ResolvedVmmConfig;
  hypothetical: Required<HypotheticalHardwareConfig>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rejectUnknown(o: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new ConfigError(`${path}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`);
}

function optionalBool(v: unknown, field: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new ConfigError(field, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Validate one machine's config (including its IOMMU options), naming fields below `prefix`. */
function resolveMachine(config: MachineConfig, prefix: string): ResolvedConfig {
  try {
    const resolved = resolveConfig(config);
    if (resolved.iommu?.kind === 'intel') resolveIntelOptions(resolved.iommu);
    else if (resolved.iommu?.kind === 'amd') resolveAmdOptions(resolved.iommu);
    return resolved;
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${prefix}.${e.field}`, e.reason);
    throw e;
  }
}

function bdfField(v: unknown, field: string): number {
  if (typeof v !== 'string') throw new ConfigError(field, `must be a PCI address "bb:dd.f", got ${JSON.stringify(v)}`);
  try {
    return parseBdf(v);
  } catch (e) {
    if (e instanceof UsageError) throw new ConfigError(field, e.message);
    throw e;
  }
}

export function resolveSystemConfig(config: SystemConfig): ResolvedSystemConfig {
  const raw = config as unknown;
  if (!isObject(raw)) throw new ConfigError('system', 'must be an object { host, guest, vmm }');
  for (const k of Object.keys(raw)) if (!['host', 'guest', 'vmm', 'hypothetical'].includes(k)) throw new ConfigError(k, 'unknown field (allowed: host, guest, vmm, hypothetical)');
  if (!isObject(raw.host)) throw new ConfigError('host', 'must be a machine config object');
  if (!isObject(raw.guest)) throw new ConfigError('guest', 'must be a machine config object with an `assigned` list');
  if (!isObject(raw.vmm)) throw new ConfigError('vmm', 'must be an object { profile, ... }');

  const host = raw.host as unknown as MachineConfig;
  const hostResolved = resolveMachine(host, 'host');

  // --- vmm
  const vmmRaw = raw.vmm;
  rejectUnknown(vmmRaw, ['profile', 'postedInterrupts', 'msiNoVirt', 'pvComposeMsi', 'athBar0Quirk', 'imsTrap', 'nointxmask', 'quirks', 'nativeRemapBySourceId'], 'vmm');
  const profile = vmmRaw.profile;
  if (typeof profile !== 'string' || !(VMM_PROFILE_NAMES as readonly string[]).includes(profile)) {
    throw new ConfigError('vmm.profile', `must be one of ${VMM_PROFILE_NAMES.join(', ')}, got ${JSON.stringify(profile)}`);
  }
  const postedInterrupts = optionalBool(vmmRaw.postedInterrupts, 'vmm.postedInterrupts');
  const msiNoVirt = optionalBool(vmmRaw.msiNoVirt, 'vmm.msiNoVirt');
  const pvComposeMsi = optionalBool(vmmRaw.pvComposeMsi, 'vmm.pvComposeMsi');
  const nointxmask = optionalBool(vmmRaw.nointxmask, 'vmm.nointxmask');
  let athBar0Quirk = optionalBool(vmmRaw.athBar0Quirk, 'vmm.athBar0Quirk');
  let imsTrap = optionalBool(vmmRaw.imsTrap, 'vmm.imsTrap');
  if (vmmRaw.quirks !== undefined) {
    // The older spelling: a list of quirk names.
    if (!Array.isArray(vmmRaw.quirks)) throw new ConfigError('vmm.quirks', 'must be a list of quirk names (ath-bar0, ims-trap); the current spelling is vmm.athBar0Quirk / vmm.imsTrap: true');
    const seen = new Set<string>();
    vmmRaw.quirks.forEach((q, i) => {
      if (q !== 'ath-bar0' && q !== 'ims-trap') throw new ConfigError(`vmm.quirks[${i}]`, `unknown quirk ${JSON.stringify(q)} (known: ath-bar0, ims-trap; the current spelling is vmm.athBar0Quirk / vmm.imsTrap: true)`);
      if (seen.has(q)) throw new ConfigError(`vmm.quirks[${i}]`, `"${q}" is listed twice`);
      seen.add(q);
      if (q === 'ath-bar0') athBar0Quirk = true;
      else imsTrap = true;
    });
  }
  const hypoRaw = raw.hypothetical;
  if (hypoRaw !== undefined && !isObject(hypoRaw)) throw new ConfigError('hypothetical', 'must be an object { nativeRemapBySourceId }');
  if (hypoRaw !== undefined) rejectUnknown(hypoRaw, ['nativeRemapBySourceId'], 'hypothetical');
  const nativeField = vmmRaw.nativeRemapBySourceId !== undefined ? 'vmm.nativeRemapBySourceId' : 'hypothetical.nativeRemapBySourceId';
  const nativeRemapBySourceId = optionalBool(vmmRaw.nativeRemapBySourceId, 'vmm.nativeRemapBySourceId') || optionalBool(hypoRaw?.nativeRemapBySourceId, 'hypothetical.nativeRemapBySourceId');
  if (nativeRemapBySourceId && !hostResolved.iommu) {
    throw new ConfigError(nativeField, "is a mode of the host IOMMU (a hypothetical remapping by source-id): the host needs an iommu");
  }
  if (postedInterrupts) {
    const iommu = hostResolved.iommu;
    // KVM posts assigned-device interrupts only when the host IOMMU can (irq_remapping_cap(IRQ_POSTING_CAP)).
    // On AMD that capability is the guest virtual APIC mode (amd_iommu_guest_ir == AMD_IOMMU_GUEST_IR_VAPIC, which needs
    // EFR.GASup and GAMSup): AVIC then posts through GuestMode = 1 IRTEs and the GA log.
    if (iommu?.kind === 'amd') {
      if (!resolveAmdOptions(iommu, 'host.iommu').vapic) {
        throw new ConfigError('vmm.postedInterrupts', 'needs a host AMD IOMMU with guest virtual APIC support (host.iommu.vapic: true, EFR.GAMSup) — KVM posts only when the host IOMMU has IRQ_POSTING_CAP');
      }
    } else if (iommu?.kind !== 'intel' || iommu.postedInterrupts !== true) {
      throw new ConfigError('vmm.postedInterrupts', 'needs a host Intel IOMMU with postedInterrupts: true, or an AMD IOMMU with vapic: true (KVM posts only when the host IOMMU has IRQ_POSTING_CAP)');
    }
  }

  // --- guest and its assignments
  const guestRaw = raw.guest;
  const { assigned: assignedRaw, ...guestMachineRaw } = guestRaw;
  const guestBase = guestMachineRaw as unknown as MachineConfig;
  resolveMachine(guestBase, 'guest');
  if (assignedRaw !== undefined && !Array.isArray(assignedRaw)) throw new ConfigError('guest.assigned', "must be a list like [{ bdf: '00:05.0', host: '02:00.0' }]");
  const hostDevices = new Map(hostResolved.devices.map((d) => [d.requesterId, d]));
  const guestTaken = new Set((guestBase.devices ?? []).map((d) => parseBdf(d.bdf)));
  const hostTaken = new Map<number, string>();
  const assigned: ResolvedAssignment[] = ((assignedRaw as unknown[] | undefined) ?? []).map((a, i) => {
    const path = `guest.assigned[${i}]`;
    if (!isObject(a)) throw new ConfigError(path, "must be an object { bdf: '00:05.0', host: '02:00.0' }");
    rejectUnknown(a, ['bdf', 'host'], path);
    const guestRid = bdfField(a.bdf, `${path}.bdf`);
    const hostRid = bdfField(a.host, `${path}.host`);
    if (guestTaken.has(guestRid)) throw new ConfigError(`${path}.bdf`, `${formatBdf(guestRid)} is already used by another guest device`);
    guestTaken.add(guestRid);
    const device = hostDevices.get(hostRid);
    if (device === undefined) {
      const known = [...hostDevices.keys()].map(formatBdf).join(', ') || 'none';
      throw new ConfigError(`${path}.host`, `the host has no device at ${formatBdf(hostRid)} (host devices: ${known})`);
    }
    const twice = hostTaken.get(hostRid);
    if (twice !== undefined) throw new ConfigError(`${path}.host`, `${formatBdf(hostRid)} is already assigned by ${twice}`);
    hostTaken.set(hostRid, path);
    if (device.msi === undefined && device.msix === undefined && device.intx === undefined) {
      throw new ConfigError(`${path}.host`, `${formatBdf(hostRid)} has no MSI, MSI-X or INTx pin: nothing for the VMM to route`);
    }
    // The stand-in sits on the guest's root bus: the host's bridges are not part of the guest's topology.
    const { requesterId: _rid, behindBridges: _bridges, ...options } = device;
    return { guestBdf: formatBdf(guestRid), guestRid, hostBdf: formatBdf(hostRid), hostRid, device: options };
  });

  // The qemu-devel 2024-10-01 hack is a behaviour of QEMU's Intel vIOMMU, applied by the VMM's QEMU front (qemu-vtd-front.ts).
  if (VMM_PROFILES[profile as VmmProfileName].intelIrAcceptsAmdFormat && guestBase.iommu?.kind !== 'intel') {
    throw new ConfigError('vmm.profile', `"${profile}" patches QEMU's Intel vIOMMU: the guest needs iommu.kind "intel"`);
  }
  // The guest sees each assigned function with the host function's identity and capability layout (vfio-pci
  // exposes the physical config space, virtualising the MSI/MSI-X capabilities).
  const guest: MachineConfig = {
    ...guestBase,
    devices: [...(guestBase.devices ?? []), ...assigned.map((a) => ({ ...a.device, bdf: a.guestBdf }))],
  };
  const guestResolved = resolveMachine(guest, 'guest');
  return { host, guest, hostResolved, guestResolved, assigned, vmm: { profile: profile as VmmProfileName, postedInterrupts, msiNoVirt, pvComposeMsi, athBar0Quirk, imsTrap, nointxmask }, hypothetical: { nativeRemapBySourceId } };
}
