/**
 * Every parser that reads what a user hands irqpath — scenario YAML, pasted boot logs, QEMU trace logs (read and
 * replayed), QEMU command lines, the CLI's numbers and the web page's URL — is fed random, truncated, bit-flipped and concatenated input built from real
 * examples. Each input must end in a result or in one of the project's documented errors (UsageError, ConfigError,
 * ScenarioError; on the command line commander's InvalidArgumentError with exit code 2), never in a TypeError,
 * RangeError or stack overflow. Runs: IRQPATH_STRESS_RUNS (default 60 per
 * property); the seed is fixed under CI (budget.ts).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, UsageError } from '../../src/core/errors.ts';
import { parseScenario, ScenarioError } from '../../src/scenario/scenario-file.ts';
import { machineFromDmesg, machinesFromReading } from '../../src/tools/from-dmesg.ts';
import { DmesgReader, type BootChoice } from '../../src/tools/dmesg-reader.ts';
import { parseQemuTraceLog } from '../../src/tools/qemu-trace-log.ts';
import { replayQemuTrace } from '../../src/tools/qemu-trace-replay.ts';
import { InvalidArgumentError } from 'commander';
import { unsignedOption, USAGE_EXIT_CODE } from '../../src/cli/parse-number.ts';
import { parseQemuCommandLine, splitCommandLine } from '../../src/tools/qemu-command-line.ts';
import { stateFromHash } from '../../src/web/page-state.ts';
import { SLICE_AXES, SliceError, sliceFromParams } from '../../src/web/sweep-slice.ts';
import { stressRuns, stressSeed } from './budget.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const scenarioTexts = readdirSync(join(ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml')).map((f) => read(`scenarios/${f}`));
const bootLogs = readdirSync(join(ROOT, 'test/fixtures'), { recursive: true, encoding: 'utf8' })
  .filter((f) => /^dmesg-[^/]*(\/[^/]+)?\.(txt|log)$/.test(f) && statSync(join(ROOT, 'test/fixtures', f)).isFile())
  .map((f) => read(`test/fixtures/${f}`));
const traceLogs = readdirSync(join(ROOT, 'test/fixtures/qemu-trace')).filter((f) => f.endsWith('.log')).map((f) => read(`test/fixtures/qemu-trace/${f}`).slice(0, 40_000));

const qemuCommandLines = readdirSync(join(ROOT, 'test/fixtures/qemu-recordings'), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => (JSON.parse(read(`test/fixtures/qemu-recordings/${e.name}/provenance.json`)) as { shell: string }).shell);
const pageHashes = [
  '#/explain?kind=msi&addr=0xfee00020&data=0x41&machine=custom&cpus=300&ext=1&os=linux',
  '#/explain?kind=msi&addr=0xfee00000&data=0x1&machine=scenario:05&from=00:04.0',
  '#/scenario?id=05', '#/scenario?id=99', '#/matrix?cpus=abc', '#/foo', '#/explain?z=q1YqSy1SslJyLEpVMjQwUNJRykvMTQWqTCnKTM4GAA',
  '#/sweep?guests=windows&vendors=amd&iommus=intel-ir&cpus=64&run=1', '#/sweep?versions=5.10,6.12&cmdlines=none,iommu-off&assign=qemu/posted&fail=1',
];

/** Real text changed the ways a user's paste goes wrong: cut short, bits flipped, pieces glued together, or noise. */
function mangled(samples: readonly string[]): fc.Arbitrary<string> {
  const sample = fc.constantFrom(...samples);
  const truncated = fc.tuple(sample, fc.double({ min: 0, max: 1, noNaN: true })).map(([s, f]) => s.slice(0, Math.floor(s.length * f)));
  const flipped = fc.tuple(sample, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 15 })), { minLength: 1, maxLength: 8 })).map(([s, flips]) => {
    const codes = [...s].map((c) => c.charCodeAt(0));
    for (const [at, bit] of flips) if (codes.length > 0) codes[at % codes.length] ^= 1 << bit;
    return String.fromCharCode(...codes.slice(0, 200_000));
  });
  const glued = fc.array(fc.oneof(sample, truncated), { minLength: 2, maxLength: 3 }).map((parts) => parts.join(''));
  const spliced = fc.tuple(sample, fc.nat(), fc.string({ unit: 'binary', maxLength: 64 })).map(([s, at, junk]) => s.slice(0, at % (s.length + 1)) + junk + s.slice(at % (s.length + 1)));
  return fc.oneof(truncated, flipped, glued, spliced, fc.string({ unit: 'binary', maxLength: 400 }));
}

