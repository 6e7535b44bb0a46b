/**
 * The command buffer: 128-bit commands software writes to guest memory and publishes by advancing the Tail
 * register; the IOMMU fetches from Head while Head != Tail and the buffer runs (AMD IOMMU spec §2.4). Opcode in bits 63:60
 * (dword1[31:28]).
 *
 * This file decodes and validates commands; amd-iommu.ts executes them. A command is illegal when its opcode is
 * unknown, it needs a feature this IOMMU does not advertise, or it has reserved bits set (QEMU's per-command
 * reserved-bit checks; FreeBSD/VBox layouts) → ILLEGAL_COMMAND_ERROR and the buffer stops.
 */
import { RING_PTR_MASK, ringBase, ringBytes } from './registers.ts';

export const CMD_ENTRY_BYTES = 16;

export const CommandOp = {
  COMPLETION_WAIT: 0x1,
  INVALIDATE_DEVTAB_ENTRY: 0x2,
  INVALIDATE_IOMMU_PAGES: 0x3,
  INVALIDATE_IOTLB_PAGES: 0x4,
  INVALIDATE_INTERRUPT_TABLE: 0x5,
  PREFETCH_IOMMU_PAGES: 0x6,
  COMPLETE_PPR_REQUEST: 0x7,
  INVALIDATE_IOMMU_ALL: 0x8,
} as const;

export type Command =
  | {
      op: 'COMPLETION_WAIT';
      /** S: store StoreData at StoreAddr. */
      store: boolean;
      /** I: set Status.ComWaitInt (and interrupt if ComWaitIntEn). */
      interrupt: boolean;
      /** F: flush queue (no effect here: commands complete synchronously). */
      flush: boolean;
      storeAddress: number;
      storeDataLo: number;
      storeDataHi: number;
    }
  | { op: 'INVALIDATE_DEVTAB_ENTRY'; deviceId: number }
  | { op: 'INVALIDATE_IOMMU_PAGES'; domainId: number; pasid: number; address: bigint; size: boolean; pde: boolean }
  | { op: 'INVALIDATE_INTERRUPT_TABLE'; deviceId: number }
  | { op: 'INVALIDATE_IOMMU_ALL' }
  | { op: 'ILLEGAL'; opcode: number; reason: string };

export interface CommandFeatures {
  /** EFR.IASup: INVALIDATE_IOMMU_ALL accepted. */
  iaSup: boolean;
}

const illegal = (opcode: number, reason: string): Command => ({ op: 'ILLEGAL', opcode, reason });

/** Decode one command (four dwords) or say why it is illegal. */
export function decodeCommand(w: ArrayLike<number>, features: CommandFeatures): Command {
  const w0 = w[0] >>> 0;
  const w1 = w[1] >>> 0;
  const w2 = w[2] >>> 0;
  const w3 = w[3] >>> 0;
  const opcode = w1 >>> 28;
  const w1Low = w1 & 0x0fffffff;
  switch (opcode) {
    case CommandOp.COMPLETION_WAIT:
      // [0] S, [1] I, [2] F, [31:3] StoreAddr[31:3], [51:32] StoreAddr[51:32], [59:52] reserved, [127:64] StoreData.
      if ((w1 & 0x0ff00000) !== 0) return illegal(opcode, 'COMPLETION_WAIT bits 59:52 are reserved');
      return {
        op: 'COMPLETION_WAIT',
        store: (w0 & 1) !== 0,
        interrupt: (w0 & 2) !== 0,
        flush: (w0 & 4) !== 0,
        storeAddress: (w1 & 0xfffff) * 0x1_0000_0000 + ((w0 & 0xfffffff8) >>> 0),
        storeDataLo: w2,
        storeDataHi: w3,
      };
    case CommandOp.INVALIDATE_DEVTAB_ENTRY:
    case CommandOp.INVALIDATE_INTERRUPT_TABLE:
      // [15:0] DeviceID; everything else reserved (QEMU amdvi_inval_devtab_entry / amdvi_inval_inttable).
      if ((w0 & 0xffff0000) !== 0 || w1Low !== 0 || w2 !== 0 || w3 !== 0) {
        return illegal(opcode, `${opcode === CommandOp.INVALIDATE_DEVTAB_ENTRY ? 'INVALIDATE_DEVTAB_ENTRY' : 'INVALIDATE_INTERRUPT_TABLE'} has reserved bits set`);
      }
      return opcode === CommandOp.INVALIDATE_DEVTAB_ENTRY
        ? { op: 'INVALIDATE_DEVTAB_ENTRY', deviceId: w0 & 0xffff }
        : { op: 'INVALIDATE_INTERRUPT_TABLE', deviceId: w0 & 0xffff };
    case CommandOp.INVALIDATE_IOMMU_PAGES: {
      // [19:0] PASID, [47:32] DomainID, [64] S, [65] PDE, [66] GN, [127:76] Address[63:12].
      if ((w0 & 0xfff00000) !== 0 || (w1 & 0x0fff0000) !== 0 || (w2 & 0xff8) !== 0) {
        return illegal(opcode, 'INVALIDATE_IOMMU_PAGES has reserved bits set');
      }
      if ((w2 & 4) !== 0) return illegal(opcode, 'INVALIDATE_IOMMU_PAGES with GN = 1 needs EFR.GTSup, which is not advertised');
      return {
        op: 'INVALIDATE_IOMMU_PAGES',
        pasid: w0 & 0xfffff,
        domainId: w1 & 0xffff,
        size: (w2 & 1) !== 0,
        pde: (w2 & 2) !== 0,
        address: (BigInt(w3) << 32n) | BigInt((w2 & 0xfffff000) >>> 0),
      };
    }
    case CommandOp.INVALIDATE_IOMMU_ALL:
      if (!features.iaSup) return illegal(opcode, 'INVALIDATE_IOMMU_ALL needs EFR.IASup');
      if (w0 !== 0 || w1Low !== 0 || w2 !== 0 || w3 !== 0) return illegal(opcode, 'INVALIDATE_IOMMU_ALL has reserved bits set');
      return { op: 'INVALIDATE_IOMMU_ALL' };
    case CommandOp.INVALIDATE_IOTLB_PAGES:
      return illegal(opcode, 'INVALIDATE_IOTLB_PAGES needs IOTLB support (capability IotlbSup = 0)');
    case CommandOp.PREFETCH_IOMMU_PAGES:
      return illegal(opcode, 'PREFETCH_IOMMU_PAGES needs EFR.PreFSup, which is not advertised');
    case CommandOp.COMPLETE_PPR_REQUEST:
      return illegal(opcode, 'COMPLETE_PPR_REQUEST needs EFR.PPRSup, which is not advertised');
    default:
      return illegal(opcode, `opcode 0x${opcode.toString(16)} is not a command`);
  }
}

