/**
 * Test helpers: a fake IommuHost that records what the IOMMU sends out, and a small Linux-style AMD-Vi driver
 * (drivers/iommu/amd/{init.c,iommu.c} in outline): device table, command buffer, event log, one interrupt
 * remapping table per DeviceID, MSI data = IRTE index, INVALIDATE_INTERRUPT_TABLE + COMPLETION_WAIT after each
 * IRTE change, index = pin for the I/O APIC's DeviceID.
 */
import { AmdIommu } from '../../src/iommu-amd/amd-iommu.ts';
import { buildCommand } from '../../src/iommu-amd/command-buffer.ts';
import type { AmdIommuOptions } from '../../src/core/config-types.ts';
import { EventHub, type IommuFaultEvent, type TraceHop } from '../../src/core/events.ts';
import type { IommuHost } from '../../src/msi/iommu-host.ts';
import { SparseMemory } from '../../src/core/memory.ts';
import { amdCookie } from '../../src/msi/cookie.ts';
import { type ApicMessage, copyApicMessage, newApicMessage } from '../../src/msi/interrupt.ts';
import { TranslationResult } from '../../src/msi/translation-result.ts';

// MMIO offsets, written out from the reference register map (§1) rather than imported, so a wrong constant in the
// implementation cannot hide itself.
export const MMIO = {
  DEV_TAB_BASE: 0x0000,
  CMD_BUF_BASE: 0x0008,
  EVT_LOG_BASE: 0x0010,
  CONTROL: 0x0018,
  EXCL_BASE: 0x0020,
  EFR: 0x0030,
  XT_GEN_INTR_CTRL: 0x0170,
  EFR2: 0x01a0,
  CMD_HEAD: 0x2000,
  CMD_TAIL: 0x2008,
  EVT_HEAD: 0x2010,
  EVT_TAIL: 0x2018,
  STATUS: 0x2020,
} as const;

// Control bits (AMD IOMMU spec §3.4).
export const CTRL = {
  IOMMU_EN: 1n << 0n,
  EVENT_LOG_EN: 1n << 2n,
  EVENT_INT_EN: 1n << 3n,
  COM_WAIT_INT_EN: 1n << 4n,
  COHERENT: 1n << 10n,
  CMD_BUF_EN: 1n << 12n,
  GA_EN: 1n << 17n,
  NUM_INT_REMAP_2K: 1n << 43n,
  XT_EN: 1n << 50n,
  INTCAPXT_EN: 1n << 51n,
  IRT_CACHE_DIS: 1n << 59n,
} as const;

// Status bits (AMD IOMMU spec §3.4).
export const STATUS = { EVENT_OVERFLOW: 1, EVENT_LOG_INT: 2, COM_WAIT_INT: 4, EVENT_LOG_RUN: 8, CMD_BUF_RUN: 16 } as const;

export class FakeRoutes {
  allInvalidations = 0;
  readonly matchers: ((cookie: number) => boolean)[] = [];
  invalidateRoutes(match: (cookie: number) => boolean): void {
    this.matchers.push(match);
  }
  invalidateAllRoutes(): void {
    this.allInvalidations++;
  }
  /** True when some recorded per-entry invalidation evicts a route built from IRTE `index` of `deviceId`. */
  evicted(deviceId: number, index: number): boolean {
    return this.matchers.some((m) => m(amdCookie(deviceId, index)));
  }
  reset(): void {
    this.allInvalidations = 0;
    this.matchers.length = 0;
  }
}

export class FakeHost implements IommuHost {
  readonly memory = new SparseMemory();
  readonly events = new EventHub();
  readonly routes = new FakeRoutes();
  readonly hypervisor = {};
  readonly ownMsis: { addrHi: number; addrLo: number; data: number }[] = [];
  readonly apicBus: ApicMessage[] = [];
  sendOwnMsi(addrHi: number, addrLo: number, data: number): void {
    this.ownMsis.push({ addrHi, addrLo, data });
  }
  deliverToApicBus(msg: ApicMessage): void {
    this.apicBus.push(copyApicMessage(msg, newApicMessage()));
  }
  /** Record iommu_fault events and hops from now on. */
  record(): { faults: IommuFaultEvent[]; hops: TraceHop[] } {
    const faults: IommuFaultEvent[] = [];
    const hops: TraceHop[] = [];
    this.events.on('iommu_fault', (e) => faults.push(e));
    this.events.on('hop', (h) => hops.push(h));
    return { faults, hops };
  }
}

