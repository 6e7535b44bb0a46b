/**
 * `irqpath from-dmesg`: the machine a Linux boot log implies. Reads the lines Linux prints about what it found
 * (MADT, DMAR/IVRS, the IOMMU registers, CPU count, CPU vendor, hypervisor) and builds a `MachineConfig` that
 * `createMachine` — and a scenario file's `machine:` — accepts as is, plus notes on what the log did not say and
 * which value was chosen instead.
 *
 * Accepted line prefixes: a dmesg timestamp (`[    0.048702] `), syslog/journal (`May 30 17:32:17 host kernel: `,
 * optionally followed by a timestamp), a mail quote (`> `), or none.
 */
import type { AmdIommuOptions, IntelIommuOptions, MachineConfig } from '../core/config-types.ts';
import { formatBdf, parseBdf } from '../core/bdf.ts';

export interface DmesgMachine {
  machine: MachineConfig;
  /** The kernel version the log names ("6.15.7"), or null. */
  kernel: string | null;
  /** What the log did not determine and what was assumed instead, one sentence each. */
  notes: string[];
  /** The log's lines without prefixes (what the model's output is compared with). */
  lines: string[];
}

const SYSLOG = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: /;
const ISO_SYSLOG = /^\d{4}-\d\d-\d\dT\S+ \S+ kernel: /;
const STAMP = /^\[\s*\d+\.\d+\] ?/;

/** One log line without its syslog/journal, timestamp and quote prefixes. */
export function stripPrefix(raw: string): string {
  let line = raw.replace(/\r$/, '');
  line = line.replace(/^(> ?)+/, '');
  line = line.replace(SYSLOG, '').replace(ISO_SYSLOG, '');
  line = line.replace(STAMP, '');
  return line.replace(/\s+$/, '');
}

interface Drhd {
  base: number;
  flags: number;
  cap?: string;
  ecap?: string;
  ver?: string;
  ioapicIds: number[];
  hpetIds: number[];
}

const MODEL_MAX_IOAPIC_ID = 15;
const MODEL_MAX_PINS = 120;

