/**
 * The shape of a scenario file (`scenarios/*.yaml`), declared once: the validator (scenario-file.ts) checks every
 * document against it and reports every problem it finds at once, and scripts/scenario-schema.ts turns the same
 * declaration into scenarios/scenario.schema.json for editors. What one field alone can say lives here; what needs
 * two fields or the machine (a source's device must exist, a pin has no device, variants merge over the base) stays
 * hand-written in scenario-file.ts, after the shape is known to be right.
 *
 * The `machine:` and `system:` blocks are mappings here; their fields are checked by the machine's and the system's
 * own validation (src/machine/config.ts, src/vmm/system-config.ts), the same createMachine and createSystem apply.
 */
import * as v from 'valibot';

const got = (issue: v.BaseIssue<unknown>): string => JSON.stringify(issue.input) ?? String(issue.input);

/** A non-empty string. */
const text = (what = 'a non-empty string') => v.pipe(v.string((i) => `must be ${what}, got ${got(i)}`), v.minLength(1, (i) => `must be ${what}, got ${got(i)}`));

/** An integer from `min` to `max`, written as a number or as hex text ("0x25"); YAML reads 0x25 as a number already. */
function int(min: number, max: number) {
  const message = (i: v.BaseIssue<unknown>) => `must be an integer from ${min} to ${max}, got ${got(i)}`;
  return v.union(
    [
      v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max)),
      v.pipe(
        v.string(),
        v.regex(/^0x[0-9a-fA-F]+$/, message),
        v.check((s) => parseInt(s, 16) >= min && parseInt(s, 16) <= max, message),
      ),
    ],
    message,
  );
}

/** One of `options`, with the message the hand-written validator always gave ("must be msi, msix, ioapic or ims"). */
function oneOf<const T extends readonly string[]>(options: T, what = listOf(options)) {
  return v.picklist(options, (i) => `must be ${what}, got ${got(i)}`);
}

function listOf(options: readonly string[]): string {
  return options.length === 1 ? options[0] : `${options.slice(0, -1).join(', ')} or ${options[options.length - 1]}`;
}

/** A mapping with exactly these fields: an unknown one is named with the fields that are allowed. */
function fields<const E extends v.ObjectEntries>(entries: E) {
  const allowed = Object.keys(entries).join(', ');
  return v.strictObject(entries, (i) => (i.expected === 'never' ? `unknown field (allowed: ${allowed})` : `must be a mapping, got ${got(i)}`));
}

const mapping = v.record(v.string(), v.unknown(), (i) => `must be a mapping, got ${got(i)}`);
const strings = v.array(v.string(), 'must be a list of strings');

const STEP =
  /^(signal|pulse|ack|eoi|handle|raise(?: [\w-]+)?|lower(?: [\w-]+)?|retarget \d+|retarget-stale \d+|release|deschedule|preempt|resume|migrate \d+|mask|unmask|invalidate-iec [\w-]+|cpu-offline \d+|cpu-online \d+|apic-id \d+ \d+|ldr \d+ (?:0x)?[0-9a-fA-F]+|x2apic)$/;
const STEP_NAMES = 'signal, pulse, raise [name], lower [name], ack, eoi, handle, retarget N, retarget-stale N, release, mask, unmask, invalidate-iec <source>, deschedule, preempt, resume, migrate N, cpu-offline N, cpu-online N, apic-id C N, ldr C V, x2apic';

/** A stimulus step of a source: `signal`, `raise A`, `retarget 3` … (which kinds of source take which: scenario-file.ts). */
export const StepSchema = v.pipe(
  v.string((i) => `unknown step ${got(i)} (${STEP_NAMES})`),
  v.regex(STEP, (i) => `unknown step ${got(i)} (${STEP_NAMES})`),
);

/** A message address for an embedded interrupt controller: 64-bit, written in hex. */
const address64 = v.union(
  [v.pipe(v.number(), v.integer(), v.minValue(0)), v.pipe(v.string(), v.regex(/^0x[0-9a-fA-F]{1,16}$/, (i) => `must be a 64-bit hex address like 0xfee00000, got ${got(i)}`))],
  (i) => `must be a 64-bit hex address like 0xfee00000, got ${got(i)}`,
);

