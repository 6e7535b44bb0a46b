/**
 * vfio INTx end to end: a level-triggered assigned device, masked at the host until the guest EOIs (resample).
 * Expected behaviour from drivers/vfio/pci/vfio_pci_intrs.c (vfio_intx_handler: pci_check_and_mask_intx;
 * vfio_pci_intx_unmask: pci_check_and_unmask_intx, re-send while the device still asserts), virt/kvm/eventfd.c
 * (irqfd_inject with a resampler holds the pin; irqfd_resampler_ack deasserts it, then signals the resamplefd) and
 * vfio_pci_config.c (the guest's Interrupt Disable is virtual: it masks at the host).
 *
 * Routing (QEMU hw/isa/lpc_ich9.c ich9_lpc_map_irq, PCI slots below 25: PIRQ (slot + pin) mod 4 + 4): the guest's
 * 00:05.0 INTA# reaches PIRQF → GSI 21, 00:06.0 INTA# PIRQG → GSI 22; on the host, 02:00.0 and 02:04.0 (device 0 and
 * 4, INTA#) share PIRQE → GSI 20.
 */
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/guest/create-system.ts';
import { createGuest, type LinuxGuest } from '../../src/guest/create-guest.ts';
import { PCI_COMMAND_INTX_DISABLE } from '../../src/pci/type0-header.ts';
import { RTE_MASK, RTE_REMOTE_IRR } from '../../src/msi/formats/ioapic-rte.ts';
import { irrVectors } from './helpers.ts';

function intxSystem(opts: { nointxmask?: boolean; shared?: boolean } = {}) {
  const sys = createSystem({
    host: { cpus: 2, devices: [{ bdf: '02:00.0', name: 'card', intx: 'A' }, ...(opts.shared ? [{ bdf: '02:04.0', name: 'card2', intx: 'A' as const }] : [])] },
    guest: { cpus: 2, assigned: [{ bdf: '00:05.0', host: '02:00.0' }, ...(opts.shared ? [{ bdf: '00:06.0', host: '02:04.0' }] : [])] },
    vmm: { profile: 'qemu', nointxmask: opts.nointxmask },
  });
  const guest = createGuest(sys.guest, { os: 'linux' }) as LinuxGuest;
  guest.boot();
  const p = guest.setupInterrupt({ id: 'card', kind: 'ioapic', pin: 21, trigger: 'level', polarity: 'low', cpu: 1 });
  const card = sys.host.device('02:00.0').fn;
  return { sys, guest, p, card };
}

const command = (fn: { configRead(o: number, s: 1 | 2 | 4): number }) => fn.configRead(4, 2);

