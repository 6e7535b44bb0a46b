/**
 * Linux kernel versions: parse "5.10", "6.1.55", "5.15.0-91-generic", and answer "which format does this kernel
 * print?" for the log lines irqpath reproduces. Every version-dependent choice lives here, named after the change
 * that introduced it, so log formatters (devices layer) and the guest model (guest layer) agree.
 *
 * Each boundary cites the upstream change; the format strings themselves live next to the code that prints them.
 */
import { ConfigError } from './errors.ts';

export interface LinuxVersion {
  major: number;
  minor: number;
  /** The stable release (6.11.3 → 3), null when not given ("6.11"). */
  patch: number | null;
  /** As the user wrote it (for messages and reports). */
  text: string;
}

/**
 * The version a Linux model runs when none is given: 6.12, a long-term kernel (the one Debian 13 ships). Any
 * kernel from 6.9 on prints the same lines for everything irqpath models.
 */
export const DEFAULT_LINUX_VERSION = '6.12';

/** The oldest kernel whose interrupt-remapping lines the model reproduces ("DMAR-IR:" prefixes exist since 4.x). */
const OLDEST = { major: 4, minor: 0 };
const VERSION_RE = /^(\d+)\.(\d+)(?:\.(\d+))?(?:[-+~][0-9A-Za-z._+~-]*)?$/;

/** Parse a kernel version; a bad one is a ConfigError naming `field`. */
export function parseLinuxVersion(value: unknown, field: string): LinuxVersion {
  // YAML reads `version: 5.10` as the number 5.1: refuse it rather than guess, 5.1 and 5.10 are different kernels.
  if (typeof value === 'number') throw new ConfigError(field, `got the number ${value}: write the version in quotes ('${value}'), a YAML number loses trailing zeros (5.10 reads as 5.1)`);
  const text = value;
  if (typeof text !== 'string') throw new ConfigError(field, `must be a Linux kernel version string like '5.10' or '6.1.55', got ${JSON.stringify(value)}`);
  const m = VERSION_RE.exec(text.trim());
  if (m === null) throw new ConfigError(field, `"${text}" is not a Linux kernel version (expected major.minor[.patch][-suffix], e.g. '5.10' or '5.15.0-91-generic')`);
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major < OLDEST.major || major > 9) {
    throw new ConfigError(field, `Linux ${major}.${minor} is outside the modelled range (${OLDEST.major}.${OLDEST.minor} to 9.x)`);
  }
  return { major, minor, patch: m[3] === undefined ? null : Number(m[3]), text: text.trim() };
}

