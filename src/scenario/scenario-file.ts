/**
 * Scenario files (`scenarios/*.yaml`): a machine, a guest OS with its options, the interrupt sources a driver sets
 * up, and the expected outcome stated as facts the run checks. Files are validated completely before anything runs;
 * every problem names the file, the field path and what was wrong.
 *
 * Expectations never contain the answer the run produces: they say "delivered where the guest intended",
 * "reaches CPU 0", "reaches the same CPU and vector as source pin-0", "blocked with Intel fault 0x25", "lands in
 * memory above 4 GiB" — the CPU, vector, index and address all come from running the guest model on the machine.
 */
import * as v from 'valibot';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { checkShape, type SameType } from '../core/config-schema.ts';
import type { MachineConfig } from '../core/config-types.ts';
import { ConfigError } from '../core/errors.ts';
import { parseBdf } from '../core/bdf.ts';
import { resolveConfig, type ResolvedConfig } from '../machine/config.ts';
import { isBdf as isBdfText } from '../core/bdf.ts';
import { resolveSystemConfig, type SystemConfig } from '../vmm/system-config.ts';
import { parseLinuxVersion } from '../core/linux-version.ts';
import type { InterruptRequest } from '../guest/guest-os.ts';
import { positionOfField, type FilePosition } from './field-position.ts';
import {
  DmaExpectationSchema,
  DmaSchema,
  ExpectSchema,
  GuestSchema,
  ScenarioFileSchema,
  shapeProblems,
  SourceExpectationSchema,
  SourceSchema,
} from './scenario-schema.ts';
import type { HeldBy, LAPIC_TIMER_MODES, LegacyVia, PitMode, RTC_MODES } from './legacy-words.ts';
import { checkLegacySourcesAgainstMachine, defaultLegacySteps, isLegacySourceKind, legacyStepProblem, legacyTriggerReason, parseLegacySource } from './legacy-source-file.ts';

/**
 * A scenario file that cannot be run. `field` is the path inside the file (`sources[0].device`, `machine.cpus`);
 * `variant` names the variant whose merged content is wrong, or is null for the base scenario; `position` is the
 * line and column of that field in the file's text (of its nearest enclosing node when the field is missing), or null
 * when there is no text to point into.
 */
export class ScenarioError extends Error {
  /**
   * Every problem found in the file, this one first: a file whose shape is wrong (scenario-schema.ts) gets all of
   * its problems at once; so do the cross-field checks of a well-formed file, one problem per source, DMA request,
   * expectation block and variant (a check that needs a failed one is skipped).
   */
  readonly problems: readonly ScenarioError[];

  constructor(
    readonly file: string,
    readonly field: string,
    readonly reason: string,
    readonly variant: string | null = null,
    readonly position: FilePosition | null = null,
    more: readonly ScenarioError[] = [],
  ) {
    super([`${file}${variant === null ? '' : ` (variant ${variant})`}: ${field ? field + ': ' : ''}${reason}`, ...more.map((e) => e.message)].join('\n'));
    this.name = 'ScenarioError';
    this.problems = [this, ...more];
  }

  /** One line per problem, each starting "file:line:column:" as compilers print it (terminals and editors link it). */
  located(): string {
    return this.problems
      .map((e) => {
        const where = e.position === null ? '' : `:${e.position.line}:${e.position.column}`;
        return `${e.file}${where}${e.variant === null ? '' : ` (variant ${e.variant})`}: ${e.field ? e.field + ': ' : ''}${e.reason}`;
      })
      .join('\n');
  }

  /** The problems as data: what `irqpath run --json` prints for a file it cannot run. */
  toJSON(): { file: string; variant: string | null; field: string; reason: string; line: number | null; column: number | null }[] {
    return this.problems.map((e) => ({ file: e.file, variant: e.variant, field: e.field, reason: e.reason, line: e.position?.line ?? null, column: e.position?.column ?? null }));
  }
}