describe('vfio INTx with DisINTx (PCI 2.3)', () => {
  it('routes the host line and the guest pin as ACPI and ICH9 do', () => {
    const { sys } = intxSystem({ shared: true });
    expect(sys.host.intxRoute('02:00.0').gsi).toBe(20);
    expect(sys.host.intxRoute('02:04.0').gsi).toBe(20);
    expect(sys.vmm.intx().map((x) => [x.bdf, x.host!.gsi, x.guestGsi, x.maskWith])).toEqual([['00:05.0', 20, 21, 'DisINTx'], ['00:06.0', 20, 22, 'DisINTx']]);
    expect(sys.vmm.kvm.irqfds()).toEqual([{ gsi: 21, resample: true, paired: false }, { gsi: 22, resample: true, paired: false }]);
  });

  it('masks at the host until the guest EOIs; re-fires while the device still asserts; unmasks once it stops', () => {
    const { sys, guest, p, card } = intxSystem();
    card.setIntx(true);
    // The host handler set DisINTx, so the device no longer drives its line; the guest pin is held asserted.
    expect(command(card) & PCI_COMMAND_INTX_DISABLE).toBe(PCI_COMMAND_INTX_DISABLE);
    expect(card.intxAsserted).toBe(false);
    expect(sys.vmm.intx()[0]).toMatchObject({ masked: true, guestLineAsserted: true, interrupts: 1, resamples: 0 });
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    // The guest reads the device's own Interrupt Status through the stand-in.
    expect(sys.guest.device('00:05.0').configRead(6, 2) & 0x8).toBe(0x8);

    // The guest's handler does not clear the device's condition: its EOI resamples, vfio finds the device still
    // asserting, leaves DisINTx set and signals again — one more interrupt.
    expect(guest.handleInterrupt(1)).toBe(p.vector);
    expect(sys.vmm.intx()[0]).toMatchObject({ masked: true, guestLineAsserted: true, interrupts: 1, resamples: 1, resent: 1 });
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(command(card) & PCI_COMMAND_INTX_DISABLE).toBe(PCI_COMMAND_INTX_DISABLE);

    // Now the device is serviced: the EOI unmasks (DisINTx clear) and nothing fires.
    card.setIntx(false);
    expect(guest.handleInterrupt(1)).toBe(p.vector);
    expect(sys.vmm.intx()[0]).toMatchObject({ masked: false, guestLineAsserted: false, resamples: 2, resent: 1 });
    expect(command(card) & PCI_COMMAND_INTX_DISABLE).toBe(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    expect(sys.guest.ioapic.readRte(21) & BigInt(RTE_REMOTE_IRR)).toBe(0n);
    expect(sys.guest.device('00:05.0').configRead(6, 2) & 0x8).toBe(0);

    // The next assertion goes through the same way.
    card.setIntx(true);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.intx()[0]).toMatchObject({ interrupts: 2 });
  });

  it('a shared host line: only the device whose Interrupt Status is set is masked and signalled', () => {
    const { sys, guest, card } = intxSystem({ shared: true });
    const p2 = guest.setupInterrupt({ id: 'card2', kind: 'ioapic', pin: 22, trigger: 'level', polarity: 'low', cpu: 0 });
    card.setIntx(true);
    const [a, b] = sys.vmm.intx();
    expect(a).toMatchObject({ masked: true, interrupts: 1 });
    expect(b).toMatchObject({ masked: false, interrupts: 0, guestLineAsserted: false });
    expect(command(sys.host.device('02:04.0').fn) & PCI_COMMAND_INTX_DISABLE).toBe(0);
    expect(irrVectors(sys.guest.cpu(0).lapic.irr)).not.toContain(p2.vector);
  });

  it('the guest\'s Interrupt Disable masks at the host; clearing it with the device asserting delivers once', () => {
    const { sys, p, card } = intxSystem();
    const standIn = sys.guest.device('00:05.0');
    standIn.configWrite(4, 2, command(standIn) | PCI_COMMAND_INTX_DISABLE);
    expect(command(card) & PCI_COMMAND_INTX_DISABLE).toBe(PCI_COMMAND_INTX_DISABLE);
    card.setIntx(true);
    expect(card.intxAsserted).toBe(false);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    standIn.configWrite(4, 2, command(standIn) & ~PCI_COMMAND_INTX_DISABLE);
    // vfio_pci_intx_unmask: still pending, so DisINTx stays and the interrupt is sent.
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.intx()[0]).toMatchObject({ masked: true, guestDisabled: false, resent: 1 });
  });
});

describe('vfio INTx without DisINTx (nointxmask)', () => {
  it('disables the host line lazily: masked at the I/O APIC when it fires again, unmasked at the guest EOI', () => {
    const { sys, guest, p, card } = intxSystem({ nointxmask: true });
    expect(sys.vmm.intx()[0].maskWith).toBe('host line');
    card.setIntx(true);
    // DisINTx untouched: the device keeps driving the line. disable_irq_nosync only marked it disabled; the EOI let
    // the I/O APIC deliver it again, and handle_fasteoi_irq masked it then.
    expect(command(card) & PCI_COMMAND_INTX_DISABLE).toBe(0);
    expect(card.intxAsserted).toBe(true);
    expect(sys.host.ioapic.readRte(20) & BigInt(RTE_MASK)).toBe(BigInt(RTE_MASK));
    expect(sys.vmm.intx()[0]).toMatchObject({ masked: true, interrupts: 1 });
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    // Guest EOI → enable_irq → unmasked; the device still asserts, so the host takes it again and signals again.
    guest.handleInterrupt(1);
    expect(sys.vmm.intx()[0]).toMatchObject({ masked: true, interrupts: 2, resamples: 1 });
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    card.setIntx(false);
    guest.handleInterrupt(1);
    expect(sys.host.ioapic.readRte(20) & BigInt(RTE_MASK)).toBe(0n);
    expect(sys.vmm.intx()[0]).toMatchObject({ masked: false, interrupts: 2, resamples: 2 });
  });

  it('cannot share the host line: the second device is refused (-EBUSY)', () => {
    const { sys } = intxSystem({ nointxmask: true, shared: true });
    expect(sys.vmm.intx()[1].host).toBeNull();
  });
});

describe('vfio INTx in a system snapshot', () => {
  it('restores mid-interrupt (masked at the host, the guest pin held) and continues the same way', () => {
    const { sys, guest, p, card } = intxSystem();
    card.setIntx(true);
    const snap = JSON.parse(JSON.stringify(sys.snapshot()));
    const run = () => {
      guest.handleInterrupt(1); // resample: still asserting, re-sent
      card.setIntx(false);
      guest.handleInterrupt(1); // resample: unmasked
      return { intx: sys.vmm.intx(), irr: irrVectors(sys.guest.cpu(1).lapic.irr), command: command(card) };
    };
    const first = run();
    sys.restore(snap);
    expect(sys.vmm.intx()[0]).toMatchObject({ masked: true, guestLineAsserted: true, interrupts: 1, resamples: 0 });
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(run()).toEqual(first);
    expect(first.intx[0]).toMatchObject({ masked: false, resamples: 2, resent: 1 });
  });

  it('refuses an INTx state for the wrong device, changing nothing', () => {
    const { sys } = intxSystem();
    const snap = JSON.parse(JSON.stringify(sys.snapshot()));
    snap.vmm.intx[0].guestBdf = '00:07.0';
    expect(() => sys.restore(snap)).toThrow(/vmm\.intx\[0\]\.guestBdf must be 00:05\.0/);
  });
});