export function atLeast(v: LinuxVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

/**
 * How `dmar_fault_do_one` (drivers/iommu/intel/dmar.c) prints a fault record:
 * - 'decimal' (up to 5.13): `[INTR-REMAP] Request device [%02x:%02x.%d] fault index %llx [fault reason %02d] %s`,
 *   DMA faults `[%s] Request device [..] PASID %x fault addr %llx [fault reason %02d] %s` — index and address
 *   without 0x, the reason in decimal.
 * - 'hex-bdf' (5.14): Lu Baolu's "iommu/vt-d: Use pr_err to print error messages" rework: every number with 0x,
 *   including bus and device (`[0x%02x:0x%02x.%d]`), reason `0x%02x`, `NO_PASID` / `PASID 0x%x` in the tag.
 * - 'current' (5.15 on): Bjorn Helgaas's follow-up drops the 0x before bus and device again (`[%02x:%02x.%d]`).
 */
export type DmarFaultStyle = 'decimal' | 'hex-bdf' | 'current';

export function dmarFaultStyle(v: LinuxVersion): DmarFaultStyle {
  if (!atLeast(v, 5, 14)) return 'decimal';
  if (!atLeast(v, 5, 15)) return 'hex-bdf';
  return 'current';
}

/**
 * How drivers/iommu/amd/iommu.c prints a device in event-log lines: 'pre-segment' `%02x:%02x.%x` before 6.0,
 * 'segment' `%04x:%02x:%02x.%x` from 6.0 (Vasant Hegde's "iommu/amd: Print PCI segment ID in error log messages",
 * part of the multiple-PCI-segment series merged for 6.0).
 */
export function amdViDeviceStyle(v: LinuxVersion): 'pre-segment' | 'current' {
  return atLeast(v, 6, 0) ? 'current' : 'pre-segment';
}

/**
 * Where the "Allowing N present CPUs plus M hotplug CPUs" line comes from: smpboot.c (`smpboot: `) before 6.9,
 * arch/x86/kernel/cpu/topology.c (`CPU topo: `) from 6.9 (Thomas Gleixner's x86 topology rework).
 */
export function cpuEnumerationPrefix(v: LinuxVersion): 'smpboot: ' | 'CPU topo: ' {
  return atLeast(v, 6, 9) ? 'CPU topo: ' : 'smpboot: ';
}

/**
 * The whole line: before 6.9 prefill_possible_map (smpboot.c) words it "Allowing %d CPUs, %d hotplug CPUs" (possible
 * CPUs, then the hotplug slots among them; a real 6.1 q35 boot prints "smpboot: Allowing 4 CPUs, 0 hotplug CPUs"),
 * from 6.9 topology_init_possible_cpus "Allowing %u present CPUs plus %u hotplug CPUs".
 */
export function cpuEnumerationLine(v: LinuxVersion, present: number, hotplug: number): string {
  if (atLeast(v, 6, 9)) return `CPU topo: Allowing ${present} present CPUs plus ${hotplug} hotplug CPUs`;
  return `smpboot: Allowing ${present + hotplug} CPUs, ${hotplug} hotplug CPUs`;
}

/**
 * What a kernel does with an x2APIC MADT entry whose APIC ID is above the limit it later sets without interrupt
 * remapping (255, or 32767 with the extended destination ID):
 * - 'bringup' (before 6.9): the entry is registered (acpi_parse_x2apic asks the APIC driver installed at MADT
 *   time, before `try_to_enable_x2apic` has set the limit), so the CPU is present and bring-up refuses it in
 *   smpboot.c: `smpboot: native_cpu_up: bad cpu N` (`native_kick_ap` from 6.5, after the CPU hotplug rework).
 * - 'madt' (6.9 on, the x86 topology rework with topology_register_apic): the model rejects the entry when the MADT
 *   is parsed, `ACPI: x2apic entry ignored` (acpi_parse_x2apic's apic_id_valid() check).
 * The 6.9 boundary is the one users report; which path a given kernel takes depends on the APIC driver installed
 * when the MADT is parsed, so treat the boundary as the model's choice, not as a bisected fact.
 */
export function apicIdRejection(v: LinuxVersion): { at: 'bringup'; fn: 'native_cpu_up' | 'native_kick_ap' } | { at: 'madt' } {
  if (atLeast(v, 6, 9)) return { at: 'madt' };
  return { at: 'bringup', fn: atLeast(v, 6, 5) ? 'native_kick_ap' : 'native_cpu_up' };
}

/** KVM_FEATURE_MSI_EXT_DEST_ID (15-bit destination IDs without remapping) is understood from 5.10 on. */
export function supportsExtDestId(v: LinuxVersion): boolean {
  return atLeast(v, 5, 10);
}

/**
 * Does a 64-bit kernel in xAPIC mode still have the logical flat APIC driver (apic_flat, the default `apic`), used
 * while at most 8 CPUs are possible (physflat_probe: num_possible_cpus() > 8 picks physical flat)? Up to 6.11 yes;
 * 6.12 removed logical destination mode on x86-64 (physical flat is the default driver, so no "Switched APIC
 * routing" line either — Borislav Petkov notes the line no longer appears, LKML "Re: [RFC v2 01/17] x86/apic: Add
 * new driver for Secure AVIC", 2025-03-20), and the 6.11 stable series took the change at 6.11.3.
 */
export function keepsLogicalFlat(v: LinuxVersion): boolean {
  if (atLeast(v, 6, 12)) return false;
  if (v.major === 6 && v.minor === 11 && (v.patch ?? 0) >= 3) return false;
  return true;
}

/**
 * The APIC driver announcement: "APIC: Switched APIC routing to: physical x2apic" from 6.6 (the x86 APIC driver
 * rework moved it into apic_install_driver with pr_fmt "APIC: "), "Switched APIC routing to physical x2apic." before.
 */
export function apicRoutingLine(v: LinuxVersion, driver: string): string {
  return atLeast(v, 6, 6) ? `APIC: Switched APIC routing to: ${driver}` : `Switched APIC routing to ${driver}.`;
}