/** What the run checks for one source. */
export type SourceExpectation =
  /** Delivered (exactly `times`, default once) to the CPU and vector the guest intended, and the guest honoured the requested CPU. */
  | { kind: 'intended'; times: number }
  /** Delivered `times` times to this CPU (and vector, when given; otherwise the guest's intended vector). */
  | { kind: 'reaches'; cpu: number; vector: number | null; times: number }
  /** Delivered to the CPU and vector another source was programmed for (a collision). */
  | { kind: 'reaches-source'; source: string }
  /** Refused by an IOMMU or the hypervisor with this fault, and not delivered. */
  | { kind: 'fault'; unit: 'intel-vtd' | 'amd-vi' | 'hypervisor'; code: number }
  /** Delivered to a CPU, but with a vector other than the one the guest's handler is installed at. */
  | { kind: 'wrong-vector' }
  /** Not delivered: it became a memory write (optionally: at an address above 4 GiB). */
  | { kind: 'memory-write'; above4G: boolean }
  /** Routed to the Xen PIRQ the guest bound. */
  | { kind: 'pirq' }
  /** The guest could not program the source at all. */
  | { kind: 'refused' }
  /**
   * Held back at the end of the steps, after `delivered` deliveries (default 0) to the CPU and vector the guest
   * intended: waiting in Remote IRR, behind a mask, behind Command.Interrupt Disable, or in the LAPIC's IRR.
   */
  | { kind: 'held'; by: HeldBy; delivered: number }
  /** Delivered to the CPU and vector the source had before its last `retarget` step (a stale route or cache). */
  | { kind: 'stale' }
  /**
   * Accepted by no CPU and refused by nobody: the message went nowhere (an illegal vector, no such destination); with
   * `reason`, the machine reported the loss in words containing it ("edge on a masked pin").
   */
  | { kind: 'lost'; reason?: string };

/**
 * One interrupt source of a scenario: an InterruptRequest, or kind 'ims' — entry `vector` of the device's
 * device-specific interrupt storage (its `embeddedMsi` table), which the Linux model's IMS driver fills with a
 * message its irq domain composed (LKML, "[PATCH v4 06/17] PCI: add SIOV and IMS capability detection", 2020-11-08).
 */
export interface ScenarioSource extends Omit<InterruptRequest, 'kind'> {
  kind: InterruptRequest['kind'] | 'ims' | 'isa' | 'intx' | 'lapic-timer' | 'pit' | 'hpet' | 'rtc';
  /** ISA IRQ of an `isa` source, 0..15 but 2. */
  irq?: number;
  /** How an `isa`, `pit` or `rtc` source's IRQ reaches the CPU (default ioapic). */
  via?: LegacyVia;
  /** A `lapic-timer` source's LVTT mode, a `pit` source's 8254 mode, an `hpet` source's one-shot or periodic, an `rtc` source's interrupt. */
  mode?: (typeof LAPIC_TIMER_MODES)[number] | PitMode | (typeof RTC_MODES)[number];
  /** A `lapic-timer` or `hpet` source's period (one-shot: delay) in ns. */
  period?: number;
  /** A `pit` source's count (1..65536; default LATCH for HZ = 250, 4773). */
  count?: number;
  /** An `rtc` source's periodic rate select (register A RS, 1..15; default 6, 1024 Hz). */
  rate?: number;
  /** Stimulus steps; defaults: MSI/MSI-X "signal"; edge pin "pulse"; level pin "raise, ack, lower, eoi". */
  /** A managed interrupt (Linux PCI_IRQ_AFFINITY): shut down, not moved, when its CPU goes offline. */
  managed?: boolean;
  steps: string[];
  /**
   * For devices whose driver copies an MSI message into the device's own registers (an embedded interrupt
   * controller, like ath11k/ath12k): the device signals by a plain DMA write of this message instead of through
   * its MSI capability. 'from-msi-capability' copies what the OS programmed into the capability; an explicit
   * message is what the driver was given instead (e.g. the guest-physical message under vfio-pci, "ath11k and vfio-pci support", 2024-01).
   */
  embeddedMessage?: 'from-msi-capability' | { addr: bigint; data: number };
  /**
   * Two-machine scenarios: the guest's driver copies the MSI message it reads from the device's MSI capability
   * (message k for source vector k) into the device's embedded interrupt controller (`embeddedMsi` on the host
   * device), and the physical device signals through that controller — ath11k's behaviour in the "ath11k and vfio-pci support" thread (2024-01).
   */
  embedded?: boolean;
}

/**
 * A DMA request the scenario's driver makes: optionally map one 4 KiB buffer at `iova` through the guest's DMA API
 * (`map`: 'rw', 'ro', or 'none' for no mapping), then have the device write `value` to `address` (default: the
 * IOVA).
 */
export interface ScenarioDma {
  id: string;
  device: string;
  iova: bigint;
  map: 'rw' | 'ro' | 'none';
  address: bigint;
  value: number;
}

/** What a DMA write must do: land in the mapped buffer, be taken as an interrupt request, or fault with this code. */
export type DmaExpectation = { kind: 'memory' } | { kind: 'interrupt' } | { kind: 'fault'; unit: 'intel-vtd' | 'amd-vi'; code: number };

/** VMM counters a two-machine scenario checks after its run (each optional). */
export interface VmmCounterExpectations {
  translations?: number;
  evictions?: number;
  injections?: number;
  posted?: number;
  wakeups?: number;
  faults?: number;
  nativeRemaps?: number;
  pended?: number;
  resamples?: number;
  resent?: number;
}

