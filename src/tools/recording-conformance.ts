/**
 * One recorded QEMU + Linux boot (test/fixtures/qemu-recordings/, read by qemu-recording.ts) held against irqpath:
 * 1. decision lines — the Linux model booted on the machine derived from the recording's QEMU command line and console
 *    (machineFromQemu), with the guest's CPU x2APIC flag and kernel command line, prints the interrupt-remapping,
 *    x2APIC and APIC-routing lines the kernel printed, strictly both ways (dmesg-check.ts);
 * 2. replay — every request of the recording's trace replayed (qemu-trace-replay.ts): how many the `qemu` profile
 *    ends otherwise than QEMU did (false divergences, expected 0), and how many hardware would end differently;
 * 3. allocation — the booted model sets up what the kernel set up while booting, in the kernel's order
 *    (guest/linux/boot-irqs.ts: built-in drivers in initcall order, then the recording's modprobe order), and each
 *    numbered /proc/interrupts row is compared with the model's row of the same kind and hwirq (I/O APIC pin; PCI
 *    MSI/MSI-X entry = hwirq & 0x7ff of requester id hwirq >> 11, pci_msi_domain_calc_hwirq): Linux IRQ number,
 *    action name, chip, trigger and the CPU the model's vector matrix chose (against the kernel's effective
 *    affinity), and for a remapped source the IRTE index the kernel wrote into the RTE / MSI-X entry / MSI capability
 *    and the 128-bit IRTE QEMU's monitor read at it.
 *    Then every entry of the model's interrupt remapping table(s) against the recording's dump of them, and every
 *    MSI-X table entry and I/O APIC RTE QEMU's monitor read against the model's.
 * Every row the model does not reproduce is returned as a named gap with the first difference as its reason.
 *
 * Browser-safe: takes file contents as strings (the caller gunzips trace-full.log.gz).
 */
import type { MachineConfig } from '../core/config-types.ts';
import { UsageError } from '../core/errors.ts';
import { parseLinuxVersion } from '../core/linux-version.ts';
import { createMachine } from '../machine/machine.ts';
import { createGuest } from '../guest/create-guest.ts';
import type { LinuxGuest } from '../guest/linux/linux-guest.ts';
import { requestBootIrqs, type LinuxBootIrqPlan } from '../guest/linux/boot-irqs.ts';
import { ioapicReadRte } from '../guest/ioapic-access.ts';
import { barBase, readMsixCap } from '../guest/pci-msi-setup.ts';
import type { AmdIommu } from '../iommu-amd/amd-iommu.ts';
import { checkRemappingLines } from './dmesg-check.ts';
import { machineFromQemu } from './qemu-machine.ts';
import { parseQemuCommandLine } from './qemu-command-line.ts';
import { replayQemuTrace } from './qemu-trace-replay.ts';
import {
  cpuHasX2apic, parseAffinities, recordingBootPlan, parseCmdline, parseIrtDump, parsePciConfig, parseProcInterrupts, splitSections,
  type InterruptRow, type IrtDump, type PciConfig, type RecordingProvenance,
} from './qemu-recording.ts';

/** The files of one recording directory, as text (absent files undefined). */
export interface RecordingFiles {
  name: string;
  provenance: string;
  console?: string;
  /** trace-full.log.gz decompressed, or trace.log. */
  trace?: string;
  irt?: string;
  monitorInfoPic?: string;
}

export interface ConformanceGap {
  check: 'decision' | 'hardware' | 'irte' | 'interrupts' | 'table' | 'source';
  /** What row: `IRQ 25 IR-PCI-MSI 32768 virtio0-config`, the decision line, or the first difference hardware has. */
  row: string;
  reason: string;
}

export interface RecordingConformance {
  name: string;
  /** false: QEMU refused the configuration or the guest did not boot (only the refusal is a fact then). */
  booted: boolean;
  decision: { agree: number; differ: number } | null;
  replay: {
    lines: number;
    requests: number;
    /** Requests the `qemu` profile ends otherwise than the log (VT-d; AMD-Vi has no qemu profile in the replay). */
    falseDivergences: number;
    /** Requests hardware ends otherwise than QEMU did, by the first difference. */
    hardwareDifferences: number;
    byDifference: Record<string, number>;
  } | null;
  irte: { agree: number; gap: number } | null;
  /**
   * Every entry of the interrupt remapping tables, whether a /proc/interrupts row uses it or not (an INTx GSI's IRTE,
   * a legacy pin never requested, an entry freed): the entries either side has non-zero, equal or not.
   */
  tables: { agree: number; differ: number } | null;
  /**
   * What the sources hold: every MSI-X table entry QEMU's monitor read (address, upper address, data, vector
   * control; unused entries masked) and every I/O APIC RTE (`info pic`), against the model's, as the guest reads them.
   */
  sources: { agree: number; differ: number } | null;
  interrupts: { agree: number; gap: number } | null;
  gaps: ConformanceGap[];
}

