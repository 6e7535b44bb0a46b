/**
 * The decoded interrupt that travels on the APIC bus, and the architectural constants it uses.
 *
 * Every source (compatibility-format MSI, an IRTE, an IPI from the ICR, an I/O APIC RTE) is reduced to this one
 * shape before it reaches a local APIC. It is a plain mutable object so the hot path can reuse one instance.
 */

/** Delivery mode codes, shared by the ICR (bits 10:8), I/O APIC RTEs, MSI data (10:8) and Intel IRTEs (DLM). */
export const DeliveryMode = {
  Fixed: 0,
  LowestPriority: 1,
  SMI: 2,
  /** ICR only ("remote read"); reserved in MSI data and RTEs. */
  RemoteRead: 3,
  NMI: 4,
  INIT: 5,
  /** ICR only; reserved in MSI data and RTEs (SDM 10.11.2). */
  StartUp: 6,
  ExtINT: 7,
} as const;

export const DELIVERY_MODE_NAMES = ['Fixed', 'LowestPriority', 'SMI', 'RemoteRead', 'NMI', 'INIT', 'StartUp', 'ExtINT'] as const;

export const DestMode = { Physical: 0, Logical: 1 } as const;

/**
 * Width of the destination field as the message carries it.
 * - 8: an xAPIC-format destination (compatibility MSI, xAPIC ICR, IRTE in xAPIC mode): 0xFF is broadcast.
 * - 32: an x2APIC-format destination (x2APIC ICR, IRTE with EIME/XTEn, a hypervisor's 32-bit MSI ABI):
 *   only 0xFFFFFFFF is broadcast.
 */
export type DestinationWidth = 8 | 32;

export interface ApicMessage {
  /** Destination APIC ID (physical) or logical destination (MDA), unsigned 32-bit. */
  dest: number;
  destWidth: DestinationWidth;
  /** 0 physical, 1 logical. */
  destMode: number;
  /** One of {@link DeliveryMode}. */
  deliveryMode: number;
  vector: number;
  /** 0 edge, 1 level. */
  trigger: number;
  /** 1 assert, 0 de-assert. Only IPIs carry a de-assert (INIT level de-assert); MSIs always assert. */
  level: number;
  /** Redirection hint from an MSI address (bit 3) or IRTE.RH. */
  redirectionHint: number;
}

export function newApicMessage(): ApicMessage {
  return { dest: 0, destWidth: 8, destMode: 0, deliveryMode: 0, vector: 0, trigger: 0, level: 1, redirectionHint: 0 };
}

export function copyApicMessage(from: ApicMessage, to: ApicMessage): ApicMessage {
  to.dest = from.dest;
  to.destWidth = from.destWidth;
  to.destMode = from.destMode;
  to.deliveryMode = from.deliveryMode;
  to.vector = from.vector;
  to.trigger = from.trigger;
  to.level = from.level;
  to.redirectionHint = from.redirectionHint;
  return to;
}

export function hex(value: number | bigint, digits = 0): string {
  const v = typeof value === 'bigint' ? value : BigInt(value < 0 ? value >>> 0 : value);
  return '0x' + v.toString(16).padStart(digits, '0');
}
