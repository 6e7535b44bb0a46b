/**
 * One Intel 8259A programmable interrupt controller, as the ICH9 LPC bridge carries two of them (ICH9 datasheet
 * 13.4 "8259 Interrupt Controller Registers"). Source of truth: the Intel 8259A data sheet (order no. 231468),
 * "Interrupt Sequence", "Programming the 8259A" (ICW1–ICW4, OCW1–OCW3) and "Operation of the 8259A".
 *
 * Registers (A0 = the low address bit):
 *   A0=0 write, D4=1          ICW1: starts initialisation (ICW2, then ICW3 unless SNGL, then ICW4 if IC4)
 *   A0=0 write, D4:D3 = 00    OCW2: EOI, rotation and set-priority commands (R, SL, EOI in D7:D5, level in D2:D0)
 *   A0=0 write, D4:D3 = 01    OCW3: special mask mode (ESMM, SMM), poll (P), read IRR / ISR (RR, RIS)
 *   A0=1 write                ICW2..ICW4 while initialising, else OCW1 (the IMR)
 *   A0=0 read                 IRR or ISR as OCW3 selected (IRR after ICW1); the poll word after a poll command
 *   A0=1 read                 IMR
 *
 * Edge or level sensing per input comes from the ELCR (ICH9 13.4.3; ICW1's LTIM bit "is disabled. Its function is
 * replaced by the Edge/Level Triggered Control (ELCR) registers", ICH9 ICW1 bit 3).
 *
 * Two places where QEMU's hw/intc/i8259.c differs from the data sheet are the named behaviour `'qemu'`:
 * - an edge request: the data sheet's IRR follows the edge latch AND the input ("the IR input must remain high
 *   until after the falling edge of the first INTA pulse"; a request that goes away first becomes the default
 *   IR7); QEMU's pic_set_irq keeps an edge request in IRR after the line drops.
 * - ICW1: the data sheet lists what initialisation resets (edge sense, IMR, priority, special mask mode, read
 *   select, ICW4 functions) and the ISR is not among them; QEMU's pic_init_reset also clears ISR.
 */
import { UsageError } from '../core/errors.ts';

export type PicBehaviour = '8259a' | 'qemu';

// ICW1 / OCW2 / OCW3 bit fields (8259A data sheet, figures "Initialization Command Word Format" and "Operation
// Command Word Format").
export const ICW1_SELECT = 0x10;
export const ICW1_IC4 = 0x01;
export const ICW1_SNGL = 0x02;
export const ICW4_AEOI = 0x02;
export const ICW4_SFNM = 0x10;
export const OCW3_SELECT = 0x08;
export const OCW3_RIS = 0x01;
export const OCW3_RR = 0x02;
export const OCW3_POLL = 0x04;
export const OCW3_SMM = 0x20;
export const OCW3_ESMM = 0x40;
export const POLL_INTERRUPT = 0x80;

/** OCW2 commands: R, SL, EOI in bits 7:5. */
export const OCW2 = {
  RotateAeoiClear: 0b000,
  NonSpecificEoi: 0b001,
  NoOperation: 0b010,
  SpecificEoi: 0b011,
  RotateAeoiSet: 0b100,
  RotateNonSpecificEoi: 0b101,
  SetPriority: 0b110,
  RotateSpecificEoi: 0b111,
} as const;

/** Where the chip is in the initialisation sequence: 0 = initialised (OCWs accepted), else the ICW expected next. */
export type InitStep = 0 | 2 | 3 | 4;

/** One chip's state: plain numbers, the snapshot shape too. */
export interface I8259State {
  irr: number;
  isr: number;
  imr: number;
  /** Input line levels (bit n = IRn high). */
  lines: number;
  elcr: number;
  /** Priority rotation: IR (priorityAdd) has the highest priority, IR (priorityAdd − 1) the lowest. */
  priorityAdd: number;
  /** ICW2 bits 7:3, the vector base T7–T3. */
  vectorBase: number;
  icw3: number;
  initStep: InitStep;
  icw4Needed: boolean;
  singleMode: boolean;
  /** ICW4 as written (µPM, AEOI, M/S, BUF, SFNM); 0 when ICW1 said no ICW4. */
  icw4: number;
  rotateOnAutoEoi: boolean;
  specialMask: boolean;
  readIsr: boolean;
  poll: boolean;
}

export class I8259 {
  irr = 0;
  isr = 0;
  imr = 0;
  lines = 0;
  elcr = 0;
  priorityAdd = 0;
  vectorBase = 0;
  icw3 = 0;
  initStep: InitStep = 0;
  icw4Needed = false;
  singleMode = false;
  icw4 = 0;
  rotateOnAutoEoi = false;
  specialMask = false;
  readIsr = false;
  poll = false;

  constructor(
    /** True for the master (ports 0x20/0x21), false for the slave (0xA0/0xA1). */
    readonly master: boolean,
    /** ELCR bits that exist (ICH9: 0xF8 for ELCR1, 0xDE for ELCR2; IRQ0, 1, 2, 8 and 13 are always edge). */
    readonly elcrMask: number,
    readonly behaviour: PicBehaviour,
  ) {}

