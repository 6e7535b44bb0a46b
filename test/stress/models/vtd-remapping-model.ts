/**
 * An independent model of VT-d interrupt remapping, written from the specification
 * (VT-d spec §5.1, §6.5.2, §7.1.3, §9.10, §11.4) and the SDM's MSI layout, for the model-based stress test. It
 * imports nothing from src/: every bit position is written out here, so a wrong constant in the implementation cannot
 * hide itself by being shared.
 *
 * What it predicts for one interrupt request (sourceId, address, data):
 *  - 'memory': the write is not an interrupt (address bits 31:20 ≠ 0xFEE, or address bits 63:32 ≠ 0 — only
 *    0x00000000_FEExxxxx reaches the interrupt logic on bare metal);
 *  - 'fault' with the fault reason (§7.1.3), qualified or not (FPD only suppresses recording, the request still fails);
 *  - 'deliver' with the APIC message: from the compatibility-format fields (IR off, or CFIS passes it), or from the
 *    IRTE (§9.10).
 *
 * The interrupt entry cache (IEC): a request that reads a present, well-formed IRTE keeps a copy (CAP.CM = 0:
 * "not-present and erroneous entries are not cached"), and later requests use that copy until an IEC invalidation
 * (global, or index-selective covering 2^IM entries from IIDX with its low IM bits cleared) or SIRTP (this unit's
 * documented choice: it drops the IEC on SIRTP) removes it. A lookup that is only an inspection (deliverNow = false)
 * does not fill the cache.
 */

export type Irte = readonly [number, number, number, number];

export type Prediction =
  | { kind: 'memory' }
  | { kind: 'fault'; code: number }
  | { kind: 'deliver'; dest: number; destMode: number; deliveryMode: number; vector: number; trigger: number; redirectionHint: number };

const ZERO: Irte = [0, 0, 0, 0];

export class VtdRemappingModel {
  /** IRTEs as written to memory (index → dwords); anything not written reads as zero. */
  readonly memory = new Map<number, Irte>();
  readonly iec = new Map<number, Irte>();
  ire = false;
  cfis = false;
  /** IRTA as programmed (takes effect on SIRTP only, §11.4.4 GCMD.SIRTP). */
  programmed = { s: 0, eime: false };
  /** IRTA as latched by SIRTP. */
  latched = { entries: 2, eime: false };
  /** What the predictions exercised (for the test's coverage check): outcome names and stale-cache hits. */
  readonly seen = new Map<string, number>();

  private note(what: string): void {
    this.seen.set(what, (this.seen.get(what) ?? 0) + 1);
  }

  writeIrte(index: number, irte: Irte): void {
    this.memory.set(index, irte);
  }

  sirtp(): void {
    this.latched = { entries: 2 ** (this.programmed.s + 1), eime: this.programmed.eime };
    this.iec.clear();
  }

  invalidateGlobal(): void {
    this.iec.clear();
  }

  /** Index-selective IEC invalidation (§6.5.2.7): 2^IM entries starting at IIDX with its low IM bits cleared. */
  invalidateIndex(iidx: number, im: number): void {
    if (im >= 16) {
      this.iec.clear();
      return;
    }
    const count = 2 ** im;
    const first = iidx - (iidx % count);
    for (const index of [...this.iec.keys()]) if (index >= first && index < first + count) this.iec.delete(index);
  }

  predict(sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean): Prediction {
    const p = this.decide(sourceId, addrHi, addrLo, data, deliverNow);
    this.note(p.kind === 'fault' ? `fault 0x${p.code.toString(16)}` : p.kind);
    return p;
  }

