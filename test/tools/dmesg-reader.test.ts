/**
 * The streaming boot-log reader (src/tools/dmesg-reader.ts, boot-scan.ts): a log is read in chunks of any size with
 * the same result as in one piece; what it keeps is bounded by what it reads out of the log (the distinct decision
 * lines of one boot), not by the log's size; the lines of a long log that cannot matter never reach the patterns;
 * and several boots in one file are split — the last read by default, one by number, or each. The work and what is
 * kept are counted here, not timed.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DmesgReader, MAX_LINE, parseBootChoice } from '../../src/tools/dmesg-reader.ts';
import { machineFromDmesg, machinesFromReading } from '../../src/tools/from-dmesg.ts';
import { isModelledRemappingLine } from '../../src/tools/dmesg-check.ts';
import { stripPrefix } from '../../src/tools/dmesg-lines.ts';
import { UsageError } from '../../src/core/errors.ts';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
/** A whole QEMU 7.2 / Linux 6.1 boot (dmesg, 32 CPUs, VT-d with interrupt remapping). */
const BOOT = fixture('qemu-recordings/intel-ir-32cpu/dmesg.txt');
const BOOT_LINES = BOOT.split('\n');
const BODY = BOOT_LINES.filter((l) => !l.includes('Linux version'));
/** What a long-running machine adds to its log: lines none of the reader's patterns can take. */
const CHATTER = [
  '[ 1234.567890] usb 1-1: new high-speed USB device number 5 using xhci_hcd',
  '[ 1234.567891] audit: type=1400 audit(1700000000.123:456): apparmor="DENIED" operation="open" profile="snap"',
  '[ 1234.567892] e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx',
];

function read(text: string, choice: ConstructorParameters<typeof DmesgReader>[0] = 'last') {
  const reader = new DmesgReader(choice);
  reader.push(text);
  return reader.end();
}

describe('a log read as a stream', () => {
  it('in chunks split anywhere (inside a line, inside a CRLF, inside a multi-byte character) the machine is the same', () => {
    const whole = machineFromDmesg(BOOT);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: BOOT.length }), { maxLength: 40 }), (cuts) => {
        const at = [0, ...[...cuts].sort((a, b) => a - b), BOOT.length];
        const reader = new DmesgReader();
        for (let i = 1; i < at.length; i++) reader.push(BOOT.slice(at[i - 1], at[i]));
        const [d] = machinesFromReading(reader.end());
        expect(d).toEqual(whole);
      }),
      { numRuns: 40 },
    );
  });

  it('keeps the distinct decision lines of the boot and nothing else: 200 repetitions of the boot\'s body keep what one does', () => {
    const once = read(BOOT).read[0].scan;
    const decision = new Set(BOOT_LINES.map(stripPrefix).filter(isModelledRemappingLine));
    expect(once.lines).toEqual([...decision]);
    const long = BOOT + Array.from({ length: 200 }, () => BODY.join('\n')).join('\n');
    const many = read(long);
    expect(many.boots).toBe(1);
    expect(long.endsWith('\n')).toBe(true);
    expect(many.lines).toBe(long.split('\n').length - 1);
    expect(many.read[0].scan.lines).toEqual(once.lines);
    // The same machine: a unit printed again is the same unit, an I/O APIC line again the same I/O APIC.
    expect(machinesFromReading(many)[0].machine).toEqual(machineFromDmesg(BOOT).machine);
  });

  it('chatter never reaches the patterns: 100 000 such lines cost the scan no examined line', () => {
    const base = read(BOOT).read[0].scan.examined;
    const chatter = Array.from({ length: 100_000 }, (_, i) => CHATTER[i % CHATTER.length]).join('\n');
    const r = read(BOOT + chatter + '\n');
    expect(r.lines).toBe(BOOT_LINES.length - 1 + 100_000);
    expect(r.read[0].scan.examined).toBe(base);
  });

  it('PCI and ACPI lines, the most numerous kernel lines, count as boot-log lines without running the patterns', () => {
    const scan = read('[    0.1] pci 0000:00:02.0: [8086:2922] type 00 class 0x010601\n[    0.2] ACPI: Added _OSI(Module Device)\n').read[0].scan;
    expect(scan.known).toBe(2);
    expect(scan.examined).toBe(0);
  });

  it('a line longer than MAX_LINE is cut there (a binary has such lines; no kernel prints one), with a warning', () => {
    const r = read('x'.repeat(5 * MAX_LINE) + '\n' + BOOT);
    expect(r.longLines).toBe(1);
    const [d] = machinesFromReading(r);
    expect(d.warnings).toContain(`1 line longer than ${MAX_LINE} characters, cut there (no kernel prints one: is this a boot log?)`);
    expect(d.machine).toEqual(machineFromDmesg(BOOT).machine);
  });
});

describe('several boots in one file', () => {
  const THREE = BOOT.replace('Linux version 6.1.0', 'Linux version 6.1.0') + BOOT + BOOT.replace('smp: Brought up 1 node, 32 CPUs', 'smp: Brought up 1 node, 31 CPUs');
  const starts = THREE.split('\n').flatMap((l, i) => (l.includes('Linux version') ? [i + 1] : []));

  it('are counted and located; the last is read by default and only its lines are in its machine', () => {
    const r = read(THREE);
    expect(r.boots).toBe(3);
    expect(r.starts).toEqual(starts);
    expect(r.read.map((b) => [b.index, b.line])).toEqual([[3, starts[2]]]);
    expect(machinesFromReading(r)[0].onlineCpus).toBe(31);
  });

  it('one by number: the other boots are not scanned at all', () => {
    const second = read(THREE, 2);
    expect(second.read.map((b) => b.index)).toEqual([2]);
    expect(second.read[0].scan.examined).toBe(read(BOOT).read[0].scan.examined);
    expect(machinesFromReading(second)[0].onlineCpus).toBe(32);
  });

  it('all: each boot its own machine, numbered', () => {
    const all = machinesFromReading(read(THREE, 'all'));
    expect(all.map((d) => d.boot)).toEqual(starts.map((line, i) => ({ index: i + 1, of: 3, line })));
    expect(all.map((d) => d.onlineCpus)).toEqual([32, 32, 31]);
    expect(all[0].warnings[0]).toBe(`the file holds 3 boots ("Linux version" at lines ${starts.join(', ')}); this is boot 1 (line ${starts[0]})`);
  });

  it('a boot the file does not have, and a --boot value that is no boot, are usage errors', () => {
    expect(() => machinesFromReading(read(THREE, 4))).toThrow(new UsageError('there is no boot 4 in the file: it holds 3 boots ("Linux version" lines)'));
    expect(parseBootChoice('2')).toBe(2);
    expect(parseBootChoice('all')).toBe('all');
    for (const bad of ['0', '-1', 'first', '1.5', '']) expect(() => parseBootChoice(bad)).toThrow(UsageError);
  });

  it('a file of 1 000 boots keeps one boot\'s scan at a time when the last is read', () => {
    const reader = new DmesgReader('last');
    for (let i = 0; i < 1000; i++) reader.push(BOOT);
    const r = reader.end();
    expect(r.boots).toBe(1000);
    expect(r.read).toHaveLength(1);
    expect(r.starts).toHaveLength(10);
    const [d] = machinesFromReading(r);
    expect(d.warnings[0]).toMatch(/^the file holds 1000 boots \("Linux version" at lines 1, \d+, .*, … \d+\); the last one is read/);
  });
});
