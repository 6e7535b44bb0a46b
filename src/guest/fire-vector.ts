/**
 * Program one MSI or MSI-X vector of a device with a message of your choosing and raise it — for a library user who
 * wants to send a particular address/data pair from a particular device without a guest model and without walking
 * config space. The programming is a driver's, through config space and CPU 0's stores to the MSI-X table (the
 * sequence of pci-msi-setup.ts, after Linux's msi_capability_init / msix_capability_init):
 *
 * - MSI and MSI-X are never both enabled (PCI Local Bus 3.0 §6.8: software must not enable both), so programming one
 *   turns the other off;
 * - bus mastering and memory decoding are turned on (pci_set_master), as a driver does before its device interrupts;
 * - MSI message k carries the capability's data with its low log2(n) bits replaced by k, where n is the number of
 *   messages enabled (PCI 3.0 §6.8.1.5, Multiple Message Enable), so the `data` asked for vector k must have k in
 *   those bits; n is the smallest power of two above k;
 * - an MSI-X entry is masked while it is written and unmasked after (PCI 3.0 §6.8.2.9).
 *
 *   fireVector(machine, '00:03.0', 'msix', 1, { addr: 0xfee01000n, data: 0x31 });   // CPU 1 (APIC 1), vector 0x31
 */
import { showValue, UsageError } from '../core/errors.ts';
import type { Address } from '../machine/cpu.ts';
import type { Machine } from '../machine/machine.ts';
import { PCI_CAP_ID_MSI, MSI_FLAGS, MSI_FLAGS_ENABLE } from '../pci/msi-capability.ts';
import { PCI_CAP_ID_MSIX, MSIX_FLAGS, MSIX_FLAGS_ENABLE } from '../pci/msix-capability.ts';
import { barBase, clearMsixFunctionMask, enableBusMaster, enableMsixMasked, findCapability, programMsi, readMsiCap, readMsixCap, writeMsixEntry } from './pci-msi-setup.ts';

/** The message one vector sends: a 64-bit address and the data (32 bits for MSI-X, 16 for MSI). */
export interface VectorMessage {
  addr: Address;
  data: number;
}

function messageAddress(addr: Address, what: string): bigint {
  let a: bigint | null = null;
  if (typeof addr === 'bigint') a = addr;
  else if (typeof addr === 'number' && Number.isSafeInteger(addr)) a = BigInt(addr);
  if (a === null || a < 0n || a >= 1n << 64n) throw new UsageError(`${what}: addr ${showValue(addr)} is not a 64-bit address`);
  return a;
}

/** Turn off the capability that is not wanted, when the device has it and it is on. */
function disableOther(machine: Machine, device: string, capId: number, flags: number, enable: number): void {
  const dev = machine.device(device);
  const at = findCapability(dev, capId);
  if (at === null) return;
  const ctrl = dev.configRead(at + flags, 2);
  if (ctrl & enable) dev.configWrite(at + flags, 2, ctrl & ~enable);
}

/**
 * Program vector `index` of `device`'s MSI or MSI-X capability so that it sends `message`, and enable it. Returns the
 * message as the device will send it (the address a 32-bit MSI capability can hold, the data it composes).
 */
export function programVector(machine: Machine, device: string, kind: 'msi' | 'msix', index: number, message: VectorMessage): { addr: bigint; data: number } {
  const what = `programVector(${showValue(device)}, ${showValue(kind)}, ${showValue(index)})`;
  if (kind !== 'msi' && kind !== 'msix') throw new UsageError(`${what}: kind must be "msi" or "msix"`);
  if (typeof message !== 'object' || message === null) throw new UsageError(`${what}: expected a message { addr, data }, got ${showValue(message)}`);
  const dev = machine.device(device);
  const addr = messageAddress(message.addr, what);
  const data = message.data;
  const dataBits = kind === 'msi' ? 16 : 32;
  if (!Number.isInteger(data) || data < 0 || data >= 2 ** dataBits) throw new UsageError(`${what}: data ${showValue(data)} does not fit in ${dataBits} bits`);
  if (kind === 'msix') {
    const cap = readMsixCap(dev);
    if (cap === null) throw new UsageError(`${what}: ${dev.bdf} has no MSI-X capability`);
    if (!Number.isInteger(index) || index < 0 || index >= cap.tableSize) throw new UsageError(`${what}: ${dev.bdf}'s MSI-X table has entries 0..${cap.tableSize - 1}`);
    if (barBase(dev, cap.tableBir) === 0) throw new UsageError(`${what}: ${dev.bdf}'s BAR${cap.tableBir} (the MSI-X table) is not assigned`);
    disableOther(machine, device, PCI_CAP_ID_MSI, MSI_FLAGS, MSI_FLAGS_ENABLE);
    enableBusMaster(dev);
    enableMsixMasked(dev, cap);
    writeMsixEntry(machine.cpu(0), dev, cap, index, addr, data);
    clearMsixFunctionMask(dev, cap);
    return { addr, data };
  }
  const cap = readMsiCap(dev);
  if (cap === null) throw new UsageError(`${what}: ${dev.bdf} has no MSI capability`);
  if (!Number.isInteger(index) || index < 0 || index >= cap.vectorsCapable) throw new UsageError(`${what}: ${dev.bdf}'s MSI capability has messages 0..${cap.vectorsCapable - 1}`);
  if (!cap.is64 && addr >> 32n !== 0n) throw new UsageError(`${what}: ${dev.bdf}'s MSI capability is 32-bit and cannot hold address 0x${addr.toString(16)}`);
  const log2 = index === 0 ? 0 : Math.ceil(Math.log2(index + 1));
  const low = (1 << log2) - 1;
  if ((data & low) !== index) {
    throw new UsageError(`${what}: with ${1 << log2} MSI messages enabled, message ${index} carries data with bits ${log2 - 1}:0 = ${index}; data 0x${data.toString(16)} has ${data & low}`);
  }
  disableOther(machine, device, PCI_CAP_ID_MSIX, MSIX_FLAGS, MSIX_FLAGS_ENABLE);
  enableBusMaster(dev);
  programMsi(dev, cap, addr, data & ~low, log2);
  return { addr, data };
}

/** {@link programVector}, then raise that vector: the device sends the message (a new interrupt flow). */
export function fireVector(machine: Machine, device: string, kind: 'msi' | 'msix', index: number, message: VectorMessage): { addr: bigint; data: number } {
  const sent = programVector(machine, device, kind, index, message);
  machine.device(device).signal(index);
  return sent;
}
