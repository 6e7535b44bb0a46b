/**
 * The words of a scenario file's legacy sources and expectations (legacy-sources.ts), shared by the schema
 * (scenario-schema.ts), the validator (scenario-file.ts) and the runner.
 */
import { UsageError } from '../core/errors.ts';

/**
 * Where a held interrupt waits: `remote-irr` (a level RTE's Remote IRR is set and its line still asserted: no EOI
 * came), `rte-masked` (the line is asserted behind a masked RTE), `pic-imr` (the 8259 holds the request in IRR behind
 * its IMR), `disintx` (the function has an interrupt, Status.Interrupt Status, but Command.Interrupt Disable keeps
 * INTx# quiet), `lapic-irr` (accepted into the LAPIC's IRR, never taken).
 */
export const HELD_BY = ['remote-irr', 'rte-masked', 'pic-imr', 'disintx', 'lapic-irr'] as const;
export type HeldBy = (typeof HELD_BY)[number];

/** The path an ISA IRQ takes to the CPU (Linux check_timer's three attempts; legacy-sources.ts). */
export const LEGACY_VIAS = ['ioapic', 'extint', 'lint0-fixed'] as const;
export type LegacyVia = (typeof LEGACY_VIAS)[number];

/** The 8254 modes a pit source can run counter 0 in: 0, 2, 3 and 4. */
export const PIT_MODE_NAMES = ['terminal-count', 'rate-generator', 'square-wave', 'strobe'] as const;
export type PitMode = (typeof PIT_MODE_NAMES)[number];

/** The LAPIC timer's modes (LVTT bits 18:17). */
export const LAPIC_TIMER_MODES = ['one-shot', 'periodic', 'tsc-deadline'] as const;

/** The RTC interrupts a source enables: periodic (PIE, at register A's rate) or update-ended (UIE, every second). */
export const RTC_MODES = ['periodic', 'update'] as const;

/** The HPET comparator's modes (Tn_TYPE_CNF). */
export const HPET_MODES = ['one-shot', 'periodic'] as const;

/** A duration as scenario steps write it: an integer with a unit, "250us", "4ms", "1s", "839ns". */
export const DURATION_RE = /^(\d+)(ns|us|ms|s)$/;
const NS_PER_UNIT: Record<string, number> = { ns: 1, us: 1_000, ms: 1_000_000, s: 1_000_000_000 };

/** A duration's nanoseconds (the text has been validated against DURATION_RE). */
export function parseDuration(text: string): number {
  const m = DURATION_RE.exec(text);
  if (m === null) throw new UsageError(`"${text}" is not a duration like 250us, 4ms or 1s`);
  return Number(m[1]) * NS_PER_UNIT[m[2]];
}

