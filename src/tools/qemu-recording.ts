/**
 * Reading a recorded QEMU + Linux boot (test/fixtures/qemu-recordings/): the sections the recording /init printed,
 * the kernel's decision lines, /proc/interrupts, IRQ affinities, IOMMU reserved regions, PCI config space and the
 * interrupt remapping tables read through QEMU's monitor. Browser-safe: every function takes file contents as
 * strings; reading (and gunzipping) files is the caller's business.
 */

/** A section starts with a line `=== irqpath:NAME ===` (printed by the recording /init). */
export const SECTION_PREFIX = '=== irqpath:';
/** The section after which the host reads the machine through the monitor, before the guest powers off. */
export const READY_SECTION = 'ready';

const lines = (text: string) => text.replace(/\r/g, '').split('\n');

/**
 * The console split at the section markers: `boot` is everything before the first marker (the kernel's own console
 * output, cut where /init turned console logging down), then one entry per section, without the marker line and
 * without trailing empty lines.
 */
export function splitSections(consoleText: string): Map<string, string> {
  const out = new Map<string, string>();
  let name = 'boot';
  let body: string[] = [];
  const flush = () => {
    while (body.length > 0 && body[body.length - 1] === '') body.pop();
    out.set(name, body.join('\n'));
  };
  for (const line of lines(consoleText)) {
    const m = /^=== irqpath:(.+) ===$/.exec(line);
    if (m) {
      flush();
      name = m[1]!;
      body = [];
    } else body.push(line);
  }
  flush();
  return out;
}

export interface DmesgLine {
  /** Seconds since boot from the `[    0.036000]` prefix, when there is one. */
  time?: number;
  text: string;
}

export function parseDmesg(text: string): DmesgLine[] {
  return lines(text)
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^\[\s*(\d+\.\d+)\]\s?(.*)$/.exec(l);
      return m ? { time: Number(m[1]), text: m[2]! } : { text: l };
    });
}

/**
 * The lines by which Linux states its interrupt-remapping, x2APIC and APIC-routing decisions:
 * intel_setup_irq_remapping and its callers print `DMAR-IR:`, amd_iommu_init / amd_iommu_enable_interrupts print
 * `AMD-Vi:`, try_to_enable_x2apic and x2apic_disable print the x2apic lines (the echo of the command line is not
 * one), default_setup_apic_routing prints `Switched APIC routing to …`, and the `APIC:` lines name the chosen apic
 * driver and mode. Other lines mentioning an IOMMU (DMAR: table dumps, fault reports) are not decisions and are left
 * out.
 */
export const DECISION_PATTERNS: readonly RegExp[] = [
  /^DMAR-IR: /,
  /^AMD-Vi: /,
  // x2apic anywhere, except in the echo of the command line (a `nox2apic` option is no decision).
  /^(?!(Kernel )?[Cc]ommand line: ).*x2apic/i,
  /^Switched APIC routing/,
  /^APIC: /,
];

export function decisionLines(dmesg: string): string[] {
  return parseDmesg(dmesg)
    .map((l) => l.text)
    .filter((t) => DECISION_PATTERNS.some((p) => p.test(t)));
}

export interface InterruptRow {
  /** `0`…`N` for Linux IRQs, or the mnemonic of an architectural row (`NMI`, `LOC`, `ERR`, …). */
  irq: string;
  counts: number[];
  /** For numbered IRQs: irq_chip name (`IO-APIC`, `IR-IO-APIC`, `IR-PCI-MSI`, `DMAR-MSI`, …), hwirq and trigger. */
  chip?: string;
  hwirq?: number;
  trigger?: string;
  /** The action names (device/queue), or the description of an architectural row. */
  name: string;
}

export interface ProcInterrupts {
  cpus: string[];
  rows: InterruptRow[];
}

/**
 * /proc/interrupts as show_interrupts prints it: a header of CPU names, then per IRQ `%3d:`, one count column per
 * online CPU, then (for numbered IRQs) the chip name, `hwirq-trigger` (irq_domain's hwirq, then `edge`/`fasteoi`/
 * `level`) and the action names. Architectural rows (arch_show_interrupts) carry a description instead; `ERR` and
 * `MIS` have a single count.
 */
