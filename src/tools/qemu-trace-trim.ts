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

export function trimTrace(text: string, o: TrimOptions): TrimResult {
  const all = text.split('\n');
  if (all.length > 0 && all[all.length - 1] === '') all.pop();
  const kept: string[] = [];
  const perKey = new Map<string, { seen: number; dropped: number; first?: number; last?: number }>();
  const perEvent = new Map<string, { seen: number; dropped: number }>();
  for (let i = 0; i < all.length; ) {
    let body = traceLineBody(all[i]!);
    const start = i;
    if (REQUEST_PREAMBLE.test(body) && i + 1 < all.length && REQUEST_START.test(traceLineBody(all[i + 1]!))) {
      i++;
      body = traceLineBody(all[i]!);
    }
    if (REQUEST_START.test(body)) {
      let end = i + 1;
      while (end < all.length) {
        const b = traceLineBody(all[end]!);
        if (REQUEST_START.test(b) || !REQUEST_BODY.test(b)) break;
        end++;
      }
      const k = perKey.get(body) ?? perKey.set(body, { seen: 0, dropped: 0 }).get(body)!;
      k.seen++;
      if (k.seen <= o.requestsPerKey) kept.push(...all.slice(start, end));
      else {
        k.dropped++;
        k.first ??= start + 1;
        k.last = start + 1;
      }
      i = end;
      continue;
    }
    const event = body.split(/\s/, 1)[0]!;
    if (BULK_EVENTS.has(event)) {
      const e = perEvent.get(event) ?? perEvent.set(event, { seen: 0, dropped: 0 }).get(event)!;
      e.seen++;
      if (e.seen <= o.linesPerBulkEvent) kept.push(all[i]!);
      else e.dropped++;
    } else kept.push(all[i]!);
    i++;
  }
  const dropped: string[] = [];
  for (const [key, k] of perKey)
    if (k.dropped > 0) dropped.push(`${k.dropped} of ${k.seen} requests '${key}' after the first ${o.requestsPerKey} (original lines ${k.first}–${k.last}), each with its block`);
  for (const [event, e] of perEvent)
    if (e.dropped > 0) dropped.push(`${e.dropped} of ${e.seen} ${event} lines outside request blocks after the first ${o.linesPerBulkEvent}`);
  return { text: kept.join('\n') + (kept.length ? '\n' : ''), lines: all.length, keptLines: kept.length, dropped };
}
