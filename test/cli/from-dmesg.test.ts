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
import { renderDmesgMachine, renderDmesgScenario } from '../../src/cli/from-dmesg-command.ts';
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
    expect(err).toContain('11 of 11 decision lines of the log reproduced');
  });

  it('an unreadable file is a usage error (exit 2)', async () => {
    let err = '';
    const code = await runCli(['node', 'irqpath', 'from-dmesg', '/nonexistent/dmesg.txt'], { writeOut: () => {}, writeErr: (t) => (err += t) });
    expect(code).toBe(2);
    expect(err).toContain('cannot read the file');
  });

  it('--boot all prints each boot of a two-boot file as its own YAML document; --boot 3 of two is a usage error', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'irqpath-boots-'));
    const path = join(dir, 'two.txt');
    writeFileSync(path, fixture('qemu72-linux61-consoles/intel-ir-16.txt') + fixture('qemu72-linux61-consoles/intel-ir-4.txt'));
    const run = async (...args: string[]) => {
      let out = '';
      let err = '';
      const code = await runCli(['node', 'irqpath', 'from-dmesg', path, ...args], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
      return { code, out, err };
    };
    const all = await run('--boot', 'all');
    const three = await run('--boot', '3');
    rmSync(dir, { recursive: true, force: true });
    expect(all.code).toBe(0);
    const docs = all.out.split(/^---$/m);
    expect(docs).toHaveLength(2);
    expect(docs[0]).toMatch(/^# Boot 1 of 2 \("Linux version" at line 10\)\n/);
    expect(docs[0]).toMatch(/^  cpus: 16$/m);
    expect(docs[1]).toMatch(/^\n# Boot 2 of 2 \("Linux version" at line 389\)\n/);
    expect(docs[1]).toMatch(/^  cpus: 4$/m);
    expect(all.err).toContain(`warning: ${path}: boot 2: the file holds 2 boots ("Linux version" at lines 10, 389); this is boot 2 (line 389)`);
    expect(three.code).toBe(2);
    expect(three.err).toBe(`irqpath: ${path}: there is no boot 3 in the file: it holds 2 boots ("Linux version" lines)\n`);
  });
});

