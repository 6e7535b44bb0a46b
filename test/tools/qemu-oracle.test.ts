/**
 * Issue 15: every committed QEMU 7.2 + Linux 6.1 recording (test/fixtures/qemu-recordings/) is the oracle, without
 * QEMU (src/tools/recording-conformance.ts):
 * 1. the Linux model, on the machine derived from the recording's QEMU command line and console, prints the kernel's
 *    interrupt-remapping, x2APIC and APIC-routing decision lines, strictly both ways;
 * 2. every request of the whole trace (trace-full.log.gz) replayed ends as QEMU ended it under the `qemu` profile
 *    (0 false divergences), and every kind of request hardware would end differently is named;
 * 3. every /proc/interrupts row and every remapped source's IRTE index and value is set up on the model and compared.
 * What the model does not reproduce yet is named, one line each, in test/fixtures/qemu-recordings-known-gaps.txt:
 * the measured gaps must equal that list, so a regression fails and an improvement shows up as a diff to update
 * (`npx tsx scripts/conformance.ts --gaps` prints the list). docs/conformance.md must hold the current table.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { conformanceTable, gapLines, readRecording, recordingNames } from '../../scripts/conformance.ts';
import { recordingConformance, type RecordingConformance } from '../../src/tools/recording-conformance.ts';

const names = recordingNames();
const cache = new Map<string, RecordingConformance>();
const conformance = (name: string) => cache.get(name) ?? cache.set(name, recordingConformance(readRecording(name))).get(name)!;

const knownGaps = readFileSync(new URL('../fixtures/qemu-recordings-known-gaps.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'));
const knownFor = (name: string) => knownGaps.filter((l) => l.startsWith(`${name} | `));

describe('QEMU recordings as the oracle', () => {
  it('all recordings are there: 18 booted, 1 boot that never reached /init (128 vCPUs), 3 refused', () => {
    expect(names).toHaveLength(22);
    expect(names.filter((n) => n.startsWith('refused-'))).toEqual(['refused-256cpu', 'refused-eim', 'refused-eim-split']);
  });

  it.each(names)('%s', (name) => {
    const r = conformance(name);
    const refused = name.startsWith('refused-') || name === 'intel-ir-128cpu';
    expect(r.booted).toBe(!refused);
    if (!refused) {
      // 1. Decision lines: the kernel printed some (APIC routing at least, except on a machine without an IOMMU).
      expect(r.decision!.differ).toBe(0);
      // 3. Every numbered /proc/interrupts row was compared (agree + gap = rows).
      expect(r.interrupts!.agree + r.interrupts!.gap).toBeGreaterThan(0);
    }
    if (r.replay) {
      // 2. The qemu profile ends every request as the log did.
      expect(r.replay.falseDivergences).toBe(0);
      // A booted recording with a vIOMMU replays tens of thousands of requests (the 128-vCPU boot stopped early).
      if (/^(intel|amd)-/.test(name) && r.booted) expect(r.replay.requests).toBeGreaterThan(1000);
    }
    expect(gapLines([r])).toEqual(knownFor(name));
  }, 180_000);

  it('the known-gaps file names only recordings that exist', () => {
    for (const l of knownGaps) expect(names).toContain(l.split(' | ')[0]);
  });

  it('docs/conformance.md holds the current table (npm run conformance)', () => {
    const doc = readFileSync(new URL('../../docs/conformance.md', import.meta.url), 'utf8');
    const m = /<!-- conformance:begin -->\n([\s\S]*?)<!-- conformance:end -->/.exec(doc);
    expect(m, 'docs/conformance.md has the conformance:begin/end markers').not.toBeNull();
    expect(m![1]).toBe(conformanceTable(names.map(conformance)));
  }, 600_000);
});
