/**
 * Test fixtures for the VT-d unit: a fake IommuHost that records what the unit sends out, IRTE builders written from
 * the spec layout (VT-d spec §9.10), and a small Linux-style driver that programs the unit only through MMIO writes and
 * memory, the way drivers/iommu/intel/{dmar,irq_remapping}.c do.
 */
import type { HypervisorOptions, IntelIommuOptions } from '../../src/core/config-types.ts';
import { EventHub, type IommuFaultEvent, type TraceHop } from '../../src/core/events.ts';
import type { IommuHost } from '../../src/msi/iommu-host.ts';
import { SparseMemory } from '../../src/core/memory.ts';
import { IntelIommu } from '../../src/iommu-intel/intel-iommu.ts';
import { linuxFaultLine, linuxFaultStatusLine } from '../../src/iommu-intel/linux-log.ts';
import { TranslationResult } from '../../src/msi/translation-result.ts';

export interface SentMsi {
  addrHi: number;
  addrLo: number;
  data: number;
}

export type RouteInvalidation = { kind: 'all' } | { kind: 'match'; match: (cookie: number) => boolean };

export interface FakeHost extends IommuHost {
  memory: SparseMemory;
  events: EventHub;
  hypervisor: HypervisorOptions;
  sent: SentMsi[];
  invalidations: RouteInvalidation[];
  faults: IommuFaultEvent[];
  hops: TraceHop[];
}

export function makeHost(hypervisor: HypervisorOptions = {}, listen = true): FakeHost {
  const memory = new SparseMemory();
  const events = new EventHub();
  const host: FakeHost = {
    memory,
    events,
    hypervisor,
    sent: [],
    invalidations: [],
    faults: [],
    hops: [],
    routes: {
      invalidateRoutes: (match) => host.invalidations.push({ kind: 'match', match }),
      invalidateAllRoutes: () => host.invalidations.push({ kind: 'all' }),
    },
    sendOwnMsi: (addrHi, addrLo, data) => host.sent.push({ addrHi, addrLo, data }),
    deliverToApicBus: () => {
      throw new Error('the VT-d unit never delivers straight to the APIC bus');
    },
  };
  if (listen) {
    events.on('iommu_fault', (e) => host.faults.push(e));
    events.on('hop', (h) => host.hops.push(h));
  }
  return host;
}

export function makeUnit(opts: Partial<IntelIommuOptions> = {}, hypervisor: HypervisorOptions = {}, listen = true): { unit: IntelIommu; host: FakeHost } {
  const host = makeHost(hypervisor, listen);
  const unit = new IntelIommu({ kind: 'intel', ...opts }, host);
  return { unit, host };
}

// ---- IRTE builders (VT-d spec §9.10) ---------------------------------------------------------------------------

export interface RemappedIrte {
  present?: number;
  fpd?: number;
  destMode?: number;
  redirectionHint?: number;
  trigger?: number;
  deliveryMode?: number;
  vector: number;
  /** Destination APIC ID. */
  dest: number;
  /** true: the 32-bit x2APIC DST; false: xAPIC, ID in IRTE bits 47:40. */
  x2apic: boolean;
  sid?: number;
  sq?: number;
  svt?: number;
}

/** Remapped-format IRTE as [w0, w1, w2, w3] (bits 31:0, 63:32, 95:64, 127:96). */
export function remappedIrte(e: RemappedIrte): [number, number, number, number] {
  const w0 =
    (e.present ?? 1) |
    ((e.fpd ?? 0) << 1) |
    ((e.destMode ?? 0) << 2) |
    ((e.redirectionHint ?? 0) << 3) |
    ((e.trigger ?? 0) << 4) |
    ((e.deliveryMode ?? 0) << 5) |
    (e.vector << 16);
  const w1 = e.x2apic ? e.dest >>> 0 : (e.dest & 0xff) << 8; // Linux IRTE_DEST(): eim ? dest : dest << 8
  const w2 = (e.sid ?? 0) | ((e.sq ?? 0) << 16) | ((e.svt ?? 0) << 18);
  return [w0 >>> 0, w1 >>> 0, w2 >>> 0, 0];
}

