/**
 * Rendering scenario results for people (a readable text report) and for tools (JSON with 64-bit values as hex
 * strings, since JSON has no bigint).
 */
import type { ScenarioResult, SourceResult } from './run-scenario.ts';

/** The text styles the reports use. What they look like is the caller's choice (terminal colours, HTML, nothing). */
export type TextStyle = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';
/** Applies a style to a piece of text; the CLI passes one built on `util.styleText` when colour is wanted. */
export type Painter = (style: TextStyle, text: string) => string;
/** No styling at all. */
export const plain: Painter = (_style, text) => text;

export interface ReportStyle {
  paint: Painter;
  trace: boolean;
}

function paint(style: ReportStyle, code: TextStyle, text: string): string {
  return style.paint(code, text);
}

function verdictLabel(r: ScenarioResult, style: ReportStyle): string {
  if (r.verdict === 'REPRODUCED') return paint(style, 'yellow', 'REPRODUCED');
  if (r.verdict === 'FIXED') return paint(style, 'green', 'FIXED');
  return paint(style, 'red', 'UNEXPECTED');
}

function hex(n: number | bigint): string {
  return '0x' + n.toString(16);
}

function programmedAs(s: SourceResult): string {
  const p = s.programmed;
  if (p.status === 'refused') return `refused (${p.note ?? 'no reason given'})`;
  const where = `CPU ${p.cpu} (APIC ${hex(p.apicId)}) vector ${hex(p.vector)}`;
  const msg = p.message ? `addr ${hex(p.message.addr)} data ${hex(p.message.data)}` : '';
  const extra = [p.encoding, msg, p.rte !== undefined ? `RTE ${hex(p.rte)}` : '', p.irteIndex !== undefined ? `IRTE ${p.irteIndex}` : '', p.pirq !== undefined ? `PIRQ ${p.pirq}` : '']
    .filter(Boolean)
    .join(', ');
  return `${where} — ${extra}${p.note ? ` (${p.note})` : ''}`;
}

function describeSource(s: SourceResult): string {
  const src = s.source;
  if (src.kind === 'ioapic') return `I/O APIC pin ${src.pin} ${src.trigger ?? 'edge'}${src.polarity === 'low' ? ' active-low' : ''}`;
  const via = src.via === undefined || src.via === 'ioapic' ? '' : ` via ${src.via === 'extint' ? 'the 8259 and LINT0 (ExtINT)' : 'the 8259 and LINT0 (Fixed)'}`;
  if (src.kind === 'isa') return `ISA IRQ ${src.irq}${via}`;
  if (src.kind === 'intx') return `${src.device} INTx`;
  if (src.kind === 'lapic-timer') return `LAPIC timer, ${src.mode}, period ${src.period} ns, vector ${hex(src.vector ?? 0)}`;
  if (src.kind === 'rtc') return `MC146818 RTC, ${src.mode === 'update' ? 'update-ended interrupt' : `periodic, rate select ${src.rate}`}${via}`;
  if (src.kind === 'hpet') return `HPET timer 0, ${src.mode}, ${src.period} ns, legacy replacement route (IRQ0)`;
  if (src.kind === 'pit') return `8254 counter 0, ${src.mode}, count ${src.count}${via}`;
  return `${src.device} ${src.kind.toUpperCase()} vector ${src.vector ?? 0}`;
}

/** Distinct boot-log lines shown before the rest is summarised as "… N more lines". */
const BOOT_LOG_LINES = 12;

/**
 * The boot log as the report shows it: each distinct line once, in order, with its real text (so a grep for the
 * kernel's line finds it) and "(×N)" after it when it repeats; the first 12 distinct lines, then a count of the rest,
 * except that a repeated line (the kernel's "ACPI: x2apic entry ignored" once per CPU above the limit) is always shown.
 */
export function bootLogExcerpt(bootLog: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const l of bootLog) counts.set(l, (counts.get(l) ?? 0) + 1);
  const distinct = [...counts.keys()];
  const shown = (l: string) => (counts.get(l)! > 1 ? `${l}  (×${counts.get(l)})` : l);
  const out = distinct.slice(0, BOOT_LOG_LINES).map(shown);
  const rest = distinct.slice(BOOT_LOG_LINES);
  const repeated = rest.filter((l) => counts.get(l)! > 1);
  const hidden = rest.length - repeated.length;
  if (hidden > 0) out.push(`… ${hidden} more line${hidden === 1 ? '' : 's'}`);
  out.push(...repeated.map(shown));
  return out;
}

