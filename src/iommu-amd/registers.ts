/**
 * AMD IOMMU MMIO register map: offsets, bit positions and the writable masks the register file applies.
 * All registers are 64-bit; software uses 32- and 64-bit naturally aligned accesses (AMD IOMMU spec §3.4).
 *
 * Bit positions follow the AMD IOMMU spec §3.4 as Linux amd_iommu_types.h,
 * FreeBSD amd_reg.h, Xen iommu-defs.h and VirtualBox iommu-amd.h.
 */

/** The MMIO window without performance counters (EFR.PCSup = 0): 16 KiB (XEN IOMMU_MMIO_REGION_LENGTH, QEMU AMDVI_MMIO_SIZE). */
export const MMIO_SIZE = 0x4000;

export const DEV_TAB_BASE = 0x0000;
export const CMD_BUF_BASE = 0x0008;
export const EVT_LOG_BASE = 0x0010;
export const CONTROL = 0x0018;
export const EXCL_BASE = 0x0020;
export const EXCL_LIMIT = 0x0028;
export const EXT_FEATURES = 0x0030;
export const GA_LOG_BASE = 0x00e0;
export const GA_LOG_TAIL_ADDR = 0x00e8;
export const XT_GEN_INTR_CTRL = 0x0170;
export const XT_PPR_INTR_CTRL = 0x0178;
export const XT_GALOG_INTR_CTRL = 0x0180;
export const EXT_FEATURES2 = 0x01a0;
export const CMD_BUF_HEAD = 0x2000;
export const CMD_BUF_TAIL = 0x2008;
export const EVT_LOG_HEAD = 0x2010;
export const EVT_LOG_TAIL = 0x2018;
export const STATUS = 0x2020;
export const GA_LOG_HEAD = 0x2040;
export const GA_LOG_TAIL = 0x2048;

// ---- Device Table Base (0x00): [8:0] Size ((Size+1) x 4 KiB), [51:12] DevTabBase.
export const DEV_TAB_SIZE_MASK = 0x1ffn;
export const ADDR_51_12_MASK = 0x000f_ffff_ffff_f000n;
export const DEV_TAB_BASE_WRITABLE = ADDR_51_12_MASK | DEV_TAB_SIZE_MASK;

// ---- Command Buffer / Event Log Base (0x08 / 0x10): [51:12] base, [59:56] length = log2(entries), 16-byte entries.
export const BUF_LEN_SHIFT = 56n;
export const BUF_LEN_MASK = 0xfn;
/** Smallest legal length encoding: 1000b = 256 entries (OpenVMM amd_iommu "Min 0b1000", FreeBSD AMDIOMMU_EVNTLOG_MIN 256). */
export const BUF_LEN_MIN = 8;
export const BUF_BASE_WRITABLE = ADDR_51_12_MASK | (BUF_LEN_MASK << BUF_LEN_SHIFT);

// ---- Exclusion range (0x20 / 0x28): stored only (they concern DMA, which this model does not translate).
export const EXCL_BASE_WRITABLE = ADDR_51_12_MASK | 0x3n;
export const EXCL_LIMIT_WRITABLE = ADDR_51_12_MASK;

// ---- Control (0x18), AMD IOMMU spec §3.4.
export const CTRL_IOMMU_EN = 1n << 0n;
export const CTRL_HT_TUN_EN = 1n << 1n;
export const CTRL_EVENT_LOG_EN = 1n << 2n;
export const CTRL_EVENT_INT_EN = 1n << 3n;
export const CTRL_COM_WAIT_INT_EN = 1n << 4n;
/** InvTimeOut [7:5], PassPW 8, ResPassPW 9, Coherent 10, Isoc 11: stored, no behaviour here. */
export const CTRL_PLAIN_BITS = 0xfe0n | CTRL_HT_TUN_EN;
export const CTRL_CMD_BUF_EN = 1n << 12n;
export const CTRL_GA_EN = 1n << 17n;
/** GAMEn [27:25]: 000b = 128-bit IRTEs with GuestMode = 0 only, 001b = guest virtual APIC (FreeBSD GAM_EN_vAPIC_GM1). */
export const CTRL_GAM_EN_SHIFT = 25n;
export const CTRL_GAM_EN_MASK = 7n << CTRL_GAM_EN_SHIFT;
export const GAM_EN_VAPIC = 1n;
export const CTRL_GA_LOG_EN = 1n << 28n;
export const CTRL_GA_INT_EN = 1n << 29n;
export const CTRL_NUM_INT_REMAP_SHIFT = 43n;
export const CTRL_NUM_INT_REMAP_MASK = 3n << CTRL_NUM_INT_REMAP_SHIFT;
/** NumIntRemapMode = 01b: 2048 IRTEs per function (Linux CONTROL_NUM_INT_REMAP_MODE). */
export const NUM_INT_REMAP_2K = 1n;
export const CTRL_XT_EN = 1n << 50n;
export const CTRL_INTCAPXT_EN = 1n << 51n;
export const CTRL_IRT_CACHE_DIS = 1n << 59n;

