import { describe, expect, it } from 'vitest';
import { makeUnit } from './helpers.ts';

const GCMD = 0x18;
const GSTS = 0x1c;
const TE = 1 << 31;
const SRTP = 1 << 30;
const QIE = 1 << 26;
const IRE = 1 << 25;
const SIRTP = 1 << 24;
const CFI = 1 << 23;

const r32 = (u: ReturnType<typeof makeUnit>['unit'], off: number) => Number(u.read(off, 4));
const w32 = (u: ReturnType<typeof makeUnit>['unit'], off: number, v: number) => u.write(off, 4, BigInt(v >>> 0));

describe('access widths', () => {
  it('a qword read is the two dwords, low first', () => {
    const { unit } = makeUnit();
    expect(unit.read(0x008, 8)).toBe((unit.read(0x00c, 4) << 32n) | unit.read(0x008, 4));
  });

  it('1- and 2-byte and misaligned accesses are ignored and read as 0', () => {
    const { unit } = makeUnit();
    expect(unit.read(0x000, 1)).toBe(0n);
    expect(unit.read(0x000, 2)).toBe(0n);
    expect(unit.read(0x00c, 8)).toBe(0n); // 8 bytes at a 4-aligned offset
    unit.write(0x03c, 2, 0xffffn); // FEDATA with a 2-byte write
    expect(unit.read(0x03c, 4)).toBe(0n);
    unit.write(0x0bc, 8, 0xffffn); // misaligned qword covering IRTA high + next register
    expect(unit.read(0x0b8, 8)).toBe(0n);
  });

  it('accesses beyond the window read 0', () => {
    const { unit } = makeUnit();
    expect(unit.read(unit.size, 4)).toBe(0n);
  });
});

describe('GCMD / GSTS', () => {
  it('GCMD is write-only: it reads 0', () => {
    const { unit } = makeUnit();
    w32(unit, GCMD, QIE);
    expect(r32(unit, GCMD)).toBe(0);
    expect(r32(unit, GSTS) & QIE).toBe(QIE);
  });

  it('persistent commands act on change; one-shot SIRTP/SRTP act whenever written as 1', () => {
    const { unit, host } = makeUnit();
    w32(unit, 0xb8, 0x20_0000 | 0x3); // IRTA: base 2 MiB, S = 3 → 16 entries
    w32(unit, GCMD, SIRTP);
    expect(r32(unit, GSTS)).toBe(SIRTP); // IRTPS
    expect(unit.irta.entries).toBe(16);
    // Re-writing SIRTP re-latches (a new IRTA value takes effect).
    w32(unit, 0xb8, 0x30_0000 | 0x7);
    expect(unit.irta.base).toBe(0x20_0000); // not latched by the write alone
    w32(unit, GCMD, SIRTP);
    expect(unit.irta.base).toBe(0x30_0000);
    expect(unit.irta.entries).toBe(256);
    // SRTP latches RTADDR and sets RTPS.
    unit.write(0x20, 8, 0x5000n);
    w32(unit, GCMD, SRTP);
    expect(r32(unit, GSTS) & SRTP).toBe(SRTP);
    // The idiom "GSTS & 0x96FFFFFF | IRE" does not re-issue one-shot commands.
    const latchesBefore = host.invalidations.length;
    w32(unit, GCMD, (r32(unit, GSTS) & 0x96ffffff) | IRE);
    expect(r32(unit, GSTS) & IRE).toBe(IRE);
    expect(host.invalidations.length).toBe(latchesBefore + 1); // only the IRE change, no SIRTP re-latch
  });

  it('TE is ineffective when dmaTranslation is false', () => {
    const on = makeUnit().unit;
    w32(on, GCMD, TE);
    expect(r32(on, GSTS) & TE).toBe(TE);
    const off = makeUnit({ dmaTranslation: false }).unit;
    w32(off, GCMD, TE);
    expect(r32(off, GSTS) & TE).toBe(0);
  });

  it('IRE and CFI are ineffective without ECAP.IR', () => {
    const { unit } = makeUnit({ interruptRemapping: false });
    w32(unit, GCMD, IRE | CFI);
    expect(r32(unit, GSTS) & (IRE | CFI)).toBe(0);
  });

  it('IRE, CFI and IRTA latching evict every cached route', () => {
    const { unit, host } = makeUnit();
    w32(unit, GCMD, SIRTP);
    w32(unit, GCMD, IRE);
    w32(unit, GCMD, IRE | CFI);
    w32(unit, GCMD, IRE | CFI); // no change: nothing to evict
    expect(host.invalidations.map((i) => i.kind)).toEqual(['all', 'all', 'all']);
  });
});

