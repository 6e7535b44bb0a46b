/**
 * Trap-and-translate for IMS (LKML, "[PATCH v4 06/17] PCI: add SIOV and IMS capability detection", 2020-11-08), as a VMM device quirk: the VMM knows where the device keeps its
 * interrupt messages (its `embeddedMsi` registers: address at `registers[k]`, data 8 bytes above), traps the
 * guest's stores there and keeps them in a shadow the guest reads back, and when an entry's data is written —
 * the last store of an entry, as for an MSI-X entry — builds that entry's route from the guest's message and
 * stores the host kernel's message in the physical entry. Everything else in the BAR goes straight to the device.
 *
 * It works only because the VMM has been taught this device's layout; an IMS table it does not know of (the case
 * that thread worries about) escapes it, and the device then sends the guest's own message.
 */
import type { AccessSize, MmioDevice } from '../core/mmio.ts';
import { EMBEDDED_DATA_OFFSET } from '../pci/embedded-msi-controller.ts';

export interface ImsProgrammer {
  programIms(guestBdf: string, k: number, addr: bigint, data: number): { addr: bigint; data: number } | null;
}

export class ImsTrapBar implements MmioDevice {
  readonly name: string;
  private readonly shadow = new Map<number, number>();
  private readonly entryOfAddress = new Map<number, number>();
  private readonly entryOfData = new Map<number, number>();

  constructor(
    private readonly physical: MmioDevice,
    registers: readonly number[],
    private readonly guestBdf: string,
    private readonly vmm: ImsProgrammer,
  ) {
    this.name = `${physical.name} (assigned, IMS trapped)`;
    registers.forEach((r, k) => {
      this.entryOfAddress.set(r, k);
      this.entryOfData.set(r + EMBEDDED_DATA_OFFSET, k);
    });
  }

  read(offset: number, size: AccessSize): bigint {
    if (size === 4 && (this.entryOfAddress.has(offset) || this.entryOfData.has(offset))) return BigInt(this.shadow.get(offset) ?? 0);
    return this.physical.read(offset, size);
  }

  write(offset: number, size: AccessSize, value: bigint): void {
    if (size !== 4 || !(this.entryOfAddress.has(offset) || this.entryOfData.has(offset))) {
      this.physical.write(offset, size, value);
      return;
    }
    this.shadow.set(offset, Number(value & 0xffffffffn));
    const k = this.entryOfData.get(offset);
    if (k === undefined) return; // an address store: wait for the entry's data
    const addrAt = offset - EMBEDDED_DATA_OFFSET;
    const guestAddr = BigInt(this.shadow.get(addrAt) ?? 0);
    const host = this.vmm.programIms(this.guestBdf, k, guestAddr, Number(value & 0xffffffffn));
    // No host vector: nothing better to store than what the guest wrote.
    const out = host ?? { addr: guestAddr, data: Number(value & 0xffffffffn) };
    this.physical.write(addrAt, 4, out.addr & 0xffffffffn);
    this.physical.write(offset, 4, BigInt(out.data >>> 0));
  }
}