export interface PostedIrte {
  fpd?: number;
  urgent?: number;
  vector: number;
  /** Posted-interrupt descriptor address (64-byte aligned). */
  pda: number;
  sid?: number;
  sq?: number;
  svt?: number;
}

/** Posted-format IRTE (Linux struct irte, IM = 1): PDA[31:6] in bits 63:38, PDA[63:32] in 127:96. */
export function postedIrte(e: PostedIrte): [number, number, number, number] {
  const w0 = 1 | ((e.fpd ?? 0) << 1) | ((e.urgent ?? 0) << 14) | (1 << 15) | (e.vector << 16);
  const w1 = e.pda % 0x1_0000_0000 & 0xffffffc0;
  const w2 = (e.sid ?? 0) | ((e.sq ?? 0) << 16) | ((e.svt ?? 0) << 18);
  const w3 = Math.floor(e.pda / 0x1_0000_0000);
  return [w0 >>> 0, w1 >>> 0, w2 >>> 0, w3 >>> 0];
}

export function writeIrte(memory: SparseMemory, tableBase: number, index: number, w: readonly number[]): void {
  for (let i = 0; i < 4; i++) memory.write32(tableBase + index * 16 + 4 * i, w[i]);
}

// ---- Remappable-format messages (VT-d §5.1.2.2) ------------------------------------------------------------------

/** Remappable MSI address: 0xFEE | handle[14:0] in 19:5 | format bit 4 | SHV bit 3 | handle[15] in bit 2. */
export function remappableAddress(handle: number, shv: boolean): number {
  return (0xfee00000 | ((handle & 0x7fff) << 5) | (1 << 4) | (shv ? 1 << 3 : 0) | (((handle >> 15) & 1) << 2)) >>> 0;
}

export function remap(unit: IntelIommu, sid: number, addrLo: number, data: number, addrHi = 0, deliverNow = true): { handled: boolean; out: TranslationResult } {
  const out = new TranslationResult();
  const handled = unit.remap(sid, addrHi, addrLo, data, deliverNow, out);
  return { handled, out };
}

// ---- A Linux-style driver ------------------------------------------------------------------------------------------

const GCMD = 0x18;
const GSTS = 0x1c;
const FSTS = 0x34;
const IQH = 0x80;
const IQT = 0x88;
const IQA = 0x90;
const IRTA = 0xb8;
const QIE = 1 << 26;
const IRE = 1 << 25;
const SIRTP = 1 << 24;
const CFI = 1 << 23;
const IRTPS = 1 << 24;
const CFIS = 1 << 23;

export const QUEUE_BASE = 0x10_0000;
export const STATUS_BASE = 0x11_0000;
export const TABLE_BASE = 0x20_0000;

/** Mirrors Linux: a shadow of the persistent GCMD bits, writel/dmar_writeq only, polling GSTS. */
export class LinuxDriver {
  gcmd = 0;
  freeHead = 0;
  readonly log: string[] = [];

  constructor(
    readonly unit: IntelIommu,
    readonly memory: SparseMemory,
  ) {}

  readl(off: number): number {
    return Number(this.unit.read(off, 4));
  }

  writel(value: number, off: number): void {
    this.unit.write(off, 4, BigInt(value >>> 0));
  }

  writeq(value: bigint, off: number): void {
    this.unit.write(off, 8, value);
  }

  readq(off: number): bigint {
    return this.unit.read(off, 8);
  }

  /** dmar_enable_qi: IQT = 0, IQA = queue page (QS = 0: 256 descriptors), set QIE and wait for QIES. */
  enableQi(): void {
    this.freeHead = 0;
    this.writeq(0n, IQT);
    this.writeq(BigInt(QUEUE_BASE), IQA);
    this.gcmd |= QIE;
    this.writel(this.gcmd, GCMD);
    if (!(this.readl(GSTS) & QIE)) throw new Error('QIES did not set');
  }

