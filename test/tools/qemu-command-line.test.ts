/**
 * Reading QEMU command lines (src/tools/qemu-command-line.ts) and the machine `irqpath qemu` derives from one and
 * the guest's console (src/tools/qemu-machine.ts). The command lines are real: David Woodhouse's published one
 * (test/fixtures/qemu-trace/README.md) and those of the QEMU 7.2 recordings; expected values follow QEMU's option
 * syntax (qemu-options.hx, QemuOpts) and, for the devices' vector counts, the QEMU functions named in the module.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseQemuCommandLine, parseQemuOpts, splitCommandLine } from '../../src/tools/qemu-command-line.ts';
import { shellQuote } from '../../src/cli/qemu/run-qemu.ts';
import { consoleText, machineFromQemu } from '../../src/tools/qemu-machine.ts';
import { createMachine } from '../../src/machine/machine.ts';

const WOODHOUSE = `qemu-system-x86_64 -accel kvm,kernel-irqchip=split -M q35 -m 16G -smp 2,cores=12,threads=2,maxcpus=288 \\
  -device intel-iommu,intremap=on,dma-translation=off -cpu Skylake-Server \\
  --trace vtd_ir_\\* --trace apic\\* --trace kvm_irqchip\\*`;

const RECORDED = `qemu-system-x86_64 -M q35 -m 512 -smp 2 -nographic -no-reboot -device intel-iommu,intremap=on -kernel /boot/vmlinuz-6.1.0-57-amd64 -append "console=ttyS0 panic=-1 lpj=1000000 intremap=off" -trace 'vtd_*'`;

describe('splitting a command line as the shell does', () => {
  it('backslash-newline joins lines, \\* is a literal star, "..." and \'...\' keep spaces', () => {
    const words = splitCommandLine(WOODHOUSE);
    expect(words.slice(0, 5)).toEqual(['qemu-system-x86_64', '-accel', 'kvm,kernel-irqchip=split', '-M', 'q35']);
    expect(words.slice(-6)).toEqual(['--trace', 'vtd_ir_*', '--trace', 'apic*', '--trace', 'kvm_irqchip*']);
    const rec = splitCommandLine(RECORDED);
    expect(rec[rec.indexOf('-append') + 1]).toBe('console=ttyS0 panic=-1 lpj=1000000 intremap=off');
    expect(rec[rec.length - 1]).toBe('vtd_*');
    expect(splitCommandLine(`a "b \\"c\\" \\$d" 'e\\f'`)).toEqual(['a', 'b "c" $d', 'e\\f']);
  });

  it('the recorded command line (shellQuote) splits back into the words that ran', () => {
    const words = ['qemu-system-x86_64', '-append', 'console=ttyS0 quiet', '-trace', "vtd_*", "it's"];
    expect(splitCommandLine(shellQuote(words))).toEqual(words);
  });

  it('unbalanced quotes are usage errors naming where', () => {
    expect(() => splitCommandLine(`qemu-system-x86_64 -append "console=ttyS0`)).toThrow(/double quote at character 28 is never closed/);
    expect(() => splitCommandLine(`qemu-system-x86_64 -trace 'vtd_*`)).toThrow(/single quote/);
  });
});

describe('QemuOpts arguments', () => {
  it('-device a,b=c: the driver is the implied first key; ",," is a literal comma', () => {
    const { implied, props } = parseQemuOpts('virtio-net-pci,id=net,,0,vectors=8', 'driver', '-device');
    expect(implied).toBe('virtio-net-pci');
    expect(Object.fromEntries(props)).toEqual({ id: 'net,0', vectors: '8' });
  });

  it('-machine q35,kernel-irqchip=split and -machine type=q35', () => {
    expect(parseQemuCommandLine(['qemu-system-x86_64', '-machine', 'q35,kernel-irqchip=split', '-accel', 'kvm'])).toMatchObject({ machineType: 'q35', kernelIrqchip: 'split', accel: 'kvm' });
    expect(parseQemuCommandLine(['qemu-system-x86_64', '-machine', 'type=q35'])).toMatchObject({ machineType: 'q35', kernelIrqchip: null, accel: 'tcg' });
  });
});

describe('what the command line says about the machine', () => {
  it('the published KVM command line: split irqchip, 2 vCPUs, an Intel CPU with x2APIC, VT-d with remapping and no DMA translation', () => {
    const c = parseQemuCommandLine(splitCommandLine(WOODHOUSE));
    expect(c).toMatchObject({ accel: 'kvm', kernelIrqchip: 'split', machineType: 'q35', cpus: 2, cpuModel: 'Skylake-Server', cpuVendor: 'intel', x2apic: true });
    expect(c.iommu).toEqual({ kind: 'intel', intremap: true, eim: 'auto', cachingMode: false, awBits: 39, buggyEim: false, dmaTranslation: false });
  });

  it('a recorded TCG command line: qemu64 (AuthenticAMD), no x2APIC, the kernel command line as one argument', () => {
    const c = parseQemuCommandLine(splitCommandLine(RECORDED));
    expect(c).toMatchObject({ accel: 'tcg', cpus: 2, cpuModel: 'qemu64', cpuVendor: 'amd', x2apic: false, append: 'console=ttyS0 panic=-1 lpj=1000000 intremap=off', defaultNic: true });
    expect(c.iommu).toMatchObject({ kind: 'intel', intremap: true });
  });

  it('-smp with a topology only: cpus = sockets x cores x threads; devices with their QEMU vector counts', () => {
    const c = parseQemuCommandLine(splitCommandLine('qemu-system-x86_64 -smp sockets=2,cores=2,threads=2 -cpu EPYC -device amd-iommu,intremap=on,xtsup=on -device virtio-net-pci,netdev=n0 -netdev user,id=n0 -device e1000e -device nvme,serial=1,max_ioqpairs=7 -device virtio-blk-pci,drive=d0'));
    expect(c.cpus).toBe(8);
    expect(c.cpuVendor).toBe('amd');
    expect(c.iommu).toEqual({ kind: 'amd', intremap: true, xtsup: true });
    expect(c.defaultNic).toBe(false);
    expect(c.devices.map((d) => [d.driver, d.vectors?.kind, d.vectors?.count])).toEqual([
      ['amd-iommu', 'msi', 1],
      ['virtio-net-pci', 'msix', 4], // 2 x 1 queue pair + config + control
      ['e1000e', 'msix', 5],
      ['nvme', 'msix', 8], // max_ioqpairs + 1 (admin queue)
      ['virtio-blk-pci', 'msix', 9], // num-queues = vCPUs (8) + 1
    ]);
  });

  it('what irqpath cannot read is a usage error naming it', () => {
    expect(() => parseQemuCommandLine(['qemu-system-x86_64', '-M', 'q35', '-device'])).toThrow(/-device needs an argument/);
    expect(() => parseQemuCommandLine(['ls', '-l'])).toThrow(/'ls' is not an x86 QEMU system emulator/);
    expect(() => parseQemuCommandLine(['qemu-system-x86_64', '-device', 'intel-iommu,aw-bits=40'])).toThrow(/aw-bits=40: QEMU accepts 39 or 48/);
    expect(() => parseQemuCommandLine(['qemu-system-x86_64', '-device', 'intel-iommu,intremap=maybe'])).toThrow(/intremap=maybe: expected on, off or auto/);
    expect(() => parseQemuCommandLine(['qemu-system-x86_64', '-machine', 'q35,kernel-irqchip=half'])).toThrow(/kernel-irqchip=half/);
    expect(() => parseQemuCommandLine([])).toThrow(/empty/);
  });
});

describe('the machine, completed by what the guest printed', () => {
  const consoleOf = (name: string) => readFileSync(new URL(`../fixtures/qemu-trace/qemu-7.2/${name}.console.txt`, import.meta.url), 'utf8');

  it('the console is read through SeaBIOS\'s terminal resets and carriage returns', () => {
    expect(consoleText('ok\x1bc\x1b[?7l\x1b[2J[    0.000000] Linux version 6.1.0\r\nnext\rover')).toBe('ok\n[    0.000000] Linux version 6.1.0\nnext\nover');
  });

  it('intel-ir: the guest names Linux 6.1.0 and places the default e1000e at 00:02.0 ([8086:10d3]) and AHCI at 00:1f.2; the model accepts the machine', () => {
    const c = parseQemuCommandLine(splitCommandLine('qemu-system-x86_64 -M q35 -m 512 -smp 2 -nographic -no-reboot -device intel-iommu,intremap=on -kernel /boot/vmlinuz-6.1.0-57-amd64'));
    const d = machineFromQemu(c, consoleOf('intel-ir'));
    expect(d.kernel).toBe('6.1.192'); // "Debian 6.1.192-3": the upstream release of 6.1.0-57-amd64
    expect(d.machine).toMatchObject({ cpus: 2, cpuVendor: 'amd' });
    expect(d.machine.devices).toEqual([
      // Interrupt Pin INTA on both (QEMU's e1000e_pci_realize and ich9_ahci_realize set pin 1).
      { bdf: '00:02.0', name: 'e1000e', vendorId: 0x8086, deviceId: 0x10d3, msix: { entries: 5 }, intx: 'A' },
      { bdf: '00:1f.2', name: 'ich9-ahci', vendorId: 0x8086, deviceId: 0x2922, msi: { vectors: 1 }, intx: 'A' },
    ]);
    // The unit is the one the guest printed (cap/ecap exact): ECAP f00f4a has bit 4 (EIM) clear, and its IRO puts IVA
    // at 0xF0. The guest's CPU (qemu64 under TCG) has no x2APIC.
    expect(d.machine.iommu).toMatchObject({ kind: 'intel', cap: 'd2008c22260206', ecap: 'f00f4a' });
    expect(d.machine.cpu).toEqual({ x2apic: false });
    expect(() => createMachine(d.machine)).not.toThrow();
  });

  it('amd-ir: the AMD IOMMU is the PCI function the guest found at 00:03.0 ([1022:0018])', () => {
    const c = parseQemuCommandLine(splitCommandLine('qemu-system-x86_64 -M q35 -m 512 -smp 2 -device amd-iommu,intremap=on'));
    const d = machineFromQemu(c, consoleOf('amd-ir'));
    expect(d.machine.iommu).toMatchObject({ kind: 'amd', bdf: '00:03.0' });
    expect(d.machine.devices?.map((x) => x.bdf)).toEqual(['00:02.0', '00:1f.2']);
    expect(() => createMachine(d.machine)).not.toThrow();
  });
});
