/**
 * The VT-d unit's snapshot: plain JSON (numbers for 32-bit registers, hex strings for 64-bit ones and IRTEs) with a
 * version, and the validation restore() runs before touching anything.
 */
import { UsageError } from '../core/errors.ts';
import { IEC_ENTRIES } from './interrupt-entry-cache.ts';
import * as R from './registers.ts';

export const INTEL_IOMMU_STATE_VERSION = 1;

export interface FaultRecordState {
  fault: boolean;
  sourceId: number;
  reason: number;
  index: number;
  /** DMA faults: the recorded page address (FI 63:12) as hex, and T (true = read). Absent for interrupt faults. */
  address?: string;
  read?: boolean;
}

/** Cached DMA-remapping state: context entries (raw, 32 hex digits) by source-id, and IOTLB entries. */
export interface DmaCacheState {
  contexts: { sourceId: number; entry: string }[];
  iotlb: { did: number; inBase: string; outBase: string; pageSize: string; read: boolean; write: boolean }[];
}

export interface IntelIommuState {
  version: number;
  faultRecords: number;
  gsts: number;
  rtaddr: string;
  rtaddrLatched: string;
  ccmd: string;
  iva: string;
  iotlb: string;
  irta: string;
  irtaLatched: string;
  /** `fri`: the latched FSTS.FRI; optional so that snapshots taken before it was saved still restore. */
  fault: { status: number; fectl: number; fedata: number; feaddr: number; feuaddr: number; next: number; fri?: number; records: FaultRecordState[] };
  queue: { iqa: string; head: number; tail: number; ics: number; iectl: number; iedata: number; ieaddr: number; ieuaddr: number; iqercd: number };
  /** Interrupt entry cache contents: IRTE as 32 hex digits (bits 127:0). */
  iec: { index: number; irte: string }[];
  /** Context cache and IOTLB; optional so that snapshots taken before DMA remapping still restore (empty caches). */
  dma?: DmaCacheState;
}

/** Validated state with the IEC entries already split into dwords. */
export type ValidIntelIommuState = Omit<IntelIommuState, 'iec'> & { iec: { index: number; words: [number, number, number, number] }[] };

export interface StateLimits {
  faultRecords: number;
  eim: boolean;
  awBits: number;
  dmaTranslation: boolean;
  interruptRemapping: boolean;
}

export function hex64(hi: number, lo: number): string {
  return '0x' + ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16).padStart(16, '0');
}

/** [hi, lo] of a validated 64-bit hex string. */
export function splitHex64(text: string): [number, number] {
  const v = BigInt(text);
  return [Number(v >> 32n), Number(v & 0xffffffffn)];
}

export function irteHex(w0: number, w1: number, w2: number, w3: number): string {
  const v = (BigInt(w3 >>> 0) << 96n) | (BigInt(w2 >>> 0) << 64n) | (BigInt(w1 >>> 0) << 32n) | BigInt(w0 >>> 0);
  return '0x' + v.toString(16).padStart(32, '0');
}

const HEX64 = /^0x[0-9a-fA-F]{1,16}$/;
const HEX128 = /^0x[0-9a-fA-F]{1,32}$/;

function fail(path: string, why: string): never {
  throw new UsageError(`intel-vtd state: ${path} ${why}`);
}

function object(v: unknown, path: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, 'must be an object');
  return v as Record<string, unknown>;
}

function uint(v: unknown, path: string, max: number, allowedMask?: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) fail(path, `must be an integer from 0 to ${max}, got ${JSON.stringify(v)}`);
  if (allowedMask !== undefined && (v & ~allowedMask) !== 0) fail(path, `has reserved bits set (0x${v.toString(16)}; allowed mask 0x${(allowedMask >>> 0).toString(16)})`);
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, `must be true or false, got ${JSON.stringify(v)}`);
  return v as boolean;
}

/** A 4 KiB-aligned address below 2^64 as hex. */
function pageAddress(v: unknown, path: string): string {
  if (typeof v !== 'string' || !HEX64.test(v)) fail(path, `must be a hex string of up to 64 bits, got ${JSON.stringify(v)}`);
  if (BigInt(v as string) % 4096n !== 0n) fail(path, `must be 4 KiB aligned, got ${v as string}`);
  return v as string;
}