/** Run `parse`; anything thrown must be one of the documented error classes. */
function endsCleanly(parse: () => unknown): void {
  try {
    parse();
  } catch (e) {
    const documented = e instanceof UsageError || e instanceof ConfigError || e instanceof ScenarioError;
    if (!documented) throw new Error(`undocumented ${e instanceof Error ? e.constructor.name : typeof e}: ${String(e)}`, { cause: e });
  }
}

const params = () => ({ numRuns: stressRuns(60), seed: stressSeed() });

describe('parsers end in a result or a documented error on mangled input', () => {
  it('scenario files', () => {
    fc.assert(fc.property(mangled(scenarioTexts), (text) => endsCleanly(() => parseScenario(text, 'fuzz.yaml'))), { ...params(), numRuns: stressRuns(20) });
  });

  it('pasted boot logs (from-dmesg)', () => {
    fc.assert(fc.property(mangled(bootLogs), (text) => endsCleanly(() => machineFromDmesg(text))), params());
  });

  it('pasted boot logs streamed in chunks cut anywhere: the same machines, or the same error, as read whole, for every boot choice', () => {
    const outcome = (chunks: string[], choice: BootChoice): unknown => {
      try {
        const reader = new DmesgReader(choice);
        for (const c of chunks) reader.push(c);
        return machinesFromReading(reader.end());
      } catch (e) {
        if (e instanceof UsageError) return `UsageError: ${e.message}`;
        throw e;
      }
    };
    fc.assert(
      fc.property(mangled(bootLogs), fc.array(fc.nat(), { maxLength: 12 }), fc.constantFrom<BootChoice>('last', 'all', 1, 2), (text, cuts, choice) => {
        const at = [0, ...cuts.map((c) => c % (text.length + 1)).sort((a, b) => a - b), text.length];
        const chunks = at.slice(1).map((end, i) => text.slice(at[i], end));
        expect(outcome(chunks, choice)).toEqual(outcome([text], choice));
      }),
      params(),
    );
  });

  it('QEMU trace logs, read', () => {
    fc.assert(fc.property(mangled(traceLogs), (text) => endsCleanly(() => parseQemuTraceLog(text))), params());
  });

  it('QEMU trace logs, replayed', () => {
    fc.assert(fc.property(mangled(traceLogs), (text) => endsCleanly(() => replayQemuTrace(text))), { ...params(), numRuns: stressRuns(25) });
  });

  it('CLI numbers', () => {
    const numbers = ['0', '4031', '0xfee00000', '0XFEE0_0000', '-1', '1e3', '0b101', ' 7', '0x', '18446744073709551616'];
    // On the command line a bad number is commander's InvalidArgumentError with exit code 2, naming the value.
    fc.assert(
      fc.property(mangled(numbers), fc.constantFrom(8, 16, 32, 64), (text, bits) => {
        try {
          const value = unsignedOption(bits)(text);
          expect(value >= 0n && value < 1n << BigInt(bits)).toBe(true);
        } catch (e) {
          if (!(e instanceof InvalidArgumentError) || e.exitCode !== USAGE_EXIT_CODE || !e.message.includes(`'${text}'`)) throw e;
        }
      }),
      params(),
    );
  });

  it('QEMU command lines (irqpath qemu)', () => {
    fc.assert(fc.property(mangled(qemuCommandLines), (text) => endsCleanly(() => parseQemuCommandLine(splitCommandLine(text)))), params());
  });

  it("the web page's URL state: any hash gives a view (a damaged compressed state is reported, not thrown)", async () => {
    await fc.assert(
      fc.asyncProperty(mangled(pageHashes), async (hash) => {
        const state = await stateFromHash(hash);
        expect(['explain', 'scenario', 'matrix', 'sweep']).toContain(state.view);
        // The sweep view's slice: any parameters name a slice or a SliceError naming the parameter.
        try {
          sliceFromParams(state.params);
        } catch (e) {
          if (!(e instanceof SliceError) || !SLICE_AXES.some((a) => a.param === e.field)) throw e;
        }
      }),
      params(),
    );
  });

  it('the fuzzer reaches the error paths too (a mangled scenario is refused with a ScenarioError at least once)', () => {
    let refused = 0;
    fc.assert(
      fc.property(mangled(scenarioTexts), (text) => {
        try {
          parseScenario(text, 'fuzz.yaml');
        } catch (e) {
          if (e instanceof ScenarioError || e instanceof UsageError || e instanceof ConfigError) refused++;
        }
      }),
      { numRuns: 40, seed: 7 },
    );
    expect(refused).toBeGreaterThan(0);
  });
});
