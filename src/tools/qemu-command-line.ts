/**
 * Reading a QEMU command line (`qemu-system-x86_64 -M q35 -smp 4 -device intel-iommu,intremap=on ...`) for
 * `irqpath qemu`: split it into words as a POSIX shell would, read QEMU's options (qemu-options.hx: which take an
 * argument), parse the `-device driver,key=value` / `-machine type,key=value` argument syntax of QemuOpts (a `,,`
 * is a literal comma), and derive the machine irqpath models: machine type and irqchip, vCPUs, CPU vendor and
 * x2APIC, the vIOMMU and its options, and each PCI device with its MSI/MSI-X vector count.
 *
 * Pure and browser-safe: takes words or text, returns data; what the guest printed completes it (qemu-machine.ts).
 * A command line irqpath cannot read — an option missing its argument, unbalanced quotes, a property value QEMU
 * itself would refuse — is a UsageError naming what was wrong.
 */
import { UsageError } from '../core/errors.ts';

/** Split a command line as `sh` does: '…' literal, "…" with \" \\ \$ \` escapes, \x outside quotes, \<newline> joins. */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\') {
      const next = text[i + 1];
      if (next === undefined) throw new UsageError('command line: a backslash at the very end escapes nothing');
      if (next !== '\n') {
        word += next;
        inWord = true;
      }
      i += 2;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new UsageError(`command line: the single quote at character ${i + 1} is never closed`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new UsageError(`command line: the double quote at character ${i + 1} is never closed`);
        const d = text[j];
        if (d === '"') break;
        if (d === '\\' && '"\\$`\n'.includes(text[j + 1] ?? '')) {
          if (text[j + 1] !== '\n') word += text[j + 1];
          j += 2;
        } else {
          word += d;
          j++;
        }
      }
      inWord = true;
      i = j + 1;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * QEMU options that take no argument (qemu-options.hx entries without HAS_ARG, x86 system emulator). Every other
 * option takes exactly one.
 */
const FLAGS = new Set([
  'nographic', 'no-reboot', 'no-shutdown', 'S', 's', 'enable-kvm', 'snapshot', 'daemonize', 'no-hpet', 'no-acpi',
  'nodefaults', 'no-user-config', 'full-screen', 'version', 'help', 'h', 'no-fd-bootchk', 'win2k-hack', 'no-quit',
  'only-migratable', 'preconfig', 'usb', 'alt-grab', 'ctrl-grab', 'no-frame', 'enable-sync-profile', 'xen-attach',
  'xen-domid-restrict', 'semihosting', 'perfmap',
]);

/** One option of the command line, in order: `-name value` (value null for a flag). */
export interface QemuOption {
  name: string;
  value: string | null;
}

/** `driver,key=value,flag` → { type: driver, props }: QemuOpts syntax, `,,` a literal comma; the first bare word is the implied key. */
export function parseQemuOpts(text: string, impliedKey: string, option: string): { implied: string | null; props: Map<string, string> } {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ',') {
      if (text[i + 1] === ',') {
        cur += ',';
        i++;
      } else {
        parts.push(cur);
        cur = '';
      }
    } else cur += text[i];
  }
  parts.push(cur);
  const props = new Map<string, string>();
  let implied: string | null = null;
  parts.forEach((p, k) => {
    const eq = p.indexOf('=');
    if (eq < 0) {
      if (k === 0 && impliedKey !== '') implied = p;
      else if (p.startsWith('no')) props.set(p.slice(2), 'off'); // QemuOpts: `noflag` is flag=off
      else props.set(p, 'on');
      return;
    }
    const key = p.slice(0, eq);
    if (key === '') throw new UsageError(`${option} ${text}: an empty property name`);
    if (key === impliedKey && k === 0) implied = p.slice(eq + 1);
    else props.set(key, p.slice(eq + 1));
  });
  return { implied, props };
}

/** The options of a QEMU command line (the words after the program). */
export function readQemuOptions(args: readonly string[]): QemuOption[] {
  const out: QemuOption[] = [];
  for (let i = 0; i < args.length; i++) {
    const w = args[i];
    if (!w.startsWith('-') || w === '-') {
      // QEMU reads a bare word as the disk image (`qemu-system-x86_64 disk.img`): -hda.
      out.push({ name: 'hda', value: w });
      continue;
    }
    const name = w.replace(/^--?/, '');
    if (name === '') throw new UsageError(`QEMU command line: '${w}' is not an option`);
    if (FLAGS.has(name)) {
      out.push({ name, value: null });
      continue;
    }
    const value = args[i + 1];
    if (value === undefined) throw new UsageError(`QEMU command line: ${w} needs an argument and is the last word`);
    out.push({ name, value });
    i++;
  }
  return out;
}

