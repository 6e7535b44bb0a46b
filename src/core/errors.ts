/** Errors a user of the public API can meet. Hardware faults are never exceptions, except #GP on a CPU access. */

/** Thrown by a CPU access where hardware raises #GP (bad MSR, illegal APIC base transition, reserved bits). */
export class GeneralProtectionFault extends Error {
  constructor(readonly reason: string) {
    super(`#GP(0): ${reason}`);
    this.name = 'GeneralProtectionFault';
  }
}

/** One problem with a configuration: the field path ("devices[1].msi.vectors") and what is wrong with it. */
export interface ConfigProblem {
  readonly field: string;
  readonly reason: string;
}

/**
 * A bad machine configuration: `field` names the offending path (e.g. "devices[1].msi.vectors"). A configuration
 * whose shape is wrong gets every problem at once in `problems` (this one first); the rules that relate several
 * fields, which need a well-formed configuration, stop at their first.
 */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(
    readonly field: string,
    readonly reason: string,
    more: readonly ConfigProblem[] = [],
  ) {
    super([`invalid machine config: ${field}: ${reason}`, ...more.map((p) => `  ${p.field}: ${p.reason}`)].join('\n'));
    this.name = 'ConfigError';
    this.problems = [{ field, reason }, ...more];
  }

  /** The same problems, every field path below `prefix` ("cpus" under "host" is "host.cpus"). */
  under(prefix: string): ConfigError {
    const [first, ...more] = this.problems.map((p) => ({ field: p.field ? `${prefix}.${p.field}` : prefix, reason: p.reason }));
    return new ConfigError(first.field, first.reason, more);
  }
}

/** A bad argument to an API call (an out-of-range register value, an unknown device). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A user-supplied value as an error message should show it: JSON for plain data, but NaN, ±Infinity, bigint,
 * undefined and functions by name (JSON.stringify would say "null" for NaN or throw on a bigint).
 */
export function showValue(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return String(value);
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : typeof v === 'bigint' ? `${v}n` : v));
  } catch {
    return Object.prototype.toString.call(value);
  }
}