export function parseProcInterrupts(text: string): ProcInterrupts {
  const all = lines(text).filter((l) => l.trim() !== '');
  const cpus = all[0]!.trim().split(/\s+/);
  const rows: InterruptRow[] = [];
  for (const line of all.slice(1)) {
    const m = /^\s*([^:\s]+):(.*)$/.exec(line);
    if (!m) continue;
    const fields = m[2]!.trim().split(/\s+/);
    const counts: number[] = [];
    while (counts.length < cpus.length && fields.length > 0 && /^\d+$/.test(fields[0]!)) counts.push(Number(fields.shift()));
    const row: InterruptRow = { irq: m[1]!, counts, name: '' };
    if (/^\d+$/.test(row.irq) && fields.length >= 2) {
      row.chip = fields.shift()!;
      const hw = /^(\d+)-(\w+)$/.exec(fields[0]!);
      if (hw) {
        fields.shift();
        row.hwirq = Number(hw[1]);
        row.trigger = hw[2]!;
      }
    }
    row.name = fields.join(' ');
    rows.push(row);
  }
  return { cpus, rows };
}

/** A CPU list as sysfs prints it (`0-3,8`, empty for none). */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const [a, b] = part.split('-').map(Number);
    for (let c = a!; c <= (b ?? a!); c++) out.push(c);
  }
  return out;
}

export interface IrqAffinity {
  irq: number;
  /** effective_affinity_list: where irq_do_set_affinity actually placed the vector (empty for an unused IRQ). */
  effective: number[];
  /** smp_affinity_list: what was asked for. */
  requested: number[];
}

/** The `irq-affinity` section: `IRQ effective=LIST smp=LIST`, sorted by IRQ number. */
export function parseAffinities(text: string): IrqAffinity[] {
  const out: IrqAffinity[] = [];
  for (const line of lines(text)) {
    const m = /^(\d+) effective=(\S*) smp=(\S*)$/.exec(line.trim());
    if (m) out.push({ irq: Number(m[1]), effective: parseCpuList(m[2]!), requested: parseCpuList(m[3]!) });
  }
  return out.sort((a, b) => a.irq - b.irq);
}

export interface IommuGroup {
  group: number;
  regions: { start: bigint; end: bigint; type: string }[];
  devices: string[];
}

/** The `reserved-regions` section: `GROUP START END TYPE` lines (iommu_group_show_resv_regions) and `GROUP device BDF`. */
export function parseReservedRegions(text: string): IommuGroup[] {
  const groups = new Map<number, IommuGroup>();
  const get = (g: number) => groups.get(g) ?? groups.set(g, { group: g, regions: [], devices: [] }).get(g)!;
  for (const line of lines(text)) {
    const f = line.trim().split(/\s+/);
    if (f.length === 3 && f[1] === 'device') get(Number(f[0])).devices.push(f[2]!);
    else if (f.length === 4 && /^0x/.test(f[1]!)) get(Number(f[0])).regions.push({ start: BigInt(f[1]!), end: BigInt(f[2]!), type: f[3]! });
  }
  return [...groups.values()].sort((a, b) => a.group - b.group);
}

export interface PciDevice {
  bdf: string;
  vendor: number;
  device: number;
  class: number;
  /** The `irq` attribute: the legacy INTx IRQ, or with MSI enabled the first MSI IRQ (pci_dev->irq). */
  irq: number;
  msiIrqs: number[];
  driver: string;
}

export function parsePciDevices(text: string): PciDevice[] {
  const out: PciDevice[] = [];
  for (const line of lines(text)) {
    const m = /^(\S+) vendor=(\S+) device=(\S+) class=(\S+) irq=(\d+) msi_irqs=(\S*) driver=(\S*)$/.exec(line.trim());
    if (!m) continue;
    out.push({
      bdf: m[1]!,
      vendor: Number(m[2]),
      device: Number(m[3]),
      class: Number(m[4]),
      irq: Number(m[5]),
      msiIrqs: m[6] ? m[6].split(',').map(Number) : [],
      driver: m[7]!,
    });
  }
  return out;
}

export interface PciCapabilityMsi {
  offset: number;
  enabled: boolean;
  /** Vectors enabled (2^MME) and capable (2^MMC). */
  enabledVectors: number;
  address: bigint;
  data: number;
  maskBits?: number;
}