export interface ScenarioExpect {
  /** What a run that meets every fact below means: the failure is reproduced, or the interrupt path works. */
  verdict: 'reproduced' | 'fixed';
  onlineCpus: number | null;
  /** Fragments that must appear in the guest's boot log. */
  bootLog: string[];
  /** Lines that must appear in the IOMMU fault log, as Linux prints them (e.g. copied from a real host's dmesg). */
  faultLog: string[];
  sources: Record<string, SourceExpectation>;
  /** Two-machine scenarios: VMM counters at the end of the run. */
  vmm: VmmCounterExpectations;
  /** One expectation per DMA request (`dma:`), by id. */
  dma: Record<string, DmaExpectation>;
}

export interface GuestSpec {
  os: 'linux' | 'windows';
  quirks?: Record<string, boolean>;
  /** Linux kernel version ('5.10', '6.1.55'); default DEFAULT_LINUX_VERSION. */
  version?: string;
  /** Linux kernel command line ("intremap=off nox2apic"); the interrupt-path options are modelled. */
  cmdline?: string;
}

export interface Scenario {
  /** File name without extension, e.g. "05-windows-amd-cpu-intel-iommu". */
  id: string;
  /** Variant name, or null for the base scenario. */
  variant: string | null;
  title: string;
  story: string;
  /** Where the facts come from (seed, reference section). */
  sources_of_truth: string[];
  /** The machine the guest OS boots on (for a two-machine scenario: the guest machine, stand-ins included). */
  machine: MachineConfig;
  /** A two-machine scenario: host, guest and VMM (createSystem's config); null for a single machine. */
  system: SystemConfig | null;
  guest: GuestSpec;
  sources: ScenarioSource[];
  /** DMA requests made after the interrupt sources ran (empty for most scenarios). */
  dma: ScenarioDma[];
  expect: ScenarioExpect;
}

/*
 * The types above are the schema's (scenario-schema.ts) reading of a file, declared as plain types so the package's
 * declarations never reach valibot's; each must accept exactly what its schema produces.
 */
const sameTypes: [
  SameType<v.InferOutput<typeof SourceExpectationSchema>, SourceExpectation>,
  SameType<v.InferOutput<typeof DmaExpectationSchema>, DmaExpectation>,
  SameType<v.InferOutput<typeof DmaSchema>, ScenarioDma>,
  SameType<v.InferOutput<typeof ExpectSchema>, ScenarioExpect>,
  SameType<v.InferOutput<typeof GuestSchema>, GuestSpec>,
  // A source's shape; parseSource fills what its kind implies (steps, vector) and the guest model adds `affinity`.
  SameType<Omit<SourceShape, 'steps'>, Omit<ScenarioSource, 'steps' | 'affinity'>>,
] = [true, true, true, true, true, true];
void sameTypes;

/** A source as its schema reads it. */
type SourceShape = v.InferOutput<typeof SourceSchema>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Deep merge for variants: objects merge, everything else (arrays included) replaces. An object whose `kind` differs
 * from the base's (an Intel IOMMU swapped for an AMD one) replaces it whole: the two kinds' fields do not mix.
 */
export function deepMerge<T>(base: T, over: unknown): T {
  if (!isObject(base) || !isObject(over)) return (over === undefined ? base : over) as T;
  if ('kind' in over && 'kind' in base && over.kind !== base.kind) return over as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out as T;
}

class Checker {
  /** The variant being checked, named in every error; null while checking the base scenario. */
  variant: string | null = null;

  constructor(readonly file: string) {}

  fail(field: string, reason: string): never {
    throw new ScenarioError(this.file, field, reason, this.variant);
  }

  /** A configuration the machine or the system rejected: every problem it found, its fields named below `field`. */
  failConfig(e: ConfigError, field: string): never {
    const [first, ...more] = (field === '' ? e : e.under(field)).problems.map((p) => new ScenarioError(this.file, p.field, p.reason, this.variant));
    throw new ScenarioError(this.file, first.field, first.reason, this.variant, null, more);
  }

  /** Problems found by {@link attempt} so far, reported together by {@link settle}. */
  private readonly found: ScenarioError[] = [];

  /**
   * Runs one independent check (a source, a DMA request, the expectations, a variant): its problems are kept and
   * checking goes on with the next, so a file with several mistakes hears of all of them at once. Undefined when it
   * failed; what depends on it is skipped.
   */
  attempt<T>(check: () => T): T | undefined {
    try {
      return check();
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      this.found.push(...e.problems);
      return undefined;
    }
  }

  /** Throws every problem {@link attempt} kept, the first leading; nothing when all checks passed. */
  settle(): void {
    if (this.found.length === 0) return;
    const [first, ...more] = this.found.map((p) => new ScenarioError(p.file, p.field, p.reason, p.variant, p.position));
    throw new ScenarioError(first.file, first.field, first.reason, first.variant, first.position, more);
  }

