/**
 * VT-d remapping-unit register offsets and bit fields (Intel VT-d spec §11.4; bit positions
 * agree across QEMU intel_iommu_internal.h, Linux intel/iommu.h, FreeBSD intel_reg.h and VirtualBox iommu-intel.h).
 *
 * Every register is modelled as one or two 32-bit dwords: the MMIO dispatcher splits an 8-byte access into its low
 * and high dword (low first), which is also how Linux touches several of them (writel of IQT, FRCD +12).
 */

// ---- Register offsets from the DRHD base ------------------------------------------------------------------------
export const VER_REG = 0x000;
export const CAP_REG = 0x008;
export const ECAP_REG = 0x010;
export const GCMD_REG = 0x018;
export const GSTS_REG = 0x01c;
export const RTADDR_REG = 0x020;
export const CCMD_REG = 0x028;
export const FSTS_REG = 0x034;
export const FECTL_REG = 0x038;
export const FEDATA_REG = 0x03c;
export const FEADDR_REG = 0x040;
export const FEUADDR_REG = 0x044;
export const IQH_REG = 0x080;
export const IQT_REG = 0x088;
export const IQA_REG = 0x090;
export const ICS_REG = 0x09c;
export const IECTL_REG = 0x0a0;
export const IEDATA_REG = 0x0a4;
export const IEADDR_REG = 0x0a8;
export const IEUADDR_REG = 0x0ac;
export const IQERCD_REG = 0x0b0;
export const IRTA_REG = 0x0b8;

/**
 * Implementation-defined placement (the spec lets CAP.FRO / ECAP.IRO choose it). A real Skylake-era unit has FRCDs at
 * 0x400 and IOTLB registers at 0x500 (VT-d spec §11.4); we put IVA/IOTLB at 0x500 and the fault recording registers after
 * them at 0x600, so up to 256 records fit without overlapping anything.
 */
export const IRO_UNITS = 0x50;
export const IVA_REG = IRO_UNITS * 16;
export const IOTLB_REG = IVA_REG + 8;
export const FRO_UNITS = 0x60;
export const FRCD_BASE = FRO_UNITS * 16;
export const FRCD_SIZE = 16;

// ---- GCMD / GSTS (§11.4.4–5) --------------------------------------------------------------------------------------
export const GCMD_TE = 1 << 31;
export const GCMD_SRTP = 1 << 30;
export const GCMD_SFL = 1 << 29;
export const GCMD_EAFL = 1 << 28;
export const GCMD_WBF = 1 << 27;
export const GCMD_QIE = 1 << 26;
export const GCMD_IRE = 1 << 25;
export const GCMD_SIRTP = 1 << 24;
export const GCMD_CFI = 1 << 23;
/** GSTS uses the same positions: TES, RTPS, FLS, AFLS, WBFS, QIES, IRES, IRTPS, CFIS. */
export const GSTS_TES = GCMD_TE;
export const GSTS_RTPS = GCMD_SRTP;
export const GSTS_QIES = GCMD_QIE;
export const GSTS_IRES = GCMD_IRE;
export const GSTS_IRTPS = GCMD_SIRTP;
export const GSTS_CFIS = GCMD_CFI;

// ---- FSTS (§11.4) ----------------------------------------------------------------------------------------------
export const FSTS_PFO = 1 << 0;
export const FSTS_PPF = 1 << 1;
export const FSTS_AFO = 1 << 2;
export const FSTS_APF = 1 << 3;
export const FSTS_IQE = 1 << 4;
export const FSTS_ICE = 1 << 5;
export const FSTS_ITE = 1 << 6;
/** Deprecated PRO: MBZ (VirtualBox iommu-intel.h); Linux still writes it, so it must be ignored. */
export const FSTS_PRO = 1 << 7;
export const FSTS_FRI_SHIFT = 8;
/** Write-1-to-clear status bits (PPF and FRI are read-only, derived from the records). */
export const FSTS_W1C = FSTS_PFO | FSTS_AFO | FSTS_APF | FSTS_IQE | FSTS_ICE | FSTS_ITE;
/** The "status fields" the interrupt-condition rule looks at (FECTL.IP description, reference DS). */
export const FSTS_STATUS_FIELDS = FSTS_PFO | FSTS_PPF | FSTS_AFO | FSTS_APF | FSTS_IQE | FSTS_ICE | FSTS_ITE;

// ---- FECTL / IECTL (§11.4) -------------------------------------------------------------------------------------
export const ECTL_IM = 1 << 31;
export const ECTL_IP = 1 << 30;
/** Event data registers: 15:0 message data (31:16 were EIMD before 2021, now reserved; VT-d spec §11.4 FEDATA_REG). */
export const EDATA_MASK = 0x0000ffff;
/** Event address registers: 31:2 message address, 1:0 reserved. */
export const EADDR_MASK = 0xfffffffc;

// ---- FRCD (§11.4), dword view ------------------------------------------------------------------------------------
/** Dword at +12: F (RW1C) in bit 31, T in bit 30, FR in bits 7:0. */
export const FRCD_HI_F = 1 << 31;
/** Dword at +12 bit 30: T (bit 126) — 1 read, 0 write. */
export const FRCD_HI_T = 1 << 30;

// ---- IRTA (§11.4) ----------------------------------------------------------------------------------------------
export const IRTA_EIME = 1 << 11;
export const IRTA_S_MASK = 0xf;
export const IRTA_ADDR_LO_MASK = 0xfffff000;

// ---- Invalidation queue (§11.4.9) ----------------------------------------------------------------------------------
export const IQA_ADDR_LO_MASK = 0xfffff000;
export const IQA_QS_MASK = 0x7;
/**
 * IQA.DW (bit 11): 256-bit descriptors. RW (reads return what was last programmed), but "when both SMTS and ADMS are
 * not supported, hardware treats a value of 1 in this field as an Invalidation Queue Error" (IQEI 5) — VT-d spec
 * IQA_REG / IQERCD_REG field descriptions; VT-d spec §11.4.9 (VBox: IQE "invalid descriptor width", QEMU wmask …F807).
 */
export const IQA_DW = 1 << 11;
/** IQH / IQT: 18:4 (128-bit descriptors; 256-bit descriptors need ECAP.SMTS or ADMS, which this unit does not offer). */
export const IQ_PTR_MASK = 0x7fff0;
export const ICS_IWC = 1 << 0;

// ---- RTADDR / CCMD / IOTLB (accepted, DMA translation side) -----------------------------------------------------
/**
 * RTADDR low dword: 31:12 RTA. TTM (11:10) selects scalable mode (01b, needs ECAP.SMTS) or abort-DMA mode (11b, needs
 * ECAP.ADMS); this unit offers neither, so TTM is legacy (00b) and reads 0.
 */
export const RTADDR_LO_MASK = 0xfffff000;
/** CCMD high dword: 63 ICC, 62:61 CIRG, 60:59 CAIG (RO), 33:32 FM. */
export const CCMD_HI_ICC = 1 << 31;
export const CCMD_HI_WMASK = 0xe0000003;
/** IOTLB high dword: 63 IVT, 61:60 IIRG, 58:57 IAIG (RO), 49 DR, 48 DW, 47:32 DID. */
export const IOTLB_HI_IVT = 1 << 31;
export const IOTLB_HI_WMASK = 0xb003ffff;
/** IVA low dword: 31:12 ADDR, 6 IH, 5:0 AM. */
export const IVA_LO_WMASK = 0xfffff07f;
