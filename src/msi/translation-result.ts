/**
 * What the translation core decided for one device write. One mutable instance is reused per caller on the hot
 * path; {@link TranslationResult.clone} gives a stable copy for reports and tests.
 */
import { type ApicMessage, copyApicMessage, newApicMessage } from './interrupt.ts';
import { NO_COOKIE } from './cookie.ts';

export type TranslationKind =
  /** An interrupt for the APIC bus: see {@link TranslationResult.msg}. */
  | 'deliver'
  /**
   * Intel posted interrupt: the vector was posted into a posted-interrupt descriptor in memory
   * ({@link TranslationResult.postedDescriptor}); when {@link TranslationResult.postedNotify} is true the
   * notification event in {@link TranslationResult.msg} must be delivered. AMD guest virtual APIC: the vector was set
   * in the vAPIC backing page's IRR ({@link TranslationResult.postedDescriptor} = the page); when the vCPU is running
   * (IRTE IsRun = 1) {@link TranslationResult.doorbellDest} names the host CPU the IOMMU rings.
   */
  | 'posted'
  /** The request was refused: see {@link TranslationResult.fault}. Real hardware drops the write. */
  | 'fault'
  /** Xen PIRQ message (vector 0): routed to an event channel, never to an APIC. */
  | 'pirq'
  /** Not an interrupt: an ordinary memory write of `data` at (memAddrHi:memAddrLo). */
  | 'memory';

/** Which reading of the message produced a delivery. */
export type DeliveryFormat =
  | 'compat'
  | 'ext-dest-id'
  | 'kvm-x2apic-api'
  | 'windows-high-bits'
  | 'intel-irte'
  | 'intel-irte-amd-style'
  | 'intel-posted'
  | 'amd-vapic'
  | 'amd-irte'
  | 'amd-passthrough'
  /** The hypothetical IOMMU of LKML, "[PATCH v4 06/17] PCI: add SIOV and IMS capability detection", 2020-11-08 (src/vmm/native-remap-by-source-id.ts): a guest's native message, mapped by source-id to its vCPU. */
  | 'native-by-source-id';

export interface TranslationFault {
  /** Who refused it: an IOMMU, or the hypervisor's own message ABI (e.g. KVM's x2APIC API check). */
  unit: 'intel-vtd' | 'amd-vi' | 'hypervisor';
  /** Intel fault reason (0x20..0x28) or AMD event code (1 = ILLEGAL_DEV_TABLE_ENTRY, 2 = IO_PAGE_FAULT, 8 = INVALID_DEVICE_REQUEST); 0 for hypervisor refusals. */
  code: number;
  /** Short name, e.g. "IRTE not present", "IO_PAGE_FAULT". */
  name: string;
  /** One sentence naming what was wrong with the request. */
  detail: string;
  /** Remapping-table index involved, or -1. */
  index: number;
  /** True when real hardware would record this (false when FPD/SupIOPF/IG suppressed it, or deliverNow = false). */
  recorded: boolean;
}

export class TranslationResult {
  kind: TranslationKind = 'deliver';
  /** The interrupt to deliver (kind 'deliver', or the notification event of kind 'posted'). */
  readonly msg: ApicMessage = newApicMessage();
  format: DeliveryFormat = 'compat';
  fault: TranslationFault | null = null;
  pirq = 0;
  memAddrHi = 0;
  memAddrLo = 0;
  memData = 0;
  postedDescriptor = 0;
  postedNotify = false;
  /** AMD vAPIC posting with IsRun = 1: the physical APIC ID the IOMMU sends the doorbell to; -1 when none. */
  doorbellDest = -1;
  /** Remapping entry this result depended on ({@link NO_COOKIE} when none). */
  cookie = NO_COOKIE;
  /**
   * Set by a remapper whose hardware re-reads its table on every request (AMD Control.IRTCacheDis): software then
   * issues no invalidation after changing an entry, so the translation core must not keep the route either.
   */
  uncacheable = false;

  reset(): this {
    this.kind = 'deliver';
    this.format = 'compat';
    this.fault = null;
    this.pirq = 0;
    this.memAddrHi = 0;
    this.memAddrLo = 0;
    this.memData = 0;
    this.postedDescriptor = 0;
    this.postedNotify = false;
    this.doorbellDest = -1;
    this.cookie = NO_COOKIE;
    this.uncacheable = false;
    return this;
  }

  setFault(fault: TranslationFault): this {
    this.kind = 'fault';
    this.fault = fault;
    return this;
  }

  setMemoryWrite(addrHi: number, addrLo: number, data: number): this {
    this.kind = 'memory';
    this.memAddrHi = addrHi >>> 0;
    this.memAddrLo = addrLo >>> 0;
    this.memData = data >>> 0;
    return this;
  }

  copyFrom(other: TranslationResult): this {
    this.kind = other.kind;
    copyApicMessage(other.msg, this.msg);
    this.format = other.format;
    this.fault = other.fault;
    this.pirq = other.pirq;
    this.memAddrHi = other.memAddrHi;
    this.memAddrLo = other.memAddrLo;
    this.memData = other.memData;
    this.postedDescriptor = other.postedDescriptor;
    this.postedNotify = other.postedNotify;
    this.doorbellDest = other.doorbellDest;
    this.cookie = other.cookie;
    this.uncacheable = other.uncacheable;
    return this;
  }

  clone(): TranslationResult {
    return new TranslationResult().copyFrom(this);
  }

  /** The 64-bit memory-write address as a bigint (kind 'memory'). */
  get memAddr(): bigint {
    return (BigInt(this.memAddrHi) << 32n) | BigInt(this.memAddrLo);
  }
}
