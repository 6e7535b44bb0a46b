/**
 * The ICH9 LPC bridge's interrupt routing (function 00:1f.0, vendor 8086 device 2918, class 060100): which PIRQ line a
 * root-bus slot's INTx pin drives, and the PIRQ route-control registers that also steer each PIRQ to an 8259 input.
 *
 * PIRQ[A-H] always reach I/O APIC inputs 16–23 (ICH9 datasheet 13.5 "APIC interrupt input mapping"). PIRQA_ROUT ..
 * PIRQD_ROUT at config 0x60–0x63 and PIRQE_ROUT .. PIRQH_ROUT at 0x68–0x6B (ICH9 13.1.x) route them to the 8259 too:
 * bit 7 IRQEN = 1 means "not routed to the 8259" (the reset value 0x80); with IRQEN = 0, bits 3:0 name the ISA IRQ
 * (3–7, 9–12, 14, 15; 0, 1, 2, 8 and 13 are reserved and route nowhere).
 *
 * Which PIRQ a slot's pin uses is QEMU's q35 table (hw/isa/lpc_ich9.c ich9_cc_init and ich9_cc_update, reached
 * through ich9_lpc_map_irq): slots 25–29 and 31 follow their Dn_IR chipset registers at the reset value 0x3210
 * (INTA → PIRQA … INTD → PIRQD); slot 30 (the DMI-to-PCI bridge) uses PIRQE–H for INTA–D; every other slot uses
 * PIRQ (slot + pin) mod 4 + 4, that is PIRQE–H swizzled by slot.
 */
import { UsageError } from '../core/errors.ts';
import { PciConfigSpace, checkConfigAccess } from './config-space.ts';
import type { PciBusMember } from './pci-bus.ts';
import { initType0Header } from './type0-header.ts';

export const ICH9_LPC_REQUESTER_ID = (0x1f << 3) | 0;
export const ICH9_LPC_DEVICE_ID = 0x2918;
export const PIRQA_ROUT = 0x60;
export const PIRQE_ROUT = 0x68;
export const PIRQ_ROUT_IRQEN = 0x80;
export const PIRQ_ROUT_IRQ_MASK = 0x0f;
export const PIRQ_ROUT_DEFAULT = 0x80;
/** ISA IRQs a PIRQ may be routed to (ICH9 PIRQx_ROUT bits 3:0). */
export const PIRQ_ROUTABLE_IRQS = 0b1101_1110_1111_1000;
/** I/O APIC input of PIRQA. */
export const PIRQ_FIRST_GSI = 16;
/** Dn_IR reset value: INTA → PIRQA, INTB → PIRQB, INTC → PIRQC, INTD → PIRQD (QEMU ICH9_CC_DIR_DEFAULT). */
export const ICH9_DIR_DEFAULT = 0x3210;

const PIRQ_NAMES = 'ABCDEFGH';

/** Config offset of PIRQ `pirq`'s route-control register. */
export function pirqRoutOffset(pirq: number): number {
  return pirq < 4 ? PIRQA_ROUT + pirq : PIRQE_ROUT + pirq - 4;
}

/** PIRQ (0 = A … 7 = H) that root-bus slot `slot`'s pin `pin` (1 = INTA … 4 = INTD) drives on QEMU's q35. */
export function q35PirqOf(slot: number, pin: number): number {
  const intx = pin - 1;
  if (slot === 30) return intx + 4;
  if (slot >= 25) return (ICH9_DIR_DEFAULT >>> (4 * intx)) & 7;
  return ((slot + intx) % 4) + 4;
}

export interface Ich9LpcState {
  version: number;
  rout: number[];
}

export class Ich9Lpc implements PciBusMember {
  readonly requesterId = ICH9_LPC_REQUESTER_ID;
  readonly config = new PciConfigSpace();

  constructor(
    /** PIRQ `pirq`'s 8259 route changed from `from` to `to` (-1: not routed). */
    private readonly routeChanged: (pirq: number, from: number, to: number) => void,
  ) {
    initType0Header(this.config, { vendorId: 0x8086, deviceId: ICH9_LPC_DEVICE_ID, classCode: 0x060100 });
    for (let p = 0; p < 8; p++) {
      this.config.set8(pirqRoutOffset(p), PIRQ_ROUT_DEFAULT);
      this.config.setWritable(pirqRoutOffset(p), 1, PIRQ_ROUT_IRQEN | PIRQ_ROUT_IRQ_MASK);
    }
  }

  /** PIRQ (0 = A … 7 = H) that root-bus slot `slot`'s pin `pin` (1 = INTA … 4 = INTD) drives. */
  pirqOf(slot: number, pin: number): number {
    return q35PirqOf(slot, pin);
  }

  /** The ISA IRQ PIRQ `pirq` is routed to on the 8259, or -1. */
  picIrqOf(pirq: number): number {
    return routedIrq(this.config.get8(pirqRoutOffset(pirq)));
  }

  static pirqName(pirq: number): string {
    return `PIRQ${PIRQ_NAMES[pirq]}`;
  }

  configRead(offset: number, size: number): number {
    return this.config.read(offset, size);
  }

  configWrite(offset: number, size: number, value: number): void {
    checkConfigAccess(offset, size, '00:1f.0 config write');
    const before = Array.from({ length: 8 }, (_, p) => this.picIrqOf(p));
    this.config.write(offset, size, value);
    for (let p = 0; p < 8; p++) {
      const now = this.picIrqOf(p);
      if (now !== before[p]) this.routeChanged(p, before[p], now);
    }
  }

  save(): Ich9LpcState {
    return { version: 1, rout: Array.from({ length: 8 }, (_, p) => this.config.get8(pirqRoutOffset(p))) };
  }

  checkState(state: unknown): void {
    const s = state as Ich9LpcState | null;
    if (typeof s !== 'object' || s === null || s.version !== 1 || !Array.isArray(s.rout) || s.rout.length !== 8) {
      throw new UsageError('ICH9 LPC state: expected { version: 1, rout: [8 PIRQx_ROUT bytes] }');
    }
    s.rout.forEach((v, p) => {
      if (!Number.isInteger(v) || v < 0 || v > 0xff || (v & ~(PIRQ_ROUT_IRQEN | PIRQ_ROUT_IRQ_MASK)) !== 0) {
        throw new UsageError(`ICH9 LPC state: rout[${p}] (PIRQ${PIRQ_NAMES[p]}_ROUT) must use only bits 7 and 3:0`);
      }
    });
  }

  /** Loads the route registers; the machine restores its wires separately, so no route change is reported. */
  restore(state: Ich9LpcState): void {
    this.checkState(state);
    state.rout.forEach((v, p) => this.config.set8(pirqRoutOffset(p), v));
  }
}

function routedIrq(rout: number): number {
  if (rout & PIRQ_ROUT_IRQEN) return -1;
  const irq = rout & PIRQ_ROUT_IRQ_MASK;
  return (PIRQ_ROUTABLE_IRQS >>> irq) & 1 ? irq : -1;
}
