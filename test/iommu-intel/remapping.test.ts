import { describe, expect, it } from 'vitest';
import { intelCookie } from '../../src/msi/cookie.ts';
import { rteMessageAddrLo, rteMessageData } from '../../src/msi/formats/ioapic-rte.ts';
import type { IntelIommu } from '../../src/iommu-intel/intel-iommu.ts';
import { LinuxDriver, linuxReadyUnit, makeUnit, remap, remappableAddress, remappedIrte, TABLE_BASE, writeIrte } from './helpers.ts';

const FRO = 0x600;
const DEV = 0x0318; // 03:03.0
const IOAPIC_SID = 0xff00;

/** FRCD[i] as software reads it: { F, FR, SID, FI >> 48 }. */
function frcd(unit: IntelIommu, i: number) {
  const hi = Number(unit.read(FRO + 16 * i + 12, 4));
  return {
    f: hi >>> 31,
    reason: hi & 0xff,
    sid: Number(unit.read(FRO + 16 * i + 8, 4)) & 0xffff,
    index: Number(unit.read(FRO + 16 * i, 8) >> 48n),
  };
}

function fsts(unit: IntelIommu): number {
  return Number(unit.read(0x34, 4));
}

describe('Linux enable sequence', () => {
  it('leaves QIES, IRTPS and IRES set and CFIS clear', () => {
    const { unit, driver } = linuxReadyUnit();
    expect(Number(unit.read(0x1c, 4))).toBe((1 << 26) | (1 << 25) | (1 << 24));
    expect(driver.log).toEqual([]);
    expect(unit.irta.base).toBe(TABLE_BASE);
    expect(unit.irta.entries).toBe(65536); // S = 0xF → 2^16
    expect(unit.irta.eime).toBe(true);
  });
});

describe('Linux enable sequence with firmware state', () => {
  it('clears a CFI left set by firmware, so compatibility-format requests are blocked afterwards', () => {
    const { unit, host } = makeUnit();
    unit.write(0x18, 4, BigInt(1 << 23)); // firmware: CFI
    expect(Number(unit.read(0x1c, 4)) & (1 << 23)).toBe(1 << 23);
    const driver = new LinuxDriver(unit, host.memory);
    driver.enableQi(); // Linux's shadow gcmd has no CFI: this write already clears it
    driver.enableIrq(TABLE_BASE, false);
    expect(Number(unit.read(0x1c, 4)) & (1 << 23)).toBe(0);
    expect(driver.log).toEqual([]);
    expect(remap(unit, DEV, 0xfee01000, 0x41).out.fault?.code).toBe(0x25);
  });
});

