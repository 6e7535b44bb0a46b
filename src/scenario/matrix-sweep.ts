/**
 * The full sweep (`irqpath matrix --full`): the default grid crossed with the axes users ask about — the Linux
 * kernel version, whether the CPU has x2APIC (CPUID.1:ECX[21]), the kernel command-line options that change the
 * interrupt path (src/guest/linux/kernel-cmdline.ts), and device-assignment cells through createSystem under each
 * VMM profile with and without posted interrupts. Each cell runs the same way as a default-grid cell
 * (runMatrixCell) and names its failure in the same words.
 */
import { DEFAULT_AXES, matrixCells, ASSIGNMENT_PROFILES, type MatrixAxes, type MatrixCellSpec } from './matrix.ts';

export interface SweepAxes extends MatrixAxes {
  /** Linux kernel versions (Windows cells have none). */
  versions: string[];
  /** CPUID x2APIC capability of the vCPUs. */
  x2apicCpu: boolean[];
  /** Linux command lines; `iommu-off` stands for `intel_iommu=off` or `amd_iommu=off`, whichever the cell's IOMMU reads. */
  cmdlines: string[];
}

/**
 * One version on each side of every boundary the Linux model draws (src/core/linux-version.ts): the DMAR fault
 * format (5.14, 5.15), AMD-Vi's segment in device names (6.0), `CPU topo:` (6.9) — as the long-term kernels.
 */
export const SWEEP_VERSIONS = ['4.19', '5.10', '5.15', '6.1', '6.6', '6.12'];

/** The command-line options that change the interrupt path; '' is an empty command line. */
export const SWEEP_CMDLINES = ['', 'intremap=off', 'intremap=no_x2apic_optout', 'nox2apic', 'x2apic_phys', 'iommu-off', 'iommu=pt'];

export const FULL_AXES: SweepAxes = {
  ...DEFAULT_AXES,
  versions: SWEEP_VERSIONS,
  x2apicCpu: [true, false],
  cmdlines: SWEEP_CMDLINES,
};

/** The command line a cell boots with: `iommu-off` turns off the IOMMU the cell has (Intel's when it has none). */
function cmdlineFor(cmdline: string, iommu: MatrixCellSpec['iommu']): string {
  if (cmdline !== 'iommu-off') return cmdline;
  return iommu === 'amd' ? 'amd_iommu=off' : 'intel_iommu=off';
}

/**
 * The assignment cells: guest × host IOMMU × VMM profile × posting, each at a vCPU count either side of 255, on a
 * guest machine without a vIOMMU and with the CPU vendor of the host. Few on purpose — each boots two machines.
 */
export function assignmentCells(axes: Pick<MatrixAxes, 'guests'> = DEFAULT_AXES): MatrixCellSpec[] {
  const specs: MatrixCellSpec[] = [];
  for (const guest of axes.guests)
    for (const hostIommu of ['intel', 'amd'] as const)
      for (const profile of ASSIGNMENT_PROFILES)
        for (const posted of [false, true])
          for (const extension of [false, true])
            for (const cpus of [64, 300])
              specs.push({ guest, vendor: hostIommu, iommu: 'none', extension, workarounds: false, cpus, assignment: { hostIommu, profile, posted } });
  return specs;
}

/** Every cell of the full sweep: the default grid's cells for each new axis value, then the assignment cells. */
export function sweepCells(axes: SweepAxes = FULL_AXES): MatrixCellSpec[] {
  const specs: MatrixCellSpec[] = [];
  // The sweep crosses every vCPU count with both x2APIC values itself.
  for (const base of matrixCells({ ...axes, x2apicCpu: [true] })) {
    for (const x2apicCpu of axes.x2apicCpu) {
      if (base.guest !== 'linux') {
        specs.push({ ...base, x2apicCpu });
        continue;
      }
      for (const version of axes.versions)
        for (const cmdline of axes.cmdlines) specs.push({ ...base, version, x2apicCpu, cmdline: cmdlineFor(cmdline, base.iommu) });
    }
  }
  specs.push(...assignmentCells(axes));
  return specs;
}
