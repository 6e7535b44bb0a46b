import { describe, expect, it } from 'vitest';
import { intelCookie } from '../../src/msi/cookie.ts';
import { linuxReadyUnit, postedIrte, remap, remappableAddress, TABLE_BASE, writeIrte } from './helpers.ts';

const DEV = 0x0318;
const PID = 0x30_0000;

/** PID control dword (bits 287:256): ON 0, SN 1, NV 23:16; NDST is the next dword (bits 319:288). */
function writePid(memory: { write32(a: number, v: number): void }, addr: number, nv: number, ndst: number, sn = 0, on = 0) {
  memory.write32(addr + 32, (nv << 16) | (sn << 1) | on);
  memory.write32(addr + 36, ndst);
}

describe('posted interrupts (CAP.PI)', () => {
  it('posts the vector into PIR, sets ON and asks for the notification NV → NDST', () => {
    const { unit, host } = linuxReadyUnit({ postedInterrupts: true });
    writePid(host.memory, PID, 0xf2, 0x105);
    writeIrte(host.memory, TABLE_BASE, 5, postedIrte({ vector: 0x55, pda: PID, sid: DEV, svt: 1 }));
    const { handled, out } = remap(unit, DEV, remappableAddress(5, true), 0);
    expect(handled).toBe(true);
    expect(out.kind).toBe('posted');
    expect(out.format).toBe('intel-posted');
    expect(out.cookie).toBe(intelCookie(5));
    expect(out.postedDescriptor).toBe(PID);
    expect(out.postedNotify).toBe(true);
    expect(out.msg).toEqual({ dest: 0x105, destWidth: 32, destMode: 0, deliveryMode: 0, vector: 0xf2, trigger: 0, level: 1, redirectionHint: 0 });
    // Vector 0x55 = 85: PIR dword 85 >> 5 = 2 (byte 8), bit 85 & 31 = 21.
    expect(host.memory.read32(PID + 8)).toBe(1 << 21);
    expect(host.memory.read32(PID + 32)).toBe(0x00f20001); // NV 0xF2, ON set
  });

  it('a second post while ON is set only sets its PIR bit', () => {
    const { unit, host } = linuxReadyUnit({ postedInterrupts: true });
    writePid(host.memory, PID, 0xf2, 0x105);
    writeIrte(host.memory, TABLE_BASE, 5, postedIrte({ vector: 0x55, pda: PID }));
    writeIrte(host.memory, TABLE_BASE, 6, postedIrte({ vector: 0x56, pda: PID }));
    remap(unit, DEV, remappableAddress(5, true), 0);
    const { out } = remap(unit, DEV, remappableAddress(6, true), 0);
    expect(out.postedNotify).toBe(false);
    expect(host.memory.read32(PID + 8)).toBe((1 << 21) | (1 << 22));
  });

  it('SN suppresses the notification unless the IRTE is urgent', () => {
    const { unit, host } = linuxReadyUnit({ postedInterrupts: true });
    writePid(host.memory, PID, 0xf2, 0x105, 1);
    writeIrte(host.memory, TABLE_BASE, 5, postedIrte({ vector: 0x55, pda: PID }));
    writeIrte(host.memory, TABLE_BASE, 6, postedIrte({ vector: 0x56, pda: PID, urgent: 1 }));
    expect(remap(unit, DEV, remappableAddress(5, true), 0).out.postedNotify).toBe(false);
    expect(host.memory.read32(PID + 32) & 1).toBe(0); // ON still clear
    expect(remap(unit, DEV, remappableAddress(6, true), 0).out.postedNotify).toBe(true);
    expect(host.memory.read32(PID + 32) & 1).toBe(1);
  });

  it('in xAPIC mode NDST bits 15:8 hold the APIC ID', () => {
    const { unit, host } = linuxReadyUnit({ postedInterrupts: true }, false);
    writePid(host.memory, PID, 0xf2, 0x0500);
    writeIrte(host.memory, TABLE_BASE, 5, postedIrte({ vector: 0x55, pda: PID }));
    expect(remap(unit, DEV, remappableAddress(5, true), 0).out.msg).toMatchObject({ dest: 5, destWidth: 8, vector: 0xf2 });
  });

  it('a precomputed route (deliverNow = false) reports the descriptor without posting', () => {
    const { unit, host } = linuxReadyUnit({ postedInterrupts: true });
    writePid(host.memory, PID, 0xf2, 0x105);
    writeIrte(host.memory, TABLE_BASE, 5, postedIrte({ vector: 0x55, pda: PID }));
    const { out } = remap(unit, DEV, remappableAddress(5, true), 0, 0, false);
    expect(out.kind).toBe('posted');
    expect(out.postedNotify).toBe(false);
    expect(host.memory.read32(PID + 8)).toBe(0);
    expect(host.memory.read32(PID + 32)).toBe(0x00f20000);
  });

  it('0x27: a descriptor the unit cannot access; Linux prints it with its DMA line and "Unknown"', () => {
    const { unit, host } = linuxReadyUnit({ postedInterrupts: true });
    writeIrte(host.memory, TABLE_BASE, 5, postedIrte({ vector: 0x55, pda: 0xfee00000 }));
    const { out } = remap(unit, DEV, remappableAddress(5, true), 0);
    expect(out.fault).toMatchObject({ code: 0x27, index: 5, recorded: true });
    // FI = index << 48 = 0x5000000000000; T = 0 → "DMA Write"; no PASID.
    expect(host.faults[0].linuxLog).toBe('DMAR: [DMA Write NO_PASID] Request device [03:03.0] fault addr 0x5000000000000 [fault reason 0x27] Unknown');
  });

  it('0x28: reserved bits set in the descriptor; FPD suppresses it', () => {
    const { unit, host } = linuxReadyUnit({ postedInterrupts: true });
    writePid(host.memory, PID, 0xf2, 0x105);
    host.memory.write32(PID + 32, host.memory.read32(PID + 32) | (1 << 2)); // bit 258: reserved
    writeIrte(host.memory, TABLE_BASE, 5, postedIrte({ vector: 0x55, pda: PID }));
    writeIrte(host.memory, TABLE_BASE, 6, postedIrte({ vector: 0x55, pda: PID, fpd: 1 }));
    expect(remap(unit, DEV, remappableAddress(5, true), 0).out.fault).toMatchObject({ code: 0x28, recorded: true });
    expect(remap(unit, DEV, remappableAddress(6, true), 0).out.fault).toMatchObject({ code: 0x28, recorded: false });
    expect(host.memory.read32(PID)).toBe(0); // nothing posted
  });

  it('reserved bits of the posted IRTE format → 0x24', () => {
    const { unit, host } = linuxReadyUnit({ postedInterrupts: true });
    const w = postedIrte({ vector: 0x55, pda: PID });
    w[0] |= 1 << 2; // bits 7:2 reserved in the posted format
    writeIrte(host.memory, TABLE_BASE, 5, w);
    expect(remap(unit, DEV, remappableAddress(5, true), 0).out.fault?.code).toBe(0x24);
  });
});
