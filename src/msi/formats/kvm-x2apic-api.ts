/**
 * KVM's x2APIC MSI API (`KVM_X2APIC_API_USE_32BIT_IDS`, Documentation/virt/kvm/api.rst): the MSI ABI between a VMM
 * and KVM for KVM_SET_GSI_ROUTING and KVM_SIGNAL_MSI. Never a real bus write: on hardware such an address is memory.
 *
 *   address: dest[31:8] (63:40) | must be 0 (39:32) | compatibility-format low dword (dest[7:0] in 19:12)
 *   data:    as compatibility format
 *
 * KVM returns -EINVAL for a route whose address_hi bits 7:0 are non-zero (`kvm_msi_route_invalid`). Intel's own
 * fault-event registers (FEADDR/FEUADDR) use the same layout for the IOMMU's x2APIC destination.
 */
import type { MessageControl } from './compat.ts';
import { checkMessageControl, composeControlAddrLo, composeControlData, controlNotes, readMessageControl } from './compat.ts';
import { addrHi, addrLo, bitNote, bits32, checkField, checkMessage, joinAddr } from './field-check.ts';
import { kvmX2apicHighBits, kvmX2apicRouteInvalid } from './hypervisor-dest.ts';

export const KVM_X2APIC_API_FORMAT = 'KVM x2APIC API format';

export interface KvmX2apicApiFields extends MessageControl {
  /** 32-bit destination: bits 7:0 from addr 19:12, bits 31:8 from addr 63:40. */
  destination: number;
}

export type KvmX2apicApiInput = Pick<KvmX2apicApiFields, 'destination' | 'vector'> & Partial<MessageControl>;

export interface KvmX2apicApiDecoded extends KvmX2apicApiFields {
  /** KVM refuses the route or injection with -EINVAL (address_hi bits 7:0 set). */
  rejected: boolean;
  reserved: string[];
}

export function encodeKvmX2apicApi(input: KvmX2apicApiInput): { addr: bigint; data: number } {
  checkField(KVM_X2APIC_API_FORMAT, 'destination', input.destination, 32);
  const control = checkMessageControl(KVM_X2APIC_API_FORMAT, input);
  const lo = composeControlAddrLo(input.destination & 0xff, control);
  return { addr: joinAddr(input.destination & 0xffffff00, lo), data: composeControlData(control) };
}

export function decodeKvmX2apicApi(addr: bigint, data: number): KvmX2apicApiDecoded {
  checkMessage(KVM_X2APIC_API_FORMAT, addr, data);
  const lo = addrLo(addr);
  const hi = addrHi(addr);
  const rejected = kvmX2apicRouteInvalid(hi);
  const reserved: string[] = [];
  if (rejected) reserved.push(bitNote('addr[39:32]', hi & 0xff, 'must be 0 (address_hi[7:0]): KVM rejects the route with -EINVAL'));
  controlNotes(KVM_X2APIC_API_FORMAT, lo, data, false, reserved);
  const destination = (bits32(lo, 19, 12) | kvmX2apicHighBits(hi)) >>> 0;
  return { destination, ...readMessageControl(lo, data), rejected, reserved };
}
