/**
 * A memory-mapped register file. The machine's address decoder owns the mapping (base, size); the device sees
 * offsets only, in the vm-superio shape: one read and one write dispatch.
 */
export type AccessSize = 1 | 2 | 4 | 8;

export interface MmioDevice {
  readonly name: string;
  /** Read `size` bytes at `offset` (little-endian); unmapped or write-only registers read as the hardware does. */
  read(offset: number, size: AccessSize): bigint;
  write(offset: number, size: AccessSize, value: bigint): void;
}

export interface MmioRegion {
  base: number;
  size: number;
  device: MmioDevice;
  /** Region is decoded only while this returns true (e.g. a BAR with memory decoding enabled). */
  enabled?: () => boolean;
}

/** A device on the I/O port bus (IN/OUT). Ports are absolute; the port decoder splits wider accesses into bytes. */
export interface PortIoDevice {
  readonly name: string;
  /** Read one byte at I/O port `port`. */
  ioRead(port: number): number;
  /** Write one byte at I/O port `port`. */
  ioWrite(port: number, value: number): void;
}
