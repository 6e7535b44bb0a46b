/**
 * The full sweep: how many cells each axis adds, that rows survive CSV and JSON lines, that the report groups
 * failures by the axes that decide them, and a few cells whose outcome the specifications fix.
 */
import { describe, expect, it } from 'vitest';
import { cellName, matrixCells, runMatrixCell } from '../../src/scenario/matrix.ts';
import { assignmentCells, FULL_AXES, SWEEP_CMDLINES, SWEEP_VERSIONS, sweepCells } from '../../src/scenario/matrix-sweep.ts';
import { CSV_HEADER, csvLine, jsonLine, parseMatrixRows, type MatrixRow } from '../../src/scenario/matrix-rows.ts';
import { matrixReport, renderMatrixReport } from '../../src/scenario/matrix-report.ts';

describe('full sweep cells', () => {
  it('crosses the 256-cell grid with version × x2APIC × command line for Linux, x2APIC for Windows, plus assignment cells', () => {
    const grid = matrixCells({ ...FULL_AXES, x2apicCpu: [true] }).length;
    expect(grid).toBe(256);
    expect(SWEEP_VERSIONS).toHaveLength(6);
    expect(SWEEP_CMDLINES).toHaveLength(7);
    // Half the grid is Linux: 128 × 2 (x2APIC) × 6 (versions) × 7 (command lines); Windows: 128 × 2.
    const linux = 128 * 2 * 6 * 7;
    const windows = 128 * 2;
    // 2 guests × 2 host IOMMUs × 2 profiles × posting on/off × extension on/off × 2 vCPU counts.
    expect(assignmentCells()).toHaveLength(64);
    const cells = sweepCells();
    expect(cells).toHaveLength(linux + windows + 64);
    expect(cells.length).toBeGreaterThanOrEqual(10_000);
    expect(new Set(cells.map(cellName)).size).toBe(cells.length);
  });

  it('iommu-off turns off the IOMMU the cell has', () => {
    const cmdlines = (iommu: string) => new Set(sweepCells().filter((c) => c.iommu === iommu && c.guest === 'linux').map((c) => c.cmdline));
    expect(cmdlines('amd').has('amd_iommu=off')).toBe(true);
    expect(cmdlines('amd').has('intel_iommu=off')).toBe(false);
    expect(cmdlines('intel-ir').has('intel_iommu=off')).toBe(true);
  });
});

describe('full sweep cells that the specifications decide', () => {
  const base = { guest: 'linux', vendor: 'intel', iommu: 'intel-ir', extension: false, workarounds: false, cpus: 300, version: '6.12' } as const;

  it('Intel IR on an x2APIC CPU brings all 300 CPUs up; intremap=off leaves APIC IDs above 255 unreachable', () => {
    expect(runMatrixCell({ ...base, cmdline: '' }).mode).toBe('ok');
    const off = runMatrixCell({ ...base, cmdline: 'intremap=off' });
    expect(off.mode).toBe('CPUs>255 offline');
    expect(off.onlineCpus).toBe(256);
  });

  it('a CPU without x2APIC cannot hold 300 APIC IDs (8-bit xAPIC IDs, 0xFF broadcast): the cell names the constraint, for either guest', () => {
    const linux = runMatrixCell({ ...base, x2apicCpu: false });
    expect(linux.mode).toBe('no machine: >255 CPUs need x2APIC');
    expect(linux.ok).toBe(false);
    expect(linux.onlineCpus).toBe(0);
    const windows = runMatrixCell({ guest: 'windows', vendor: 'amd', iommu: 'amd', extension: true, workarounds: true, cpus: 1024, x2apicCpu: false });
    expect(windows.mode).toBe('no machine: >255 CPUs need x2APIC');
    // An assignment cell's guest machine is refused the same way, inside the cell, not by an exception out of it.
    const assigned = runMatrixCell({ guest: 'windows', vendor: 'intel', iommu: 'none', extension: false, workarounds: false, cpus: 300, x2apicCpu: false, assignment: { hostIommu: 'intel', profile: 'hardware', posted: true } });
    expect(assigned.mode).toBe('no machine: >255 CPUs need x2APIC');
  });

  it('Windows on a CPU without x2APIC runs in xAPIC mode, and an IOMMU that offers x2APIC-mode remapping is used in xAPIC mode', () => {
    // CPUID.1:ECX[21] = 0: setting IA32_APIC_BASE.EXTD would #GP (SDM Vol. 3A 10.12.1), and VT-d's EIM / AMD-Vi's
    // XT (32-bit destinations) serve x2APIC mode only, so Windows stays in xAPIC mode with 8-bit destinations.
    for (const iommu of ['intel-ir', 'amd'] as const) {
      const cell = runMatrixCell({ guest: 'windows', vendor: iommu === 'amd' ? 'amd' : 'intel', iommu, extension: false, workarounds: false, cpus: 255, x2apicCpu: false });
      expect(cell.mode, iommu).toBe('ok');
      expect(cell.onlineCpus).toBe(255);
      expect(cell.result.decisions.x2apic).toBe(false);
      expect(cell.result.decisions.interruptRemapping).toBe(iommu === 'amd' ? 'amd-xapic' : 'intel-xapic');
    }
  });

  it('an assigned NIC delivers to both vCPUs under either profile, posted or not', () => {
    for (const profile of ['hardware', 'qemu'] as const)
      for (const posted of [false, true]) {
        const cell = runMatrixCell({ guest: 'linux', vendor: 'intel', iommu: 'none', extension: false, workarounds: false, cpus: 64, assignment: { hostIommu: 'intel', profile, posted } });
        expect(cell.mode, `${profile}${posted ? ' posted' : ''}`).toBe('ok');
        expect(cell.total).toBe(2);
      }
  });
});

