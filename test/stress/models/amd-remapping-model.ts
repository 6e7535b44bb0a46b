/**
 * An independent model of AMD-Vi interrupt remapping for the model-based stress test, written from the AMD IOMMU
 * spec (§2.2.2.1 DTE, §2.2.5 interrupt remapping, §2.4 commands, §3.4 Control). It imports nothing from src/.
 *
 * Scope: IommuEn stays set, the device table covers every DeviceID, tables lie in ordinary memory, 512-entry mode.
 * Caches: the IOMMU keeps the DTE of a DeviceID once a request read it, until INVALIDATE_DEVTAB_ENTRY; it keeps the
 * IRTEs it read for a DeviceID — of the one table that DeviceID's DTE points at, in the entry size then in use —
 * until INVALIDATE_INTERRUPT_TABLE, a change of GAEn or IRTCacheDis; with IRTCacheDis set it reads every IRTE from
 * memory and keeps none. Only real requests fill caches; an inspection (deliverNow = false) does not.
 */

export type AmdPrediction =
  | { kind: 'memory' }
  | { kind: 'fault'; code: number }
  | { kind: 'deliver'; dest: number; destMode: number; deliveryMode: number; vector: number; trigger: number };

/** DTE dwords 4 and 5 (bits 191:128, the interrupt half); dwords 6–7 stay zero. */
export type DteWords = readonly [number, number];

interface IrteBlock {
  root: number;
  bytes: number;
  entries: Map<number, number[]>;
}

/** Event codes (AMD IOMMU spec §2.5): ILLEGAL_DEV_TABLE_ENTRY 1, IO_PAGE_FAULT 2, INVALID_DEVICE_REQUEST 8; 0 = no event. */
const ILLEGAL_DTE = 1;
const IO_PAGE_FAULT = 2;
const INVALID_DEVICE_REQUEST = 8;
const TARGET_ABORT_ONLY = 0;

export class AmdRemappingModel {
  /** RAM as the test wrote it, by dword address. */
  readonly ram = new Map<number, number>();
  readonly dtes = new Map<number, DteWords>();
  readonly dteCache = new Map<number, DteWords>();
  readonly irteCache = new Map<number, IrteBlock>();
  gaEn = false;
  xtEn = false;
  irtCacheDis = false;
  readonly seen = new Map<string, number>();

  private note(what: string): void {
    this.seen.set(what, (this.seen.get(what) ?? 0) + 1);
  }

  setControl(ga: boolean, xt: boolean, irtCacheDis: boolean): void {
    if (ga !== this.gaEn || irtCacheDis !== this.irtCacheDis) this.irteCache.clear();
    this.gaEn = ga;
    this.xtEn = xt;
    this.irtCacheDis = irtCacheDis;
  }

  invalidateDte(deviceId: number): void {
    this.dteCache.delete(deviceId);
  }

  invalidateIrt(deviceId: number): void {
    this.irteCache.delete(deviceId);
  }

  /** `onBus`: the request is a device write on the machine bus (a memory result is then DMA-translated). */
  predict(deviceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, onBus = false): AmdPrediction {
    const p = this.decide(deviceId, addrHi, addrLo, data, deliverNow, onBus);
    this.note(p.kind === 'fault' ? `fault ${p.code}` : p.kind);
    if (!deliverNow) this.note('inspection');
    return p;
  }