describe('remapped delivery', () => {
  it('delivers to an x2APIC ID above 255 with EIME (32-bit DST)', () => {
    const { unit, host } = linuxReadyUnit();
    writeIrte(host.memory, TABLE_BASE, 5, remappedIrte({ vector: 0x41, dest: 300, x2apic: true, sid: DEV, svt: 1 }));
    // Linux fill_msi_msg: SHV = 1, sub-handle 0.
    const { handled, out } = remap(unit, DEV, remappableAddress(5, true), 0);
    expect(handled).toBe(true);
    expect(out.kind).toBe('deliver');
    expect(out.format).toBe('intel-irte');
    expect(out.cookie).toBe(intelCookie(5));
    expect(out.msg).toEqual({ dest: 300, destWidth: 32, destMode: 0, deliveryMode: 0, vector: 0x41, trigger: 0, level: 1, redirectionHint: 0 });
  });

  it('in xAPIC mode (EIME = 0) the destination is IRTE bits 47:40 and 8 bits wide', () => {
    const { unit, host } = linuxReadyUnit({}, false);
    // logical, lowest priority, level, RH: all taken from the IRTE.
    writeIrte(host.memory, TABLE_BASE, 9, remappedIrte({ vector: 0x62, dest: 0x0c, x2apic: false, destMode: 1, deliveryMode: 1, trigger: 1, redirectionHint: 1 }));
    const { out } = remap(unit, DEV, remappableAddress(9, false), 0);
    expect(out.msg).toEqual({ dest: 0x0c, destWidth: 8, destMode: 1, deliveryMode: 1, vector: 0x62, trigger: 1, level: 1, redirectionHint: 1 });
  });

  it('index = handle + sub-handle when SHV = 1 (multi-MSI block)', () => {
    const { unit, host } = linuxReadyUnit();
    writeIrte(host.memory, TABLE_BASE, 19, remappedIrte({ vector: 0x73, dest: 1, x2apic: true }));
    const { out } = remap(unit, DEV, remappableAddress(16, true), 3); // vector 3 of a block at 16
    expect(out.cookie).toBe(intelCookie(19));
    expect(out.msg.vector).toBe(0x73);
  });

  it('an I/O APIC remappable RTE sends index 0x8001 via handle[15] in address bit 2, sub-handle ignored', () => {
    const { unit, host } = linuxReadyUnit();
    // Linux: RTE vector field = pin (5), real vector and TM = edge in the IRTE, SID = the I/O APIC's, SVT = 01.
    writeIrte(host.memory, TABLE_BASE, 0x8001, remappedIrte({ vector: 0x30, dest: 2, x2apic: true, sid: IOAPIC_SID, svt: 1 }));
    const rteLo = 0x00008805; // pin 5 in 7:0, level (15), index[15] (11)
    const rteHi = 0x00030000; // index[14:0] = 1 in 63:49, format bit 48
    const addrLo = rteMessageAddrLo(rteLo, rteHi);
    expect(addrLo).toBe(0xfee00034); // VT-d §5.1.2.2: handle 1 in 19:5, bit 4 format, SHV bit 3
    const { out } = remap(unit, unit.ioapicSourceId, addrLo, rteMessageData(rteLo));
    expect(out.kind).toBe('deliver');
    expect(out.cookie).toBe(intelCookie(0x8001));
    expect(out.msg.vector).toBe(0x30);
    expect(out.msg.trigger).toBe(0); // IRTE.TM, not the RTE's trigger bit
  });

  it('emits the QEMU hop sequence for a remapped interrupt', () => {
    const { unit, host } = linuxReadyUnit();
    writeIrte(host.memory, TABLE_BASE, 1, remappedIrte({ vector: 0x41, dest: 1, x2apic: true }));
    remap(unit, DEV, remappableAddress(1, true), 0);
    expect(host.hops.map((h) => h.name)).toEqual(['vtd_ir_remap_msi_req', 'vtd_ir_irte_get', 'vtd_ir_remap', 'vtd_ir_remap_type', 'vtd_ir_remap_msi']);
    expect(host.hops[3].args).toEqual([['type', 'MSI']]);
  });

  it('with IRE clear every request passes through untranslated', () => {
    const { unit } = makeUnit();
    expect(remap(unit, DEV, remappableAddress(1, true), 0).handled).toBe(false);
    expect(remap(unit, DEV, 0xfee01000, 0x41).handled).toBe(false);
  });
});

