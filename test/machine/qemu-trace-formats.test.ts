/** QEMU's trace-event formats: every QEMU-named hop irqpath emits uses one, and every format reads its own output back. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileQemuEvent, QEMU_TRACE_EVENTS, renderQemuFormat } from '../../src/machine/qemu-trace-formats.ts';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('QEMU trace-event table', () => {
  it('every hop name in the source is a QEMU event of the table or an irqpath_* hop', () => {
    const root = new URL('../../src', import.meta.url).pathname;
    const names = new Set<string>();
    for (const file of sourceFiles(root)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line.includes('hop(')) continue;
        for (const m of line.matchAll(/'([a-z][a-z0-9]*_[a-z0-9_]+)'/g)) {
          if (/^(vtd|amdvi|ioapic|apic|pci|msi|msix|xen|dma|iommu|irqpath|kvm|vfio|vmx|avic|svm)_/.test(m[1])) names.add(m[1]);
        }
      }
    }
    expect(names.size).toBeGreaterThan(30);
    const strays = [...names].filter((n) => !n.startsWith('irqpath_') && !Object.hasOwn(QEMU_TRACE_EVENTS, n));
    expect(strays).toEqual([]);
  });

  it('each format has one argument name per conversion and reads back what it printed', () => {
    for (const [name, event] of Object.entries(QEMU_TRACE_EVENTS)) {
      const compiled = compileQemuEvent(name, event);
      expect(compiled.kinds.length, name).toBe(event.args.length);
      const values = compiled.kinds.map((k, i) => (k === 's' ? `text${i}` : BigInt(0x10 + i)));
      const m = compiled.pattern.exec(renderQemuFormat(event.format, values));
      expect(m, name).not.toBeNull();
      compiled.kinds.forEach((k, i) => {
        const text = m![i + 1];
        expect(k === 's' ? text : BigInt(k === 'x' ? '0x' + text : text), `${name} argument ${i}`).toEqual(values[i]);
      });
    }
  });

  it('renders QEMU\'s %02x padding and keeps a patched QEMU\'s extra arguments for the reader', () => {
    expect(renderQemuFormat('register 0x%02x = 0x%x', [0xb, 0n])).toBe('register 0x0b = 0x0');
    const req = compileQemuEvent('vtd_ir_remap_msi_req', QEMU_TRACE_EVENTS.vtd_ir_remap_msi_req);
    const m = req.pattern.exec('addr 0xfee00010 data 0xd1 sid 0xffff do_fault 0')!;
    expect([m[1], m[2], m[3]]).toEqual(['fee00010', 'd1', ' sid 0xffff do_fault 0']);
  });
});
