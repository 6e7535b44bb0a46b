/**
 * Where the bits are in every MSI format explain() reads, and in the three I/O APIC RTE layouts. The field lists
 * follow each format's header comment in this folder (which cites the specification or the VMM source) bit for bit.
 */
import { f, i, r, type BitWord } from '../bit-layout.ts';
import type { ExplainedFormats } from '../explain.ts';

/** Data word shared by every compatibility-style format (SDM 10.11.2). */
const CONTROL_DATA: BitWord = {
  label: 'data',
  width: 32,
  fields: [r(31, 16), f('TM', 15), f('level', 14), r(13, 11), f('delivery mode', 10, 8), f('vector', 7, 0)],
};

const lowDword = (destBits: 'compat' | 'ext') => [
  f('0xFEE', 31, 20, 0xfee),
  f('dest[7:0]', 19, 12),
  ...(destBits === 'ext' ? [f('dest[14:8]', 11, 5)] : [r(11, 5)]),
  destBits === 'ext' ? f('0', 4, 4, 0) : r(4, 4, 'IF (reserved)'),
  f('RH', 3),
  f('DM', 2),
  i(1, 0),
];

export const MSI_LAYOUTS: Record<keyof ExplainedFormats, BitWord[]> = {
  // VT-d §5.1.2.1, SDM 10.11.1: address bits 63:32 must be 0 to reach the APIC window.
  compat: [{ label: 'address', width: 64, fields: [r(63, 32, 'must be 0'), ...lowDword('compat')] }, CONTROL_DATA],
  // VT-d §5.1.2.2.
  intelRemappable: [
    { label: 'address', width: 64, fields: [r(63, 32, 'must be 0'), f('0xFEE', 31, 20, 0xfee), f('handle[14:0]', 19, 5), f('IF = 1', 4, 4, 1), f('SHV', 3), f('handle[15]', 2), i(1, 0)] },
    { label: 'data', width: 32, fields: [r(31, 16), f('subhandle', 15, 0)] },
  ],
  // AMD IOMMU §2.2.5.1: only the data's index is looked up.
  amdRemappable: [
    { label: 'address', width: 64, fields: [r(63, 32, 'must be 0'), f('0xFEE', 31, 20, 0xfee), i(19, 3), f('DM', 2), i(1, 0)] },
    { label: 'data', width: 32, fields: [i(31, 11, 'not looked up'), f('type / index[10:8]', 10, 8), f('index[7:0]', 7, 0)] },
  ],
  // KVM_FEATURE_MSI_EXT_DEST_ID.
  extDestId: [{ label: 'address', width: 64, fields: [r(63, 32, 'must be 0'), ...lowDword('ext')] }, CONTROL_DATA],
  // Linux xen_msi_compose_msg.
  xenPirq: [
    { label: 'address', width: 64, fields: [f('PIRQ[31:8]', 63, 40), r(39, 32), f('0xFEE', 31, 20, 0xfee), f('PIRQ[7:0]', 19, 12), r(11, 4), i(3, 0)] },
    { label: 'data', width: 32, fields: [i(31, 8), f('vector = 0', 7, 0, 0)] },
  ],
  // KVM api.rst, KVM_X2APIC_API_USE_32BIT_IDS.
  kvmX2apicApi: [{ label: 'address', width: 64, fields: [f('dest[31:8]', 63, 40), f('must be 0', 39, 32, 0), ...lowDword('compat')] }, CONTROL_DATA],
  // qemu-devel, "More than 255 vcpus Windows VM setup without viommu ?", 2024-10-01, "Windows, part 2".
  windowsHighBits: [{ label: 'address', width: 64, fields: [f('must be 0', 63, 56, 0), f('dest[31:8]', 55, 32), ...lowDword('compat')] }, CONTROL_DATA],
};

const RTE_PIN_CONTROL = [f('mask', 16), f('TM', 15), f('remote IRR', 14), f('polarity', 13), f('delivery status', 12)];

/** The three RTE layouts of ioapic-rte.ts (82093AA datasheet §3.2.4; VT-d §5.1.5.1; the 15-bit extension). */
export const RTE_LAYOUTS: Record<'compat' | 'extDest' | 'remappable', BitWord> = {
  compat: { label: 'RTE', width: 64, fields: [f('dest[7:0]', 63, 56), r(55, 17), ...RTE_PIN_CONTROL, f('DM', 11), f('delivery mode', 10, 8), f('vector', 7, 0)] },
  extDest: { label: 'RTE', width: 64, fields: [f('dest[7:0]', 63, 56), f('dest[14:8]', 55, 49), f('0', 48, 48, 0), r(47, 17), ...RTE_PIN_CONTROL, f('DM', 11), f('delivery mode', 10, 8), f('vector', 7, 0)] },
  remappable: { label: 'RTE', width: 64, fields: [f('index[14:0]', 63, 49), f('format = 1', 48, 48, 1), r(47, 17), ...RTE_PIN_CONTROL, f('index[15]', 11), f('000', 10, 8, 0), f('subhandle / pin', 7, 0)] },
};