describe('fault reasons: the request, the record, the event', () => {
  it('0x20: address bits 63:32 set in a remappable request (recorded with index 0)', () => {
    const { unit, host } = linuxReadyUnit();
    const { out } = remap(unit, DEV, remappableAddress(5, true), 0, 0x1);
    expect(out.kind).toBe('fault');
    expect(out.fault).toMatchObject({ unit: 'intel-vtd', code: 0x20, recorded: true });
    expect(frcd(unit, 0)).toEqual({ f: 1, reason: 0x20, sid: DEV, index: 0 });
    expect(host.faults[0].linuxLog).toBe(
      'DMAR: [INTR-REMAP] Request device [03:03.0] fault index 0x0 [fault reason 0x20] Detected reserved fields in the decoded interrupt-remapped request',
    );
  });

  it('0x20: data bits 31:16 set, even with SHV = 0', () => {
    const { unit } = linuxReadyUnit();
    const { out } = remap(unit, DEV, remappableAddress(5, false), 0x10000);
    expect(out.fault?.code).toBe(0x20);
    expect(frcd(unit, 0)).toEqual({ f: 1, reason: 0x20, sid: DEV, index: 0 });
  });

  it('0x21: index beyond 2^(S+1) entries — not suppressed by FPD', () => {
    const { unit, host, driver } = linuxReadyUnit();
    driver.writeq(BigInt(TABLE_BASE) | (1n << 11n) | 3n, 0xb8); // S = 3: 16 entries
    driver.writel(driver.gcmd | (1 << 24), 0x18);
    writeIrte(host.memory, TABLE_BASE, 16, remappedIrte({ vector: 0x41, dest: 1, x2apic: true, fpd: 1 }));
    const { out } = remap(unit, DEV, remappableAddress(16, true), 0);
    expect(out.fault).toMatchObject({ code: 0x21, index: 16, recorded: true });
    expect(frcd(unit, 0)).toEqual({ f: 1, reason: 0x21, sid: DEV, index: 16 });
    expect(host.faults[0]).toMatchObject({ code: 0x21, index: 16, recorded: true, sourceId: DEV });
    expect(host.faults[0].linuxLog).toBe(
      'DMAR: [INTR-REMAP] Request device [03:03.0] fault index 0x10 [fault reason 0x21] Interrupt index exceeded the interrupt-remapping table size',
    );
  });

  it('0x22: IRTE not present', () => {
    const { unit, host } = linuxReadyUnit();
    const { out } = remap(unit, DEV, remappableAddress(7, true), 0);
    expect(out.fault).toMatchObject({ code: 0x22, index: 7, recorded: true });
    expect(out.cookie).toBe(intelCookie(7));
    expect(frcd(unit, 0)).toEqual({ f: 1, reason: 0x22, sid: DEV, index: 7 });
    expect(host.faults[0].linuxLog).toBe(
      'DMAR: [INTR-REMAP] Request device [03:03.0] fault index 0x7 [fault reason 0x22] Present field in the IRTE entry is clear',
    );
  });

  it('0x23: the table cannot be read (IRTA points into the interrupt window, which is not memory)', () => {
    const { unit, host, driver } = linuxReadyUnit();
    driver.writeq(0xfee00000n | (1n << 11n) | 3n, 0xb8);
    driver.writel(driver.gcmd | (1 << 24), 0x18);
    const { out } = remap(unit, DEV, remappableAddress(2, true), 0);
    expect(out.fault).toMatchObject({ code: 0x23, index: 2, recorded: true });
    expect(frcd(unit, 0)).toEqual({ f: 1, reason: 0x23, sid: DEV, index: 2 });
    expect(host.faults[0].linuxLog).toBe(
      'DMAR: [INTR-REMAP] Request device [03:03.0] fault index 0x2 [fault reason 0x23] Error accessing interrupt-remapping table pointed by IRTA_REG',
    );
  });

  it('0x24: reserved bits 14:12 set in a present IRTE', () => {
    const { unit, host } = linuxReadyUnit();
    const w = remappedIrte({ vector: 0x41, dest: 1, x2apic: true });
    w[0] |= 1 << 12;
    writeIrte(host.memory, TABLE_BASE, 3, w);
    expect(remap(unit, DEV, remappableAddress(3, true), 0).out.fault?.code).toBe(0x24);
    expect(frcd(unit, 0)).toEqual({ f: 1, reason: 0x24, sid: DEV, index: 3 });
    expect(host.faults[0].linuxLog).toBe(
      'DMAR: [INTR-REMAP] Request device [03:03.0] fault index 0x3 [fault reason 0x24] Detected reserved fields in the IRTE entry',
    );
  });

  it('0x24: in xAPIC mode DST bits 39:32 and 63:48 are reserved (VBox checks, QEMU does not)', () => {
    const { unit, host } = linuxReadyUnit({}, false);
    // An x2APIC-style DST of 300 = 0x12C puts 0x2C in bits 39:32: reserved in xAPIC mode.
    writeIrte(host.memory, TABLE_BASE, 4, remappedIrte({ vector: 0x41, dest: 300, x2apic: true }));
    expect(remap(unit, DEV, remappableAddress(4, true), 0).out.fault?.code).toBe(0x24);
  });

  it('0x24: a posted IRTE (IM = 1) without CAP.PI', () => {
    const { unit, host } = linuxReadyUnit();
    const w = remappedIrte({ vector: 0x41, dest: 1, x2apic: true });
    w[0] |= 1 << 15;
    writeIrte(host.memory, TABLE_BASE, 6, w);
    const { out } = remap(unit, DEV, remappableAddress(6, true), 0);
    expect(out.fault?.code).toBe(0x24);
    expect(out.fault?.detail).toContain('CAP.PI');
  });

  it('0x25: a compatibility-format request while CFIS = 0 (recorded with the index its address encodes)', () => {
    const { unit, host } = linuxReadyUnit({}, false);
    const { out } = remap(unit, DEV, 0xfee01000, 0x41);
    expect(out.fault).toMatchObject({ code: 0x25, index: -1, recorded: true });
    // 0xfee01000: bits 19:5 = 0x01000 >> 5 = 0x80, bit 2 = 0 → interrupt_index 0x80 in FRCD.FI.
    expect(frcd(unit, 0)).toEqual({ f: 1, reason: 0x25, sid: DEV, index: 0x80 });
    expect(host.faults[0].linuxLog).toBe(
      'DMAR: [INTR-REMAP] Request device [03:03.0] fault index 0x80 [fault reason 0x25] Blocked a compatibility format interrupt request',
    );
  });

  it('0x25 records address bits 19:5 as index 14:0 and address bit 2 as index bit 15', () => {
    const { unit } = linuxReadyUnit({}, false);
    // 0xfee2c004: bits 19:5 = 0x2c000 >> 5 = 0x1600; bit 2 (destination mode in compatibility format) = 1 → 0x9600.
    remap(unit, DEV, 0xfee2c004, 0x41);
    expect(frcd(unit, 0)).toMatchObject({ reason: 0x25, index: 0x9600 });
  });

  it('0x26: source-id verification failure', () => {
    const { unit, host } = linuxReadyUnit();
    writeIrte(host.memory, TABLE_BASE, 0x20, remappedIrte({ vector: 0x41, dest: 1, x2apic: true, sid: 0x00e1, svt: 1 }));
    const { out } = remap(unit, DEV, remappableAddress(0x20, true), 0);
    expect(out.fault).toMatchObject({ code: 0x26, index: 0x20, recorded: true });
    expect(frcd(unit, 0)).toEqual({ f: 1, reason: 0x26, sid: DEV, index: 0x20 });
    expect(host.faults[0].linuxLog).toBe(
      'DMAR: [INTR-REMAP] Request device [03:03.0] fault index 0x20 [fault reason 0x26] Blocked an interrupt request due to source-id verification failure',
    );
  });

  it('the I/O APIC sends with its own source-id: an IRTE programmed with the device BDF faults 0x26 (QEMU hides this)', () => {
    // kvm-unit-tests programs the edu device's BDF into the IOAPIC pin's IRTE; QEMU's IOAPIC sends SID 0xFFFF and
    // skips the check. Hardware sends the I/O APIC's own SID (0xFF00 here), which fails SVT = 01 / SQ = 00.
    const { unit, host } = linuxReadyUnit();
    expect(unit.ioapicSourceId).toBe(0xff00);
    writeIrte(host.memory, TABLE_BASE, 1, remappedIrte({ vector: 0xed, dest: 0, x2apic: true, sid: 0x0018, svt: 1 }));
    const rteHi = 0x00030000; // index 1 in 63:49 (1 << 17 of the high dword), format bit 48 (1 << 16)
    const addrLo = rteMessageAddrLo(0x000000ed, rteHi);
    const { out } = remap(unit, unit.ioapicSourceId, addrLo, rteMessageData(0x000000ed));
    expect(out.fault).toMatchObject({ code: 0x26, index: 1, recorded: true });
    expect(frcd(unit, 0)).toEqual({ f: 1, reason: 0x26, sid: 0xff00, index: 1 });
    expect(host.faults[0].linuxLog).toBe(
      'DMAR: [INTR-REMAP] Request device [ff:00.0] fault index 0x1 [fault reason 0x26] Blocked an interrupt request due to source-id verification failure',
    );
  });

  it('a configured ioapicSourceId is the one verified', () => {
    const { unit, host } = linuxReadyUnit({ ioapicSourceId: 0x00f0 });
    writeIrte(host.memory, TABLE_BASE, 1, remappedIrte({ vector: 0x30, dest: 0, x2apic: true, sid: 0x00f0, svt: 1 }));
    expect(remap(unit, unit.ioapicSourceId, remappableAddress(1, false), 0).out.kind).toBe('deliver');
  });

  it('deliverNow = false fills the fault but records nothing and emits no fault event', () => {
    const { unit, host } = linuxReadyUnit();
    const { out } = remap(unit, DEV, remappableAddress(7, true), 0, 0, false);
    expect(out.fault).toMatchObject({ code: 0x22, recorded: false });
    expect(fsts(unit)).toBe(0);
    expect(host.faults).toEqual([]);
    expect(host.sent).toEqual([]);
  });
});