export type OnOff = boolean | 'auto';

function onOff(value: string | undefined, what: string): OnOff | undefined {
  if (value === undefined) return undefined;
  if (['on', 'yes', 'true', 'y'].includes(value)) return true;
  if (['off', 'no', 'false', 'n'].includes(value)) return false;
  if (value === 'auto') return 'auto';
  throw new UsageError(`QEMU command line: ${what}=${value}: expected on, off or auto`);
}

function intValue(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(value)) throw new UsageError(`QEMU command line: ${what}=${value}: expected a number`);
  return Number(value);
}

export interface QemuPciDevice {
  driver: string;
  id: string | null;
  /** `addr=` as given (`3`, `0x3.0`, `03.1`), or null: QEMU takes the next free slot. */
  addr: string | null;
  /** MSI-X table size, or MSI vector count, as QEMU's device model sets it; null when irqpath does not know it. */
  vectors: { kind: 'msix' | 'msi'; count: number; why: string } | null;
  /** PCI vendor:device ID as the guest will see it (to match the guest's `pci ...: [vvvv:dddd]` lines). */
  ids: string | null;
}

export interface QemuCommandLine {
  program: string;
  machineType: string;
  accel: string;
  kernelIrqchip: 'on' | 'off' | 'split' | null;
  cpus: number;
  cpuModel: string;
  cpuVendor: 'intel' | 'amd' | null;
  /** x2APIC offered to the guest: false under QEMU 7.2's TCG whatever the model, else the model's and +/-x2apic. */
  x2apic: boolean | null;
  iommu:
    | { kind: 'intel'; intremap: OnOff; eim: OnOff; cachingMode: boolean; awBits: number; buggyEim: boolean; dmaTranslation: boolean }
    | { kind: 'amd'; intremap: OnOff; xtsup: boolean }
    | null;
  devices: QemuPciDevice[];
  /** QEMU adds its default NIC (e1000e on q35, e1000 on pc): no -nodefaults, -nic, -net or -netdev. */
  defaultNic: boolean;
  kernel: string | null;
  append: string | null;
  /** Options that fix where the trace goes (irqpath adds its own). */
  traceFile: string | null;
  /** What the command line does not say and what was taken instead; what irqpath does not read. */
  notes: string[];
}

/** Devices irqpath knows, with QEMU's vector counts and the IDs the guest sees. */
const DEVICE_TABLE: Record<string, { ids: string; vectors: (props: Map<string, string>, cpus: number) => QemuPciDevice['vectors'] }> = {
  'virtio-net-pci': {
    ids: '1af4:1000',
    vectors: (p) => {
      const n = intValue(p.get('vectors'), 'virtio-net-pci vectors');
      return { kind: 'msix', count: n ?? 4, why: n !== undefined ? 'vectors= as given' : 'virtio_net_pci_realize: 2 × queues (1) + config + control vq' };
    },
  },
  'virtio-blk-pci': {
    ids: '1af4:1001',
    vectors: (p, cpus) => {
      const n = intValue(p.get('vectors'), 'virtio-blk-pci vectors');
      const queues = intValue(p.get('num-queues'), 'virtio-blk-pci num-queues') ?? cpus;
      return { kind: 'msix', count: n ?? queues + 1, why: n !== undefined ? 'vectors= as given' : 'virtio_blk_pci_realize: num-queues (one per vCPU by default) + 1' };
    },
  },
  'virtio-scsi-pci': {
    ids: '1af4:1004',
    vectors: (p, cpus) => {
      const n = intValue(p.get('vectors'), 'virtio-scsi-pci vectors');
      const queues = intValue(p.get('num_queues'), 'virtio-scsi-pci num_queues') ?? cpus;
      return { kind: 'msix', count: n ?? queues + 3, why: n !== undefined ? 'vectors= as given' : 'virtio_scsi_pci_realize: num_queues (one per vCPU by default) + 3' };
    },
  },
  e1000e: { ids: '8086:10d3', vectors: () => ({ kind: 'msix', count: 5, why: 'hw/net/e1000e.c E1000E_MSIX_VEC_NUM' }) },
  nvme: {
    ids: '1b36:0010',
    vectors: (p) => {
      const q = intValue(p.get('msix_qsize'), 'nvme msix_qsize');
      const pairs = intValue(p.get('max_ioqpairs'), 'nvme max_ioqpairs');
      return { kind: 'msix', count: q ?? (pairs !== undefined ? pairs + 1 : 65), why: q !== undefined ? 'msix_qsize= as given' : 'nvme_init_pci: msix_qsize (max_ioqpairs 64 + 1 by default)' };
    },
  },
  'ich9-ahci': { ids: '8086:2922', vectors: () => ({ kind: 'msi', count: 1, why: 'ich9_ahci_realize: msi_init with 1 vector' }) },
  e1000: { ids: '8086:100e', vectors: () => null },
  'amd-iommu': { ids: '1022:0018', vectors: () => ({ kind: 'msi', count: 1, why: 'amdvi_pci_realize: msi_init with 1 vector (the event-log interrupt)' }) },
};

