/**
 * Validation of a scenario file's legacy sources (`isa`, `intx`, `lapic-timer`, `pit`; legacy-sources.ts runs them):
 * which fields each kind takes, its defaults, which steps it accepts, and what it asks of the machine. Problems are
 * reported through the scenario checker, so they carry the file, line and column like every other field's.
 */
import type { ResolvedConfig } from '../machine/config.ts';
import { isaIrqToGsi, QEMU_INTERRUPT_SOURCE_OVERRIDES } from '../machine/firmware.ts';
import { parseBdf } from '../core/bdf.ts';
import { rootBusPin } from '../pci/intx.ts';
import { q35PirqOf } from '../pci/ich9-lpc.ts';
import { PIT_HZ } from '../pit/pit-clock.ts';
import { LOCAL_TIMER_VECTOR, LINUX_APIC_DIVISOR } from '../guest/legacy-programming.ts';
import { HPET_MODES, RTC_MODES, LAPIC_TIMER_MODES, PIT_MODE_NAMES, type LegacyVia } from './legacy-words.ts';

export type LegacySourceKind = 'isa' | 'intx' | 'lapic-timer' | 'pit' | 'hpet' | 'rtc';

export function isLegacySourceKind(kind: unknown): kind is LegacySourceKind {
  return kind === 'isa' || kind === 'intx' || kind === 'lapic-timer' || kind === 'pit' || kind === 'hpet' || kind === 'rtc';
}

/** LATCH for HZ = 250 ((PIT_TICK_RATE + HZ / 2) / HZ, include/linux/i8253.h): a pit source's default count. */
export const DEFAULT_PIT_COUNT = 4773;
/** Register A's rate select PC firmware leaves (0x26: 1024 Hz), an rtc source's default. */
export const DEFAULT_RTC_RATE = 6;
/** TMICT is 32 bits. */
const TMICT_MAX = 0xffff_ffff;

/** The RTC's period at rate select `rs`, in ns: RS 1 and 2 are 256 and 128 Hz, RS 3..15 32768 >> (RS − 1) Hz. */
function rtcPeriodNs(rs: number): number {
  const ticks = rs <= 2 ? 1 << (rs + 6) : 1 << (rs - 1);
  return (ticks * 1e9) / 32768;
}

/** The scenario checker's reporting, as this module uses it (scenario-file.ts's Checker). */
export interface FieldChecker {
  fail(field: string, reason: string): never;
}

/** A legacy source as the schema read it (scenario-schema.ts SourceSchema): the types are right, the kind's rules not yet checked. */
export interface LegacySourceShape {
  device?: string;
  vector?: number;
  pin?: number;
  irq?: number;
  via?: LegacyVia;
  mode?: string;
  period?: number;
  count?: number;
  rate?: number;
  embeddedMessage?: unknown;
  embedded?: boolean;
}

/** The fields of a scenario source this module reads and fills (scenario-file.ts's ScenarioSource). */
export interface LegacySourceFields extends Pick<LegacySourceShape, 'device' | 'vector' | 'irq' | 'via' | 'mode' | 'period' | 'count' | 'rate'> {
  kind: string;
  cpu: number;
  steps: string[];
}

/** Fields each legacy kind takes besides id, kind, cpu and steps. */
const FIELDS: Record<LegacySourceKind, readonly string[]> = {
  isa: ['irq', 'via'],
  intx: ['device'],
  'lapic-timer': ['mode', 'period', 'vector'],
  pit: ['mode', 'count', 'via'],
  hpet: ['mode', 'period'],
  rtc: ['mode', 'rate', 'via'],
};
/** The HPET counts at 100 MHz: 10 ns per tick (QEMU HPET_CLK_PERIOD). */
const HPET_TICK_NS = 10;

const list = (words: readonly string[]) => words.join(', ');

export function legacyTriggerReason(kind: LegacySourceKind): string {
  if (kind === 'isa') return 'an ISA IRQ takes its trigger and polarity from the MADT (IRQ 5, 9, 10, 11 level, the others edge)';
  if (kind === 'intx') return 'PCI INTx is always level-triggered, active low (PIRQA–H)';
  if (kind === 'rtc') return 'the RTC\'s IRQ8 is an ISA IRQ: edge, active high, as the MADT says';
  if (kind === 'hpet') return 'the HPET\'s legacy route is IRQ0, edge-triggered, as the MADT says';
  return `a ${kind} source has no trigger or polarity of its own`;
}

