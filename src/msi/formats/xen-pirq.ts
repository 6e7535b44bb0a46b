/**
 * Xen's MSI → PIRQ mapping (Linux `xen_msi_compose_msg`, QEMU `msi_pirq_target`): a Xen HVM guest asks for a PIRQ
 * (bound to an event channel) instead of an APIC interrupt by writing vector 0.
 *
 *   address: PIRQ[31:8] (63:40) | reserved (39:32) | 0xFEE (31:20) | PIRQ[7:0] (19:12) | reserved (11:4) | don't care (3:0)
 *   data:    don't care (31:8; Linux writes delivery mode ExtINT, older kernels 011) | vector = 0 (7:0)
 *
 * QEMU intercepts these in `pci_msi_trigger` because the target address (e.g. 0x1000fee46000 for PIRQ 4166) is not
 * the APIC window; on hardware without Xen it is an ordinary memory write.
 */
import { DeliveryMode } from '../interrupt.ts';
import { MSI_ADDR_BASE, MSI_ADDR_DEST_SHIFT } from './compat.ts';
import { addrHi, addrLo, bitNote, bits32, checkField, checkMessage, joinAddr } from './field-check.ts';
import { isXenPirqMessage, xenPirqNumber } from './hypervisor-dest.ts';

export const XEN_PIRQ_FORMAT = 'Xen PIRQ format';

export interface XenPirqFields {
  /** PIRQ number: bits 7:0 from addr 19:12, bits 31:8 from addr 63:40. */
  pirq: number;
  /** data 10:8, not interpreted by Xen; current Linux writes ExtINT (7). */
  deliveryMode: number;
}

export type XenPirqInput = Pick<XenPirqFields, 'pirq'> & Partial<XenPirqFields>;

export interface XenPirqDecoded extends XenPirqFields {
  /** Vector (data 7:0) is 0, which is what makes this a PIRQ message. */
  isPirq: boolean;
  reserved: string[];
}

export function encodeXenPirq(input: XenPirqInput): { addr: bigint; data: number } {
  const deliveryMode = input.deliveryMode ?? DeliveryMode.ExtINT;
  checkField(XEN_PIRQ_FORMAT, 'pirq', input.pirq, 32);
  checkField(XEN_PIRQ_FORMAT, 'deliveryMode', deliveryMode, 3);
  const lo = (MSI_ADDR_BASE | ((input.pirq & 0xff) << MSI_ADDR_DEST_SHIFT)) >>> 0;
  return { addr: joinAddr(input.pirq & 0xffffff00, lo), data: deliveryMode << 8 };
}

export function decodeXenPirq(addr: bigint, data: number): XenPirqDecoded {
  checkMessage(XEN_PIRQ_FORMAT, addr, data);
  const lo = addrLo(addr);
  const hi = addrHi(addr);
  const isPirq = isXenPirqMessage(data);
  const reserved: string[] = [];
  if (bits32(hi, 7, 0) !== 0) reserved.push(bitNote('addr[39:32]', bits32(hi, 7, 0), `is reserved in ${XEN_PIRQ_FORMAT}`));
  const base = bits32(lo, 31, 20);
  if (base !== 0xfee) reserved.push(bitNote('addr[31:20]', base, `is not 0xfee (${XEN_PIRQ_FORMAT})`));
  if (bits32(lo, 11, 4) !== 0) reserved.push(bitNote('addr[11:4]', bits32(lo, 11, 4), `is reserved in ${XEN_PIRQ_FORMAT}`));
  if (bits32(lo, 3, 0) !== 0) reserved.push(bitNote('addr[3:0]', bits32(lo, 3, 0), `is don't-care in ${XEN_PIRQ_FORMAT} (ignored)`));
  if (!isPirq) reserved.push(bitNote('data[7:0]', data & 0xff, 'is a vector: a PIRQ message needs vector 0'));
  if (bits32(data, 31, 11) !== 0) reserved.push(bitNote('data[31:11]', bits32(data, 31, 11), `is don't-care in ${XEN_PIRQ_FORMAT} (ignored)`));
  return { pirq: xenPirqNumber(hi, lo), deliveryMode: bits32(data, 10, 8), isPirq, reserved };
}
