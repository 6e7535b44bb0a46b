/**
 * The fixed physical-address windows of a machine — the interrupt window, the I/O APIC, the IOMMU's registers, the
 * BARs firmware placed — must not overlap: a CPU access would reach only one of them (AddressSpace.find takes the
 * first match), so the other would silently vanish behind it. Real firmware keeps them apart (PC firmware reports
 * each register window as reserved and places BARs elsewhere); a configuration that asks for an overlap is refused
 * when the machine is created, naming both windows.
 */
import { ConfigError } from '../core/errors.ts';

export interface RegisterWindow {
  /** What a user reads in the error: "the I/O APIC (0xFEC00000, 4 KiB)". */
  readonly what: string;
  /** The config field that placed it, or null for a window fixed by the architecture. */
  readonly field: string | null;
  readonly base: number;
  readonly size: number;
}

/** The MSI/interrupt address range (SDM 10.11.1: 0xFEEx_xxxx is an interrupt, not memory). */
export const INTERRUPT_WINDOW: RegisterWindow = { what: 'the interrupt window 0xFEE00000–0xFEEFFFFF', field: null, base: 0xfee00000, size: 0x100000 };

export function describeWindow(what: string, base: number, size: number): string {
  const end = base + size - 1;
  return `${what} [0x${base.toString(16)}–0x${end.toString(16)}]`;
}

/** Throws ConfigError on the first pair that overlaps; the error's field is the one a user can change. */
export function checkNoOverlap(windows: readonly RegisterWindow[]): void {
  for (let i = 0; i < windows.length; i++) {
    for (let j = i + 1; j < windows.length; j++) {
      const a = windows[i];
      const b = windows[j];
      if (a.base < b.base + b.size && b.base < a.base + a.size) {
        const [moved, other] = a.field !== null ? [a, b] : [b, a];
        const otherField = other.field === null ? '' : ` (${other.field})`;
        throw new ConfigError(moved.field ?? 'config', `${describeWindow(moved.what, moved.base, moved.size)} overlaps ${describeWindow(other.what, other.base, other.size)}${otherField}`);
      }
    }
  }
}