// Guest-physical layout the driver uses.
export const DEV_TABLE = 0x0010_0000; // 2 MiB: all 65 536 DTEs, Size field 0x1FF
export const CMD_BUF = 0x0030_0000; // 512 entries (ComLen 9, Linux MMIO_CMD_SIZE_512)
export const EVT_LOG = 0x0031_0000;
export const CMD_SEM = 0x0032_0000;
export const IRT_AREA = 0x0040_0000;

export const MSI_ADDR = 0xfee00000;
export const IOAPIC_DEVID = 0x00a0; // 00:14.0

export interface DriverOptions {
  /** 128-bit IRTEs (Control.GAEn), default true when the IOMMU supports GA. */
  ga?: boolean;
  /** Control.XTEn (needs GA). */
  xt?: boolean;
  /** Event log length code (default 9 = 512 entries). */
  eventLen?: number;
  /** Program 0x170 and set IntCapXTEn instead of using the PCI MSI capability. */
  intCapXt?: { dest: number; vector: number };
  /** PCI MSI of the IOMMU function (when not XT): address and data. */
  msi?: { addrLo: number; addrHi?: number; data: number };
  /** Extra control bits. */
  extraControl?: bigint;
  /** IntTabLen (default 9: 512 entries, Linux DTE_INTTABLEN_512). */
  intTabLen?: number;
}

export interface IrteSpec {
  vector: number;
  dest: number;
  /** IRTE DM: 0 physical, 1 logical. */
  dm?: number;
  /** 0 fixed, 1 arbitrated. */
  intType?: number;
  remapEn?: boolean;
  supIopf?: boolean;
  guestMode?: boolean;
}

export class LinuxAmdDriver {
  readonly host: FakeHost;
  readonly iommu: AmdIommu;
  readonly ga: boolean;
  private cmdTail = 0;
  private semValue = 0n;
  private nextTable = IRT_AREA;
  readonly tables = new Map<number, number>();
  control = 0n;

  constructor(opts: Partial<AmdIommuOptions> = {}, readonly driver: DriverOptions = {}) {
    this.host = new FakeHost();
    this.iommu = new AmdIommu({ kind: 'amd', ...opts }, this.host);
    this.ga = driver.ga ?? (opts.ga ?? true);
  }

  write64(offset: number, value: bigint): void {
    this.iommu.write(offset, 8, value);
  }

  read64(offset: number): bigint {
    return this.iommu.read(offset, 8);
  }

  status(): number {
    return Number(this.iommu.read(MMIO.STATUS, 4));
  }