  /** qi_submit_sync: the descriptor, then a wait descriptor with SW | FN writing QI_DONE; IQT written with writel. */
  submit(lo: bigint, hi = 0n): boolean {
    const slot = this.freeHead;
    const statusAddr = STATUS_BASE + slot * 4;
    this.memory.write32(statusAddr, 0xff); // QI_IN_USE
    this.memory.write128(QUEUE_BASE + slot * 16, lo, hi);
    const waitLo = 5n | (1n << 5n) | (1n << 6n) | (1n << 32n); // type 5, SW, FN, status data QI_DONE = 1
    this.memory.write128(QUEUE_BASE + (slot + 1) * 16, waitLo, BigInt(statusAddr));
    this.freeHead = (slot + 2) % 256;
    this.writel(this.freeHead << 4, IQT);
    return this.memory.read32(statusAddr) === 1;
  }

  globalIec(): boolean {
    return this.submit(4n); // QI_IEC_TYPE, G = 0
  }

  /** qi_flush_iec(index, mask): index-selective with IM = mask. */
  indexIec(index: number, mask: number): boolean {
    return this.submit(4n | (1n << 4n) | (BigInt(mask) << 27n) | (BigInt(index) << 32n));
  }

  /** iommu_set_irq_remapping + iommu_enable_irq_remapping. */
  enableIrq(tableBase: number, eim: boolean): void {
    this.writeq(BigInt(tableBase) | (eim ? 1n << 11n : 0n) | 0xfn, IRTA);
    this.writel(this.gcmd | SIRTP, GCMD);
    if (!(this.readl(GSTS) & IRTPS)) throw new Error('IRTPS did not set');
    if (!this.globalIec()) throw new Error('global IEC flush did not complete');
    this.gcmd |= IRE;
    this.writel(this.gcmd, GCMD);
    if (!(this.readl(GSTS) & IRE)) throw new Error('IRES did not set');
    if (this.readl(GSTS) & CFIS) {
      this.gcmd &= ~CFI;
      this.writel(this.gcmd, GCMD);
    }
    if (this.readl(GSTS) & CFIS) this.log.push('DMAR-IR: Compatibility-format IRQs enabled despite intr remapping');
  }

  /** dmar_fault: walk the records from FRI while F is set, W1C each, then write PFO | PPF | PRO to FSTS. */
  faultHandler(): string[] {
    const lines: string[] = [];
    const cap = this.readq(0x08);
    const fro = Number((cap >> 24n) & 0x3ffn) * 16;
    const nfr = Number((cap >> 40n) & 0xffn) + 1;
    const status = this.readl(FSTS);
    lines.push(linuxFaultStatusLine(status));
    if (status & 2) {
      let index = (status >> 8) & 0xff;
      for (;;) {
        const data = this.readl(fro + index * 16 + 12);
        if (!(data & 0x80000000)) break;
        const reason = data & 0xff;
        const sid = this.readl(fro + index * 16 + 8) & 0xffff;
        const addr = this.readq(fro + index * 16) & ~0xfffn;
        this.writel(0x80000000, fro + index * 16 + 12);
        lines.push(linuxFaultLine(sid, reason, Number(addr >> 48n)));
        index = (index + 1) % nfr;
      }
    }
    this.writel(1 | 2 | 0x80, FSTS);
    return lines;
  }

  queueHead(): number {
    return this.readl(IQH);
  }
}

/** A unit with QI and IR enabled the Linux way, table at TABLE_BASE (65536 entries). */
export function linuxReadyUnit(opts: Partial<IntelIommuOptions> = {}, eim = true, hypervisor: HypervisorOptions = {}) {
  const { unit, host } = makeUnit(opts, hypervisor);
  const driver = new LinuxDriver(unit, host.memory);
  driver.enableQi();
  driver.enableIrq(TABLE_BASE, eim);
  host.invalidations.length = 0;
  host.hops.length = 0;
  return { unit, host, driver };
}
