import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'irqpath', ...args], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
  return { code, out, err };
}

describe('irqpath run', () => {
  it('prints a readable report with the verdict, the programmed message and the DMAR fault line', async () => {
    const r = await cli('run', '05', '--no-color');
    expect(r.code).toBe(0);
    expect(r.out).toContain('05-windows-amd-cpu-intel-ir-only  REPRODUCED');
    expect(r.out).toContain('programmed: CPU 5 (APIC 0x5) vector 0x51 — amd-remappable, addr 0xfee00004 data 0x0');
    expect(r.out).toContain('DMAR: [INTR-REMAP] Request device [ff:00.0] fault index 0x8000 [fault reason 0x25] Blocked a compatibility format interrupt request');
    expect(r.out).toMatch(/2 scenario runs: 1 reproduced, 1 fixed, 0 unexpected/);
  });

  it('--trace prints each hop under QEMU trace-event names', async () => {
    const r = await cli('run', '03', '--trace', '--no-color');
    // QEMU's formats (hw/i386/trace-events): no sid on the request line, the closing (request) -> (result) line.
    expect(r.out).toMatch(/vtd_ir_remap_msi_req addr 0xfee000[0-9a-f]+ data 0x[0-9a-f]+\n/);
    expect(r.out).toMatch(/vtd_ir_remap_msi \(addr 0xfee000[0-9a-f]+, data 0x[0-9a-f]+\) -> \(addr 0x[0-9a-f]+, data 0x[0-9a-f]+\)/);
    // Under remapping Linux uses cluster x2APIC: APIC 299 = cluster 299 >> 4 = 0x12, bit 299 & 15 = 11 → 0x00120800,
    // which QEMU's apic_deliver_irq prints in decimal (%d): 1181696.
    expect(r.out).toContain('apic_deliver_irq dest 1181696 dest_mode 1 delivery_mode 0 vector 33 trigger_mode 0');
  });

  it('--json prints one array of results', async () => {
    const r = await cli('run', '09', '--json');
    const json = JSON.parse(r.out) as { verdict: string; sources: { pirqs: number[] }[] }[];
    expect(json.map((x) => x.verdict)).toEqual(['FIXED', 'FIXED']);
    expect(json[0].sources[0].pirqs).toHaveLength(1);
  });

  it('names an unknown scenario and exits 2', async () => {
    const r = await cli('run', 'nope');
    expect(r.code).toBe(2);
    expect(r.err).toContain('no scenario matches "nope"');
  });
});

describe('irqpath matrix', () => {
  it('runs the requested slice of the grid', async () => {
    const r = await cli('matrix', '--guest', 'linux', '--vendor', 'intel', '--iommu', 'none', '--ext', 'off,on', '--workarounds', 'off', '--cpus', '300', '--no-color');
    expect(r.out).toContain('CPUs>255 offline [01]');
    expect(r.out).toContain('ok [02]');
  });

  it('rejects a bad axis value with exit code 2', async () => {
    const r = await cli('matrix', '--iommu', 'arm');
    expect(r.code).toBe(2);
    expect(r.err).toContain('IOMMU "arm" is not one of none, intel-ir, intel-full, amd');
  });
});

describe('irqpath log', () => {
  it('formats a VT-d fault record exactly as Linux dmar_fault_do_one prints it', async () => {
    // High qword: F (bit 63), fault reason 0x26 in 39:32, SID 0x00E1 = 00:1c.1; low qword: index 0x20 in 63:48.
    const r = await cli('log', 'dmar', '--frcd', '0x80000026000000e1', '0x0020000000000000');
    expect(r.out.trim()).toBe('DMAR: [INTR-REMAP] Request device [00:1c.1] fault index 0x20 [fault reason 0x26] Blocked an interrupt request due to source-id verification failure');
  });

  it('decodes a DMA-remapping record: request type from T, PASID flag, fault address from the low qword', async () => {
    // High qword: F (63), T = 1 read (62), FR 0x06 (39:32), SID 0x0300 = 03:00.0; low qword: FI = page 0x12345000
    // with the low 12 bits reserved (ignored). The expected line is Linux's current dmar_fault_do_one format.
    const r = await cli('log', 'dmar', '--frcd', '0xc000000600000300', '0x0000000012345abc');
    expect(r.out.trim()).toBe('DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x12345000 [fault reason 0x06] PTE Read access is not set');
    // T = 0 (write), PP = 1 (bit 31) with PV = 0x42 (59:40): the PASID form.
    const w = await cli('log', 'dmar', '--frcd', '0x8000420580000300', '0x7000');
    expect(w.out.trim()).toBe('DMAR: [DMA Write PASID 0x42] Request device [03:00.0] fault addr 0x7000 [fault reason 0x05] PTE Write access is not set');
  });

  it('formats an AMD event-log entry like the Linux iommu_print_event INVALID_DEVICE_REQUEST line', async () => {
    // dword1 = code 8 << 28 | flags 0xA00 << 16; address 0xFFFFFFFD_F8000000 in dwords 2-3.
    const r = await cli('log', 'amdvi', '--entry', '0x0', '0x8a000000', '0xf8000000', '0xfffffffd');
    expect(r.out).toContain('Event logged [INVALID_DEVICE_REQUEST device=0000:00:00.0 pasid=0x00000 address=0xfffffffdf8000000 flags=0x0a00]');
  });

  it('names a malformed value and exits 2', async () => {
    const r = await cli('log', 'dmar', '--frcd', 'zz', '1');
    expect(r.code).toBe(2);
    expect(r.err).toContain("--frcd high qword: 'zz' is not an unsigned number: use hex (0x...) or decimal");
  });
});