  private decide(deviceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, onBus: boolean): AmdPrediction {
    if (Math.floor(addrLo / 0x100000) !== 0xfee || addrHi !== 0) {
      // A memory request is translated through the same DTE (its DMA half; V = 0 in these tables, so untranslated)
      // and loads the same DTE cache as an interrupt request (AMD IOMMU spec §2.2.2: one device table, one cache).
      if (onBus && !this.dteCache.has(deviceId)) this.dteCache.set(deviceId, this.dtes.get(deviceId) ?? [0, 0]);
      return { kind: 'memory' };
    }
    // Step 2: the DTE (cached copy first).
    const cachedDte = this.dteCache.get(deviceId);
    const dte = cachedDte ?? this.dtes.get(deviceId) ?? [0, 0];
    if (cachedDte === undefined && deliverNow) this.dteCache.set(deviceId, dte);
    if (cachedDte !== undefined && (cachedDte[0] !== (this.dtes.get(deviceId) ?? [0, 0])[0] || cachedDte[1] !== (this.dtes.get(deviceId) ?? [0, 0])[1])) this.note('stale DTE used');
    const [d4, d5] = dte;
    // Step 3: IV = 0 → forwarded unchanged.
    if (d4 % 2 === 0) return compatibility(addrLo, data);
    const dm = bits(addrLo, 2, 2);
    const type = bits(data, 10, 8);
    const intCtl = bits(d5, 29, 28);
    switch (type) {
      case 0:
      case 1:
        if (intCtl === 0) return { kind: 'fault', code: INVALID_DEVICE_REQUEST };
        if (intCtl === 1) return compatibility(addrLo, data);
        if (intCtl === 3) return { kind: 'fault', code: ILLEGAL_DTE };
        break;
      case 2: // SMI: forwarded (no SMI filter), physical destination mode only
        return dm === 0 ? compatibility(addrLo, data) : { kind: 'fault', code: TARGET_ABORT_ONLY };
      case 4: // NMI, INIT, ExtINT: forwarded iff the DTE's pass bit is set and DM = 0
      case 5:
      case 7: {
        const pass = type === 4 ? bits(d5, 26, 26) : type === 5 ? bits(d5, 24, 24) : bits(d5, 25, 25);
        return pass === 1 && dm === 0 ? compatibility(addrLo, data) : { kind: 'fault', code: TARGET_ABORT_ONLY };
      }
      default:
        return { kind: 'fault', code: TARGET_ABORT_ONLY };
    }
    // Steps 7–8: index X[8:0] within 2^IntTabLen.
    const index = data % 0x200;
    const intTabLen = bits(d4, 4, 1);
    if (index >= 2 ** intTabLen) return { kind: 'fault', code: IO_PAGE_FAULT };
    const root = (d4 >>> 0) - (d4 >>> 0) % 64 + bits(d5, 19, 0) * 0x1_0000_0000;
    const bytes = this.gaEn ? 16 : 4;
    const irte = this.readIrte(deviceId, root, bytes, index, deliverNow);
    const w0 = irte[0];
    // Step 9–10.
    if (w0 % 2 === 0) return { kind: 'fault', code: IO_PAGE_FAULT };
    const guestMode = bits(w0, 7, 7);
    const intType = bits(w0, 4, 2);
    // GuestMode = 1 with Control.GAMEn = 000b (this model never enables guest vAPIC mode): a reserved field in either format.
    if (guestMode === 1 || intType > 1) return { kind: 'fault', code: IO_PAGE_FAULT };
    this.note('remapped');
    return {
      kind: 'deliver',
      dest: this.gaEn && this.xtEn ? (bits(w0, 31, 8) + bits(irte[3], 31, 24) * 0x1000000) >>> 0 : bits(w0, 15, 8),
      vector: this.gaEn ? bits(irte[2], 7, 0) : bits(w0, 23, 16),
      destMode: bits(w0, 6, 6),
      deliveryMode: intType,
      trigger: bits(data, 15, 15),
    };
  }

  private readIrte(deviceId: number, root: number, bytes: number, index: number, fill: boolean): number[] {
    const dwords = bytes / 4;
    const fromMemory = Array.from({ length: 4 }, (_, k) => (k < dwords ? this.ram.get(root + index * bytes + 4 * k) ?? 0 : 0));
    if (this.irtCacheDis) return fromMemory;
    let block = this.irteCache.get(deviceId);
    if (block !== undefined && (block.root !== root || block.bytes !== bytes)) {
      if (!fill) return fromMemory;
      block = undefined;
    }
    const cached = block?.entries.get(index);
    if (cached !== undefined) {
      if (cached.some((w, k) => w !== fromMemory[k])) this.note('stale IRTE used');
      return cached;
    }
    if (fill) {
      if (block === undefined) this.irteCache.set(deviceId, (block = { root, bytes, entries: new Map() }));
      block.entries.set(index, fromMemory);
    }
    return fromMemory;
  }
}

function compatibility(addrLo: number, data: number): AmdPrediction {
  return { kind: 'deliver', dest: bits(addrLo, 19, 12), destMode: bits(addrLo, 2, 2), vector: bits(data, 7, 0), deliveryMode: bits(data, 10, 8), trigger: bits(data, 15, 15) };
}

function bits(value: number, hi: number, lo: number): number {
  return Math.floor((value >>> 0) / 2 ** lo) % 2 ** (hi - lo + 1);
}
