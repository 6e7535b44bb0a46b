/**
 * VT-d DMA remapping, legacy mode (VT-d spec chapter 3 "DMA Remapping", §3.4 legacy-mode address translation,
 * §3.6 second-level translation, chapter 9 structure formats, §7.1 fault conditions): what the unit does with one
 * untranslated request (read or write) from requester `sid` to input address `addr` while GSTS.TES = 1.
 *
 *  1. Context: the context cache, else root table at the SRTP-latched RTADDR → root entry [bus]
 *     (unreadable 0x8, P = 0 0x1, reserved bits 0xA) → context table at CTP → context entry [devfn]
 *     (unreadable 0x9, P = 0 0x2, reserved bits 0xB, AW not in CAP.SAGAW or TT reserved / unsupported 0x3).
 *     Only now is FPD known: 0x2 is qualified by the FPD of the not-present entry (QEMU reads it the same way).
 *  2. TT = 10b (ECAP.PT): output = input.
 *  3. addr ≥ 2^X, X = min(MGAW, AGAW(AW)) → 0x4.
 *  4. IOTLB hit with the permission the request needs → done. A hit without it re-walks (the entry may have gained
 *     the permission; if not, the walk faults from what memory says now).
 *  5. Walk from SLPTPTR, one 9-bit index per level: unreadable table 0x3 at the top, 0x7 below; R = W = 0 (not
 *     present) or the needed permission clear at any level (permissions AND across levels) → 0x5 write / 0x6 read;
 *     reserved bits in a present entry → 0xC; PS at level 2/3 ends the walk in a 2 MiB / 1 GiB page.
 *  6. Output in 0xFEEx_xxxx → 0xE (§3.14: the interrupt range is never a DMA target; LGN.4).
 *  7. Fill the context cache and the IOTLB (successful translations only).
 *
 * Faults are returned as -1 with the reason, the FPD to apply and a description in {@link lastFault}; the unit
 * records them (intel-iommu.ts). Hot path (context cache and IOTLB warm): typed-array reads and two Map lookups, no
 * allocation.
 */
import type { SparseMemory } from '../core/memory.ts';
import { Iotlb } from '../msi/iotlb.ts';
import { ContextCache } from './context-cache.ts';
import { DmaFaultReason as F } from './fault-reasons.ts';
import {
  agawForAw,
  CONTEXT_ENTRY_BYTES,
  CONTEXT_FPD,
  CONTEXT_HI_LO_RESERVED,
  CONTEXT_LO_RESERVED,
  contextAw,
  contextDid,
  contextTt,
  ENTRY_P,
  levelsForAw,
  ROOT_ENTRY_BYTES,
  ROOT_LO_RESERVED,
  tableAddress,
  TranslationType,
} from './root-context-entry.ts';
import { levelIndex, levelPageSize, SecondLevelFormat, SL_R, SL_W } from './second-level-entry.ts';

const INTERRUPT_WINDOW_START = 0xfee00000;
const INTERRUPT_WINDOW_END = 0xfef00000;

export interface DmaRemappingConfig {
  /** CAP.SAGAW bits (bit n: AW = n supported). */
  sagaw: number;
  /** CAP.MGAW + 1. */
  mgawBits: number;
  /** Host address width: table pointers and page frames hold bits below it. */
  hawBits: number;
  /** CAP.SLLPS (bit 0: 2 MiB, bit 1: 1 GiB). */
  sllps: number;
  /** ECAP.PT. */
  passThrough: boolean;
  /** ECAP.DT: TT = 01b is valid (untranslated requests then walk as with 00b; no ATS requests are modelled). */
  deviceTlb: boolean;
}

export interface DmaFault {
  reason: number;
  /** FPD of the context entry, when one was read. */
  fpd: boolean;
  /** DID of the context entry, or -1. */
  did: number;
  detail: string;
}

/** Why a cached or walked translation was used, for traces. */
export type DmaPath = 'iotlb' | 'walk' | 'pass-through';

export class DmaRemapping {
  /** Root table address latched by GCMD.SRTP. */
  rootTable = 0;
  readonly contexts = new ContextCache();
  readonly iotlb = new Iotlb();
  readonly lastFault: DmaFault = { reason: 0, fpd: false, did: -1, detail: '' };
  /** How the last successful translation was made, and its leaf page size. */
  lastPath: DmaPath = 'walk';
  lastPageSize = 0;

