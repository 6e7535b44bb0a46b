/**
 * What one boot's log lines say about the machine, gathered line by line: a streaming reader hands each
 * (prefix-free) line to {@link BootScan.line} once and keeps no lines of its own, so memory is what the scan keeps —
 * a few numbers and flags, one entry per IOMMU unit, the distinct decision lines the model is compared with
 * (decision-lines.ts, at most {@link MAX_KEPT_LINES}) — not the size of the log. from-dmesg.ts turns a finished scan
 * into a machine.
 *
 * Most lines of a long log (driver chatter, audit records) are none of the kinds read here; {@link mayMatter} turns
 * them away with one test before the patterns run. Every pattern below needs a line that passes it: each is anchored
 * at one of its prefixes, or contains "AMD-Vi:" or "fault reason" (the patterns that are not anchored).
 */
import { isModelledRemappingLine } from './decision-lines.ts';
import { KernelVersionClues } from './kernel-version-inference.ts';

export interface DrhdSeen {
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

/** Decision lines kept per boot; a log with more distinct ones is not a kernel's (each kind prints a few). */
export const MAX_KEPT_LINES = 4096;

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

/** The start of every line any pattern here (or a decision-line kind, or a kernel-version clue) can match. */
const MAY_MATTER = /^(?:Linux version|Kernel |[Cc]ommand line|DMI: |smp|CPU topo|Booting paravirtualized|Hypervisor detected|IOAPIC|DMAR|AMD-Vi|x2apic|ACPI|APIC|Switched APIC|pci |Apicid|Not enabling)/;

/** Starts of the decision-line kinds (decision-lines.ts) and of the kernel-version clues that are anchored. */
const DECISION_START = /^(?:DMAR|x2apic|Apicid|APIC: |Switched APIC|Not enabling|AMD-Vi)/;
const CLUE_START = /^(?:CPU topo|smpboot|APIC: |Switched APIC|AMD-Vi: Event)/;

/** Can this line matter to the scan? False for the bulk of a long log, after one anchored test. */
function mayMatter(line: string): boolean {
  return MAY_MATTER.test(line) || line.includes('AMD-Vi:') || line.includes('fault reason');
}

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

const pushOnce = (list: number[], n: number): void => {
  if (!list.includes(n)) list.push(n);
};

export class BootScan {
  /** Lines of a kind this reader knows (0: nothing here is a Linux boot log). */
  known = 0;
  /** Lines that ran the patterns (past {@link mayMatter} and the PCI/ACPI shortcut): the scan's work. */
  examined = 0;
  kernel: string | null = null;
  cmdlineText: string | null = null;
  broughtUp = false;
  /** The number of the "smp: Brought up N nodes, M CPUs" line's CPUs, or null. */
  onlineCpus: number | null = null;
  x2apicLine = false;
  /** "x2apic: IRQ remapping doesn't support X2APIC mode" (only printed without a hypervisor). */
  x2apicRefusedBareMetal = false;
  dmiVm: string | null = null;
  hypervisorDetected = false;
  xapicRemap = false;
  /** A DMAR-IR line saying remapping came up in x2APIC mode or queued invalidation was enabled for it. */
  anyIrEnabled = false;
  cpus: number | null = null;
  cpuSource = '';
  vendor: 'intel' | 'amd' | null = null;
  bareMetal: boolean | null = null;
  /** The first "IOAPIC[n]" line's I/O APIC (this model has one I/O APIC). */
  ioapic: { id: number; version: number; gsiFirst: number; gsiLast: number } | null = null;
  /** The distinct n of the "IOAPIC[n]" lines (a line printed again is the same I/O APIC), at most 1024 of them. */
  readonly ioapicIndices = new Set<number>();
  haw: number | null = null;
  /** IOMMU units by register base, in the order the log names them (a unit printed twice is one unit). */
  readonly drhds: DrhdSeen[] = [];
  optOut = false;
  dmarIrSeen = false;
  ioapicUnmapped: number | null = null;
  readonly noEim: number[] = [];
  efr: string | null = null;
  efr2: string | null = null;
  amdIommuBdf: string | null = null;
  amdIr: 'enabled' | 'no-southbridge' | null = null;
  readonly amdMissingIoapics: number[] = [];
  sawAmdVi = false;
  readonly clues = new KernelVersionClues();
  /** The distinct decision lines, in the order first seen. */
  private readonly kept = new Set<string>();
  /** Decision lines past {@link MAX_KEPT_LINES} (not kept). */
  droppedLines = 0;
  readonly warnings: string[] = [];

