/**
 * `explain(addr, data)`: how every MSI format irqpath knows would read one 64-bit address / 32-bit data pair, side
 * by side, and whether real hardware (bare metal, no hypervisor) treats the write as an interrupt at all.
 *
 * Only a write to 0x00000000_FEEx_xxxx reaches the interrupt controller (SDM 10.11.1: "All accesses to this region
 * are directed as interrupt messages"); anything else is an ordinary memory write, whatever a hypervisor ABI might
 * make of it. Each reading says whether it applies to this message and why, gives a one-line summary, and lists the
 * reserved or ignored bits that are set.
 *
 * This is a tool for people, not the hot path: it allocates freely.
 */
import { hex } from './interrupt.ts';
import type { CompatDecoded, MessageControl } from './formats/compat.ts';
import { decodeCompat, MSI_ADDR_IF } from './formats/compat.ts';
import type { IntelRemappableDecoded } from './formats/intel-remappable.ts';
import { decodeIntelRemappable } from './formats/intel-remappable.ts';
import type { AmdRemappableDecoded } from './formats/amd-remappable.ts';
import { AMD_MESSAGE_TYPE_HANDLING, decodeAmdRemappable } from './formats/amd-remappable.ts';
import type { ExtDestIdDecoded } from './formats/ext-dest-id.ts';
import { decodeExtDestId } from './formats/ext-dest-id.ts';
import type { XenPirqDecoded } from './formats/xen-pirq.ts';
import { decodeXenPirq } from './formats/xen-pirq.ts';
import type { KvmX2apicApiDecoded } from './formats/kvm-x2apic-api.ts';
import { decodeKvmX2apicApi } from './formats/kvm-x2apic-api.ts';
import type { WindowsHighBitsDecoded } from './formats/windows-high-bits.ts';
import { decodeWindowsHighBits } from './formats/windows-high-bits.ts';
import { addrHi, addrLo, checkMessage, formatAddr } from './formats/field-check.ts';

/** What explain adds to a format's decoded fields. */
export interface ReadingInfo {
  /** Human name of the format. */
  name: string;
  /** Whether this format's reader would accept this message (on the platform the format belongs to). */
  applies: boolean;
  /** One sentence: when this reading is the one that counts, or why it is not. */
  why: string;
  /** One line: what this format makes of the message. */
  summary: string;
}

export type Reading<D> = D & ReadingInfo;

export interface ExplainedFormats {
  compat: Reading<CompatDecoded>;
  intelRemappable: Reading<IntelRemappableDecoded>;
  amdRemappable: Reading<AmdRemappableDecoded>;
  extDestId: Reading<ExtDestIdDecoded>;
  /** Present only when the vector (data 7:0) is 0, the mark of a Xen PIRQ message. */
  xenPirq?: Reading<XenPirqDecoded>;
  kvmX2apicApi: Reading<KvmX2apicApiDecoded>;
  windowsHighBits: Reading<WindowsHighBitsDecoded>;
}

export interface Explanation {
  addr: bigint;
  data: number;
  /** True when bare-metal hardware treats the write as an interrupt message (addr is 0x00000000_FEEx_xxxx). */
  interrupt: boolean;
  /** One sentence on what real hardware does with the write. */
  verdict: string;
  formats: ExplainedFormats;
}

/** True when the 64-bit address is in the interrupt window 0x00000000_FEE00000..0x00000000_FEEFFFFF. */
export function isInterruptAddress(addr: bigint): boolean {
  return addr >> 20n === 0xfeen;
}

const MODE_WORDS = ['fixed', 'lowest priority', 'SMI', 'remote read (invalid in an MSI)', 'NMI', 'INIT', 'StartUp (invalid in an MSI)', 'ExtINT'];

/** "physical dest 0x01, vector 0x31, fixed, edge" (plus ", RH" when the redirection hint is set). */
export function describeDelivery(destination: number, control: MessageControl): string {
  const digits = destination > 0xff ? (destination > 0xffff ? 8 : 4) : 2;
  const parts = [
    `${control.destMode ? 'logical' : 'physical'} dest ${hex(destination, digits)}`,
    `vector ${hex(control.vector, 2)}`,
    MODE_WORDS[control.deliveryMode],
    control.triggerMode ? 'level' : 'edge',
  ];
  if (control.redirectionHint) parts.push('RH');
  return parts.join(', ');
}

