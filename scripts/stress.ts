/**
 * `npm run stress -- --minutes N [--seed S] [--runs R] [--interrupts M]`: the standing random-operation campaign.
 *
 * Rounds of the model-based and generated stress tests, each round with a new seed and R sequences per property,
 * until N minutes have passed: VT-d and AMD-Vi remapping against independent models; every machine kind (no IOMMU
 * with xAPIC-only and x2APIC CPUs, VT-d with and without EIM, AMD-Vi with and without GA/XT, the QEMU front) with the
 * Linux model; the two-machine system (assignment, posting, vCPU scheduling and migration); the legacy devices (level
 * INTx and Remote IRR, the 8259, the LAPIC timer, the HPET); corrupt snapshots; mangled parser input. Then a memory
 * phase fires M interrupts (default 10 million) through an assigned device — host Linux with VT-d, the VMM, a Linux
 * guest — and checks that the heap stays flat. Prints operations, oracle checks,
 * mismatches (each with the seed that replays it: IRQPATH_STRESS_SEED=S npx vitest run test/stress) and the slowest
 * operation. Exit 1 on any mismatch or heap growth. `npm test` runs the same tests briefly with a fixed seed under CI.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { assignedNic } from '../bench/program.ts';
import type { FileStats } from '../test/stress/campaign-stats.ts';
import { CampaignCoverage } from '../test/stress/campaign-coverage.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FILES = [
  'test/stress/vtd-remapping.model.test.ts',
  'test/stress/amd-remapping.model.test.ts',
  'test/stress/machine-kinds.model.test.ts',
  'test/stress/posting.model.test.ts',
  'test/stress/level-interrupts.model.test.ts',
  'test/stress/i8259.model.test.ts',
  'test/stress/timers.model.test.ts',
  'test/stress/corrupt-snapshots.test.ts',
  'test/stress/parser-fuzz.test.ts',
];

const positive = (what: string) => (text: string) => {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number, got '${text}'`);
  return n;
};

const program = new Command('stress')
  .description('the random-operation campaign: model-based stress rounds with fresh seeds, then a heap check over many interrupts')
  .option('--minutes <n>', 'how long the rounds run', positive('--minutes'), 1)
  .option('--seed <n>', 'first seed (each round adds one)', (t) => Math.trunc(positive('--seed')(t)), Date.now() % 1_000_000_000)
  .option('--runs <n>', 'sequences per property per round', (t) => Math.trunc(positive('--runs')(t)), 300)
  .option('--interrupts <n>', 'interrupts fired in the heap check (0 skips it)', (t) => Math.trunc(Number(t)), 10_000_000)
  .parse();
const opts = program.opts<{ minutes: number; seed: number; runs: number; interrupts: number }>();

/** Coverage summed over the rounds, judged once at the end (test/stress/campaign-coverage.ts). */
const coverage = new CampaignCoverage();

const totals = { rounds: 0, operations: 0, checks: 0, mismatches: [] as string[], slowest: { operation: '', ms: 0, file: '' } };
const scratch = mkdtempSync(join(tmpdir(), 'irqpath-stress-'));
const deadline = Date.now() + opts.minutes * 60_000;
const vitest = join(ROOT, 'node_modules/vitest/vitest.mjs');

for (let seed = opts.seed; Date.now() < deadline; seed++) {
  const statsFile = join(scratch, `round-${seed}.jsonl`);
  const run = spawnSync(process.execPath, [vitest, 'run', ...FILES], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, IRQPATH_STRESS_SEED: String(seed), IRQPATH_STRESS_RUNS: String(opts.runs), IRQPATH_STRESS_STATS: statsFile, CI: '' },
    maxBuffer: 64 * 1024 * 1024,
  });
  totals.rounds++;
  let lines: FileStats[] = [];
  try {
    lines = readFileSync(statsFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as FileStats);
  } catch {
    // a round that died before any file finished leaves no stats; its exit status says why
  }
  for (const s of lines) {
    totals.operations += s.operations;
    totals.checks += s.checks;
    if (s.slowest.ms > totals.slowest.ms) totals.slowest = { ...s.slowest, file: s.file };
    coverage.add(s);
  }
  if (run.status !== 0) {
    const failed = (run.stdout + run.stderr).split('\n').filter((l) => /FAIL|Counterexample|AssertionError/.test(l)).slice(0, 6).join('\n    ');
    totals.mismatches.push(`seed ${seed}: vitest exited ${run.status}\n    ${failed}`);
  }
  process.stderr.write(`round ${totals.rounds} (seed ${seed}): ${totals.operations} operations, ${totals.checks} checks, ${totals.mismatches.length} mismatches\r`);
}
rmSync(scratch, { recursive: true, force: true });
process.stderr.write('\n');

// Coverage over the whole campaign: a mismatch only where the sequences were enough to judge it.
const { mismatches: neverExercised, notes: coverageNotes } = coverage.verdict();
totals.mismatches.push(...neverExercised);

console.log(`stress campaign: ${totals.rounds} rounds from seed ${opts.seed}, ${opts.runs} sequences per property`);
console.log(`  operations:    ${totals.operations}`);
console.log(`  oracle checks: ${totals.checks}`);
console.log(`  mismatches:    ${totals.mismatches.length}`);
for (const m of totals.mismatches) console.log(`    ${m}`);
for (const n of coverageNotes) console.log(`  coverage: ${n}`);
console.log(`  slowest operation: ${totals.slowest.ms.toFixed(1)} ms — ${totals.slowest.operation} (${totals.slowest.file})`);

let heapGrew = false;
if (opts.interrupts > 0) heapGrew = !heapPhase(opts.interrupts);
process.exitCode = totals.mismatches.length > 0 || heapGrew ? 1 : 0;

/**
 * Fire `count` interrupts through a device assigned to a Linux guest (host VT-d remapping, the VMM's route, the guest
 * LAPIC, the guest's handler and EOI) and sample the heap after a full GC every tenth of the way. The heap is flat
 * when the last sample is within 1 MB of the first: the path allocates nothing per interrupt that lives on.
 */
function heapPhase(count: number): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    console.log('  heap check: skipped (run with node --expose-gc, as `npm run stress` does)');
    return true;
  }
  const { sys, guest, device } = assignedNic();
  const samples: number[] = [];
  const step = Math.max(1, Math.floor(count / 10));
  for (let fired = 0; fired < count; fired++) {
    device.signal(0);
    guest.handleInterrupt(1);
    if ((fired + 1) % step === 0) {
      gc();
      samples.push(process.memoryUsage().heapUsed);
    }
  }
  const growth = samples[samples.length - 1] - samples[0];
  const mb = (b: number) => (b / 1e6).toFixed(2);
  console.log(`  heap over ${count} interrupts (host VT-d → VMM → Linux guest, handled and EOI'd): ${samples.map(mb).join(', ')} MB; growth ${mb(growth)} MB`);
  console.log(`  injections: ${sys.vmm.counters.injections}`);
  return growth < 1e6;
}
