/**
 * The MSI-X capability (ID 0x11; PCI Local Bus 3.0 §6.8.2) and its table and Pending Bit Array,
 * which live in a memory BAR. This class is both: it installs the 12-byte capability in config space and is the
 * {@link MmioDevice} that decodes the BAR (offsets relative to the BAR base).
 *
 *   Capability: +2 Message Control (10:0 table size N−1 RO, 14 function mask RW, 15 enable RW),
 *               +4 Table offset | BIR, +8 PBA offset | BIR (both RO).
 *   Table entry n at tableOffset + 16n: +0 address low, +4 address high, +8 data, +0xC vector control (bit 0 mask).
 *   PBA: bit n = vector n pending; read-only (writes are "undefined" in the spec; QEMU ignores them, so do we).
 *
 * A vector is masked when its entry mask, the function mask, or MSI-X being disabled says so. Signalling a masked
 * vector sets its PBA bit; any masked→unmasked change with the PBA bit set clears it and sends the message with the
 * entry's current contents (QEMU msix_handle_mask_update).
 */
import { ConfigError, showValue, UsageError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import type { AccessSize, MmioDevice } from '../core/mmio.ts';
import { RouteSlot } from '../msi/route-slot.ts';
import type { PciConfigSpace } from './config-space.ts';
import type { InterruptMessageReport, InterruptMessageSink } from './interrupt-sink.ts';

export const PCI_CAP_ID_MSIX = 0x11;
export const MSIX_CAP_SIZE = 12;
export const MSIX_FLAGS = 0x02;
export const MSIX_FLAGS_QSIZE = 0x07ff;
export const MSIX_FLAGS_MASKALL = 0x4000;
export const MSIX_FLAGS_ENABLE = 0x8000;
export const MSIX_TABLE = 0x04;
export const MSIX_PBA = 0x08;
export const MSIX_BIR_MASK = 0x7;
export const MSIX_OFFSET_MASK = 0xfffffff8;

export const MSIX_ENTRY_SIZE = 16;
export const MSIX_ENTRY_LOWER_ADDR = 0x0;
export const MSIX_ENTRY_UPPER_ADDR = 0x4;
export const MSIX_ENTRY_DATA = 0x8;
export const MSIX_ENTRY_VECTOR_CTRL = 0xc;
export const MSIX_ENTRY_CTRL_MASKBIT = 0x1;
export const MSIX_MAX_ENTRIES = 2048;

const PAGE = 4096;
const WORD_LOWER_ADDR = 0;
const WORD_VECTOR_CTRL = 3;

export interface MsixCapabilityOptions {
  entries: number;
  bar?: number;
  tableOffset?: number;
  pbaOffset?: number;
}

/** Saved MSI-X table and PBA (the capability's control word lives in config space). */
export interface MsixTableState {
  /** Each entry as [address low, address high, data, vector control]. */
  table: number[][];
  /** Vectors whose PBA bit is set. */
  pending: number[];
}

export class MsixCapability implements MmioDevice {
  readonly name: string;
  readonly offset: number;
  readonly entries: number;
  readonly bar: number;
  readonly tableOffset: number;
  readonly pbaOffset: number;
  readonly pbaBytes: number;
  /** Size of the BAR holding table and PBA: their extent rounded up to 4 KiB, then to a power of two. */
  readonly barSize: number;
  /** Table as 4 dwords per entry. */
  private readonly table: Uint32Array;
  private readonly pba: Uint32Array;
  private readonly slots: RouteSlot[] = [];
  /** Function-wide mask state (disabled or MASKALL) as of the last config write. */
  private functionMasked = true;

  constructor(
    private readonly space: PciConfigSpace,
    opts: MsixCapabilityOptions,
    private readonly sink: InterruptMessageSink,
    private readonly events: EventHub,
    private readonly label: string,
    configPath = 'msix',
  ) {
    const n = opts.entries;
    if (!Number.isInteger(n) || n < 1 || n > MSIX_MAX_ENTRIES) {
      throw new ConfigError(`${configPath}.entries`, `must be an integer 1..${MSIX_MAX_ENTRIES}, got ${String(n)}`);
    }
    const bar = opts.bar ?? 0;
    if (!Number.isInteger(bar) || bar < 0 || bar > 5) throw new ConfigError(`${configPath}.bar`, `must be a BAR index 0..5, got ${String(bar)}`);
    const tableOffset = opts.tableOffset ?? 0;
    const tableEnd = tableOffset + n * MSIX_ENTRY_SIZE;
    const pbaBytes = Math.ceil(n / 64) * 8; // QEMU: ALIGN_UP(n, 64) / 8
    const pbaOffset = opts.pbaOffset ?? Math.ceil(tableEnd / PAGE) * PAGE;
    for (const [field, value] of [['tableOffset', tableOffset], ['pbaOffset', pbaOffset]] as const) {
      // The low 3 bits of the offset registers hold the BIR, so both structures are QWORD aligned.
      if (!Number.isInteger(value) || value < 0 || value % 8 !== 0 || value > MSIX_OFFSET_MASK) {
        throw new ConfigError(`${configPath}.${field}`, `must be an 8-byte aligned offset below 4 GiB, got ${String(value)}`);
      }
    }
    if (pbaOffset < tableEnd && tableOffset < pbaOffset + pbaBytes) {
      throw new ConfigError(`${configPath}.pbaOffset`, `the PBA [0x${pbaOffset.toString(16)}, +0x${pbaBytes.toString(16)}) overlaps the table [0x${tableOffset.toString(16)}, 0x${tableEnd.toString(16)})`);
    }
    this.entries = n;
    this.bar = bar;
    this.tableOffset = tableOffset;
    this.pbaOffset = pbaOffset;
    this.pbaBytes = pbaBytes;
    const extent = Math.ceil(Math.max(tableEnd, pbaOffset + pbaBytes) / PAGE) * PAGE;
    this.barSize = 2 ** Math.ceil(Math.log2(extent));
    if (this.barSize > 2 ** 31) throw new ConfigError(`${configPath}`, `table and PBA need a ${this.barSize}-byte BAR, above a 32-bit BAR's 2 GiB`);
    this.name = `${label} MSI-X table`;
    this.table = new Uint32Array(n * 4);
    this.pba = new Uint32Array(Math.ceil(n / 32));
    for (let i = 0; i < n; i++) this.slots.push(new RouteSlot());

    this.offset = space.addCapability(PCI_CAP_ID_MSIX, MSIX_CAP_SIZE);
    space.set16(this.offset + MSIX_FLAGS, n - 1);
    space.setWritable(this.offset + MSIX_FLAGS, 2, MSIX_FLAGS_MASKALL | MSIX_FLAGS_ENABLE);
    space.set32(this.offset + MSIX_TABLE, (tableOffset | bar) >>> 0);
    space.set32(this.offset + MSIX_PBA, (pbaOffset | bar) >>> 0);
    this.resetTable();
  }

  /** Every entry masked with zero address and data; PBA clear (QEMU msix_reset / msix_mask_all). */
  resetTable(): void {
    this.table.fill(0);
    for (let i = 0; i < this.entries; i++) this.table[i * 4 + WORD_VECTOR_CTRL] = MSIX_ENTRY_CTRL_MASKBIT;
    this.pba.fill(0);
    this.functionMasked = this.computeFunctionMasked();
    for (const slot of this.slots) slot.invalidate();
  }

  enabled(): boolean {
    return (this.space.get16(this.offset + MSIX_FLAGS) & MSIX_FLAGS_ENABLE) !== 0;
  }

  private computeFunctionMasked(): boolean {
    const control = this.space.get16(this.offset + MSIX_FLAGS);
    return (control & MSIX_FLAGS_ENABLE) === 0 || (control & MSIX_FLAGS_MASKALL) !== 0;
  }

  isMasked(n: number): boolean {
    return this.functionMasked || (this.table[n * 4 + WORD_VECTOR_CTRL] & MSIX_ENTRY_CTRL_MASKBIT) !== 0;
  }

  isPending(n: number): boolean {
    return ((this.pba[n >>> 5] >>> (n & 31)) & 1) !== 0;
  }

  /** The function raises vector n. Returns false (nothing sent or pended) when MSI-X is disabled. */
  signal(n: number): boolean {
    if (!Number.isInteger(n) || n < 0 || n >= this.entries) {
      throw new UsageError(`${this.label}: MSI-X vector ${showValue(n)} is out of range (the table has ${this.entries} entr${this.entries === 1 ? 'y' : 'ies'})`);
    }
    if (!this.enabled()) return false;
    if (this.isMasked(n)) {
      this.pba[n >>> 5] |= 1 << (n & 31);
      if (this.events.active) this.events.hop('irqpath_msix_masked_pending', [['bdf', this.label], ['vector', n]]);
      return true;
    }
    this.send(n);
    return true;
  }

  /** React to a config write overlapping the capability: a function unmask delivers pending, unmasked vectors. */
  handleConfigWrite(offset: number, size: number): void {
    if (offset + size <= this.offset || offset >= this.offset + MSIX_CAP_SIZE) return;
    const wasMasked = this.functionMasked;
    this.functionMasked = this.computeFunctionMasked();
    if (this.events.active) {
      this.events.hop('msix_write_config', [['name', this.label], ['enabled', this.enabled()], ['masked', this.functionMasked]]);
    }
    if (!wasMasked || this.functionMasked) return;
    for (let w = 0; w < this.pba.length; w++) {
      if (this.pba[w] === 0) continue;
      for (let b = 0; b < 32; b++) {
        const n = w * 32 + b;
        if (n < this.entries && this.isPending(n) && !this.isMasked(n)) this.deliverPending(n);
      }
    }
  }

  // ---- BAR MMIO (offsets relative to the BAR base) ---------------------------------------------------------------

  read(offset: number, size: AccessSize): bigint {
    if (!this.validAccess(offset, size)) return size === 8 ? 0xffffffffffffffffn : BigInt(2 ** (8 * size) - 1);
    const lo = this.readDword(offset);
    if (size === 4) return BigInt(lo);
    return (BigInt(this.readDword(offset + 4)) << 32n) | BigInt(lo);
  }

  write(offset: number, size: AccessSize, value: bigint): void {
    if (!this.validAccess(offset, size)) return;
    this.writeDword(offset, Number(value & 0xffffffffn));
    if (size === 8) this.writeDword(offset + 4, Number((value >> 32n) & 0xffffffffn));
  }

  /**
   * "For all accesses to MSI-X Table and MSI-X PBA fields, software must use aligned full DWORD or aligned full QWORD
   * transactions; otherwise, the result is undefined." We ignore such writes and read all ones, and say so in the
   * trace (`msix_bad_access` is irqpath's own hop name).
   */
  private validAccess(offset: number, size: number): boolean {
    if ((size === 4 || size === 8) && offset % size === 0) return true;
    if (this.events.active) this.events.hop('irqpath_msix_bad_access', [['bdf', this.label], ['offset', offset], ['size', size]]);
    return false;
  }

  private readDword(offset: number): number {
    const t = offset - this.tableOffset;
    if (t >= 0 && t < this.entries * MSIX_ENTRY_SIZE) return this.table[t >>> 2];
    const p = offset - this.pbaOffset;
    if (p >= 0 && p < this.pbaBytes) {
      const w = p >>> 2;
      return w < this.pba.length ? this.pba[w] : 0;
    }
    return 0; // nothing else in the BAR
  }

  private writeDword(offset: number, value: number): void {
    const t = offset - this.tableOffset;
    if (t < 0 || t >= this.entries * MSIX_ENTRY_SIZE) return; // PBA and the rest of the BAR: writes ignored
    const index = t >>> 2;
    const word = index & 3;
    // Address bits 1:0 must be written as 0 (DWORD aligned) and vector control bits 31:1 are reserved: both RO 0.
    const stored = word === WORD_LOWER_ADDR ? value & 0xfffffffc : word === WORD_VECTOR_CTRL ? value & MSIX_ENTRY_CTRL_MASKBIT : value;
    this.table[index] = stored >>> 0;
    const n = index >>> 2;
    if (this.isPending(n) && !this.isMasked(n)) this.deliverPending(n);
    if (this.entryWritten !== null) this.entryWritten(n);
  }

  /**
   * Told after every write to table entry n. A VMM's virtual MSI-X table uses it to trap the guest's programming
   * (QEMU's msix_handle_mask_update / vector notifiers); a physical device has none.
   */
  entryWritten: ((n: number) => void) | null = null;

  // ---- Sending ------------------------------------------------------------------------------------------------------

  private deliverPending(n: number): void {
    this.pba[n >>> 5] &= ~(1 << (n & 31));
    this.events.beginFlow();
    this.send(n);
  }

  private send(n: number): void {
    const i = n * 4;
    const addrLo = this.table[i];
    const addrHi = this.table[i + 1];
    const data = this.table[i + 2];
    if (this.events.active) {
      this.events.hop('irqpath_msix_notify', [['bdf', this.label], ['vector', n], ['addr', (BigInt(addrHi) << 32n) | BigInt(addrLo)], ['data', data]]);
    }
    this.sink.sendInterrupt('msix', n, addrHi, addrLo, data, this.slots[n]);
  }

  // ---- Inspection and state -----------------------------------------------------------------------------------------

  entry(n: number): InterruptMessageReport {
    if (!Number.isInteger(n) || n < 0 || n >= this.entries) {
      throw new UsageError(`${this.label}: MSI-X entry ${showValue(n)} is out of range (the table has ${this.entries} entries)`);
    }
    const i = n * 4;
    return {
      addr: (BigInt(this.table[i + 1]) << 32n) | BigInt(this.table[i]),
      data: this.table[i + 2],
      masked: this.isMasked(n),
      pending: this.isPending(n),
    };
  }

  routeSlot(n: number): RouteSlot {
    return this.slots[n];
  }

  saveTable(): MsixTableState {
    const table: number[][] = [];
    const pending: number[] = [];
    for (let n = 0; n < this.entries; n++) {
      table.push(Array.from(this.table.subarray(n * 4, n * 4 + 4)));
      if (this.isPending(n)) pending.push(n);
    }
    return { table, pending };
  }

  /** Check a saved table; returns the decoded arrays or throws UsageError naming the field. */
  decodeTable(state: unknown, where: string): { table: Uint32Array; pba: Uint32Array } {
    const bad = (why: string): never => {
      throw new UsageError(`${where}: ${why}`);
    };
    if (typeof state !== 'object' || state === null) bad('MSI-X state is missing');
    const s = state as Record<string, unknown>;
    if (!Array.isArray(s.table) || s.table.length !== this.entries) bad(`msix.table must have ${this.entries} entries`);
    if (!Array.isArray(s.pending)) bad('msix.pending must be an array of vector numbers');
    const table = new Uint32Array(this.entries * 4);
    (s.table as unknown[]).forEach((entry, n) => {
      if (!Array.isArray(entry) || entry.length !== 4 || !entry.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) {
        bad(`msix.table[${n}] must be [addrLo, addrHi, data, vectorControl] as 32-bit unsigned integers`);
      }
      const [lo, hi, data, ctrl] = entry as number[];
      if (lo & 3) bad(`msix.table[${n}]: address bits 1:0 are always 0`);
      if (ctrl & ~MSIX_ENTRY_CTRL_MASKBIT) bad(`msix.table[${n}]: vector control bits 31:1 are reserved (0)`);
      table.set([lo, hi, data, ctrl], n * 4);
    });
    const pba = new Uint32Array(this.pba.length);
    for (const n of s.pending as unknown[]) {
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= this.entries) bad(`msix.pending: ${String(n)} is not a vector 0..${this.entries - 1}`);
      // A PBA bit is set or clear: a vector listed twice is not a state the PBA can hold (and would be lost).
      if (pba[(n as number) >>> 5] & (1 << ((n as number) & 31))) bad(`msix.pending: vector ${String(n)} is listed twice`);
      pba[(n as number) >>> 5] |= 1 << ((n as number) & 31);
    }
    return { table, pba };
  }

  /** Install a decoded table (config space must already hold the restored control word). Sends nothing. */
  applyTable(decoded: { table: Uint32Array; pba: Uint32Array }): void {
    this.table.set(decoded.table);
    this.pba.set(decoded.pba);
    this.functionMasked = this.computeFunctionMasked();
    for (const slot of this.slots) slot.invalidate();
  }
}
