/**
 * `irqpath from-dmesg`: the machine a Linux boot log implies. Reads the lines Linux prints about what it found
 * (MADT, DMAR/IVRS, the IOMMU registers, CPU count, CPU vendor and x2APIC support, hypervisor, kernel version and
 * command line) and builds a `MachineConfig` that `createMachine` — and a scenario file's `machine:` — accepts as
 * is, plus notes on what the log did not say and which value was chosen instead, and warnings about the file itself
 * (several boots, a unit line without its table line). Line prefixes: dmesg-lines.ts.
 *
 * Input without a single kernel line this reader knows is refused (UsageError): junk, an empty file or a binary
 * would otherwise come out as a plausible 1-CPU machine.
 */
import type { AmdIommuOptions, IntelIommuOptions, MachineConfig } from '../core/config-types.ts';
import { formatBdf, parseBdf } from '../core/bdf.ts';
import { UsageError } from '../core/errors.ts';
import { parseKernelCmdline } from '../guest/linux/kernel-cmdline.ts';
import { readBootLines } from './dmesg-lines.ts';
import { inferKernelVersion } from './kernel-version-inference.ts';

export { stripPrefix } from './dmesg-lines.ts';

export interface DmesgMachine {
  machine: MachineConfig;
  /** The kernel version the log names ("6.15.7") or its wording implies ("6.8"), or null. */
  kernel: string | null;
  /** The kernel command line the log shows ("Command line: ..."), or null. */
  cmdline: string | null;
  /** What the log did not determine and what was assumed instead, one sentence each. */
  notes: string[];
  /** Problems with the file itself (several boots, a line without the line it belongs to), one sentence each. */
  warnings: string[];
  /** The log's lines without prefixes (what the model's output is compared with). */
  lines: string[];
  /**
   * A whole boot log (it has "Linux version", "Command line:" and "smp: Brought up"): every decision line the kernel
   * printed is in it, so a decision line the model prints and the log lacks is a difference. An excerpt is only
   * held to the kinds of line it shows.
   */
  complete: boolean;
  /** Kinds of decision line whose content the log did not determine (e.g. a unit line with assumed cap/ecap). */
  uncompared: RegExp[];
}

interface Drhd {
  base: number;
  flags: number;
  /** Which line made the unit known: its "DRHD base" table line, its "dmarN: reg_base_addr" line, or a DMAR-IR scope line. */
  seen: 'drhd' | 'unit' | 'scope';
  cap?: string;
  ecap?: string;
  ver?: string;
  ioapicIds: number[];
  hpetIds: number[];
}

const MODEL_MAX_IOAPIC_ID = 15;
const MODEL_MAX_PINS = 120;

/** Lines that say the kernel runs in, or tried, x2APIC mode — so the CPU has x2APIC (X86_FEATURE_X2APIC). */
const X2APIC_CPU = [
  /^x2apic enabled$/,
  /^x2apic: enabled by BIOS/,
  /^x2apic: IRQ remapping doesn't support X2APIC mode/,
  /^(APIC: )?Switched APIC routing to:? (cluster|physical) x2apic/,
  /^DMAR-IR: Queued invalidation will be enabled to support x2apic/,
  /^DMAR-IR: Enabled IRQ remapping in x2apic mode/,
  /^DMAR-IR: x2apic is disabled because BIOS sets x2apic opt out bit/,
  /^DMAR-IR: dmar\d+ does not support EIM/,
  /^DMAR-IR: Failed to enable irq remapping/,
  /^AMD-Vi: X2APIC enabled/,
];
/** DMI vendors of virtual machines (the kernel may still detect no hypervisor: QEMU's TCG has no CPUID leaves). */
const VM_DMI = /^DMI: (QEMU|Bochs|VMware|innotek GmbH VirtualBox|Xen|Microsoft Corporation Virtual Machine|Red Hat KVM|Google Compute Engine|Amazon EC2)/;

/**
 * Distribution kernels name the upstream stable release they are built from at the end of the "Linux version" line:
 * Debian "… Debian 6.1.192-3 (2026-11-26)" for "6.1.0-57-amd64", Ubuntu "… (Ubuntu 6.11.0-19.19-generic 6.11.11)".
 * The release matters where a change reached a stable series (logical flat left 6.11 at 6.11.3).
 */