  /** iommu_init: tables, then the control bits Linux sets (iommu_init_flags, iommu_enable_*). */
  init(): this {
    const d = this.driver;
    // Device table: phys | ((2 MiB >> 12) - 1) (Linux iommu_set_device_table).
    this.write64(MMIO.DEV_TAB_BASE, BigInt(DEV_TABLE) | 0x1ffn);
    this.write64(MMIO.CMD_BUF_BASE, BigInt(CMD_BUF) | (9n << 56n));
    this.write64(MMIO.EVT_LOG_BASE, BigInt(EVT_LOG) | (BigInt(d.eventLen ?? 9) << 56n));
    this.iommu.write(MMIO.CMD_HEAD, 4, 0n);
    this.iommu.write(MMIO.CMD_TAIL, 4, 0n);
    this.iommu.write(MMIO.EVT_HEAD, 4, 0n);
    this.iommu.write(MMIO.EVT_TAIL, 4, 0n);
    let control = CTRL.COHERENT | CTRL.EVENT_LOG_EN | CTRL.EVENT_INT_EN | CTRL.CMD_BUF_EN | CTRL.IOMMU_EN;
    if (this.ga) control |= CTRL.GA_EN;
    if (d.xt) control |= CTRL.XT_EN;
    if (d.intCapXt) {
      // union intcapxt: dest_mode_logical bit 2, destid_0_23 bits 31:8, vector 39:32, destid_24_31 63:56.
      const { dest, vector } = d.intCapXt;
      const reg = (BigInt(dest >>> 24) << 56n) | (BigInt(vector) << 32n) | (BigInt(dest & 0xffffff) << 8n);
      this.write64(MMIO.XT_GEN_INTR_CTRL, reg);
      control |= CTRL.INTCAPXT_EN;
    } else if (d.msi) {
      const msi = this.iommu.pciFunction;
      const cap = this.findCap(0x05);
      msi.configWrite(cap + 4, 4, d.msi.addrLo);
      msi.configWrite(cap + 8, 4, d.msi.addrHi ?? 0);
      msi.configWrite(cap + 12, 2, d.msi.data);
      msi.configWrite(cap + 2, 2, 1);
    }
    control |= d.extraControl ?? 0n;
    this.setControl(control);
    return this;
  }

  setControl(value: bigint): void {
    this.control = value;
    this.write64(MMIO.CONTROL, value);
  }

  findCap(id: number): number {
    const fn = this.iommu.pciFunction;
    let ptr = fn.configRead(0x34, 1) & 0xfc;
    while (ptr !== 0) {
      if (fn.configRead(ptr, 1) === id) return ptr;
      ptr = fn.configRead(ptr + 1, 1) & 0xfc;
    }
    throw new Error(`capability 0x${id.toString(16)} not found`);
  }

  dteAddress(devid: number): number {
    return DEV_TABLE + devid * 32;
  }

  /** Write DTE qword 2 (bits 191:128) directly, without invalidation. */
  writeDteIntr(devid: number, qword2: bigint, qword3 = 0n): void {
    this.host.memory.write64(this.dteAddress(devid) + 16, qword2);
    this.host.memory.write64(this.dteAddress(devid) + 24, qword3);
  }

  /** Allocate a table for `devid` and install it (Linux set_dte_irq_entry + device_flush_dte). */
  attachTable(devid: number, extra: { intCtl?: bigint; passBits?: bigint; ig?: boolean; domainId?: number } = {}): number {
    let table = this.tables.get(devid);
    if (table === undefined) {
      table = this.nextTable;
      this.nextTable += 2048 * 16; // room for any table size, 128-byte aligned
      this.tables.set(devid, table);
    }
    const intTabLen = BigInt(this.driver.intTabLen ?? 9);
    const q2 = BigInt(table) | ((extra.intCtl ?? 2n) << 60n) | (intTabLen << 1n) | 1n | (extra.ig ? 1n << 5n : 0n) | (extra.passBits ?? 0n);
    this.writeDteIntr(devid, q2);
    if (extra.domainId !== undefined) this.host.memory.write32(this.dteAddress(devid) + 8, extra.domainId);
    this.queue(buildCommand.invalidateDevtabEntry(devid));
    this.completionWait();
    return table;
  }

  /** Write IRTE `index` of `devid`'s table in the current format, then INVALIDATE_INTERRUPT_TABLE + COMPLETION_WAIT. */
  setIrte(devid: number, index: number, spec: IrteSpec, flush = true): void {
    this.writeIrte(devid, index, spec);
    if (flush) this.flushIrt(devid);
  }

