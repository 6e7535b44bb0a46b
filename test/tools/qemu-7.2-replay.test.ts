/**
 * `irqpath replay` held against real QEMU 7.2 traces of Linux 6.1 boots (test/fixtures/qemu-trace/README.md, section
 * "Recorded here", gives each command line and date). Every expected value is read off the raw log — counts of
 * `*_ir_remap_msi_req` lines, whether QEMU's `*_ir_remap_msi` result changed the message, the line numbers of the
 * state lines — never taken from irqpath's output. The claim under test: every request ends as QEMU ended it (0 false
 * divergences), irqpath's model of QEMU prints QEMU's lines, and requests before the guest enabled remapping are
 * replayed with remapping off.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { QemuTraceReplay, replayQemuTrace, type ReplayedRequest, type ReplayReport } from '../../src/tools/qemu-trace-replay.ts';

const read = (name: string) => readFileSync(new URL(`../fixtures/qemu-trace/qemu-7.2/${name}.trace.log`, import.meta.url), 'utf8');

/** What the raw log says, counted with plain text matching. */
function rawFacts(text: string) {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop(); // the final newline ends the last line
  let requests = 0;
  let unchanged = 0;
  let changed = 0;
  for (const l of lines) {
    if (/^(vtd|amdvi)_ir_remap_msi_req /.test(l)) requests++;
    const m = /^(?:vtd|amdvi)_ir_remap_msi \(addr (\w+), data (\w+)\) -> \(addr (\w+), data (\w+)\)$/.exec(l);
    if (m) (m[1] === m[3] && m[2] === m[4] ? unchanged++ : changed++);
  }
  return { lines: lines.length, requests, unchanged, changed };
}

const vtd = (r: ReplayReport) => r.groups.filter((g) => g.unit === 'intel-vtd');

describe.each([
  ['intel-ir', { requests: 449, passed: 1, remapped: 448 }],
  ['intel-ir-epyc', { requests: 221, passed: 1, remapped: 220 }],
  ['intel-noir-device', { requests: 37, passed: 37, remapped: 0 }],
  ['intel-ir-kernel-off', { requests: 426, passed: 426, remapped: 0 }],
  ['intel-ir-narrow', { requests: 283, passed: 1, remapped: 282 }],
  ['amd-ir', { requests: 31, passed: 1, remapped: 30 }],
  ['amd-noir', { requests: 37, passed: 37, remapped: 0 }],
])('real trace %s', (name, expected) => {
  const text = read(name);
  const facts = rawFacts(text);
  const report = replayQemuTrace(text);

  it('counts every line and every request the log has, and QEMU passed/remapped as many as the log shows', () => {
    expect(facts.requests).toBe(expected.requests);
    expect(facts.unchanged).toBe(expected.passed);
    expect(facts.changed).toBe(expected.remapped);
    expect(report.summary.lines).toBe(facts.lines);
    expect(report.summary.requests).toBe(facts.requests);
    const qemuKinds = { passed: 0, remapped: 0, blocked: 0 };
    for (const g of report.groups) qemuKinds[g.request.qemu.kind] += g.count;
    expect(qemuKinds).toEqual({ passed: expected.passed, remapped: expected.remapped, blocked: 0 });
  });

  it('0 divergences: hardware ends every request as QEMU did', () => {
    expect(report.summary.diverging).toBe(0);
    expect(report.summary.asOnHardware).toBe(facts.requests);
    for (const g of report.groups) expect(g.request.hardware.kind, `line ${g.firstLine}`).toBe(g.request.qemu.kind);
  });

  it("irqpath's lines for each request are QEMU's (over the events the log captured)", () => {
    for (const g of report.groups) expect(g.trace.same, `line ${g.firstLine}: ${g.request.trace.qemu.join(' | ')}`).toBe(true);
  });

  it("irqpath's model of QEMU (the qemu profile) does what QEMU did with every VT-d request", () => {
    for (const g of vtd(report)) expect((g.request as ReplayedRequest).qemuProfile.matchesLog, `line ${g.firstLine}`).toBe(true);
  });
});

describe('state over time in the real Intel traces', () => {
  it('intel-ir: the request at line 15 precedes `vtd_reg_write_gcmd status 0x0` (line 29): replayed with remapping off', () => {
    const report = replayQemuTrace(read('intel-ir'));
    const first = vtd(report)[0];
    expect(first.firstLine).toBe(15);
    const r = first.request as ReplayedRequest;
    expect(r.unit.irEnabled).toBe(false);
    expect(r.unit.irFrom).toContain('line 29');
    expect(r.qemu.summary).toContain('remapping disabled');
    // IRTA written as 0x120000f at line 34: EIME (bit 11) = 0, S = 0xf → 2^16 entries at 0x1200000.
    const later = vtd(report)[1].request as ReplayedRequest;
    expect(later.unit).toMatchObject({ irEnabled: true, eime: false, tableBase: 0x1200000, tableEntries: 65536 });
    expect(report.vtd!.assumptions.some((a) => /EIME/.test(a))).toBe(false);
  });

  it('intel-ir-kernel-off: remapping never enabled, every request replayed with it off; no assumption about it', () => {
    const report = replayQemuTrace(read('intel-ir-kernel-off'));
    for (const g of vtd(report)) expect((g.request as ReplayedRequest).unit.irEnabled).toBe(false);
    expect(report.vtd!.machine.irEnabled).toBe(false);
    expect(report.vtd!.assumptions.some((a) => /whether interrupt remapping was on/.test(a))).toBe(false);
  });

  it('intel-ir-narrow (-trace vtd_ir_remap*): the IRTEs QEMU used are rebuilt from vtd_ir_remap; lines of events the filter left out are not compared', () => {
    const report = replayQemuTrace(read('intel-ir-narrow'));
    const remapped = vtd(report).filter((g) => g.request.qemu.kind === 'remapped');
    expect(remapped.length).toBeGreaterThan(0);
    for (const g of remapped) expect(g.trace.notCaptured).toContain('vtd_ir_irte_get');
    // Nothing in the log says when the guest enabled remapping: the compatibility-format request at line 1 is
    // replayed with it off (GSTS.IRES resets to 0), and the report says so.
    expect(vtd(report)[0]).toMatchObject({ firstLine: 1 });
    expect((vtd(report)[0].request as ReplayedRequest).unit.irEnabled).toBe(false);
    expect(report.vtd!.assumptions.some((a) => /no line of the log shows whether interrupt remapping was on/.test(a))).toBe(true);
  });
});

describe('streaming', () => {
  it('the same report whether the log comes whole, in small chunks or line by line', () => {
    const text = read('intel-ir-epyc');
    const whole = replayQemuTrace(text);
    const byLine = replayQemuTrace(text.split('\n').slice(0, -1));
    const chunked = new QemuTraceReplay();
    for (let i = 0; i < text.length; i += 7) chunked.push(text.slice(i, i + 7));
    const byChunk = chunked.finish();
    const spans = (r: ReplayReport) => r.groups.map((g) => [g.firstLine, g.lastLine, g.count]);
    for (const r of [byLine, byChunk]) {
      expect(r.summary).toEqual(whole.summary);
      expect(spans(r)).toEqual(spans(whole));
    }
  });
});
