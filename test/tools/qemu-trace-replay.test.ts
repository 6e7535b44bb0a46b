/**
 * `irqpath replay` on the published QEMU traces of the Windows-on-AMD case (test/fixtures/qemu-trace/README.md says
 * where they were published and what each proves), and the trace-log reader on the shapes real logs take.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseQemuTraceLog } from '../../src/tools/qemu-trace-log.ts';
import { replayQemuTrace, type ReplayedRequest, type ReplayReport } from '../../src/tools/qemu-trace-replay.ts';
import { runCli } from '../../src/cli/main.ts';

const fixture = (name: string) => new URL(`../fixtures/qemu-trace/${name}`, import.meta.url);
const INTEL_HOST = readFileSync(fixture('windows-intel-host.log'), 'utf8');
const AMD_HOST = readFileSync(fixture('windows-amd-host.log'), 'utf8');

/** The distinct VT-d requests of a report, in the order of their first line. */
const vtdRequests = (report: ReplayReport) => report.groups.filter((g) => g.unit === 'intel-vtd').map((g) => g.request as ReplayedRequest);

/** The published vtd_* lines of the log, in upstream QEMU's format (the patched QEMU's `sid`/`do_fault` cut off). */
function publishedVtdLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('vtd_ir_') && !l.startsWith('vtd_ir_enable')).map((l) => l.replace(/ sid 0x[0-9a-f]+ do_fault \d$/, ''));
}

describe('replay of the published Intel-host trace (Windows boots)', () => {
  const report = replayQemuTrace(INTEL_HOST);

  it('finds both I/O APIC pin 2 requests, identical, listed once with lines 37 and 44; reads the IRTE QEMU printed', () => {
    expect(report.summary).toMatchObject({ requests: 2, distinct: 1, asOnHardware: 2, diverging: 0 });
    expect(report.groups).toHaveLength(1);
    expect(report.groups[0]).toMatchObject({ unit: 'intel-vtd', count: 2, firstLine: 37, lastLine: 44 });
    const r = vtdRequests(report)[0];
    expect(r.addr).toBe(0xfee00010n);
    expect(r.data).toBe(0xd1);
    expect(r.format).toBe('remappable');
    expect(r.irte).toEqual({ index: 0, low: 0n, high: 0x100d10005n });
  });

  it('irqpath prints exactly the lines QEMU printed for the request (golden: the published trace)', () => {
    const published = publishedVtdLines(INTEL_HOST);
    // Two identical requests of five lines each: the group's lines are the first five, and so are the second's.
    expect(published.slice(0, 5)).toEqual(published.slice(5));
    expect(vtdRequests(report)[0].trace.irqpath).toEqual(published.slice(0, 5));
    expect(report.groups[0].trace).toEqual({ same: true, notCaptured: [] });
  });

  it('hardware agrees with QEMU: x2APIC logical destination 1, vector 0xd1, fixed, edge (IRTE 0x100d10005 with EIME = 1)', () => {
    // IRTE bits: P (0) = 1, DM (2) = 1, vector 15:8 = 0xd1, destination 63:32 = 1 → EIME = 1 uses all 32 bits.
    expect(report.vtd!.machine.eime).toBe(true);
    for (const r of vtdRequests(report)) {
      expect(r.divergences).toEqual([]);
      expect(r.hardware.delivery).toEqual({ dest: 1, destMode: 'logical', vector: 0xd1, deliveryMode: 'Fixed', trigger: 'edge' });
      expect(r.qemu.message).toEqual({ addr: 0xfee01004n, data: 0x40d1 });
      expect(r.qemuProfile.matchesLog).toBe(true);
    }
  });

  it('counts every event (kvm_irqchip_* are QEMU events irqpath reads) and what is no event: QEMU warnings; the final newline adds no line', () => {
    expect(report.log.skipped).toEqual({});
    expect(report.log.events).toMatchObject({ kvm_irqchip_add_msi_route: 24, kvm_irqchip_commit_routes: 8, kvm_irqchip_update_msi_route: 2 });
    expect(report.log.otherLines).toBe(5); // the five qemu-system-x86_64 warnings
    expect(INTEL_HOST.endsWith('\n')).toBe(true);
    expect(report.log.lines).toBe(INTEL_HOST.split('\n').length - 1);
    expect(report.summary.lines).toBe(report.log.lines);
  });
});

