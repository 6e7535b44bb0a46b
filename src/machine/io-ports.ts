/**
 * The I/O port decoder for CPU IN/OUT: 64 KiB of ports, each claimed by at most one device. A wider access is split
 * into byte accesses at consecutive ports, least significant byte first (how an x86 CPU's 16- and 32-bit IN/OUT reach
 * 8-bit ISA registers). An unclaimed port reads all ones (the floating ISA data bus) and drops writes.
 */
import { showValue, UsageError } from '../core/errors.ts';
import type { PortIoDevice } from '../core/mmio.ts';

export const IO_PORT_COUNT = 0x10000;

export class IoPortSpace {
  private readonly owners = new Map<number, PortIoDevice>();

  /** Claim `count` ports from `first` for `device`. */
  claim(first: number, count: number, device: PortIoDevice): void {
    for (let port = first; port < first + count; port++) {
      const owner = this.owners.get(port);
      if (owner !== undefined) throw new UsageError(`I/O port 0x${port.toString(16)} is already claimed by ${owner.name}`);
      this.owners.set(port, device);
    }
  }

  read(port: number, size: 1 | 2 | 4): number {
    checkPort(port, size);
    let value = 0;
    for (let i = 0; i < size; i++) {
      const owner = this.owners.get(port + i);
      value |= (owner === undefined ? 0xff : owner.ioRead(port + i) & 0xff) << (8 * i);
    }
    return value >>> 0;
  }

  write(port: number, size: 1 | 2 | 4, value: number): void {
    checkPort(port, size);
    if (!Number.isInteger(value) || value < 0 || value >= 2 ** (8 * size)) throw new UsageError(`OUT to port 0x${port.toString(16)}: value ${showValue(value)} does not fit in ${size} byte${size === 1 ? '' : 's'}`);
    for (let i = 0; i < size; i++) this.owners.get(port + i)?.ioWrite(port + i, (value >>> (8 * i)) & 0xff);
  }
}

function checkPort(port: number, size: number): void {
  if (!Number.isInteger(port) || port < 0 || port + size > IO_PORT_COUNT) throw new UsageError(`I/O port ${showValue(port)} (${size} bytes) is outside 0..0xFFFF`);
}
