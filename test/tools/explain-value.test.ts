/**
 * explainValue: every reading of a value a bug report quotes, with bit layouts. Expected values are worked out by
 * hand from the specifications cited in each case.
 */
import { describe, expect, it } from 'vitest';
import { layoutGaps, type BitWord } from '../../src/msi/bit-layout.ts';
import { MSI_LAYOUTS, RTE_LAYOUTS } from '../../src/msi/formats/layouts.ts';
import { FRCD_LAYOUT, INTEL_IRTE_LAYOUTS } from '../../src/iommu-intel/layouts.ts';
import { AMD_EVENT_LAYOUT, AMD_IRTE_LAYOUTS } from '../../src/iommu-amd/layouts.ts';
import { explainValue } from '../../src/tools/explain-value.ts';
import { routeMessage, routeRte } from '../../src/tools/message-route.ts';

const field = (e: ReturnType<typeof explainValue>, reading: number, name: string) =>
  e.readings[reading].words.flatMap((w) => w.fields).find((f) => f.field.name === name);

describe('bit layouts', () => {
  const all: BitWord[] = [...Object.values(MSI_LAYOUTS).flat(), ...Object.values(RTE_LAYOUTS), ...Object.values(INTEL_IRTE_LAYOUTS), FRCD_LAYOUT, ...Object.values(AMD_IRTE_LAYOUTS), AMD_EVENT_LAYOUT];
  it('describe every bit of every word exactly once', () => {
    expect(all.flatMap(layoutGaps)).toEqual([]);
  });
});

describe('explainValue', () => {
  it('reads fee00578/0 as Intel remappable handle 43 with SHV (VT-d 5.1.2.2: handle[14:0] = addr 19:5 = 0x2b)', () => {
    const e = explainValue('msi', 0xfee00578n, 0);
    expect(e.interrupt).toBe(true);
    const intel = e.readings.findIndex((r) => r.name.startsWith('Intel remappable'));
    expect(field(e, intel, 'handle[14:0]')!.value).toBe(0x2bn);
    expect(field(e, intel, 'SHV')!.value).toBe(1n);
    expect(field(e, intel, 'IF = 1')!.flagged).toBe(false);
    // In the compatibility reading, bit 4 (IF) is reserved and set.
    expect(field(e, 0, 'IF (reserved)')!.flagged).toBe(true);
  });

  it('decodes a VT-d fault record the way Linux prints it (dmar_fault_do_one; FR 103:96, SID 79:64, index FI 63:48)', () => {
    const frcd = (1n << 127n) | (0x25n << 96n) | (0x0018n << 64n) | (0x1600n << 48n);
    const e = explainValue('vtd-fault', frcd);
    expect(e.linuxLog).toBe('DMAR: [INTR-REMAP] Request device [00:03.0] fault index 0x1600 [fault reason 0x25] Blocked a compatibility format interrupt request');
  });

  it('decodes an AMD-Vi IO_PAGE_FAULT for an interrupt (code 2 in 63:60, I = flag 0x008 at bit 51)', () => {
    const entry = (0xfee00000n << 64n) | (0x2n << 60n) | (0x008n << 48n) | 0x0020n;
    const e = explainValue('amd-event', entry);
    expect(e.verdict).toMatch(/^IO_PAGE_FAULT .*DeviceID 0x0020: an interrupt request/);
    expect(e.linuxLog).toContain('IO_PAGE_FAULT');
  });

  it('reads an RTE with bit 48 set as the Intel remappable layout and names the message it sends (82093AA copy rule)', () => {
    // index 5: bits 63:49 = 5, format bit 48, vector field = pin 4.
    const rte = (5n << 49n) | (1n << 48n) | 4n;
    const e = explainValue('rte', rte);
    expect(e.readings.find((r) => r.applies === true)!.name).toBe('Intel remappable RTE');
    // addr = 0xFEE00000 | RTE[63:48] << 4 = 0xFEE00000 | 0xB << 4.
    expect(e.message).toEqual({ addr: 0xfee000b0n, data: 4 });
  });

  it('says a not-present VT-d IRTE blocks with fault 0x22', () => {
    expect(explainValue('intel-irte', 0n).verdict).toMatch(/0x22/);
  });
});

describe('routeMessage', () => {
  it('an Intel remappable message for IRTE 43 on a machine with IR enabled by Linux but IRTE 43 empty faults 0x22', () => {
    const r = routeMessage(
      { machine: { cpus: 4, iommu: { kind: 'intel' }, devices: [{ bdf: '00:03.0', msix: { entries: 1 } }] }, guest: { os: 'linux' }, sources: [] },
      '00:03.0',
      0xfee00578n,
      0,
    );
    expect(r.lines[0]).toMatch(/^vtd_ir_remap_msi_req addr 0xfee00578/);
    expect(r.faultLog).toEqual(['DMAR: [INTR-REMAP] Request device [00:03.0] fault index 0x2b [fault reason 0x22] Present field in the IRTE entry is clear']);
  });

  it('a compatibility message on a booted machine without IOMMU reaches the APIC it names (SDM 10.11.1)', () => {
    const r = routeMessage({ machine: { cpus: 4, devices: [{ bdf: '00:03.0', msix: { entries: 1 } }] }, guest: { os: 'linux' } }, '00:03.0', 0xfee02000n, 0x31);
    expect(r.outcomes).toEqual(['delivered to CPU 2 (APIC 0x2) vector 0x31']);
  });

  it('before any OS enabled them, the local APICs refuse it (SVR.APIC-enable is 0 at reset, SDM 10.4.7.2)', () => {
    const r = routeMessage({ machine: { cpus: 4, devices: [{ bdf: '00:03.0', msix: { entries: 1 } }] } }, '00:03.0', 0xfee02000n, 0x31);
    expect(r.outcomes.every((o) => o.startsWith('lost:'))).toBe(true);
  });

  it('a compatibility-format RTE on a Linux-booted VT-d machine (EIME set) is blocked with 0x25 from the I/O APIC\'s source-id', () => {
    // RTE: dest 1 (63:56), vector 0x31, fixed, edge, unmasked. VT-d §5.1.4: with EIME = 1 a compatibility-format
    // request is blocked (fault 0x25); the I/O APIC requests with source-id 0xFF00 (QEMU's DMAR default).
    const r = routeRte({ machine: { cpus: 4, iommu: { kind: 'intel' } }, guest: { os: 'linux' } }, 4, 0x0100000000000031n);
    expect(r.faultLog).toHaveLength(1);
    expect(r.faultLog[0]).toMatch(/^DMAR: \[INTR-REMAP\] Request device \[ff:00\.0\] fault index 0x[0-9a-f]+ \[fault reason 0x25\]/);
  });

  it('refuses a pin the I/O APIC does not have, naming it', () => {
    expect(() => routeRte({ machine: { cpus: 1 } }, 24, 0n)).toThrow(/pin 24 does not exist: this I\/O APIC has pins 0–23/);
  });
});