/** The kind's own fields, checked; `o` is the source as the schema read it, `src` what is built from it. */
export function parseLegacySource(c: FieldChecker, o: LegacySourceShape, src: LegacySourceFields, field: string): void {
  const kind = src.kind as LegacySourceKind;
  for (const k of ['device', 'vector', 'pin', 'irq', 'via', 'mode', 'period', 'count', 'rate', 'embeddedMessage', 'embedded'] as const) {
    if (o[k] !== undefined && !FIELDS[kind].includes(k)) c.fail(`${field}.${k}`, `a ${kind} source does not take ${k} (it takes ${list(FIELDS[kind])})`);
  }
  if (o.via !== undefined) {
    if (o.via !== 'ioapic' && src.cpu !== 0) c.fail(`${field}.cpu`, `the 8259's virtual wire (via ${o.via}) reaches the BSP's LINT0 only: cpu must be 0`);
    src.via = o.via;
  }
  const modeOf = (modes: readonly string[], fallback?: string): string => {
    const mode = o.mode ?? fallback;
    if (mode === undefined || !modes.includes(mode)) c.fail(`${field}.mode`, `must be ${list(modes)}, got ${JSON.stringify(o.mode)}`);
    return mode;
  };
  const periodOf = (): number => {
    if (o.period === undefined) c.fail(`${field}.period`, 'must be a duration like 250us, 4ms or 1s (or an integer of ns), got undefined');
    return o.period;
  };
  switch (kind) {
    case 'isa':
      if (o.irq === undefined) c.fail(`${field}.irq`, 'must be an integer from 0 to 15, got undefined');
      if (o.irq === 2) c.fail(`${field}.irq`, 'IRQ2 is the cascade from the slave 8259: no ISA device drives it (an ISA card on IRQ2 is wired to IRQ9)');
      src.irq = o.irq;
      return;
    case 'intx':
      if (o.device === undefined) c.fail(`${field}.device`, 'must be a non-empty string, got undefined');
      src.device = o.device;
      return;
    case 'lapic-timer':
      src.mode = modeOf(LAPIC_TIMER_MODES);
      src.period = periodOf();
      src.vector = o.vector ?? LOCAL_TIMER_VECTOR;
      if (src.vector > 255) c.fail(`${field}.vector`, `must be an integer from 0 to 255, got ${src.vector}`);
      return;
    case 'pit':
      src.mode = modeOf(PIT_MODE_NAMES, 'rate-generator');
      src.count = o.count ?? DEFAULT_PIT_COUNT;
      if (src.count === 1 && src.mode === 'rate-generator') c.fail(`${field}.count`, 'a count of 1 is illegal in mode 2 (82C54 data sheet)');
      return;
    case 'rtc':
      src.mode = modeOf(RTC_MODES, 'periodic');
      if (o.rate !== undefined && src.mode !== 'periodic') c.fail(`${field}.rate`, 'is the periodic interrupt\'s rate select (register A RS): only mode periodic has one');
      src.rate = o.rate ?? DEFAULT_RTC_RATE;
      return;
    case 'hpet':
      src.mode = modeOf(HPET_MODES);
      src.period = periodOf();
      if (src.period % HPET_TICK_NS !== 0) c.fail(`${field}.period`, `must be a multiple of ${HPET_TICK_NS} ns: the HPET counts at 100 MHz`);
      if (src.period / HPET_TICK_NS > 0xffff_ffff) c.fail(`${field}.period`, 'is more than 2^32 - 1 ticks of the 32-bit comparator Linux uses');
      return;
  }
}

/** What a legacy source does when the file gives no steps: one interrupt's worth. */
export function defaultLegacySteps(src: LegacySourceFields): string[] {
  switch (src.kind) {
    case 'lapic-timer':
    case 'hpet':
      return [`advance ${src.period}ns`];
    case 'rtc':
      // One period (a whole number of ns from RS = 8 up; rounded up below), or one second to the next update.
      return [src.mode === 'update' ? 'advance 1s' : `advance ${Math.ceil(rtcPeriodNs(src.rate ?? DEFAULT_RTC_RATE))}ns`, 'handle', 'read-c'];
    case 'pit': {
      // The first period ends N CLK edges after the count is loaded on the edge after the write.
      const n = src.count ?? DEFAULT_PIT_COUNT;
      return [`advance ${Math.ceil(((n + 1) * 1e9) / PIT_HZ)}ns`];
    }
    default:
      return ['raise', 'ack', 'lower', 'eoi'];
  }
}

