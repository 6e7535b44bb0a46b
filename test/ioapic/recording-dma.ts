/** A fake machine bus for device tests: records every write a bus master puts on it, in order. */
import type { DmaPort } from '../../src/msi/dma-port.ts';
import type { RouteSlot } from '../../src/msi/route-slot.ts';

export interface RecordedWrite {
  kind: 'message' | 'dma';
  sourceId: number;
  addrHi: number;
  addrLo: number;
  data: number;
  slot: RouteSlot | null;
}

export class RecordingDma implements DmaPort {
  readonly writes: RecordedWrite[] = [];
  /** Called after each recorded interrupt message (lets a test play the CPU, e.g. EOI from inside delivery). */
  onMessage: ((write: RecordedWrite) => void) | null = null;

  dmaRead32(): number | null {
    return null;
  }

  dmaWrite32(sourceId: number, addrHi: number, addrLo: number, data: number): void {
    this.writes.push({ kind: 'dma', sourceId, addrHi, addrLo, data, slot: null });
  }

  sendMessage(sourceId: number, addrHi: number, addrLo: number, data: number, slot: RouteSlot): void {
    const write: RecordedWrite = { kind: 'message', sourceId, addrHi, addrLo, data, slot };
    this.writes.push(write);
    this.onMessage?.(write);
  }

  get messages(): RecordedWrite[] {
    return this.writes.filter((w) => w.kind === 'message');
  }

  clear(): void {
    this.writes.length = 0;
  }
}