  /** `raw` (a variant's merged content) read through `schema`, or every problem of its shape, named below `field`. */
  shaped<const S extends v.GenericSchema>(schema: S, raw: unknown, field: string): v.InferOutput<S> {
    try {
      return checkShape(schema, raw, field);
    } catch (e) {
      if (e instanceof ConfigError) this.failConfig(e, '');
      throw e;
    }
  }
}

/** `advance <time>`: move the machine's simulated clock (timers fire); any source may take it. */
const ADVANCE_RE = /^advance \d+(?:ns|us|ms|s)$/;
/** Steps that act on a two-machine system (the guest kernel's IRTE, the vCPU's scheduling). */
const SYSTEM_STEP_RE = /^(retarget \d+|retarget-stale \d+|release|deschedule|preempt|resume|migrate \d+)$/;
/**
 * MSI steps besides signalling: `mask` / `unmask` set or clear the source's own mask bit (MSI-X vector control bit 0,
 * MSI per-vector Mask bit) with the guest's stores; `invalidate-iec <source>` has the guest invalidate the interrupt
 * entry cache for another source's IRTE only (qi_flush_iec of that index), touching no entry.
 * Guest-wide steps any source may take: `cpu-offline N` / `cpu-online N` (the Linux guest's CPU hotplug,
 * src/guest/linux/cpu-hotplug.ts), `apic-id C N` (CPU C writes N into its xAPIC ID register), `ldr C V` (CPU C writes
 * V into LDR bits 31:24), `x2apic` (every CPU switches its LAPIC to x2APIC mode, as Linux's x2apic_setup does).
 */
const MSI_STEP_RE = /^(signal|ack|eoi|handle|retarget \d+|retarget-stale \d+|release|deschedule|preempt|resume|migrate \d+|mask|unmask|invalidate-iec [\w-]+|cpu-offline \d+|cpu-online \d+|apic-id \d+ \d+|ldr \d+ (?:0x)?[0-9a-fA-F]+|x2apic)$/;

/** What one source asks for, beyond its shape: the fields its kind needs, the steps its kind takes. */
function parseSource(c: Checker, o: SourceShape, i: number): ScenarioSource {
  const field = `sources[${i}]`;
  const kind = o.kind;
  const src: ScenarioSource = { id: o.id, kind, cpu: o.cpu, steps: [] };
  if (isLegacySourceKind(kind)) {
    parseLegacySource(c, o, src, field);
  } else {
    for (const k of ['irq', 'via', 'mode', 'period', 'count', 'rate'] as const) if (o[k] !== undefined) c.fail(`${field}.${k}`, `belongs to the legacy sources (isa, intx, lapic-timer, pit, hpet, rtc), not to a ${kind} source`);
    if (kind === 'ioapic') {
      if (o.pin === undefined) c.fail(`${field}.pin`, 'must be an integer from 0 to 119, got undefined');
      src.pin = o.pin;
      // A pin may name the PCI device whose INTx# drives it: raise / lower then set and clear that device's interrupt
      // condition (the physical device's, for an assigned one), mask / unmask its Command.Interrupt Disable.
      if (o.device !== undefined) src.device = o.device;
    } else {
      if (o.device === undefined) c.fail(`${field}.device`, 'must be a non-empty string, got undefined');
      src.device = o.device;
      src.vector = o.vector ?? 0;
      if (o.pin !== undefined) c.fail(`${field}.pin`, `a ${kind} source has a device, not a pin`);
    }
  }
  if (o.embeddedMessage !== undefined) {
    if (kind !== 'msi' && kind !== 'msix') c.fail(`${field}.embeddedMessage`, 'only a PCI device (msi or msix source) can have an embedded interrupt controller');
    src.embeddedMessage = o.embeddedMessage;
  }
  if (o.embedded !== undefined) {
    if (o.embedded && kind !== 'msi') c.fail(`${field}.embedded`, 'the driver copies an MSI capability\'s message: only an msi source can signal through an embedded controller');
    if (o.embedded && o.embeddedMessage !== undefined) c.fail(`${field}.embedded`, 'use embedded (two machines) or embeddedMessage (one machine), not both');
    src.embedded = o.embedded;
  }
  if (o.managed !== undefined) src.managed = o.managed;
  if (o.trigger !== undefined) {
    if (isLegacySourceKind(kind)) c.fail(`${field}.trigger`, legacyTriggerReason(kind));
    if (kind !== 'ioapic' && o.trigger === 'level') c.fail(`${field}.trigger`, 'MSIs are always edge-triggered');
    src.trigger = o.trigger;
  }
  if (o.polarity !== undefined) {
    if (isLegacySourceKind(kind)) c.fail(`${field}.polarity`, legacyTriggerReason(kind));
    src.polarity = o.polarity;
  }
  if (o.steps === undefined) {
    src.steps = isLegacySourceKind(kind) ? defaultLegacySteps(src) : kind !== 'ioapic' ? ['signal'] : src.trigger === 'level' ? ['raise', 'ack', 'lower', 'eoi'] : ['pulse'];
  } else {
    src.steps = o.steps.map((s, j) => {
      if (ADVANCE_RE.test(s)) return s;
      if (isLegacySourceKind(kind)) {
        const why = legacyStepProblem(kind, s);
        if (why !== null) c.fail(`${field}.steps[${j}]`, why);
        return s;
      }
      if (/^(disintx|enintx)$/.test(s)) c.fail(`${field}.steps[${j}]`, `"${s}" sets PCI Command.Interrupt Disable: an intx source's step`);
      if (s === 'read-c') c.fail(`${field}.steps[${j}]`, '"read-c" reads the RTC\'s register C: an rtc source\'s step');
      if (kind !== 'ioapic' && !MSI_STEP_RE.test(s)) c.fail(`${field}.steps[${j}]`, `"${s}" is a pin step; ${kind} sources use signal`);
      if (kind === 'ioapic' && SYSTEM_STEP_RE.test(s) && !/^(deschedule|preempt|resume|migrate \d+)$/.test(s)) c.fail(`${field}.steps[${j}]`, `"${s}" rewrites an MSI's IRTE: only msi and msix sources have one here`);
      return s;
    });
  }
  return src;
}