  private readonly format: SecondLevelFormat;
  private readonly hiAddrMask: number;
  private readonly rootHiMask: number;
  private readonly mgawLimit: number;
  private readonly raw = new Uint32Array(4);

  constructor(
    private readonly memory: SparseMemory,
    private readonly config: DmaRemappingConfig,
    private readonly readable: (addr: number, length: number) => boolean,
  ) {
    this.format = new SecondLevelFormat(config.hawBits, config.sllps);
    this.hiAddrMask = this.format.hiAddrMask;
    this.rootHiMask = ~this.hiAddrMask >>> 0;
    this.mgawLimit = 2 ** config.mgawBits;
  }

  /** Translate; the output address, or -1 with {@link lastFault} set. */
  translate(sid: number, addr: number, isWrite: boolean): number {
    const cc = this.contexts;
    if (cc.valid[sid] === 0 && !this.loadContext(sid)) return -1;
    const did = cc.did[sid];
    if (cc.tt[sid] === TranslationType.PassThrough) {
      this.lastPath = 'pass-through';
      return addr;
    }
    if (addr >= cc.limit[sid]) {
      return this.fault(F.BeyondMgaw, cc.fpd[sid] === 1, did, `address 0x${addr.toString(16)} is beyond the domain's ${Math.log2(cc.limit[sid])}-bit address width`);
    }
    const hit = this.iotlb.lookup(did, addr);
    if (hit !== undefined) {
      if (isWrite ? hit.write : hit.read) {
        this.lastPath = 'iotlb';
        this.lastPageSize = hit.pageSize;
        return hit.outBase + (addr - hit.inBase);
      }
      this.iotlb.drop(did, hit);
    }
    return this.walk(sid, did, addr, isWrite);
  }

  /** Read and check the root and context entries for `sid`; fill the context cache. */
  private loadContext(sid: number): boolean {
    const m = this.memory;
    const bus = sid >>> 8;
    const rootAddr = this.rootTable + bus * ROOT_ENTRY_BYTES;
    if (!this.readable(rootAddr, ROOT_ENTRY_BYTES)) {
      return this.fault(F.RootTableInvalid, false, -1, `root entry ${bus} at 0x${rootAddr.toString(16)} is not readable memory`) >= 0;
    }
    const r0 = m.read32(rootAddr);
    const r1 = m.read32(rootAddr + 4);
    if (!(r0 & ENTRY_P)) return this.fault(F.RootNotPresent, false, -1, `root entry for bus ${hex2(bus)} has P = 0`) >= 0;
    if (r0 & ROOT_LO_RESERVED || r1 & this.rootHiMask || m.read32(rootAddr + 8) || m.read32(rootAddr + 12)) {
      return this.fault(F.RootReserved, false, -1, `root entry for bus ${hex2(bus)} has reserved bits set`) >= 0;
    }
    const ctxAddr = tableAddress(r0, r1, this.hiAddrMask) + (sid & 0xff) * CONTEXT_ENTRY_BYTES;
    if (!this.readable(ctxAddr, CONTEXT_ENTRY_BYTES)) {
      return this.fault(F.ContextTableInvalid, false, -1, `context entry at 0x${ctxAddr.toString(16)} is not readable memory`) >= 0;
    }
    const raw = this.raw;
    for (let i = 0; i < 4; i++) raw[i] = m.read32(ctxAddr + 4 * i);
    const [c0, c1, c2, c3] = raw;
    const fpd = (c0 & CONTEXT_FPD) !== 0;
    const dev = `context entry for ${hex2(bus)}:${hex2((sid >>> 3) & 0x1f)}.${sid & 7}`;
    if (!(c0 & ENTRY_P)) return this.fault(F.ContextNotPresent, fpd, -1, `${dev} has P = 0`) >= 0;
    if (c0 & CONTEXT_LO_RESERVED || c1 & this.rootHiMask || c2 & CONTEXT_HI_LO_RESERVED || c3) {
      return this.fault(F.ContextReserved, fpd, -1, `${dev} has reserved bits set`) >= 0;
    }
    const did = contextDid(c2);
    const aw = contextAw(c2);
    if (!((this.config.sagaw >>> aw) & 1)) {
      return this.fault(F.ContextInvalid, fpd, did, `${dev} has AW = ${aw} (${agawForAw(aw)}-bit), not in CAP.SAGAW 0x${this.config.sagaw.toString(16)}`) >= 0;
    }
    const tt = contextTt(c0);
    if (tt === TranslationType.Reserved || (tt === TranslationType.DeviceTlb && !this.config.deviceTlb) || (tt === TranslationType.PassThrough && !this.config.passThrough)) {
      const why = tt === TranslationType.Reserved ? 'reserved' : tt === TranslationType.DeviceTlb ? 'device-TLB, but ECAP.DT = 0' : 'pass-through, but ECAP.PT = 0';
      return this.fault(F.ContextInvalid, fpd, did, `${dev} has TT = ${tt.toString(2).padStart(2, '0')}b (${why})`) >= 0;
    }
    this.fillContext(sid, raw);
    return true;
  }

