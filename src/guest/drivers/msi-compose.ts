/**
 * How Linux composes interrupt messages, per the mode it booted in, and how it derives an I/O APIC RTE from one
 * (Linux __irq_msi_compose_msg, dmar_msi_compose_msg / intel_ir_compose_msi_msg, irq_remapping_prepare_irte (AMD);
 * qemu-devel thread "More than 255 vcpus Windows VM setup without viommu ?", 2024-10-01):
 *
 * - no remapping (`__irq_msi_compose_msg`): 0xFEE | dest[7:0] in addr 19:12, DM from the APIC driver, data = vector
 *   with delivery mode Fixed, edge, no level bit; with the hypervisor's 15-bit extension dest[14:8] go into addr 11:5;
 * - Intel remapping (`fill_msi_msg`): remappable format with SHV = 1, handle = IRTE index, data = subhandle;
 * - AMD remapping (`fill_msi_msg` in amd/iommu.c): addr 0xFEE00000 (DM set only in 2K mode), data = IRTE index;
 * - Xen PIRQ (`xen_msi_compose_msg`): vector 0, PIRQ[7:0] in addr 19:12, PIRQ[31:8] in addr 63:40, ExtINT;
 * - I/O APIC (`ioapic_setup_msg_from_msi`): the RTE is the composed message shuffled into RTE bits (vector, delivery
 *   mode, DM ↔ addr 2, addr 19:4 ↔ RTE 63:48), except that for Intel IR the vector field carries the pin
 *   ("DMAR/IR: 8bit subhandle (ioapic.pin)") because the RTE has no SHV bit.
 */
import { MSI_ADDR_BASE, MSI_ADDR_DM } from '../../msi/formats/compat.ts';
import { encodeExtDestId } from '../../msi/formats/ext-dest-id.ts';
import { encodeIntelRemappable } from '../../msi/formats/intel-remappable.ts';
import { encodeRteRemappable, messageToRte, type RtePinControl } from '../../msi/formats/ioapic-rte.ts';
import { encodeXenPirq } from '../../msi/formats/xen-pirq.ts';
import { DeliveryMode } from '../../msi/interrupt.ts';
import type { PinSetup } from '../guest-os.ts';

export interface ComposedMessage {
  addr: bigint;
  data: number;
}

/** Compatibility format, or the 15-bit extended destination when `dest` > 255 (caller checked it is allowed). */
export function composeApicMessage(dest: number, vector: number, logical: boolean): ComposedMessage {
  // One encoder covers both: with dest < 256 the extension bits 11:5 are zero, i.e. plain compatibility format.
  return encodeExtDestId({ destination: dest, vector, destMode: logical ? 1 : 0, deliveryMode: DeliveryMode.Fixed });
}

/** Linux's Intel IR message: handle = index, SHV = 1, subhandle in the data. */
export function composeIntelRemappable(index: number, subhandle = 0): ComposedMessage {
  return encodeIntelRemappable({ handle: index, shv: 1, subhandle });
}

/** Linux's AMD IR message: data = index; in 2K mode the address DM bit selects 11-bit indices (Linux irq_remapping_prepare_irte,
 * AMD IOMMU spec §2.2.5). */
export function composeAmdRemappable(index: number, twoK: boolean): ComposedMessage {
  return { addr: BigInt((MSI_ADDR_BASE | (twoK ? MSI_ADDR_DM : 0)) >>> 0), data: index };
}

export function composeXenPirq(pirq: number): ComposedMessage {
  return encodeXenPirq({ pirq, deliveryMode: DeliveryMode.ExtINT });
}

function pinControl(pin: PinSetup): Partial<RtePinControl> {
  return { triggerMode: pin.trigger === 'level' ? 1 : 0, polarity: pin.polarity === 'low' ? 1 : 0, mask: pin.masked ? 1 : 0 };
}

/**
 * RTE for a composed compatibility / extended-destination / AMD-remappable message (`ioapic_setup_msg_from_msi`):
 * trigger and polarity come from the pin, everything else from the message. The message data is composed edge, so
 * the RTE's trigger bit is the pin's, exactly as Linux presets it in the entry.
 */
export function rteFromMessage(msg: ComposedMessage, pin: PinSetup): bigint {
  const control = pinControl(pin);
  const rte = messageToRte(msg.addr, msg.data & 0x7ff, control);
  return control.triggerMode ? rte | (1n << 15n) : rte;
}

/** Intel remappable RTE: index in 63:49 and bit 11, format bit 48, the pin number in the vector field. */
export function rteIntelRemappable(index: number, pinNumber: number, pin: PinSetup): bigint {
  const control = pinControl(pin);
  return encodeRteRemappable({ index, vector: pinNumber, triggerMode: control.triggerMode, polarity: control.polarity, mask: control.mask });
}
