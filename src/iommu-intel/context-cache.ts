/**
 * The context cache (VT-d spec §6.2.1): decoded context entries by source-id, filled when a request uses a present,
 * well-formed entry and kept until software invalidates it — globally, by domain, or by device (CCMD register or
 * context-cache invalidation descriptor, §6.5.1 / §6.5.2.1). Like the IEC and the IOTLB, it never holds a
 * not-present or erroneous entry (CAP.CM = 0), so fixing one needs no invalidation.
 *
 * Typed arrays indexed by source-id: a hit is a handful of array reads and allocates nothing. The arrays (2.5 MiB)
 * are made on the first fill: until a device's DMA is translated, `valid` is one all-zero array shared by every
 * cache (only ever written with zeros, by invalidations) and the other fields are never read, so a machine whose
 * unit only remaps interrupts — or that is built and dropped, as the matrix does ten thousand times — never pays
 * for them.
 */

const SOURCE_IDS = 0x10000;

/** The `valid` array of every cache that has never been filled: all zero, so every lookup misses. */
const NEVER_FILLED = new Uint8Array(SOURCE_IDS);

export class ContextCache {
  valid = NEVER_FILLED;
  did = new Uint16Array(0);
  tt = new Uint8Array(0);
  fpd = new Uint8Array(0);
  /** Page-table levels (AW + 2). */
  levels = new Uint8Array(0);
  /** 2^X with X = min(MGAW, AGAW): the first input address beyond the domain. */
  limit = new Float64Array(0);
  /** Second-level page-table root. */
  root = new Float64Array(0);
  /** Raw entry (lo, hi qword as dwords) for reports and snapshots. */
  raw = new Uint32Array(0);

  private allocate(): void {
    this.valid = new Uint8Array(SOURCE_IDS);
    this.did = new Uint16Array(SOURCE_IDS);
    this.tt = new Uint8Array(SOURCE_IDS);
    this.fpd = new Uint8Array(SOURCE_IDS);
    this.levels = new Uint8Array(SOURCE_IDS);
    this.limit = new Float64Array(SOURCE_IDS);
    this.root = new Float64Array(SOURCE_IDS);
    this.raw = new Uint32Array(SOURCE_IDS * 4);
  }

  fill(sid: number, did: number, tt: number, fpd: boolean, levels: number, limit: number, root: number, raw: ArrayLike<number>): void {
    if (this.valid === NEVER_FILLED) this.allocate();
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
    if (this.valid !== NEVER_FILLED) this.valid.fill(0);
  }

  invalidateDomain(did: number): void {
    if (this.valid === NEVER_FILLED) return;
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
    if (this.valid === NEVER_FILLED) return list;
    for (let sid = 0; sid < SOURCE_IDS; sid++) if (this.valid[sid]) list.push(sid);
    return list;
  }
}
