/**
 * The Node side of the QEMU recording harness, without QEMU: the trace-event selection from `-trace help` output,
 * the newc archive and the modules.dep closure of the initramfs, HMP `xp` output, and the shell form of a command line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { moduleClosure, newcArchive, file, dir, symlink } from '../../../src/cli/qemu/initramfs.ts';
import { parseXp } from '../../../src/cli/qemu/monitor-dumps.ts';
import { runQemu, shellQuote, traceArguments } from '../../../src/cli/qemu/run-qemu.ts';
import { parseTraceHelp, selectInterruptEvents } from '../../../src/cli/qemu/trace-events.ts';

describe('trace events come from -trace help, filtered by pattern', () => {
  const help = 'vtd_ir_enable\nvtd_ir_irte_get\namdvi_ir_irte\napic_deliver_irq\nioapic_set_irq\nmsix_write_config\npci_cfg_write\npci_nvme_irq_msix\npci_nvme_read\nvirtio_queue_notify\nhpet_timer\npic_set_irq\nblk_co_preadv\n';

  it('keeps the interrupt path and nothing else', () => {
    expect(selectInterruptEvents(parseTraceHelp(help))).toEqual([
      'vtd_ir_enable',
      'vtd_ir_irte_get',
      'amdvi_ir_irte',
      'apic_deliver_irq',
      'ioapic_set_irq',
      'msix_write_config',
      'pci_cfg_write',
      'pci_nvme_irq_msix',
      'hpet_timer',
      'pic_set_irq',
    ]);
  });

  it('the recorded event list of a fixture is a subset of what it selects (all names came from the binary)', async () => {
    const { readFileSync } = await import('node:fs');
    const names = readFileSync(new URL('../../fixtures/qemu-recordings/intel-ir-4cpu/trace-events.txt', import.meta.url), 'utf8').trim().split('\n');
    expect(selectInterruptEvents(names)).toEqual(names);
    expect(names).toContain('vtd_ir_irte_get');
    expect(names).toContain('amdvi_ir_irte_val');
    expect(names.some((n) => n.startsWith('pci_nvme_') && !n.startsWith('pci_nvme_irq_'))).toBe(false);
  });
});

describe('initramfs', () => {
  const dep = [
    'kernel/drivers/nvme/host/nvme-core.ko: kernel/block/t10-pi.ko kernel/lib/crc64.ko',
    'kernel/drivers/nvme/host/nvme.ko: kernel/drivers/nvme/host/nvme-core.ko kernel/block/t10-pi.ko kernel/lib/crc64.ko',
    'kernel/block/t10-pi.ko: kernel/lib/crc64.ko',
    'kernel/lib/crc64.ko:',
    'kernel/drivers/net/e1000e/e1000e.ko:',
  ].join('\n');

  it('takes a module with the closure of its dependencies, `-` and `_` alike', () => {
    expect(moduleClosure(dep, ['nvme'])).toEqual(['kernel/block/t10-pi.ko', 'kernel/drivers/nvme/host/nvme-core.ko', 'kernel/drivers/nvme/host/nvme.ko', 'kernel/lib/crc64.ko']);
    expect(moduleClosure(dep, ['nvme_core'])).toEqual(['kernel/block/t10-pi.ko', 'kernel/drivers/nvme/host/nvme-core.ko', 'kernel/lib/crc64.ko']);
    expect(() => moduleClosure(dep, ['ahci'])).toThrow(/ahci is not in modules.dep/);
  });

  it('writes newc: 110-byte ASCII headers, name and data padded to 4 bytes, TRAILER!!! last', () => {
    const a = newcArchive([dir('bin'), file('init', '#!/bin/sh\n', 0o755), symlink('bin/sh', 'busybox')]);
    const text = a.toString('latin1');
    expect(text.startsWith('070701')).toBe(true);
    // The first header: directory mode 040755, name "bin\0" (namesize 4), no data.
    expect(text.slice(6 + 8, 6 + 16)).toBe('000041ed');
    expect(text.slice(6 + 11 * 8, 6 + 12 * 8)).toBe('00000004');
    expect(text.slice(110, 114)).toBe('bin\0');
    // The file: mode 0100755 and filesize 10.
    const init = text.indexOf('init\0') - 110;
    expect(text.slice(init + 14, init + 22)).toBe('000081ed');
    expect(text.slice(init + 54, init + 62)).toBe('0000000a');
    expect(text).toContain('TRAILER!!!\0');
    expect(a.length % 4).toBe(0);
  });
});

describe('monitor and command line helpers', () => {
  it('reads HMP xp rows', () => {
    expect(parseXp('00000000fed900b8: 0x000000000120000f\r\n')).toEqual([0x120000fn]);
    expect(parseXp('00000000febd9000: 0xfee00218 0x00000000 0x00000000 0x00000000\n00000000febd9010: 0x00000001 0x0 0x0 0x0\n')).toEqual([0xfee00218n, 0n, 0n, 0n, 1n, 0n, 0n, 0n]);
  });

  it('quotes for a POSIX shell and adds trace, -D and QMP options', () => {
    expect(shellQuote(['qemu-system-x86_64', '-append', "console=ttyS0 it's"])).toBe(`qemu-system-x86_64 -append 'console=ttyS0 it'\\''s'`);
    expect(traceArguments('/w').args).toEqual(['-trace', 'events=/w/trace-events.txt', '-D', '/w/trace.log', '-qmp', 'unix:/w/qmp.sock,server=on,wait=off']);
  });

  it('a QEMU that is not installed is a spawn error, not an exit code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'irqpath-qemu-'));
    try {
      const r = await runQemu({ qemu: 'qemu-system-irqpath-not-installed', args: ['-version'], traceEvents: ['vtd_ir_enable'], dir });
      expect(r.spawnError).toMatch(/ENOENT/);
      expect(r.exitCode).toBeNull();
      expect(r.argv.slice(0, 2)).toEqual(['qemu-system-irqpath-not-installed', '-version']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
