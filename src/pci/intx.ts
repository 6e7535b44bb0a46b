/**
 * PCI INTx: the Interrupt Pin register values, the Status register's Interrupt Status bit and the swizzle that maps a
 * pin behind a PCI-to-PCI bridge onto the bridge's own pins.
 *
 * PCI Local Bus 3.0 6.2.4 (Interrupt Pin: 1 = INTA# … 4 = INTD#, 0 = none), 6.2.2 (Command bit 10 Interrupt Disable,
 * Status bit 3 Interrupt Status: "reflects the state of the interrupt in the device/function … only when the
 * Interrupt Disable bit is 0 is the state of the INTx# signal driven"), and PCI-to-PCI Bridge Architecture 1.2 9.1
 * (table 9-1): a device on the secondary bus with device number D and pin P reaches the bridge's pin
 * ((P − 1 + D) mod 4) + 1 — Linux pci_swizzle_interrupt_pin, QEMU pci_swizzle.
 */
import { showValue, UsageError } from '../core/errors.ts';

export const PCI_STATUS_INTERRUPT = 1 << 3;
export const INTX_PIN_NAMES = ['A', 'B', 'C', 'D'] as const;
export type IntxPinName = (typeof INTX_PIN_NAMES)[number];

/** Interrupt Pin register value for a pin name. */
export function intxPinNumber(name: IntxPinName): number {
  const i = INTX_PIN_NAMES.indexOf(name);
  if (i < 0) throw new UsageError(`INTx pin ${showValue(name)} is not A, B, C or D`);
  return i + 1;
}

/** The pin (1..4) a device `device` on a bridge's secondary bus, using `pin`, lands on at the bridge. */
export function swizzle(pin: number, device: number): number {
  return ((pin - 1 + device) % 4) + 1;
}

/**
 * The slot and pin on the root bus for a function at device `device` using `pin`, behind `bridges` (each bridge's
 * device number on its parent bus, outermost first): swizzled at every bridge, from the innermost out.
 */
export function rootBusPin(pin: number, device: number, bridges: readonly number[]): { slot: number; pin: number } {
  let p = pin;
  let d = device;
  for (let i = bridges.length - 1; i >= 0; i--) {
    p = swizzle(p, d);
    d = bridges[i];
  }
  return { slot: d, pin: p };
}