export function renderScenario(r: ScenarioResult, style: ReportStyle): string {
  const s = r.scenario;
  const name = s.variant ? `${s.id} [${s.variant}]` : s.id;
  const lines: string[] = [];
  lines.push(`${paint(style, 'bold', '━━ ' + name)}  ${verdictLabel(r, style)}  ${paint(style, 'dim', `(${r.durationMs.toFixed(0)} ms)`)}`);
  lines.push(`   ${s.title}`);
  if (r.error) {
    lines.push(`   ${paint(style, 'red', 'run failed: ' + r.error)}`);
    return lines.join('\n');
  }
  lines.push(`   machine: ${r.machine}`);
  lines.push(`   guest:   ${r.guest}; ${r.onlineCpus} CPUs online`);
  const decisions = Object.entries(r.decisions).map(([k, v]) => `${k}=${v}`).join(', ');
  if (decisions) lines.push(`   decided: ${decisions}`);
  for (const l of bootLogExcerpt(r.bootLog)) lines.push(paint(style, 'dim', `   | ${l}`));
  for (const c of r.checks) lines.push(`   ${c.ok ? paint(style, 'green', '✓') : paint(style, 'red', '✗')} ${c.what}: ${c.detail}`);
  for (const src of r.sources) {
    const mark = src.ok ? paint(style, 'green', '✓') : paint(style, 'red', '✗');
    lines.push(`   ${mark} ${paint(style, 'cyan', src.source.id)}: ${describeSource(src)}, driver asked for CPU ${src.source.cpu}`);
    lines.push(`       programmed: ${programmedAs(src)}`);
    lines.push(`       expected:   ${src.expected}`);
    lines.push(`       actual:     ${src.actual}`);
    if (style.trace) for (const t of src.trace) lines.push(paint(style, 'dim', `         ${t}`));
  }
  for (const d of r.dma ?? []) {
    const mark = d.ok ? paint(style, 'green', '✓') : paint(style, 'red', '✗');
    const map = d.request.map === 'none' ? 'no mapping' : `IOVA 0x${d.request.iova.toString(16)} mapped ${d.request.map}${d.physical === null ? '' : ` → buffer 0x${d.physical.toString(16)}`}`;
    lines.push(`   ${mark} ${paint(style, 'cyan', d.request.id)}: ${d.request.device} DMA write 0x${d.request.value.toString(16)} to 0x${d.request.address.toString(16)} (${map})`);
    lines.push(`       expected:   ${d.expected}`);
    lines.push(`       actual:     ${d.actual}`);
    for (const l of d.linuxLog) lines.push(`       Linux:      ${l}`);
  }
  if (r.reservedRegions?.length) {
    lines.push('   IOMMU reserved regions (/sys/kernel/iommu_groups/*/reserved_regions):');
    for (const l of r.reservedRegions) lines.push(`     ${l}`);
  }
  const faults = [...new Set(r.faultLog)];
  if (faults.length) {
    lines.push('   IOMMU fault records (in Linux\'s log format):');
    for (const f of faults.slice(0, 8)) lines.push(`     ${f}`);
    if (faults.length > 8) lines.push(`     … ${faults.length - 8} more`);
  }
  if (r.runtimeLog.length) {
    lines.push('   guest kernel log after boot:');
    for (const l of r.runtimeLog.slice(0, 8)) lines.push(`     ${l}`);
    if (r.runtimeLog.length > 8) lines.push(`     … ${r.runtimeLog.length - 8} more`);
  }
  if (r.vmmRoutes && r.vmmCounters) {
    const c = r.vmmCounters;
    lines.push(`   VMM: ${c.translations} translations, ${c.evictions} evictions, ${c.injections} injections, ${c.posted} posted, ${c.wakeups} wake-ups, ${c.faults} guest-visible faults${c.nativeRemaps > 0 ? `, ${c.nativeRemaps} native messages remapped by source-id (hypothetical IOMMU)` : ''}${c.resamples > 0 ? `, ${c.resamples} INTx resamples (${c.resent} re-sent while still asserted)` : ''}`);
    for (const x of r.vmmRoutes.slice(0, 8)) {
      const target = x.target ? `vCPU ${x.target.vcpus.join(',') || '-'} vector 0x${x.target.vector.toString(16)}` : x.lastOutcome;
      const host = x.posted ? `posted to vCPU ${x.posted.vcpu} (${x.posted.gaTag !== undefined ? `vAPIC backing page ${x.posted.backingPage}, GA tag ${x.posted.gaTag}` : `descriptor ${x.posted.descriptor}`})` : x.host ? `host CPU ${x.host.cpu} vector 0x${x.host.vector.toString(16)}${x.host.irte === null ? '' : `, IRTE ${x.host.irte}`}` : 'no host vector';
      lines.push(`     ${x.guest.bdf} ${x.guest.kind} ${x.guest.index} (${x.guest.addr}/${x.guest.data}) → ${target} [${x.state}, cookie ${x.cookie}] via ${host}`);
    }
    if (r.vmmRoutes.length > 8) lines.push(`     … ${r.vmmRoutes.length - 8} more routes`);
  }
  return lines.join('\n');
}

