/**
 * The recording parser (src/tools/qemu-recording.ts) on the committed QEMU recordings
 * (test/fixtures/qemu-recordings/). The expected values were read off the raw files by eye; every fixture directory
 * is also checked for a complete provenance.json.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRecording, recordingDirectories } from '../../src/cli/qemu/read-recording.ts';
import {
  PROVENANCE_FIELDS,
  cpuHasX2apic,
  decisionLines,
  decodeVtdIrte,
  kernelRelease,
  parseAffinities,
  parseCmdline,
  parseDmesg,
  parseIrtDump,
  parsePciConfig,
  parsePciDevices,
  parseProcInterrupts,
  parseReservedRegions,
  splitSections,
  type RecordingProvenance,
} from '../../src/tools/qemu-recording.ts';

const root = new URL('../fixtures/qemu-recordings/', import.meta.url).pathname;
const read = (name: string, file: string) => readFileSync(join(root, name, file), 'utf8');

describe('intel-ir-4cpu: Intel vIOMMU, intremap=on, 4 vCPUs', () => {
  const rec = 'intel-ir-4cpu';

  it('the console splits into the sections that are also stored as files', () => {
    const sections = splitSections(read(rec, 'console.txt'));
    expect([...sections.keys()]).toEqual(['boot', 'uname', 'cmdline', 'cpuinfo-flags', 'interrupts', 'irq-affinity', 'reserved-regions', 'pci-devices', 'pci-config', 'dmesg', 'ready', 'end']);
    expect(sections.get('interrupts') + '\n').toBe(read(rec, 'interrupts.txt'));
    expect(sections.get('dmesg') + '\n').toBe(read(rec, 'dmesg.txt'));
    expect(kernelRelease(sections)).toBe('6.1.0-57-amd64');
  });

  it('/proc/interrupts: the first row, the AHCI MSI row and the architectural rows', () => {
    const t = parseProcInterrupts(read(rec, 'interrupts.txt'));
    expect(t.cpus).toEqual(['CPU0', 'CPU1', 'CPU2', 'CPU3']);
    expect(t.rows[0]).toEqual({ irq: '0', counts: [167, 0, 0, 0], chip: 'IR-IO-APIC', hwirq: 2, trigger: 'edge', name: 'timer' });
    expect(t.rows.find((r) => r.irq === '9')).toMatchObject({ chip: 'IR-IO-APIC', hwirq: 9, trigger: 'fasteoi', name: 'acpi' });
    expect(t.rows.find((r) => r.irq === '24')).toMatchObject({ chip: 'DMAR-MSI', hwirq: 0, trigger: 'edge', name: 'dmar0' });
    // hwirq of a PCI MSI is (requester id << 11) | vector index: 00:1f.2 = 0xfa → 0xfa << 11 = 512000.
    expect(t.rows.find((r) => r.irq === '36')).toEqual({ irq: '36', counts: [0, 0, 0, 7], chip: 'IR-PCI-MSI', hwirq: 512000, trigger: 'edge', name: 'ahci[0000:00:1f.2]' });
    expect(t.rows.find((r) => r.irq === '32')).toMatchObject({ chip: 'IR-PCI-MSI', hwirq: 65537, name: 'nvme0q1' });
    expect(t.rows.find((r) => r.irq === 'LOC')).toEqual({ irq: 'LOC', counts: [1065, 1091, 1083, 1102], name: 'Local timer interrupts' });
    expect(t.rows.find((r) => r.irq === 'ERR')).toEqual({ irq: 'ERR', counts: [0], name: '' });
    expect(t.rows.filter((r) => /^\d+$/.test(r.irq))).toHaveLength(19);
  });

  it('the decision lines, in order, and no x2apic: QEMU 7.2 TCG CPU has none', () => {
    expect(decisionLines(read(rec, 'dmesg.txt'))).toEqual([
      'APIC: Switch to symmetric I/O mode setup',
      'DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0',
      'DMAR-IR: Enabled IRQ remapping in xapic mode',
      'AMD-Vi: AMD IOMMUv2 functionality not available on this system - This is not a bug.',
    ]);
    expect(cpuHasX2apic(read(rec, 'cpuinfo-flags.txt'))).toBe(false);
    expect(parseDmesg(read(rec, 'dmesg.txt'))[0]!.text).toMatch(/^Linux version 6\.1\.0-57-amd64 /);
  });

  it('affinities: a managed NVMe queue pinned to one CPU, a legacy IRQ spread over all', () => {
    const a = parseAffinities(read(rec, 'irq-affinity.txt'));
    expect(a.find((x) => x.irq === 1)).toEqual({ irq: 1, effective: [3], requested: [0, 1, 2, 3] });
    expect(a.find((x) => x.irq === 2)).toEqual({ irq: 2, effective: [], requested: [0, 1, 2, 3] });
    expect(a.find((x) => x.irq === 33)).toEqual({ irq: 33, effective: [1], requested: [1] });
    expect(a.map((x) => x.irq)).toEqual([...a.map((x) => x.irq)].sort((p, q) => p - q));
  });

  it('reserved regions: every group has the MSI window; the LPC/AHCI/SMBus group the ISA direct map', () => {
    const g = parseReservedRegions(read(rec, 'reserved-regions.txt'));
    expect(g).toHaveLength(6);
    expect(g[0]).toEqual({ group: 0, regions: [{ start: 0xfee00000n, end: 0xfeefffffn, type: 'msi' }], devices: ['0000:00:00.0'] });
    expect(g[5]).toEqual({
      group: 5,
      regions: [
        { start: 0n, end: 0xffffffn, type: 'direct-relaxable' },
        { start: 0xfee00000n, end: 0xfeefffffn, type: 'msi' },
      ],
      devices: ['0000:00:1f.0', '0000:00:1f.2', '0000:00:1f.3'],
    });
  });

  it('PCI devices and their MSI/MSI-X capabilities', () => {
    const devs = parsePciDevices(read(rec, 'pci-devices.txt'));
    expect(devs.find((d) => d.bdf === '0000:00:04.0')).toEqual({ bdf: '0000:00:04.0', vendor: 0x1b36, device: 0x0010, class: 0x010802, irq: 20, msiIrqs: [31, 32, 33, 34, 35], driver: 'nvme' });
    expect(devs.find((d) => d.bdf === '0000:00:1f.2')).toMatchObject({ irq: 36, msiIrqs: [36], driver: 'ahci' });
    const cfg = parsePciConfig(read(rec, 'pci-config.txt'));
    const nvme = cfg.find((c) => c.bdf === '0000:00:04.0')!;
    expect(nvme.msix).toEqual({ offset: 0x40, enabled: true, masked: false, tableSize: 65, tableBar: 0, tableOffset: 0x2000 });
    expect(nvme.resources[0]!.start).toBe(0xfebd4000n);
    const ahci = cfg.find((c) => c.bdf === '0000:00:1f.2')!;
    // Remappable MSI: address bit 4 (format) and 3 (SHV) set, handle 30 in bits 19:5 — IRTE 30 below.
    expect(ahci.msi).toEqual({ offset: 0x80, enabled: true, enabledVectors: 1, address: 0xfee003d8n, data: 0 });
    expect(cfg.find((c) => c.bdf === '0000:00:03.0')!.msi).toMatchObject({ enabled: false });
  });

  it('the interrupt remapping table read through the monitor: IRTA, the I/O APIC pins and the AHCI entry', () => {
    const d = parseIrtDump(read(rec, 'irt.json'));
    expect(d.intel).toMatchObject({ irta: '0x120000f', tableAddress: '0x1200000', entries: 65536, eime: false });
    expect(Object.keys(d.intel!.irte)).toHaveLength(18);
    // I/O APIC pin 1 (i8042, IRQ 1) is RTE handle 0 (info pic: 0x0001000000000001): logical destination 8 = CPU3,
    // vector 0x21, source-id 0xff00 verified with SVT 01.
    expect(decodeVtdIrte(d.intel!.irte['0']!)).toEqual({
      present: true,
      fpd: false,
      destinationMode: 'logical',
      redirectionHint: true,
      triggerMode: 'edge',
      deliveryMode: 0,
      vector: 0x21,
      destinationId: 0x800,
      xapicDestination: 8,
      sid: 0xff00,
      sq: 0,
      svt: 1,
    });
    expect(read(rec, 'monitor-info-pic.txt')).toContain('pin 1  0x0001000000000001');
    expect(decodeVtdIrte(d.intel!.irte['30']!)).toMatchObject({ sid: 0xfa, vector: 0x24, xapicDestination: 8 });
    // MSI-X: the NVMe admin queue's entry points at IRTE (0x318 >> 5) = 24.
    expect(d.msix!['0000:00:04.0']!.entries['0']).toEqual(['0xfee00318', '0x0', '0x0', '0x0']);
    expect(decodeVtdIrte(d.intel!.irte['24']!)).toMatchObject({ sid: 0x20, vector: 0x24 });
  });

  it('the kernel command line', () => {
    const c = parseCmdline(read(rec, 'cmdline.txt'));
    expect(c.raw).toBe('console=ttyS0 lpj=9781716 log_buf_len=4M panic=-1');
    expect(c.options.get('lpj')).toBe('9781716');
  });
});

describe('intel-ir-1cpu: Intel vIOMMU, intremap=on, 1 vCPU', () => {
  it('one count column and physical-mode IRTEs', () => {
    const t = parseProcInterrupts(read('intel-ir-1cpu', 'interrupts.txt'));
    expect(t.cpus).toEqual(['CPU0']);
    expect(t.rows[0]!.counts).toHaveLength(1);
    expect(decisionLines(read('intel-ir-1cpu', 'dmesg.txt'))).toContain('DMAR-IR: Enabled IRQ remapping in xapic mode');
  });
});

describe('amd-iommu-ir: AMD vIOMMU, intremap=on, 4 vCPUs', () => {
  const rec = 'amd-iommu-ir';

  it('the AMD-Vi decisions', () => {
    expect(decisionLines(read(rec, 'dmesg.txt'))).toEqual([
      'APIC: Switch to symmetric I/O mode setup',
      'AMD-Vi: Using global IVHD EFR:0x0, EFR2:0x0',
      'AMD-Vi: Using strict mode due to virtualization',
      'AMD-Vi: Extended features (0x29d3, 0x0): PreF PPR GT IA GA HE',
      'AMD-Vi: Interrupt remapping enabled',
      'AMD-Vi: AMD IOMMUv2 loaded and initialized',
    ]);
    // The IOMMU's own MSI is not remapped (it cannot remap itself): PCI-MSI, not IR-PCI-MSI.
    const rows = parseProcInterrupts(read(rec, 'interrupts.txt')).rows;
    expect(rows.find((r) => r.irq === '24')).toMatchObject({ chip: 'PCI-MSI', hwirq: 32768, name: 'AMD-Vi' });
    expect(rows.find((r) => r.irq === '0')).toMatchObject({ chip: 'IR-IO-APIC', hwirq: 2, name: 'timer' });
  });

  it('the I/O APIC DTE and its 128-bit (GA) IRTE 4 are what the trace shows QEMU reading', () => {
    const d = parseIrtDump(read(rec, 'irt.json'));
    expect(d.amd).toMatchObject({ mmioBase: '0xfed80000', deviceTableEntries: 256 });
    // DTE 0xa0 (the I/O APIC, 00:14.0): IV = 1, IntTabLen = 9 (512 entries), IntCtl = 10b, table at 0x11e0000.
    expect(d.amd!.dte['0xa0']).toBe('0x20000000011e001300000000000000000000000000000003');
    const table = d.amd!.interruptTables['0xa0']!;
    expect(table).toMatchObject({ address: '0x11e0000', length: 512, entrySize: 16 });
    // trace.log: `amdvi_ir_irte addr 0x11e0000 offset 0x40` then `amdvi_ir_irte_ga_val hi 0x22 lo 0x441`.
    expect(read(rec, 'trace.log')).toContain('amdvi_ir_irte addr 0x11e0000 offset 0x40\namdvi_ir_irte_ga_val hi 0x22 lo 0x441\n');
    expect(table.irte['4']).toBe('0x220000000000000441');
  });
});

describe('intel-ir-k-nox2apic: the echo of the command line is no decision', () => {
  it('nox2apic appears on the command line only', () => {
    const lines = decisionLines(read('intel-ir-k-nox2apic', 'dmesg.txt'));
    expect(lines.some((l) => /command line/i.test(l))).toBe(false);
    expect(lines).toContain('DMAR-IR: Enabled IRQ remapping in xapic mode');
  });
});

describe('parseRecording: a whole directory at once', () => {
  it('a booted recording has every part; a refused one only its provenance', () => {
    const r = readRecording(join(root, 'intel-ir-4cpu'));
    expect(r.kernel).toBe('6.1.0-57-amd64');
    expect(r.x2apicCpu).toBe(false);
    expect(r.interrupts!.rows[0]!.name).toBe('timer');
    expect(r.tables!.intel!.eime).toBe(false);
    expect(r.iommuGroups).toHaveLength(6);
    expect(r.pciDevices!.map((d) => d.driver).filter(Boolean)).toEqual(['virtio-pci', 'e1000e', 'nvme', 'ahci']);
    expect(r.trace!.split('\n')).toHaveLength(r.provenance.trace.keptLines! + 1);
    const refused = readRecording(join(root, 'refused-256cpu'));
    expect(refused.provenance.outcome).toBe('refused');
    expect(refused.provenance.stderr).toContain('current -smp configuration requires kernel irqchip and X2APIC API support.');
    expect(refused.dmesg).toBeUndefined();
    expect(recordingDirectories(root).map((d) => d.split('/').pop())).toContain('refused-eim');
  });
});

describe('every recording has a complete provenance.json', () => {
  const names = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();

  it('the set is there', () => {
    expect(names.length).toBeGreaterThanOrEqual(17);
  });

  it.each(names)('%s', (name) => {
    const p = JSON.parse(read(name, 'provenance.json')) as RecordingProvenance;
    for (const field of PROVENANCE_FIELDS) expect(p, `provenance.json of ${name} lacks ${field}`).toHaveProperty(field);
    expect(p.name).toBe(name);
    expect(p.qemuVersion).toMatch(/^QEMU emulator version \d+\.\d+/);
    expect(p.argv[0]).toMatch(/qemu-system-x86_64$/);
    expect(p.shell.startsWith(p.argv[0]!)).toBe(true);
    expect(p.argv).toContain(p.append);
    expect(Number.isNaN(Date.parse(p.date))).toBe(false);
    expect(p.wallSeconds).toBeGreaterThanOrEqual(0);
    for (const f of p.files) expect(existsSync(join(root, name, f)), `${name}/${f}`).toBe(true);
    expect(p.files).toContain('provenance.json');
    if (p.outcome === 'refused') {
      expect(p.exitCode).not.toBe(0);
      expect(p.stderr).toMatch(/qemu-system-x86_64: /);
      expect(p.kernel).toBeNull();
    } else if (p.outcome === 'failed') {
      // Kept when it is a fact worth having (e.g. a boot that did not finish in time): it must say why.
      expect(p.timedOut || p.exitCode !== 0).toBe(true);
      expect(p.notes?.length ?? 0).toBeGreaterThan(0);
    } else {
      expect(p.outcome).toBe('booted');
      expect(p.exitCode).toBe(0);
      expect(p.kernel).toMatch(/^Linux \S+ 6\.1\.0-57-amd64 /);
      for (const f of ['dmesg.txt', 'interrupts.txt', 'irq-affinity.txt', 'cmdline.txt', 'pci-devices.txt', 'trace.log', 'irt.json']) expect(p.files).toContain(f);
      expect(read(name, 'cmdline.txt').trim()).toBe(p.append);
      expect(p.trace.lines).toBeGreaterThan(0);
      if (p.trace.keptLines !== undefined) {
        expect(p.trace.keptLines).toBeLessThanOrEqual(p.trace.lines);
        expect(p.trace.dropped!.length).toBeGreaterThan(0);
      } else expect(p.trace.full).toBe('trace.log');
    }
  });
});
