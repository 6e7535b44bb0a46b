/**
 * Shortening a recorded QEMU trace for the fixtures while keeping what replay and the checks read. A boot's trace is
 * dominated by a few repeating things — the serial port's interrupt for every burst of console output, the PIT, EOIs —
 * so the trim keeps:
 *  - every line of every event not listed below (remapping-table reads of new requests, register writes, invalidation
 *    descriptors, IEC notifications, MSI/MSI-X and config-space writes…);
 *  - the first `requestsPerKey` interrupt requests of each distinct request line (`vtd_ir_remap_msi_req …` or
 *    `amdvi_ir_remap_msi_req …`, same address and data), each with all the lines of its block, and drops later
 *    identical ones whole;
 *  - the first `linesPerBulkEvent` lines of each bulk event (pin level changes, LAPIC register accesses, deliveries).
 * What was dropped is returned in words for provenance.json. Browser-safe: strings in, strings out.
 */

export interface TrimOptions {
  requestsPerKey: number;
  linesPerBulkEvent: number;
}

export interface TrimResult {
  text: string;
  lines: number;
  keptLines: number;
  dropped: string[];
}

/** Events with a line per pin change, register access or delivery: many thousands in every boot. */
export const BULK_EVENTS: ReadonlySet<string> = new Set([
  'pic_set_irq',
  'pic_update_irq',
  'pic_interrupt',
  'ioapic_set_irq',
  'apic_report_irq_delivered',
  'apic_reset_irq_delivered',
  'apic_get_irq_delivered',
  'apic_deliver_irq',
  'apic_local_deliver',
  'apic_mem_writel',
  'apic_mem_readl',
  'pci_cfg_read',
]);

const REQUEST_START = /^(vtd_ir_remap_msi_req|amdvi_ir_remap_msi_req)\b/;
/**
 * The AMD unit's interrupt window logs the write before the request (amdvi_mem_ir_write_req, then amdvi_int_remap_msi
 * logs amdvi_ir_remap_msi_req) and the forwarded message after it (amdvi_mem_ir_write): both belong to the block.
 */
const REQUEST_PREAMBLE = /^amdvi_mem_ir_write_req\b/;
/** Lines that belong to the request before them: the unit's own remapping events and the delivery of the result. */
const REQUEST_BODY = /^(vtd_ir_|vtd_warn_ir|vtd_err_|amdvi_ir_|amdvi_mem_ir_write |apic_deliver_irq|apic_report_irq_delivered)/;

/** The trace line without the log backend's optional `pid@seconds:` prefix. */
export function traceLineBody(line: string): string {
  const m = /^\d+@\d+\.\d+:(.*)$/.exec(line);
  return m ? m[1]! : line;
}

/**
 * The trim one line at a time, for traces too large to hold as one string (a 128-vCPU boot writes gigabytes of
 * `apic_local_deliver`): push every line, kept lines go to `keep` as they are decided, then `end()`.
 * A request block is held until its end is seen; nothing else is buffered.
 */
export class TraceTrimmer {
  private lineNo = 0;
  private keptLines = 0;
  private pending: string | undefined; // an amdvi_mem_ir_write_req that may open the next block
  private pendingNo = 0;
  private block: { key: string; lines: string[]; first: number } | undefined;
  private readonly perKey = new Map<string, { seen: number; dropped: number; first?: number; last?: number }>();
  private readonly perEvent = new Map<string, { seen: number; dropped: number }>();

  constructor(
    private readonly o: TrimOptions,
    private readonly keep: (line: string) => void,
  ) {}

  push(line: string): void {
    this.lineNo++;
    const body = traceLineBody(line);
    if (this.pending !== undefined) {
      const p = this.pending;
      this.pending = undefined;
      if (REQUEST_START.test(body)) {
        this.closeBlock();
        this.block = { key: body, lines: [p, line], first: this.pendingNo };
        return;
      }
      this.closeBlock();
      this.single(p);
    }
    if (this.block && !REQUEST_START.test(body) && !REQUEST_PREAMBLE.test(body) && REQUEST_BODY.test(body)) {
      this.block.lines.push(line);
      return;
    }
    if (REQUEST_PREAMBLE.test(body)) {
      this.pending = line;
      this.pendingNo = this.lineNo;
      return;
    }
    this.closeBlock();
    if (REQUEST_START.test(body)) this.block = { key: body, lines: [line], first: this.lineNo };
    else this.single(line);
  }

  end(): { lines: number; keptLines: number; dropped: string[] } {
    if (this.pending !== undefined) {
      this.closeBlock();
      this.single(this.pending);
      this.pending = undefined;
    }
    this.closeBlock();
    const dropped: string[] = [];
    for (const [key, k] of this.perKey)
      if (k.dropped > 0) dropped.push(`${k.dropped} of ${k.seen} requests '${key}' after the first ${this.o.requestsPerKey} (original lines ${k.first}–${k.last}), each with its block`);
    for (const [event, e] of this.perEvent)
      if (e.dropped > 0) dropped.push(`${e.dropped} of ${e.seen} ${event} lines outside request blocks after the first ${this.o.linesPerBulkEvent}`);
    return { lines: this.lineNo, keptLines: this.keptLines, dropped };
  }

  private emit(line: string): void {
    this.keptLines++;
    this.keep(line);
  }

  private closeBlock(): void {
    const b = this.block;
    if (!b) return;
    this.block = undefined;
    const k = this.perKey.get(b.key) ?? this.perKey.set(b.key, { seen: 0, dropped: 0 }).get(b.key)!;
    k.seen++;
    if (k.seen <= this.o.requestsPerKey) for (const l of b.lines) this.emit(l);
    else {
      k.dropped++;
      k.first ??= b.first;
      k.last = b.first;
    }
  }

  private single(line: string): void {
    const event = traceLineBody(line).split(/\s/, 1)[0]!;
    if (!BULK_EVENTS.has(event)) return this.emit(line);
    const e = this.perEvent.get(event) ?? this.perEvent.set(event, { seen: 0, dropped: 0 }).get(event)!;
    e.seen++;
    if (e.seen <= this.o.linesPerBulkEvent) this.emit(line);
    else e.dropped++;
  }
}

export function trimTrace(text: string, o: TrimOptions): TrimResult {
  const kept: string[] = [];
  const t = new TraceTrimmer(o, (l) => kept.push(l));
  const all = text.split('\n');
  if (all.length > 0 && all[all.length - 1] === '') all.pop();
  for (const line of all) t.push(line);
  const r = t.end();
  return { text: kept.join('\n') + (kept.length ? '\n' : ''), ...r };
}
