/** Shared set-up for the VMM tests: a host with an Intel IOMMU and one assignable NIC, a guest booted with Linux. */
import { createSystem } from '../../src/guest/create-system.ts';
import { createGuest } from '../../src/guest/create-guest.ts';
import type { SystemConfig } from '../../src/vmm/system-config.ts';
import type { System } from '../../src/vmm/system.ts';
import type { LinuxGuest, WindowsGuest } from '../../src/guest/create-guest.ts';

export const HOST_NIC = '02:00.0';
export const GUEST_NIC = '00:05.0';
/** 00:05.0 as a requester ID: device 5 << 3. */
export const GUEST_NIC_RID = 0x28;

export function nicSystem(over: { host?: Partial<SystemConfig['host']>; guest?: Partial<SystemConfig['guest']>; vmm?: Partial<SystemConfig['vmm']> } = {}): System {
  return createSystem({
    host: { cpus: 4, iommu: { kind: 'intel', postedInterrupts: true }, devices: [{ bdf: HOST_NIC, name: 'nic', msix: { entries: 4 } }], ...over.host },
    guest: { cpus: 2, assigned: [{ bdf: GUEST_NIC, host: HOST_NIC }], ...over.guest },
    vmm: { profile: 'hardware', ...over.vmm },
  });
}

export function bootLinux(sys: System): LinuxGuest | WindowsGuest {
  const g = createGuest(sys.guest, { os: 'linux' });
  g.boot();
  return g;
}

/** Vectors set in a LAPIC's IRR, ascending. */
export function irrVectors(irr: Uint32Array): number[] {
  const out: number[] = [];
  for (let v = 0; v < 256; v++) if ((irr[v >>> 5] >>> (v & 31)) & 1) out.push(v);
  return out;
}
