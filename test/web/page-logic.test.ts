/**
 * The page's own logic that needs no browser: how it reads numbers (the CLI's rule, src/core/unsigned-number.ts),
 * how an edited built-in scenario becomes a short link and back, and which typed characters hold a bit field.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { parseUnsigned } from '../../src/cli/parse-number.ts';
import { bitPositions } from '../../src/web/bit-positions.ts';
import { InputError, parseValue } from '../../src/web/parse-value.ts';
import { applyEdit, diffLines, insertedLineCount } from '../../src/web/text-edit.ts';
import { hopSeverity, hopText } from '../../src/web/hop-text.ts';

describe('parseValue reads numbers as the command line does', () => {
  it('bare digits are decimal, 0x is hex, _ separates digits', () => {
    expect(parseValue('data', 'Data', '4031', 32)).toBe(4031n);
    expect(parseValue('data', 'Data', '0x4031', 32)).toBe(0x4031n);
    expect(parseValue('addr', 'Address', '0x1000_fee4_6000', 64)).toBe(0x1000fee46000n);
    expect(parseUnsigned('4031', 32)).toBe(parseValue('data', 'Data', '4031', 32));
  });

  it('names the field and says what is wrong, in the CLI\'s words', () => {
    expect(() => parseValue('data', 'Data', 'fee00000', 32)).toThrow(new InputError('data', "Data: 'fee00000' is not an unsigned number: use hex (0x...) or decimal"));
    expect(() => parseValue('data', 'Data', '0x1_0000_0000', 32)).toThrow("Data: '0x1_0000_0000' does not fit in 32 bits (maximum 0xffffffff)");
    expect(() => parseValue('addr', 'Address', ' ', 64)).toThrow('Address: enter a number');
  });

  it('four dwords, lowest first, as Linux prints an AMD-Vi event entry (hex, %08x)', () => {
    expect(parseValue('addr', 'Value', '00000020 20080000 fee00000 00000000', 128)).toBe(0x00000000_fee00000_20080000_00000020n);
    expect(() => parseValue('addr', 'Value', '1 2 3', 128)).toThrow('four dwords');
    expect(() => parseValue('addr', 'Value', '1 2 3 4', 64)).toThrow('four dwords');
  });
});

describe('an edited built-in as id + changed lines', () => {
  it('a changed title is one line at index 0', () => {
    expect(diffLines('title: a\nmachine: x\n', 'title: b\nmachine: x\n')).toEqual({ at: 0, del: 1, ins: 'title: b' });
  });

  test.prop([fc.array(fc.string({ maxLength: 6 }), { maxLength: 12 }), fc.array(fc.string({ maxLength: 6 }), { maxLength: 12 })])('applying the edit gives the edited text back exactly', (a, b) => {
    const original = a.join('\n');
    const edited = b.join('\n');
    expect(applyEdit(original, diffLines(original, edited), insertedLineCount(original, edited))).toBe(edited);
  });

  it('an edit that does not fit the text is refused, not half-applied', () => {
    expect(applyEdit('a\nb', { at: 1, del: 5, ins: '' }, 0)).toBeNull();
    expect(applyEdit('a\nb', { at: Number.NaN, del: 0, ins: '' }, 0)).toBeNull();
  });
});

describe('bitPositions', () => {
  it('addr 19:5 of "0xfee00578" are the digits 0, 0, 5, 7 (bits 19:16 … 7:4)', () => {
    const text = '0xfee00578';
    expect([...bitPositions(text, 19, 5)].sort((x, y) => x - y).map((i) => text[i]).join('')).toBe('0057');
  });

  it('skips _ separators and reads four dwords lowest first', () => {
    const t = '0x1000_fee4_6000';
    expect([...bitPositions(t, 47, 44)].map((i) => t[i])).toEqual(['1']);
    const d = '00000020 20080000 fee00000 00000000';
    // Bits 95:92 are the top digit of dword 2.
    expect([...bitPositions(d, 95, 92)]).toEqual([18]);
  });

  it('decimal text has no digit-to-bit map', () => {
    expect(bitPositions('4031', 7, 0).size).toBe(0);
  });
});

describe('hopText writes each number by its meaning', () => {
  it('QEMU\'s ioapic_set_irq "vector" is the pin (hw/intc/ioapic.c), in decimal', () => {
    expect(hopText({ flow: 1, name: 'ioapic_set_irq', args: [['vector', 4], ['level', 1]] })).toBe('ioapic_set_irq pin 4 level 1');
  });

  it('apic_deliver_irq: APIC ID and vector in hex, modes by name (SDM 10.11.2)', () => {
    const hop = { flow: 1, name: 'apic_deliver_irq', args: [['dest', 256], ['dest_mode', 0], ['delivery_mode', 0], ['vector', 65], ['trigger_mode', 0]] as [string, number][] };
    expect(hopText(hop)).toBe('apic_deliver_irq dest 0x100 dest_mode physical delivery_mode fixed vector 0x41 trigger_mode edge');
  });

  it('an MSI-X "vector" is the table entry; a requester ID is hex with its BDF', () => {
    expect(hopText({ flow: 1, name: 'irqpath_msix_notify', args: [['bdf', '00:03.0'], ['vector', 2], ['addr', 0xfee00000n], ['data', 0x31]] })).toBe('irqpath_msix_notify bdf 00:03.0 entry 2 addr 0xfee00000 data 0x31');
    expect(hopText({ flow: 1, name: 'irqpath_msi_route', args: [['sid', 0x20], ['addr', 0xfee00000], ['data', 1], ['cached', false]] })).toBe('irqpath_msi_route sid 0x0020 (00:04.0) addr 0xfee00000 data 0x1 cached no');
  });

  it('fault records are blocked steps, QEMU\'s vtd_warn_* warnings', () => {
    expect(hopSeverity({ flow: 1, name: 'vtd_frr_new', args: [] })).toBe('blocked');
    expect(hopSeverity({ flow: 1, name: 'vtd_warn_ir_trigger', args: [] })).toBe('warning');
    expect(hopSeverity({ flow: 1, name: 'vtd_ir_remap_msi', args: [] })).toBe('ok');
    expect(hopText({ flow: 1, name: 'vtd_warn_ir_trigger', args: [['sid', 0x18], ['index', 3], ['trig', 1], ['target', 0]] })).toBe('vtd_warn_ir_trigger sid 0x0018 (00:03.0) index 3 trigger level should be edge');
  });
});
