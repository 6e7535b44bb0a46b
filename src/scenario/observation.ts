/**
 * What a scenario run saw of one source's interrupts: deliveries to CPUs, the IOMMU's own interrupts, faults, losses,
 * memory writes, Xen PIRQs, and (legacy sources) where the interrupt was held when the steps ended.
 */
import type { IommuFaultEvent } from '../core/events.ts';
import type { HeldBy } from './legacy-words.ts';

export interface Delivery {
  cpu: number;
  apicId: number;
  vector: number;
  deliveryMode: number;
}

export interface SourceObservation {
  deliveries: Delivery[];
  /** The IOMMU's own interrupts (fault events) raised while this source was exercised, and where they went. */
  iommuInterrupts: Delivery[];
  faults: IommuFaultEvent[];
  lost: string[];
  memoryWrites: { addr: bigint; data: number }[];
  pirqs: number[];
  /** Legacy sources: where the interrupt was held back when the steps ended (legacy-sources.ts). */
  held: HeldBy[];
}