/** Compose a command (for drivers and tests). */
export const buildCommand = {
  completionWait(opts: { storeAddress?: number; storeData?: bigint; interrupt?: boolean; flush?: boolean }): number[] {
    const store = opts.storeAddress !== undefined;
    const addr = opts.storeAddress ?? 0;
    const data = opts.storeData ?? 0n;
    const w0 = ((addr % 0x1_0000_0000) & 0xfffffff8) | (store ? 1 : 0) | (opts.interrupt ? 2 : 0) | (opts.flush ? 4 : 0);
    const w1 = (Math.floor(addr / 0x1_0000_0000) & 0xfffff) | (CommandOp.COMPLETION_WAIT << 28);
    return [w0 >>> 0, w1 >>> 0, Number(data & 0xffff_ffffn), Number((data >> 32n) & 0xffff_ffffn)];
  },
  invalidateDevtabEntry(deviceId: number): number[] {
    return [deviceId & 0xffff, (CommandOp.INVALIDATE_DEVTAB_ENTRY << 28) >>> 0, 0, 0];
  },
  invalidateInterruptTable(deviceId: number): number[] {
    return [deviceId & 0xffff, (CommandOp.INVALIDATE_INTERRUPT_TABLE << 28) >>> 0, 0, 0];
  },
  invalidateIommuAll(): number[] {
    return [0, (CommandOp.INVALIDATE_IOMMU_ALL << 28) >>> 0, 0, 0];
  },
  /** All pages of a domain (Linux CMD_INV_IOMMU_ALL_PAGES_ADDRESS 0x7FFF_FFFF_FFFF_F000 with S = 1, PDE = 1). */
  invalidateIommuAllPages(domainId: number): number[] {
    return [0, ((CommandOp.INVALIDATE_IOMMU_PAGES << 28) | (domainId & 0xffff)) >>> 0, 0xfffff003, 0x7fffffff];
  },
};

/** Command buffer base/length, head and tail. */
export class CommandRing {
  /** Command Buffer Base register as written (bits 51:12 base, 59:56 ComLen). */
  baseReg = 0n;
  head = 0;
  tail = 0;

  get sizeBytes(): number {
    return ringBytes(this.baseReg);
  }

  get headAddress(): number {
    return ringBase(this.baseReg) + this.head;
  }

  get pending(): boolean {
    return this.head !== this.tail;
  }

  advance(): void {
    this.head = (this.head + CMD_ENTRY_BYTES) % this.sizeBytes;
  }

  /** A pointer value software may write: [18:4] inside the buffer (VBox ignores writes beyond the length). */
  acceptsPointer(value: number): boolean {
    return (value & RING_PTR_MASK) < this.sizeBytes;
  }
}