/** Validate the DMA cache part of a snapshot (absent → empty). */
export function validateDmaCacheState(v: unknown): DmaCacheState {
  if (v === undefined) return { contexts: [], iotlb: [] };
  const o = object(v, 'dma');
  if (!Array.isArray(o.contexts)) fail('dma.contexts', 'must be an array');
  if (!Array.isArray(o.iotlb)) fail('dma.iotlb', 'must be an array');
  const contexts = (o.contexts as unknown[]).map((c, i) => {
    const e = object(c, `dma.contexts[${i}]`);
    const entry = e.entry;
    if (typeof entry !== 'string' || !HEX128.test(entry)) fail(`dma.contexts[${i}].entry`, 'must be a hex string of up to 128 bits');
    if ((BigInt(entry as string) & 1n) === 0n) fail(`dma.contexts[${i}].entry`, 'is not present (P = 0): the context cache never holds such an entry');
    return { sourceId: uint(e.sourceId, `dma.contexts[${i}].sourceId`, 0xffff), entry: entry as string };
  });
  const iotlb = (o.iotlb as unknown[]).map((c, i) => {
    const e = object(c, `dma.iotlb[${i}]`);
    const pageSize = pageAddress(e.pageSize, `dma.iotlb[${i}].pageSize`);
    const size = BigInt(pageSize);
    if (size === 0n || (size & (size - 1n)) !== 0n) fail(`dma.iotlb[${i}].pageSize`, 'must be a power of two of at least 4 KiB');
    const inBase = pageAddress(e.inBase, `dma.iotlb[${i}].inBase`);
    const outBase = pageAddress(e.outBase, `dma.iotlb[${i}].outBase`);
    if (BigInt(inBase) % size !== 0n || BigInt(outBase) % size !== 0n) fail(`dma.iotlb[${i}]`, 'inBase and outBase must be aligned to pageSize');
    return { did: uint(e.did, `dma.iotlb[${i}].did`, 0xffff), inBase, outBase, pageSize, read: bool(e.read, `dma.iotlb[${i}].read`), write: bool(e.write, `dma.iotlb[${i}].write`) };
  });
  return { contexts, iotlb };
}

function u32(v: unknown, path: string, allowedMask?: number): number {
  return uint(v, path, 0xffffffff, allowedMask);
}

function hex(v: unknown, path: string, re: RegExp): string {
  if (typeof v !== 'string' || !re.test(v)) fail(path, `must be a hex string like "0x1234", got ${JSON.stringify(v)}`);
  return v;
}

/**
 * IRTA_REG as the unit can hold it (VT-d spec §11.4 IRTA_REG): 63:12 table base below the host address width, 11 EIME only with
 * ECAP.EIM, 10:4 reserved, 3:0 S. The register's write mask drops everything else, so a snapshot cannot hold it.
 */
function irtaValue(v: unknown, path: string, limits: StateLimits): string {
  const text = hex(v, path, HEX64);
  const value = BigInt(text);
  const addressBits = ((1n << BigInt(limits.awBits)) - 1n) & ~0xfffn;
  const allowed = addressBits | BigInt(R.IRTA_S_MASK) | (limits.eim ? BigInt(R.IRTA_EIME) : 0n);
  const bad = value & ~allowed;
  if (bad !== 0n) {
    const why = (bad & BigInt(R.IRTA_EIME)) !== 0n ? 'EIME (bit 11) set on a unit without ECAP.EIM' : 'reserved bits set';
    fail(path, `has ${why} (0x${bad.toString(16)})`);
  }
  return text;
}