  /** Power-on: everything zero. The BIOS (or the OS) must initialise the chip with ICW1–ICW4. */
  reset(): void {
    Object.assign(this, { irr: 0, isr: 0, imr: 0, lines: 0, elcr: 0, priorityAdd: 0, vectorBase: 0, icw3: 0, initStep: 0 });
    Object.assign(this, { icw4Needed: false, singleMode: false, icw4: 0, rotateOnAutoEoi: false, specialMask: false, readIsr: false, poll: false });
  }

  get autoEoi(): boolean {
    return (this.icw4 & ICW4_AEOI) !== 0;
  }

  get specialFullyNested(): boolean {
    return (this.icw4 & ICW4_SFNM) !== 0;
  }

  // ---- Inputs ---------------------------------------------------------------------------------------------------

  /** Drive input IRn. Level-sensed inputs mirror the line in IRR; edge-sensed ones latch a rising edge. */
  setLine(n: number, level: boolean): void {
    const bit = 1 << n;
    const was = (this.lines & bit) !== 0;
    this.lines = level ? this.lines | bit : this.lines & ~bit;
    if (this.elcr & bit) {
      this.irr = level ? this.irr | bit : this.irr & ~bit;
    } else if (level && !was) {
      this.irr |= bit;
    } else if (!level && this.behaviour === '8259a') {
      // The data sheet's IRR is the edge latch gated by the input: a request withdrawn before INTA is gone.
      this.irr &= ~bit;
    }
  }

  // ---- Priority resolution ---------------------------------------------------------------------------------------

  /** Lowest priority number (0 = highest) among the bits of `mask`, 8 when none. */
  private priorityOf(mask: number): number {
    if ((mask & 0xff) === 0) return 8;
    let p = 0;
    while ((mask & (1 << ((p + this.priorityAdd) & 7))) === 0) p++;
    return p;
  }

  /**
   * The IR the chip would present at INTA: the highest-priority unmasked request above everything in service. In
   * special mask mode a masked level's ISR bit does not inhibit other levels (data sheet "Special Mask Mode"); in
   * special fully nested mode the master ignores its cascade inputs' ISR bits, so a higher-priority request from the
   * same slave is still passed on (data sheet "Special Fully Nest Mode"). -1 when nothing is pending.
   */
  pendingIrq(): number {
    const request = this.priorityOf(this.irr & ~this.imr);
    if (request === 8) return -1;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    if (this.master && this.specialFullyNested && !this.singleMode) inService &= ~this.icw3;
    return request < this.priorityOf(inService) ? (request + this.priorityAdd) & 7 : -1;
  }

  /** The INT output. */
  get output(): boolean {
    return this.pendingIrq() >= 0;
  }