/** The machine block, through the same validation createMachine applies (src/machine/config.ts). */
function parseMachine(c: Checker, raw: unknown, field = 'machine'): { config: MachineConfig; resolved: ResolvedConfig } {
  const config = raw as MachineConfig;
  try {
    return { config, resolved: resolveConfig(config) };
  } catch (e) {
    if (e instanceof ConfigError) c.failConfig(e, field);
    throw e;
  }
}

/**
 * The system block of a two-machine scenario, through createSystem's validation (src/vmm/system-config.ts). The
 * guest OS boots on the guest machine, so sources are checked against it (assigned stand-ins included).
 */
function parseSystem(c: Checker, raw: unknown, field = 'system'): { config: SystemConfig; machine: MachineConfig; resolved: ResolvedConfig } {
  const config = raw as SystemConfig;
  try {
    const r = resolveSystemConfig(config);
    return { config, machine: r.guest, resolved: r.guestResolved };
  } catch (e) {
    if (e instanceof ConfigError) c.failConfig(e, field);
    throw e;
  }
}

function range(count: number): string {
  return count === 1 ? '0' : `0–${count - 1}`;
}

/**
 * What a source asks of the machine must exist in it: the CPU, the I/O APIC pin, the device, its MSI or MSI-X
 * capability and the vector within it. Without this check a typo would only surface as an UNEXPECTED run.
 */
function checkSourcesAgainstMachine(c: Checker, sources: ScenarioSource[], machine: ResolvedConfig): void {
  sources.forEach((src, i) => {
    const field = `sources[${i}]`;
    if (src.cpu >= machine.cpus) c.fail(`${field}.cpu`, `CPU ${src.cpu} does not exist: the machine has ${machine.cpus} CPUs (${range(machine.cpus)})`);
    if (isLegacySourceKind(src.kind)) {
      const why = checkLegacySourcesAgainstMachine(src, machine);
      if (why !== null) c.fail(`${field}.${why.field}`, why.reason);
      return;
    }
    if (src.kind === 'ioapic') {
      const pin = src.pin ?? 0;
      if (pin >= machine.ioapic.pins) c.fail(`${field}.pin`, `pin ${pin} does not exist: the I/O APIC has ${machine.ioapic.pins} pins (${range(machine.ioapic.pins)})`);
      if (src.device !== undefined) {
        const d = isBdfText(src.device) ? machine.devices.find((x) => x.requesterId === parseBdf(src.device!)) : undefined;
        if (d === undefined) return c.fail(`${field}.device`, `no device ${src.device} in the machine`);
        if (d.intx === undefined) c.fail(`${field}.device`, `device ${d.bdf} has no INTx pin (intx: A..D) to drive pin ${pin}`);
      }
      return;
    }
    if (src.kind === 'ims') {
      const d = machine.devices.find((x) => x.bdf === src.device || (isBdfText(src.device!) && x.requesterId === parseBdf(src.device!)));
      if (!d) return c.fail(`${field}.device`, `no device ${src.device} in the machine`);
      const n = d.embeddedMsi?.registers.length ?? 0;
      if (n === 0) return c.fail(`${field}.kind`, `device ${d.bdf} has no IMS table (embeddedMsi)`);
      if ((src.vector ?? 0) >= n) c.fail(`${field}.vector`, `IMS entry ${src.vector} does not exist: device ${d.bdf} has ${n} (${range(n)})`);
      return;
    }
    let rid: number;
    try {
      rid = parseBdf(src.device!);
    } catch (e) {
      return c.fail(`${field}.device`, (e as Error).message);
    }
    const device = machine.devices.find((d) => d.requesterId === rid);
    if (!device) {
      const present = machine.devices.map((d) => d.bdf).join(', ') || 'none';
      return c.fail(`${field}.device`, `no device ${src.device} in machine.devices (devices: ${present})`);
    }
    const vector = src.vector ?? 0;
    if (src.kind === 'msi') {
      if (!device.msi) c.fail(`${field}.kind`, `device ${device.bdf} has no MSI capability${device.msix ? ' (it has MSI-X: kind: msix)' : ''}`);
      if (vector >= device.msi.vectors) c.fail(`${field}.vector`, `MSI vector ${vector} does not exist: device ${device.bdf} requests ${device.msi.vectors} (${range(device.msi.vectors)})`);
    } else {
      if (!device.msix) c.fail(`${field}.kind`, `device ${device.bdf} has no MSI-X capability${device.msi ? ' (it has MSI: kind: msi)' : ''}`);
      if (vector >= device.msix.entries) c.fail(`${field}.vector`, `MSI-X vector ${vector} does not exist: device ${device.bdf} has ${device.msix.entries} table entries (${range(device.msix.entries)})`);
    }
  });
}

