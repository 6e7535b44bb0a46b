/**
 * Every request of every recorded QEMU 7.2 + Linux 6.1 boot (test/fixtures/qemu-recordings/NAME; provenance.json in
 * each directory gives the command line, versions and date) replayed: each ends as QEMU ended it — 0 false
 * divergences — irqpath's lines for it are QEMU's over the events the trace holds, and for VT-d irqpath's model of
 * QEMU (the `qemu` profile) did what QEMU did. Counts are read off the raw trace with plain text matching, not from
 * irqpath. `npm test` reads the trimmed trace.log (every distinct request kept, qemu-trace-trim.ts); with
 * IRQPATH_FULL_TRACES=1 it reads the whole trace-full.log.gz (0.4–1.3 M lines each, about 20 s of CPU for all).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { QemuTraceReplay, type ReplayedRequest } from '../../src/tools/qemu-trace-replay.ts';

const root = new URL('../fixtures/qemu-recordings/', import.meta.url).pathname;
const full = process.env.IRQPATH_FULL_TRACES === '1';
const file = full ? 'trace-full.log.gz' : 'trace.log';
const recordings = existsSync(root) ? readdirSync(root).filter((n) => existsSync(`${root}${n}/${file}`)).sort() : [];

describe.each(recordings)(`recording %s, ${file}`, (name) => {
  it('every request ends as QEMU ended it; irqpath prints QEMU\'s lines; the qemu profile does what QEMU did', () => {
    const raw = readFileSync(`${root}${name}/${file}`);
    const text = (full ? gunzipSync(raw) : raw).toString('utf8');
    let requests = 0;
    let passed = 0;
    let remapped = 0;
    for (const m of text.matchAll(/^(?:vtd|amdvi)_ir_remap_msi(_req)? (?:\(addr (\w+), data (\w+)\) -> \(addr (\w+), data (\w+)\))?/gm)) {
      if (m[1]) requests++;
      else if (m[2] !== undefined) (m[2] === m[4] && m[3] === m[5] ? passed++ : remapped++);
    }
    const replay = new QemuTraceReplay();
    for (let i = 0; i < text.length; i += 1 << 20) replay.push(text.slice(i, i + (1 << 20)));
    const report = replay.finish();
    expect(report.summary.lines).toBe(text.split('\n').length - (text.endsWith('\n') ? 1 : 0));
    expect(report.summary.requests).toBe(requests);
    expect(report.summary.cutOff).toEqual([]);
    const qemuKinds = { passed: 0, remapped: 0, blocked: 0 };
    for (const g of report.groups) qemuKinds[g.request.qemu.kind] += g.count;
    expect(qemuKinds).toEqual({ passed, remapped, blocked: requests - passed - remapped });
    expect(report.summary.diverging).toBe(0);
    for (const g of report.groups) {
      expect(g.trace.same, `line ${g.firstLine}`).toBe(true);
      if (g.unit === 'intel-vtd') expect((g.request as ReplayedRequest).qemuProfile.matchesLog, `line ${g.firstLine}`).toBe(true);
    }
  });
});
