/**
 * Bringing up many CPUs costs O(CPUs): each AP's addressing changes (INIT, x2APIC switch, SVR) update the APIC
 * bus's destination index for that CPU only. Counted, not timed, so the test does not depend on the machine.
 */
import { expect, test } from 'vitest';
import { createGuest } from '../../src/guest/create-guest.ts';
import { createMachine } from '../../src/machine/machine.ts';

test('a 4096-vCPU Linux boot rebuilds the destination index once, and its broadcast lists only for broadcasts', () => {
  const m = createMachine({ cpus: 4096, hypervisor: { extDestId: true } });
  const guest = createGuest(m, { os: 'linux' });
  guest.boot();
  expect(guest.onlineCpus().length).toBe(4096);
  // Firmware (APIC IDs above 254) broadcasts INIT-SIPI-SIPI, lets every AP enter x2APIC mode, then broadcasts INIT:
  // the lists of enabled CPUs are built for the first broadcast and again after the APs' mode changes. The OS's
  // per-AP INIT/SIPI/SIPI are physical and rebuild nothing.
  expect(m.apicBus.indexRebuilds).toEqual({ full: 1, broadcast: 2, xapicLogical: 0 });
});