describe('FPD', () => {
  it.each([
    ['0x22 not present', { present: 0 }, 0x22],
    ['0x24 reserved bits', { reserved: true }, 0x24],
    ['0x26 source-id', { sid: 0x00e1, svt: 1 }, 0x26],
  ])('FPD = 1 suppresses %s: no record, an unrecorded event', (_name, variant, code) => {
    const { unit, host } = linuxReadyUnit();
    const w = remappedIrte({ vector: 0x41, dest: 1, x2apic: true, fpd: 1, present: (variant as { present?: number }).present ?? 1, sid: (variant as { sid?: number }).sid, svt: (variant as { svt?: number }).svt });
    if ((variant as { reserved?: boolean }).reserved) w[0] |= 1 << 24;
    writeIrte(host.memory, TABLE_BASE, 8, w);
    const { out } = remap(unit, DEV, remappableAddress(8, true), 0);
    expect(out.fault).toMatchObject({ code, recorded: false });
    expect(fsts(unit) & 2).toBe(0); // PPF clear: nothing recorded
    expect(frcd(unit, 0).f).toBe(0);
    expect(host.faults).toHaveLength(1);
    expect(host.faults[0]).toMatchObject({ code, recorded: false, suppressedBy: 'IRTE.FPD' });
  });

  it('FPD does not suppress 0x20 (decided before the IRTE is read)', () => {
    const { unit, host } = linuxReadyUnit();
    writeIrte(host.memory, TABLE_BASE, 8, remappedIrte({ vector: 0x41, dest: 1, x2apic: true, fpd: 1 }));
    expect(remap(unit, DEV, remappableAddress(8, true), 0x10000).out.fault).toMatchObject({ code: 0x20, recorded: true });
  });
});

