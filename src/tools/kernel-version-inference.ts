/**
 * A kernel version read from a boot log's wording when it has no "Linux version" line. Each clue bounds the version
 * from below or above by the change that introduced or removed the wording (core/linux-version.ts names them):
 * - "CPU topo: Allowing N present CPUs plus M hotplug CPUs" → 6.9 or later; "smpboot: Allowing N CPUs, M hotplug
 *   CPUs" → before 6.9 (the x86 topology rework);
 * - "APIC: Switched APIC routing to: X" → 6.6 or later; "Switched APIC routing to X." → before 6.6 (the APIC driver
 *   rework moved it into apic_install_driver);
 * - DMAR fault lines: "[fault reason 0x25]" with "[0x00:0x02.0]" → exactly 5.14, "[fault reason 0x25]" otherwise →
 *   5.15 or later, "[fault reason 37]" → before 5.14;
 * - AMD-Vi event lines with a PCI segment ("device=0000:00:03.0") → 6.0 or later, without ("device=00:03.0") →
 *   before 6.0.
 * The answer is the lowest version the clues allow (the first kernel that prints them all), or, with only upper
 * bounds, the last minor release before the lowest one.
 */

interface Bound {
  major: number;
  minor: number;
}

const CLUES: { re: RegExp; from?: Bound; before?: Bound; what: string }[] = [
  { re: /^CPU topo: Allowing \d+ present CPUs/, from: { major: 6, minor: 9 }, what: '"CPU topo: Allowing …"' },
  { re: /^smpboot: Allowing \d+ CPUs, \d+ hotplug CPUs/, before: { major: 6, minor: 9 }, what: '"smpboot: Allowing N CPUs, M hotplug CPUs"' },
  { re: /^APIC: Switched APIC routing to: /, from: { major: 6, minor: 6 }, what: '"APIC: Switched APIC routing to: …"' },
  { re: /^Switched APIC routing to .*\.$/, before: { major: 6, minor: 6 }, what: '"Switched APIC routing to …."' },
  { re: /\[0x[0-9a-f]{2}:0x[0-9a-f]{2}\.\d\].*fault reason 0x/, from: { major: 5, minor: 14 }, before: { major: 5, minor: 15 }, what: 'DMAR fault lines with 0x bus/device' },
  { re: /Request device \[[0-9a-f]{2}:[0-9a-f]{2}\.\d\].*fault reason 0x/, from: { major: 5, minor: 15 }, what: 'DMAR fault lines with a hex fault reason' },
  { re: /\[fault reason \d\d\]/, before: { major: 5, minor: 14 }, what: 'DMAR fault lines with a decimal fault reason' },
  { re: /^AMD-Vi: Event logged \[.*device=[0-9a-f]{4}:[0-9a-f]{2}:/, from: { major: 6, minor: 0 }, what: 'AMD-Vi event lines with a PCI segment' },
  { re: /^AMD-Vi: Event logged \[.*device=[0-9a-f]{2}:[0-9a-f]{2}\./, before: { major: 6, minor: 0 }, what: 'AMD-Vi event lines without a PCI segment' },
];

/** The last minor release of each major series that has a successor: 3.19, 4.20, 5.19. */
const LAST_MINOR: Record<number, number> = { 3: 19, 4: 20, 5: 19 };

function previousRelease(b: Bound): Bound {
  return b.minor > 0 ? { major: b.major, minor: b.minor - 1 } : { major: b.major - 1, minor: LAST_MINOR[b.major - 1] ?? 0 };
}

const less = (a: Bound, b: Bound): boolean => a.major < b.major || (a.major === b.major && a.minor < b.minor);

/**
 * The clues a log shows, gathered line by line (a streaming reader sees each line once and keeps no lines): one bit
 * per clue.
 */
export class KernelVersionClues {
  private found = 0;

  see(line: string): void {
    for (let i = 0; i < CLUES.length; i++) if ((this.found & (1 << i)) === 0 && CLUES[i].re.test(line)) this.found |= 1 << i;
  }

  /** The version the clues imply ("6.9"), and why; null when no clue is present or the clues contradict. */
  infer(): { version: string; why: string } | null {
    let from: Bound | null = null;
    let before: Bound | null = null;
    const why: string[] = [];
    for (let i = 0; i < CLUES.length; i++) {
      const clue = CLUES[i];
      if ((this.found & (1 << i)) === 0) continue;
      why.push(clue.what);
      if (clue.from && (from === null || less(from, clue.from))) from = clue.from;
      if (clue.before && (before === null || less(clue.before, before))) before = clue.before;
    }
    if (from === null && before === null) return null;
    if (from !== null && before !== null && !less(from, before)) return null;
    const version = from ?? previousRelease(before!);
    return { version: `${version.major}.${version.minor}`, why: why.join(', ') };
  }
}
