/**
 * `irqpath from-dmesg`: the machine a Linux boot log implies. Reads the lines Linux prints about what it found
 * (MADT, DMAR/IVRS, the IOMMU registers, CPU count, CPU vendor and x2APIC support, hypervisor, kernel version and
 * command line) and builds a `MachineConfig` that `createMachine` — and a scenario file's `machine:` — accepts as
 * is, plus notes on what the log did not say and which value was chosen instead, and warnings about the file itself
 * (several boots, a unit line without its table line). Line prefixes: dmesg-lines.ts; the lines each boot's machine
 * is read from: boot-scan.ts; text in chunks and boots: dmesg-reader.ts (a log of any size streams through it).
 *
 * Input without a single kernel line this reader knows is refused (UsageError): junk, an empty file or a binary
 * would otherwise come out as a plausible 1-CPU machine.
 */
import type { AmdIommuOptions, IntelIommuOptions, MachineConfig } from '../core/config-types.ts';
import { formatBdf, parseBdf } from '../core/bdf.ts';
import { UsageError } from '../core/errors.ts';
import { parseKernelCmdline } from '../guest/linux/kernel-cmdline.ts';
import { MAX_KEPT_LINES, type BootScan } from './boot-scan.ts';
import { DmesgReader, MAX_LINE, type DmesgReading } from './dmesg-reader.ts';

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
  /**
   * The log's decision lines (decision-lines.ts: what the model's output is compared with), prefixes removed, each
   * once, in the order first seen. Only these are kept of a log, so a log of any size is read in bounded memory.
   */
  lines: string[];
  /** The CPU count of the log's first "smp: Brought up N nodes, M CPUs" line, or null. */
  onlineCpus: number | null;
  /** When the file holds several boots: which one this is (1-based), of how many, and its "Linux version" line. */
  boot?: { index: number; of: number; line: number };
  /**
   * A whole boot log (it has "Linux version", "Command line:" and "smp: Brought up"): every decision line the kernel
   * printed is in it, so a decision line the model prints and the log lacks is a difference. An excerpt is only
   * held to the kinds of line it shows.
   */
  complete: boolean;
  /** Kinds of decision line whose content the log did not determine (e.g. a unit line with assumed cap/ecap). */
  uncompared: RegExp[];
}

const MODEL_MAX_IOAPIC_ID = 15;
const MODEL_MAX_PINS = 120;

/** The machine a boot log implies (the last boot, or `boot`); a UsageError when the text holds no kernel line this reader knows. */
export function machineFromDmesg(text: string, options: { boot?: number | 'last' } = {}): DmesgMachine {
  const reader = new DmesgReader(options.boot ?? 'last');
  reader.push(text);
  return machinesFromReading(reader.end())[0];
}

/**
 * The machine of each boot read (dmesg-reader.ts), with a warning naming the boots when the file holds several; a
 * UsageError when the boot asked for is not in the file or the text holds no kernel line this reader knows.
 */
export function machinesFromReading(reading: DmesgReading): DmesgMachine[] {
  if (reading.read.length === 0) {
    throw new UsageError(`there is no boot ${String(reading.choice)} in the file: it holds ${reading.boots === 0 ? 'no "Linux version" line (one excerpt, boot 1)' : `${reading.boots} boot${reading.boots === 1 ? '' : 's'} ("Linux version" lines)`}`);
  }
  const all = reading.read.length > 1;
  return reading.read.map((boot) => {
    const warnings: string[] = [];
    if (reading.boots > 1) {
      const at = reading.starts.length < reading.boots ? `${reading.starts.join(', ')}, … ${reading.lastStart}` : reading.starts.join(', ');
      const which = all ? `this is boot ${boot.index} (line ${boot.line})` : boot.index === reading.boots ? 'the last one is read' : `boot ${boot.index} (line ${boot.line}) is read`;
      warnings.push(`the file holds ${reading.boots} boots ("Linux version" at lines ${at}); ${which}${all ? '' : ' (another with the boot option, --boot on the command line: a number, last or all)'}`);
    }
    if (reading.longLines > 0) warnings.push(`${reading.longLines} line${reading.longLines === 1 ? '' : 's'} longer than ${MAX_LINE} characters, cut there (no kernel prints one: is this a boot log?)`);
    const d = machineFromBoot(boot.scan, warnings);
    if (reading.boots > 1) d.boot = { index: boot.index, of: reading.boots, line: boot.line };
    return d;
  });
}

/** The machine one boot's scan implies. */
function machineFromBoot(scan: BootScan, warnings: string[]): DmesgMachine {
  const notes: string[] = [];
  const uncompared: RegExp[] = [];
  warnings.push(...scan.warnings);
  if (scan.droppedLines > 0) warnings.push(`${scan.droppedLines} more distinct decision lines than the ${MAX_KEPT_LINES} kept: not compared (no kernel prints that many)`);
  if (scan.known === 0) {
    throw new UsageError('no Linux boot-log line found (expected dmesg or journal lines such as "Linux version …", "DMAR: …", "AMD-Vi: …", "smpboot: …")');
  }
  const { cmdlineText, broughtUp, x2apicLine, dmiVm, hypervisorDetected, xapicRemap, cpus, cpuSource, haw, drhds, optOut, dmarIrSeen, ioapicUnmapped, noEim } = scan;
  const { efr, efr2, amdIommuBdf, amdIr, amdMissingIoapics, sawAmdVi, anyIrEnabled } = scan;
  let { kernel, vendor, bareMetal } = scan;
  const lines = scan.lines;
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
    const firstIoapic = scan.ioapic?.id;
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
  if (bareMetal === null && scan.x2apicRefusedBareMetal) {
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
  if (scan.ioapic === null && scopedIoapic !== undefined && scopedIoapic <= MODEL_MAX_IOAPIC_ID) {
    machine.ioapic = { id: scopedIoapic };
    notes.push(`I/O APIC: no "IOAPIC[0]: apic_id ..." line; ID ${scopedIoapic} from the DMAR-IR scope line, 24 pins assumed`);
  } else if (scan.ioapic === null) {
    notes.push('I/O APIC: no "IOAPIC[0]: apic_id ..." line; ID 0, 24 pins assumed');
  } else {
    const io = scan.ioapic;
    if (scan.ioapicIndices.size > 1) notes.push(`I/O APICs: the log shows ${scan.ioapicIndices.size}; this model has one, IOAPIC[0] (apic_id ${io.id}) is used`);
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
    const inferred = scan.clues.infer();
    if (inferred === null) notes.push('kernel version: no "Linux version" line, and no wording that dates the kernel');
    else {
      kernel = inferred.version;
      notes.push(`kernel version: no "Linux version" line; ${inferred.version} assumed from the wording (${inferred.why})`);
    }
  }
  if (!complete) notes.push('an excerpt (no "Linux version", "Command line:" and "smp: Brought up" lines together): --check holds the model only to the kinds of decision line the log shows');
  return { machine, kernel, cmdline, notes, warnings, lines, onlineCpus: scan.onlineCpus, complete, uncompared };
}