describe('source-id verification', () => {
  const SID = 0x0318; // 03:03.0
  it.each([
    // [svt, sq, irte sid, requester, passes]
    [0, 0, SID, 0x0101, true], // SVT 00: no check
    [1, 0, SID, 0x0318, true], // SQ 00: all 16 bits
    [1, 0, SID, 0x0319, false],
    [1, 1, SID, 0x031c, true], // SQ 01: function bit 2 ignored
    [1, 1, SID, 0x0319, false],
    [1, 2, SID, 0x031e, true], // SQ 10: function bits 2:1 ignored
    [1, 2, SID, 0x0319, false],
    [1, 3, SID, 0x031f, true], // SQ 11: whole function ignored
    [1, 3, SID, 0x0320, false], // ... but not the device
    [2, 0, 0x0306, 0x0300, true], // SVT 10: bus 3 in [start 3 (SID 15:8), end 6 (SID 7:0)]
    [2, 0, 0x0306, 0x0510, true], // bus 5
    [2, 0, 0x0306, 0x06ff, true], // bus 6 (end, inclusive)
    [2, 0, 0x0306, 0x0200, false], // bus 2 below start
    [2, 0, 0x0306, 0x0700, false], // bus 7 above end
    [3, 0, SID, SID, false], // SVT 11 reserved: reported as a verification failure
  ])('SVT %i SQ %i SID %s requester %s → pass %s', (svt, sq, sid, requester, passes) => {
    const { unit, host } = linuxReadyUnit();
    writeIrte(host.memory, TABLE_BASE, 2, remappedIrte({ vector: 0x41, dest: 1, x2apic: true, sid, sq, svt }));
    const { out } = remap(unit, requester, remappableAddress(2, true), 0);
    if (passes) expect(out.kind).toBe('deliver');
    else expect(out.fault?.code).toBe(0x26);
  });
});