export interface PciCapabilityMsix {
  offset: number;
  enabled: boolean;
  masked: boolean;
  tableSize: number;
  tableBar: number;
  tableOffset: number;
}

export interface PciConfig {
  bdf: string;
  /** The first 256 bytes of config space as the guest read them. */
  bytes: Uint8Array;
  /** BAR start/end/flags from the sysfs `resource` file, one per line (BARs 0-5, ROM, bridge windows…). */
  resources: { start: bigint; end: bigint; flags: bigint }[];
  capabilities: number[];
  msi?: PciCapabilityMsi;
  msix?: PciCapabilityMsix;
}

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/** The `pci-config` section: `device BDF`, the config bytes as `od -tx1` rows, `resource`, then the resource lines. */
export function parsePciConfig(text: string): PciConfig[] {
  const out: PciConfig[] = [];
  let cur: { bdf: string; hex: string[]; res: string[] } | undefined;
  let inRes = false;
  const finish = () => {
    if (!cur) return;
    const bytes = Uint8Array.from(cur.hex.map((h) => parseInt(h, 16)));
    const resources = cur.res.map((l) => {
      const [s, e, f] = l.trim().split(/\s+/).map((x) => BigInt(x));
      return { start: s!, end: e!, flags: f! };
    });
    out.push({ bdf: cur.bdf, bytes, resources, ...capabilities(bytes) });
  };
  for (const line of lines(text)) {
    const dev = /^device (\S+)$/.exec(line.trim());
    if (dev) {
      finish();
      cur = { bdf: dev[1]!, hex: [], res: [] };
      inRes = false;
    } else if (line.trim() === 'resource') inRes = true;
    else if (cur && line.trim() !== '') (inRes ? cur.res : cur.hex).push(...(inRes ? [line] : line.trim().split(/\s+/)));
  }
  finish();
  return out;
}

/** Walks the capability list (status bit 4, pointer at 0x34) for MSI (id 0x05) and MSI-X (id 0x11). */
function capabilities(b: Uint8Array): Pick<PciConfig, 'capabilities' | 'msi' | 'msix'> {
  const caps: number[] = [];
  const r: Pick<PciConfig, 'capabilities' | 'msi' | 'msix'> = { capabilities: caps };
  if (b.length < 64 || !(u16(b, 6) & 0x10)) return r;
  const seen = new Set<number>();
  for (let p = b[0x34]! & 0xfc; p >= 0x40 && p + 2 <= b.length && !seen.has(p); p = b[p + 1]! & 0xfc) {
    seen.add(p);
    const id = b[p]!;
    caps.push(id);
    if (id === 0x05 && p + 16 <= b.length) {
      const ctl = u16(b, p + 2);
      const is64 = (ctl & 0x80) !== 0;
      const lo = u32(b, p + 4);
      const address = is64 ? (BigInt(u32(b, p + 8)) << 32n) | BigInt(lo) : BigInt(lo);
      const data = u16(b, p + (is64 ? 12 : 8));
      const msi: PciCapabilityMsi = { offset: p, enabled: (ctl & 1) !== 0, enabledVectors: 1 << ((ctl >> 4) & 7), address, data };
      if (ctl & 0x100) msi.maskBits = u32(b, p + (is64 ? 16 : 12));
      r.msi = msi;
    }
    if (id === 0x11 && p + 12 <= b.length) {
      const ctl = u16(b, p + 2);
      const table = u32(b, p + 4);
      r.msix = { offset: p, enabled: (ctl & 0x8000) !== 0, masked: (ctl & 0x4000) !== 0, tableSize: (ctl & 0x7ff) + 1, tableBar: table & 7, tableOffset: table & ~7 };
    }
  }
  return r;
}

/** The first line of dmesg (`Linux version …`), or uname -r from the `uname` section. */
export function kernelRelease(sections: Map<string, string>): string | undefined {
  const uname = sections.get('uname');
  if (uname) return uname.trim().split(/\s+/)[2];
  const m = /Linux version (\S+)/.exec(sections.get('dmesg') ?? sections.get('boot') ?? '');
  return m?.[1];
}

