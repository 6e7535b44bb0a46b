/**
 * The Windows behaviours described in the qemu-devel thread "More than 255 vcpus Windows VM setup without viommu ?"
 * (qemu-devel, Jul–Oct 2024: "Windows, part 1/part 2", and the traces of 2024-07-11). Each is a named boolean, on by default ("the Windows that ships"); switching one off
 * gives the "fixed Windows" that programs what the hardware in front of it expects.
 */
import { UsageError } from '../../core/errors.ts';

export interface WindowsQuirks {
  /**
   * On an AMD CPU with an Intel IOMMU, Windows behaves as if the IOMMU were AMD's. For each I/O APIC pin it fills the
   * Intel IRTE correctly (in setup order, logical x2APIC-cluster destination, SVT 0) but programs the RTE AMD-style:
   * IRTE index in the vector field, destination-mode bit set, no format bit, destination 0 — the I/O APIC sends
   * addr 0xFEE00004, data = index, a compatibility-format request to the Intel unit. For PCI MSI/MSI-X it writes an
   * AMD-style message (addr 0xFEE00000, data = a per-device index from 0) and fills no IRTE at all.
   */
  amdCpuAssumesAmdIommu: boolean;
  /**
   * With no IOMMU and APIC IDs above 255, Windows puts destination bits 31:8 into MSI address bits 55:32 (same thread,
   * "Windows, part 2"), which real hardware turns into a memory write at 0x000000xx_FEExxxxx. An I/O APIC RTE has no
   * such bits; what Windows does for a pin aimed above 255 is not known (the thread: "I'm not sure what would happen"),
   * so this model ASSUMES it keeps only destination bits 7:0 and the pin reaches APIC ID (dest & 0xFF).
   */
  msiHighAddressBits: boolean;
  /** Windows never uses the KVM/Xen/Hyper-V 15-bit extended destination ID, even when the hypervisor advertises it. */
  ignoresExtDestId: boolean;
}

export const WINDOWS_QUIRK_NAMES = ['amdCpuAssumesAmdIommu', 'msiHighAddressBits', 'ignoresExtDestId'] as const;

export const DEFAULT_WINDOWS_QUIRKS: Readonly<WindowsQuirks> = Object.freeze({
  amdCpuAssumesAmdIommu: true,
  msiHighAddressBits: true,
  ignoresExtDestId: true,
});

/** Defaults overridden by `given`; an unknown name or a non-boolean value is a UsageError naming it. */
export function resolveWindowsQuirks(given: unknown): WindowsQuirks {
  if (given === undefined) return { ...DEFAULT_WINDOWS_QUIRKS };
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new UsageError(`windows quirks must be an object of booleans (${WINDOWS_QUIRK_NAMES.join(', ')})`);
  }
  const out: WindowsQuirks = { ...DEFAULT_WINDOWS_QUIRKS };
  for (const [key, value] of Object.entries(given)) {
    if (!(WINDOWS_QUIRK_NAMES as readonly string[]).includes(key)) {
      throw new UsageError(`unknown windows quirk "${key}" (known: ${WINDOWS_QUIRK_NAMES.join(', ')})`);
    }
    if (typeof value !== 'boolean') throw new UsageError(`windows quirk "${key}" must be true or false, got ${JSON.stringify(value)}`);
    out[key as keyof WindowsQuirks] = value;
  }
  return out;
}