  get lines(): string[] {
    return [...this.kept];
  }

  private drhdAt(base: number): DrhdSeen {
    let d = this.drhds.find((x) => x.base === base);
    if (d === undefined) this.drhds.push((d = { base, flags: 0, ioapicIds: [], hpetIds: [], seen: 'scope' }));
    return d;
  }

  /** Read one line (prefixes removed: dmesg-lines.ts). */
  line(l: string): void {
    if (!mayMatter(l)) return;
    const unanchored = l.includes('AMD-Vi:') || l.includes('fault reason');
    // PCI enumeration and ACPI table lines, the most numerous that pass: only the last pattern below takes them.
    if (!unanchored && (l.startsWith('pci ') || l.startsWith('ACPI: ') || l.startsWith('ACPI '))) {
      this.known++;
      return;
    }
    this.examined++;
    if (unanchored || CLUE_START.test(l)) this.clues.see(l);
    if (DECISION_START.test(l) && isModelledRemappingLine(l) && !this.kept.has(l)) {
      if (this.kept.size < MAX_KEPT_LINES) this.kept.add(l);
      else this.droppedLines++;
    }
    let m: RegExpExecArray | null;
    const before = this.known;
    this.known++;
    if (X2APIC_CPU.some((re) => re.test(l))) this.x2apicLine = true;
    if (/^DMAR-IR: Enabled IRQ remapping in xapic mode/.test(l)) this.xapicRemap = true;
    if (/^DMAR-IR: Enabled IRQ remapping in x2apic mode|^DMAR-IR: Queued invalidation will be enabled/.test(l)) this.anyIrEnabled = true;
    if (/^x2apic: IRQ remapping doesn't support X2APIC mode/.test(l)) this.x2apicRefusedBareMetal = true;
    if ((m = /^Linux version (\d+\.\d+(?:\.\d+)?)/.exec(l))) this.kernel = upstreamVersion(l) ?? m[1];
    else if ((m = /^(?:Kernel )?[Cc]ommand line: ?(.*)$/.exec(l))) this.cmdlineText ??= m[1];
    else if ((m = VM_DMI.exec(l))) this.dmiVm = m[1];
    else if ((m = /^smp: Brought up \d+ nodes?, (\d+) CPUs?/.exec(l)) && this.cpus !== null) {
      this.broughtUp = true;
      this.onlineCpus ??= Number(m[1]);
    } else if ((m = /^(?:smpboot|CPU topo): Allowing (\d+) present CPUs plus \d+ hotplug CPUs/.exec(l))) {
      this.cpus = Number(m[1]);
      this.cpuSource = l;
    } else if ((m = /^smpboot: Allowing (\d+) CPUs, (\d+) hotplug CPUs/.exec(l))) {
      // Before 4.x's rewording the first number counted the hotplug slots too (possible CPUs).
      this.cpus = Number(m[1]) - Number(m[2]);
      this.cpuSource = l;
    } else if ((m = /^smp: Brought up \d+ nodes?, (\d+) CPUs?/.exec(l)) && this.cpus === null) {
      this.cpus = Number(m[1]);
      this.cpuSource = l;
      this.broughtUp = true;
      this.onlineCpus ??= this.cpus;
    } else if ((m = /^smpboot: CPU0: (.*)$/.exec(l))) {
      if (/\bIntel\b|GenuineIntel/i.test(m[1])) this.vendor = 'intel';
      else if (/\bAMD\b|AuthenticAMD|Hygon/i.test(m[1])) this.vendor = 'amd';
    } else if (/^Booting paravirtualized kernel on bare hardware/.test(l)) this.bareMetal = true;
    else if (/^Hypervisor detected:|^Booting paravirtualized kernel on (?!bare)/.test(l)) {
      this.bareMetal = false;
      this.hypervisorDetected = true;
    } else if ((m = /^IOAPIC\[(\d+)\]: apic_id (\d+), version (\d+), address 0x([0-9a-f]+), GSI (\d+)-(\d+)/.exec(l))) {
      if (this.ioapicIndices.size < 1024) this.ioapicIndices.add(Number(m[1]));
      this.ioapic ??= { id: Number(m[2]), version: Number(m[3]), gsiFirst: Number(m[5]), gsiLast: Number(m[6]) };
    } else if ((m = /^DMAR: Host address width (\d+)/.exec(l))) this.haw = Number(m[1]);
    else if ((m = /^DMAR: DRHD base: 0x([0-9a-f]+) flags: 0x([0-9a-f]+)/.exec(l))) {
      const base = parseInt(m[1], 16);
      const d = this.drhds.find((x) => x.base === base);
      if (d === undefined) this.drhds.push({ base, flags: parseInt(m[2], 16), ioapicIds: [], hpetIds: [], seen: 'drhd' });
      else if (d.seen === 'scope') Object.assign(d, { flags: parseInt(m[2], 16), seen: 'drhd' });
    } else if ((m = /^DMAR: dmar(\d+): reg_base_addr ([0-9a-f]+) ver (\d+:\d+) cap ([0-9a-f]+) ecap ([0-9a-f]+)/.exec(l))) {
      const base = parseInt(m[2], 16);
      let d = this.drhds.find((x) => x.base === base);
      if (d === undefined) {
        // alloc_iommu prints this line right after its "DRHD base" line; without it the flags are unknown.
        this.warnings.push(`"dmar${m[1]}: reg_base_addr ${m[2]}" has no "DMAR: DRHD base: 0x…${m[2]}" line before it; the unit is kept, its flags (INCLUDE_PCI_ALL) assumed clear`);
        d = { base, flags: 0, ioapicIds: [], hpetIds: [], seen: 'unit' };
        this.drhds.push(d);
      }
      Object.assign(d, { ver: m[3], cap: m[4], ecap: m[5] });
    } else if ((m = /^DMAR-IR: IOAPIC id (\d+) under DRHD base\s+0x([0-9a-f]+)/.exec(l))) {
      this.dmarIrSeen = true;
      pushOnce(this.drhdAt(parseInt(m[2], 16)).ioapicIds, Number(m[1]));
    } else if ((m = /^DMAR-IR: HPET id (\d+) under DRHD base\s+0x([0-9a-f]+)/.exec(l))) {
      this.dmarIrSeen = true;
      pushOnce(this.drhdAt(parseInt(m[2], 16)).hpetIds, Number(m[1]));
    } else if ((m = /^DMAR-IR: \[Firmware Bug\]: ioapic (\d+) has no mapping iommu/.exec(l))) {
      this.ioapicUnmapped = Number(m[1]);
      this.dmarIrSeen = true;
    } else if ((m = /^DMAR-IR: dmar(\d+) does not support EIM/.exec(l))) {
      pushOnce(this.noEim, Number(m[1]));
      this.dmarIrSeen = true;
    } else if (/^DMAR-IR: x2apic is disabled because BIOS sets x2apic opt out bit/.test(l)) {
      this.optOut = true;
      this.dmarIrSeen = true;
    } else if (l.startsWith('DMAR-IR: ')) this.dmarIrSeen = true;
    else if ((m = /AMD-Vi: Extended features \(0x([0-9a-f]+)(?:, 0x([0-9a-f]+))?\)/.exec(l))) {
      this.sawAmdVi = true;
      this.efr = m[1];
      if (m[2] !== undefined) this.efr2 = m[2];
    } else if ((m = /^AMD-Vi: Using global IVHD EFR:0x([0-9a-f]+), EFR2:0x([0-9a-f]+)/.exec(l))) {
      this.sawAmdVi = true;
      this.efr ??= m[1];
      this.efr2 ??= m[2];
    } else if ((m = /^pci [0-9a-f]{4}:([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): AMD-Vi: (?:Found IOMMU|IOMMU performance)/.exec(l))) {
      this.sawAmdVi = true;
      this.amdIommuBdf = m[1];
    } else if ((m = /^AMD-Vi: Found IOMMU at [0-9a-f]{4}:([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])/.exec(l))) {
      this.sawAmdVi = true;
      this.amdIommuBdf = m[1];
    } else if ((m = /AMD-Vi: (?:\[Firmware Bug\]: :? ?)?IOAPIC\[(\d+)\] not in IVRS table/.exec(l))) {
      this.sawAmdVi = true;
      pushOnce(this.amdMissingIoapics, Number(m[1]));
    } else if (/AMD-Vi: (?:\[Firmware Bug\]: :? ?)?No southbridge IOAPIC found/.test(l)) {
      this.sawAmdVi = true;
      this.amdIr = 'no-southbridge';
    } else if (/^AMD-Vi: Interrupt remapping enabled/.test(l)) {
      this.sawAmdVi = true;
      this.amdIr = 'enabled';
    } else if (/^(DMAR|AMD-Vi|x2apic|smpboot|CPU topo|IOAPIC|ACPI|APIC|Switched APIC|smp|pci)[: ]/.test(l)) {
      // A kernel line outside the model: it still says this is a Linux boot log.
    } else this.known = before;
  }
}
