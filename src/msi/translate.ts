/**
 * The one translation core (`arch_translate_msi_message`, proposed in the
 * qemu-devel thread "More than 255 vcpus Windows VM setup without viommu ?", 2024-10-01): every device write to the interrupt window
 * passes through {@link TranslationCore.translate}, which decides whether it reaches a CPU, raises a fault, names a
 * Xen PIRQ, or is just a memory write.
 *
 * Order of decisions, and why:
 * 1. A write whose low dword is outside 0xFEEx_xxxx is memory. (The bus sends only window writes here; the check
 *    keeps the function total.)
 * 2. Xen PIRQ (option `xenPirq`): vector 0 means "PIRQ, not an APIC". Xen intercepts these before anything else,
 *    including the IOMMU (QEMU's kvm_arch_fixup_msi_route does PIRQ first).
 * 3. Address bits 63:32. Real hardware only sees 0x0000_0000_FEEx_xxxx as an interrupt: any high bit makes the write
 *    miss the APIC and land in memory. Two hypervisor behaviours claim such writes instead: KVM's x2APIC API
 *    (`x2apicApi`: address_hi 31:8 = destination 31:8, address_hi 7:0 must be zero) and the Windows high-bits
 *    workaround (`windowsHighAddressBits`: address 55:32 = destination 31:8).
 * 4. The interrupt remapper of the requester (an IOMMU with remapping enabled), which either decides the outcome
 *    (remapped delivery, posted interrupt, fault) or lets the request through as compatibility format.
 * 5. Compatibility format, widened by the 15-bit extended destination ID when `extDestId` is on.
 *
 * Destination width: a plain compatibility message has an 8-bit destination where 0xFF is broadcast. When the
 * hypervisor offers any wider destination ABI (extDestId, x2apicApi, windowsHighAddressBits) it converts every
 * compatibility message to its 32-bit form (QEMU swizzles to KVM's x2APIC format and sets
 * KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK), so there APIC ID 255 is a CPU and only 0xFFFFFFFF is broadcast.
 *
 * Route caching: {@link TranslationCore.route} serves a source's {@link RouteSlot} while its message is unchanged
 * and the entries it depended on (its cookie) are not invalidated. Faults and posted interrupts are never cached:
 * each occurrence must be recorded / posted by the hardware again.
 */
import { amdCookie, NO_COOKIE } from './cookie.ts';
import { decodeCompatInto, isInterruptWindow } from './formats/compat.ts';
import {
  extDestIdHighBits,
  isWindowsHighBitsLayout,
  isXenPirqMessage,
  kvmX2apicHighBits,
  kvmX2apicRouteInvalid,
  windowsHighBits,
  xenPirqNumber,
} from './formats/hypervisor-dest.ts';
import type { InterruptRemapper, RouteInvalidator } from './remapper.ts';
import type { RouteSlot } from './route-slot.ts';
import { TranslationResult } from './translation-result.ts';
import type { HypervisorOptions } from '../core/config-types.ts';
import { showValue, UsageError } from '../core/errors.ts';

/** DeviceID index meaning "the device table entry itself" in an AMD pass-through cookie. */
const AMD_DTE_ONLY_INDEX = 0xffff;

export interface TranslateRequest {
  /** Requester ID (BDF or the I/O APIC's source-id). */
  sourceId: number;
  /** 64-bit address. */
  addr: bigint | number;
  /** 32-bit data. */
  data: number;
}

export class TranslationCore implements RouteInvalidator {
  /** The interrupt remapper requests go through, or null when the machine has no IOMMU. */
  remapper: InterruptRemapper | null = null;
  private readonly extDestId: boolean;
  private readonly xenPirq: boolean;
  private readonly x2apicApi: boolean;
  private readonly windowsHighBits: boolean;
  /** Compatibility-format destinations are 32-bit when any wider destination ABI is offered (see file comment). */
  private readonly wideCompat: boolean;
  private readonly slots: RouteSlot[] = [];
  /**
   * Serve warm routes from their slots (default). Off, every message is translated again — through the IOMMU's own
   * caches — which the benchmark uses to measure the remapping walk itself. Outcomes are identical either way.
   */
  routeCaching = true;