describe('replay of the published AMD-host trace (Windows hangs)', () => {
  const report = replayQemuTrace(AMD_HOST);

  it('QEMU passed the AMD-style RTE message through; hardware with EIME = 1 blocks it with fault 0x25, index 0x8000', () => {
    expect(report.summary).toMatchObject({ requests: 1, asOnHardware: 0, diverging: 1 });
    const r = vtdRequests(report)[0];
    // After `vtd_ir_enable enable 1` (line 35): remapping on.
    expect(r.unit.irEnabled).toBe(true);
    expect(r.format).toBe('compatibility');
    expect(r.qemu.kind).toBe('passed');
    expect(r.hardware.kind).toBe('blocked');
    // 0xfee00004: bits 19:5 = 0, bit 2 = 1 → interrupt_index 0x8000; the I/O APIC's source-id ff:00.0.
    expect(r.hardware.fault).toMatchObject({ code: 0x25, index: 0x8000, recorded: true });
    expect(r.hardware.fault!.linuxLog).toBe('DMAR: [INTR-REMAP] Request device [ff:00.0] fault index 0x8000 [fault reason 0x25] Blocked a compatibility format interrupt request');
    expect(r.divergences).toEqual(['QEMU passed a compatibility-format request through; hardware with EIME=1 blocks it with fault 0x25']);
  });

  it('irqpath\'s `qemu` VMM profile does what the logged QEMU did: passes it through', () => {
    const r = vtdRequests(report)[0];
    expect(r.qemuProfile).toMatchObject({ kind: 'passed', matchesLog: true });
    expect(r.qemuProfile.delivery).toEqual(r.qemu.delivery);
  });

  it('with CFIS = 1 and EIME = 0 hardware would pass it too: no divergence', () => {
    const r = vtdRequests(replayQemuTrace(AMD_HOST, { eime: false, cfis: true }))[0];
    expect(r.hardware.kind).toBe('passed');
    expect(r.divergences).toEqual([]);
  });

  it('with EIME = 0 and CFIS = 0 the divergence names CFIS', () => {
    const r = vtdRequests(replayQemuTrace(AMD_HOST, { eime: false }))[0];
    expect(r.divergences).toEqual(['QEMU passed a compatibility-format request through; hardware with CFIS=0 blocks it with fault 0x25']);
  });
});

describe('QEMU trace log reader', () => {
  it('reads lines with the pid@time: prefix, keeps a patched QEMU\'s extra arguments and counts unknown events', () => {
    const log = parseQemuTraceLog([
      '12345@1720683990.123456:vtd_ir_remap_msi_req addr 0xfee00010 data 0xd1 sid 0xffff do_fault 0',
      '12345@1720683990.123460:vtd_ir_irte_get index 0 low 0x0 high 0x100d10005',
      'kvm_irqchip_frobnicate ',
      'vtd_ir_remap index zero trigger 0 vector 209 deliver 0 dest 0x1 mode 1',
      'qemu-system-x86_64: warning: something',
    ].join('\n'));
    expect(log.events.map((e) => e.name)).toEqual(['vtd_ir_remap_msi_req', 'vtd_ir_irte_get']);
    expect(log.events[0]).toMatchObject({ pid: 12345, time: '1720683990.123456', values: { addr: 0xfee00010n, data: 0xd1n }, extra: { sid: '0xffff', do_fault: '0' } });
    expect(log.events[1].values).toEqual({ index: 0n, low: 0n, high: 0x100d10005n });
    expect(log.skipped).toEqual({ kvm_irqchip_frobnicate: 1 });
    expect(log.malformed).toEqual([{ line: 4, text: 'vtd_ir_remap index zero trigger 0 vector 209 deliver 0 dest 0x1 mode 1' }]);
    expect(log.otherLines).toBe(1);
  });

  it('a request QEMU refused (no closing vtd_ir_remap_msi) is reported as dropped by QEMU', () => {
    // IRTE 5 not present (P = 0): QEMU reads it, reports the fault and prints no vtd_ir_remap_msi line.
    const text = [
      'vtd_ir_enable enable 1',
      'vtd_ir_remap_msi_req addr 0xfee000b8 data 0x0',
      'vtd_ir_irte_get index 5 low 0x0 high 0x100d10004',
    ].join('\n');
    const r = vtdRequests(replayQemuTrace(text))[0];
    expect(r.qemu.kind).toBe('blocked');
    expect(r.hardware.fault).toMatchObject({ code: 0x22, index: 5 });
    expect(r.divergences).toEqual([]);
  });

  it('a log without any trace event is a usage error', () => {
    expect(() => replayQemuTrace('hello\nworld\n')).toThrow(/no QEMU trace events/);
  });
});