  private decide(sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean): Prediction {
    if (Math.floor(addrLo / 0x100000) !== 0xfee || addrHi !== 0) return { kind: 'memory' };
    const remappable = Math.floor(addrLo / 0x10) % 2 === 1; // address bit 4: Interrupt Format
    if (!this.ire) return compatibility(addrLo, data);
    if (!remappable) {
      // CFI/CFIS lets compatibility format through only with EIME = 0 (GCMD.CFI, IRTA_REG.EIME in §11.4); otherwise fault 0x25.
      return this.cfis && !this.latched.eime ? compatibility(addrLo, data) : { kind: 'fault', code: 0x25 };
    }
    // Remappable format (§5.1.2.2): data 31:16 reserved → 0x20.
    if (data >= 0x10000) return { kind: 'fault', code: 0x20 };
    const handle = (Math.floor(addrLo / 0x20) % 0x8000) + (Math.floor(addrLo / 4) % 2) * 0x8000;
    const shv = Math.floor(addrLo / 8) % 2 === 1;
    const index = shv ? (handle + data) % 0x10000 : handle;
    if (index >= this.latched.entries) return { kind: 'fault', code: 0x21 };
    const cached = this.iec.get(index);
    const inMemory = this.memory.get(index) ?? ZERO;
    const irte = cached ?? inMemory;
    if (cached !== undefined && cached.some((w, i) => w !== inMemory[i])) this.note('stale IEC entry used');
    if (!deliverNow) this.note('inspection');
    const [w0, w1, w2, w3] = irte;
    if (w0 % 2 === 0) return { kind: 'fault', code: 0x22 };
    if (reservedBitsSet(irte, this.latched.eime)) return { kind: 'fault', code: 0x24 };
    if (cached === undefined && deliverNow) this.iec.set(index, irte);
    if (!sourceIdOk(sourceId, w2)) return { kind: 'fault', code: 0x26 };
    void w3;
    this.note('remapped');
    return {
      kind: 'deliver',
      dest: this.latched.eime ? w1 >>> 0 : Math.floor(w1 / 0x100) % 0x100, // DST: 63:32, or 47:40 in xAPIC mode
      destMode: Math.floor(w0 / 4) % 2,
      redirectionHint: Math.floor(w0 / 8) % 2,
      trigger: Math.floor(w0 / 16) % 2,
      deliveryMode: Math.floor(w0 / 32) % 8,
      vector: Math.floor(w0 / 0x10000) % 0x100,
    };
  }
}

/** The SDM's compatibility-format MSI: dest 19:12, RH 3, DM 2; data vector 7:0, delivery mode 10:8, trigger 15. */
function compatibility(addrLo: number, data: number): Prediction {
  return {
    kind: 'deliver',
    dest: Math.floor(addrLo / 0x1000) % 0x100,
    destMode: Math.floor(addrLo / 4) % 2,
    redirectionHint: Math.floor(addrLo / 8) % 2,
    vector: data % 0x100,
    deliveryMode: Math.floor(data / 0x100) % 8,
    trigger: Math.floor(data / 0x8000) % 2,
  };
}

function bits(value: number, hi: number, lo: number): number {
  return Math.floor((value >>> 0) / 2 ** lo) % 2 ** (hi - lo + 1);
}

/**
 * §9.10: reserved in a remapped-format IRTE (fault 0x24): 14:12, 31:24, 127:84 (qword 1 bits 63:20 → dword 2 bits
 * 31:20 and all of dword 3); IM (15) = 1 is reserved without CAP.PI (this unit offers none); in xAPIC mode
 * (EIME = 0) DST bits 39:32 and 63:48 as well.
 */
function reservedBitsSet([w0, w1, w2, w3]: Irte, eime: boolean): boolean {
  if (bits(w0, 15, 12) !== 0 || bits(w0, 31, 24) !== 0) return true;
  if (bits(w2, 31, 20) !== 0 || w3 !== 0) return true;
  if (!eime && (bits(w1, 7, 0) !== 0 || bits(w1, 31, 16) !== 0)) return true;
  return false;
}

/** §9.10: SVT 00 none; 01 SID compared under the SQ mask; 10 requester bus within [SID 15:8, SID 7:0]; 11 fails. */
function sourceIdOk(requester: number, w2: number): boolean {
  const sid = bits(w2, 15, 0);
  const sq = bits(w2, 17, 16);
  const svt = bits(w2, 19, 18);
  if (svt === 0) return true;
  if (svt === 1) {
    const ignored = [0, 0b100, 0b110, 0b111][sq]; // SQ ignores function bit 2, bits 2:1, bits 2:0
    return (requester & ~ignored & 0xffff) === (sid & ~ignored & 0xffff);
  }
  if (svt === 2) {
    const bus = bits(requester, 15, 8);
    return bus >= bits(sid, 15, 8) && bus <= bits(sid, 7, 0);
  }
  return false;
}