export function machineFromDmesg(text: string): DmesgMachine {
  const lines = text.split('\n').map(stripPrefix).filter((l) => l.length > 0);
  const notes: string[] = [];
  let kernel: string | null = null;
  let cpus: number | null = null;
  let cpuSource = '';
  let vendor: 'intel' | 'amd' | null = null;
  let bareMetal: boolean | null = null;
  const ioapics: { id: number; version: number; gsiFirst: number; gsiLast: number }[] = [];
  let haw: number | null = null;
  const drhds: Drhd[] = [];
  let optOut = false;
  let dmarIrSeen = false;
  let ioapicUnmapped = false;
  let efr: string | null = null;
  let efr2: string | null = null;
  let amdIommuBdf: string | null = null;
  let amdIr: 'enabled' | 'no-southbridge' | null = null;
  const amdMissingIoapics: number[] = [];
  let sawAmdVi = false;

  for (const l of lines) {
    let m: RegExpExecArray | null;
    if ((m = /^Linux version (\d+\.\d+(?:\.\d+)?)/.exec(l))) kernel = m[1];
    else if ((m = /^(?:smpboot|CPU topo): Allowing (\d+) present CPUs plus \d+ hotplug CPUs/.exec(l))) {
      cpus = Number(m[1]);
      cpuSource = l;
    } else if ((m = /^smpboot: Allowing (\d+) CPUs, (\d+) hotplug CPUs/.exec(l))) {
      // Before 4.x's rewording the first number counted the hotplug slots too (possible CPUs).
      cpus = Number(m[1]) - Number(m[2]);
      cpuSource = l;
    } else if ((m = /^smp: Brought up \d+ nodes?, (\d+) CPUs?/.exec(l)) && cpus === null) {
      cpus = Number(m[1]);
      cpuSource = l;
    } else if ((m = /^smpboot: CPU0: (.*)$/.exec(l))) {
      if (/\bIntel\b|GenuineIntel/i.test(m[1])) vendor = 'intel';
      else if (/\bAMD\b|AuthenticAMD|Hygon/i.test(m[1])) vendor = 'amd';
    } else if (/^Booting paravirtualized kernel on bare hardware/.test(l)) bareMetal = true;
    else if (/^Hypervisor detected:|^Booting paravirtualized kernel on (?!bare)/.test(l)) bareMetal = false;
    else if ((m = /^IOAPIC\[\d+\]: apic_id (\d+), version (\d+), address 0x([0-9a-f]+), GSI (\d+)-(\d+)/.exec(l))) {
      ioapics.push({ id: Number(m[1]), version: Number(m[2]), gsiFirst: Number(m[4]), gsiLast: Number(m[5]) });
    } else if ((m = /^DMAR: Host address width (\d+)/.exec(l))) haw = Number(m[1]);
    else if ((m = /^DMAR: DRHD base: 0x([0-9a-f]+) flags: 0x([0-9a-f]+)/.exec(l))) {
      drhds.push({ base: parseInt(m[1], 16), flags: parseInt(m[2], 16), ioapicIds: [], hpetIds: [] });
    } else if ((m = /^DMAR: dmar(\d+): reg_base_addr ([0-9a-f]+) ver (\d+:\d+) cap ([0-9a-f]+) ecap ([0-9a-f]+)/.exec(l))) {
      const base = parseInt(m[2], 16);
      const d = drhds.find((x) => x.base === base);
      if (d) Object.assign(d, { ver: m[3], cap: m[4], ecap: m[5] });
    } else if ((m = /^DMAR-IR: IOAPIC id (\d+) under DRHD base\s+0x([0-9a-f]+)/.exec(l))) {
      dmarIrSeen = true;
      drhds.find((x) => x.base === parseInt(m![2], 16))?.ioapicIds.push(Number(m[1]));
    } else if ((m = /^DMAR-IR: HPET id (\d+) under DRHD base\s+0x([0-9a-f]+)/.exec(l))) {
      dmarIrSeen = true;
      drhds.find((x) => x.base === parseInt(m![2], 16))?.hpetIds.push(Number(m[1]));
    } else if (/^DMAR-IR: x2apic is disabled because BIOS sets x2apic opt out bit/.test(l)) {
      optOut = true;
      dmarIrSeen = true;
    } else if (/^DMAR-IR: \[Firmware Bug\]: ioapic \d+ has no mapping iommu/.test(l)) {
      ioapicUnmapped = true;
      dmarIrSeen = true;
    } else if (l.startsWith('DMAR-IR: ')) dmarIrSeen = true;
    else if ((m = /AMD-Vi: Extended features \(0x([0-9a-f]+)(?:, 0x([0-9a-f]+))?\)/.exec(l))) {
      sawAmdVi = true;
      efr = m[1];
      if (m[2] !== undefined) efr2 = m[2];
    } else if ((m = /^AMD-Vi: Using global IVHD EFR:0x([0-9a-f]+), EFR2:0x([0-9a-f]+)/.exec(l))) {
      sawAmdVi = true;
      efr ??= m[1];
      efr2 ??= m[2];
    } else if ((m = /^pci [0-9a-f]{4}:([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): AMD-Vi: (?:Found IOMMU|IOMMU performance)/.exec(l))) {
      sawAmdVi = true;
      amdIommuBdf = m[1];
    } else if ((m = /^AMD-Vi: Found IOMMU at [0-9a-f]{4}:([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])/.exec(l))) {
      sawAmdVi = true;
      amdIommuBdf = m[1];
    } else if ((m = /AMD-Vi: (?:\[Firmware Bug\]: :? ?)?IOAPIC\[(\d+)\] not in IVRS table/.exec(l))) {
      sawAmdVi = true;
      amdMissingIoapics.push(Number(m[1]));
    } else if (/AMD-Vi: (?:\[Firmware Bug\]: :? ?)?No southbridge IOAPIC found/.test(l)) {
      sawAmdVi = true;
      amdIr = 'no-southbridge';
    } else if (/^AMD-Vi: Interrupt remapping enabled/.test(l)) {
      sawAmdVi = true;
      amdIr = 'enabled';
    }
  }

  const machine: MachineConfig = { cpus: 1 };
  if (cpus === null) {
    notes.push('CPU count: no "Allowing N present CPUs" or "smp: Brought up" line; 1 CPU assumed');
  } else {
    machine.cpus = cpus;
    notes.push(`CPU count ${cpus} from "${cpuSource}"; APIC IDs not in the log, 0..${cpus - 1} assumed`);
  }

  // ---- IOMMU ---------------------------------------------------------------------------------------------------
  const intel = drhds.filter((d) => d.cap !== undefined);
  if (intel.length > 0) {
    const units: IntelIommuOptions[] = intel.map((d) => {
      const u: IntelIommuOptions = { kind: 'intel', base: d.base, cap: d.cap!, ecap: d.ecap! };
      if (d.ver !== undefined && d.ver !== '1:0') u.ver = d.ver;
      if ((d.flags & 1) === 0) {
        u.includePciAll = false;
      }
      u.ioapicScope = d.ioapicIds.length > 0;
      if (d.hpetIds.length > 0) u.hpet = { id: d.hpetIds[0], sourceId: 0xf0f8 };
      return u;
    });
    if (units.some((u) => u.hpet)) notes.push('HPET source-id: not in the log; 0xf0f8 (F0:1F.0, the usual Intel value) assumed');
    if (units.some((u) => u.includePciAll === false)) notes.push('DRHD device scopes: not in the log; units without INCLUDE_PCI_ALL get an empty device scope');
    if (!dmarIrSeen) notes.push('no DMAR-IR line: interrupt remapping was not attempted; INTR_REMAP is assumed set (the log cannot tell it from a kernel built without IRQ_REMAP)');
    if (ioapicUnmapped) units.forEach((u) => (u.ioapicScope = false));
    else if (!units.some((u) => u.ioapicScope)) {
      // No scope line: when remapping was not attempted the log is silent; put the I/O APIC where Linux would have
      // looked first, the INCLUDE_PCI_ALL unit.
      const all = units.find((u) => u.includePciAll !== false) ?? units[units.length - 1];
      all.ioapicScope = true;
      if (dmarIrSeen) notes.push('I/O APIC scope: no "IOAPIC id N under DRHD" line; placed under the INCLUDE_PCI_ALL unit');
    }
    notes.push('I/O APIC source-id: not in the log; 0xff00 assumed (it only names the requester in fault lines)');
    if (units.length === 1 && units[0].includePciAll !== false) {
      const u = units[0];
      delete u.includePciAll;
      if (u.ioapicScope === true) delete u.ioapicScope;
      machine.iommu = u;
    } else {
      machine.iommus = units;
    }
    const dmar: NonNullable<MachineConfig['dmar']> = {};
    if (haw !== null) dmar.hostAddressWidth = haw;
    if (optOut) dmar.x2apicOptOut = true;
    if (Object.keys(dmar).length > 0) machine.dmar = dmar;
  } else if (drhds.length > 0) {
    notes.push('DMAR: DRHD lines without "dmarN: reg_base_addr ... cap ... ecap ..."; the IOMMU is left out');
  } else if (efr !== null || sawAmdVi) {
    const amd: AmdIommuOptions = { kind: 'amd' };
    if (efr !== null) amd.efr = efr;
    else notes.push('AMD EFR: no "Extended features" line; the default EFR is used');
    if (efr2 !== null) amd.efr2 = efr2;
    if (amdIommuBdf !== null && amdIommuBdf !== '00:02.0') amd.bdf = amdIommuBdf;
    notes.push('AMD IOMMU MMIO base: not in the log (IVHD dump only); 0xfed80000 assumed');
    const firstIoapic = ioapics[0]?.id;
    if (firstIoapic !== undefined && amdMissingIoapics.includes(firstIoapic)) amd.ioapicInIvrs = false;
    else if (amdIr === 'no-southbridge') {
      // Listed (no "not in IVRS table" line) but not at 00:14.0: the DeviceID itself is not printed.
      amd.ioapicDeviceId = '00:00.1';
      notes.push('I/O APIC DeviceID: listed in IVRS but not at 00:14.0 ("No southbridge IOAPIC found"); the log does not print it, 00:00.1 used');
    }
    if (amd.bdf !== undefined && amd.ioapicDeviceId !== undefined && parseBdf(amd.bdf) === parseBdf(amd.ioapicDeviceId)) amd.ioapicDeviceId = formatBdf(parseBdf(amd.bdf) + 1);
    machine.iommu = amd;
  } else {
    notes.push('no DMAR or AMD-Vi lines: a machine without an IOMMU');
  }

  // ---- CPU vendor, platform, I/O APIC ---------------------------------------------------------------------------
  if (vendor === null) {
    vendor = machine.iommu?.kind === 'amd' ? 'amd' : 'intel';
    notes.push(`CPU vendor: no "smpboot: CPU0:" line; ${vendor} assumed from the IOMMU`);
  }
  if (vendor === 'amd') machine.cpuVendor = 'amd';
  if (bareMetal === null) notes.push('bare metal or VM: no "Booting paravirtualized kernel on ..." or "Hypervisor detected" line; a VM assumed');
  else if (bareMetal) machine.bareMetal = true;

  const scopedIoapic = drhds.flatMap((d) => d.ioapicIds)[0];
  if (ioapics.length === 0 && scopedIoapic !== undefined && scopedIoapic <= MODEL_MAX_IOAPIC_ID) {
    machine.ioapic = { id: scopedIoapic };
    notes.push(`I/O APIC: no "IOAPIC[0]: apic_id ..." line; ID ${scopedIoapic} from the DMAR-IR scope line, 24 pins assumed`);
  } else if (ioapics.length === 0) {
    notes.push('I/O APIC: no "IOAPIC[0]: apic_id ..." line; ID 0, 24 pins assumed');
  } else {
    const io = ioapics[0];
    if (ioapics.length > 1) notes.push(`I/O APICs: the log shows ${ioapics.length}; this model has one, IOAPIC[0] (apic_id ${io.id}) is used`);
    const ioapic: NonNullable<MachineConfig['ioapic']> = {};
    if (io.id > MODEL_MAX_IOAPIC_ID) {
      notes.push(`I/O APIC ID ${io.id} does not fit this model's 4-bit ID register; 0 used (only the DMAR/IVRS entries must agree with it)`);
    } else if (io.id !== 0) ioapic.id = io.id;
    const pins = io.gsiLast - io.gsiFirst + 1;
    if (pins > MODEL_MAX_PINS) notes.push(`I/O APIC pins: the log shows ${pins}; this model has at most ${MODEL_MAX_PINS}`);
    if (pins !== 24) ioapic.pins = Math.min(pins, MODEL_MAX_PINS);
    // Version register: 0x11 (82093AA) or 0x20 (PCI 2.2 I/OxAPIC with an EOI register) in this model; later
    // versions (0x21, ...) behave as 0x20 for everything modelled.
    if (io.version < 0x20) ioapic.version = 0x11;
    else if (io.version !== 0x20) notes.push(`I/O APIC version 0x${io.version.toString(16)}: modelled as 0x20 (both have the EOI register)`);
    if (Object.keys(ioapic).length > 0) machine.ioapic = ioapic;
  }

  // The model's I/O APIC ID must name the scope entries: keep the DMAR/IVRS I/O APIC ID equal to the MADT one.
  if (kernel === null) notes.push('kernel version: no "Linux version" line');
  return { machine, kernel, notes, lines };
}
