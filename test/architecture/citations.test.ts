/**
 * Every citation in the repository names a source a reader of a clone can open: a specification and section, a
 * mailing-list thread with its date, a QEMU or Linux function. Notes that never shipped with the repository (private
 * "reference" notes, numbered "seed" threads, a design document, absolute paths on the machine the code was written
 * on, and the source tags those notes used) are not sources; this test fails when any tracked file cites one.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SELF = 'test/architecture/citations.test.ts';

/** What a citation of a file outside the repository looks like, each with the reason it is rejected. */
const UNOPENABLE: readonly { readonly pattern: RegExp; readonly why: string }[] = [
  { pattern: /\b(?:reference|notes)(?:[ /][a-z-]+(?:\.md)?)? ?§/i, why: 'a section of notes that are not in the repository' },
  { pattern: /\breference\/[a-z-]+\.md\b/, why: 'notes that are not in the repository' },
  { pattern: /\breference notes\b/i, why: 'notes that are not in the repository' },
  { pattern: /\bseeds? ?0\d\d\b/i, why: 'a numbered "seed": name the mailing-list thread and its date instead' },
  { pattern: /\bdesign\.md\b|\bdesign note\b/i, why: 'a design document that is not in the repository (docs/ is)' },
  { pattern: /\bshared\/(?:seeds|reference)\b/, why: 'a file outside the repository' },
  { pattern: /\/work\/[a-z]/, why: 'an absolute path on the machine the code was written on' },
  {
    pattern: /\b(?:Q-(?:c|h|ih|x86|io|qt|ml)|L-(?:ir|dm|dh|x86)|V-[hc]|LNX-[a-z]+|QEMU-(?:c|h|xt|evt|2k|hat|x86)|OVMM)\b/,
    why: 'a source tag of notes that are not in the repository: name the file or function',
  },
];

/**
 * A built-in scenario's file name predates this rule. It is a name users type (`irqpath run 26-seed004-…`), not a
 * citation, so it is kept and removed from the text before the check.
 */
const KEPT_NAMES = [/26-seed004-msi-iova-window/g];

function trackedTextFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' });
  return out
    .split('\0')
    .filter((f) => f !== '' && f !== SELF && !/\.(png|jpe?g|gif|ico|woff2?)$/i.test(f) && !f.startsWith('node_modules'));
}

test('no file cites a source a reader of the repository cannot open', () => {
  const files = trackedTextFiles();
  expect(files.length).toBeGreaterThan(100);
  const found: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(`${ROOT}/${file}`, 'utf8');
    } catch {
      continue; // listed by git but deleted in the work tree
    }
    if (text.includes('\0')) continue;
    text.split('\n').forEach((raw, i) => {
      const line = KEPT_NAMES.reduce((l, name) => l.replace(name, ''), raw);
      for (const { pattern, why } of UNOPENABLE) {
        const m = pattern.exec(line);
        if (m) found.push(`${file}:${i + 1}: "${m[0]}" — ${why}`);
      }
    });
  }
  expect(found).toEqual([]);
});

test('each pattern catches the citation it is meant to catch', () => {
  const samples = [
    'IRTA_REG (reference §4)',
    'driver (reference intel-vtd §3, §4)',
    'steps (reference amd-iommu.md §5)',
    'Source: reference/apic-ioapic-msi.md §1.1',
    'QEMU amdvi_int_remap_msi (notes §5 step 6)',
    'as in the reference notes',
    'the hack of seed 000',
    'the design (design.md, "Layers")',
    '(design note "Tests")',
    'see shared/seeds/003-ath11k-vfio-msi.txt',
    'read /work/shared/reference/amd-iommu.md',
    'bit positions agree across QEMU Q-h, Linux L-h',
  ];
  for (const s of samples) expect(UNOPENABLE.some(({ pattern }) => pattern.test(s)), s).toBe(true);
  const fine = ['VT-d spec §9.10', 'qemu-devel, "More than 255 vcpus Windows VM setup without viommu ?", 2024-10-01', 'IRQPATH_STRESS_SEED replays the seed'];
  for (const s of fine) expect(UNOPENABLE.some(({ pattern }) => pattern.test(s)), s).toBe(false);
});