describe('vfio INTx and host CPU hotplug', () => {
  it('the host line moves off a CPU going offline and keeps working', () => {
    const { sys, guest, p, card } = intxSystem();
    const before = sys.vmm.intx()[0].host!;
    expect(sys.offlineHostCpu(before.cpu)).toBe(1);
    const after = sys.vmm.intx()[0].host!;
    expect(after.cpu).not.toBe(before.cpu);
    expect(after.gsi).toBe(20);
    card.setIntx(true);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    card.setIntx(false);
    guest.handleInterrupt(1);
    expect(sys.vmm.intx()[0]).toMatchObject({ masked: false, interrupts: 1, resamples: 1 });
    expect(irrVectors(sys.host.cpu(after.cpu).lapic.isr)).toEqual([]);
  });
});


describe('vfio INTx and MSI-X on one device', () => {
  it('enabling MSI-X tears INTx down (the host line freed); disabling it sets INTx up again', () => {
    // QEMU hw/vfio/pci.c: vfio_msix_enable → vfio_disable_interrupts → vfio_intx_disable; vfio_msix_disable →
    // vfio_intx_enable. drivers/vfio/pci/vfio_pci_intrs.c vfio_intx_disable → free_irq.
    const sys = createSystem({
      host: { cpus: 2, devices: [{ bdf: '02:00.0', name: 'nic', intx: 'A', msix: { entries: 2 } }] },
      guest: { cpus: 2, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
      vmm: { profile: 'qemu' },
    });
    const guest = createGuest(sys.guest, { os: 'linux' }) as LinuxGuest;
    guest.boot();
    expect(sys.vmm.intx()[0].host).toMatchObject({ gsi: 20 });
    expect(sys.vmm.kvm.irqfds()).toEqual([{ gsi: 21, resample: true, paired: false }]);
    const q = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: '00:05.0', vector: 0, cpu: 1 });
    expect(sys.vmm.intx()[0].host).toBeNull();
    expect(sys.vmm.kvm.irqfds().map((f) => f.gsi)).toEqual([24]);
    // INTx asserted now reaches nobody: the host line was shut down (masked) when vfio-pci freed it.
    const nic = sys.host.device('02:00.0').fn;
    nic.setIntx(true);
    expect(sys.vmm.intx()[0].interrupts).toBe(0);
    expect(sys.host.ioapic.readRte(20) & BigInt(RTE_MASK)).toBe(BigInt(RTE_MASK));
    nic.setIntx(false);
    sys.host.device('02:00.0').signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([q.vector]);
    // The guest turns MSI-X off again (Message Control bit 15): INTx is back, with KVM's irqfd on GSI 21.
    const standIn = sys.guest.device('00:05.0');
    const cap = standIn.fn.msix!.offset;
    standIn.configWrite(cap + 2, 2, standIn.configRead(cap + 2, 2) & ~0x8000);
    expect(sys.vmm.intx()[0].host).toMatchObject({ gsi: 20 });
    expect(sys.vmm.kvm.irqfds().map((f) => f.gsi)).toEqual([21]);
  });

  it('a snapshot taken in the other interrupt mode is refused, changing nothing (the host line is the host kernel\'s)', () => {
    const sys = createSystem({
      host: { cpus: 2, devices: [{ bdf: '02:00.0', name: 'nic', intx: 'A', msix: { entries: 2 } }] },
      guest: { cpus: 2, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
      vmm: { profile: 'qemu' },
    });
    const guest = createGuest(sys.guest, { os: 'linux' }) as LinuxGuest;
    guest.boot();
    const withIntx = JSON.parse(JSON.stringify(sys.snapshot()));
    const standIn = sys.guest.device('00:05.0');
    const cap = standIn.fn.msix!.offset;
    standIn.configWrite(cap + 2, 2, standIn.configRead(cap + 2, 2) | 0x8000);
    expect(sys.vmm.intx()[0].host).toBeNull();
    const now = JSON.stringify(sys.snapshot());
    expect(() => sys.restore(withIntx)).toThrow(/vmm\.intx\[0\]\.enabled is true, but vfio INTx of 00:05\.0 is torn down/);
    expect(JSON.stringify(sys.snapshot())).toBe(now);
  });
});
