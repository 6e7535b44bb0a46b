/**
 * Which reading of a value counts on one machine. explainValue lines up every format that could apply to a message
 * or RTE; on a given machine exactly one of them is the one its translation core used — compatibility format on bare
 * metal, the 15-bit extended destination ID under a hypervisor that offers it, an IRTE lookup under an IOMMU with
 * remapping on — or none, when the write was plain memory. routeMessage / routeRte record that decision
 * (MessageRoute.decision); this turns it into a reading key and re-marks the explanation so that the one reading says
 * "applies" and every other says why not, on this machine.
 */
import { isInterruptAddress } from '../msi/explain.ts';
import type { DeliveryFormat } from '../msi/translation-result.ts';
import type { ValueExplanation } from './explain-value.ts';
import type { RouteDecision } from './message-route.ts';

/** MSI reading (explain()'s key) behind each delivery format of the translation core. */
const MSI_READING: Record<DeliveryFormat, string> = {
  compat: 'compat',
  'ext-dest-id': 'extDestId',
  'kvm-x2apic-api': 'kvmX2apicApi',
  'windows-high-bits': 'windowsHighBits',
  'intel-irte': 'intelRemappable',
  'intel-posted': 'intelRemappable',
  // The VT-d option that reads an AMD-style message (index in data): the AMD layout is the one that counted.
  'intel-irte-amd-style': 'amdRemappable',
  'amd-irte': 'amdRemappable',
  'amd-vapic': 'amdRemappable',
  // AMD-Vi with IntCtl = 01b forwards the message unremapped: it is read as compatibility format.
  'amd-passthrough': 'compat',
  'native-by-source-id': 'compat',
};

/** The RTE layout behind each delivery format of the I/O APIC's message. */
function rteReading(format: DeliveryFormat): string {
  if (format === 'ext-dest-id') return 'extDest';
  if (format === 'intel-irte' || format === 'intel-posted' || format === 'intel-irte-amd-style') return 'remappable';
  return 'compat';
}

/**
 * The reading key that counted for `value` on the machine that made `decision`, or null when none did (a memory
 * write, or the message never reached the translation core).
 */
export function appliedReading(kind: 'msi' | 'rte', value: bigint, decision: RouteDecision | null): string | null {
  if (decision === null || decision.kind === 'memory') return null;
  if (kind === 'rte') {
    if (decision.kind === 'fault') return (value >> 48n) & 1n ? 'remappable' : 'compat';
    return rteReading(decision.format);
  }
  switch (decision.kind) {
    case 'pirq':
      return 'xenPirq';
    case 'fault': {
      const unit = decision.fault?.unit;
      // VT-d reads addr[4] first (VT-d §5.1.2): a fault is on the remappable reading or on compatibility format.
      if (unit === 'intel-vtd') return isInterruptAddress(value) && (value & 0x10n) !== 0n ? 'intelRemappable' : 'compat';
      if (unit === 'amd-vi') return 'amdRemappable';
      return 'kvmX2apicApi';
    }
    default:
      return MSI_READING[decision.format];
  }
}

/** The explanation with exactly the applied reading marked as applying (none, for a memory write). */
export function explanationOnMachine(e: ValueExplanation, applied: string | null, machine: string, decision: RouteDecision | null = null): ValueExplanation {
  const chosen = e.readings.find((r) => r.format === applied);
  const fault = decision?.kind === 'fault' ? decision.fault : null;
  const used = fault ? `${machine} read it this way, and refused it: fault 0x${fault.code.toString(16)} (${fault.name}).` : `${machine} read it this way.`;
  return {
    ...e,
    readings: e.readings.map((r) =>
      r === chosen
        ? { ...r, applies: true, why: fault ? used : `${used} ${r.why}` }
        : { ...r, applies: false, why: chosen ? `not on ${machine}: it read it as ${chosen.name}` : `not on ${machine}: no interrupt reading counted there` },
    ),
  };
}