const row = (over: Partial<MatrixRow>): MatrixRow => ({
  cell: 'x', guest: 'linux', vendor: 'intel', iommu: 'none', extension: false, workarounds: false, cpus: 64, version: '6.12', x2apicCpu: true, cmdline: '', assignment: '', ok: true, mode: 'ok', delivered: 5, total: 5, onlineCpus: 64, ...over,
});

describe('matrix rows', () => {
  const rows = [
    row({ cell: 'a' }),
    row({ cell: 'b', cmdline: 'intremap=off', ok: false, mode: 'CPUs>255 offline; wrong CPU, "lost"', delivered: 2, onlineCpus: 256, cpus: 300 }),
  ];

  it('round-trip through CSV, quoting a mode with a comma and quotes', () => {
    const text = [CSV_HEADER, ...rows.map(csvLine)].join('\n') + '\n';
    expect(text.split('\n')[2]).toContain('"CPUs>255 offline; wrong CPU, ""lost"""');
    expect(parseMatrixRows(text)).toEqual(rows);
  });

  it('round-trip through JSON lines', () => {
    expect(parseMatrixRows(rows.map(jsonLine).join('\n') + '\n')).toEqual(rows);
  });

  it('drop a last line cut short (an interrupted sweep), refuse a bad line in the middle', () => {
    const full = rows.map(jsonLine).join('\n') + '\n';
    expect(parseMatrixRows(full + '{"cell":"c","gue')).toEqual(rows);
    expect(parseMatrixRows([CSV_HEADER, csvLine(rows[0]), 'x,linux'].join('\n'))).toEqual([rows[0]]);
    expect(() => parseMatrixRows(`${jsonLine(rows[0])}\nnot json\n${jsonLine(rows[1])}\n`, 'out.jsonl')).toThrow('out.jsonl line 2: not a JSON line');
    expect(() => parseMatrixRows(`${CSV_HEADER}\na,linux\n`, 'out.csv')).toThrow('out.csv line 2: 2 fields, the header has 16');
  });
});

describe('matrix report', () => {
  // A slice: two versions × two command lines × two vCPU counts. At 300 vCPUs, intremap=off leaves CPUs offline at
  // either version; 5.10 with nox2apic fails with a wrong CPU at both counts.
  const slice: MatrixRow[] = [];
  for (const version of ['5.10', '6.12'])
    for (const cmdline of ['', 'intremap=off', 'nox2apic'])
      for (const cpus of [64, 300]) {
        let mode = 'ok';
        if (cmdline === 'intremap=off' && cpus === 300) mode = 'CPUs>255 offline';
        if (cmdline === 'nox2apic' && version === '5.10') mode = 'wrong CPU';
        slice.push(row({ cell: `${version}-${cmdline}-${cpus}`, version, cmdline, cpus, ok: mode === 'ok', mode }));
      }

  it('ranks failure modes by cells and names only the axes whose change alone changes the outcome', () => {
    const report = matrixReport(slice);
    expect(report.cells).toBe(12);
    expect(report.ok).toBe(8);
    expect(report.groups.map((g) => [g.mode, g.cells])).toEqual([['CPUs>255 offline', 2], ['wrong CPU', 2]]);
    const offline = report.groups[0];
    // Version does not matter to it (both versions fail); the command line and the vCPU count do.
    expect(offline.deciding).toEqual([{ axis: 'cpus', values: ['300'] }, { axis: 'cmdline', values: ['intremap=off'] }]);
    expect(offline.configurations).toEqual([{ values: ['300', 'intremap=off'], cells: 2 }]);
    const wrong = report.groups[1];
    expect(wrong.deciding).toEqual([{ axis: 'version', values: ['5.10'] }, { axis: 'cmdline', values: ['nox2apic'] }]);
    const text = renderMatrixReport(report);
    expect(text).toContain('8 of 12 cells ok; 4 fail in 2 ways:');
    expect(text).toContain('1. CPUs>255 offline — 2 cells — cpus ∈ {300}, cmdline ∈ {intremap=off}');
  });
});