const AMD_CPU = /^(EPYC|Opteron|phenom|athlon|Dhyana|qemu64)/i;
const INTEL_CPU = /^(Skylake|Cascadelake|Icelake|Sapphire|Cooperlake|Broadwell|Haswell|IvyBridge|SandyBridge|Westmere|Nehalem|Penryn|Conroe|Snowridge|Denverton|core2duo|coreduo|kvm64|qemu32|kvm32|pentium|n270|486|GraniteRapids|SierraForest)/i;

/** Read a QEMU x86 command line: its program and its options (words as the shell passes them). */
export function parseQemuCommandLine(words: readonly string[]): QemuCommandLine {
  if (words.length === 0) throw new UsageError('QEMU command line: empty (give it after --, e.g. irqpath qemu -- qemu-system-x86_64 -M q35 ...)');
  const program = words[0];
  const base = program.split('/').pop()!;
  if (!/^qemu-system-(x86_64|i386)$|^qemu-kvm$|^kvm$/.test(base)) {
    throw new UsageError(`QEMU command line: '${program}' is not an x86 QEMU system emulator (qemu-system-x86_64, qemu-system-i386, qemu-kvm)`);
  }
  const options = readQemuOptions(words.slice(1));
  const notes: string[] = [];
  const out: QemuCommandLine = {
    program, machineType: base === 'qemu-system-i386' ? 'pc' : 'pc', accel: 'tcg', kernelIrqchip: null, cpus: 1, cpuModel: 'qemu64', cpuVendor: null,
    x2apic: null, iommu: null, devices: [], defaultNic: true, kernel: null, append: null, traceFile: null, notes,
  };
  const cpuFlags = new Map<string, boolean>();
  const deviceOptions: string[] = [];
  for (const o of options) {
    const v = o.value ?? '';
    switch (o.name) {
      case 'M': case 'machine': {
        const { implied, props } = parseQemuOpts(v, 'type', `-${o.name}`);
        if (implied) out.machineType = implied;
        const irqchip = props.get('kernel-irqchip') ?? props.get('kernel_irqchip');
        if (irqchip !== undefined) {
          if (!['on', 'off', 'split'].includes(irqchip)) throw new UsageError(`QEMU command line: -${o.name} kernel-irqchip=${irqchip}: expected on, off or split`);
          out.kernelIrqchip = irqchip as 'on' | 'off' | 'split';
        }
        if (props.has('accel')) out.accel = props.get('accel')!.split(':')[0];
        break;
      }
      case 'accel': {
        const { implied, props } = parseQemuOpts(v, 'accel', '-accel');
        if (implied) out.accel = implied;
        const irqchip = props.get('kernel-irqchip');
        if (irqchip !== undefined) {
          if (!['on', 'off', 'split'].includes(irqchip)) throw new UsageError(`QEMU command line: -accel kernel-irqchip=${irqchip}: expected on, off or split`);
          out.kernelIrqchip = irqchip as 'on' | 'off' | 'split';
        }
        break;
      }
      case 'enable-kvm':
        out.accel = 'kvm';
        break;
      case 'smp': {
        const { implied, props } = parseQemuOpts(v, 'cpus', '-smp');
        const n = (k: string) => intValue(props.get(k), `-smp ${k}`);
        const cpus = implied !== null ? intValue(implied, '-smp cpus') : n('cpus');
        const product = (n('sockets') ?? 1) * (n('dies') ?? 1) * (n('cores') ?? 1) * (n('threads') ?? 1);
        out.cpus = cpus ?? product;
        if (out.cpus < 1) throw new UsageError(`QEMU command line: -smp ${v}: no vCPUs`);
        break;
      }
      case 'cpu': {
        const parts = v.split(',');
        out.cpuModel = parts[0];
        for (const f of parts.slice(1)) {
          const m = /^([+-])([\w-]+)$/.exec(f) ?? null;
          if (m) cpuFlags.set(m[2], m[1] === '+');
          else if (/^[\w-]+=/.test(f)) {
            const [k, val] = f.split('=');
            if (k === 'vendor') out.cpuVendor = /AMD/i.test(val) ? 'amd' : /Intel/i.test(val) ? 'intel' : null;
            else if (['on', 'off'].includes(val)) cpuFlags.set(k, val === 'on');
          }
        }
        break;
      }
      case 'device':
        deviceOptions.push(v);
        break;
      case 'kernel':
        out.kernel = v;
        break;
      case 'nodefaults': case 'nic': case 'net': case 'netdev':
        out.defaultNic = false;
        break;
      case 'append':
        out.append = v;
        break;
      case 'D':
        out.traceFile = v;
        break;
      default:
        break;
    }
  }
  if (out.accel === 'kvm' && out.kernelIrqchip === null) out.kernelIrqchip = 'on';

  // CPU vendor and x2APIC. qemu64, QEMU's default model, reports AuthenticAMD.
  if (out.cpuVendor === null) {
    if (AMD_CPU.test(out.cpuModel)) out.cpuVendor = 'amd';
    else if (INTEL_CPU.test(out.cpuModel)) out.cpuVendor = 'intel';
    else notes.push(`CPU vendor of -cpu ${out.cpuModel}: not known to irqpath (host/max follow the host); taken from what the guest printed, else Intel`);
  }
  if (out.accel === 'tcg') {
    out.x2apic = false;
    notes.push('x2APIC: QEMU 7.2 under TCG offers no x2APIC whatever the -cpu model (its Linux guests print "Enabled IRQ remapping in xapic mode")');
  } else {
    out.x2apic = cpuFlags.get('x2apic') ?? true;
  }

  // Devices, in command-line order (QEMU places each without addr= at the next free slot).
  for (const d of deviceOptions) {
    const { implied, props } = parseQemuOpts(d, 'driver', '-device');
    if (implied === null) throw new UsageError(`QEMU command line: -device ${d}: no driver name`);
    if (implied === 'intel-iommu') {
      const awBits = intValue(props.get('aw-bits'), 'intel-iommu aw-bits') ?? 39;
      if (awBits !== 39 && awBits !== 48) throw new UsageError(`QEMU command line: -device intel-iommu aw-bits=${awBits}: QEMU accepts 39 or 48`);
      out.iommu = {
        kind: 'intel',
        intremap: onOff(props.get('intremap'), 'intel-iommu intremap') ?? 'auto',
        eim: onOff(props.get('eim'), 'intel-iommu eim') ?? 'auto',
        cachingMode: onOff(props.get('caching-mode'), 'intel-iommu caching-mode') === true,
        awBits,
        buggyEim: onOff(props.get('x-buggy-eim'), 'intel-iommu x-buggy-eim') === true,
        dmaTranslation: onOff(props.get('dma-translation'), 'intel-iommu dma-translation') !== false,
      };
      continue;
    }
    if (implied === 'amd-iommu') {
      out.iommu = { kind: 'amd', intremap: onOff(props.get('intremap'), 'amd-iommu intremap') ?? 'auto', xtsup: onOff(props.get('xtsup'), 'amd-iommu xtsup') === true };
    }
    const known = DEVICE_TABLE[implied];
    if (!known) {
      notes.push(`-device ${implied}: not a device irqpath models; left out`);
      continue;
    }
    out.devices.push({ driver: implied, id: props.get('id') ?? null, addr: props.get('addr') ?? null, vectors: known.vectors(props, out.cpus), ids: known.ids });
  }
  return out;
}
