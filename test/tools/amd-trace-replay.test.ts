/**
 * `irqpath replay` of QEMU's AMD vIOMMU (`amdvi_*`) lines. The log is constructed by hand in QEMU's formats
 * (test/fixtures/qemu-trace/README.md says from which format strings and what each request proves); the expected
 * outcomes are worked out from the AMD IOMMU specification's interrupt-remapping steps (§2.2.5),
 * not from irqpath's output.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { replayQemuTrace, type AmdReplayedRequest, type ReplayReport } from '../../src/tools/qemu-trace-replay.ts';
import { runCli } from '../../src/cli/main.ts';

const fixture = new URL('../fixtures/qemu-trace/amd-constructed.log', import.meta.url);
const LOG = readFileSync(fixture, 'utf8');

/** The distinct AMD-Vi requests of a report, in the order of their first line. */
const amdRequests = (report: ReplayReport) => report.groups.filter((g) => g.unit === 'amd-vi').map((g) => g.request as AmdReplayedRequest);

/** The log's amdvi_* lines of one request, as QEMU printed them (prefix cut). */
function loggedLines(fromLine: number, count: number): string[] {
  return LOG.split('\n').slice(fromLine - 1, fromLine - 1 + count).map((l) => l.replace(/^\d+@\d+\.\d+:/, ''));
}

