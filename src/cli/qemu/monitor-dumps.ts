/**
 * Reading the interrupt remapping state of a running guest from the outside, through QEMU's monitor: the kernel
 * has no debugfs view of it here, and the IRTEs it wrote are the most exact record of its decisions.
 *  - Intel: the IRTA register (VT-d 10.4.29; QEMU's vtd_handle_gcmd_sirtp latches it) read with HMP `xp` from the
 *    DMAR unit's MMIO, then the whole table saved with QMP `pmemsave` (16-byte entries, 2^(S+1) of them).
 *  - AMD: the Device Table Base register (offset 0x0000 of the IOMMU's MMIO, whose address the IOMMU capability
 *    block in PCI config space holds), the device table saved with `pmemsave`, and for every DTE with IV = 1 and a
 *    remapped IntCtl the interrupt table it points at (IntTabRootPtr, 2^IntTabLen entries, 4 bytes each, or 16 with
 *    the Control register's GAEn set — the two formats of QEMU's amdvi_get_irte and amdvi_get_irte_ga).
 *  - MSI-X: each table (BAR address from the guest's sysfs `resource`, BIR and offset from the capability) read
 *    with `xp`; QEMU's msix_table_mmio_read answers the monitor like any other reader.
 * Also HMP `info pic` (the I/O APIC redirection entries, as ioapic_print_redtbl prints them) and `info pci`.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { QmpClient } from './qmp.ts';
import type { IrtDump, PciConfig } from '../../tools/qemu-recording.ts';

const hex = (n: bigint) => '0x' + n.toString(16);

/** Parses HMP `xp` output (`ADDR: 0x… 0x…` rows) into the values, in order. */
export function parseXp(text: string): bigint[] {
  const out: bigint[] = [];
  for (const line of text.replace(/\r/g, '').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    for (const v of line.slice(colon + 1).trim().split(/\s+/)) if (/^0x[0-9a-f]+$/i.test(v)) out.push(BigInt(v));
  }
  return out;
}

async function readQword(qmp: QmpClient, address: bigint): Promise<bigint> {
  const v = parseXp(await qmp.hmp(`xp /1gx ${hex(address)}`));
  if (v.length !== 1) throw new Error(`xp at ${hex(address)}: no value`);
  return v[0]!;
}

/** Saves guest-physical memory with QMP pmemsave into a scratch file and returns its bytes. */
async function readMemory(qmp: QmpClient, scratchDir: string, address: bigint, size: number): Promise<Buffer> {
  const file = join(scratchDir, 'pmemsave.bin');
  await qmp.execute('pmemsave', { val: Number(address), size, filename: file });
  const data = readFileSync(file);
  rmSync(file, { force: true });
  return data;
}

/** Little-endian entries of `size` bytes, as hex numbers, zero ones left out. */
function entries(data: Buffer, size: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; (i + 1) * size <= data.length; i++) {
    let v = 0n;
    for (let b = size - 1; b >= 0; b--) v = (v << 8n) | BigInt(data[i * size + b]!);
    if (v !== 0n) out[String(i)] = hex(v);
  }
  return out;
}

export async function dumpVtd(qmp: QmpClient, scratchDir: string, dmarBase: bigint): Promise<NonNullable<IrtDump['intel']>> {
  const irta = await readQword(qmp, dmarBase + 0xb8n);
  const tableAddress = irta & ~0xfffn;
  const count = 2 ** (Number(irta & 0xfn) + 1);
  const data = tableAddress === 0n ? Buffer.alloc(0) : await readMemory(qmp, scratchDir, tableAddress, count * 16);
  return { irta: hex(irta), tableAddress: hex(tableAddress), entries: count, eime: (irta & 0x800n) !== 0n, irte: entries(data, 16) };
}

export async function dumpAmdVi(qmp: QmpClient, scratchDir: string, mmioBase: bigint): Promise<NonNullable<IrtDump['amd']>> {
  const dtb = await readQword(qmp, mmioBase);
  const control = await readQword(qmp, mmioBase + 0x18n);
  const ga = ((control >> 17n) & 1n) === 1n; // Control register GAEn
  const base = dtb & 0x000f_ffff_ffff_f000n;
  const count = ((Number(dtb & 0x1ffn) + 1) * 4096) / 32;
  const table = base === 0n ? Buffer.alloc(0) : await readMemory(qmp, scratchDir, base, count * 32);
  const dte = entries(table, 32);
  const interruptTables: NonNullable<IrtDump['amd']>['interruptTables'] = {};
  for (const [id, value] of Object.entries(dte)) {
    const q2 = (BigInt(value) >> 128n) & 0xffff_ffff_ffff_ffffn;
    const iv = (q2 & 1n) === 1n;
    const intCtl = Number((q2 >> 60n) & 3n);
    if (!iv || intCtl !== 2) continue; // IntCtl 10b: remapped through the table
    const address = q2 & 0x000f_ffff_ffff_ffc0n;
    const length = 2 ** Number((q2 >> 1n) & 0xfn);
    const entrySize = ga ? 16 : 4;
    const data = await readMemory(qmp, scratchDir, address, length * entrySize);
    interruptTables['0x' + Number(id).toString(16)] = { address: hex(address), length, entrySize, irte: entries(data, entrySize) };
  }
  const dteHex: Record<string, string> = {};
  for (const [id, v] of Object.entries(dte)) dteHex['0x' + Number(id).toString(16)] = v;
  return { mmioBase: hex(mmioBase), deviceTableBase: hex(dtb), deviceTableEntries: count, dte: dteHex, interruptTables };
}

/** The MMIO base an AMD IOMMU's capability block (id 0x0f) holds at +4/+8, enable bit 0 cleared. */
export function amdIommuMmioBase(configs: readonly PciConfig[]): bigint | undefined {
  for (const c of configs) {
    const b = c.bytes;
    if (b.length < 0x40 || !(b[6]! & 0x10)) continue;
    const seen = new Set<number>();
    for (let p = b[0x34]! & 0xfc; p >= 0x40 && p + 12 <= b.length && !seen.has(p); p = b[p + 1]! & 0xfc) {
      seen.add(p);
      if (b[p] !== 0x0f) continue;
      const lo = BigInt((b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0);
      const hi = BigInt((b[p + 8]! | (b[p + 9]! << 8) | (b[p + 10]! << 16) | (b[p + 11]! << 24)) >>> 0);
      return ((hi << 32n) | lo) & ~0x3fffn;
    }
  }
  return undefined;
}

export async function dumpMsix(qmp: QmpClient, configs: readonly PciConfig[]): Promise<NonNullable<IrtDump['msix']>> {
  const out: NonNullable<IrtDump['msix']> = {};
  for (const c of configs) {
    if (!c.msix) continue;
    const bar = c.resources[c.msix.tableBar];
    if (!bar || bar.start === 0n) continue;
    const address = bar.start + BigInt(c.msix.tableOffset);
    const words = parseXp(await qmp.hmp(`xp /${c.msix.tableSize * 4}wx ${hex(address)}`));
    const e: Record<string, [string, string, string, string]> = {};
    for (let i = 0; i + 1 <= c.msix.tableSize && words.length >= (i + 1) * 4; i++) {
      const w = words.slice(i * 4, i * 4 + 4).map(hex) as [string, string, string, string];
      e[String(i)] = w;
    }
    out[c.bdf] = { tableAddress: hex(address), entries: e };
  }
  return out;
}
