/**
 * Public entry point for guest-OS models:
 *
 *   const guest = createGuest(machine, { os: 'windows', quirks: { amdCpuAssumesAmdIommu: false } });
 *   guest.boot();
 *   const p = guest.setupInterrupt({ id: 'nvme-q0', kind: 'msix', device: '00:03.0', vector: 0, cpu: 299 });
 *
 * Options are validated here; a bad value is a UsageError that names it.
 */
import { UsageError } from '../core/errors.ts';
import type { Machine } from '../machine/machine.ts';
import { LinuxGuest } from './linux/linux-guest.ts';
import { resolveWindowsQuirks, WINDOWS_QUIRK_NAMES, type WindowsQuirks } from './windows/quirks.ts';
import { WindowsGuest } from './windows/windows-guest.ts';

export interface GuestOptions {
  os: 'linux' | 'windows';
  /** Windows only: override the default-on quirks (see windows/quirks.ts). */
  quirks?: Partial<WindowsQuirks>;
}

export type { WindowsQuirks };
export { WINDOWS_QUIRK_NAMES, LinuxGuest, WindowsGuest };

export function createGuest(machine: Machine, options: GuestOptions): LinuxGuest | WindowsGuest {
  if (typeof options !== 'object' || options === null) throw new UsageError('createGuest: options must be an object like { os: "linux" }');
  for (const key of Object.keys(options)) {
    if (key !== 'os' && key !== 'quirks') throw new UsageError(`createGuest: unknown option "${key}" (allowed: os, quirks)`);
  }
  if (options.os === 'linux') {
    if (options.quirks !== undefined && Object.keys(options.quirks).length > 0) {
      throw new UsageError(`createGuest: quirks are Windows behaviours (${WINDOWS_QUIRK_NAMES.join(', ')}); the linux model has none`);
    }
    return new LinuxGuest(machine);
  }
  if (options.os === 'windows') return new WindowsGuest(machine, resolveWindowsQuirks(options.quirks));
  throw new UsageError(`createGuest: os must be "linux" or "windows", got ${JSON.stringify((options as { os?: unknown }).os)}`);
}
