/**
 * Source-id verification of an interrupt request against IRTE.SID/SQ/SVT (VT-d spec §9.10).
 *
 * SVT 00: no check. SVT 01: compare under the SQ mask. SVT 10: the requester's bus must lie in
 * [SID 15:8 = start bus, SID 7:0 = end bus] — the reading of Linux (`set_irte_verify_bus(start, end)` writes
 * `start << 8 | end`), FreeBSD and VirtualBox; QEMU reads the two bytes the other way round and so rejects Linux's
 * valid bus ranges. SVT 11 is reserved; we report it as a verification failure (0x26, as QEMU does) because the
 * request could not be verified — VirtualBox's 0x24 for it does not fit the spec's reason list (0x24 is a reserved-field fault).
 */

/** SQ → mask of requester-id bits compared: 00 all, 01 ignore bit 2, 10 ignore bits 2:1, 11 ignore bits 2:0. */
const SQ_MASKS = new Uint16Array([0xffff, 0xfffb, 0xfff9, 0xfff8]);

export const SVT_NONE = 0;
export const SVT_SID_SQ = 1;
export const SVT_BUS_RANGE = 2;

/** True when the request from `requester` passes the IRTE's source validation. */
export function sourceIdVerified(requester: number, sid: number, sq: number, svt: number): boolean {
  switch (svt) {
    case SVT_NONE:
      return true;
    case SVT_SID_SQ: {
      const mask = SQ_MASKS[sq & 3];
      return (requester & mask) === (sid & mask);
    }
    case SVT_BUS_RANGE: {
      const bus = (requester >>> 8) & 0xff;
      return bus >= ((sid >>> 8) & 0xff) && bus <= (sid & 0xff);
    }
    default:
      return false;
  }
}
