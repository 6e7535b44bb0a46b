/**
 * The building blocks every configuration schema is made of (the machine's, each IOMMU's, the system's, the scenario
 * file's), and the one way their problems become a ConfigError: every problem at once, each naming its field path.
 * The schemas say what one field alone can say; rules that relate fields stay hand-written next to each schema and
 * run once the shape is known to be right.
 *
 * valibot (https://valibot.dev) works in the browser and keeps each message next to the check it explains. The
 * package's public declarations never name valibot's types (they need DOM's Blob and File): the public config types
 * are plain interfaces, checked against the schema's inferred type with {@link SameType}.
 */
import * as v from 'valibot';
import { parseBdf } from './bdf.ts';
import { ConfigError, showValue, type ConfigProblem } from './errors.ts';
import { parseRegisterValue } from './register-value.ts';

/** What the user wrote, as a message shows it. */
export const got = (issue: v.BaseIssue<unknown>): string => showValue(issue.input);

/** `must be <what>, got <value>`: the message of most checks. */
export const mustBe = (what: string) => (issue: v.BaseIssue<unknown>): string => `must be ${what}, got ${got(issue)}`;

/**
 * An integer from `min` to `max`. The default messages are the machine configuration's ("must be an integer, got
 * 1.5", "must be between 1 and 32768, got 0"); `message` replaces both.
 */
export function integer(min: number, max: number, message?: (issue: v.BaseIssue<unknown>) => string) {
  const notInteger = message ?? mustBe('an integer');
  const outside = message ?? ((i: v.BaseIssue<unknown>) => `must be between ${min} and ${max}, got ${got(i)}`);
  return v.pipe(v.number(notInteger), v.integer(notInteger), v.minValue(min, outside), v.maxValue(max, outside));
}

/** true or false. */
export const flag = () => v.boolean(mustBe('true or false'));

/** `options` joined for a message: "a, b or c". */
export function listOf(options: readonly unknown[]): string {
  const words = options.map(String);
  return words.length === 1 ? words[0] : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/** One of `options`; the message says which ("must be msi, msix, ioapic or ims, got ..."). */
export function oneOf<const T extends readonly (string | number)[]>(options: T, message: (issue: v.BaseIssue<unknown>) => string = mustBe(listOf(options))) {
  return v.picklist(options, message);
}

/**
 * A mapping with exactly these fields. An unknown field is named with the fields that are allowed; a missing
 * required field gets the message its own schema gives for nothing ("must be an integer, got undefined"); a list is
 * not a mapping.
 */
export function fields<const E extends v.ObjectEntries>(entries: E, notObject: Message = 'must be an object') {
  const object = strictFields(entries, notObject);
  return v.pipe(v.custom<v.InferInput<typeof object>>((x) => typeof x === 'object' && x !== null && !Array.isArray(x), notObject), object);
}

/** {@link fields} as a plain object schema, for the choices of a v.variant (which looks into each choice's fields). */
export function strictFields<const E extends v.ObjectEntries>(entries: E, notObject: Message = 'must be an object') {
  const allowed = Object.keys(entries).join(', ');
  return v.strictObject(entries, (issue) => {
    if (issue.expected === 'never') return `unknown field (allowed: ${allowed})`;
    const key = issue.path?.[issue.path.length - 1]?.key;
    if (typeof key === 'string' && Object.hasOwn(entries, key) && issue.input === undefined) return messageForNothing(entries[key]);
    return typeof notObject === 'string' ? notObject : notObject(issue);
  });
}

type Message = string | ((issue: v.BaseIssue<unknown>) => string);

function messageForNothing(schema: v.GenericSchema): string {
  return v.safeParse(schema, undefined).issues?.[0].message ?? 'is required';
}

/** A PCI address "bb:dd.f"; a string that is not one gets parseBdf's own explanation. */
export function pciAddress(notString: (issue: v.BaseIssue<unknown>) => string = mustBe('a PCI address "bb:dd.f"')) {
  return v.pipe(
    v.string(notString),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      try {
        parseBdf(dataset.value);
      } catch (e) {
        addIssue({ message: (e as Error).message });
      }
    }),
  );
}

/** A raw register value: a bigint, or hex text as Linux prints it (core/register-value.ts says what is accepted). */
export function registerValue(bits: number) {
  return v.pipe(
    v.union([v.bigint(), v.string()], (i) => `must be a hex string or a bigint (a ${bits}-bit register value), got ${got(i)}`),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      try {
        parseRegisterValue(dataset.value, '', bits);
      } catch (e) {
        addIssue({ message: (e as ConfigError).reason });
      }
    }),
  );
}

type PathKey = string | number;

/** A path as the validators write it: ['devices', 0, 'msi'] → "devices[0].msi". */
export function fieldPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? key : `.${key}`;
  return out;
}

function keysOf(issue: v.BaseIssue<unknown>): PathKey[] {
  return (issue.path ?? []).map((item) => item.key as PathKey);
}

/**
 * Every problem with the shape of `input`, in document order; empty when the shape is right. One problem a field
 * (a pipe stops at its first failing check).
 */
export function shapeProblems(schema: v.GenericSchema, input: unknown): ConfigProblem[] {
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  return result.success ? [] : problemsOf(result.issues);
}

function problemsOf(issues: readonly v.BaseIssue<unknown>[]): ConfigProblem[] {
  return issues.flatMap((issue) => bestMatch(issue, [])).map(({ path, message }) => ({ field: fieldPath(path), reason: message }));
}

/**
 * `input` read through `schema` (defaults filled, values converted); or a ConfigError with every problem of its
 * shape, each field named below `prefix` ("iommu" → "iommu.base"), a problem with the whole value named `whole` (the
 * prefix itself by default).
 */
export function checkShape<const S extends v.GenericSchema>(schema: S, input: unknown, prefix: string, whole = prefix): v.InferOutput<S> {
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  if (result.success) return result.output;
  const [first, ...more] = problemsOf(result.issues).map((p) => ({ field: p.field === '' ? whole : prefix === '' ? p.field : `${prefix}.${p.field}`, reason: p.reason }));
  throw new ConfigError(first.field, first.reason, more);
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

/**
 * True when A and B accept the same values (each assignable to the other): a hand-declared public interface and
 * the type its schema infers. `const check: SameType<A, B> = true` fails to compile when they drift apart.
 */
export type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
