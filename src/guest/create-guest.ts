/**
 * Public entry point for guest-OS models:
 *
 *   const guest = createGuest(machine, { os: 'windows', quirks: { amdCpuAssumesAmdIommu: false } });
 *   guest.boot();
 *   const p = guest.setupInterrupt({ id: 'nvme-q0', kind: 'msix', device: '00:03.0', vector: 0, cpu: 299 });
 *
 * Options are validated here; a bad value is a UsageError that names it.
 */
import { ConfigError, showValue, UsageError } from '../core/errors.ts';
import { DEFAULT_LINUX_VERSION, parseLinuxVersion, type LinuxVersion } from '../core/linux-version.ts';
import { Machine } from '../machine/machine.ts';
import { LinuxGuest } from './linux/linux-guest.ts';
import { parseKernelCmdline } from './linux/kernel-cmdline.ts';
import { resolveWindowsQuirks, WINDOWS_QUIRK_NAMES, type WindowsQuirks } from './windows/quirks.ts';
import { WindowsGuest } from './windows/windows-guest.ts';

export interface GuestOptions {
  os: 'linux' | 'windows';
  /** Linux only: the kernel version whose behaviour and log formats to model (default DEFAULT_LINUX_VERSION). */
  version?: string;
  /**
   * Linux only: the kernel command line; the options that change the interrupt path are modelled
   * (linux/kernel-cmdline.ts: intremap=, nox2apic, x2apic_phys, intel_iommu=, amd_iommu=off, iommu=pt, noapic),
   * anything else is ignored as the kernel passes it to init.
   */
  cmdline?: string;
  /** Windows only: override the default-on quirks (see windows/quirks.ts). */
  quirks?: Partial<WindowsQuirks>;
}

export type { WindowsQuirks };
export { WINDOWS_QUIRK_NAMES, LinuxGuest, WindowsGuest };

/** The result is typed by `os`: a LinuxGuest for 'linux' (mapDma, its kernel version), a WindowsGuest for 'windows'. */
export function createGuest(machine: Machine, options: GuestOptions & { os: 'linux' }): LinuxGuest;
export function createGuest(machine: Machine, options: GuestOptions & { os: 'windows' }): WindowsGuest;
export function createGuest(machine: Machine, options: GuestOptions): LinuxGuest | WindowsGuest;
export function createGuest(machine: Machine, options: GuestOptions): LinuxGuest | WindowsGuest {
  if (!(machine instanceof Machine)) throw new UsageError(`createGuest: expected a machine from createMachine(), got ${showValue(machine)}`);
  if (typeof options !== 'object' || options === null) throw new UsageError('createGuest: options must be an object like { os: "linux" }');
  for (const key of Object.keys(options)) {
    if (key !== 'os' && key !== 'quirks' && key !== 'version' && key !== 'cmdline') throw new UsageError(`createGuest: unknown option "${key}" (allowed: os, quirks, version, cmdline)`);
  }
  if (options.os === 'linux') {
    if (options.quirks !== undefined && Object.keys(options.quirks).length > 0) {
      throw new UsageError(`createGuest: quirks are Windows behaviours (${WINDOWS_QUIRK_NAMES.join(', ')}); the linux model has none`);
    }
    if (options.cmdline !== undefined && typeof options.cmdline !== 'string') {
      throw new UsageError(`createGuest: cmdline must be a kernel command line string like "intremap=off nox2apic", got ${showValue(options.cmdline)}`);
    }
    return new LinuxGuest(machine, linuxVersion(options.version), parseKernelCmdline(options.cmdline ?? ''));
  }
  if (options.os === 'windows') {
    if (options.version !== undefined) throw new UsageError('createGuest: version selects a Linux kernel; the windows model has none');
    if (options.cmdline !== undefined) throw new UsageError('createGuest: cmdline is a Linux kernel command line; the windows model has none');
    return new WindowsGuest(machine, resolveWindowsQuirks(options.quirks));
  }
  throw new UsageError(`createGuest: os must be "linux" or "windows", got ${JSON.stringify((options as { os?: unknown }).os)}`);
}

function linuxVersion(text: string | undefined): LinuxVersion {
  try {
    return parseLinuxVersion(text ?? DEFAULT_LINUX_VERSION, 'guest.version');
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`createGuest: ${e.field}: ${e.reason}`);
    throw e;
  }
}