/** The steps each legacy kind accepts (advance is everyone's). */
const STEPS: Record<LegacySourceKind, RegExp> = {
  isa: /^(raise|lower|pulse|ack|eoi|handle|mask|unmask)$/,
  intx: /^(raise(?: \S+)?|lower(?: \S+)?|ack|eoi|handle|mask|unmask|disintx|enintx)$/,
  'lapic-timer': /^(ack|eoi|handle|mask|unmask)$/,
  pit: /^(ack|eoi|handle|mask|unmask)$/,
  hpet: /^(ack|eoi|handle|mask|unmask)$/,
  rtc: /^(ack|eoi|handle|mask|unmask|read-c)$/,
};
const STEP_WORDS: Record<LegacySourceKind, string> = {
  isa: 'raise, lower, pulse, ack, eoi, handle, mask, unmask, advance <time>',
  intx: 'raise [bdf], lower [bdf], ack, eoi, handle, mask, unmask, disintx, enintx, advance <time>',
  'lapic-timer': 'advance <time>, ack, eoi, handle, mask, unmask',
  pit: 'advance <time>, ack, eoi, handle, mask, unmask',
  hpet: 'advance <time>, ack, eoi, handle, mask, unmask',
  rtc: 'advance <time>, ack, eoi, handle, read-c, mask, unmask',
};

/** Why `step` is not one of `kind`'s steps, or null. */
export function legacyStepProblem(kind: LegacySourceKind, step: string): string | null {
  if (STEPS[kind].test(step)) return null;
  return `"${step}" is not a step of ${kind} sources (${STEP_WORDS[kind]})`;
}

/** The PIRQ a configured device's INTx pin reaches on q35, or null when it has none. */
function pirqOf(device: ResolvedConfig['devices'][number]): number | null {
  if (device.intx === undefined) return null;
  const route = rootBusPin('ABCD'.indexOf(device.intx) + 1, (device.requesterId >>> 3) & 0x1f, device.behindBridges ?? []);
  return q35PirqOf(route.slot, route.pin);
}

/** What a legacy source asks of the machine, or null when the machine has it. */
export function checkLegacySourcesAgainstMachine(src: LegacySourceFields, machine: ResolvedConfig): { field: string; reason: string } | null {
  switch (src.kind) {
    case 'isa':
    case 'pit':
    case 'hpet':
    case 'rtc': {
      const irq = src.kind === 'isa' ? src.irq! : src.kind === 'rtc' ? 8 : 0;
      const gsi = isaIrqToGsi(irq, QEMU_INTERRUPT_SOURCE_OVERRIDES);
      if ((src.via ?? 'ioapic') === 'ioapic' && gsi >= machine.ioapic.pins) return { field: src.kind === 'pit' ? 'via' : 'irq', reason: `IRQ ${irq} arrives at I/O APIC input ${gsi}, but the I/O APIC has ${machine.ioapic.pins} pins` };
      return null;
    }
    case 'intx': {
      const device = findDevice(src.device!, machine);
      if (device === null) return { field: 'device', reason: `no device ${src.device} in machine.devices (devices: ${machine.devices.map((d) => d.bdf).join(', ') || 'none'})` };
      if (pirqOf(device) === null) return { field: 'device', reason: `device ${device.bdf} has no INTx pin: give it intx: A, B, C or D` };
      if (machine.ioapic.pins < 24) return { field: 'device', reason: `INTx reaches I/O APIC inputs 16–23 (PIRQA–H), but the I/O APIC has ${machine.ioapic.pins} pins` };
      const line = pirqOf(device);
      for (const [j, step] of src.steps.entries()) {
        const named = /^(?:raise|lower) (\S+)$/.exec(step)?.[1];
        if (named === undefined) continue;
        const other = findDevice(named, machine);
        if (other === null) return { field: `steps[${j}]`, reason: `no device ${named} in machine.devices` };
        const otherLine = pirqOf(other);
        if (otherLine === null) return { field: `steps[${j}]`, reason: `device ${other.bdf} has no INTx pin: give it intx: A, B, C or D` };
        if (otherLine !== line) return { field: `steps[${j}]`, reason: `${other.bdf} is on PIRQ${'ABCDEFGH'[otherLine]}, not on ${device.bdf}'s PIRQ${'ABCDEFGH'[line!]}: they do not share the line` };
      }
      return null;
    }
    case 'lapic-timer': {
      if (src.mode === 'tsc-deadline') return null;
      const granule = LINUX_APIC_DIVISOR * machine.legacy.apicBusCycleNs;
      if (src.period! % granule !== 0) return { field: 'period', reason: `must be a multiple of ${granule} ns: Linux divides the APIC bus clock (${machine.legacy.apicBusCycleNs} ns) by ${LINUX_APIC_DIVISOR}` };
      if (src.period! / granule > TMICT_MAX) return { field: 'period', reason: `needs more than 2^32 - 1 counts of ${granule} ns in TMICT` };
      return null;
    }
    default:
      return null;
  }
}

function findDevice(bdf: string, machine: ResolvedConfig): ResolvedConfig['devices'][number] | null {
  let rid: number;
  try {
    rid = parseBdf(bdf);
  } catch {
    return null;
  }
  return machine.devices.find((d) => d.requesterId === rid) ?? null;
}