/** Whether cpu0's flags line has x2apic (the CPUID.1:ECX bit 21 the guest saw). */
export function cpuHasX2apic(flagsSection: string): boolean {
  return /\bx2apic\b/.test(flagsSection);
}

/** A kernel command line split as the kernel's parse_args does for simple cases (no quoted values in ours). */
export function parseCmdline(text: string): { raw: string; options: Map<string, string | true> } {
  const raw = text.trim();
  const options = new Map<string, string | true>();
  for (const word of raw.split(/\s+/).filter(Boolean)) {
    const eq = word.indexOf('=');
    if (eq < 0) options.set(word, true);
    else options.set(word.slice(0, eq), word.slice(eq + 1));
  }
  return { raw, options };
}

// ---- Monitor dumps (irt.json, written by the recording harness) ----

/**
 * The interrupt remapping tables read from guest memory through QEMU's monitor after the guest printed its ready
 * marker. Values are little-endian entries as hex strings (`0x…`), keyed by entry index, zero entries left out.
 */
export interface IrtDump {
  /** How the table was found and read, in words (e.g. "IRTA register 0xfed900b8 via xp; table via pmemsave"). */
  method: string;
  intel?: {
    irta: string; // the raw IRTA register value
    tableAddress: string;
    entries: number; // 2^(S+1)
    eime: boolean;
    /** index → 128-bit IRTE */
    irte: Record<string, string>;
  };
  amd?: {
    mmioBase: string;
    deviceTableBase: string; // register 0x0000 as read
    deviceTableEntries: number;
    /** DeviceID (hex) → 256-bit DTE, for entries that are not zero */
    dte: Record<string, string>;
    /** DeviceID (hex) → the interrupt table of that DTE, if IV = 1 and IntCtl/IntTabLen point at one */
    interruptTables: Record<string, { address: string; length: number; entrySize: number; irte: Record<string, string> }>;
  };
  /** BDF → MSI-X table entries (index → address_lo, address_hi, data, vector control as 32-bit hex) */
  msix?: Record<string, { tableAddress: string; entries: Record<string, [string, string, string, string]> }>;
  errors?: string[];
}

export function parseIrtDump(json: string): IrtDump {
  return JSON.parse(json) as IrtDump;
}

/** Splits a 128-bit VT-d IRTE (hex) into the fields the remapped-format entry has (VT-d spec 9.10). */
export function decodeVtdIrte(hex: string): {
  present: boolean;
  fpd: boolean;
  destinationMode: 'physical' | 'logical';
  redirectionHint: boolean;
  triggerMode: 'edge' | 'level';
  deliveryMode: number;
  vector: number;
  /** Bits 63:32; with EIME = 0 only 15:8 of it are the xAPIC destination (xapicDestination). */
  destinationId: number;
  xapicDestination: number;
  sid: number;
  sq: number;
  svt: number;
} {
  const v = BigInt(hex);
  const bits = (lo: number, n: number) => Number((v >> BigInt(lo)) & ((1n << BigInt(n)) - 1n));
  return {
    present: bits(0, 1) === 1,
    fpd: bits(1, 1) === 1,
    destinationMode: bits(2, 1) ? 'logical' : 'physical',
    redirectionHint: bits(3, 1) === 1,
    triggerMode: bits(4, 1) ? 'level' : 'edge',
    deliveryMode: bits(5, 3),
    vector: bits(16, 8),
    destinationId: bits(32, 32),
    xapicDestination: bits(40, 8),
    sid: bits(64, 16),
    sq: bits(80, 2),
    svt: bits(82, 2),
  };
}

// ---- provenance.json ----

export interface RecordingProvenance {
  name: string;
  description: string;
  /** ISO date of the recording. */
  date: string;
  qemuVersion: string;
  /** From the guest (uname -a), or null when QEMU refused the configuration. */
  kernel: string | null;
  argv: string[];
  shell: string;
  /** The kernel command line passed with -append. */
  append: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  wallSeconds: number;
  /** QEMU's stderr (a refusal's message is here). */
  stderr: string;
  outcome: 'booted' | 'refused' | 'failed';
  traceEvents: number;
  /** Which trace files are present and what was left out of each. */
  trace: { full?: string; trimmed?: string; lines: number; keptLines?: number; dropped?: string[] };
  files: string[];
  notes?: string[];
  /**
   * The modules the recording's /init loaded, in modprobe order, then whether it brought the network interfaces up:
   * the order in which drivers requested their interrupts. Absent in recordings made before it was written down;
   * those all ran HARNESS_BOOT (recordingBootPlan).
   */
  guestModules?: string[];
  netUp?: boolean;
}

