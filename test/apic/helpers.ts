/** Shared helpers for the LAPIC / APIC bus tests. */
import { ApicBus } from '../../src/apic/apic-bus.ts';
import type { Lapic } from '../../src/apic/lapic.ts';
import type { LowestPriorityPolicy } from '../../src/apic/lowest-priority.ts';
import { EventHub } from '../../src/core/events.ts';
import { newApicMessage, type ApicMessage } from '../../src/msi/interrupt.ts';

export const APIC_BASE_MSR = 0x1b;
/** IA32_APIC_BASE bits (SDM Fig. 10-26): BSP 8, EXTD 10, EN 11. */
export const BSP = 1n << 8n;
export const EXTD = 1n << 10n;
export const EN = 1n << 11n;
export const DEFAULT_BASE = 0xfee00000n;

export function makeBus(apicIds: number[] = [0, 1, 2, 3], lowestPriority: LowestPriorityPolicy = 'priority') {
  const events = new EventHub();
  const eois: number[] = [];
  const bus = new ApicBus({ apicIds, lowestPriority, events, eoiBroadcast: (v) => eois.push(v) });
  return { bus, events, eois };
}

export function mmioRead(lapic: Lapic, offset: number): number {
  return Number(lapic.read(offset, 4));
}

export function mmioWrite(lapic: Lapic, offset: number, value: number): void {
  lapic.write(offset, 4, BigInt(value >>> 0));
}

/** Software-enable a LAPIC (SVR bit 8) with spurious vector 0xFF, through its current interface. */
export function softwareEnable(lapic: Lapic): void {
  if (lapic.mode === 'x2apic') lapic.wrmsr(0x80f, 0x1ffn);
  else mmioWrite(lapic, 0xf0, 0x1ff);
}

export function enableAll(bus: ApicBus): void {
  for (const lapic of bus.lapics) softwareEnable(lapic);
}

/** xAPIC → x2APIC (EN | EXTD), keeping the BSP bit and base as they are. */
export function enterX2apic(lapic: Lapic): void {
  lapic.wrmsr(APIC_BASE_MSR, lapic.rdmsr(APIC_BASE_MSR) | EN | EXTD);
}

export function message(fields: Partial<ApicMessage>): ApicMessage {
  return Object.assign(newApicMessage(), fields);
}

export function hasVector(bitmap: Uint32Array, vector: number): boolean {
  return ((bitmap[vector >>> 5] >>> (vector & 31)) & 1) === 1;
}

/** CPU indexes whose IRR holds `vector`. */
export function cpusWithIrr(bus: ApicBus, vector: number): number[] {
  return bus.lapics.filter((l) => hasVector(l.irr, vector)).map((l) => l.cpu);
}