/** "36 scenario runs: 14 reproduced, 22 fixed, 0 unexpected in 0.45 s" (one line, the total of every run). */
export function renderSummary(results: ScenarioResult[], style: ReportStyle): string {
  const count = (v: string) => results.filter((r) => r.verdict === v).length;
  const total = results.reduce((t, r) => t + r.durationMs, 0);
  const runs = `${results.length} scenario run${results.length === 1 ? '' : 's'}`;
  return `${runs}: ${paint(style, 'yellow', count('REPRODUCED') + ' reproduced')}, ${paint(style, 'green', count('FIXED') + ' fixed')}, ${paint(style, count('UNEXPECTED') ? 'red' : 'green', count('UNEXPECTED') + ' unexpected')} in ${(total / 1000).toFixed(2)} s`;
}

/** One line per run — verdict, name, title — and the total: what a report opens with. */
export function renderSummaryTable(results: ScenarioResult[], style: ReportStyle): string {
  const names = results.map((r) => (r.scenario.variant ? `${r.scenario.id} [${r.scenario.variant}]` : r.scenario.id));
  const width = Math.max(0, ...names.map((n) => n.length));
  const lines = results.map((r, i) => `  ${verdictLabel(r, style)}${' '.repeat(10 - r.verdict.length)}  ${names[i].padEnd(width)}  ${paint(style, 'dim', r.scenario.title)}`);
  return [renderSummary(results, style), ...lines].join('\n');
}

/** JSON-safe copy: bigints become hex strings. */
export function toJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v)));
}

export function resultsToJson(results: ScenarioResult[]): unknown {
  return toJson(
    results.map((r) => ({
      id: r.scenario.id,
      variant: r.scenario.variant,
      title: r.scenario.title,
      verdict: r.verdict,
      error: r.error,
      machine: r.machine,
      guest: r.guest,
      onlineCpus: r.onlineCpus,
      decisions: r.decisions,
      bootLog: r.bootLog,
      runtimeLog: r.runtimeLog,
      ...(r.vmmRoutes ? { vmm: { counters: r.vmmCounters, routes: r.vmmRoutes }, hostLog: r.hostLog } : {}),
      checks: r.checks,
      sources: r.sources.map((s) => ({
        id: s.source.id,
        ok: s.ok,
        request: s.source,
        programmed: s.programmed,
        expected: s.expected,
        actual: s.actual,
        deliveries: s.observed.deliveries,
        faults: s.observed.faults.map((f) => ({ unit: f.unit, code: f.code, name: f.name, index: f.index, recorded: f.recorded, linuxLog: f.linuxLog, sourceId: f.sourceId })),
        memoryWrites: s.observed.memoryWrites,
        pirqs: s.observed.pirqs,
        trace: s.trace,
      })),
      ...(r.dma ? { dma: r.dma, reservedRegions: r.reservedRegions } : {}),
      faultLog: r.faultLog,
      durationMs: Math.round(r.durationMs),
    })),
  );
}