/** Two-machine fields need a system: `embedded` needs an assigned device with an embedded controller. */
function checkSystemSources(c: Checker, sources: ScenarioSource[], system: SystemConfig | null): void {
  sources.forEach((src, i) => {
    const field = `sources[${i}]`;
    const systemStep = src.steps.findIndex((s) => SYSTEM_STEP_RE.test(s));
    if (system === null) {
      if (src.embedded) c.fail(`${field}.embedded`, 'needs a two-machine scenario (system:); a single machine uses embeddedMessage');
      if (systemStep >= 0) c.fail(`${field}.steps[${systemStep}]`, `"${src.steps[systemStep]}" needs a two-machine scenario (system:)`);
      return;
    }
    if (src.embeddedMessage !== undefined) c.fail(`${field}.embeddedMessage`, 'is the single-machine shortcut; in a system scenario the driver copies the message itself (embedded: true)');
    if (!src.embedded) return;
    const a = system.guest.assigned?.find((x) => x.bdf === src.device);
    if (a === undefined) return c.fail(`${field}.embedded`, `${src.device} is not an assigned device (system.guest.assigned)`);
    const hostDevice = system.host.devices?.find((d) => d.bdf === a.host);
    if (hostDevice?.embeddedMsi === undefined) return c.fail(`${field}.embedded`, `host device ${a.host} has no embeddedMsi controller`);
    if ((src.vector ?? 0) >= hostDevice.embeddedMsi.registers.length) c.fail(`${field}.vector`, `the embedded controller of ${a.host} has ${hostDevice.embeddedMsi.registers.length} source(s)`);
  });
}

/** Expected CPUs must exist too (a `reaches: { cpu: 9 }` on a 4-CPU machine could never be met). */
function checkExpectAgainstMachine(c: Checker, expect: ScenarioExpect, machine: ResolvedConfig, field: string): void {
  if (expect.onlineCpus !== null && expect.onlineCpus > machine.cpus) {
    c.fail(`${field}.onlineCpus`, `${expect.onlineCpus} is more than the machine's ${machine.cpus} CPUs`);
  }
  for (const [id, e] of Object.entries(expect.sources)) {
    if (e.kind === 'reaches' && e.cpu >= machine.cpus) c.fail(`${field}.sources.${id}.reaches.cpu`, `CPU ${e.cpu} does not exist: the machine has ${machine.cpus} CPUs (${range(machine.cpus)})`);
  }
}

/** The DMA request's device must exist on the machine. */
function checkDma(c: Checker, dma: ScenarioDma, i: number, devices: ResolvedConfig['devices']): ScenarioDma {
  const field = `dma[${i}]`;
  let rid: number;
  try {
    rid = parseBdf(dma.device);
  } catch (e) {
    c.fail(`${field}.device`, (e as Error).message);
  }
  if (!devices.some((d) => d.requesterId === rid)) c.fail(`${field}.device`, `no device ${dma.device} on the machine (devices: ${devices.map((d) => d.bdf).join(', ') || 'none'})`);
  return dma;
}