/** QEMU's q35 VT-d unit (Q35_HOST_BRIDGE_IOMMU_ADDR); its IRTA register (VT-d 11.4.29) is at 0xb8. */
const VTD_BASE = 0xfed90000;

export function recordingConformance(files: RecordingFiles): RecordingConformance {
  const prov = JSON.parse(files.provenance) as RecordingProvenance;
  const out: RecordingConformance = { name: files.name, booted: false, decision: null, replay: null, irte: null, tables: null, sources: null, interrupts: null, gaps: [] };
  if (files.trace !== undefined) {
    out.replay = replayCounts(files.trace);
    for (const [difference, n] of Object.entries(out.replay.byDifference)) out.gaps.push({ check: 'hardware', row: difference, reason: `${n} requests` });
  }
  const sections = files.console !== undefined ? splitSections(files.console) : null;
  if (!sections || prov.kernel === null || !sections.has('interrupts')) return out;
  out.booted = true;

  const cmd = parseQemuCommandLine(prov.argv);
  const derived = machineFromQemu(cmd, files.console!);
  const machine: MachineConfig = { ...derived.machine, cpu: { ...(derived.machine.cpu ?? {}), x2apic: cpuHasX2apic(sections.get('cpuinfo-flags') ?? '') } };
  const cmdline = parseCmdline(sections.get('cmdline') ?? prov.append).raw;

  const check = checkRemappingLines({ ...derived, machine, cmdline });
  out.decision = { agree: check.matched.length, differ: check.missing.length + check.extra.length };
  for (const l of check.missing) out.gaps.push({ check: 'decision', row: l, reason: 'the kernel printed it, the model did not' });
  for (const l of check.extra) out.gaps.push({ check: 'decision', row: l, reason: 'the model printed it, the kernel did not' });

  const version = parseLinuxVersion(derived.kernel ?? '6.1', 'kernel').text;
  const g = createGuest(createMachine(machine), { os: 'linux', version, cmdline }) as LinuxGuest;
  g.boot();
  compareAllocation(g, recordingBootPlan(prov), sections, files, out);
  return out;
}

/** The replay's counts; a log without any interrupt-remapping event (no vIOMMU) has no requests to replay. */
function replayCounts(trace: string): NonNullable<RecordingConformance['replay']> {
  let r;
  try {
    r = replayQemuTrace(trace);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return { lines: trace.split('\n').filter(Boolean).length, requests: 0, falseDivergences: 0, hardwareDifferences: 0, byDifference: {} };
  }
  let falseDivergences = 0;
  for (const grp of r.groups) {
    const q = (grp.request as { qemuProfile?: { matchesLog?: boolean } }).qemuProfile;
    if (q && q.matchesLog === false) falseDivergences += grp.count;
  }
  return { lines: r.summary.lines, requests: r.summary.requests, falseDivergences, hardwareDifferences: r.summary.diverging, byDifference: r.summary.divergences };
}

/** A recorded remapped source: the IRTE index the kernel wrote into the source, and the IRTE at it. */
interface RecordedIrte {
  /** AMD-Vi: the DeviceID whose interrupt table holds it. */
  devid?: number;
  index: number;
  value: string | undefined;
}