describe('register masks', () => {
  it('IRTA: EIME is writable only with ECAP.EIM; 10:4 are reserved', () => {
    const eim = makeUnit().unit;
    w32(eim, 0xb8, 0xffffffff);
    expect(r32(eim, 0xb8)).toBe(0xfffff80f);
    const noEim = makeUnit({ eim: false }).unit;
    w32(noEim, 0xb8, 0xffffffff);
    expect(r32(noEim, 0xb8)).toBe(0xfffff00f);
  });

  it('IRTA address bits above the host address width are reserved', () => {
    const { unit } = makeUnit({ awBits: 39 });
    unit.write(0xb8, 8, 0xffffffff_fffff000n);
    expect(unit.read(0xb8, 8)).toBe(0x7f_fffff000n); // bits 63:39 read 0
  });

  it('FEUADDR is RW with ECAP.EIM and reserved without', () => {
    const eim = makeUnit().unit;
    w32(eim, 0x44, 0x12345600);
    expect(r32(eim, 0x44)).toBe(0x12345600);
    const noEim = makeUnit({ eim: false }).unit;
    w32(noEim, 0x44, 0x12345600);
    expect(r32(noEim, 0x44)).toBe(0);
  });

  it('FECTL resets with IM set; IP is read-only; FEDATA keeps 15:0; FEADDR keeps 31:2', () => {
    const { unit } = makeUnit();
    expect(r32(unit, 0x38)).toBe(0x80000000);
    w32(unit, 0x38, 0x40000000); // try to set IP and clear IM
    expect(r32(unit, 0x38)).toBe(0);
    w32(unit, 0x3c, 0xffffffff);
    expect(r32(unit, 0x3c)).toBe(0xffff);
    w32(unit, 0x40, 0xfee00003);
    expect(r32(unit, 0x40)).toBe(0xfee00000);
  });

  it('read-only registers ignore writes (VER, CAP, GSTS, IQH, FSTS.PPF)', () => {
    const { unit } = makeUnit();
    const cap = unit.read(0x08, 8);
    unit.write(0x08, 8, 0n);
    w32(unit, 0x00, 0x99);
    w32(unit, GSTS, 0xffffffff);
    unit.write(0x80, 8, 0x100n);
    w32(unit, 0x34, 0xffffffff);
    expect(unit.read(0x08, 8)).toBe(cap);
    expect(r32(unit, 0x00)).toBe(0x10);
    expect(r32(unit, GSTS)).toBe(0);
    expect(r32(unit, 0x80)).toBe(0);
    expect(r32(unit, 0x34)).toBe(0);
  });

  it('IQT keeps bits 18:4 only; IQA keeps 63:12, DW (11) and QS (2:0)', () => {
    const { unit } = makeUnit();
    w32(unit, 0x88, 0xffffffff);
    expect(r32(unit, 0x88)).toBe(0x7fff0);
    // IQA_REG: 63:12 IQA, 11 DW, 10:3 reserved, 2:0 QS (VT-d spec §11.4.9.3). DW is RW even without SMTS/ADMS ("reads of this
    // field return the value last programmed"; a 1 there is a queue error at fetch time, not a write-ignored bit).
    unit.write(0x90, 8, 0x1234_5678_9fffn);
    expect(unit.read(0x90, 8)).toBe(0x1234_5678_9807n);
  });

  it('register-based CCMD and IOTLB invalidations complete at once with actual = requested granularity', () => {
    const { unit } = makeUnit();
    // CCMD: ICC (63) | CIRG = 01 global (62:61) → reads back ICC = 0, CIRG as written (RW), CAIG (60:59) = 01.
    unit.write(0x28, 8, (1n << 63n) | (1n << 61n));
    expect(unit.read(0x28, 8)).toBe((1n << 61n) | (1n << 59n));
    // IOTLB at IRO × 16 + 8 = 0x508: IVT (63) | IIRG = 01 global (61:60) → IVT = 0, IIRG kept, IAIG (58:57) = 01.
    unit.write(0x508, 8, (1n << 63n) | (1n << 60n));
    expect(unit.read(0x508, 8)).toBe((1n << 60n) | (1n << 57n));
  });
});