export function explain(addr: bigint, data: number): Explanation {
  checkMessage('explain', addr, data);
  const lo = addrLo(addr);
  const hi = addrHi(addr);
  const interrupt = isInterruptAddress(addr);
  const lowInWindow = lo >>> 20 === 0xfee;
  const remappableFlag = (lo & MSI_ADDR_IF) !== 0;
  const notInterrupt = `not an interrupt: ${formatAddr(addr)} is outside 0x00000000_fee00000-0x00000000_feefffff`;

  const compat = decodeCompat(addr, data);
  const intel = decodeIntelRemappable(addr, data);
  const amd = decodeAmdRemappable(addr, data);
  const ext = decodeExtDestId(addr, data);
  const kvm = decodeKvmX2apicApi(addr, data);
  const win = decodeWindowsHighBits(addr, data);

  const formats: ExplainedFormats = {
    compat: {
      ...compat,
      name: 'compatibility',
      applies: interrupt && !remappableFlag,
      why: !interrupt
        ? notInterrupt
        : remappableFlag
          ? 'addr[4] = 1 marks Intel remappable format, not compatibility format'
          : 'bare metal without interrupt remapping (or VT-d passing compatibility format through with GSTS.CFIS = 1)',
      summary: `compatibility: ${describeDelivery(compat.destination, compat)}`,
    },
    intelRemappable: {
      ...intel,
      name: 'Intel remappable',
      applies: interrupt && remappableFlag,
      why: !interrupt
        ? notInterrupt
        : remappableFlag
          ? `addr[4] = 1: an Intel IOMMU with interrupt remapping enabled looks up IRTE ${intel.index}`
          : 'addr[4] = 0 selects compatibility format',
      summary:
        `Intel remappable: handle ${hex(intel.handle, 4)}, SHV ${intel.shv}, subhandle ${hex(intel.subhandle, 4)}` +
        ` -> IRTE index ${intel.index} (${hex(intel.index, 4)})`,
    },
    amdRemappable: {
      ...amd,
      name: 'AMD remappable',
      applies: interrupt,
      why: interrupt
        ? "applies when the requester's DTE has IntCtl = 10b: every in-window MSI from it is looked up in its own table (no format bit)"
        : notInterrupt,
      summary:
        `AMD remappable: IRTE index ${hex(amd.index, 3)} (${amd.index}), data[10:8] = ${amd.messageType}: ` +
        `${AMD_MESSAGE_TYPE_HANDLING[amd.messageType]}; 2K mode index ${hex(amd.index2k, 3)}`,
    },
    extDestId: {
      ...ext,
      name: '15-bit extended destination ID',
      applies: interrupt && !remappableFlag,
      why: !interrupt
        ? notInterrupt
        : remappableFlag
          ? 'addr[4] = 1 marks Intel remappable format; the extension needs addr[4] = 0'
          : ext.destination > 0xff
            ? 'only when the hypervisor advertises the 15-bit extension (KVM_FEATURE_MSI_EXT_DEST_ID)'
            : 'only when the hypervisor advertises the 15-bit extension; addr[11:5] = 0, so it reads like compatibility format',
      summary: `15-bit ext dest: ${describeDelivery(ext.destination, ext)}`,
    },
    kvmX2apicApi: {
      ...kvm,
      name: 'KVM x2APIC API',
      applies: lowInWindow && !remappableFlag && !kvm.rejected,
      why: !lowInWindow
        ? 'addr[31:20] is not 0xfee'
        : remappableFlag
          ? 'addr[4] = 1 marks Intel remappable format; a VMM translates those through its IOMMU model before KVM sees them'
          : kvm.rejected
          ? `KVM rejects it with -EINVAL: address_hi[7:0] = ${hex(hi & 0xff, 2)} must be 0`
          : 'a VMM-to-KVM routing ABI (KVM_X2APIC_API_USE_32BIT_IDS), never a bus write',
      summary: kvm.rejected
        ? `KVM x2APIC API: rejected (-EINVAL), address_hi[7:0] = ${hex(hi & 0xff, 2)}`
        : `KVM x2APIC API: ${describeDelivery(kvm.destination, kvm)}`,
    },
    windowsHighBits: {
      ...win,
      name: 'Windows high bits',
      applies: lowInWindow && !remappableFlag && hi !== 0 && hi >>> 24 === 0,
      why: !lowInWindow
        ? 'addr[31:20] is not 0xfee'
        : remappableFlag
          ? 'addr[4] = 1 marks Intel remappable format, not the Windows layout'
          : hi === 0
          ? 'addr[55:32] = 0: no high destination bits, so this is plain compatibility format'
          : hi >>> 24 !== 0
            ? `addr[63:56] = ${hex(hi >>> 24, 2)} is not 0, so this is not the Windows layout`
            : 'Windows with no IOMMU and APIC IDs above 255; hardware writes memory, only a VMM that recognises the bug delivers it',
      summary: `Windows high bits: ${describeDelivery(win.destination, win)}`,
    },
  };

  if ((data & 0xff) === 0) {
    const xen = decodeXenPirq(addr, data);
    formats.xenPirq = {
      ...xen,
      name: 'Xen PIRQ',
      applies: lowInWindow,
      why: lowInWindow ? 'a Xen HVM guest: vector 0 asks Xen for a PIRQ bound to an event channel' : 'addr[31:20] is not 0xfee',
      summary: `Xen PIRQ: PIRQ ${xen.pirq} (${hex(xen.pirq)}), delivered through an event channel, not the APIC`,
    };
  }

  return { addr, data, interrupt, verdict: verdictFor(addr, interrupt, remappableFlag, formats), formats };
}

function verdictFor(addr: bigint, interrupt: boolean, remappableFlag: boolean, formats: ExplainedFormats): string {
  const where = formatAddr(addr);
  if (interrupt) {
    return remappableFlag
      ? `reaches the APIC window: a write at ${where} is an interrupt message; addr[4] = 1 asks for Intel remappable format ` +
          `(IRTE ${formats.intelRemappable.index}), which only an IOMMU with interrupt remapping enabled can deliver`
      : `reaches the APIC window: a write at ${where} is an interrupt message (compatibility format: ` +
          `${describeDelivery(formats.compat.destination, formats.compat)})`;
  }
  const hypervisorReadings: string[] = [];
  if (formats.xenPirq?.applies) hypervisorReadings.push(`Xen PIRQ ${formats.xenPirq.pirq}`);
  if (formats.kvmX2apicApi.applies) hypervisorReadings.push(`KVM x2APIC API dest ${hex(formats.kvmX2apicApi.destination)}`);
  if (formats.windowsHighBits.applies) hypervisorReadings.push(`Windows high bits dest ${hex(formats.windowsHighBits.destination)}`);
  const tail = hypervisorReadings.length > 0 ? `; only a hypervisor would read it as an interrupt (${hypervisorReadings.join(', ')})` : '';
  return `misses the APIC: a memory write at ${where}${tail}`;
}
