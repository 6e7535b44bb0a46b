/**
 * Minimal driver-style programming for the benchmark: everything goes through the public API (CPU stores to MMIO
 * and RAM, config space), the way a guest kernel would, so the measured path is the real one.
 */
import type { Machine } from '../src/machine/machine.ts';
import { createSystem } from '../src/guest/create-system.ts';
import { createGuest } from '../src/guest/create-guest.ts';
import * as vtd from '../src/iommu-intel/registers.ts';
import * as amdvi from '../src/iommu-amd/registers.ts';

const PCI_COMMAND = 0x04;
const PCI_CAP_PTR = 0x34;
const CAP_ID_MSIX = 0x11;
const MSIX_ENABLE = 0x8000;

/** Software-enable a CPU's local APIC, in x2APIC mode when asked. */
export function enableLapic(m: Machine, cpu: number, x2apic: boolean): void {
  const c = m.cpu(cpu);
  if (x2apic) {
    c.wrmsr(0x1b, c.rdmsr(0x1b) | (1n << 10n));
    c.wrmsr(0x80f, 0x1ffn);
  } else {
    c.write32(0xfee000f0, 0x1ff);
  }
}

function findCapability(m: Machine, bdf: string, id: number): number {
  const d = m.device(bdf);
  for (let ptr = d.configRead(PCI_CAP_PTR, 1); ptr !== 0; ptr = d.configRead(ptr + 1, 1)) {
    if (d.configRead(ptr, 1) === id) return ptr;
  }
  throw new Error(`${bdf} has no capability 0x${id.toString(16)}`);
}

/** Program MSI-X entry n with (addr, data), enable MSI-X and bus mastering. */
export function programMsix(m: Machine, bdf: string, n: number, addr: bigint, data: number): void {
  const d = m.device(bdf);
  const cap = findCapability(m, bdf, CAP_ID_MSIX);
  const tableReg = d.configRead(cap + 4, 4);
  const bir = tableReg & 7;
  const barLo = d.configRead(0x10 + 4 * bir, 4) & ~0xf;
  const barHi = (d.configRead(0x10 + 4 * bir, 4) & 0x6) === 0x4 ? d.configRead(0x14 + 4 * bir, 4) : 0;
  const entry = barHi * 2 ** 32 + (barLo >>> 0) + (tableReg & ~7) + 16 * n;
  const cpu = m.cpu(0);
  cpu.write32(entry, Number(addr & 0xffffffffn));
  cpu.write32(entry + 4, Number(addr >> 32n));
  cpu.write32(entry + 8, data);
  cpu.write32(entry + 12, 0);
  d.configWrite(cap + 2, 2, d.configRead(cap + 2, 2) | MSIX_ENABLE);
  d.configWrite(PCI_COMMAND, 2, d.configRead(PCI_COMMAND, 2) | 0x6);
}

/** Intel VT-d: IRT at `table`, EIME, IRE on; IRTE `index` → x2APIC `dest`, `vector`, no source validation. */
export function programIntelIrte(m: Machine, table: number, index: number, dest: number, vector: number): void {
  const base = m.firmware.dmar!.registerBase;
  const cpu = m.cpu(0);
  cpu.write64(table + 16 * index, (BigInt(dest) << 32n) | (BigInt(vector) << 16n) | 1n);
  cpu.write64(table + 16 * index + 8, 0n);
  cpu.write64(base + vtd.IRTA_REG, BigInt(table) | BigInt(vtd.IRTA_EIME) | 0xfn);
  cpu.write32(base + vtd.GCMD_REG, vtd.GCMD_SIRTP);
  cpu.write32(base + vtd.GCMD_REG, vtd.GCMD_IRE);
}

