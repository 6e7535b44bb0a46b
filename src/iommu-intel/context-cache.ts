/**
 * The context cache (VT-d spec §6.2.1): decoded context entries by source-id, filled when a request uses a present,
 * well-formed entry and kept until software invalidates it — globally, by domain, or by device (CCMD register or
 * context-cache invalidation descriptor, §6.5.1 / §6.5.2.1). Like the IEC and the IOTLB, it never holds a
 * not-present or erroneous entry (CAP.CM = 0), so fixing one needs no invalidation.
 *
 * Typed arrays indexed by source-id: a hit is a handful of array reads and allocates nothing.
 */

const SOURCE_IDS = 0x10000;

export class ContextCache {
  readonly valid = new Uint8Array(SOURCE_IDS);
  readonly did = new Uint16Array(SOURCE_IDS);
  readonly tt = new Uint8Array(SOURCE_IDS);
  readonly fpd = new Uint8Array(SOURCE_IDS);
  /** Page-table levels (AW + 2). */
  readonly levels = new Uint8Array(SOURCE_IDS);
  /** 2^X with X = min(MGAW, AGAW): the first input address beyond the domain. */
  readonly limit = new Float64Array(SOURCE_IDS);
  /** Second-level page-table root. */
  readonly root = new Float64Array(SOURCE_IDS);
  /** Raw entry (lo, hi qword as dwords) for reports and snapshots. */
  readonly raw = new Uint32Array(SOURCE_IDS * 4);

  fill(sid: number, did: number, tt: number, fpd: boolean, levels: number, limit: number, root: number, raw: ArrayLike<number>): void {
    this.valid[sid] = 1;
    this.did[sid] = did;
    this.tt[sid] = tt;
    this.fpd[sid] = fpd ? 1 : 0;
    this.levels[sid] = levels;
    this.limit[sid] = limit;
    this.root[sid] = root;
    for (let i = 0; i < 4; i++) this.raw[sid * 4 + i] = raw[i];
  }

  invalidateAll(): void {
    this.valid.fill(0);
  }

  invalidateDomain(did: number): void {
    for (let sid = 0; sid < SOURCE_IDS; sid++) if (this.valid[sid] && this.did[sid] === did) this.valid[sid] = 0;
  }

  /**
   * Device-selective: the source-id with FM masking its function bits (FM 00 none, 01 bit 2, 10 bits 2:1, 11 bits
   * 2:0 — §6.5.1.1 CCMD_REG.FM), for phantom functions sharing one context entry.
   */
  invalidateDevice(sid: number, fm: number): void {
    const mask = [0xffff, 0xfffb, 0xfff9, 0xfff8][fm & 3];
    const want = sid & mask;
    const base = sid & 0xfff8;
    for (let fn = 0; fn < 8; fn++) if (((base | fn) & mask) === want) this.valid[base | fn] = 0;
  }

  cachedSourceIds(): number[] {
    const list: number[] = [];
    for (let sid = 0; sid < SOURCE_IDS; sid++) if (this.valid[sid]) list.push(sid);
    return list;
  }
}