function compareAllocation(g: LinuxGuest, plan: LinuxBootIrqPlan, sections: Map<string, string>, files: RecordingFiles, out: RecordingConformance): void {
  const rows = parseProcInterrupts(sections.get('interrupts')!).rows.filter((r) => /^\d+$/.test(r.irq));
  const effective = new Map(parseAffinities(sections.get('irq-affinity') ?? '').map((a) => [a.irq, a.effective]));
  const configs = parsePciConfig(sections.get('pci-config') ?? '');
  const irt = files.irt ? parseIrtDump(files.irt) : null;
  const booted = requestBootIrqs(g, plan);
  // A row is the model's when its chip kind and hwirq match: pins by pin, MSIs by requester ID and entry.
  const kind = (chip: string) => chip.replace(/^IR-/, '');
  const model = new Map(booted.irqs.map((b) => [`${kind(b.chip)} ${b.hwirq}`, b]));
  let irqAgree = 0;
  let irteAgree = 0;
  let irteRows = 0;
  const gap = (check: ConformanceGap['check'], row: InterruptRow, reason: string) =>
    out.gaps.push({ check, row: `IRQ ${row.irq} ${row.chip} ${row.hwirq} ${row.name}`, reason });

  for (const row of rows) {
    const cpu = effective.get(Number(row.irq))?.[0];
    const recorded = recordedIrte(row, irt, configs, files.monitorInfoPic);
    if (recorded !== null) irteRows++;
    if (typeof recorded === 'string') gap('irte', row, recorded);
    const p = model.get(`${kind(row.chip ?? '')} ${row.hwirq}`);
    if (p === undefined || p.refused !== undefined) {
      const why = p?.refused !== undefined ? `the model refused it: ${p.refused}` : `the model's boot set up no ${row.chip} ${row.hwirq}`;
      gap('interrupts', row, why);
      if (recorded !== null && typeof recorded !== 'string') gap('irte', row, why);
      continue;
    }
    const diffs: string[] = [];
    if (String(p.irq) !== row.irq) diffs.push(`IRQ: model ${p.irq}, kernel ${row.irq}`);
    if (p.name !== row.name) diffs.push(`name: model ${p.name}, kernel ${row.name}`);
    if (p.chip !== row.chip) diffs.push(`chip: model ${p.chip}, kernel ${row.chip}`);
    if (p.trigger !== row.trigger) diffs.push(`trigger: model ${p.trigger}, kernel ${row.trigger}`);
    if (cpu !== undefined && p.cpu !== cpu) diffs.push(`CPU: model ${p.cpu}, kernel ${cpu}`);
    if (diffs.length === 0) irqAgree++;
    else gap('interrupts', row, diffs.join('; '));
    if (recorded === null || typeof recorded === 'string') continue;
    if (p.irteIndex === undefined) gap('irte', row, `the model wrote no IRTE; the kernel used IRTE ${recorded.index}`);
    else if (p.irteIndex !== recorded.index) gap('irte', row, `IRTE index: model ${p.irteIndex}, kernel ${recorded.index}`);
    else if (recorded.value === undefined) gap('irte', row, `IRTE ${recorded.index}: not in the recording's table dump`);
    else {
      const mine = recorded.devid === undefined ? modelIrte(g, p.irteIndex) : modelAmdIrte(g, recorded.devid, p.irteIndex, irt!.amd!.interruptTables['0x' + recorded.devid.toString(16)]!.entrySize);
      if (mine === recorded.value) irteAgree++;
      else gap('irte', row, `IRTE ${p.irteIndex}: model ${mine}, kernel ${recorded.value}`);
    }
  }
  out.interrupts = { agree: irqAgree, gap: rows.length - irqAgree };
  out.irte = { agree: irteAgree, gap: irteRows - irteAgree };
  if (irt !== null) out.tables = compareTables(g, irt, out);
  out.sources = compareSources(g, irt, files.monitorInfoPic, out);
}

/** Every recorded MSI-X table entry and I/O APIC RTE against the model's (null when the recording has neither). */
function compareSources(g: LinuxGuest, irt: IrtDump | null, pic: string | undefined, out: RecordingConformance): RecordingConformance['sources'] {
  if (!irt?.msix && pic === undefined) return null;
  const cpu = g.machine.cpu(0);
  let agree = 0;
  let differ = 0;
  const compare = (what: string, mine: string, kernel: string) => {
    if (mine === kernel) agree++;
    else {
      differ++;
      out.gaps.push({ check: 'source', row: what, reason: `model ${mine}, kernel ${kernel}` });
    }
  };
  for (const [bdf, table] of Object.entries(irt?.msix ?? {})) {
    const short = bdf.replace(/^0000:/, '');
    const dev = g.machine.config.devices?.some((d) => d.bdf === short) ? g.machine.device(short) : null;
    const cap = dev ? readMsixCap(dev) : null;
    for (const [entry, kernel] of Object.entries(table.entries)) {
      if (dev === null || cap === null) {
        compare(`MSI-X ${bdf} entry ${entry}`, 'no such MSI-X table', kernel.join(' '));
        continue;
      }
      // PCI Local Bus 3.0 6.8.2: each entry is Message Address, Message Upper Address, Message Data, Vector Control.
      const at = barBase(dev, cap.tableBir) + cap.tableOffset + Number(entry) * 16;
      const mine = [0, 4, 8, 12].map((o) => '0x' + (cpu.read32(at + o) >>> 0).toString(16));
      compare(`MSI-X ${bdf} entry ${entry}`, mine.join(' '), kernel.join(' '));
    }
  }
  const base = g.machine.firmware.madt.ioapic.address;
  for (const m of (pic ?? '').matchAll(/pin (\d+)\s+0x([0-9a-f]{16})/g)) {
    compare(`I/O APIC pin ${m[1]}`, ioapicReadRte(cpu, base, Number(m[1])).toString(16).padStart(16, '0'), m[2]);
  }
  return { agree, differ };
}

