/** The fixture trim (src/tools/qemu-trace-trim.ts): which lines stay, and that provenance can say what went. */
import { describe, expect, it } from 'vitest';
import { traceLineBody, trimTrace } from '../../src/tools/qemu-trace-trim.ts';

const request = (data: string) => [
  `vtd_ir_remap_msi_req addr 0xfee00070 data ${data}`,
  'vtd_ir_remap_type IOAPIC',
  'vtd_ir_irte_get index 3 low 0x100000021000d high 0x4ff00',
  'vtd_ir_remap index 3 trigger 0 vector 33 deliver 0 dest 0x1 mode 1',
  '(addr 0xfee00070, data 0x4) -> (addr 0xfee0100c, data 0x21)'.replace(/^/, 'vtd_ir_remap_msi '),
  'apic_deliver_irq dest 1 dest_mode 1 delivery_mode 0 vector 33 trigger_mode 0',
];

describe('trimTrace', () => {
  const text =
    [
      'vtd_reg_ir_root addr 0x1200000 size 0x10000',
      'vtd_ir_enable enable 1',
      ...request('0x4'),
      'pic_set_irq master 1 irq 4 level 0',
      ...request('0x4'),
      'pic_set_irq master 1 irq 4 level 1',
      ...request('0x4'),
      ...request('0x2'),
      'vtd_inv_desc_iec global 1',
      'pic_set_irq master 1 irq 4 level 0',
    ].join('\n') + '\n';

  it('keeps the first requests of each kind with their blocks, the first bulk lines, and every other line', () => {
    const r = trimTrace(text, { requestsPerKey: 2, linesPerBulkEvent: 2 });
    const kept = r.text.trim().split('\n');
    expect(r.lines).toBe(30);
    expect(kept.filter((l) => l.startsWith('vtd_ir_remap_msi_req')).map((l) => l.split(' ').pop())).toEqual(['0x4', '0x4', '0x2']);
    expect(kept.filter((l) => l.startsWith('pic_set_irq'))).toHaveLength(2);
    expect(kept).toContain('vtd_inv_desc_iec global 1');
    expect(kept[0]).toBe('vtd_reg_ir_root addr 0x1200000 size 0x10000');
    expect(r.keptLines).toBe(30 - 6 - 1);
    expect(r.dropped).toEqual([
      "1 of 3 requests 'vtd_ir_remap_msi_req addr 0xfee00070 data 0x4' after the first 2 (original lines 17–17), each with its block",
      '1 of 3 pic_set_irq lines outside request blocks after the first 2',
    ]);
  });

  it('drops nothing when the limits are not reached, and reads the pid@time: prefix', () => {
    const r = trimTrace(text, { requestsPerKey: 10, linesPerBulkEvent: 10 });
    expect(r.text).toBe(text);
    expect(r.dropped).toEqual([]);
    expect(traceLineBody('4711@1732963200.000101:vtd_ir_enable enable 1')).toBe('vtd_ir_enable enable 1');
  });

  it('an AMD request block runs from the interrupt-window write to the forwarded message', () => {
    const amd = (data: string) => [
      `amdvi_mem_ir_write_req addr 0x0 data ${data} size 0x4`,
      `amdvi_ir_remap_msi_req addr 0xfee00000 data ${data} devid 0xa0`,
      'amdvi_ir_delivery_mode fixed/arbitrated',
      'amdvi_ir_intctl int_ctl 0x2',
      'amdvi_ir_irte addr 0x11e2000 offset 0x40',
      'amdvi_ir_irte_ga_val hi 0x22 lo 0x441',
      `amdvi_ir_remap_msi (addr 0xfee00000, data ${data}) -> (addr 0xfee04004, data 0x4022)`,
      'apic_deliver_irq dest 4 dest_mode 1 delivery_mode 0 vector 34 trigger_mode 0',
      'apic_report_irq_delivered coalescing 1',
      'amdvi_mem_ir_write addr 0xfee04004 data 0x4022',
    ];
    const lines = [...amd('0x4'), 'pic_set_irq master 1 irq 4 level 0', ...amd('0x4'), ...amd('0x4')];
    const r = trimTrace(lines.join('\n') + '\n', { requestsPerKey: 1, linesPerBulkEvent: 5 });
    expect(r.text).toBe([...amd('0x4'), 'pic_set_irq master 1 irq 4 level 0'].join('\n') + '\n');
    expect(r.dropped).toEqual(["2 of 3 requests 'amdvi_ir_remap_msi_req addr 0xfee00000 data 0x4 devid 0xa0' after the first 1 (original lines 12–22), each with its block"]);
  });
});