  constructor(hypervisor: Readonly<HypervisorOptions>) {
    this.extDestId = hypervisor.extDestId === true;
    this.xenPirq = hypervisor.xenPirq === true;
    this.x2apicApi = hypervisor.x2apicApi === true;
    this.windowsHighBits = hypervisor.windowsHighAddressBits === true;
    this.wideCompat = this.extDestId || this.x2apicApi || this.windowsHighBits;
  }

  /**
   * Translate one write. `out` is filled and returned (pass a reused instance on the hot path). With
   * deliverNow = false (a route being precomputed) an IOMMU records no fault for a failed lookup.
   */
  translate(sourceId: number, addrHi: number, addrLo: number, data: number, deliverNow: boolean, out: TranslationResult): TranslationResult {
    out.reset();
    if (!isInterruptWindow(addrLo)) return out.setMemoryWrite(addrHi, addrLo, data);

    if (this.xenPirq && isXenPirqMessage(data)) {
      out.kind = 'pirq';
      out.pirq = xenPirqNumber(addrHi, addrLo);
      return out;
    }

    let highDest = 0;
    let highFormat: 'kvm-x2apic-api' | 'windows-high-bits' | null = null;
    if (addrHi !== 0) {
      if (this.x2apicApi) {
        if (kvmX2apicRouteInvalid(addrHi)) {
          return out.setFault({
            unit: 'hypervisor',
            code: 0,
            name: 'invalid x2APIC API route',
            detail: `KVM x2APIC API: address_hi 0x${(addrHi >>> 0).toString(16)} has bits 7:0 set (kvm_msi_route_invalid returns -EINVAL)`,
            index: -1,
            recorded: false,
          });
        }
        highDest = kvmX2apicHighBits(addrHi);
        highFormat = 'kvm-x2apic-api';
      } else if (this.windowsHighBits && isWindowsHighBitsLayout(addrHi)) {
        highDest = windowsHighBits(addrHi);
        highFormat = 'windows-high-bits';
      } else {
        // Bare metal: an address with high bits set is not 0x00000000_FEExxxxx, so the APIC never sees it.
        return out.setMemoryWrite(addrHi, addrLo, data);
      }
    }

    const remapper = this.remapper;
    if (remapper !== null) {
      if (remapper.remap(sourceId, addrHi, addrLo, data, deliverNow, out)) return out;
      // Passed through. An AMD pass-through (DTE.IV = 0, IntCtl = forward, a pass bit) depended on the requester's
      // device table entry: name it so INVALIDATE_DEVTAB_ENTRY evicts the route. Intel pass-through depends only
      // on global state (IRE, CFIS, EIME), whose changes evict every route.
      if (remapper.kind === 'amd-vi' && out.cookie === NO_COOKIE) out.cookie = amdCookie(sourceId, AMD_DTE_ONLY_INDEX);
      if (remapper.kind === 'amd-vi') out.format = 'amd-passthrough';
    }

    const msg = decodeCompatInto(addrLo, data, out.msg);
    out.kind = 'deliver';
    if (highFormat !== null) {
      msg.dest = (msg.dest | highDest) >>> 0;
      msg.destWidth = 32;
      out.format = highFormat;
    } else if (this.wideCompat) {
      msg.destWidth = 32;
      if (this.extDestId) {
        const ext = extDestIdHighBits(addrLo);
        if (ext !== 0) {
          msg.dest |= ext;
          out.format = 'ext-dest-id';
        }
      }
    }
    return out;
  }

