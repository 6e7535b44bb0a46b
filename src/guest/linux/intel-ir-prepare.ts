/**
 * Linux's decision whether and how to use Intel interrupt remapping, in the kernel's order and with its lines:
 * DMAR table parsing (drivers/iommu/intel/dmar.c: dmar_table_print_dmar_entry, alloc_iommu), then
 * intel_prepare_irq_remapping (drivers/iommu/intel/irq_remapping.c):
 *
 * 0. `intremap=off` (disable_irq_remap): irq_remapping_prepare returns before calling the Intel driver; the DMAR
 *    table lines still appear (intel_iommu_init runs dmar_table_init for DMA remapping), nothing else.
 * 1. `dmar_ir_support()`: the DMAR INTR_REMAP flag (bit 0) clear → no remapping, silently.
 * 2. `parse_ioapics_under_ir()`: for each unit with ECAP.IR, `ir_parse_ioapic_hpet_scope` prints its I/O APIC and
 *    HPET scopes; no IR unit at all, or an I/O APIC no IR unit lists ("[Firmware Bug]: ioapic N has no mapping
 *    iommu, interrupt remapping will be disabled") → "Not enabling interrupt remapping", then the error path.
 * 3. Every unit must have ECAP.IR, else the error path.
 *    The error path, intel_cleanup_irq_remapping, prints "Failed to enable irq remapping. You are vulnerable to
 *    irq-injection attacks." when the CPU has x2APIC (x2apic_supported()), and nothing more otherwise.
 * 4. x2APIC mode (`eim`) when the CPU has x2APIC, unless the DMAR X2APIC_OPT_OUT flag is set and the command line
 *    has no `intremap=no_x2apic_optout` (dmar_x2apic_optout; the two "x2apic is disabled because BIOS sets x2apic
 *    opt out bit" lines), and only if every unit has ECAP.EIM ("dmarN does not support EIM"). A CPU without x2APIC
 *    (or `nox2apic`) gives xapic mode without a line.
 * 5. "Queued invalidation will be enabled ..." only in x2APIC mode; then every unit is enabled
 *    (intel_enable_irq_remapping) and "Enabled IRQ remapping in x2apic|xapic mode" is printed once.
 */
import type { DmarFaultStyle } from '../../core/linux-version.ts';
import type { Machine } from '../../machine/machine.ts';
import type { BootLog } from '../boot-log.ts';
import type { GuestPageAllocator } from '../guest-memory.ts';
import { IntelIrDriver } from '../drivers/intel-ir.ts';

export interface IntelRemapping {
  /** One driver per DRHD, in table order. */
  drivers: IntelIrDriver[];
  /** x2APIC (EIM) mode. */
  eim: boolean;
}

/** What the CPU and the command line contribute to the decision. */
export interface IntelRemappingInputs {
  /** X86_FEATURE_X2APIC after `nox2apic`. */
  cpuX2apic: boolean;
  /** `intremap=off`. */
  disabled: boolean;
  /** `intremap=no_x2apic_optout`. */
  noX2apicOptout: boolean;
}