describe('irqpath replay (CLI)', () => {
  async function cli(...args: string[]) {
    let out = '';
    let err = '';
    const code = await runCli(['node', 'irqpath', ...args], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
    return { code, out, err };
  }

  it('prints QEMU next to hardware and marks the divergence', async () => {
    const r = await cli('replay', fixture('windows-amd-host.log').pathname);
    expect(r.code).toBe(1);
    expect(r.out).toContain('QEMU:      passed through unchanged (compatibility format)');
    expect(r.out).toContain('hardware:  blocked: fault 0x25');
    expect(r.out).toContain('✗ QEMU passed a compatibility-format request through; hardware with EIME=1 blocks it with fault 0x25');
  });

  it('the report opens with the summary; the new divergence is reported on stderr as it is found', async () => {
    const file = fixture('windows-amd-host.log').pathname;
    const r = await cli('replay', file);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(`irqpath replay ${file}: 42 lines, 1 interrupt request (1 distinct): 0 as on hardware, 1 diverging`);
    expect(lines[1]).toBe('   VT-d compatibility: QEMU passed, hardware blocked  1');
    expect(lines[2]).toBe('   ✗ 1 × QEMU passed a compatibility-format request through; hardware with EIME=1 blocks it with fault 0x25');
    expect(r.err).toBe(
      'irqpath replay: line 38: VT-d compatibility request diverges: QEMU passed a compatibility-format request through; hardware with EIME=1 blocks it with fault 0x25\n' +
        'irqpath replay: exit 1: 1 request where QEMU differs from hardware\n',
    );
  });

  it('--divergent-only lists only what differs; identical requests are listed once with their count and lines', async () => {
    const file = fixture('windows-intel-host.log').pathname;
    const all = await cli('replay', file);
    expect(all.out).toContain('#1 lines 37–44 (×2): VT-d remappable-format request addr 0xfee00010 data 0xd1, IRTE 0; remapping on (vtd_ir_enable enable 1 at line 34)');
    expect(all.out.match(/^#\d/gm)).toHaveLength(1);
    const divergent = await cli('replay', file, '--divergent-only');
    expect(divergent.out.match(/^#\d/gm)).toBeNull();
    expect(divergent.out.split('\n')[0]).toContain('2 interrupt requests (1 distinct): 2 as on hardware, 0 diverging');
  });

  it('--json gives the same report; 64-bit values are hex strings BigInt() reads', async () => {
    const r = await cli('replay', fixture('windows-intel-host.log').pathname, '--json');
    const json = JSON.parse(r.out);
    expect(Object.keys(json)[0]).toBe('summary');
    expect(json.summary).toMatchObject({ requests: 2, distinct: 1, asOnHardware: 2, diverging: 0 });
    expect(json.groups).toHaveLength(1);
    expect(json.groups[0]).toMatchObject({ unit: 'intel-vtd', count: 2, firstLine: 37, lastLine: 44 });
    const req = json.groups[0].request;
    expect(req.qemu.message).toEqual({ addr: '0xfee01004', data: 0x40d1 });
    expect(BigInt(req.irte.high)).toBe(0x100d10005n);
    expect(req.divergences).toEqual([]);
  });

  it('a missing file and a bad --eim are usage errors (exit 2)', async () => {
    expect((await cli('replay', '/nonexistent/trace.log')).code).toBe(2);
    expect((await cli('replay', fixture('windows-intel-host.log').pathname, '--eim', 'maybe')).code).toBe(2);
  });
});

describe('the unit\'s state over time (logs written in QEMU 7.2\'s formats)', () => {
  it('after `vtd_ir_enable enable 0` requests replay with remapping off: a compatibility-format and a remappable one both pass unchanged', () => {
    // IRTE 0, lower qword 0x100300001: P = 1, physical, vector 0x30 (23:16), destination 1 (63:32, EIME = 1 since
    // QEMU printed dest 0x1 = the 32-bit field, not its bits 15:8 = 0). QEMU's message: dest 1 in address 19:12.
    const text = [
      'vtd_ir_enable enable 1',
      'vtd_ir_remap_msi_req addr 0xfee00010 data 0x0',
      'vtd_ir_irte_get index 0 low 0x0 high 0x100300001',
      'vtd_ir_remap index 0 trigger 0 vector 48 deliver 0 dest 0x1 mode 0',
      'vtd_ir_remap_type IOAPIC',
      'vtd_warn_ir_vector sid 0xffff index 0 vec 0 (should be: 48)',
      'vtd_ir_remap_msi (addr 0xfee00010, data 0x0) -> (addr 0xfee01000, data 0x4030)',
      'vtd_ir_enable enable 0',
      'vtd_ir_remap_msi_req addr 0xfee01000 data 0x4031',
      'vtd_ir_remap_msi (addr 0xfee01000, data 0x4031) -> (addr 0xfee01000, data 0x4031)',
      'vtd_ir_remap_msi_req addr 0xfee00010 data 0x0',
      'vtd_ir_remap_msi (addr 0xfee00010, data 0x0) -> (addr 0xfee00010, data 0x0)',
      '',
    ].join('\n');
    const report = replayQemuTrace(text);
    const [on, compat, remappable] = vtdRequests(report);
    expect(on.unit.irEnabled).toBe(true);
    expect(on.hardware.delivery).toEqual({ dest: 1, destMode: 'physical', vector: 0x30, deliveryMode: 'Fixed', trigger: 'edge' });
    expect(compat).toMatchObject({ line: 9, format: 'compatibility', unit: { irEnabled: false, irFrom: 'vtd_ir_enable enable 0 at line 8' } });
    expect(compat.hardware.kind).toBe('passed');
    expect(remappable).toMatchObject({ line: 11, format: 'remappable', unit: { irEnabled: false } });
    expect(remappable.hardware.kind).toBe('passed');
    expect(report.summary).toMatchObject({ lines: 12, requests: 3, asOnHardware: 3, diverging: 0, cutOff: [] });
  });

  it('the table follows `vtd_reg_ir_root`: index 640 is past 256 entries (fault 0x21, QEMU refuses too), then within 4096', () => {
    // 0xfee05010: remappable (bit 4), SHV = 0, handle = address 19:5 = 0x280 = 640.
    const text = [
      'vtd_reg_ir_root addr 0x2000000 size 0x100',
      'vtd_ir_enable enable 1',
      'vtd_ir_remap_msi_req addr 0xfee05010 data 0x0',
      'vtd_reg_ir_root addr 0x3000000 size 0x1000',
      'vtd_ir_remap_msi_req addr 0xfee05010 data 0x0',
      'vtd_ir_irte_get index 640 low 0x0 high 0x100410001',
      'vtd_ir_remap index 640 trigger 0 vector 65 deliver 0 dest 0x1 mode 0',
      'vtd_ir_remap_type IOAPIC',
      'vtd_warn_ir_vector sid 0xffff index 640 vec 0 (should be: 65)',
      'vtd_ir_remap_msi (addr 0xfee05010, data 0x0) -> (addr 0xfee01000, data 0x4041)',
    ].join('\n');
    const [small, large] = vtdRequests(replayQemuTrace(text));
    expect(small.unit).toMatchObject({ tableBase: 0x2000000, tableEntries: 256 });
    expect(small.qemu.kind).toBe('blocked');
    expect(small.hardware.fault).toMatchObject({ code: 0x21, index: 640 });
    expect(small.divergences).toEqual([]);
    expect(large.unit).toMatchObject({ tableBase: 0x3000000, tableEntries: 4096 });
    expect(large.hardware.delivery).toMatchObject({ dest: 1, vector: 0x41 });
    expect(large.divergences).toEqual([]);
  });

  it('a log that ends inside a remapped request (after vtd_ir_remap, before its closing line) does not make QEMU look as if it refused it', () => {
    const text = [
      'vtd_ir_enable enable 1',
      'vtd_ir_remap_msi_req addr 0xfee00010 data 0x0',
      'vtd_ir_irte_get index 0 low 0x0 high 0x100300001',
      'vtd_ir_remap index 0 trigger 0 vector 48 deliver 0 dest 0x1 mode 0',
    ].join('\n');
    const report = replayQemuTrace(text);
    expect(report.summary).toMatchObject({ requests: 0, diverging: 0, cutOff: [2] });
  });
});

describe('irqpath replay --progress', () => {
  it('reports progress on stderr every 100 000 lines of a long log', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const one = readFileSync(new URL('../fixtures/qemu-trace/qemu-7.2/intel-ir.trace.log', import.meta.url), 'utf8');
    const dir = mkdtempSync(join(tmpdir(), 'irqpath-progress-'));
    const file = join(dir, 'long.log');
    writeFileSync(file, one.repeat(40)); // 40 x 2934 = 117 360 lines
    let err = '';
    let out = '';
    const code = await runCli(['node', 'irqpath', 'replay', '--progress', '--divergent-only', file], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
    rmSync(dir, { recursive: true, force: true });
    // Exit 1: each copy after the first opens with the boot's compatibility-format request while remapping is still
    // on from the copy before, which hardware with CFIS = 0 blocks (fault 0x25) and QEMU passes.
    expect(code).toBe(1);
    expect(err).toMatch(/^irqpath replay: \d{6} lines, \d+ requests, \d+ diverging$/m);
    expect(out.split('\n')[0]).toMatch(/: 117360 lines, 17960 interrupt requests/); // 40 x 449
  });
});