function upstreamVersion(line: string): string | null {
  const debian = / Debian (\d+\.\d+\.\d+)-\S+ \(\d{4}-\d\d-\d\d\)$/.exec(line);
  if (debian) return debian[1];
  const ubuntu = /\(Ubuntu [^)]* (\d+\.\d+\.\d+)\)$/.exec(line);
  return ubuntu ? ubuntu[1] : null;
}

/** The machine a boot log implies; a UsageError when the text holds no kernel line this reader knows. */
export function machineFromDmesg(text: string): DmesgMachine {
  const { lines, boots } = readBootLines(text);
  const notes: string[] = [];
  const warnings: string[] = [];
  const uncompared: RegExp[] = [];
  if (boots > 1) warnings.push(`the file holds ${boots} boots ("Linux version" lines); the last one is read`);
  let known = 0;
  let kernel: string | null = null;
  let cmdlineText: string | null = null;
  let broughtUp = false;
  let x2apicLine = false;
  let dmiVm: string | null = null;
  let hypervisorDetected = false;
  let xapicRemap = false;
  let cpus: number | null = null;
  let cpuSource = '';
  let vendor: 'intel' | 'amd' | null = null;
  let bareMetal: boolean | null = null;
  const ioapics: { id: number; version: number; gsiFirst: number; gsiLast: number }[] = [];
  let haw: number | null = null;
  const drhds: Drhd[] = [];
  /** A DRHD named only by a DMAR-IR scope line (no table lines in the log). */
  const drhdAt = (base: number): Drhd => {
    let d = drhds.find((x) => x.base === base);
    if (d === undefined) drhds.push((d = { base, flags: 0, ioapicIds: [], hpetIds: [], seen: 'scope' }));
    return d;
  };
  let optOut = false;
  let dmarIrSeen = false;
  let ioapicUnmapped: number | null = null;
  const noEim: number[] = [];
  let efr: string | null = null;
  let efr2: string | null = null;
  let amdIommuBdf: string | null = null;
  let amdIr: 'enabled' | 'no-southbridge' | null = null;
  const amdMissingIoapics: number[] = [];
  let sawAmdVi = false;

  for (const l of lines) {
    let m: RegExpExecArray | null;
    const before = known;
    known++;
    if (X2APIC_CPU.some((re) => re.test(l))) x2apicLine = true;
    if (/^DMAR-IR: Enabled IRQ remapping in xapic mode/.test(l)) xapicRemap = true;
    if ((m = /^Linux version (\d+\.\d+(?:\.\d+)?)/.exec(l))) kernel = upstreamVersion(l) ?? m[1];
    else if ((m = /^(?:Kernel )?[Cc]ommand line: ?(.*)$/.exec(l))) cmdlineText ??= m[1];
    else if ((m = VM_DMI.exec(l))) dmiVm = m[1];
    else if (/^smp: Brought up \d+ nodes?, \d+ CPUs?/.test(l) && cpus !== null) broughtUp = true;
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
      broughtUp = true;
    } else if ((m = /^smpboot: CPU0: (.*)$/.exec(l))) {
      if (/\bIntel\b|GenuineIntel/i.test(m[1])) vendor = 'intel';
      else if (/\bAMD\b|AuthenticAMD|Hygon/i.test(m[1])) vendor = 'amd';
    } else if (/^Booting paravirtualized kernel on bare hardware/.test(l)) bareMetal = true;
    else if (/^Hypervisor detected:|^Booting paravirtualized kernel on (?!bare)/.test(l)) {
      bareMetal = false;
      hypervisorDetected = true;
    }
    else if ((m = /^IOAPIC\[\d+\]: apic_id (\d+), version (\d+), address 0x([0-9a-f]+), GSI (\d+)-(\d+)/.exec(l))) {
      ioapics.push({ id: Number(m[1]), version: Number(m[2]), gsiFirst: Number(m[4]), gsiLast: Number(m[5]) });
    } else if ((m = /^DMAR: Host address width (\d+)/.exec(l))) haw = Number(m[1]);
    else if ((m = /^DMAR: DRHD base: 0x([0-9a-f]+) flags: 0x([0-9a-f]+)/.exec(l))) {
      drhds.push({ base: parseInt(m[1], 16), flags: parseInt(m[2], 16), ioapicIds: [], hpetIds: [], seen: 'drhd' });
    } else if ((m = /^DMAR: dmar(\d+): reg_base_addr ([0-9a-f]+) ver (\d+:\d+) cap ([0-9a-f]+) ecap ([0-9a-f]+)/.exec(l))) {
      const base = parseInt(m[2], 16);
      let d = drhds.find((x) => x.base === base);
      if (d === undefined) {
        // alloc_iommu prints this line right after its "DRHD base" line; without it the flags are unknown.
        warnings.push(`"dmar${m[1]}: reg_base_addr ${m[2]}" has no "DMAR: DRHD base: 0x…${m[2]}" line before it; the unit is kept, its flags (INCLUDE_PCI_ALL) assumed clear`);
        d = { base, flags: 0, ioapicIds: [], hpetIds: [], seen: 'unit' };
        drhds.push(d);
      }
      Object.assign(d, { ver: m[3], cap: m[4], ecap: m[5] });
    } else if ((m = /^DMAR-IR: IOAPIC id (\d+) under DRHD base\s+0x([0-9a-f]+)/.exec(l))) {
      dmarIrSeen = true;
      drhdAt(parseInt(m[2], 16)).ioapicIds.push(Number(m[1]));
    } else if ((m = /^DMAR-IR: HPET id (\d+) under DRHD base\s+0x([0-9a-f]+)/.exec(l))) {
      dmarIrSeen = true;
      drhdAt(parseInt(m[2], 16)).hpetIds.push(Number(m[1]));
    } else if ((m = /^DMAR-IR: \[Firmware Bug\]: ioapic (\d+) has no mapping iommu/.exec(l))) {
      ioapicUnmapped = Number(m[1]);
      dmarIrSeen = true;
    } else if ((m = /^DMAR-IR: dmar(\d+) does not support EIM/.exec(l))) {
      noEim.push(Number(m[1]));
      dmarIrSeen = true;
    } else if (/^DMAR-IR: x2apic is disabled because BIOS sets x2apic opt out bit/.test(l)) {
      optOut = true;
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
    } else if (/^(DMAR|AMD-Vi|x2apic|smpboot|CPU topo|IOAPIC|ACPI|APIC|Switched APIC|smp|pci)[: ]/.test(l)) {
      // A kernel line outside the model: it still says this is a Linux boot log.
    } else known = before;
  }
  if (known === 0) {
    throw new UsageError('no Linux boot-log line found (expected dmesg or journal lines such as "Linux version …", "DMAR: …", "AMD-Vi: …", "smpboot: …")');
  }
  const complete = kernel !== null && cmdlineText !== null && broughtUp;
  const cmdline = cmdlineText === null ? null : cmdlineText.trim();
  const cmd = parseKernelCmdline(cmdline ?? '');

  const machine: MachineConfig = { cpus: 1 };
  if (cpus === null) {
    notes.push('CPU count: no "Allowing N present CPUs" or "smp: Brought up" line; 1 CPU assumed');
  } else {
    machine.cpus = cpus;
    notes.push(`CPU count ${cpus} from "${cpuSource}"; APIC IDs not in the log, 0..${cpus - 1} assumed`);
  }

  // ---- IOMMU ---------------------------------------------------------------------------------------------------
  const qemu = dmiVm === 'QEMU' || dmiVm === 'Bochs';
  if (drhds.length > 0) {
    const anyIrEnabled = lines.some((l) => /^DMAR-IR: Enabled IRQ remapping in x2apic mode|^DMAR-IR: Queued invalidation will be enabled/.test(l));
    const units: IntelIommuOptions[] = drhds.map((d, i) => {
      const u: IntelIommuOptions = { kind: 'intel', base: d.base };
      if (d.cap !== undefined) {
        u.cap = d.cap;
        u.ecap = d.ecap!;
        if (d.ver !== undefined && d.ver !== '1:0') u.ver = d.ver;
      } else {
        // ir_parse_ioapic_hpet_scope only runs for units with ECAP.IR, so a scope line proves IR; EIM from the mode.
        u.interruptRemapping = d.ioapicIds.length > 0 || d.hpetIds.length > 0 || dmarIrSeen;
        if (u.interruptRemapping) u.eim = anyIrEnabled && !noEim.includes(i);
      }
      if ((d.flags & 1) === 0) u.includePciAll = false;
      u.ioapicScope = d.ioapicIds.length > 0;
      if (d.hpetIds.length > 0) u.hpet = { id: d.hpetIds[0], sourceId: 0xf0f8 };
      return u;
    });
    if (drhds.some((d) => d.cap === undefined)) {
      notes.push('CAP/ECAP: no "dmarN: reg_base_addr … cap … ecap …" line for some unit; its IR and EIM are read from the DMAR-IR lines, the rest is the model default');
      uncompared.push(/^DMAR: dmar\d+: reg_base_addr /);
    }
    if (drhds.some((d) => d.seen === 'scope')) {
      notes.push('DRHD flags: a unit is known only from a DMAR-IR scope line; INCLUDE_PCI_ALL assumed clear');
      uncompared.push(/^DMAR: DRHD base: /);
    }
    if (units.some((u) => u.hpet)) notes.push('HPET source-id: not in the log; 0xf0f8 (F0:1F.0, the usual Intel value) assumed');
    if (units.some((u) => u.includePciAll === false)) {
      notes.push(
        qemu && units.length === 1
          ? "DRHD device scope: QEMU's DRHD (flags 0x0) lists the PCI buses by scope, which the log does not print; list the devices to remap under iommu.devices"
          : 'DRHD device scopes: not in the log; units without INCLUDE_PCI_ALL get an empty device scope',
      );
    }
    const intrRemapClear = !dmarIrSeen && complete && !cmd.intremapOff && !cmd.noapic;
    if (intrRemapClear) {
      notes.push('no DMAR-IR line in a whole boot log without intremap=off or noapic: the DMAR INTR_REMAP flag was clear (dmar_ir_support; QEMU clears it for intel-iommu,intremap=off)');
    } else if (!dmarIrSeen && !cmd.intremapOff && !cmd.noapic) {
      notes.push('no DMAR-IR line: interrupt remapping was not attempted; INTR_REMAP is assumed set (the log cannot tell it from a kernel built without IRQ_REMAP)');
    }
    const scopeIds = drhds.flatMap((d) => d.ioapicIds);
    if (ioapicUnmapped !== null && scopeIds.length === 0) units.forEach((u) => (u.ioapicScope = false));
    else if (!units.some((u) => u.ioapicScope)) {
      // No scope line: when remapping was not attempted the log is silent; put the I/O APIC where Linux would have
      // looked first, the INCLUDE_PCI_ALL unit.
      const all = units.find((u) => u.includePciAll !== false) ?? units[units.length - 1];
      all.ioapicScope = true;
      if (dmarIrSeen && ioapicUnmapped === null) notes.push('I/O APIC scope: no "IOAPIC id N under DRHD" line; placed under the INCLUDE_PCI_ALL unit');
    }
    notes.push('I/O APIC source-id: not in the log; 0xff00 assumed (it only names the requester in fault lines)');
    if (units.length === 1) {
      const u = units[0];
      if (u.includePciAll !== false) delete u.includePciAll;
      if (u.ioapicScope === true) delete u.ioapicScope;
      machine.iommu = u;
    } else {
      machine.iommus = units;
    }
    const dmar: NonNullable<MachineConfig['dmar']> = {};
    if (haw !== null) dmar.hostAddressWidth = haw;
    else uncompared.push(/^DMAR: Host address width /);
    if (optOut) dmar.x2apicOptOut = true;
    if (intrRemapClear) dmar.intrRemap = false;
    // parse_ioapics_under_ir: the DMAR scope names an I/O APIC ID the MADT does not have ("ioapic N has no mapping").
    if (ioapicUnmapped !== null && scopeIds.length > 0 && !scopeIds.includes(ioapicUnmapped)) {
      dmar.ioapicScopeId = scopeIds[0];
      notes.push(`I/O APIC: the DMAR scope names ID ${scopeIds[0]}, the kernel's I/O APIC is ${ioapicUnmapped} ("[Firmware Bug]: ioapic ${ioapicUnmapped} has no mapping iommu"): modelled as dmar.ioapicScopeId`);
    }
    if (Object.keys(dmar).length > 0) machine.dmar = dmar;
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

  // x2APIC: a line that needs it proves it; a remapping unit in xapic mode with no opt-out and no "does not support
  // EIM" line, or a whole boot log with no x2APIC line at all, says the CPU has none (x2apic_state stays DISABLED and
  // Linux prints nothing). nox2apic on the command line hides the CPU bit from the kernel, so it tells nothing.
  if (!x2apicLine && !cmd.nox2apic && ((xapicRemap && !optOut && noEim.length === 0) || complete)) {
    machine.cpu = { x2apic: false };
    notes.push(
      xapicRemap
        ? 'CPU x2APIC: remapping came up in xapic mode with no opt-out or EIM line, so the CPU has no x2APIC (as QEMU 7.2 TCG CPUs)'
        : 'CPU x2APIC: a whole boot log without any x2apic line: the CPU has no x2APIC (as QEMU 7.2 TCG CPUs)',
    );
  } else if (!x2apicLine) {
    notes.push(cmd.nox2apic ? 'CPU x2APIC: hidden by nox2apic on the command line; an x2APIC-capable CPU assumed' : 'CPU x2APIC: no line decides it; an x2APIC-capable CPU assumed');
  }

  // Bare metal vs VM, as the kernel sees it: a hypervisor it detected, or none ("bare hardware", even inside QEMU TCG,
  // where no hypervisor CPUID leaves exist), or the bare-metal refusal of x2APIC without remapping.
  if (bareMetal === null && lines.some((l) => /^x2apic: IRQ remapping doesn't support X2APIC mode/.test(l))) {
    bareMetal = true;
    notes.push("bare metal: \"x2apic: IRQ remapping doesn't support X2APIC mode\" is only printed without a hypervisor (x2apic_available)");
  }
  if (bareMetal === null && dmiVm !== null) {
    bareMetal = false;
    notes.push(`VM: DMI names ${dmiVm}; no "Hypervisor detected" line, the hypervisor's CPUID features are left off`);
  }
  if (bareMetal === null) notes.push('bare metal or VM: no "Booting paravirtualized kernel on ...", "Hypervisor detected" or DMI line; a VM assumed');
  else if (bareMetal) {
    machine.bareMetal = true;
    if (dmiVm !== null && !hypervisorDetected) notes.push(`no hypervisor detected although DMI names ${dmiVm} (TCG has no hypervisor CPUID leaves): modelled as bareMetal, which is what the kernel saw`);
  }

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

  if (ioapicUnmapped !== null && ioapicUnmapped <= MODEL_MAX_IOAPIC_ID && (machine.ioapic?.id ?? 0) !== ioapicUnmapped) {
    machine.ioapic = { ...(machine.ioapic ?? {}), id: ioapicUnmapped };
    notes.push(`I/O APIC ID ${ioapicUnmapped}: the one the kernel found unmapped (this model has one I/O APIC)`);
  }

  if (kernel === null) {
    const inferred = inferKernelVersion(lines);
    if (inferred === null) notes.push('kernel version: no "Linux version" line, and no wording that dates the kernel');
    else {
      kernel = inferred.version;
      notes.push(`kernel version: no "Linux version" line; ${inferred.version} assumed from the wording (${inferred.why})`);
    }
  }
  if (!complete) notes.push('an excerpt (no "Linux version", "Command line:" and "smp: Brought up" lines together): --check holds the model only to the kinds of decision line the log shows');
  return { machine, kernel, cmdline, notes, warnings, lines, complete, uncompared };
}