export function validateIntelIommuState(input: unknown, limits: StateLimits): ValidIntelIommuState {
  const s = object(input, 'state');
  if (s.version !== INTEL_IOMMU_STATE_VERSION) fail('version', `must be ${INTEL_IOMMU_STATE_VERSION}, got ${JSON.stringify(s.version)}`);
  if (s.faultRecords !== limits.faultRecords) fail('faultRecords', `must be ${limits.faultRecords} (this unit's configuration), got ${JSON.stringify(s.faultRecords)}`);

  let gstsMask = R.GSTS_RTPS | R.GSTS_QIES | R.GSTS_IRTPS;
  if (limits.dmaTranslation) gstsMask |= R.GSTS_TES;
  if (limits.interruptRemapping) gstsMask |= R.GSTS_IRES | R.GSTS_CFIS;
  const gsts = u32(s.gsts, 'gsts', gstsMask >>> 0);

  const f = object(s.fault, 'fault');
  const recordsIn = f.records;
  if (!Array.isArray(recordsIn) || recordsIn.length !== limits.faultRecords) fail('fault.records', `must be an array of ${limits.faultRecords} records`);
  const records = recordsIn.map((r, i) => {
    const o = object(r, `fault.records[${i}]`);
    if (typeof o.fault !== 'boolean') fail(`fault.records[${i}].fault`, 'must be true or false');
    return {
      fault: o.fault,
      sourceId: uint(o.sourceId, `fault.records[${i}].sourceId`, 0xffff),
      reason: uint(o.reason, `fault.records[${i}].reason`, 0xff),
      index: uint(o.index, `fault.records[${i}].index`, 0xffff),
      ...(o.address === undefined ? {} : { address: pageAddress(o.address, `fault.records[${i}].address`) }),
      ...(o.read === undefined ? {} : { read: bool(o.read, `fault.records[${i}].read`) }),
    };
  });
  const fault = {
    status: u32(f.status, 'fault.status', R.FSTS_PFO | R.FSTS_IQE | R.FSTS_ICE | R.FSTS_ITE),
    fectl: u32(f.fectl, 'fault.fectl', (R.ECTL_IM | R.ECTL_IP) >>> 0),
    fedata: u32(f.fedata, 'fault.fedata', R.EDATA_MASK),
    feaddr: u32(f.feaddr, 'fault.feaddr', R.EADDR_MASK),
    feuaddr: limits.eim ? u32(f.feuaddr, 'fault.feuaddr') : u32(f.feuaddr, 'fault.feuaddr', 0),
    next: uint(f.next, 'fault.next', limits.faultRecords - 1),
    fri: f.fri === undefined ? undefined : uint(f.fri, 'fault.fri', limits.faultRecords - 1),
    records,
  };

  const q = object(s.queue, 'queue');
  const iqa = hex(q.iqa, 'queue.iqa', HEX64);
  const iqaLo = Number(BigInt(iqa) & 0xffffffffn);
  // IQH may lie past the end of the queue IQA now describes: IQH is read-only and changes only when the unit
  // fetches a descriptor or when QIE is cleared (VT-d 11.4.9.1 IQH_REG: reset to 0 when queued invalidation is
  // disabled; VT-d spec §11.4.9), so rewriting IQA.QS smaller leaves it where it was. Any QH value (bits 18:4) is legal.
  const queue = {
    iqa,
    head: u32(q.head, 'queue.head', R.IQ_PTR_MASK),
    tail: u32(q.tail, 'queue.tail', R.IQ_PTR_MASK),
    ics: u32(q.ics, 'queue.ics', R.ICS_IWC),
    iectl: u32(q.iectl, 'queue.iectl', (R.ECTL_IM | R.ECTL_IP) >>> 0),
    iedata: u32(q.iedata, 'queue.iedata', R.EDATA_MASK),
    ieaddr: u32(q.ieaddr, 'queue.ieaddr', R.EADDR_MASK),
    ieuaddr: limits.eim ? u32(q.ieuaddr, 'queue.ieuaddr') : u32(q.ieuaddr, 'queue.ieuaddr', 0),
    iqercd: u32(q.iqercd, 'queue.iqercd', 0xf),
  };

  const iecIn = s.iec;
  if (!Array.isArray(iecIn)) fail('iec', 'must be an array');
  const seen = new Set<number>();
  const iec = iecIn.map((e, i) => {
    const o = object(e, `iec[${i}]`);
    const index = uint(o.index, `iec[${i}].index`, IEC_ENTRIES - 1);
    if (seen.has(index)) fail(`iec[${i}].index`, `repeats index ${index}`);
    seen.add(index);
    const v = BigInt(hex(o.irte, `iec[${i}].irte`, HEX128));
    const words: [number, number, number, number] = [0, 1, 2, 3].map((k) => Number((v >> BigInt(32 * k)) & 0xffffffffn)) as [number, number, number, number];
    return { index, words };
  });

  return {
    version: INTEL_IOMMU_STATE_VERSION,
    faultRecords: limits.faultRecords,
    gsts,
    rtaddr: hex(s.rtaddr, 'rtaddr', HEX64),
    rtaddrLatched: hex(s.rtaddrLatched, 'rtaddrLatched', HEX64),
    ccmd: hex(s.ccmd, 'ccmd', HEX64),
    iva: hex(s.iva, 'iva', HEX64),
    iotlb: hex(s.iotlb, 'iotlb', HEX64),
    irta: irtaValue(s.irta, 'irta', limits),
    irtaLatched: irtaValue(s.irtaLatched, 'irtaLatched', limits),
    fault,
    queue,
    iec,
  };
}