export const SourceSchema = fields({
  id: text(),
  kind: oneOf(['msi', 'msix', 'ioapic', 'ims']),
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

const SOURCE_EXPECTATIONS = 'intended, reaches, reachesSourceOf, fault, memoryWrite, pirq, refused, wrong-vector, stale or lost';

/** What the run checks for one source: a word, or a mapping with exactly one of the expectation kinds. */
export const SourceExpectationSchema = v.union(
  [
    v.picklist(['intended', 'pirq', 'refused', 'wrong-vector', 'stale', 'lost']),
    fields({ intended: fields({ times: v.optional(int(0, 1000)) }) }),
    fields({ reaches: fields({ cpu: int(0, 32767), vector: v.optional(int(0, 255)), times: v.optional(int(0, 1000)) }) }),
    fields({ reachesSourceOf: text() }),
    fields({ fault: fields({ unit: oneOf(['intel-vtd', 'amd-vi', 'hypervisor']), code: int(0, 0xff) }) }),
    fields({ memoryWrite: v.union([v.literal(true), fields({ above4G: v.optional(v.boolean()) })]) }),
  ],
  (i) => `must be one of ${SOURCE_EXPECTATIONS}, got ${got(i)}`,
);

export const DmaSchema = fields({
  id: text(),
  device: text('a PCI address like 03:00.0'),
  iova: int(0, 0xffff_f000),
  map: v.optional(oneOf(['rw', 'ro', 'none'])),
  address: v.optional(int(0, 0xffff_fffc)),
  value: v.optional(int(0, 0xffff_ffff)),
});

export const DmaExpectationSchema = v.union(
  [v.picklist(['memory', 'interrupt']), fields({ fault: fields({ unit: oneOf(['intel-vtd', 'amd-vi']), code: int(0, 0xff) }) })],
  (i) => `must be memory, interrupt or { fault: { unit, code } }, got ${got(i)}`,
);

const counter = v.optional(int(0, 1_000_000));

export const ExpectSchema = fields({
  verdict: oneOf(['reproduced', 'fixed'], 'reproduced (the run shows the failure) or fixed (the path works)'),
  onlineCpus: v.optional(int(1, 32768)),
  bootLog: v.optional(strings),
  faultLog: v.optional(strings),
  sources: v.optional(v.record(v.string(), SourceExpectationSchema, (i) => `must be a mapping, got ${got(i)}`)),
  vmm: v.optional(fields({ translations: counter, evictions: counter, injections: counter, posted: counter, wakeups: counter, faults: counter, nativeRemaps: counter, pended: counter, resamples: counter, resent: counter })),
  dma: v.optional(v.record(v.string(), DmaExpectationSchema, (i) => `must be a mapping, got ${got(i)}`)),
});

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
  machine: v.optional(mapping),
  system: v.optional(mapping),
  guest: GuestSchema,
  sources: v.pipe(v.array(SourceSchema, 'must be a non-empty list'), v.minLength(1, 'must be a non-empty list')),
  dma: v.optional(v.array(DmaSchema, 'must be a list of DMA requests')),
  expect: ExpectSchema,
  variants: v.optional(v.array(VariantSchema, 'must be a list')),
});

/** One problem valibot found: the field path in the validator's notation ("sources[0].kind") and what was wrong. */
export interface ShapeProblem {
  field: string;
  reason: string;
}

type PathKey = string | number;

/** A path in the validator's notation: ['sources', 0, 'kind'] → "sources[0].kind". */
function fieldOf(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? key : `.${key}`;
  return out;
}

function keysOf(issue: v.BaseIssue<unknown>): PathKey[] {
  return (issue.path ?? []).map((item) => item.key as PathKey);
}

/**
 * Every problem with the shape of `doc`, in document order; empty when the shape is right. An unknown key's path
 * ends with the key itself.
 */
export function shapeProblems(doc: unknown): ShapeProblem[] {
  const result = v.safeParse(ScenarioFileSchema, doc);
  if (result.success) return [];
  return result.issues.flatMap((issue) => bestMatch(issue, [])).map(({ path, message }) => ({ field: fieldOf(path), reason: message }));
}

/**
 * A union that failed (an expectation is one of several mappings) carries each branch's issues, flattened, with
 * paths relative to the union. The branch that got furthest into the input, past the key that names it, is the one
 * the author meant — `{ fault: { unit: intel } }` is a fault with a bad unit, not a bad `reaches` — so its deepest
 * issues are reported; otherwise the union's own message, which lists the choices.
 */
function bestMatch(issue: v.BaseIssue<unknown>, prefix: PathKey[]): { path: PathKey[]; message: string }[] {
  const path = [...prefix, ...keysOf(issue)];
  const branches = issue.issues;
  if (issue.type !== 'union' || branches === undefined || branches.length === 0) return [{ path, message: issue.message }];
  const deepest = Math.max(...branches.map((b) => keysOf(b).length));
  const found = branches.filter((b) => keysOf(b).length === deepest);
  // Flattened issues belong to one branch only when they all sit under the same key.
  const keys = new Set(found.map((b) => keysOf(b)[0]));
  if (deepest <= 1 || keys.size !== 1) return [{ path, message: issue.message }];
  return found.flatMap((b) => bestMatch(b, path));
}
