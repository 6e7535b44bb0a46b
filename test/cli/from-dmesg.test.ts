/**
 * `irqpath from-dmesg` on real, published boot logs (test/fixtures/dmesg-*.txt, provenance in each file's header).
 * Each test says what the log proves. Expected machine values are read off the log lines by hand; the round trip
 * boots the Linux model (of the log's kernel version) on the inferred machine and requires every modelled
 * interrupt-remapping line of the log to come out again, and no modelled line of a kind the log shows that it lacks.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { machineFromDmesg, stripPrefix } from '../../src/tools/from-dmesg.ts';
import { checkRemappingLines } from '../../src/tools/dmesg-check.ts';
import { renderDmesgMachine } from '../../src/cli/from-dmesg-command.ts';
import { parseScenario } from '../../src/scenario/scenario-file.ts';
import { runScenario } from '../../src/scenario/run-scenario.ts';
import { createMachine } from '../../src/machine/machine.ts';
import { runCli } from '../../src/cli/main.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

describe('line prefixes', () => {
  it('strips dmesg timestamps, syslog/journal prefixes and mail quotes', () => {
    expect(stripPrefix('[    0.048702] DMAR: Host address width 39')).toBe('DMAR: Host address width 39');
    expect(stripPrefix('May 30 17:32:17 localhost kernel: [    0.168626] DMAR: Host address width 39')).toBe('DMAR: Host address width 39');
    expect(stripPrefix('Sep 15 14:07:45 macmini kernel: DMAR-IR: x')).toBe('DMAR-IR: x');
    expect(stripPrefix('> [    0.302689] AMD-Vi: Interrupt remapping enabled')).toBe('AMD-Vi: Interrupt remapping enabled');
    expect(stripPrefix('DMAR: Host address width 39')).toBe('DMAR: Host address width 39');
  });
});

describe('Intel Skylake desktop, Linux 4.3, bare metal (Ubuntu Forums 2016)', () => {
  const d = machineFromDmesg(fixture('dmesg-intel-skylake-linux-4.3.txt'));

  it('proves two DRHDs (graphics unit without INCLUDE_PCI_ALL, then the catch-all unit with the I/O APIC and HPET), the opt-out flag, 4 CPUs, bare metal', () => {
    expect(d.kernel).toBe('4.3.0');
    expect(d.machine).toMatchObject({
      cpus: 4,
      bareMetal: true,
      ioapic: { id: 2, pins: 120 },
      dmar: { hostAddressWidth: 39, x2apicOptOut: true },
      iommus: [
        { kind: 'intel', base: 0xfed90000, cap: '1c0000c40660462', ecap: '7e3ff0505e', includePciAll: false, ioapicScope: false },
        { kind: 'intel', base: 0xfed91000, cap: 'd2008c40660462', ecap: 'f050da', ioapicScope: true, hpet: { id: 0 } },
      ],
    });
    expect(d.machine.cpuVendor).toBeUndefined(); // intel is the default
  });

  it('round trip: the Linux 4.3 model prints the log\'s DMAR and DMAR-IR lines, opt-out, xapic mode and the bare-metal x2APIC refusal', () => {
    const c = checkRemappingLines(d);
    expect(c.kernel).toBe('4.3.0');
    expect(c.missing).toEqual([]);
    expect(c.extra).toEqual([]);
    expect(c.matched).toContain("x2apic: IRQ remapping doesn't support X2APIC mode");
    expect(c.matched).toHaveLength(11);
  });

  it('the YAML is accepted as is: by createMachine, and inside a scenario file that irqpath run executes', () => {
    const yaml = renderDmesgMachine(d);
    expect(yaml).toContain('base: 0xfed90000');
    const parsed = parseYaml(yaml) as { machine: unknown };
    expect(() => createMachine(parsed.machine as never)).not.toThrow();
    const scenario = [
      'title: the Skylake host of the fixture',
      'story: its timer pin programmed through dmar1 in xapic mode',
      'facts: [test/fixtures/dmesg-intel-skylake-linux-4.3.txt]',
      yaml.trimEnd(),
      "guest: { os: linux, version: '4.3' }",
      'sources:',
      '  - { id: timer, kind: ioapic, pin: 2, cpu: 1 }',
      'expect:',
      '  verdict: fixed',
      "  bootLog: [\"x2apic: IRQ remapping doesn't support X2APIC mode\"]",
      '  sources:',
      '    timer: intended',
      '',
    ].join('\n');
    const [parsedScenario] = parseScenario(scenario, 'from-dmesg.yaml');
    const r = runScenario(parsedScenario);
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.verdict).toBe('FIXED');
  });
});

describe('ThinkPad T450s, journal format (quoted e-mail)', () => {
  const d = machineFromDmesg(fixture('dmesg-intel-thinkpad-t450s-journal.txt'));
  it('proves the journal prefixes are read and the I/O APIC ID comes from the DMAR-IR scope line; round trip holds', () => {
    expect(d.machine.ioapic).toEqual({ id: 2 });
    expect(d.notes.some((n) => n.includes('bare metal or VM'))).toBe(true);
    const c = checkRemappingLines(d);
    expect(c.missing).toEqual([]);
    expect(c.extra).toEqual([]);
    expect(c.matched).toHaveLength(10);
  });
});

describe('AMD Ryzen 7 5800H laptop, Linux 6.15.7, bare metal (stable list 2025)', () => {
  const d = machineFromDmesg(fixture('dmesg-amd-ryzen-5800h-linux-6.15.txt'));
  it('proves the EFR/EFR2, the IOMMU function 00:00.2, 16 CPUs, AMD, bare metal; I/O APIC ID 32 cannot be modelled and is said so', () => {
    expect(d.machine).toMatchObject({ cpus: 16, cpuVendor: 'amd', bareMetal: true, iommu: { kind: 'amd', efr: '206d73ef22254ade', efr2: '0', bdf: '00:00.2' } });
    expect(d.notes.some((n) => n.includes('I/O APIC ID 32'))).toBe(true);
    expect(d.notes.some((n) => n.includes('the log shows 2'))).toBe(true);
  });

  it('round trip: Extended features, Interrupt remapping, X2APIC and Virtual APIC enabled', () => {
    const c = checkRemappingLines(d);
    expect(c.kernel).toBe('6.15.7');
    expect(c.missing).toEqual([]);
    expect(c.extra).toEqual([]);
    expect(c.matched).toEqual([
      'AMD-Vi: Extended features (0x206d73ef22254ade, 0x0): PPR X2APIC NX GT IA GA PC GA_vAPIC',
      'AMD-Vi: Interrupt remapping enabled',
      'AMD-Vi: X2APIC enabled',
      'AMD-Vi: Virtual APIC enabled',
    ]);
  });
});

describe('AMD Phenom II, Linux 5.10, no southbridge I/O APIC in IVRS (xen-devel 2023)', () => {
  const d = machineFromDmesg(fixture('dmesg-amd-phenom-no-southbridge-linux-5.10.txt'));
  it('proves present CPUs = 8 possible - 4 hotplug, and an I/O APIC listed away from 00:14.0; the model disables remapping the same way', () => {
    expect(d.machine.cpus).toBe(4);
    expect(d.machine.ioapic).toEqual({ id: 8 });
    const c = checkRemappingLines(d);
    expect(c.missing).toEqual([]);
    expect(c.extra).toEqual([]);
    expect(c.matched).toEqual(['AMD-Vi: [Firmware Bug]: : No southbridge IOAPIC found', 'AMD-Vi: Disabling interrupt remapping']);
  });
});

describe('irqpath from-dmesg', () => {
  it('prints the YAML; --check reports the round trip on stderr and exits 0 when it holds', async () => {
    let out = '';
    let err = '';
    const path = new URL('../fixtures/dmesg-intel-skylake-linux-4.3.txt', import.meta.url).pathname;
    const code = await runCli(['node', 'irqpath', 'from-dmesg', path, '--check'], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
    expect(code).toBe(0);
    expect(out).toMatch(/^# Machine implied by a Linux boot log/);
    expect(out).toContain('machine:');
    expect(err).toContain('11 of 11 remapping lines of the log reproduced');
  });

  it('an unreadable file is a usage error (exit 2)', async () => {
    let err = '';
    const code = await runCli(['node', 'irqpath', 'from-dmesg', '/nonexistent/dmesg.txt'], { writeOut: () => {}, writeErr: (t) => (err += t) });
    expect(code).toBe(2);
    expect(err).toContain('cannot read the file');
  });
});
