import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/guest/create-system.ts';
import { createGuest } from '../../src/guest/create-guest.ts';
import { barBase, readMsiCap, readMsixCap } from '../../src/guest/pci-msi-setup.ts';
import { bootLinux, GUEST_NIC, HOST_NIC, irrVectors, nicSystem } from './helpers.ts';
import { PCI_COMMAND, PCI_COMMAND_MASTER } from '../../src/pci/type0-header.ts';

describe('trapped MSI-X programming of an assigned device', () => {
  it('gives every unmasked guest vector a route and a host vector of its own, and delivers to the vCPU and vector the guest programmed', () => {
    const sys = nicSystem();
    const guest = bootLinux(sys);
    const programmed = [0, 1, 2, 3].map((i) => guest.setupInterrupt({ id: `q${i}`, kind: 'msix', device: GUEST_NIC, vector: i, cpu: i % 2 }));
    const routes = sys.vmm.routes();
    expect(routes).toHaveLength(4);
    // One translation per enabled vector, at enable time (qemu-devel 2024-10-01: deliver_now = false when the table is programmed).
    expect(sys.vmm.counters.translations).toBe(4);
    const hostVectors = new Set(routes.map((r) => `${r.host!.cpu}/${r.host!.vector}`));
    expect(hostVectors.size).toBe(4);

    for (const [i, p] of programmed.entries()) {
      sys.host.device(HOST_NIC).signal(i);
      // The guest's handler for source i is at p.vector on CPU p.cpu: that is where its interrupt must land.
      expect(irrVectors(sys.guest.cpu(p.cpu).lapic.irr)).toContain(p.vector);
      sys.guest.cpu(p.cpu).acknowledge();
    }
    expect(sys.vmm.counters.injections).toBe(4);
    // Warm routes: nothing was translated again.
    expect(sys.vmm.counters.translations).toBe(4);
    // The host kernel took each host interrupt (INTA + EOI): nothing is left pending or in service on the host.
    for (let c = 0; c < sys.host.cpuCount; c++) {
      expect(irrVectors(sys.host.cpu(c).lapic.irr)).toEqual([]);
      expect(irrVectors(sys.host.cpu(c).lapic.isr)).toEqual([]);
    }
  });

  it('programs the physical device with the host kernel\'s remappable message, not the guest\'s', () => {
    const sys = nicSystem();
    const guest = bootLinux(sys);
    const p = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
    const physical = sys.host.device(HOST_NIC).fn.msixEntry(0);
    // VT-d 5.1.2.2: a remappable-format request has address bit 4 set; the guest (no vIOMMU) wrote a compatibility
    // message with its own APIC ID in bits 19:12.
    expect(physical.addr & 0x10n).toBe(0x10n);
    expect(p.message!.addr & 0x10n).toBe(0n);
    expect(physical.addr).not.toBe(p.message!.addr);
    // And the guest reads back what it wrote (its MSI-X table is virtual).
    expect(sys.guest.device(GUEST_NIC).fn.msixEntry(0).addr).toBe(p.message!.addr);
  });

  it('acts on a masked entry only when it is unmasked (QEMU msix_handle_mask_update)', () => {
    const sys = nicSystem();
    const guest = bootLinux(sys);
    guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 0 });
    expect(sys.vmm.counters.translations).toBe(1);
    const dev = sys.guest.device(GUEST_NIC);
    const cap = readMsixCap(dev)!;
    const at = barBase(dev, cap.tableBir) + cap.tableOffset;
    const cpu = sys.guest.cpu(0);
    cpu.write32(at + 12, 1); // mask
    cpu.write32(at + 8, 0x41); // new data while masked: no translation yet
    expect(sys.vmm.counters.translations).toBe(1);
    cpu.write32(at + 12, 0); // unmask: the rewritten message is routed
    expect(sys.vmm.counters.translations).toBe(2);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.target!.vector).toBe(0x41);
  });

  it('a rewrite of one vector replaces only that vector\'s route', () => {
    const sys = nicSystem();
    const guest = bootLinux(sys);
    for (let i = 0; i < 2; i++) guest.setupInterrupt({ id: `q${i}`, kind: 'msix', device: GUEST_NIC, vector: i, cpu: 0 });
    const before = sys.vmm.route(GUEST_NIC, 'msix', 0)!;
    guest.setupInterrupt({ id: 'q1-moved', kind: 'msix', device: GUEST_NIC, vector: 1, cpu: 1 });
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)).toEqual(before);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 1)!.target!.vcpus).toEqual([1]);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 1)!.translations).toBe(2);
  });
});