/**
 * The whole interrupt remapping table(s) of the model against the recording's dump (which lists the non-zero
 * entries): Intel's one table; AMD's table of every DeviceID either the recording or the model has one for.
 */
function compareTables(g: LinuxGuest, irt: IrtDump, out: RecordingConformance): RecordingConformance['tables'] {
  let agree = 0;
  let differ = 0;
  const compare = (what: string, recorded: Record<string, string>, model: Map<number, string>) => {
    const indices = new Set([...Object.keys(recorded).map(Number), ...model.keys()]);
    for (const i of [...indices].sort((a, b) => a - b)) {
      const kernel = recorded[String(i)] ?? '0x0';
      const mine = model.get(i) ?? '0x0';
      if (kernel === mine) agree++;
      else {
        differ++;
        out.gaps.push({ check: 'table', row: `${what} IRTE ${i}`, reason: `model ${mine}, kernel ${kernel}` });
      }
    }
  };
  if (irt.intel && g.interruptRemapping === 'intel') {
    compare('VT-d', irt.intel.irte, modelIntelTable(g, irt.intel.entries));
  } else if (irt.amd && g.interruptRemapping === 'amd') {
    const devids = new Set([...Object.keys(irt.amd.interruptTables).map((k) => Number(k)), AMD_IOAPIC_DEVID, ...(g.machine.config.devices ?? []).map((d) => g.machine.device(d.bdf).requesterId)]);
    for (const devid of [...devids].sort((a, b) => a - b)) {
      const t = irt.amd.interruptTables['0x' + devid.toString(16)];
      compare(`AMD-Vi DeviceID 0x${devid.toString(16)}`, t?.irte ?? {}, modelAmdTable(g, devid, t?.length ?? 512, t?.entrySize ?? 16));
    }
  } else {
    return null;
  }
  return { agree, differ };
}

/** The model's non-zero VT-d IRTEs, index → 128-bit hex as QEMU's monitor dump prints it. */
function modelIntelTable(g: LinuxGuest, entries: number): Map<number, string> {
  const out = new Map<number, string>();
  for (let i = 0; i < entries; i++) {
    const v = modelIrte(g, i);
    if (v !== '0x0') out.set(i, v);
  }
  return out;
}

/** The model's non-zero entries of DeviceID `devid`'s interrupt table (none when its DTE points at none). */
function modelAmdTable(g: LinuxGuest, devid: number, length: number, entrySize: number): Map<number, string> {
  const out = new Map<number, string>();
  for (let i = 0; i < length; i++) {
    const v = modelAmdIrte(g, devid, i, entrySize);
    if (v === 'no interrupt table') break;
    if (v !== '0x0') out.set(i, v);
  }
  return out;
}

/**
 * The IRTE index the kernel wrote into a remapped source, and the IRTE QEMU's monitor read there; null for a source
 * that is not remapped; a string names why a remapped source cannot be compared.
 */