  /**
   * The first INTA pulse for IR `n`: ISR bit set, an edge request's IRR bit cleared (a level request stays while the
   * line is high). In automatic-EOI mode the ISR bit is reset again at the end of the INTA sequence (and the
   * priorities rotate when rotate-in-AEOI is set).
   */
  acknowledge(n: number): void {
    const bit = 1 << n;
    if ((this.elcr & bit) === 0) this.irr &= ~bit;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (n + 1) & 7;
    } else {
      this.isr |= bit;
    }
  }

  // ---- Register access -------------------------------------------------------------------------------------------

  /** A read of port A0 (`a0` 0 or 1). */
  read(a0: number): number {
    if (this.poll) {
      // OCW3 P: the next RD is an interrupt acknowledge that returns the poll word (I in bit 7, W2–W0).
      this.poll = false;
      const n = this.pendingIrq();
      if (n < 0) return 0;
      this.acknowledge(n);
      return POLL_INTERRUPT | n;
    }
    if (a0 === 1) return this.imr;
    return this.readIsr ? this.isr : this.irr;
  }

  /** A write of `value` to port A0. */
  write(a0: number, value: number): void {
    const v = value & 0xff;
    if (a0 === 0) {
      if (v & ICW1_SELECT) this.icw1(v);
      else if (v & OCW3_SELECT) this.ocw3(v);
      else this.ocw2(v);
      return;
    }
    switch (this.initStep) {
      case 2:
        this.vectorBase = v & 0xf8;
        this.initStep = !this.singleMode ? 3 : this.icw4Needed ? 4 : 0;
        return;
      case 3:
        this.icw3 = v;
        this.initStep = this.icw4Needed ? 4 : 0;
        return;
      case 4:
        this.icw4 = v & 0x1f;
        this.initStep = 0;
        return;
      default:
        this.imr = v; // OCW1
    }
  }

  /**
   * ICW1 (data sheet "Initialization Command Words"): a) the edge sense circuit is reset, so an input must go low to
   * high again to request; b) the IMR is cleared; c) IR7 gets the lowest priority; d) the slave mode address is set to
   * 7; e) special mask mode is cleared and the status read is set to IRR; f) without IC4 all ICW4 functions are 0.
   */
  private icw1(v: number): void {
    this.irr &= this.elcr & this.lines;
    this.imr = 0;
    this.priorityAdd = 0;
    this.specialMask = false;
    this.readIsr = false;
    this.poll = false;
    this.rotateOnAutoEoi = false;
    this.icw4 = 0;
    // "The Slave Mode Address is set to 7": a slave's ID; on the master the same register is the cascade mask,
    // which ICW3 writes next (or which stays empty in single mode).
    this.icw3 = this.master ? 0 : 7;
    this.icw4Needed = (v & ICW1_IC4) !== 0;
    this.singleMode = (v & ICW1_SNGL) !== 0;
    if (this.behaviour === 'qemu') this.isr = 0;
    this.initStep = 2;
  }

  private ocw2(v: number): void {
    const level = v & 7;
    switch (v >>> 5) {
      case OCW2.NonSpecificEoi:
      case OCW2.RotateNonSpecificEoi: {
        const p = this.priorityOf(this.isr);
        if (p === 8) return; // nothing in service
        const n = (p + this.priorityAdd) & 7;
        this.isr &= ~(1 << n);
        if (v >>> 5 === OCW2.RotateNonSpecificEoi) this.priorityAdd = (n + 1) & 7;
        return;
      }
      case OCW2.SpecificEoi:
        this.isr &= ~(1 << level);
        return;
      case OCW2.RotateSpecificEoi:
        this.isr &= ~(1 << level);
        this.priorityAdd = (level + 1) & 7;
        return;
      case OCW2.SetPriority:
        // L2–L0 names the bottom-priority level.
        this.priorityAdd = (level + 1) & 7;
        return;
      case OCW2.RotateAeoiSet:
        this.rotateOnAutoEoi = true;
        return;
      case OCW2.RotateAeoiClear:
        this.rotateOnAutoEoi = false;
        return;
      default:
        return; // no operation
    }
  }

  private ocw3(v: number): void {
    if (v & OCW3_ESMM) this.specialMask = (v & OCW3_SMM) !== 0;
    if (v & OCW3_POLL) this.poll = true;
    if (v & OCW3_RR) this.readIsr = (v & OCW3_RIS) !== 0;
  }

  /** ELCR write: only the bits that exist; a level input's IRR follows its line, a new edge input waits for an edge. */
  writeElcr(value: number): void {
    const old = this.elcr;
    this.elcr = value & this.elcrMask;
    const toLevel = this.elcr & ~old;
    const toEdge = old & ~this.elcr;
    this.irr = (this.irr & ~toLevel & ~toEdge) | (this.lines & toLevel);
  }

  // ---- State ---------------------------------------------------------------------------------------------------------

  save(): I8259State {
    const { irr, isr, imr, lines, elcr, priorityAdd, vectorBase, icw3, initStep, icw4Needed, singleMode, icw4, rotateOnAutoEoi, specialMask, readIsr, poll } = this;
    return { irr, isr, imr, lines, elcr, priorityAdd, vectorBase, icw3, initStep, icw4Needed, singleMode, icw4, rotateOnAutoEoi, specialMask, readIsr, poll };
  }

  /** Apply a state that {@link validateI8259State} accepted. */
  load(s: I8259State): void {
    Object.assign(this, s);
  }
}

const BYTE_FIELDS = ['irr', 'isr', 'imr', 'lines', 'elcr', 'icw3'] as const;
const BOOL_FIELDS = ['icw4Needed', 'singleMode', 'rotateOnAutoEoi', 'specialMask', 'readIsr', 'poll'] as const;

/** Check one chip's saved state; throws UsageError naming the field. */
export function validateI8259State(state: unknown, where: string, elcrMask: number): I8259State {
  const bad = (field: string, why: string): never => {
    throw new UsageError(`${where}.${field}: ${why}`);
  };
  if (typeof state !== 'object' || state === null) return bad('state', 'expected an object');
  const s = state as Record<string, unknown>;
  const isByte = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xff;
  for (const f of BYTE_FIELDS) if (!isByte(s[f])) bad(f, `expected an integer 0..255, got ${JSON.stringify(s[f])}`);
  for (const f of BOOL_FIELDS) if (typeof s[f] !== 'boolean') bad(f, 'expected true or false');
  if ((s.elcr as number) & ~elcrMask) bad('elcr', `bits 0x${(((s.elcr as number) & ~elcrMask) >>> 0).toString(16)} do not exist in this ELCR`);
  if (!isByte(s.priorityAdd) || (s.priorityAdd as number) > 7) bad('priorityAdd', 'expected an integer 0..7');
  if (!isByte(s.vectorBase) || ((s.vectorBase as number) & 7) !== 0) bad('vectorBase', 'expected a multiple of 8 in 0..0xF8 (ICW2 bits 7:3)');
  if (s.initStep !== 0 && s.initStep !== 2 && s.initStep !== 3 && s.initStep !== 4) bad('initStep', 'expected 0, 2, 3 or 4');
  if (!isByte(s.icw4) || (s.icw4 as number) > 0x1f) bad('icw4', 'expected an integer 0..0x1F (ICW4 bits 4:0)');
  return s as unknown as I8259State;
}