  /** Convenience form for users and tests: allocates its result. */
  translateMessage(request: TranslateRequest, options: { deliverNow: boolean }): TranslationResult {
    const bad = (why: string): never => {
      throw new UsageError(`translateMessage: ${why}`);
    };
    if (typeof request !== 'object' || request === null) bad('expected a request { sourceId, addr, data }');
    if (typeof options !== 'object' || options === null || typeof options.deliverNow !== 'boolean') bad('expected options { deliverNow: true | false }');
    const { sourceId, data } = request;
    if (typeof sourceId !== 'number' || !Number.isInteger(sourceId) || sourceId < 0 || sourceId > 0xffff) bad(`sourceId ${showValue(sourceId)} is not a 16-bit requester ID`);
    if (typeof data !== 'number' || !Number.isInteger(data) || data < -0x8000_0000 || data > 0xffffffff) bad(`data ${showValue(data)} does not fit in 32 bits`);
    const raw = request.addr;
    const addr = typeof raw === 'bigint' ? raw : typeof raw === 'number' && Number.isSafeInteger(raw) ? BigInt(raw) : null;
    if (addr === null || addr < 0n || addr >= 1n << 64n) bad(`addr ${showValue(raw)} is not a 64-bit address`);
    const hi = Number((addr! >> 32n) & 0xffffffffn);
    const lo = Number(addr! & 0xffffffffn);
    return this.translate(sourceId, hi, lo, data >>> 0, options.deliverNow, new TranslationResult());
  }

  /**
   * The hot path for a source with a route slot: reuse the slot's cached route when its message is unchanged,
   * otherwise translate now (deliverNow = true, so failures are recorded) and cache the result if it may be cached.
   */
  route(sourceId: number, addrHi: number, addrLo: number, data: number, slot: RouteSlot): TranslationResult {
    if (this.routeCaching && slot.matches(sourceId, addrHi, addrLo, data)) return slot.result;
    const result = this.translate(sourceId, addrHi, addrLo, data, true, slot.result);
    if ((result.kind === 'deliver' || result.kind === 'pirq' || result.kind === 'memory') && !result.uncacheable) {
      this.fillSlot(slot, sourceId, addrHi, addrLo, data);
    } else {
      slot.valid = false;
    }
    return result;
  }

  /**
   * Precompute a route for a source without raising anything (deliverNow = false: no fault is recorded, no IEC is
   * filled): the VMM's step when a guest programs an assigned device's MSI (qemu-devel, 2024-10-01: "this function should be
   * called with deliver_now==false. If the translation succeeds, yay! It should be put into the KVM routing
   * table"). A cacheable delivery fills and registers the slot, so the unit's invalidations evict it by cookie; any
   * other outcome leaves the slot invalid, and the next {@link route} translates again with deliverNow = true.
   */
  prepareRoute(sourceId: number, addrHi: number, addrLo: number, data: number, slot: RouteSlot): TranslationResult {
    const result = this.translate(sourceId, addrHi, addrLo, data, false, slot.result);
    if (result.kind === 'deliver' && !result.uncacheable) this.fillSlot(slot, sourceId, addrHi, addrLo, data);
    else slot.valid = false;
    return result;
  }

  /**
   * Register a slot that already holds a delivery (restored from a snapshot, not translated now), so the unit's
   * invalidations evict it like any other cached route.
   */
  adoptRoute(slot: RouteSlot, sourceId: number, addrHi: number, addrLo: number, data: number): void {
    this.fillSlot(slot, sourceId, addrHi, addrLo, data);
  }

  private fillSlot(slot: RouteSlot, sourceId: number, addrHi: number, addrLo: number, data: number): void {
    slot.valid = true;
    slot.sourceId = sourceId;
    slot.addrHi = addrHi;
    slot.addrLo = addrLo;
    slot.data = data;
    if (slot.registryIndex < 0) {
      slot.registryIndex = this.slots.length;
      this.slots.push(slot);
    }
  }

  invalidateRoutes(match: (cookie: number) => boolean): void {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      if (slot.valid && match(slot.result.cookie)) slot.invalidate();
    }
  }

  invalidateAllRoutes(): void {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) slots[i].invalidate();
  }

  /** Number of cached routes currently valid (for tests and reports). */
  cachedRouteCount(): number {
    let n = 0;
    for (const slot of this.slots) if (slot.valid) n++;
    return n;
  }
}