/** Every source and every DMA request has exactly one expectation, and names only sources that exist. */
function checkExpect(c: Checker, expect: ScenarioExpect, sourceIds: Set<string>, field = 'expect', dmaIds: Set<string> = new Set()): ScenarioExpect {
  for (const [id, exp] of Object.entries(expect.sources)) {
    if (!sourceIds.has(id)) c.fail(`${field}.sources.${id}`, `no source named "${id}" (sources: ${[...sourceIds].join(', ')})`);
    if (exp.kind === 'reaches-source' && !sourceIds.has(exp.source)) c.fail(`${field}.sources.${id}.reachesSourceOf`, `no source named "${exp.source}"`);
  }
  for (const id of sourceIds) if (!(id in expect.sources)) c.fail(`${field}.sources`, `no expectation for source "${id}"`);
  for (const id of Object.keys(expect.dma)) {
    if (!dmaIds.has(id)) c.fail(`${field}.dma.${id}`, `no DMA request named "${id}" (dma: ${[...dmaIds].join(', ') || 'none'})`);
  }
  for (const id of dmaIds) if (!(id in expect.dma)) c.fail(`${field}.dma`, `no expectation for DMA request "${id}"`);
  return expect;
}

/** The Linux-only fields need os: linux; the version is read as the kernel would name it. */
function parseGuest(c: Checker, o: GuestSpec, field = 'guest'): GuestSpec {
  const guest: GuestSpec = { os: o.os };
  if (o.version !== undefined) {
    if (o.os !== 'linux') c.fail(`${field}.version`, 'selects a Linux kernel version; only os: linux has one');
    try {
      guest.version = parseLinuxVersion(o.version, `${field}.version`).text;
    } catch (e) {
      if (e instanceof ConfigError) c.fail(e.field, e.reason);
      throw e;
    }
  }
  if (o.cmdline !== undefined) {
    if (o.os !== 'linux') c.fail(`${field}.cmdline`, 'is a Linux kernel command line; only os: linux has one');
    guest.cmdline = o.cmdline;
  }
  if (o.quirks !== undefined) guest.quirks = o.quirks;
  return guest;
}

/**
 * A variant's expectations over the base's. A source's expectation is one kind of outcome, so a variant that names a
 * different kind (`held` where the base said `reaches`) replaces it; the same kind merges field by field.
 */
function mergeExpect(base: unknown, over: Record<string, unknown>): unknown {
  const merged = deepMerge(base, over);
  const baseSources = isObject(base) && isObject(base.sources) ? base.sources : {};
  const overSources = isObject(over.sources) ? over.sources : {};
  if (!isObject(merged) || !isObject(merged.sources)) return merged;
  for (const [id, e] of Object.entries(overSources)) {
    const was = baseSources[id];
    if (isObject(e) && isObject(was) && Object.keys(e).join() !== Object.keys(was).join()) merged.sources[id] = e;
  }
  return merged;
}

/** A scenario's id: its file name without directory and extension ("scenarios/05-x.yaml" → "05-x"). */
export function scenarioFileId(file: string): string {
  return file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1).replace(/\.ya?ml$/, '');
}

/**
 * Parse and validate one scenario document; returns the base scenario followed by its variants. A ScenarioError
 * carries the line and column of the field it names.
 */
export function parseScenario(text: string, file: string): Scenario[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    if (e instanceof YAMLParseError) {
      const at = e.linePos?.[0];
      throw new ScenarioError(file, '', `YAML syntax error: ${e.message}`, null, at ? { line: at.line, column: at.col } : null);
    }
    throw e;
  }
  const problems = shapeProblems(doc).map((p) => new ScenarioError(file, p.field, p.reason, null, positionOfField(text, p.field)));
  if (problems.length > 0) {
    const [first, ...more] = problems;
    throw new ScenarioError(file, first.field, first.reason, null, first.position, more);
  }
  try {
    return validateScenario(doc, file);
  } catch (e) {
    if (e instanceof ScenarioError && e.position === null) {
      const [first, ...more] = e.problems.map((p) => new ScenarioError(p.file, p.field, p.reason, p.variant, positionOfField(text, p.field, p.variant)));
      throw new ScenarioError(first.file, first.field, first.reason, first.variant, first.position, more);
    }
    throw e;
  }
}

