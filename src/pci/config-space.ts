/**
 * A 256-byte PCI configuration space with per-byte write masks, as hardware implements it: every bit is read-only
 * (the default), read/write, or RW1C (write 1 to clear). Software accesses go through {@link PciConfigSpace.read}
 * and {@link PciConfigSpace.write}, which apply the masks; the device model itself uses the raw get/set accessors.
 *
 * Also builds the capability list (PCI Local Bus 3.0 §6.7): each capability starts with an ID byte and a next
 * pointer, the first one is named by the Capabilities Pointer at 0x34, and Status bit 4 says the list exists.
 *
 * Reused by every PCI function model, including an IOMMU's own PCI function.
 */
import { showValue, UsageError } from '../core/errors.ts';

export const PCI_CONFIG_SPACE_SIZE = 256;
/** Status register offset and its Capabilities List bit. */
export const PCI_STATUS = 0x06;
export const PCI_STATUS_CAP_LIST = 1 << 4;
/** Capabilities Pointer (type 0 and type 1 headers); bits 1:0 are reserved (capabilities are dword aligned). */
export const PCI_CAPABILITY_LIST = 0x34;
/** First byte after the standard 64-byte header. */
export const PCI_CAP_AREA_START = 0x40;
/** Offsets of a capability's ID and next pointer, relative to the capability. */
export const PCI_CAP_ID = 0;
export const PCI_CAP_NEXT = 1;

export type ConfigAccessSize = 1 | 2 | 4;

export interface CapabilityRef {
  id: number;
  offset: number;
}

/**
 * Check a software config access: offset within the 256-byte space, size 1, 2 or 4, naturally aligned.
 * (PCIe extended config space, offsets 0x100–0xFFF, is not modelled.)
 */
export function checkConfigAccess(offset: number, size: number, who = 'PCI config access'): asserts size is ConfigAccessSize {
  if (size !== 1 && size !== 2 && size !== 4) {
    throw new UsageError(`${who}: size ${showValue(size)} is not 1, 2 or 4 bytes`);
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + size > PCI_CONFIG_SPACE_SIZE) {
    throw new UsageError(`${who}: offset ${showValue(offset)} is outside the ${PCI_CONFIG_SPACE_SIZE}-byte configuration space`);
  }
  if (offset % size !== 0) {
    throw new UsageError(`${who}: offset 0x${offset.toString(16)} is not aligned to the ${size}-byte access size`);
  }
}

export class PciConfigSpace {
  readonly bytes = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  /** Bits software can write. */
  readonly writeMask = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  /** Bits software clears by writing 1. */
  readonly w1cMask = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  /**
   * Bits that are read-only to software but change at run time (pending bits, status): a saved state may differ
   * from a fresh function there. Everything neither writable, W1C nor device-owned is fixed by the device's shape.
   */
  readonly deviceOwned = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  /** End of the last capability allocated. */
  private capEnd = PCI_CAP_AREA_START;
  /** Offset of the last capability in the list, 0 when none. */
  private lastCap = 0;

  // ---- Software accesses (validated, masked) ------------------------------------------------------------------

  read(offset: number, size: number): number {
    checkConfigAccess(offset, size);
    return this.getRaw(offset, size);
  }

  write(offset: number, size: number, value: number): void {
    checkConfigAccess(offset, size);
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      const b = (value >>> (8 * i)) & 0xff;
      const wm = this.writeMask[o];
      const w1c = this.w1cMask[o];
      const cur = this.bytes[o];
      this.bytes[o] = (cur & ~wm & ~w1c) | (b & wm) | (cur & w1c & ~b);
    }
  }

  // ---- Device-side raw accessors (no masks) -------------------------------------------------------------------

  get8(offset: number): number {
    return this.bytes[offset];
  }

  get16(offset: number): number {
    return this.bytes[offset] | (this.bytes[offset + 1] << 8);
  }

  get32(offset: number): number {
    return (this.bytes[offset] | (this.bytes[offset + 1] << 8) | (this.bytes[offset + 2] << 16) | (this.bytes[offset + 3] << 24)) >>> 0;
  }

  set8(offset: number, value: number): void {
    this.bytes[offset] = value & 0xff;
  }

  set16(offset: number, value: number): void {
    this.bytes[offset] = value & 0xff;
    this.bytes[offset + 1] = (value >>> 8) & 0xff;
  }

  set32(offset: number, value: number): void {
    for (let i = 0; i < 4; i++) this.bytes[offset + i] = (value >>> (8 * i)) & 0xff;
  }

  private getRaw(offset: number, size: number): number {
    return size === 1 ? this.get8(offset) : size === 2 ? this.get16(offset) : this.get32(offset);
  }

  /** Make the bits of `mask` in the `size`-byte field at `offset` software-writable (replacing the field's mask). */
  setWritable(offset: number, size: number, mask: number): void {
    this.setMask(this.writeMask, offset, size, mask);
  }

  /** Make the bits of `mask` RW1C. */
  setW1c(offset: number, size: number, mask: number): void {
    this.setMask(this.w1cMask, offset, size, mask);
  }

  /** Mark the bits of `mask` as changed by the device (read-only to software). */
  setDeviceOwned(offset: number, size: number, mask: number): void {
    this.setMask(this.deviceOwned, offset, size, mask);
  }

  private setMask(target: Uint8Array, offset: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) target[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  // ---- Capability list ----------------------------------------------------------------------------------------

  /**
   * Append a capability of `length` bytes with ID `id` and return its offset. Capabilities are dword aligned and
   * placed one after another from 0x40; ID and next pointer are read-only.
   */
  addCapability(id: number, length: number): number {
    if (!Number.isInteger(id) || id < 1 || id > 0xff) throw new UsageError(`capability ID ${id} is not 1..255`);
    if (!Number.isInteger(length) || length < 2) throw new UsageError(`capability 0x${id.toString(16)}: length ${length} is below 2 bytes`);
    const offset = this.capEnd;
    const end = offset + ((length + 3) & ~3);
    if (end > PCI_CONFIG_SPACE_SIZE) {
      throw new UsageError(`capability 0x${id.toString(16)} (${length} bytes) does not fit in the configuration space`);
    }
    this.bytes[offset + PCI_CAP_ID] = id;
    this.bytes[offset + PCI_CAP_NEXT] = 0;
    if (this.lastCap === 0) this.bytes[PCI_CAPABILITY_LIST] = offset;
    else this.bytes[this.lastCap + PCI_CAP_NEXT] = offset;
    this.bytes[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    this.lastCap = offset;
    this.capEnd = end;
    return offset;
  }

  /**
   * Walk the capability list as software does: start at 0x34 (only when Status bit 4 is set), mask the reserved low
   * two bits of each pointer, stop at 0 or after 48 hops (a cycle guard: 48 dword-aligned slots follow 0x40).
   */
  capabilities(): CapabilityRef[] {
    const list: CapabilityRef[] = [];
    if (!(this.bytes[PCI_STATUS] & PCI_STATUS_CAP_LIST)) return list;
    let ptr = this.bytes[PCI_CAPABILITY_LIST] & 0xfc;
    for (let hops = 0; ptr !== 0 && hops < 48; hops++) {
      list.push({ id: this.bytes[ptr + PCI_CAP_ID], offset: ptr });
      ptr = this.bytes[ptr + PCI_CAP_NEXT] & 0xfc;
    }
    return list;
  }

  /** Offset of the first capability with this ID, or 0. */
  findCapability(id: number): number {
    for (const cap of this.capabilities()) if (cap.id === id) return cap.offset;
    return 0;
  }
}