  /** Cache a context entry already checked (or restored from a snapshot, where it was checked when cached). */
  fillContext(sid: number, raw: ArrayLike<number>): void {
    const aw = contextAw(raw[2]);
    const limit = Math.min(this.mgawLimit, 2 ** agawForAw(aw));
    this.contexts.fill(sid, contextDid(raw[2]), contextTt(raw[0]), (raw[0] & CONTEXT_FPD) !== 0, levelsForAw(aw), limit, tableAddress(raw[0], raw[1], this.hiAddrMask), raw);
  }

  private walk(sid: number, did: number, addr: number, isWrite: boolean): number {
    const m = this.memory;
    const cc = this.contexts;
    const fpd = cc.fpd[sid] === 1;
    const top = cc.levels[sid];
    const format = this.format;
    let table = cc.root[sid];
    let read = true;
    let write = true;
    for (let level = top; level >= 1; level--) {
      const at = table + levelIndex(addr, level) * 8;
      if (!this.readable(at, 8)) {
        const reason = level === top ? F.ContextInvalid : F.NextTableInvalid;
        return this.fault(reason, fpd, did, `level-${level} table entry at 0x${at.toString(16)} is not readable memory`);
      }
      const lo = m.read32(at);
      const hi = m.read32(at + 4);
      if (!(lo & (SL_R | SL_W))) {
        return this.fault(isWrite ? F.WriteDenied : F.ReadDenied, fpd, did, `level-${level} entry for 0x${addr.toString(16)} is not present (R = W = 0)`);
      }
      if (format.reserved(lo, hi, level) !== 0) {
        return this.fault(F.PagingEntryReserved, fpd, did, `level-${level} entry 0x${hex64(hi, lo)} for 0x${addr.toString(16)} has reserved bits set`);
      }
      read = read && (lo & SL_R) !== 0;
      write = write && (lo & SL_W) !== 0;
      if (isWrite ? !write : !read) {
        return this.fault(isWrite ? F.WriteDenied : F.ReadDenied, fpd, did, `level-${level} entry for 0x${addr.toString(16)} has ${isWrite ? 'W' : 'R'} = 0`);
      }
      if (format.isLeaf(lo, level)) {
        const size = levelPageSize(level);
        const inBase = addr - (addr % size);
        const outBase = format.address(lo, hi);
        const out = outBase + (addr - inBase);
        if (out < INTERRUPT_WINDOW_END && out + 4 > INTERRUPT_WINDOW_START) {
          return this.fault(F.OutputInInterruptRange, fpd, did, `0x${addr.toString(16)} translates to 0x${out.toString(16)}, inside the interrupt range 0xFEE00000-0xFEEFFFFF`);
        }
        this.iotlb.fill(did, inBase, outBase, size, read, write);
        this.lastPath = 'walk';
        this.lastPageSize = size;
        return out;
      }
      table = format.address(lo, hi);
    }
    return -1; // not reached: level 1 is always a leaf
  }

  private fault(reason: number, fpd: boolean, did: number, detail: string): number {
    const f = this.lastFault;
    f.reason = reason;
    f.fpd = fpd;
    f.did = did;
    f.detail = detail;
    return -1;
  }
}

function hex2(v: number): string {
  return v.toString(16).padStart(2, '0');
}

function hex64(hi: number, lo: number): string {
  return ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16).padStart(16, '0');
}
