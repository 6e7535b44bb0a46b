/**
 * Which interrupt-path trace events the installed QEMU has. The names come from the binary itself
 * (`qemu-system-x86_64 -trace help` prints every event compiled in, one a line), filtered by name patterns, so a
 * QEMU that renamed or added an event is traced by what it actually has — never by a list written from memory.
 */
import { execFileSync } from 'node:child_process';

/**
 * The patterns of the interrupt path: the two vIOMMUs (hw/i386/intel_iommu.c, hw/i386/amd_iommu.c, and the
 * x86_iommu_* helpers both share), the local APIC and I/O APIC, MSI/MSI-X, the PCI config-space accesses by which a
 * guest programs MSI capabilities, the 8259 PIC and the HPET. `pci_nvme_*` are matched out: they are the NVMe
 * device's own command trace, not the interrupt path (its `pci_nvme_irq_*` are kept).
 */
export const INTERRUPT_TRACE_PATTERNS: readonly RegExp[] = [
  /^vtd_/,
  /^amdvi_/,
  /^x86_iommu_/,
  /^apic_/,
  /^ioapic_/,
  /^msi/,
  /^msix/,
  /^pci_cfg_/,
  /^pci_update_mappings/,
  /^pci_nvme_irq_/,
  /^pic_/,
  /^i8259/,
  /^hpet/,
];

/** The event names `-trace help` lists (the first line is a heading, not an event). */
export function parseTraceHelp(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^[a-z0-9_]+$/.test(l));
}

export function selectInterruptEvents(all: readonly string[], patterns: readonly RegExp[] = INTERRUPT_TRACE_PATTERNS): string[] {
  return all.filter((name) => patterns.some((p) => p.test(name)));
}

/** Runs `<qemu> -trace help` and returns the interrupt-path events it lists. Throws if QEMU cannot be run. */
export function installedInterruptEvents(qemu = 'qemu-system-x86_64'): string[] {
  const text = execFileSync(qemu, ['-trace', 'help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return selectInterruptEvents(parseTraceHelp(text));
}

export function qemuVersion(qemu = 'qemu-system-x86_64'): string {
  return execFileSync(qemu, ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
}
