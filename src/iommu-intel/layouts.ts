/**
 * Where the bits are in a VT-d interrupt remapping table entry (VT-d §9.10, the field list in irte.ts) and in a
 * fault recording register (VT-d §11.4.14), for drawing.
 */
import { f, r, type BitWord } from '../msi/bit-layout.ts';

const IRTE_HIGH = [r(127, 84), f('SVT', 83, 82), f('SQ', 81, 80), f('SID', 79, 64)];
const IRTE_REMAPPED_LOW = [r(31, 24), f('V', 23, 16), f('IM = 0', 15, 15, 0), r(14, 12), f('AVAIL', 11, 8), f('DLM', 7, 5), f('TM', 4), f('RH', 3), f('DM', 2), f('FPD', 1), f('P', 0)];

export const INTEL_IRTE_LAYOUTS = {
  /** Remapped format, xAPIC mode (IRTA.EIME = 0): the destination is DST bits 15:8. */
  remappedXapic: { label: 'IRTE', width: 128, fields: [...IRTE_HIGH, r(63, 48), f('DST (xAPIC ID)', 47, 40), r(39, 32), ...IRTE_REMAPPED_LOW] } as BitWord,
  /** Remapped format, x2APIC mode (IRTA.EIME = 1): all 32 DST bits. */
  remappedX2apic: { label: 'IRTE', width: 128, fields: [...IRTE_HIGH, f('DST (x2APIC ID)', 63, 32), ...IRTE_REMAPPED_LOW] } as BitWord,
  /** Posted format (IM = 1; VT-d §9.11, Linux struct irte). */
  posted: {
    label: 'IRTE',
    width: 128,
    fields: [f('PDA[63:32]', 127, 96), r(95, 84), f('SVT', 83, 82), f('SQ', 81, 80), f('SID', 79, 64), f('PDA[31:6]', 63, 38), r(37, 24), f('V', 23, 16), f('IM = 1', 15, 15, 1), f('URG', 14), r(13, 12), f('AVAIL', 11, 8), r(7, 2), f('FPD', 1), f('P', 0)],
  } as BitWord,
};

/** FRCD as recorded for an interrupt-remapping fault: FI holds the interrupt index in 63:48. */
export const FRCD_LAYOUT: BitWord = {
  label: 'FRCD',
  width: 128,
  fields: [
    f('F', 127),
    f('T', 126),
    f('AT', 125, 124),
    f('PV', 123, 104),
    f('FR', 103, 96),
    f('PP', 95),
    f('EXE', 94),
    f('PRIV', 93),
    f('T2', 92),
    r(91, 80),
    f('SID', 79, 64),
    f('FI[63:48] (interrupt index)', 63, 48),
    f('FI[47:12]', 47, 12),
    r(11, 0),
  ],
};
