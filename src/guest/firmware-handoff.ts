/**
 * What PC firmware leaves behind before the OS runs. When any processor has an APIC ID above 254, the 8-bit xAPIC
 * ID cannot name it (and 255 is the broadcast), so the firmware switches every processor to x2APIC mode before
 * handing over (SDM 10.12.5 and the ACPI x2APIC MADT rules; OVMF MpInitLib does it when an APIC ID is ≥ 255). The OS
 * then finds x2APIC already on ("x2apic: enabled by BIOS, switching to x2apic ops", Linux check_x2apic).
 *
 * Firmware reaches the APs the only way software can: the BSP broadcasts INIT-SIPI-SIPI, each AP sets
 * IA32_APIC_BASE.EXTD, and a final INIT broadcast parks them in wait-for-SIPI again. INIT keeps x2APIC mode
 * (SDM 10.4.7.3), so without this step an AP with APIC ID 299 would still answer to xAPIC ID 43 and the OS's INIT
 * aimed at CPU 43 would also start it.
 */
import type { Machine } from '../machine/machine.ts';
import { broadcastInit, broadcastInitSipiSipi, enableX2apic } from './smp-bringup.ts';

export interface FirmwareHandoff {
  /** The firmware put every CPU into x2APIC mode. */
  x2apicByFirmware: boolean;
}

/** Largest APIC ID an xAPIC can be addressed by (255 is the broadcast). */
export const XAPIC_MAX_ID = 254;

export function firmwareHandoff(machine: Machine): FirmwareHandoff {
  const ids = machine.firmware.madt.apicIds;
  if (!ids.some((id) => id > XAPIC_MAX_ID)) return { x2apicByFirmware: false };
  const bsp = machine.cpu(0);
  enableX2apic(bsp);
  if (machine.cpuCount > 1) {
    broadcastInitSipiSipi(bsp);
    // Each AP runs the firmware's AP procedure: switch its own APIC to x2APIC mode.
    for (let i = 1; i < machine.cpuCount; i++) {
      const ap = machine.cpu(i);
      if (ap.runState === 'running') enableX2apic(ap);
    }
    broadcastInit(bsp);
  }
  return { x2apicByFirmware: true };
}