  writeIrte(devid: number, index: number, spec: IrteSpec): void {
    const table = this.tables.get(devid);
    if (table === undefined) throw new Error(`no table for ${devid}`);
    const w0 =
      ((spec.remapEn ?? true) ? 1 : 0) | (spec.supIopf ? 2 : 0) | ((spec.intType ?? 0) << 2) | ((spec.dm ?? 0) << 6) |
      (spec.guestMode ? 0x80 : 0);
    if (this.ga) {
      // 128-bit: Destination[23:0] in 31:8, vector in 71:64, Destination[31:24] in 127:120.
      const mem = this.host.memory;
      const at = table + index * 16;
      mem.write32(at, (w0 | ((spec.dest & 0xffffff) << 8)) >>> 0);
      mem.write32(at + 4, 0);
      mem.write32(at + 8, spec.vector & 0xff);
      mem.write32(at + 12, ((spec.dest >>> 24) << 24) >>> 0);
    } else {
      // 32-bit: Destination in 15:8, vector in 23:16.
      this.host.memory.write32(table + index * 4, (w0 | ((spec.dest & 0xff) << 8) | ((spec.vector & 0xff) << 16)) >>> 0);
    }
  }

  flushIrt(devid: number): void {
    this.queue(buildCommand.invalidateInterruptTable(devid));
    this.completionWait();
  }

  /** Copy a command to the buffer and publish the new tail (Linux copy_cmd_to_buffer). */
  queue(words: number[]): void {
    const at = CMD_BUF + this.cmdTail;
    for (let i = 0; i < 4; i++) this.host.memory.write32(at + 4 * i, words[i]);
    this.cmdTail = (this.cmdTail + 16) % (512 * 16);
    this.iommu.write(MMIO.CMD_TAIL, 4, BigInt(this.cmdTail));
  }

  /** COMPLETION_WAIT with store, as Linux does; returns whether the semaphore was written. */
  completionWait(): boolean {
    this.semValue++;
    this.queue(buildCommand.completionWait({ storeAddress: CMD_SEM, storeData: this.semValue }));
    return this.host.memory.read64(CMD_SEM) === this.semValue;
  }

  /** Linux amd_iommu_reset_cmd_buffer: clear CmdBufEn, zero head and tail, set CmdBufEn. */
  resetCommandBuffer(): void {
    this.write64(MMIO.CONTROL, this.control & ~CTRL.CMD_BUF_EN);
    this.iommu.write(MMIO.CMD_HEAD, 4, 0n);
    this.iommu.write(MMIO.CMD_TAIL, 4, 0n);
    this.cmdTail = 0;
    this.write64(MMIO.CONTROL, this.control);
  }

  /** A device write: MSI data = index, address 0xFEE00000 (Linux fill_msi_msg). */
  msi(devid: number, data: number, addrLo = MSI_ADDR, deliverNow = true): TranslationResult {
    const out = new TranslationResult();
    const handled = this.iommu.remap(devid, 0, addrLo, data, deliverNow, out);
    if (!handled) out.kind = 'memory'; // marker: passed through (the core would decode it as compatibility format)
    return out;
  }

  /** Was the request passed through (remap returned false)? */
  passesThrough(devid: number, data: number, addrLo = MSI_ADDR): boolean {
    return !this.iommu.remap(devid, 0, addrLo, data, true, new TranslationResult());
  }

  /** Event-log entries written so far: [dword0..3] from head to tail. */
  eventEntries(): number[][] {
    const head = Number(this.iommu.read(MMIO.EVT_HEAD, 4));
    const tail = Number(this.iommu.read(MMIO.EVT_TAIL, 4));
    const size = 16 * 2 ** (this.driver.eventLen ?? 9);
    const list: number[][] = [];
    for (let at = head; at !== tail; at = (at + 16) % size) {
      const a = EVT_LOG + at;
      const mem = this.host.memory;
      list.push([mem.read32(a), mem.read32(a + 4), mem.read32(a + 8), mem.read32(a + 12)]);
    }
    return list;
  }

  /** Consume all entries (write head = tail) and W1C EventLogInt, as the Linux handler does. */
  consumeEvents(): void {
    this.iommu.write(MMIO.EVT_HEAD, 4, this.iommu.read(MMIO.EVT_TAIL, 4));
    this.iommu.write(MMIO.STATUS, 4, BigInt(STATUS.EVENT_LOG_INT));
  }
}