/**
 * What the recording harness's /init (scripts/qemu-oracle/init-script.ts) does that requests interrupts: modprobe of
 * these modules in this order, then `ip link set up` on every interface.
 */
export const HARNESS_BOOT: { modules: readonly string[]; netUp: boolean } = {
  modules: ['virtio_pci', 'virtio_net', 'e1000e', 'nvme', 'ahci', 'sd_mod'],
  netUp: true,
};

/** The modprobe order and interface bring-up of a recording: its own record of them, else the harness's. */
export function recordingBootPlan(p: RecordingProvenance): { modules: readonly string[]; netUp: boolean } {
  return { modules: p.guestModules ?? HARNESS_BOOT.modules, netUp: p.netUp ?? HARNESS_BOOT.netUp };
}

export const PROVENANCE_FIELDS: readonly (keyof RecordingProvenance)[] = [
  'name',
  'description',
  'date',
  'qemuVersion',
  'kernel',
  'argv',
  'shell',
  'append',
  'exitCode',
  'signal',
  'timedOut',
  'wallSeconds',
  'stderr',
  'outcome',
  'traceEvents',
  'trace',
  'files',
];

// ---- A whole recording ----

/** Everything of one recording directory, parsed. Missing files (a refused configuration) leave fields undefined. */
export interface QemuRecording {
  provenance: RecordingProvenance;
  /** Kernel release (uname -r), when the guest booted. */
  kernel?: string;
  cmdline?: ReturnType<typeof parseCmdline>;
  dmesg?: DmesgLine[];
  decisions?: string[];
  x2apicCpu?: boolean;
  interrupts?: ProcInterrupts;
  affinities?: IrqAffinity[];
  iommuGroups?: IommuGroup[];
  pciDevices?: PciDevice[];
  pciConfig?: PciConfig[];
  tables?: IrtDump;
  /** The trace as committed (trace.log: whole, or trimmed as provenance.trace says). */
  trace?: string;
}

/**
 * Parses a recording from its files' contents, keyed by file name (`provenance.json`, `dmesg.txt`, …; see
 * test/fixtures/qemu-recordings/README.md). The caller reads the files; trace-full.log.gz is not read here.
 */
export function parseRecording(files: Readonly<Record<string, string>>): QemuRecording {
  const p = files['provenance.json'];
  if (p === undefined) throw new Error('a recording needs its provenance.json');
  const r: QemuRecording = { provenance: JSON.parse(p) as RecordingProvenance };
  const f = (name: string) => files[name];
  if (f('uname.txt') !== undefined) r.kernel = f('uname.txt')!.trim().split(/\s+/)[2];
  if (f('cmdline.txt') !== undefined) r.cmdline = parseCmdline(f('cmdline.txt')!);
  if (f('dmesg.txt') !== undefined) {
    r.dmesg = parseDmesg(f('dmesg.txt')!);
    r.decisions = decisionLines(f('dmesg.txt')!);
  }
  if (f('cpuinfo-flags.txt') !== undefined) r.x2apicCpu = cpuHasX2apic(f('cpuinfo-flags.txt')!);
  if (f('interrupts.txt') !== undefined) r.interrupts = parseProcInterrupts(f('interrupts.txt')!);
  if (f('irq-affinity.txt') !== undefined) r.affinities = parseAffinities(f('irq-affinity.txt')!);
  if (f('reserved-regions.txt') !== undefined) r.iommuGroups = parseReservedRegions(f('reserved-regions.txt')!);
  if (f('pci-devices.txt') !== undefined) r.pciDevices = parsePciDevices(f('pci-devices.txt')!);
  if (f('pci-config.txt') !== undefined) r.pciConfig = parsePciConfig(f('pci-config.txt')!);
  if (f('irt.json') !== undefined) r.tables = parseIrtDump(f('irt.json')!);
  if (f('trace.log') !== undefined) r.trace = f('trace.log');
  return r;
}
