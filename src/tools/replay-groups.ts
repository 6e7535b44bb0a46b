/**
 * Identical requests of a replayed QEMU trace, replayed once and counted. A real boot repeats a handful of requests
 * thousands of times (the timer's I/O APIC pin, one MSI-X vector per queue); two requests are identical when
 * everything the replay reads is — the unit's state as the log showed it then and the request's own lines, as QEMU
 * printed them — so they end identically, and the replay of the first stands for all (count, first and last line).
 *
 * This is also what keeps a replay linear and its memory flat: the work and the storage grow with the number of
 * distinct requests, not with the log.
 */

/** One distinct request and how often the log made it. */
export interface ReplayGroup<R> {
  unit: 'intel-vtd' | 'amd-vi';
  /** How many requests of the log are this one. */
  count: number;
  firstLine: number;
  lastLine: number;
  /** The replay of the first of them (its `line` is `firstLine`). */
  request: R;
}

/** The part of a replayed request the summary reads. */
export interface Summarised {
  /** e.g. `VT-d remappable` or `AMD-Vi fixed`: what kind of request. */
  kind: string;
  qemu: { kind: string };
  hardware: { kind: string };
  divergences: string[];
}

export interface ReplaySummary {
  /** Lines of the log. */
  lines: number;
  /** Interrupt requests in the log (each `*_remap_msi_req` line). */
  requests: number;
  /** Requests hardware ends as QEMU did. */
  asOnHardware: number;
  /** Requests where hardware differs from what QEMU did. */
  diverging: number;
  /** Distinct requests (groups). */
  distinct: number;
  /** Requests by kind and by the two outcomes: `VT-d remappable: QEMU remapped, hardware remapped` → count. */
  byKind: Record<string, number>;
  /** Diverging requests by the first difference named. */
  divergences: Record<string, number>;
  /**
   * Lines of requests the log ends in the middle of (QEMU had read a valid entry, so the closing line was still to
   * come): not replayed, as what QEMU did with them is not in the log.
   */
  cutOff: number[];
}

export class ReplayGroups<R extends Summarised> {
  private readonly byKey = new Map<string, ReplayGroup<R>>();
  private readonly list: ReplayGroup<R>[] = [];

  /** Called once per distinct request that diverges, as soon as it is replayed (the stream's progress output). */
  constructor(private readonly onNewDivergent?: (group: ReplayGroup<R>) => void) {}

  /**
   * Count `count` requests (lines first..last) with this key; replay the first only (`replay` is called only for a
   * key not seen before).
   */
  add(unit: ReplayGroup<R>['unit'], key: string, firstLine: number, lastLine: number, count: number, replay: () => R): void {
    const full = unit + '\n' + key;
    const known = this.byKey.get(full);
    if (known) {
      known.count += count;
      if (firstLine < known.firstLine) known.firstLine = firstLine;
      if (lastLine > known.lastLine) known.lastLine = lastLine;
      return;
    }
    const group: ReplayGroup<R> = { unit, count, firstLine, lastLine, request: replay() };
    this.byKey.set(full, group);
    this.list.push(group);
    if (group.request.divergences.length > 0) this.onNewDivergent?.(group);
  }

  /** The groups in the order of their first request. */
  groups(): ReplayGroup<R>[] {
    return [...this.list].sort((a, b) => a.firstLine - b.firstLine);
  }

  summary(lines: number): ReplaySummary {
    const s: ReplaySummary = { lines, requests: 0, asOnHardware: 0, diverging: 0, distinct: this.list.length, byKind: {}, divergences: {}, cutOff: [] };
    for (const g of this.groups()) {
      const r = g.request;
      s.requests += g.count;
      const kind = `${r.kind}: QEMU ${r.qemu.kind}, hardware ${r.hardware.kind}`;
      s.byKind[kind] = (s.byKind[kind] ?? 0) + g.count;
      if (r.divergences.length === 0) {
        s.asOnHardware += g.count;
      } else {
        s.diverging += g.count;
        s.divergences[r.divergences[0]] = (s.divergences[r.divergences[0]] ?? 0) + g.count;
      }
    }
    return s;
  }
}