function recordedIrte(row: InterruptRow, irt: IrtDump | null, configs: PciConfig[], pic: string | undefined): RecordedIrte | string | null {
  if (!row.chip?.startsWith('IR-')) return null;
  if (!irt?.intel && !irt?.amd) return 'the recording has no interrupt remapping table dump';
  if (row.chip === 'IR-IO-APIC') {
    const m = pic ? new RegExp(`pin ${row.hwirq}\\s+0x([0-9a-f]{16})`).exec(pic) : null;
    if (!m) return 'the recording has no RTE for this pin (info pic)';
    const rte = BigInt('0x' + m[1]);
    if (irt.amd) {
      // AMD-Vi: the I/O APIC's requests carry the RTE's low data bits, whose 10:0 index the table (AMD IOMMU 2.2.5);
      // Linux's table for the southbridge I/O APIC is the one of IVRS device 00:14.0 (IOAPIC_SB_DEVID).
      const index = Number(rte & 0x7ffn);
      return { devid: AMD_IOAPIC_DEVID, index, value: amdValue(irt, AMD_IOAPIC_DEVID, index) };
    }
    const value = (index: number) => irt.intel!.irte[String(index)];
    // Remappable RTE (VT-d 5.1.5.1): handle[14:0] in bits 63:49, handle[15] in bit 11.
    const index = Number((rte >> 49n) & 0x7fffn) | (Number((rte >> 11n) & 1n) << 15);
    return { index, value: value(index) };
  }
  const rid = row.hwirq! >> 11;
  const entry = row.hwirq! & 0x7ff;
  const bdf = `0000:${(rid >> 8).toString(16).padStart(2, '0')}:${((rid >> 3) & 31).toString(16).padStart(2, '0')}.${rid & 7}`;
  let addr: number | undefined;
  let data = 0;
  const msix = irt.msix?.[bdf]?.entries[String(entry)];
  if (msix) {
    addr = Number(msix[0]);
    data = Number(msix[2]);
  } else {
    const msi = configs.find((c) => `0000:${c.bdf}` === bdf || c.bdf === bdf)?.msi;
    if (msi) {
      addr = Number(msi.address & 0xffffffffn);
      data = msi.data;
    }
  }
  if (addr === undefined) return 'the recording has neither an MSI-X entry nor an MSI capability for it';
  // AMD-Vi: the message data's bits 10:0 index the requester's table (AMD IOMMU 2.2.5.1).
  if (irt.amd) return { devid: rid, index: data & 0x7ff, value: amdValue(irt, rid, data & 0x7ff) };
  const value = (index: number) => irt.intel!.irte[String(index)];
  // Remappable MSI address (VT-d 5.1.5.2): handle[14:0] in bits 19:5, handle[15] in bit 2, SHV in bit 3.
  let index = ((addr >> 5) & 0x7fff) | (((addr >> 2) & 1) << 15);
  if ((addr >> 3) & 1) index += data & 0xffff;
  return { index, value: value(index) };
}

/** IOAPIC_SB_DEVID (drivers/iommu/amd/init.c): the southbridge I/O APIC's DeviceID, 00:14.0. */
const AMD_IOAPIC_DEVID = 0xa0;

function amdValue(irt: IrtDump, devid: number, index: number): string | undefined {
  const t = irt.amd!.interruptTables['0x' + devid.toString(16)];
  return t?.irte[String(index)] ?? (t ? '0x0' : undefined);
}

/**
 * The model's AMD-Vi IRTE: the Device Table Base register (offset 0), the DTE's IntTabRootPtr (bits 179:134, i.e.
 * bits 51:6 of its third quadword), then the entry, 16 bytes (GA format) or 4 as `entrySize` says.
 */
function modelAmdIrte(g: LinuxGuest, devid: number, index: number, entrySize: number): string {
  const cpu = g.machine.cpu(0);
  const unit = g.machine.iommu as AmdIommu;
  const devTable = Number(cpu.read64(unit.base) & 0x000f_ffff_ffff_f000n);
  const root = Number(cpu.read64(devTable + devid * 32 + 16) & 0x000f_ffff_ffff_ffc0n);
  if (root === 0) return 'no interrupt table';
  if (entrySize === 4) return '0x' + cpu.read32(root + index * 4).toString(16);
  const lo = cpu.read64(root + index * 16);
  const hi = cpu.read64(root + index * 16 + 8);
  return '0x' + ((hi << 64n) | lo).toString(16);
}

/** The model's IRTE `index` as QEMU's monitor dump prints it: the 128-bit entry in hex. */
function modelIrte(g: LinuxGuest, index: number): string {
  const cpu = g.machine.cpu(0);
  const table = Number(cpu.read64(VTD_BASE + 0xb8) & ~0xfffn);
  const lo = cpu.read64(table + index * 16);
  const hi = cpu.read64(table + index * 16 + 8);
  return '0x' + ((hi << 64n) | lo).toString(16);
}
