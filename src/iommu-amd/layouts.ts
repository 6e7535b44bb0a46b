/**
 * Where the bits are in an AMD-Vi interrupt remapping table entry (AMD IOMMU §2.2.5, the field list in irte.ts) and
 * in an event-log entry (AMD IOMMU spec §2.5), for drawing.
 */
import { f, r, type BitWord } from '../msi/bit-layout.ts';

const W0_CONTROL = [f('GuestMode', 7, 7, 0), f('DM', 6), f('RqEoi', 5), f('IntType', 4, 2), f('SupIOPF', 1), f('RemapEn', 0)];

export const AMD_IRTE_LAYOUTS = {
  /** 32-bit IRTE (Control.GAEn = 0). */
  irte32: { label: 'IRTE', width: 32, fields: [r(31, 24), f('Vector', 23, 16), f('Destination', 15, 8), ...W0_CONTROL] } as BitWord,
  /** 128-bit IRTE (GAEn = 1), GuestMode = 0. */
  irte128: {
    label: 'IRTE',
    width: 128,
    fields: [f('Destination[31:24]', 127, 120), r(119, 72), f('Vector', 71, 64), r(63, 32), f('Destination[23:0]', 31, 8), ...W0_CONTROL],
  } as BitWord,
  /** 128-bit IRTE, GuestMode = 1 (vAPIC, posted to a guest). */
  irte128Vapic: {
    label: 'IRTE',
    width: 128,
    fields: [f('Destination[31:24]', 127, 120), r(119, 116), f('GA Root Ptr[51:12]', 115, 76), r(75, 72), f('guest Vector', 71, 64), f('GATag', 63, 32), f('Destination[23:0]', 31, 8), f('GuestMode', 7, 7, 1), f('IsRun', 6), f('GAPPIDis', 5), r(4, 3), f('GALogIntr', 2), f('SupIOPF', 1), f('RemapEn', 0)],
  } as BitWord,
};

/** Event-log entry with IO_PAGE_FAULT's flag bits named (the code most interrupt faults carry). */
export const AMD_EVENT_LAYOUT: BitWord = {
  label: 'event',
  width: 128,
  fields: [
    f('Address', 127, 64),
    f('EventCode', 63, 60),
    f('flags[11:9]', 59, 57),
    f('TR', 56),
    f('RZ', 55),
    f('PE', 54),
    f('RW', 53),
    f('PR', 52),
    f('I', 51),
    f('US', 50),
    f('NX', 49),
    f('GN', 48),
    f('DomainID / PASID[15:0]', 47, 32),
    r(31, 20),
    f('PASID[19:16]', 19, 16),
    f('DeviceID', 15, 0),
  ],
};