describe('real QEMU 7.2 + Linux 6.1 boots (test/fixtures/qemu72-linux61-consoles, README there): whole logs, checked strictly', () => {
  const dir = 'qemu72-linux61-consoles';
  const names = ['intel-ir-4', 'intel-ir-16', 'intel-ir-4-intremap-off', 'intel-ir-4-noapic', 'intel-ir-4-x2apicphys', 'intel-devnoir-4', 'epyc-intel-ir-4', 'amd-iommu-4'];

  it.each(names)('%s: read through the console escapes, a whole log, every decision line reproduced and none added', (name) => {
    const d = machineFromDmesg(fixture(`${dir}/${name}.txt`));
    expect(d.kernel).toBe('6.1.192'); // "Debian 6.1.192-3": the upstream release of 6.1.0-57-amd64
    expect(d.complete).toBe(true);
    // The CPU (qemu64 / EPYC under TCG): AuthenticAMD, no x2APIC, no hypervisor detected.
    expect(d.machine).toMatchObject({ cpuVendor: 'amd', cpu: { x2apic: false }, bareMetal: true });
    const c = checkRemappingLines(d);
    expect(c.strict).toBe(true);
    expect(c.missing).toEqual([]);
    expect(c.extra).toEqual([]);
    expect(c.matched.length).toBeGreaterThan(0);
  });

  it("reads QEMU's registers as the guest printed them and the command line", () => {
    const d = machineFromDmesg(fixture(`${dir}/intel-ir-4-x2apicphys.txt`));
    expect(d.machine.iommu).toMatchObject({ kind: 'intel', base: 0xfed90000, cap: 'd2008c22260206', ecap: 'f00f4a', includePciAll: false });
    expect(d.cmdline).toBe('console=ttyS0 lpj=1000000 panic=-1 x2apic_phys intel_iommu=off');
    expect(machineFromDmesg(fixture(`${dir}/intel-ir-16.txt`)).machine.cpus).toBe(16);
  });

  it('a unit without IR on a whole log: the DMAR INTR_REMAP flag was clear (nothing printed by DMAR-IR)', () => {
    expect(machineFromDmesg(fixture(`${dir}/intel-devnoir-4.txt`)).machine.dmar).toEqual({ hostAddressWidth: 39, intrRemap: false });
  });

  it('strict both ways: the intremap=off boot checked without its command line shows the model\'s extra DMAR-IR lines', () => {
    const d = machineFromDmesg(fixture(`${dir}/intel-ir-4-intremap-off.txt`));
    const c = checkRemappingLines({ ...d, cmdline: null });
    expect(c.missing).toEqual([]);
    expect(c.extra).toEqual(['DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0', 'DMAR-IR: Enabled IRQ remapping in xapic mode']);
  });

  it('--scenario prints a scenario the loader accepts and irqpath run passes: guest version and command line, the log lines as facts', () => {
    const file = `test/fixtures/${dir}/intel-ir-4-noapic.txt`;
    const text = renderDmesgScenario(machineFromDmesg(fixture(`${dir}/intel-ir-4-noapic.txt`)), file);
    const [s] = parseScenario(text, 'from-dmesg-noapic.yaml');
    expect(s.guest).toEqual({ os: 'linux', version: '6.1.192', cmdline: 'console=ttyS0 lpj=1000000 panic=-1 noapic' });
    expect(s.expect.bootLog).toContain('Not enabling interrupt remapping due to skipped IO-APIC setup');
    expect(s.expect.onlineCpus).toBe(4);
    const r = runScenario(s);
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    const [flat] = parseScenario(renderDmesgScenario(machineFromDmesg(fixture(`${dir}/intel-ir-4.txt`)), 'x'), 'from-dmesg-flat.yaml');
    expect(runScenario(flat).checks.filter((c) => !c.ok)).toEqual([]);
  });
});