describe('compatibility-format requests', () => {
  it('pass when CFIS = 1 and EIME = 0', () => {
    const { unit, driver } = linuxReadyUnit({}, false);
    driver.writel(driver.gcmd | (1 << 23), 0x18); // set CFI
    expect(remap(unit, DEV, 0xfee01000, 0x41).handled).toBe(false);
  });

  it('are blocked (0x25) with EIME = 1 even when CFIS = 1', () => {
    const { unit, driver } = linuxReadyUnit({}, true);
    driver.writel(driver.gcmd | (1 << 23), 0x18);
    expect(Number(unit.read(0x1c, 4)) & (1 << 23)).toBe(1 << 23);
    const { out } = remap(unit, DEV, 0xfee01000, 0x41);
    expect(out.fault?.code).toBe(0x25);
    expect(out.fault?.detail).toContain('EIME');
  });

  it('with address bits 63:32 set (reaching the unit only when a hypervisor ABI claimed them) follow the same CFIS/EIME rule', () => {
    // The translation core sends unclaimed high-bit writes to memory before any remapper sees them; a claimed one is
    // an interrupt request, and under EIME = 1 every compatibility-format request is blocked with 0x25.
    const { unit, host } = linuxReadyUnit();
    const { handled, out } = remap(unit, DEV, 0xfee01000, 0x41, 0x1);
    expect(handled).toBe(true);
    expect(out.fault?.code).toBe(0x25);
    expect(host.faults.map((f) => f.code)).toEqual([0x25]);
  });
});

describe('hypervisor option intelIrAcceptsAmdFormat (the qemu-devel 2024-10-01 hack, not hardware)', () => {
  it('reads a compatibility-format message as an IRTE index in data 10:0', () => {
    const { unit, host } = linuxReadyUnit({}, true, { intelIrAcceptsAmdFormat: true });
    writeIrte(host.memory, TABLE_BASE, 3, remappedIrte({ vector: 0x51, dest: 260, x2apic: true, sid: IOAPIC_SID, svt: 1 }));
    // Windows on AMD: the I/O APIC RTE's vector field holds the IRTE index (3), format bit clear.
    const { handled, out } = remap(unit, IOAPIC_SID, 0xfee00000, 0x0003);
    expect(handled).toBe(true);
    expect(out.format).toBe('intel-irte-amd-style');
    expect(out.msg).toMatchObject({ vector: 0x51, dest: 260, destWidth: 32 });
    expect(out.cookie).toBe(intelCookie(3));
  });

  it('without the option the same message is a blocked compatibility-format request', () => {
    const { unit, host } = linuxReadyUnit();
    writeIrte(host.memory, TABLE_BASE, 3, remappedIrte({ vector: 0x51, dest: 260, x2apic: true }));
    expect(remap(unit, IOAPIC_SID, 0xfee00000, 0x0003).out.fault?.code).toBe(0x25);
  });
});
