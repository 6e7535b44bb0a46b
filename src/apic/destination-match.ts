/**
 * The destination rules, written as "does this one LAPIC match this message" (SDM 10.6.2;
 * 8-bit destinations to x2APIC-mode targets as KVM's kvm_apic_mda). This is the
 * slow oracle: the bus resolves destinations through {@link DestinationIndex} and property tests check the two
 * agree. Only hardware-enabled LAPICs take part; software enable matters only at acceptance.
 *
 * destWidth 8 (xAPIC-format destination: compatibility MSI, I/O APIC RTE, xAPIC ICR):
 * - xAPIC-mode LAPIC, physical: dest == xAPIC ID (ID register 31:24), or dest == 0xFF (broadcast).
 * - xAPIC-mode LAPIC, logical: dest == 0xFF is a broadcast; otherwise by DFR model (SDM 10.6.2.2):
 *   flat (DFR 31:28 = 0xF): LDR[31:24] & dest != 0;
 *   cluster (0x0): dest[7:4] == LDR[31:28] and dest[3:0] & LDR[27:24] != 0. Cluster 0xF is not "all clusters"
 *   (KVM; QEMU disagrees): only 0xFF exactly is a broadcast.
 *   Any other DFR model matches nothing (KVM kvm_apic_match_logical_addr).
 * - x2APIC-mode LAPIC, physical: dest == x2APIC ID; 0xFF is NOT a broadcast here (it names APIC 255), as QEMU TCG
 *   and KVM with KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK do. KVM's default broadcast quirk is not modelled.
 * - x2APIC-mode LAPIC, logical: read as x2APIC cluster 0 with mask = dest (QEMU TCG; kvm-unit-tests
 *   test_ioapic_logical_destination_mode expects 0x0D → IDs 0, 2, 3). Hardware behaviour is [UNCONFIRMED]: no primary source says.
 *
 * destWidth 32 (x2APIC-format destination: x2APIC ICR, IRTE in x2APIC mode, hypervisor 32-bit MSI ABIs):
 * - 0xFFFFFFFF is a broadcast to every LAPIC, physical or logical.
 * - x2APIC-mode LAPIC, physical: dest == x2APIC ID. Logical: dest[31:16] == LDR[31:16] and dest[15:0] & LDR[15:0].
 * - xAPIC-mode LAPIC, physical: matches its xAPIC ID only when dest < 0x100. Logical: never (mixed modes are
 *   architecturally undefined; SDM 10.12.5 expects every APIC in the same mode).
 *
 * Shorthands (ICR 19:18) ignore the destination: self, all including self, all excluding self.
 */
import { DestMode, type ApicMessage } from '../msi/interrupt.ts';
import { DFR_MODEL_CLUSTER, DFR_MODEL_FLAT, Shorthand } from './registers.ts';
import type { Lapic } from './lapic.ts';

export function matchesDestination(lapic: Lapic, msg: ApicMessage): boolean {
  if (lapic.mode === 'disabled') return false;
  const dest = msg.dest >>> 0;
  const logical = msg.destMode === DestMode.Logical;
  if (msg.destWidth === 32) {
    if (dest === 0xffffffff) return true;
    if (lapic.mode === 'x2apic') {
      if (!logical) return dest === lapic.id;
      return dest >>> 16 === lapic.ldr >>> 16 && (dest & lapic.ldr & 0xffff) !== 0;
    }
    if (!logical) return dest < 0x100 && dest === lapic.id >>> 24;
    return false;
  }
  const dest8 = dest & 0xff;
  if (lapic.mode === 'x2apic') {
    if (!logical) return dest8 === lapic.id;
    return lapic.ldr >>> 16 === 0 && (dest8 & lapic.ldr & 0xffff) !== 0;
  }
  if (dest8 === 0xff) return true;
  if (!logical) return dest8 === lapic.id >>> 24;
  const model = lapic.dfr >>> 28;
  const logicalId = lapic.ldr >>> 24;
  if (model === DFR_MODEL_FLAT) return (logicalId & dest8) !== 0;
  if (model === DFR_MODEL_CLUSTER) return dest8 >>> 4 === logicalId >>> 4 && (dest8 & logicalId & 0xf) !== 0;
  return false;
}

/** Whether `lapic` is addressed by a message sent with `shorthand` from `source` (Shorthand.None: by `msg`). */
export function matchesWithShorthand(lapic: Lapic, msg: ApicMessage, shorthand: number, source: Lapic | null): boolean {
  if (lapic.mode === 'disabled') return false;
  switch (shorthand) {
    case Shorthand.Self:
      return lapic === source;
    case Shorthand.AllIncludingSelf:
      return true;
    case Shorthand.AllExcludingSelf:
      return lapic !== source;
    default:
      return matchesDestination(lapic, msg);
  }
}