// ---- Status (0x2020), AMD IOMMU spec §3.4: only the event-log and command-buffer bits are live in this model.
export const STATUS_EVENT_OVERFLOW = 1 << 0;
export const STATUS_EVENT_LOG_INT = 1 << 1;
export const STATUS_COM_WAIT_INT = 1 << 2;
export const STATUS_EVENT_LOG_RUN = 1 << 3;
export const STATUS_CMD_BUF_RUN = 1 << 4;
/** Guest vAPIC log bits, as Linux/FreeBSD/VirtualBox number them (Xen's reversed order is the odd one out). */
export const STATUS_GA_LOG_RUN = 1 << 8;
export const STATUS_GA_OVERFLOW = 1 << 9;
export const STATUS_GA_INT = 1 << 10;
/**
 * Write-1-to-clear bits (VirtualBox IOMMU_STATUS RW1C mask 0x68E67: EventOverflow, EventLogInt, ComWaitInt,
 * PprOverflow, PprInt, GALOverflow, GAInt, PprOverflowB, EvtOverflowB, PprOverflowEarlyB/Early). The run bits
 * (3, 4, 7, 8, 12, 16) are read-only.
 */
export const STATUS_W1C_MASK = 0x68e67;

// ---- Head / tail pointers: byte offset in [18:4] (XEN IOMMU_RING_BUFFER_PTR_MASK 0x7FFF0).
export const RING_PTR_MASK = 0x7fff0;

// ---- GA log (0xE0 base, 0xE8 tail address, 0x2040/0x2048 head/tail), AMD IOMMU spec §3.4.
/** GA Log Base: [51:12] base, [59:56] GALogLen (same positions as the event log base). */
export const GA_LOG_BASE_WRITABLE = BUF_BASE_WRITABLE;
/** GA Log Tail Address: [51:3], where the IOMMU also stores the tail pointer (Linux iommu_ga_log_enable gives it a buffer). */
export const GA_LOG_TAIL_ADDR_WRITABLE = 0x000f_ffff_ffff_fff8n;
/** GA log head/tail: byte offset in [15:3], 8-byte entries (VirtualBox GALOG_HEAD_PTR_T). */
export const GA_LOG_PTR_MASK = 0xfff8;

// ---- XT interrupt control registers (0x170/0x178/0x180), AMD IOMMU spec §3.4:
// [2] DestMode, [31:8] Destination[23:0], [39:32] Vector, [40] IntType, [63:56] Destination[31:24].
export const XT_INTR_CTRL_WRITABLE = 0xff00_01ff_ffff_ff04n;

/** The 64-bit value's low and high dwords as unsigned numbers. */
export function lo32(value: bigint): number {
  return Number(value & 0xffff_ffffn);
}

export function hi32(value: bigint): number {
  return Number((value >> 32n) & 0xffff_ffffn);
}

/** Size in bytes of a command buffer / event log from the base register's length field (16-byte entries). */
export function ringBytes(baseReg: bigint): number {
  return 16 * 2 ** Number((baseReg >> BUF_LEN_SHIFT) & BUF_LEN_MASK);
}

/** Physical base ([51:12]) of a base-address register, as a plain number (exact below 2^53). */
export function ringBase(baseReg: bigint): number {
  return Number(baseReg & ADDR_51_12_MASK);
}
