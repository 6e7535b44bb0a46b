/**
 * The shape of a scenario file (`scenarios/*.yaml`), declared once: the validator (scenario-file.ts) checks every
 * document against it and reports every problem it finds at once, and scripts/scenario-schema.ts turns the same
 * declaration into scenarios/scenario.schema.json for editors. What one field alone can say lives here; what needs
 * two fields or the machine (a source's device must exist, a pin has no device, variants merge over the base) stays
 * hand-written in scenario-file.ts, after the shape is known to be right.
 *
 * The `machine:` and `system:` blocks are the machine's and the system's own schemas (src/machine/config.ts,
 * src/vmm/system-config.ts), the ones createMachine and createSystem apply; a variant's overrides are partial
 * mappings, checked whole once merged over the base.
 */
import * as v from 'valibot';
import { fields as configFields, got, listOf, mustBe, shapeProblems as problemsOf } from '../core/config-schema.ts';
import type { ConfigProblem } from '../core/errors.ts';
import { MachineConfigSchema } from '../machine/config-schema.ts';
import { SystemConfigSchema } from '../vmm/system-config-schema.ts';
import { DURATION_RE, HELD_BY, LAPIC_TIMER_MODES, LEGACY_VIAS, parseDuration, PIT_MODE_NAMES } from './legacy-words.ts';

/** A non-empty string. */
const text = (what = 'a non-empty string') => v.pipe(v.string(mustBe(what)), v.minLength(1, mustBe(what)));

/**
 * An integer from `min` to `max`, written as a number or as hex text ("0x25"), read as a number; YAML reads 0x25 as
 * a number already.
 */
function int(min: number, max: number) {
  const message = mustBe(`an integer from ${min} to ${max}`);
  return v.union(
    [
      v.pipe(v.number(), v.integer(message), v.minValue(min, message), v.maxValue(max, message)),
      v.pipe(
        v.string(),
        v.regex(/^0x[0-9a-fA-F]+$/, message),
        v.check((s) => parseInt(s, 16) >= min && parseInt(s, 16) <= max, message),
        v.transform((s) => parseInt(s, 16)),
      ),
    ],
    message,
  );
}

/** An integer `int(min, max)` that is a multiple of `alignment` ("must be 4 KiB aligned, got 0x1234"). */
function aligned(min: number, max: number, alignment: number, what: string) {
  return v.pipe(int(min, max), v.check((n) => n % alignment === 0, (i) => `must be ${what} aligned, got 0x${(i.input as number).toString(16)}`));
}

/** One of `options`, with the message the hand-written validator always gave ("must be edge or level"). */
function oneOf<const T extends readonly string[]>(options: T, what = listOf(options)) {
  return v.picklist(options, mustBe(what));
}

/** A mapping with exactly these fields: an unknown one is named with the fields that are allowed. */
const fields = <const E extends v.ObjectEntries>(entries: E) => configFields(entries, mustBe('a mapping'));

const mapping = v.record(v.string(), v.unknown(), (i) => `must be a mapping, got ${got(i)}`);
const strings = v.array(v.string(), 'must be a list of strings');

const STEP =
  /^(signal|pulse|ack|eoi|handle|raise(?: [\w.:-]+)?|lower(?: [\w.:-]+)?|retarget \d+|retarget-stale \d+|release|deschedule|preempt|resume|migrate \d+|mask|unmask|invalidate-iec [\w-]+|cpu-offline \d+|cpu-online \d+|apic-id \d+ \d+|ldr \d+ (?:0x)?[0-9a-fA-F]+|x2apic|advance \d+(?:ns|us|ms|s)|disintx|enintx|read-c)$/;
const STEP_NAMES =
  'signal, pulse, raise [name], lower [name], ack, eoi, handle, advance <time> (250us, 4ms), disintx, enintx, read-c, retarget N, retarget-stale N, release, mask, unmask, invalidate-iec <source>, deschedule, preempt, resume, migrate N, cpu-offline N, cpu-online N, apic-id C N, ldr C V, x2apic';

/** A stimulus step of a source: `signal`, `raise A`, `retarget 3` … (which kinds of source take which: scenario-file.ts). */
export const StepSchema = v.pipe(
  v.string((i) => `unknown step ${got(i)} (${STEP_NAMES})`),
  v.regex(STEP, (i) => `unknown step ${got(i)} (${STEP_NAMES})`),
);

/** A message address for an embedded interrupt controller: 64-bit, written in hex; read as a bigint. */
const address64 = v.union(
  [
    v.pipe(v.number(), v.integer(), v.minValue(0), v.transform((n) => BigInt(n))),
    v.pipe(v.string(), v.regex(/^0x[0-9a-fA-F]{1,16}$/, (i) => `must be a 64-bit hex address like 0xfee00000, got ${got(i)}`), v.transform((s) => BigInt(s))),
  ],
  (i) => `must be a 64-bit hex address like 0xfee00000, got ${got(i)}`,
);

