/**
 * Which local APICs a message addresses, from the Intel SDM Vol. 3A §10.6.2 (destination modes) and §10.12.10
 * (x2APIC logical destinations): physical mode matches the APIC ID (8 bits in xAPIC mode; 0xFF, or 0xFFFFFFFF for a
 * 32-bit destination, broadcasts); logical mode matches the LDR — xAPIC flat (DFR model 1111b): any common bit of the
 * 8-bit MDA and LDR[31:24], 0xFF every APIC; xAPIC cluster (0000b): MDA[7:4] names the cluster LDR[31:28], MDA[3:0]
 * the members in LDR[27:24]; x2APIC: MDA[31:16] the cluster LDR[31:16], MDA[15:0] the members in LDR[15:0]. Lowest
 * priority and a redirectable (RH = 1) logical message go to one of the addressed APICs. A disabled APIC (SVR bit 8
 * clear, or IA32_APIC_BASE.EN clear) accepts no Fixed or LowestPriority message. Imports nothing from src/.
 */

/** A local APIC as software sees it. */
export interface LapicView {
  /** IA32_APIC_BASE.EN and SVR bit 8. */
  enabled: boolean;
  x2apic: boolean;
  id: number;
  ldr: number;
  /** xAPIC DFR model: true for flat (1111b), false for cluster (0000b). */
  flat: boolean;
}

export interface Addressed {
  cpus: number[];
  /** One of `cpus` takes it (lowest priority, or a redirectable logical Fixed message). */
  oneOf: boolean;
}

export function addressedCpus(lapics: readonly LapicView[], msg: { dest: number; destMode: number; deliveryMode: number; redirectionHint: number; width: 8 | 32 }): Addressed {
  const dest = msg.width === 8 ? msg.dest & 0xff : msg.dest >>> 0;
  const broadcast = msg.width === 8 ? dest === 0xff : dest === 0xffffffff;
  const cpus: number[] = [];
  lapics.forEach((l, cpu) => {
    if (!l.enabled) return;
    let hit: boolean;
    if (msg.destMode === 0) hit = broadcast || (l.x2apic ? l.id >>> 0 : l.id & 0xff) === dest;
    else if (l.x2apic) hit = broadcast || ((dest >>> 16) === (l.ldr >>> 16) && (dest & 0xffff & l.ldr) !== 0);
    else if (l.flat) hit = ((l.ldr >>> 24) & dest & 0xff) !== 0;
    else hit = dest === 0xff || ((dest >>> 4) === (l.ldr >>> 28) && (dest & 0xf & (l.ldr >>> 24)) !== 0);
    if (hit) cpus.push(cpu);
  });
  const oneOf = msg.deliveryMode === 1 || (msg.destMode === 1 && msg.redirectionHint === 1 && msg.deliveryMode === 0);
  return { cpus, oneOf };
}
