/**
 * The configuration of a two-machine system — a host, a guest and the VMM joining them — its shape
 * (system-config-schema.ts, composing the machine's), and the rules that relate its parts, in the style of
 * `createMachine`: every problem is a ConfigError naming the field path (`guest.assigned[0].host`, `vmm.profile`),
 * unknown fields are errors, a wrong shape is reported whole, and everything is checked before anything is built.
 */
import type * as v from 'valibot';
import { parseBdf, formatBdf } from '../core/bdf.ts';
import { checkShape, type SameType } from '../core/config-schema.ts';
import type { DeviceOptions, MachineConfig } from '../core/config-types.ts';
import { ConfigError } from '../core/errors.ts';
import { resolveConfig, type ResolvedConfig } from '../machine/config.ts';
import { resolveAmdOptions } from '../iommu-amd/options.ts';
import { SystemConfigSchema } from './system-config-schema.ts';
import { VMM_PROFILES, type VmmProfileName } from './profiles.ts';

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

// ---- The rules that relate parts --------------------------------------------------------------------------------

/** The public interfaces above say what the schema (system-config-schema.ts) accepts, no more and no less. */
const schemaMatchesInterface: SameType<v.InferInput<typeof SystemConfigSchema>, SystemConfig> = true;
void schemaMatchesInterface;

/** One machine's config through createMachine's validation, its fields named below `prefix`. */
function resolveMachine(config: MachineConfig, prefix: string): ResolvedConfig {
  try {
    return resolveConfig(config);
  } catch (e) {
    if (e instanceof ConfigError) throw e.under(prefix);
    throw e;
  }
}

export function resolveSystemConfig(config: SystemConfig): ResolvedSystemConfig {
  checkShape(SystemConfigSchema, config, '', 'system');
  const host = config.host;
  const hostResolved = resolveMachine(host, 'host');

  // --- vmm
  const vmmRaw = config.vmm;
  const profile = vmmRaw.profile;
  const postedInterrupts = vmmRaw.postedInterrupts ?? false;
  const msiNoVirt = vmmRaw.msiNoVirt ?? false;
  const pvComposeMsi = vmmRaw.pvComposeMsi ?? false;
  const nointxmask = vmmRaw.nointxmask ?? false;
  // The older spelling: a list of quirk names.
  const quirks = vmmRaw.quirks ?? [];
  quirks.forEach((q, i) => {
    if (quirks.indexOf(q) !== i) throw new ConfigError(`vmm.quirks[${i}]`, `"${q}" is listed twice`);
  });
  const athBar0Quirk = (vmmRaw.athBar0Quirk ?? false) || quirks.includes('ath-bar0');
  const imsTrap = (vmmRaw.imsTrap ?? false) || quirks.includes('ims-trap');
  const nativeField = vmmRaw.nativeRemapBySourceId !== undefined ? 'vmm.nativeRemapBySourceId' : 'hypothetical.nativeRemapBySourceId';
  const nativeRemapBySourceId = (vmmRaw.nativeRemapBySourceId ?? false) || (config.hypothetical?.nativeRemapBySourceId ?? false);
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
  const { assigned: assignedRaw = [], ...guestBase } = config.guest;
  resolveMachine(guestBase, 'guest');
  const hostDevices = new Map(hostResolved.devices.map((d) => [d.requesterId, d]));
  const guestTaken = new Set((guestBase.devices ?? []).map((d) => parseBdf(d.bdf)));
  const hostTaken = new Map<number, string>();
  const assigned: ResolvedAssignment[] = assignedRaw.map((a, i) => {
    const path = `guest.assigned[${i}]`;
    const guestRid = parseBdf(a.bdf);
    const hostRid = parseBdf(a.host);
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
  if (VMM_PROFILES[profile].intelIrAcceptsAmdFormat && guestBase.iommu?.kind !== 'intel') {
    throw new ConfigError('vmm.profile', `"${profile}" patches QEMU's Intel vIOMMU: the guest needs iommu.kind "intel"`);
  }
  // The guest sees each assigned function with the host function's identity and capability layout (vfio-pci
  // exposes the physical config space, virtualising the MSI/MSI-X capabilities).
  const guest: MachineConfig = {
    ...guestBase,
    devices: [...(guestBase.devices ?? []), ...assigned.map((a) => ({ ...a.device, bdf: a.guestBdf }))],
  };
  const guestResolved = resolveMachine(guest, 'guest');
  return { host, guest, hostResolved, guestResolved, assigned, vmm: { profile, postedInterrupts, msiNoVirt, pvComposeMsi, athBar0Quirk, imsTrap, nointxmask }, hypothetical: { nativeRemapBySourceId } };
}