/** A duration: nanoseconds as an integer, or text with a unit ("250us", "4ms", "1s"); read as nanoseconds. */
const duration = v.union(
  [v.pipe(v.number(), v.integer(), v.minValue(1)), v.pipe(v.string(), v.regex(DURATION_RE), v.transform(parseDuration))],
  (i) => `must be a duration like 250us, 4ms or 1s (or an integer of ns), got ${got(i)}`,
);

export const SourceSchema = fields({
  id: text(),
  kind: oneOf(['msi', 'msix', 'ioapic', 'ims', 'isa', 'intx', 'lapic-timer', 'pit', 'hpet', 'rtc']),
  irq: v.optional(int(0, 15)),
  via: v.optional(oneOf(LEGACY_VIAS)),
  mode: v.optional(oneOf([...LAPIC_TIMER_MODES, ...PIT_MODE_NAMES, 'update'] as const)),
  period: v.optional(duration),
  count: v.optional(int(1, 65536)),
  rate: v.optional(int(1, 15)),
  device: v.optional(text()),
  vector: v.optional(int(0, 2047)),
  pin: v.optional(int(0, 119)),
  trigger: v.optional(oneOf(['edge', 'level'])),
  polarity: v.optional(oneOf(['high', 'low'])),
  cpu: int(0, 32767),
  managed: v.optional(v.boolean((i) => `must be true or false, got ${got(i)}`)),
  steps: v.optional(v.pipe(v.array(StepSchema, 'must be a non-empty list'), v.minLength(1, 'must be a non-empty list'))),
  embeddedMessage: v.optional(v.union([v.literal('from-msi-capability'), fields({ addr: address64, data: int(0, 0xffffffff) })], (i) => `must be from-msi-capability or { addr, data }, got ${got(i)}`)),
  embedded: v.optional(v.boolean((i) => `must be true or false, got ${got(i)}`)),
});

const SOURCE_EXPECTATIONS = 'intended, reaches, reachesSourceOf, fault, memoryWrite, held, pirq, refused, wrong-vector, stale or lost';

/**
 * What the run checks for one source: a word, or a mapping with exactly one of the expectation kinds; read as one
 * object tagged by `kind`, with the defaults filled (once, CPU and vector as the guest intended).
 */
export const SourceExpectationSchema = v.union(
  [
    v.pipe(
      v.picklist(['intended', 'pirq', 'refused', 'wrong-vector', 'stale', 'lost']),
      v.transform((word) => (word === 'intended' ? { kind: word, times: 1 } : { kind: word })),
    ),
    v.pipe(fields({ intended: fields({ times: v.optional(int(0, 1000)) }) }), v.transform(({ intended }) => ({ kind: 'intended' as const, times: intended.times ?? 1 }))),
    v.pipe(
      fields({ reaches: fields({ cpu: int(0, 32767), vector: v.optional(int(0, 255)), times: v.optional(int(0, 1000)) }) }),
      v.transform(({ reaches }) => ({ kind: 'reaches' as const, cpu: reaches.cpu, vector: reaches.vector ?? null, times: reaches.times ?? 1 })),
    ),
    v.pipe(fields({ reachesSourceOf: text() }), v.transform(({ reachesSourceOf }) => ({ kind: 'reaches-source' as const, source: reachesSourceOf }))),
    v.pipe(
      fields({ fault: fields({ unit: oneOf(['intel-vtd', 'amd-vi', 'hypervisor']), code: int(0, 0xff) }) }),
      v.transform(({ fault }) => ({ kind: 'fault' as const, unit: fault.unit, code: fault.code })),
    ),
    v.pipe(
      fields({ memoryWrite: v.union([v.literal(true), fields({ above4G: v.optional(v.boolean()) })]) }),
      v.transform(({ memoryWrite }) => ({ kind: 'memory-write' as const, above4G: memoryWrite !== true && memoryWrite.above4G === true })),
    ),
    v.pipe(
      fields({ held: fields({ by: oneOf(HELD_BY), delivered: v.optional(int(0, 1000)) }) }),
      v.transform(({ held }) => ({ kind: 'held' as const, by: held.by, delivered: held.delivered ?? 0 })),
    ),
    v.pipe(
      fields({ lost: fields({ reason: text('the words the loss is reported with, e.g. "masked pin"') }) }),
      v.transform(({ lost }) => ({ kind: 'lost' as const, reason: lost.reason })),
    ),
  ],
  (i) => `must be one of ${SOURCE_EXPECTATIONS}, got ${got(i)}`,
);