describe('trapped multi-message MSI', () => {
  it('routes each of the 2^MME messages (guest data + k) and keeps their order on the host', () => {
    const sys = createSystem({
      host: { cpus: 2, iommu: { kind: 'intel' }, devices: [{ bdf: '02:00.0', msi: { vectors: 4 } }] },
      guest: { cpus: 2, iommu: { kind: 'intel', dmaTranslation: false }, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
      vmm: { profile: 'hardware' },
    });
    const guest = bootLinux(sys);
    const programmed = [0, 1, 2, 3].map((k) => guest.setupInterrupt({ id: `m${k}`, kind: 'msi', device: '00:05.0', vector: k, cpu: k % 2 }));
    // Linux enables MSI with the block's handle before it fills the IRTEs, so at enable time the vIOMMU had no
    // present entries: those deliverNow = false translations failed silently and left the routes untranslated.
    expect(sys.vmm.routes().map((r) => [r.guest.index, r.state])).toEqual([[0, 'untranslated'], [1, 'untranslated'], [2, 'untranslated'], [3, 'untranslated']]);
    expect(sys.guest.iommu!.kind).toBe('intel-vtd');
    const atEnable = sys.vmm.counters.translations;
    for (const [k, p] of programmed.entries()) {
      sys.host.device('02:00.0').signal(k);
      expect(irrVectors(sys.guest.cpu(p.cpu).lapic.irr)).toContain(p.vector);
      sys.guest.cpu(p.cpu).acknowledge();
    }
    // Each first interrupt translated once (deliverNow = true) and cached the route; a second one translates nothing.
    expect(sys.vmm.counters.translations).toBe(atEnable + 4);
    expect(sys.vmm.routes().every((r) => r.state === 'valid')).toBe(true);
    sys.host.device('02:00.0').signal(2);
    expect(sys.vmm.counters.translations).toBe(atEnable + 4);
    // The guest's vIOMMU recorded nothing: no fault was raised for the silent enable-time failures.
    expect(sys.vmm.counters.faults).toBe(0);
  });

  it('with msiNoVirt the guest reads the physical MSI address and data', () => {
    const config = (msiNoVirt: boolean) => ({
      host: { cpus: 2, iommu: { kind: 'intel' as const }, devices: [{ bdf: '02:00.0', msi: { vectors: 1 } }] },
      guest: { cpus: 2, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
      vmm: { profile: 'hardware' as const, msiNoVirt },
    });
    for (const noVirt of [false, true]) {
      const sys = createSystem(config(noVirt));
      const guest = createGuest(sys.guest, { os: 'linux' });
      guest.boot();
      const p = guest.setupInterrupt({ id: 'm0', kind: 'msi', device: '00:05.0', vector: 0, cpu: 1 });
      const dev = sys.guest.device('00:05.0');
      const cap = readMsiCap(dev)!;
      const seen = dev.configRead(cap.offset + 4, 4) >>> 0;
      const physical = Number(sys.host.device('02:00.0').fn.msiMessage(0).addr & 0xffffffffn);
      expect(seen).toBe(noVirt ? physical : Number(p.message!.addr & 0xffffffffn));
      // Either way the route follows what the guest wrote.
      sys.host.device('02:00.0').signal(0);
      expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toContain(p.vector);
    }
  });
});

describe('posted interrupts (VT-d PI)', () => {
  function postedNic() {
    const sys = nicSystem({ vmm: { postedInterrupts: true } });
    const guest = bootLinux(sys);
    const p = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
    return { sys, p };
  }

  it('posts into the running vCPU\'s descriptor: the vector reaches its IRR with no injection', () => {
    const { sys, p } = postedNic();
    const r = sys.vmm.route(GUEST_NIC, 'msix', 0)!;
    expect(r.posted).toEqual({ vcpu: 1, descriptor: expect.any(String) });
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters).toMatchObject({ posted: 1, injections: 0, wakeups: 0 });
  });

  it('for a descheduled vCPU: the wake-up vector fires, PIR holds the vector, and it reaches IRR at resume', () => {
    const { sys, p } = postedNic();
    sys.vcpu(1).running = false;
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    expect(sys.vmm.counters).toMatchObject({ posted: 0, wakeups: 1 });
    sys.vcpu(1).running = true;
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters.posted).toBe(1);
  });

  it('without posting the same interrupt is injected through the route', () => {
    const sys = nicSystem();
    const guest = bootLinux(sys);
    const p = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toBeNull();
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters).toMatchObject({ posted: 0, injections: 1 });
  });
});

describe('Bus Master Enable of an assigned device', () => {
  it('is passed through set and clear: a guest that clears it stops the physical function\'s MSI-X (PCIe Command register)', () => {
    const sys = nicSystem();
    const guest = bootLinux(sys);
    const p = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
    const physical = sys.host.device(HOST_NIC).fn;
    expect(physical.busMasterEnabled()).toBe(true);
    const dev = sys.guest.device(GUEST_NIC);
    const lost: string[] = [];
    sys.host.events.on('interrupt_lost', (e) => lost.push(e.reason));
    dev.configWrite(PCI_COMMAND, 2, dev.configRead(PCI_COMMAND, 2) & ~PCI_COMMAND_MASTER);
    expect(physical.busMasterEnabled()).toBe(false);
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    expect(lost).toEqual(['bus master disabled']);
    dev.configWrite(PCI_COMMAND, 2, dev.configRead(PCI_COMMAND, 2) | PCI_COMMAND_MASTER);
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
  });
});
