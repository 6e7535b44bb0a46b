/**
 * The recorded configurations (test/fixtures/qemu-recordings/README.md has a table of what each showed). Every one
 * boots the same kernel and initramfs on q35 with the same devices; they differ in vCPUs, CPU model, vIOMMU and its
 * options, and kernel command line. Configurations QEMU refuses are kept: the refusal message is the recording.
 */
export interface Configuration {
  name: string;
  description: string;
  smp: number;
  memory?: string;
  machine?: string; // -machine value, default q35
  cpu?: string; // -cpu value, default QEMU's (qemu64)
  iommu?: string; // -device value of the vIOMMU
  append?: string[]; // kernel options beyond the common ones
  timeoutMs?: number;
}

export const CONFIGURATIONS: readonly Configuration[] = [
  { name: 'intel-ir-1cpu', description: 'Intel vIOMMU with interrupt remapping, 1 vCPU', smp: 1, iommu: 'intel-iommu,intremap=on' },
  { name: 'intel-ir-4cpu', description: 'Intel vIOMMU with interrupt remapping, 4 vCPUs', smp: 4, iommu: 'intel-iommu,intremap=on' },
  { name: 'intel-ir-32cpu', description: 'Intel vIOMMU with interrupt remapping, 32 vCPUs', smp: 32, iommu: 'intel-iommu,intremap=on' },
  { name: 'intel-ir-64cpu', description: 'Intel vIOMMU with interrupt remapping, 64 vCPUs', smp: 64, memory: '1G', iommu: 'intel-iommu,intremap=on', timeoutMs: 1_500_000 },
  { name: 'intel-ir-128cpu', description: 'Intel vIOMMU with interrupt remapping, 128 vCPUs', smp: 128, memory: '1G', iommu: 'intel-iommu,intremap=on', timeoutMs: 1_800_000 },
  { name: 'intel-ir-split', description: 'Intel vIOMMU with interrupt remapping, -machine kernel-irqchip=split under TCG', smp: 4, machine: 'q35,kernel-irqchip=split', iommu: 'intel-iommu,intremap=on' },
  { name: 'intel-ir-caching-mode', description: 'Intel vIOMMU, intremap=on, caching-mode=on', smp: 4, iommu: 'intel-iommu,intremap=on,caching-mode=on' },
  { name: 'intel-ir-aw48', description: 'Intel vIOMMU, intremap=on, aw-bits=48', smp: 4, iommu: 'intel-iommu,intremap=on,aw-bits=48' },
  { name: 'intel-ir-x2apic-cpu', description: 'Intel vIOMMU, intremap=on, -cpu qemu64,+x2apic (TCG in QEMU 7.2 has no x2APIC)', smp: 4, cpu: 'qemu64,+x2apic', iommu: 'intel-iommu,intremap=on' },
  { name: 'intel-ir-epyc', description: 'Intel vIOMMU with interrupt remapping on an AMD CPU model (-cpu EPYC)', smp: 4, cpu: 'EPYC', iommu: 'intel-iommu,intremap=on' },
  { name: 'intel-noir', description: 'Intel vIOMMU with intremap=off on the device (no ECAP.IR)', smp: 4, iommu: 'intel-iommu,intremap=off' },
  { name: 'intel-ir-k-intremap-off', description: 'Intel vIOMMU with remapping, kernel intremap=off', smp: 4, iommu: 'intel-iommu,intremap=on', append: ['intremap=off'] },
  { name: 'intel-ir-k-nox2apic', description: 'Intel vIOMMU with remapping, kernel nox2apic', smp: 4, iommu: 'intel-iommu,intremap=on', append: ['nox2apic'] },
  { name: 'intel-ir-k-iommu-off', description: 'Intel vIOMMU with remapping, kernel intel_iommu=off', smp: 4, iommu: 'intel-iommu,intremap=on', append: ['intel_iommu=off'] },
  { name: 'intel-ir-k-iommu-pt', description: 'Intel vIOMMU with remapping, kernel iommu=pt', smp: 4, iommu: 'intel-iommu,intremap=on', append: ['iommu=pt'] },
  { name: 'amd-iommu', description: 'AMD vIOMMU without interrupt remapping (intremap off by default)', smp: 4, iommu: 'amd-iommu' },
  { name: 'amd-iommu-ir', description: 'AMD vIOMMU with intremap=on', smp: 4, iommu: 'amd-iommu,intremap=on' },
  { name: 'amd-iommu-ir-epyc', description: 'AMD vIOMMU with intremap=on on -cpu EPYC', smp: 4, cpu: 'EPYC', iommu: 'amd-iommu,intremap=on' },
  { name: 'no-iommu', description: 'No vIOMMU, 4 vCPUs', smp: 4 },
  { name: 'refused-eim', description: 'Intel vIOMMU with eim=on under TCG', smp: 4, iommu: 'intel-iommu,intremap=on,eim=on' },
  { name: 'refused-eim-split', description: 'Intel vIOMMU with eim=on and kernel-irqchip=split under TCG', smp: 4, machine: 'q35,kernel-irqchip=split', iommu: 'intel-iommu,intremap=on,eim=on' },
  { name: 'refused-256cpu', description: 'Intel vIOMMU with remapping, 256 vCPUs under TCG', smp: 256, memory: '2G', iommu: 'intel-iommu,intremap=on' },
];
