/**
 * Strict restore, by generation: take valid snapshots of busy machines (Intel and AMD remapping, a Linux guest, MSI-X
 * programmed and pending), corrupt one place of their JSON form at a time — drop a field, duplicate it under a new
 * name, change its type, extend or shrink an array, add a field — and restore. Every corruption must end in one of
 * two ways: refused with a UsageError that leaves the machine exactly as it was, or accepted, in which case the
 * machine must now hold exactly what it was given (its own snapshot equals the input): nothing dropped, nothing
 * invented.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import { createGuest } from '../../src/guest/create-guest.ts';
import { UsageError } from '../../src/core/errors.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const json = (v: unknown): Json => JSON.parse(JSON.stringify(v)) as Json;

function busyMachine(kind: 'intel' | 'amd'): Machine {
  const m = createMachine({ cpus: 4, iommu: { kind }, devices: [{ bdf: '00:03.0', msix: { entries: 4 } }, { bdf: '00:04.0', msi: { vectors: 2, perVectorMask: true } }] });
  const guest = createGuest(m, { os: 'linux' });
  guest.boot();
  m.memory.write32(0x40_0000, 0x1234);
  m.cpu(2).lapic.tpr = 0x20;
  return m;
}

/** Every path to a node (object field or array element) of the JSON tree, with the node. */
function nodes(tree: Json, path: (string | number)[] = []): { path: (string | number)[]; value: Json }[] {
  const out = [{ path, value: tree }];
  if (Array.isArray(tree)) tree.forEach((v, i) => out.push(...nodes(v, [...path, i])));
  else if (tree !== null && typeof tree === 'object') for (const [k, v] of Object.entries(tree)) out.push(...nodes(v, [...path, k]));
  return out;
}

function parentOf(tree: Json, path: (string | number)[]): Json {
  let node = tree;
  for (const key of path.slice(0, -1)) node = (node as Record<string | number, Json>)[key];
  return node;
}

/** Fields the state formats keep optional so that snapshots from before they existed still restore (with defaults). */
const OPTIONAL_FOR_OLDER_SNAPSHOTS = ['devices.iommu.fault.fri', 'devices.iommu.dma', 'devices.iommu.iotlb', 'devices.cpus.0.lintLines', 'devices.cpus.0.timer', 'devices.pit', 'devices.rtc', 'devices.wires.pit', 'devices.wires.rtc'];

const retype = (v: Json): Json => (typeof v === 'number' ? String(v) : typeof v === 'string' ? 7 : typeof v === 'boolean' ? 1 : v === null ? {} : Array.isArray(v) ? {} : []);

const CORRUPTIONS: Record<string, (parent: Json, key: string | number, value: Json) => boolean> = {
  drop: (p, k) => {
    if (Array.isArray(p)) p.splice(k as number, 1);
    else delete (p as Record<string, Json>)[k];
    return true;
  },
  duplicate: (p, k, v) => {
    if (Array.isArray(p)) p.splice(k as number, 0, json(v));
    else (p as Record<string, Json>)[`${k}Copy`] = json(v);
    return true;
  },
  retype: (p, k, v) => {
    (p as Record<string | number, Json>)[k] = retype(v);
    return true;
  },
  extend: (_p, _k, v) => {
    if (Array.isArray(v)) v.push(v.length > 0 ? json(v[0]) : 0);
    else if (v !== null && typeof v === 'object') v.unknownField = 1;
    else return false;
    return true;
  },
  shrink: (_p, _k, v) => {
    if (!Array.isArray(v) || v.length === 0) return false;
    v.pop();
    return true;
  },
};

describe.each(['intel', 'amd'] as const)('every corruption of a %s machine snapshot is refused or held exactly', (kind) => {
  it('drop, duplicate, retype, extend and shrink at every node (RAM pages and LAPICs 1–3 sampled)', () => {
    const m = busyMachine(kind);
    const original = json(m.snapshot());
    // LAPICs 1–3 have the same shape as LAPIC 0 and RAM pages are one kind of node: corrupt a representative each.
    const targets = nodes(original).filter(({ path }) => path.length > 0 && !(path[1] === 'cpus' && typeof path[2] === 'number' && path[2] > 0) && !(path[1] === 'memory' && path.length > 3));
    let refused = 0;
    let held = 0;
    const wrong: string[] = [];
    for (const { path } of targets) {
      for (const [name, corrupt] of Object.entries(CORRUPTIONS)) {
        const input = json(original);
        const key = path[path.length - 1];
        const parent = parentOf(input, path);
        if (!corrupt(parent, key, (parent as Record<string | number, Json>)[key])) continue;
        const before = json(m.snapshot());
        try {
          m.restore(input as never);
        } catch (e) {
          if (!(e instanceof UsageError)) wrong.push(`${name} ${path.join('.')}: ${String(e)}`);
          else if (JSON.stringify(json(m.snapshot())) !== JSON.stringify(before)) wrong.push(`${name} ${path.join('.')}: refused but the machine changed`);
          refused++;
          continue;
        }
        held++;
        // A field documented as optional for snapshots of older versions, or one that was null, may be dropped: the
        // machine then holds its default (the original value here), which is not a loss.
        const dottedPath = path.join('.');
        const optional = name === 'drop' && (OPTIONAL_FOR_OLDER_SNAPSHOTS.includes(dottedPath) || (parentOf(original, path) as Record<string | number, Json>)[key] === null);
        const expected = optional ? original : input;
        if (JSON.stringify(json(m.snapshot())) !== JSON.stringify(expected)) wrong.push(`${name} ${dottedPath}: accepted but the machine does not hold what it was given`);
        m.restore(original as never);
      }
    }
    expect(wrong).toEqual([]);
    expect(refused).toBeGreaterThan(100);
    expect(held).toBeGreaterThan(0);
  }, 120_000);
});