describe('what a log cannot be, and what it leaves out', () => {
  it('junk, an empty file or a binary is refused: no kernel line found (exit 2)', async () => {
    for (const text of ['', 'hello world\nthis is not a kernel log\n', '\u0000\u0001\u0002ELF\u0000\u00ff\u00fe']) {
      expect(() => machineFromDmesg(text)).toThrow(/no Linux boot-log line found/);
    }
    let err = '';
    const code = await runCli(['node', 'irqpath', 'from-dmesg', new URL('../fixtures/qemu72-linux61-consoles/README.md', import.meta.url).pathname], { writeOut: () => {}, writeErr: (t) => (err += t) });
    expect(code).toBe(2);
    expect(err).toContain('no Linux boot-log line found');
  });

  it('several boots in one file: a warning, and the last boot is read', () => {
    const two = fixture('qemu72-linux61-consoles/intel-ir-16.txt') + fixture('qemu72-linux61-consoles/intel-ir-4.txt');
    const d = machineFromDmesg(two);
    // intel-ir-16.txt prints "Linux version" on its line 10 and has 380 lines; intel-ir-4.txt on its line 9.
    expect(d.warnings).toEqual(['the file holds 2 boots ("Linux version" at lines 10, 389); the last one is read (another with the boot option, --boot on the command line: a number, last or all)']);
    expect(d.machine.cpus).toBe(4);
    expect(d.boot).toEqual({ index: 2, of: 2, line: 389 });
    expect(machineFromDmesg(two, { boot: 1 }).machine.cpus).toBe(16);
    expect(() => machineFromDmesg(two, { boot: 3 })).toThrow('there is no boot 3 in the file: it holds 2 boots ("Linux version" lines)');
  });

  it('a boot whose lines appear twice (a journal merged with the console log of the same boot) is one machine: one VT-d unit, one I/O APIC', () => {
    // Found measuring a 50 MB log: each repeated "DMAR: DRHD base" line became another unit at the same base, and each
    // "IOAPIC[0]" line another I/O APIC in the notes ("the log shows 25340").
    const boot = fixture('qemu72-linux61-consoles/intel-ir-4.txt');
    const again = boot.split('\n').filter((l) => !l.includes('Linux version')).join('\n');
    const once = machineFromDmesg(boot);
    const twice = machineFromDmesg(boot + again);
    expect(twice.machine).toEqual(once.machine);
    expect(twice.machine.iommus).toBeUndefined();
    expect(twice.machine.iommu).toMatchObject({ kind: 'intel', base: 0xfed90000 });
    expect(twice.notes.filter((n) => n.startsWith('I/O APICs:'))).toEqual([]);
    expect(twice.lines).toEqual(once.lines);
  });

  it('a dmarN line without its DRHD line is kept, with a warning', () => {
    const d = machineFromDmesg('[    0.1] DMAR: Host address width 39\n[    0.2] DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap d2008c22260206 ecap f00f4a\n');
    expect(d.warnings[0]).toMatch(/dmar0: reg_base_addr fed90000" has no "DMAR: DRHD base/);
    expect(d.machine.iommu).toMatchObject({ kind: 'intel', base: 0xfed90000, ecap: 'f00f4a', includePciAll: false });
  });

  // Constructed from Linux 6.1's format strings (ir_parse_ioapic_hpet_scope, parse_ioapics_under_ir,
  // intel_cleanup_irq_remapping): a DMAR whose I/O APIC scope names ID 0 while the kernel's I/O APIC is 2, quoted
  // without the dmarN lines, on an x2APIC CPU.
  const firmwareBug = [
    'DMAR-IR: IOAPIC id 0 under DRHD base  0xfed91000 IOMMU 0',
    'DMAR-IR: [Firmware Bug]: ioapic 2 has no mapping iommu, interrupt remapping will be disabled',
    'DMAR-IR: Not enabling interrupt remapping',
    'DMAR-IR: Failed to enable irq remapping. You are vulnerable to irq-injection attacks.',
    "x2apic: IRQ remapping doesn't support X2APIC mode",
  ].join('\n');

  it('DMAR-IR lines without reg_base_addr lines still build the unit; a scope ID that differs from the kernel\'s I/O APIC is reproduced', () => {
    const d = machineFromDmesg(firmwareBug);
    expect(d.machine).toMatchObject({ ioapic: { id: 2 }, dmar: { ioapicScopeId: 0 }, bareMetal: true, iommu: { kind: 'intel', base: 0xfed91000, interruptRemapping: true } });
    const c = checkRemappingLines(d);
    expect(c.missing).toEqual([]);
    expect(c.extra).toEqual([]);
    expect(c.matched).toHaveLength(5);
    expect(c.uncompared.some((l) => l.startsWith('DMAR: dmar0: reg_base_addr'))).toBe(true);
  });

  it('a distribution kernel is read as the upstream release it names (the 6.11.3 boundary depends on it)', () => {
    // The trailer formats of Ubuntu's and Debian's "Linux version" lines; the rest of each line shortened.
    const ubuntu = machineFromDmesg('Linux version 6.11.0-19-generic (buildd@lcy02-amd64-036) #19-Ubuntu SMP PREEMPT_DYNAMIC Wed Feb 12 21:43:43 UTC 2025 (Ubuntu 6.11.0-19.19-generic 6.11.11)\n');
    expect(ubuntu.kernel).toBe('6.11.11');
    expect(machineFromDmesg('Linux version 6.11.0-1-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.11.2-1 (2024-10-05)\n').kernel).toBe('6.11.2');
  });

  it('the kernel version from the wording when "Linux version" is missing', () => {
    expect(machineFromDmesg('APIC: Switched APIC routing to: physical flat\n').kernel).toBe('6.6');
    expect(machineFromDmesg('smpboot: Allowing 4 CPUs, 0 hotplug CPUs\nSwitched APIC routing to physical flat.\n').kernel).toBe('6.5');
    expect(machineFromDmesg('CPU topo: Allowing 4 present CPUs plus 0 hotplug CPUs\n').kernel).toBe('6.9');
  });
});