export function prepareIntelRemapping(
  machine: Machine,
  mem: GuestPageAllocator,
  log: BootLog,
  faultStyle: DmarFaultStyle,
  inputs: IntelRemappingInputs = { cpuX2apic: true, disabled: false, noX2apicOptout: false },
): IntelRemapping | null {
  const dmar = machine.firmware.dmar!;
  const hex = (v: number): string => v.toString(16);
  log.print(`DMAR: Host address width ${dmar.hostAddressWidth}`);
  const drivers: IntelIrDriver[] = [];
  const probes = dmar.units.map((unit, i) => {
    // dmar_table_print_dmar_entry: "DRHD base: %#016Lx flags: %#x" (%#016 counts the 0x in the 16).
    log.print(`DMAR: DRHD base: 0x${hex(unit.registerBase).padStart(14, '0')} flags: 0x${unit.includePciAll ? 1 : 0}`);
    const drv = new IntelIrDriver(machine, mem, log, faultStyle, i);
    drivers.push(drv);
    return drv.readUnit();
  });
  log.decide('dmaTranslation', probes.every((p) => p.sagaw !== 0) ? 'available' : 'none (SAGAW = 0)');
  log.decide('dmarUnits', dmar.units.length);

  if (inputs.disabled) {
    log.decide('intelIr', 'intremap=off');
    return null;
  }
  // intel_cleanup_irq_remapping's warning, only on a CPU with x2APIC.
  const failed = (): null => {
    if (inputs.cpuX2apic) log.print('DMAR-IR: Failed to enable irq remapping. You are vulnerable to irq-injection attacks.');
    return null;
  };
  if (!dmar.flags.intrRemap) {
    log.decide('intelIr', 'DMAR INTR_REMAP flag clear');
    return null;
  }
  let anyIr = false;
  dmar.units.forEach((unit, i) => {
    if (!probes[i].ir) return;
    anyIr = true;
    for (const io of unit.ioapics) log.print(`DMAR-IR: IOAPIC id ${io.id} under DRHD base  0x${hex(unit.registerBase)} IOMMU ${i}`);
    for (const h of unit.hpets) log.print(`DMAR-IR: HPET id ${h.id} under DRHD base 0x${hex(unit.registerBase)}`);
  });
  const ioapicId = machine.firmware.madt.ioapic.id;
  const mapped = dmar.units.some((u, i) => probes[i].ir && u.ioapics.some((io) => io.id === ioapicId));
  if (!anyIr || !mapped) {
    if (anyIr) log.print(`DMAR-IR: [Firmware Bug]: ioapic ${ioapicId} has no mapping iommu, interrupt remapping will be disabled`);
    log.print('DMAR-IR: Not enabling interrupt remapping');
    log.decide('intelIr', anyIr ? `I/O APIC ${ioapicId} under no DRHD` : 'no unit with ECAP.IR');
    return failed();
  }
  if (!probes.every((p) => p.ir)) {
    log.decide('intelIr', 'a DRHD without ECAP.IR');
    return failed();
  }

  // x2apic_supported(): CPUID.1:ECX.x2APIC, cleared by nox2apic.
  let eim = inputs.cpuX2apic;
  if (eim && dmar.flags.x2apicOptOut && !inputs.noX2apicOptout) {
    eim = false;
    log.print('DMAR-IR: x2apic is disabled because BIOS sets x2apic opt out bit.');
    log.print("DMAR-IR: Use 'intremap=no_x2apic_optout' to override the BIOS setting.");
  }
  probes.forEach((p, i) => {
    if (eim && !p.eim) {
      log.print(`DMAR-IR: dmar${i} does not support EIM`);
      eim = false;
    }
  });
  if (eim) log.print('DMAR-IR: Queued invalidation will be enabled to support x2apic and Intr-remapping.');
  for (const drv of drivers) if (!drv.enable(eim, false)) return null;
  log.print(`DMAR-IR: Enabled IRQ remapping in ${eim ? 'x2apic' : 'xapic'} mode`);
  log.decide('intelIr', eim ? 'x2apic' : 'xapic');
  return { drivers, eim };
}

/** The driver of the unit whose scope covers `sourceId` (dmar_find_matched_drhd_unit): listed, else INCLUDE_PCI_ALL. */
export function driverFor(machine: Machine, r: IntelRemapping, sourceId: number, ioapicSourceId: number): IntelIrDriver | null {
  const units = machine.firmware.dmar!.units;
  const listed = units.findIndex((u) => u.devices.includes(sourceId) || u.ioapics.some((io) => io.sourceId === sourceId) || u.hpets.some((h) => h.sourceId === sourceId));
  if (listed >= 0) return r.drivers[listed];
  if (sourceId === ioapicSourceId) return null;
  const all = units.findIndex((u) => u.includePciAll);
  return all >= 0 ? r.drivers[all] : null;
}
