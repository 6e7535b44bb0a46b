/**
 * A 256-bit interrupt-vector bitmap kept in guest memory as eight 32-bit words: a VT-d posted-interrupt descriptor's
 * PIR (words packed, stride 4) or an AVIC backing page's IRR (one word per 16-byte APIC register). Both are drained the
 * same way when a vCPU next runs, so both use this.
 */
import type { SparseMemory } from './memory.ts';

const VECTOR_WORDS = 8;

/**
 * Hand every set bit to `deliver(vector)`, highest vector of each word first, clearing each word as it is read;
 * returns how many moved. Allocation-free.
 */
export function drainVectorBitmap(memory: SparseMemory, base: number, stride: number, deliver: (vector: number) => void): number {
  let moved = 0;
  for (let w = 0; w < VECTOR_WORDS; w++) {
    const at = base + w * stride;
    let bits = memory.read32(at);
    if (bits === 0) continue;
    memory.write32(at, 0);
    while (bits !== 0) {
      const b = 31 - Math.clz32(bits);
      bits = (bits & ~(1 << b)) >>> 0;
      deliver(w * 32 + b);
      moved++;
    }
  }
  return moved;
}