/** AMD-Vi: device table at `devTab`, per-device IRT at `irt` for `deviceId`; 128-bit IRTE `index` → `dest`, `vector`. */
export function programAmdIrte(m: Machine, devTab: number, irt: number, deviceId: number, index: number, dest: number, vector: number): void {
  const base = m.firmware.ivrs!.registerBase;
  const cpu = m.cpu(0);
  const dte = devTab + deviceId * 32;
  // DTE qword 2: IV (bit 0), IntTabLen = 9 (512 entries, bits 4:1), table root (51:6), IntCtl = 10b remap (61:60).
  cpu.write64(dte + 16, 1n | (9n << 1n) | BigInt(irt) | (2n << 60n));
  // 128-bit IRTE: RemapEn, fixed, physical, destination 23:0 in 31:8; vector in 71:64; destination 31:24 in 127:120.
  cpu.write64(irt + 16 * index, 1n | (BigInt(dest & 0xffffff) << 8n));
  cpu.write64(irt + 16 * index + 8, BigInt(vector) | (BigInt(dest >>> 24) << 56n));
  cpu.write64(base + amdvi.DEV_TAB_BASE, BigInt(devTab) | 0x1ffn);
  cpu.write64(base + amdvi.CONTROL, amdvi.CTRL_IOMMU_EN | amdvi.CTRL_GA_EN | amdvi.CTRL_XT_EN);
}

/**
 * A VT-d legacy-mode mapping for `bdf`: root entry → context entry (TT = 00b, AW = 2: 4-level, DID 1) → 4-level
 * second-level table mapping the 4 KiB page at `iova` to `pa` with R and W; RTADDR latched by SRTP, then TE set —
 * the layout of VT-d spec §9.1/§9.3/§9.8, written to RAM and the unit's registers as a driver does.
 */
export function programVtdDmaMapping(m: Machine, bdf: string, iova: number, pa: number): void {
  const cpu = m.cpu(0);
  const sid = m.device(bdf).requesterId;
  const root = 0x0080_0000;
  const ctx = root + 0x1000;
  let next = root + 0x2000;
  cpu.write64(root + (sid >>> 8) * 16, BigInt(ctx) | 1n);
  const slpt = next;
  next += 0x1000;
  cpu.write64(ctx + (sid & 0xff) * 16 + 8, 2n | (1n << 8n));
  cpu.write64(ctx + (sid & 0xff) * 16, BigInt(slpt) | 1n);
  let table = slpt;
  for (let level = 4; level > 1; level--) {
    const at = table + (Math.floor(iova / 2 ** (12 + 9 * (level - 1))) % 512) * 8;
    cpu.write64(at, BigInt(next) | 3n);
    table = next;
    next += 0x1000;
  }
  cpu.write64(table + (Math.floor(iova / 4096) % 512) * 8, BigInt(pa) | 3n);
  const base = m.firmware.dmar!.registerBase;
  cpu.write64(base + vtd.RTADDR_REG, BigInt(root));
  cpu.write32(base + vtd.GCMD_REG, vtd.GCMD_SRTP);
  cpu.write32(base + vtd.GCMD_REG, vtd.GCMD_TE >>> 0);
}

/** Set Bus Master Enable in the PCI command register (a driver's pci_set_master). */
export function enableBusMaster(m: Machine, bdf: string): void {
  const d = m.device(bdf);
  d.configWrite(PCI_COMMAND, 2, d.configRead(PCI_COMMAND, 2) | 4);
}


/**
 * An assigned NIC: a Linux host with VT-d remapping, a Linux guest with the host's 02:00.0 as its 00:05.0, the
 * `hardware` VMM profile; the guest has programmed MSI-X entry 0 for its CPU 1. The bench's vmm-routed row and the
 * stress campaign's heap check both fire it.
 */
export function assignedNic() {
  const sys = createSystem({
    host: { cpus: 4, iommu: { kind: 'intel', dmaTranslation: false }, devices: [{ bdf: '02:00.0', msix: { entries: 4 } }] },
    guest: { cpus: 4, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
    vmm: { profile: 'hardware' },
  });
  const guest = createGuest(sys.guest, { os: 'linux' });
  guest.boot();
  guest.setupInterrupt({ id: 'q0', kind: 'msix', device: '00:05.0', vector: 0, cpu: 1 });
  return { sys, guest, device: sys.host.device('02:00.0') };
}