/** The checks of {@link parseScenario}, on a document whose shape is right. */
function validateScenario(doc: unknown, file: string): Scenario[] {
  const c: Checker = new Checker(file);
  const o = v.parse(ScenarioFileSchema, doc);
  // The document as written, for variants to merge over: they override what the author wrote, not what it was read as.
  const raw = doc as Record<string, unknown>;
  if ((o.machine === undefined) === (o.system === undefined)) c.fail(o.machine === undefined ? 'machine' : 'system', 'a scenario has either a machine or a system (host, guest and VMM), exactly one of them');
  const id = scenarioFileId(file);
  const title = o.title;
  const story = o.story ?? '';
  const facts = o.facts ?? [];
  const single = o.system === undefined;
  const top = single ? { ...parseMachine(c, raw.machine), system: null } : (() => {
    const sys = parseSystem(c, raw.system);
    return { config: sys.machine, resolved: sys.resolved, system: sys.config };
  })();
  const { config: machine, resolved, system } = top;
  // Each check below stands alone: every failing one is reported (Checker.attempt), then the file is refused.
  const guestRead = c.attempt(() => parseGuest(c, o.guest));
  const parsed = o.sources.map((s, i) => c.attempt(() => parseSource(c, s, i)));
  const ids = new Set<string>();
  o.sources.forEach((s, i) => {
    if (ids.has(s.id)) c.attempt(() => c.fail(`sources[${i}].id`, `"${s.id}" is used twice`));
    ids.add(s.id);
  });
  const sources = parsed.filter((s): s is ScenarioSource => s !== undefined);
  if (sources.length === parsed.length) {
    c.attempt(() => checkSourcesAgainstMachine(c, sources, resolved));
    c.attempt(() => checkSystemSources(c, sources, system));
  }
  const dmaChecked = (o.dma ?? []).map((d, i) => c.attempt(() => checkDma(c, d, i, resolved.devices)));
  const dmaIds = new Set<string>();
  (o.dma ?? []).forEach((d, i) => {
    if (dmaIds.has(d.id)) c.attempt(() => c.fail(`dma[${i}].id`, `"${d.id}" is used twice`));
    dmaIds.add(d.id);
  });
  const expectRead = c.attempt(() => checkExpect(c, o.expect, ids, 'expect', dmaIds));
  if (expectRead !== undefined) c.attempt(() => checkExpectAgainstMachine(c, expectRead, resolved, 'expect'));
  // Variants build on the base: a base with problems is refused before they are read.
  c.settle();
  // Settled: every check passed.
  const dma = dmaChecked as ScenarioDma[];
  const guest = guestRead as GuestSpec;
  const expect = expectRead as ScenarioExpect;
  const base: Scenario = { id, variant: null, title, story, sources_of_truth: facts, machine, system, guest, sources, dma, expect };
  const out = [base];

  // Each variant is checked on its own: the problems of every variant are reported together.
  (o.variants ?? []).forEach((variant, i) => c.attempt(() => {
    const field = `variants[${i}]`;
    const name = variant.name;
    // From here on, every error is about this variant's merged content: name it.
    c.variant = name;
    try {
      if (variant.machine !== undefined && !single) c.fail(`${field}.machine`, 'this scenario has a system: override system.host, system.guest or system.vmm instead');
      if (variant.system !== undefined && single) c.fail(`${field}.system`, 'this scenario has a single machine: override machine instead');
      let machineV: { config: MachineConfig; resolved: ResolvedConfig };
      let systemV = system;
      if (variant.system !== undefined) {
        const sys = parseSystem(c, deepMerge(system, variant.system), `${field}.system`);
        machineV = { config: sys.machine, resolved: sys.resolved };
        systemV = sys.config;
      } else {
        machineV = variant.machine === undefined ? { config: machine, resolved } : parseMachine(c, deepMerge(machine, variant.machine));
      }
      const guestV = variant.guest === undefined ? guest : parseGuest(c, c.shaped(GuestSchema, deepMerge(raw.guest, variant.guest), `${field}.guest`), `${field}.guest`);
      const expectRaw = mergeExpect(raw.expect, variant.expect ?? {});
      // Per-source overrides, keyed by source id: { ath11k-ce: { embeddedMessage: from-msi-capability } }.
      let sourcesV = sources;
      if (variant.sources !== undefined) {
        const over = variant.sources;
        for (const sid of Object.keys(over)) if (!ids.has(sid)) c.fail(`${field}.sources.${sid}`, `no source named "${sid}"`);
        sourcesV = (raw.sources as Record<string, unknown>[]).map((rawSource, j) => {
          const sid = sources[j].id;
          return sid in over ? parseSource(c, c.shaped(SourceSchema, deepMerge(rawSource, over[sid]), `sources[${j}]`), j) : sources[j];
        });
      }
      checkSourcesAgainstMachine(c, sourcesV, machineV.resolved);
      checkSystemSources(c, sourcesV, systemV);
      const expectV = checkExpect(c, c.shaped(ExpectSchema, expectRaw, `${field}.expect`), ids, `${field}.expect`, dmaIds);
      checkExpectAgainstMachine(c, expectV, machineV.resolved, `${field}.expect`);
      out.push({
        id,
        variant: name,
        title: variant.title ?? `${title} (${name})`,
        story: variant.story ?? story,
        sources_of_truth: facts,
        machine: machineV.config,
        system: systemV,
        guest: guestV,
        sources: sourcesV,
        dma,
        expect: expectV,
      });
    } finally {
      c.variant = null;
    }
  }));
  c.settle();
  return out;
}
