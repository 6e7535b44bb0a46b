/**
 * What the VT-d and AMD-Vi replays of a QEMU trace (qemu-trace-replay.ts, amd-trace-replay.ts) share: the shape of an
 * outcome, reading the message QEMU hands on, and comparing QEMU's outcome with hardware's.
 */
import { DELIVERY_MODE_NAMES } from '../msi/interrupt.ts';
import type { TraceLogEvent } from './qemu-trace-log.ts';
import type { TranslationResult } from '../msi/translation-result.ts';

/** An interrupt as it reaches the APICs. */
export interface ReplayDelivery {
  dest: number;
  destMode: 'physical' | 'logical';
  vector: number;
  deliveryMode: string;
  trigger: 'edge' | 'level';
}

export interface ReplayOutcome {
  kind: 'remapped' | 'passed' | 'blocked';
  /** One line for people. */
  summary: string;
  /** The message handed on (QEMU's `-> (addr, data)`); absent when blocked. */
  message?: { addr: bigint; data: number };
  delivery?: ReplayDelivery;
  fault?: { code: number; name: string; index: number; recorded: boolean; linuxLog: string | null };
}

export const num = (v: unknown): number => Number(v as bigint);
export const big = (v: unknown): bigint => v as bigint;
const hex = (n: number) => '0x' + n.toString(16);

export function describeDelivery(d: ReplayDelivery): string {
  return `dest 0x${d.dest.toString(16)} ${d.destMode}, vector ${d.vector} (0x${d.vector.toString(16)}), ${d.deliveryMode}, ${d.trigger}`;
}

/**
 * Read a message in the form QEMU hands it to KVM/the APIC (hw/i386/x86-iommu.c x86_iommu_irq_to_msi_message,
 * used by both vIOMMUs: destination 7:0 in address 19:12, 31:8 in address 63:40).
 */
export function deliveryOf(addr: bigint, data: number): ReplayDelivery {
  const dest = (Number((addr >> 12n) & 0xffn) | (Number((addr >> 32n) & 0xffffff00n) >>> 0)) >>> 0;
  return {
    dest,
    destMode: (addr >> 2n) & 1n ? 'logical' : 'physical',
    vector: data & 0xff,
    deliveryMode: DELIVERY_MODE_NAMES[(data >>> 8) & 7],
    trigger: (data >>> 15) & 1 ? 'level' : 'edge',
  };
}

/** The interrupt a model translation delivered. */
export function deliveryFromResult(msg: TranslationResult['msg']): ReplayDelivery {
  return {
    dest: msg.dest >>> 0,
    destMode: msg.destMode ? 'logical' : 'physical',
    vector: msg.vector,
    deliveryMode: DELIVERY_MODE_NAMES[msg.deliveryMode],
    trigger: msg.trigger ? 'level' : 'edge',
  };
}

/** What QEMU did, from its closing `*_remap_msi (request) -> (result)` line (null: it refused the request). */
export function qemuOutcomeFromResult(result: TraceLogEvent | null, refused: string, passedWhy: string | null): ReplayOutcome {
  if (!result) return { kind: 'blocked', summary: refused };
  const message = { addr: big(result.values.addr2), data: num(result.values.data2) };
  const delivery = deliveryOf(message.addr, message.data);
  if (passedWhy !== null) {
    return { kind: 'passed', summary: `passed through unchanged (${passedWhy}): ${describeDelivery(delivery)}`, message, delivery };
  }
  return { kind: 'remapped', summary: `remapped to ${describeDelivery(delivery)}`, message, delivery };
}

/** Field-by-field differences of two delivered interrupts, each with the reason when the caller knows it. */
export function deliveryDifferences(a: ReplayDelivery, b: ReplayDelivery, why: Partial<Record<keyof ReplayDelivery, string>> = {}): string[] {
  const out: string[] = [];
  const tail = (k: keyof ReplayDelivery) => (why[k] ? ` (${why[k]})` : '');
  if (a.dest !== b.dest) out.push(`destination: QEMU ${hex(a.dest)}, hardware ${hex(b.dest)}${tail('dest')}`);
  if (a.destMode !== b.destMode) out.push(`destination mode: QEMU ${a.destMode}, hardware ${b.destMode}${tail('destMode')}`);
  if (a.vector !== b.vector) out.push(`vector: QEMU ${a.vector}, hardware ${b.vector}${tail('vector')}`);
  if (a.deliveryMode !== b.deliveryMode) out.push(`delivery mode: QEMU ${a.deliveryMode}, hardware ${b.deliveryMode}${tail('deliveryMode')}`);
  if (a.trigger !== b.trigger) out.push(`trigger mode: QEMU ${a.trigger}, hardware ${b.trigger}${tail('trigger')}`);
  return out;
}

/** Same kind and, when delivered, the same interrupt. */
export function sameOutcome(a: ReplayOutcome, b: ReplayOutcome): boolean {
  if (a.kind !== b.kind) return false;
  if (!a.delivery || !b.delivery) return a.delivery === b.delivery;
  return deliveryDifferences(a.delivery, b.delivery).length === 0;
}

/** A log line in upstream QEMU's format (a patched QEMU's extra arguments dropped), for comparing with irqpath's. */
export function withoutExtra(ev: TraceLogEvent): string {
  const keys = Object.keys(ev.extra);
  if (keys.length === 0) return ev.text;
  const tail = keys.map((k) => (ev.extra[k] === '' ? k : `${k} ${ev.extra[k]}`)).join(' ');
  return ev.text.endsWith(' ' + tail) ? ev.text.slice(0, -(tail.length + 1)) : ev.text;
}
