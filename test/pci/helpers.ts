/** Shared setup for PCI tests: a function on a recording bus, and a driver's view of its config space. */
import { EventHub, type InterruptLostEvent, type TraceHop } from '../../src/core/events.ts';
import { PciFunction, type PciFunctionOptions } from '../../src/pci/pci-function.ts';
import { RecordingDma } from '../ioapic/recording-dma.ts';

export const BDF = '00:03.0';
export const RID = 0x18; // bus 0, device 3, function 0 → (3 << 3) | 0

export interface Rig {
  fn: PciFunction;
  dma: RecordingDma;
  hub: EventHub;
  lost: InterruptLostEvent[];
  hops: TraceHop[];
}

export function rig(opts: Partial<PciFunctionOptions> = {}, listen = false): Rig {
  const hub = new EventHub();
  const dma = new RecordingDma();
  const lost: InterruptLostEvent[] = [];
  const hops: TraceHop[] = [];
  if (listen) {
    hub.on('interrupt_lost', (e) => lost.push(e));
    hub.on('hop', (h) => hops.push(h));
  }
  const fn = new PciFunction({ bdf: BDF, ...opts }, dma, hub);
  return { fn, dma, hub, lost, hops };
}

export const COMMAND = 0x04;
export const MASTER = 1 << 2;

/** Messages put on the bus as [addrHi, addrLo, data]. */
export function sent(dma: RecordingDma): number[][] {
  return dma.messages.map((m) => [m.addrHi, m.addrLo >>> 0, m.data]);
}
