/**
 * Guest masking of an assigned device's vectors, as vfio-pci and QEMU implement it:
 * - MSI-X: the table and PBA the guest sees are QEMU's emulation. A masked vector keeps its KVM route but vfio's
 *   trigger goes to QEMU's handler (hw/vfio/pci.c `vfio_msix_vector_release`), which sets the PBA bit
 *   (`vfio_msi_interrupt` → `msix_notify`); unmasking sends the pending vector once (hw/pci/msix.c
 *   `msix_handle_mask_update`) and re-attaches the irqfd (`vfio_msix_vector_do_use`), so posting resumes.
 * - MSI: the Mask and Pending bits are the physical function's (drivers/vfio/pci/vfio_pci_config.c
 *   `init_pci_cap_msi_perm`: NO_VIRT), so the device itself holds the message back and pends it.
 * Expected values follow from those rules and from PCI Local Bus 3.0 §6.8.2 (PBA bit n = vector n pending).
 */
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/guest/create-system.ts';
import { barBase, readMsiCap, readMsixCap } from '../../src/guest/pci-msi-setup.ts';
import { MSIX_FLAGS, MSIX_FLAGS_ENABLE, MSIX_FLAGS_MASKALL, MSIX_PBA } from '../../src/pci/msix-capability.ts';
import { MSI_MASK_64, MSI_FLAGS_64BIT } from '../../src/pci/msi-capability.ts';
import type { System } from '../../src/vmm/system.ts';
import { bootLinux, GUEST_NIC, HOST_NIC, irrVectors, nicSystem } from './helpers.ts';

/** The guest's view of MSI-X entry n's vector control and of the PBA, through its own CPU's stores and loads. */
function msixView(sys: System) {
  const dev = sys.guest.device(GUEST_NIC);
  const cap = readMsixCap(dev)!;
  const cpu = sys.guest.cpu(0);
  const table = barBase(dev, cap.tableBir) + cap.tableOffset;
  const pbaReg = dev.configRead(cap.offset + MSIX_PBA, 4) >>> 0;
  const pba = barBase(dev, pbaReg & 7) + (pbaReg & ~7);
  return {
    maskEntry: (n: number, masked: boolean) => cpu.write32(table + 16 * n + 12, masked ? 1 : 0),
    pba: () => cpu.read32(pba) >>> 0,
    maskFunction: (masked: boolean) => dev.configWrite(cap.offset + MSIX_FLAGS, 2, MSIX_FLAGS_ENABLE | (masked ? MSIX_FLAGS_MASKALL : 0)),
  };
}

function nicWithQueue(posted: boolean) {
  const sys = nicSystem({ vmm: { postedInterrupts: posted } });
  const guest = bootLinux(sys);
  const p = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
  return { sys, p, view: msixView(sys) };
}

describe('a masked MSI-X vector of an assigned device', () => {
  it('is pended in the guest-visible PBA, not injected, and delivered exactly once at unmask', () => {
    const { sys, p, view } = nicWithQueue(false);
    view.maskEntry(0, true);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.state).toBe('masked');
    sys.host.device(HOST_NIC).signal(0);
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    // PBA bit 0 only: two interrupts of one vector are one pending bit.
    expect(view.pba()).toBe(0b1);
    expect(sys.vmm.counters).toMatchObject({ injections: 0, pended: 2 });
    view.maskEntry(0, false);
    expect(view.pba()).toBe(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    sys.guest.cpu(1).acknowledge();
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    // The route is live again: the next interrupt goes through KVM's irqfd path.
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.state).toBe('valid');
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters.injections).toBe(1);
  });

  it('an unmask with nothing pending delivers nothing', () => {
    const { sys, view } = nicWithQueue(false);
    view.maskEntry(0, true);
    view.maskEntry(0, false);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    expect(sys.vmm.counters.pended).toBe(0);
  });

  it('the function mask (Message Control bit 14) pends every vector the same way', () => {
    const { sys, p, view } = nicWithQueue(false);
    view.maskFunction(true);
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    expect(view.pba()).toBe(0b1);
    view.maskFunction(false);
    expect(view.pba()).toBe(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters).toMatchObject({ injections: 0, pended: 1 });
  });

  it('under posting: masking tears the posted IRTE down, nothing reaches PIR or IRR, unmask delivers once and posts again', () => {
    const { sys, p, view } = nicWithQueue(true);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).not.toBeNull();
    view.maskEntry(0, true);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toBeNull();
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    expect(sys.vcpu(1).descriptor!.hasPending()).toBe(false);
    expect(view.pba()).toBe(0b1);
    expect(sys.vmm.counters).toMatchObject({ posted: 0, injections: 0, pended: 1 });
    view.maskEntry(0, false);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    sys.guest.cpu(1).acknowledge();
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toMatchObject({ vcpu: 1 });
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters).toMatchObject({ posted: 1, injections: 0, pended: 1 });
  });

  it('QEMU\'s trace shows the release, the PBA, the userspace interrupt and the re-use', () => {
    const { sys, view } = nicWithQueue(false);
    const trace = sys.guest.startTrace();
    view.maskEntry(0, true);
    sys.host.device(HOST_NIC).signal(0);
    view.maskEntry(0, false);
    const vfio = trace.lines().filter((l) => l.startsWith('vfio_'));
    const entry = sys.guest.device(GUEST_NIC).fn.msixEntry(0);
    // hw/vfio/trace-events formats; the name is the host device's, 0000:02:00.0.
    expect(vfio).toEqual([
      'vfio_msix_vector_release  (0000:02:00.0) vector 0 released',
      'vfio_msix_pba_enable  (0000:02:00.0)',
      `vfio_msi_interrupt  (0000:02:00.0) vector 0 0x${entry.addr.toString(16)}/0x${entry.data.toString(16)}`,
      'vfio_msix_vector_do_use  (0000:02:00.0) vector 0 used',
    ]);
  });
});

describe('a masked MSI vector of an assigned device (per-vector masking)', () => {
  function msiSystem() {
    const sys = createSystem({
      host: { cpus: 2, iommu: { kind: 'intel' }, devices: [{ bdf: '02:00.0', msi: { vectors: 1, perVectorMask: true } }] },
      guest: { cpus: 2, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
      vmm: { profile: 'hardware' },
    });
    const guest = bootLinux(sys);
    const p = guest.setupInterrupt({ id: 'm0', kind: 'msi', device: '00:05.0', vector: 0, cpu: 1 });
    const dev = sys.guest.device('00:05.0');
    const cap = readMsiCap(dev)!;
    expect(dev.configRead(cap.offset + 2, 2) & MSI_FLAGS_64BIT).toBe(MSI_FLAGS_64BIT);
    const mask = cap.offset + MSI_MASK_64;
    return { sys, p, dev, mask, pending: mask + 4 };
  }

  it('is held back by the physical function, whose Pending bit the guest reads; unmasking sends it once', () => {
    const { sys, p, dev, mask, pending } = msiSystem();
    dev.configWrite(mask, 4, 1);
    // The mask reached the physical function (NO_VIRT).
    expect(sys.host.device('02:00.0').configRead(mask, 4)).toBe(1);
    sys.host.device('02:00.0').signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    expect(dev.configRead(pending, 4)).toBe(1);
    expect(sys.vmm.counters.injections).toBe(0);
    dev.configWrite(mask, 4, 0);
    expect(dev.configRead(pending, 4)).toBe(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters.injections).toBe(1);
  });
});
