/**
 * The kernel command-line options that change the x86 interrupt path, parsed the way the kernel parses them
 * (kernel/params.c parse_args / next_arg: words separated by spaces, `name=value`, double quotes around values with
 * spaces; every occurrence is applied in order, so a later one wins). Options the model does not know are ignored,
 * as the kernel passes them on to init.
 *
 * - `intremap=on|off|nosid|no_x2apic_optout|nopost[,...]`: setup_irqremap (drivers/iommu/irq_remapping.c). `off`
 *   sets disable_irq_remap (irq_remapping_prepare returns -ENOSYS without a line); `nosid` makes set_irte_sid
 *   write SVT = 0 (no requester-id check); `no_x2apic_optout` ignores the DMAR X2APIC_OPT_OUT flag
 *   (dmar_x2apic_optout). Each word is matched by its prefix (strncmp), as the kernel does.
 * - `nox2apic`: setup_nox2apic (arch/x86/kernel/apic/apic.c) clears X86_FEATURE_X2APIC.
 * - `x2apic_phys`: setup_x2apic_phys (x2apic_phys.c): the physical x2APIC driver even with remapping.
 * - `intel_iommu=on|off[,...]`: intel_iommu_setup (drivers/iommu/intel/iommu.c), "DMAR: IOMMU enabled|disabled";
 *   DMA remapping only — interrupt remapping does not look at dmar_disabled.
 * - `amd_iommu=off`: parse_amd_iommu_options (drivers/iommu/amd/init.c): amd_iommu_disabled, so the AMD IOMMU
 *   driver stops at IOMMU_CMDLINE_DISABLED before it reads the IVRS units (no AMD-Vi lines, no remapping).
 * - `iommu=pt|nopt[,...]`: iommu_setup (arch/x86/kernel/pci-dma.c): identity-mapped default DMA domains.
 * - `noapic`: parse_noapic (io_apic.c) → skip_ioapic_setup: the I/O APIC is not used, and enable_IR_x2apic returns
 *   at once ("Not enabling interrupt remapping due to skipped IO-APIC setup"), so x2APIC is not enabled either.
 * - `apic=debug|verbose|quiet` only sets the APIC code's verbosity on x86-64 (apic_set_verbosity): no decision
 *   changes, and the model prints no verbose lines.
 */
import { UsageError } from '../../core/errors.ts';

export interface LinuxCmdline {
  /** As given. */
  text: string;
  intremapOff: boolean;
  intremapNosid: boolean;
  noX2apicOptout: boolean;
  nox2apic: boolean;
  x2apicPhys: boolean;
  /** intel_iommu=on / off (last one wins), null when not given. */
  intelIommu: 'on' | 'off' | null;
  amdIommuOff: boolean;
  iommuPassthrough: boolean;
  noapic: boolean;
  /** What the early parameter handlers print, in order (e.g. "DMAR: IOMMU disabled"). */
  parseLines: string[];
}

/** next_arg: split into (name, value|null) pairs, honouring double quotes. */
export function splitKernelArgs(text: string): { name: string; value: string | null }[] {
  const out: { name: string; value: string | null }[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length) break;
    let word = '';
    let quoted = false;
    while (i < text.length && (quoted || !/\s/.test(text[i]))) {
      if (text[i] === '"') quoted = !quoted;
      else word += text[i];
      i++;
    }
    const eq = word.indexOf('=');
    out.push(eq < 0 ? { name: word, value: null } : { name: word.slice(0, eq), value: word.slice(eq + 1) });
  }
  return out;
}

/** Comma-separated words as the IOMMU option parsers walk them (strcspn ",", skip runs of commas). */
function words(value: string): string[] {
  return value.split(',').filter((w) => w.length > 0);
}

export function parseKernelCmdline(text: unknown = ''): LinuxCmdline {
  if (typeof text !== 'string') throw new UsageError(`cmdline must be a kernel command line string like "intremap=off nox2apic", got ${JSON.stringify(text)}`);
  const c: LinuxCmdline = {
    text,
    intremapOff: false,
    intremapNosid: false,
    noX2apicOptout: false,
    nox2apic: false,
    x2apicPhys: false,
    intelIommu: null,
    amdIommuOff: false,
    iommuPassthrough: false,
    noapic: false,
    parseLines: [],
  };
  // parse_args: names compare with '-' and '_' equivalent (parameq).
  for (const { name: rawName, value } of splitKernelArgs(text)) {
    const name = rawName.replace(/-/g, '_');
    if (name === 'intremap' && value !== null) {
      for (const w of words(value)) {
        if (w.startsWith('on')) c.intremapOff = false;
        else if (w.startsWith('off')) c.intremapOff = true;
        else if (w.startsWith('nosid')) c.intremapNosid = true;
        else if (w.startsWith('no_x2apic_optout')) c.noX2apicOptout = true;
      }
    } else if (name === 'nox2apic') c.nox2apic = true;
    else if (name === 'x2apic_phys') c.x2apicPhys = true;
    else if (name === 'noapic') c.noapic = true;
    else if (name === 'intel_iommu' && value !== null) {
      for (const w of words(value)) {
        if (w.startsWith('on')) {
          c.intelIommu = 'on';
          c.parseLines.push('DMAR: IOMMU enabled');
        } else if (w.startsWith('off')) {
          c.intelIommu = 'off';
          c.parseLines.push('DMAR: IOMMU disabled');
        }
      }
    } else if (name === 'amd_iommu' && value !== null) {
      for (const w of words(value)) if (w.startsWith('off')) c.amdIommuOff = true;
    } else if (name === 'iommu' && value !== null) {
      for (const w of words(value)) {
        if (w.startsWith('pt')) c.iommuPassthrough = true;
        else if (w.startsWith('nopt')) c.iommuPassthrough = false;
      }
    }
  }
  return c;
}
