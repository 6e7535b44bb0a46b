/**
 * The sweep view's slice as the URL names it: which cells of `irqpath matrix --full` each parameter keeps, counted
 * from the sweep's axes (docs/matrix.md), and that a slice survives the trip through its link.
 */
import { describe, expect, it } from 'vitest';
import { sweepCells } from '../../src/scenario/matrix-sweep.ts';
import { SliceError, sliceCells, sliceFromParams, sliceParams, WHOLE_SWEEP } from '../../src/web/sweep-slice.ts';

const slice = (query: string) => sliceFromParams(new URLSearchParams(query));

describe('a slice of the full sweep', () => {
  it('no parameters is the whole sweep, and its link has no parameters', () => {
    expect(slice('')).toEqual(WHOLE_SWEEP);
    expect(WHOLE_SWEEP.versions).toEqual(['4.19', '5.10', '5.15', '6.1', '6.6', '6.12']);
    expect(WHOLE_SWEEP.x2apicCpu).toEqual([false, true]);
    expect(sliceCells(WHOLE_SWEEP)).toHaveLength(sweepCells().length);
    expect(Object.values(sliceParams(WHOLE_SWEEP)).every((v) => v === undefined)).toBe(true);
  });

  it('Windows on AMD with Intel IR at 64 vCPUs: extension × workarounds × x2APIC = 8 cells (no assignment: those have no guest IOMMU)', () => {
    const cells = sliceCells(slice('guests=windows&vendors=amd&iommus=intel-ir&cpus=64'));
    expect(cells).toHaveLength(8);
    expect(cells.every((c) => c.guest === 'windows' && c.iommu === 'intel-ir' && c.assignment === undefined)).toBe(true);
  });

  it('the kernel version keeps Linux cells of that version only; Windows cells, which have none, stay', () => {
    const linux = sliceCells(slice('guests=linux&vendors=intel&iommus=none&ext=no&wa=no&cpus=64&versions=6.12&cmdlines=none&assign=none'));
    // x2APIC CPU yes and no.
    expect(linux.map((c) => [c.version, c.x2apicCpu, c.cmdline])).toEqual([['6.12', true, ''], ['6.12', false, '']]);
    const windows = sliceCells(slice('guests=windows&vendors=intel&iommus=none&ext=no&wa=no&cpus=64&versions=6.12&assign=none'));
    expect(windows).toHaveLength(2);
  });

  it('iommu-off is whichever IOMMU the cell has: intel_iommu=off on Intel units, amd_iommu=off on AMD', () => {
    const cells = sliceCells(slice('guests=linux&vendors=intel&ext=no&wa=no&cpus=64&versions=6.1&x2apic=yes&cmdlines=iommu-off&assign=none'));
    expect(cells.map((c) => `${c.iommu} ${c.cmdline}`)).toEqual(['none intel_iommu=off', 'intel-ir intel_iommu=off', 'intel-full intel_iommu=off', 'amd amd_iommu=off']);
  });

  it('assignment under the qemu profile with posting: guest × host IOMMU × extension × 64/300 vCPUs = 16 cells', () => {
    const cells = sliceCells(slice('assign=qemu/posted'));
    expect(cells).toHaveLength(16);
    expect(cells.every((c) => c.assignment?.profile === 'qemu' && c.assignment.posted)).toBe(true);
  });

  it('a value that names nothing is an error naming the parameter; so is an empty choice', () => {
    expect(() => slice('cpus=65')).toThrow(new SliceError('cpus', 'vCPUs: "65" is not one of 64, 255, 300, 1024'));
    expect(() => slice('versions=')).toThrow(SliceError);
    try {
      slice('cmdlines=nosmp');
    } catch (e) {
      expect((e as SliceError).field).toBe('cmdlines');
    }
  });

  it('a slice comes back from its link unchanged, values in the axis order whatever order they were given in', () => {
    const s = slice('versions=6.12,4.19&x2apic=no&cmdlines=nox2apic,none&assign=none,hardware/posted&cpus=300,64');
    expect(s.versions).toEqual(['4.19', '6.12']);
    expect(s.cpus).toEqual([64, 300]);
    const params = sliceParams(s);
    expect(params.versions).toBe('4.19,6.12');
    expect(params.guests).toBeUndefined();
    const query = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
    expect(slice(query.toString())).toEqual(s);
  });
});