describe('replay of the constructed AMD-Vi log', () => {
  const report = replayQemuTrace(LOG);
  const amd = report.amd!;
  const req = amdRequests(report);

  it('finds the six amdvi_ir_remap_msi_req requests and no VT-d request; 32-bit IRTEs → GAEn = 0', () => {
    expect(report.vtd).toBeNull();
    expect(report.summary).toMatchObject({ requests: 6, distinct: 6 });
    expect(req.map((r) => r.line)).toEqual([1, 7, 13, 19, 25, 29]);
    expect(amd.machine).toMatchObject({ ga: false, xtEn: false, intTabLen: 9 });
  });

  it('#1: a remapped MSI (IRTE 0x410101: RemapEn, fixed, physical, dest 1, vector 0x41) is where QEMU put it', () => {
    const r = req[0];
    // Index = data 10:0 = 3, QEMU's offset = 3 x 4 = 0xc; DeviceID 0x18 = 00:03.0.
    expect(r.irte).toEqual({ index: 3, ga: false, lo: 0x410101n, hi: 0n });
    expect(r.deviceId).toBe(0x18);
    expect(r.hardware.delivery).toEqual({ dest: 1, destMode: 'physical', vector: 0x41, deliveryMode: 'Fixed', trigger: 'edge' });
    expect(r.qemu.message).toEqual({ addr: 0xfee01000n, data: 0x4041 });
    expect(r.divergences).toEqual([]);
    expect(r.trace.irqpath).toEqual(loggedLines(1, 6));
  });

  it('#2: a level-triggered I/O APIC request: hardware keeps level, QEMU rebuilds it edge', () => {
    const r = req[1];
    // data 0x8004: trigger (bit 15) = level, type 000 fixed, index 4. The IRTE gives vector 0x52 and dest 1; trigger
    // mode is the request's (§5 step 11). QEMU's result data 0x4052 has bit 15 clear.
    expect(r.deviceId).toBe(0xa0);
    expect(r.hardware.delivery).toEqual({ dest: 1, destMode: 'physical', vector: 0x52, deliveryMode: 'Fixed', trigger: 'level' });
    expect(r.qemu.delivery?.trigger).toBe('edge');
    expect(r.divergences).toHaveLength(1);
    expect(r.divergences[0]).toMatch(/^trigger mode: QEMU edge, hardware level \(QEMU's AMD vIOMMU rebuilds the message with trigger mode 0/);
  });

  it('#3: Linux\'s allocated-but-inactive IRTE 0xfffffffe: both drop it; SupIOPF (bit 1) suppresses the event', () => {
    const r = req[2];
    expect(r.qemu.kind).toBe('blocked');
    expect(r.hardware.kind).toBe('blocked');
    expect(r.hardware.fault).toMatchObject({ name: 'IO_PAGE_FAULT', recorded: false, linuxLog: null });
    expect(r.divergences).toEqual([]);
    expect(r.trace.irqpath).toEqual(loggedLines(13, 6));
  });

  it('#4: an IRTE with RemapEn cleared (0x410100): both drop it, hardware logs IO_PAGE_FAULT and QEMU logs nothing', () => {
    const r = req[3];
    // IO_PAGE_FAULT for an interrupt: I = 1 (flags bit 3 → 0x0008), address = the MSI address.
    expect(r.hardware.fault).toMatchObject({ code: 2, name: 'IO_PAGE_FAULT', index: 6, recorded: true });
    expect(r.hardware.fault!.linuxLog).toContain('IO_PAGE_FAULT device=0000:00:03.0 domain=0x0000 address=0xfee00000 flags=0x0008');
    expect(r.divergences).toEqual(['both drop it, but hardware also logs IO_PAGE_FAULT in the event log (the guest sees it); QEMU never logs an event for an interrupt-remapping failure']);
  });

  it('#5: DTE.IntCtl = 00b: both abort; hardware logs INVALID_DEVICE_REQUEST', () => {
    const r = req[4];
    expect(r.dte).toMatchObject({ iv: true, intCtl: 0 });
    expect(r.hardware.fault).toMatchObject({ code: 8, name: 'INVALID_DEVICE_REQUEST', recorded: true });
    expect(r.divergences).toHaveLength(1);
  });

  it('#6: no amdvi_ir_intctl line before QEMU\'s pass-through → DTE.IV = 0, which hardware passes unchanged too', () => {
    const r = req[5];
    expect(r.dte.iv).toBe(false);
    expect(r.qemu.kind).toBe('passed');
    expect(r.hardware.kind).toBe('passed');
    expect(r.hardware.delivery).toEqual({ dest: 0, destMode: 'physical', vector: 0x31, deliveryMode: 'Fixed', trigger: 'edge' });
    expect(r.divergences).toEqual([]);
  });

  it('the qemu profile column says why it does not apply to AMD-Vi', () => {
    for (const r of req) expect(r.qemuProfile.applies).toBe(false);
  });

  it('with IntTabLen 2 (4 entries) hardware aborts index 4, which QEMU (no bounds check) remapped', () => {
    const r = amdRequests(replayQemuTrace(LOG, { intTabLen: 2 }));
    expect(r[0].hardware.kind).toBe('remapped'); // index 3 < 4
    expect(r[1].hardware.fault).toMatchObject({ name: 'IO_PAGE_FAULT', recorded: true });
    expect(r[1].divergences).toEqual(['QEMU ignores DTE.IntTabLen and read IRTE 4; hardware with IntTabLen 2 (4 entries) aborts it and logs IO_PAGE_FAULT']);
  });

  it('an IntTabLen outside 0..11 is a usage error naming it', () => {
    expect(() => replayQemuTrace(LOG, { intTabLen: 12 })).toThrow(/intTabLen/);
  });
});

describe('128-bit IRTEs (amdvi_ir_irte_ga_val)', () => {
  it('GAEn = 1 and a 32-bit destination from hi 63:56 and lo 31:8', () => {
    // IRTE index 2 at offset 0x20: lo = RemapEn | dest 23:0 = 0x000102 << 8 → 0x10201; hi = vector 0x61 |
    // destination 31:24 = 0x01 in bits 63:56. Destination = 0x01000102; QEMU's message (x86_iommu_irq_to_msi_message)
    // puts its bits 7:0 in address 19:12 and 31:8 in address 63:40: 0x01000100_fee02000.
    const text = [
      'amdvi_ir_remap_msi_req addr 0xfee00000 data 0x2 devid 0x18',
      'amdvi_ir_delivery_mode fixed/arbitrated',
      'amdvi_ir_intctl int_ctl 0x2',
      'amdvi_ir_irte addr 0x7f000000 offset 0x20',
      'amdvi_ir_irte_ga_val hi 0x100000000000061 lo 0x10201',
      'amdvi_ir_remap_msi (addr 0xfee00000, data 0x2) -> (addr 0x1000100fee02000, data 0x4061)',
    ].join('\n');
    const report = replayQemuTrace(text);
    expect(report.amd!.machine).toMatchObject({ ga: true, xtEn: true });
    const r = amdRequests(report)[0];
    expect(r.irte).toEqual({ index: 2, ga: true, lo: 0x10201n, hi: 0x100000000000061n });
    expect(r.hardware.delivery).toEqual({ dest: 0x01000102, destMode: 'physical', vector: 0x61, deliveryMode: 'Fixed', trigger: 'edge' });
    expect(r.divergences).toEqual([]);
    // amdvi_get_irte_ga prints the entry's upper qword first ("hi ... lo ..."): irqpath's lines are QEMU's.
    expect(r.trace.irqpath).toEqual(text.split('\n'));
  });
});

describe('NMI requests: the DTE pass bit follows what QEMU did', () => {
  // Message type = data 10:8 = 100b (NMI): forwarded unchanged iff DTE.NMIPass = 1, else target abort with no event
  // (AMD IOMMU spec §2.2.5). QEMU traces `amdvi_ir_delivery_mode nmi`, then passes or errs.
  it('QEMU passed it → NMIPass = 1 → hardware passes it unchanged too', () => {
    const text = [
      'amdvi_ir_remap_msi_req addr 0xfee00000 data 0x400 devid 0x18',
      'amdvi_ir_delivery_mode nmi',
      'amdvi_ir_remap_msi (addr 0xfee00000, data 0x400) -> (addr 0xfee00000, data 0x400)',
    ].join('\n');
    const r = amdRequests(replayQemuTrace(text))[0];
    expect(r.qemu.kind).toBe('passed');
    expect(r.hardware.kind).toBe('passed');
    expect(r.hardware.delivery).toMatchObject({ deliveryMode: 'NMI', dest: 0 });
    expect(r.divergences).toEqual([]);
    expect(r.trace.irqpath).toEqual(text.split('\n'));
  });

  it('QEMU refused it ("passthrough is not enabled") → NMIPass = 0 → hardware aborts it, logging nothing', () => {
    const text = [
      'amdvi_ir_remap_msi_req addr 0xfee00000 data 0x400 devid 0x18',
      'amdvi_ir_delivery_mode nmi',
      'amdvi_ir_err passthrough is not enabled',
    ].join('\n');
    const r = amdRequests(replayQemuTrace(text))[0];
    expect(r.qemu.kind).toBe('blocked');
    expect(r.hardware.kind).toBe('blocked');
    expect(r.hardware.fault).toMatchObject({ recorded: false, linuxLog: null });
    expect(r.divergences).toEqual([]);
  });
});

describe('irqpath replay (CLI) on an AMD-Vi log', () => {
  async function cli(...args: string[]) {
    let out = '';
    const code = await runCli(['node', 'irqpath', ...args], { writeOut: (t) => (out += t), writeErr: () => {} });
    return { code, out };
  }

  it('prints each request with its DTE and IRTE, QEMU next to hardware, and the divergences', async () => {
    const r = await cli('replay', fixture.pathname);
    expect(r.code).toBe(1); // three requests diverge
    expect(r.out.split('\n')[0]).toBe(`irqpath replay ${fixture.pathname}: 30 lines, 6 interrupt requests (6 distinct): 3 as on hardware, 3 diverging`);
    expect(r.out).toContain('#2 line 7: AMD-Vi request addr 0xfee00000 data 0x8004 from DeviceID 0xa0; DTE IV = 1, IntCtl = 10b, IntTabLen = 9, IRTE 4 = 0x520101');
    expect(r.out).toContain('✗ trigger mode: QEMU edge, hardware level');
  });

  it('--json carries the AMD-Vi requests; --int-tab-len reaches the model', async () => {
    const r = await cli('replay', fixture.pathname, '--json', '--int-tab-len', '2');
    const json = JSON.parse(r.out);
    expect(json.amd.machine.intTabLen).toBe(2);
    expect(json.groups).toHaveLength(6);
    expect(json.groups.every((g: { unit: string }) => g.unit === 'amd-vi')).toBe(true);
    expect(json.groups[1].request.hardware.fault.name).toBe('IO_PAGE_FAULT');
    expect(json.groups[0].request.irte).toEqual({ index: 3, ga: false, lo: '0x410101', hi: '0x0' });
  });

  it('a bad --int-tab-len is a usage error (exit 2)', async () => {
    expect((await cli('replay', fixture.pathname, '--int-tab-len', '12')).code).toBe(2);
  });
});