/** A DMA request, read with its defaults: map rw, write 0 at the IOVA; addresses as bigints. */
export const DmaSchema = v.pipe(
  fields({
    id: text(),
    device: text('a PCI address like 03:00.0'),
    iova: aligned(0, 0xffff_f000, 4096, '4 KiB'),
    map: v.optional(oneOf(['rw', 'ro', 'none'])),
    address: v.optional(aligned(0, 0xffff_fffc, 4, '4-byte')),
    value: v.optional(int(0, 0xffff_ffff)),
  }),
  v.transform(({ id, device, iova, map, address, value }) => ({ id, device, iova: BigInt(iova), map: map ?? 'rw', address: BigInt(address ?? iova), value: value ?? 0 })),
);

/** What a DMA write must do, read as one object tagged by `kind`. */
export const DmaExpectationSchema = v.union(
  [
    v.pipe(v.picklist(['memory', 'interrupt']), v.transform((word) => ({ kind: word }))),
    v.pipe(fields({ fault: fields({ unit: oneOf(['intel-vtd', 'amd-vi']), code: int(0, 0xff) }) }), v.transform(({ fault }) => ({ kind: 'fault' as const, unit: fault.unit, code: fault.code }))),
  ],
  (i) => `must be memory, interrupt or { fault: { unit, code } }, got ${got(i)}`,
);

const counter = v.optional(int(0, 1_000_000));

/** The expected outcome, read with its defaults (nothing to find in the logs, no counters, no expectations). */
export const ExpectSchema = v.pipe(
  fields({
    verdict: oneOf(['reproduced', 'fixed'], 'reproduced (the run shows the failure) or fixed (the path works)'),
    onlineCpus: v.optional(int(1, 32768)),
    bootLog: v.optional(strings),
    faultLog: v.optional(strings),
    sources: v.optional(v.record(v.string(), SourceExpectationSchema, (i) => `must be a mapping, got ${got(i)}`)),
    vmm: v.optional(fields({ translations: counter, evictions: counter, injections: counter, posted: counter, wakeups: counter, faults: counter, nativeRemaps: counter, pended: counter, resamples: counter, resent: counter })),
    dma: v.optional(v.record(v.string(), DmaExpectationSchema, (i) => `must be a mapping, got ${got(i)}`)),
  }),
  v.transform((e) => ({
    vmm: e.vmm ?? {},
    dma: e.dma ?? {},
    verdict: e.verdict,
    onlineCpus: e.onlineCpus ?? null,
    bootLog: e.bootLog ?? [],
    faultLog: e.faultLog ?? [],
    sources: e.sources ?? {},
  })),
);

export const GuestSchema = fields({
  os: oneOf(['linux', 'windows']),
  quirks: v.optional(v.record(v.string(), v.boolean((i) => `must be true or false, got ${got(i)}`), (i) => `must be a mapping, got ${got(i)}`)),
  version: v.optional(text('a Linux kernel version like 6.1')),
  cmdline: v.optional(v.string((i) => `must be a kernel command line string like "intremap=off nox2apic", got ${got(i)}`)),
});

/** A variant overrides parts of the base; every part is merged over the base and checked whole (scenario-file.ts). */
export const VariantSchema = fields({
  name: v.pipe(text(), v.regex(/^[\w-]+$/, 'must be a single word (letters, digits, - and _)')),
  title: v.optional(text()),
  story: v.optional(v.string()),
  machine: v.optional(mapping),
  system: v.optional(mapping),
  guest: v.optional(mapping),
  sources: v.optional(v.record(v.string(), mapping, (i) => `must be a mapping, got ${got(i)}`)),
  expect: v.optional(mapping),
});

/** A whole scenario file. */
export const ScenarioFileSchema = fields({
  title: text(),
  story: v.optional(text()),
  facts: v.optional(strings),
  machine: v.optional(MachineConfigSchema),
  system: v.optional(SystemConfigSchema),
  guest: GuestSchema,
  sources: v.pipe(v.array(SourceSchema, 'must be a non-empty list'), v.minLength(1, 'must be a non-empty list')),
  dma: v.optional(v.array(DmaSchema, 'must be a list of DMA requests')),
  expect: ExpectSchema,
  variants: v.optional(v.array(VariantSchema, 'must be a list')),
});

/** One problem valibot found: the field path in the validator's notation ("sources[0].kind") and what was wrong. */
export type ShapeProblem = ConfigProblem;

/**
 * Every problem with the shape of `doc`, in document order; empty when the shape is right. An unknown key's path
 * ends with the key itself.
 */
export function shapeProblems(doc: unknown): ShapeProblem[] {
  return problemsOf(ScenarioFileSchema, doc);
}
