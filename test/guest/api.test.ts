import { describe, expect, it } from 'vitest';
import { createGuest } from '../../src/guest/create-guest.ts';
import { UsageError } from '../../src/core/errors.ts';
import { VectorAllocator } from '../../src/guest/vector-allocator.ts';
import { composeAmdRemappable, composeApicMessage, composeIntelRemappable, rteFromMessage, rteIntelRemappable } from '../../src/guest/drivers/msi-compose.ts';
import { DEFAULT_WINDOWS_QUIRKS, resolveWindowsQuirks } from '../../src/guest/windows/quirks.ts';
import type { InterruptRequest } from '../../src/guest/guest-os.ts';
import { machineWith, MSI_DEV, MSIX_DEV } from './helpers.ts';

describe('createGuest options', () => {
  const m = machineWith(2);
  it('rejects an unknown os, an unknown option, quirks for linux, an unknown or non-boolean quirk', () => {
    expect(() => createGuest(m, { os: 'freebsd' } as never)).toThrow(/os must be "linux" or "windows", got "freebsd"/);
    expect(() => createGuest(m, { os: 'linux', trace: true } as never)).toThrow(/unknown option "trace"/);
    expect(() => createGuest(m, { os: 'linux', quirks: { ignoresExtDestId: false } })).toThrow(UsageError);
    expect(() => createGuest(m, { os: 'windows', quirks: { amdCpuAssumesIntel: true } as never })).toThrow(/unknown windows quirk "amdCpuAssumesIntel"/);
    expect(() => createGuest(m, { os: 'windows', quirks: { msiHighAddressBits: 'yes' } as never })).toThrow(/must be true or false/);
  });

  it('every Windows quirk is on by default and can be switched off one by one', () => {
    expect(DEFAULT_WINDOWS_QUIRKS).toEqual({ amdCpuAssumesAmdIommu: true, msiHighAddressBits: true, ignoresExtDestId: true });
    expect(resolveWindowsQuirks({ msiHighAddressBits: false })).toEqual({ amdCpuAssumesAmdIommu: true, msiHighAddressBits: false, ignoresExtDestId: true });
  });
});

describe('interrupt requests are validated with errors that name the problem', () => {
  const m = machineWith(4);
  const g = createGuest(m, { os: 'linux' });
  const bad = (r: Partial<InterruptRequest>) => () => g.setupInterrupt({ id: 'x', kind: 'msix', device: MSIX_DEV, cpu: 0, ...r } as InterruptRequest);

  it('refuses requests before boot', () => {
    expect(bad({})).toThrow(/has not booted yet/);
    g.boot();
    expect(() => g.boot()).toThrow(/already booted/);
  });

  it('names the bad field', () => {
    expect(bad({ cpu: 9 })).toThrow(/cpu must be a CPU index 0..3, got 9/);
    expect(bad({ kind: 'intx' as never })).toThrow(/kind must be "msi", "msix" or "ioapic"/);
    expect(bad({ device: '00:09.0' })).toThrow(/no PCI device at 00:09.0/);
    expect(bad({ vector: 8 })).toThrow(/MSI-X entries 0..7, got 8/);
    expect(bad({ kind: 'msi', device: MSI_DEV, vector: 4 })).toThrow(/MSI messages 0..3, got 4/);
    expect(bad({ kind: 'msi', device: MSIX_DEV })).toThrow(/has no MSI capability/);
    expect(bad({ kind: 'ioapic', pin: 24, device: undefined })).toThrow(/pin must be an I\/O APIC input 0..23, got 24/);
    expect(bad({ trigger: 'level' })).toThrow(/always edge-triggered/);
  });
});

describe('VectorAllocator (Linux device vectors 0x21..0xEB per CPU)', () => {
  it('hands out the lowest free vector, independently per CPU, and runs out after 0xEB', () => {
    const a = new VectorAllocator(2);
    expect([a.allocate(0), a.allocate(0), a.allocate(1)]).toEqual([0x21, 0x22, 0x21]);
    let last = 0;
    for (let v = a.allocate(0); v !== null; v = a.allocate(0)) last = v;
    expect(last).toBe(0xeb);
    expect(a.allocated(0)).toHaveLength(0xeb - 0x21 + 1);
  });
});

describe('Linux message composition', () => {
  it('compatibility format for APIC IDs up to 255: dest in addr 19:12, data = vector (Fixed, edge)', () => {
    expect(composeApicMessage(0x12, 0x41, false)).toEqual({ addr: 0xfee12000n, data: 0x41 });
  });

  it('15-bit extension: APIC 32767 = 0x7FFF → 0xFF in 19:12, 0x7F in 11:5', () => {
    // 0xFEE00000 | 0xFF << 12 (0xFF000) | 0x7F << 5 (0xFE0) = 0xFEEFFFE0; bit 4 stays 0.
    expect(composeApicMessage(0x7fff, 0x30, false)).toEqual({ addr: 0xfeefffe0n, data: 0x30 });
  });

  it('Intel remappable: handle 0x8001 → bit 15 in addr 2, 14:0 in 19:5, format and SHV set', () => {
    // 0x8001: handle[14:0] = 1 → 0x20; handle[15] → 0x4; format 0x10; SHV 0x8.
    expect(composeIntelRemappable(0x8001, 3)).toEqual({ addr: 0xfee0003cn, data: 3 });
  });

  it('AMD remappable: data = index; address DM only in 2K mode', () => {
    expect(composeAmdRemappable(37, false)).toEqual({ addr: 0xfee00000n, data: 37 });
    expect(composeAmdRemappable(37, true)).toEqual({ addr: 0xfee00004n, data: 37 });
  });

  it('RTEs: a message shuffled into RTE bits, and the Intel remappable RTE with the pin as vector', () => {
    // dest 0x2B with ext bits 1 → RTE 63:56 = 0x2B, 55:49 = 1; level, active low.
    expect(rteFromMessage(composeApicMessage(0x12b, 0x22, false), { trigger: 'level', polarity: 'low' })).toBe(0x2b02_0000_0000_a022n);
    // VT-d §5.1.5.1 layout: index 0x8001, pin 5, level → 0x0003000000008805.
    expect(rteIntelRemappable(0x8001, 5, { trigger: 'level', polarity: 'high' })).toBe(0x0003_0000_0000_8805n);
  });
});
