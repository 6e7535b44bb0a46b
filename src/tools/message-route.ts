/**
 * Where one message goes on one machine, hop by hop: build the machine, boot the guest model on it and let it
 * program its interrupt sources (so the IOMMU's tables hold what that OS would put there), then have a device write
 * the message and record every hop. This is the explainer's "on this machine" question — "what happens to addr
 * fee00578 data 0 from 00:03.0 on scenario 05's machine?" — answered by the same machine a scenario run uses.
 */
import type { MachineConfig } from '../core/config-types.ts';
import type { TraceHop } from '../core/events.ts';
import { UsageError } from '../core/errors.ts';
import { createMachine, type Machine } from '../machine/machine.ts';
import { IOREGSEL, IOWIN } from '../ioapic/ioapic.ts';
import { formatHop } from '../machine/trace.ts';
import { createGuest } from '../guest/create-guest.ts';
import type { InterruptRequest } from '../guest/guest-os.ts';
import type { GuestSpec } from '../scenario/scenario-file.ts';
import type { DeliveryFormat, TranslationFault, TranslationKind } from '../msi/translation-result.ts';

/** PCI command register (config offset 0x04) bit 2: the device may master the bus (PCI Local Bus 3.0 §6.2.2). */
const PCI_COMMAND = 0x04;
const PCI_COMMAND_BUS_MASTER = 1 << 2;
/** I/O APIC indirect register of RTE 0's low dword; RTE n is at 0x10 + 2n (82093AA §3.2.4). */
const IOAPIC_REDTBL_BASE = 0x10;

export interface MessageRouteSetup {
  machine: MachineConfig;
  /** Boot this guest model first and let it program `sources` (omit for a machine straight out of firmware). */
  guest?: GuestSpec;
  sources?: InterruptRequest[];
}

export interface MessageRoute {
  /** Every hop of the write, in order (QEMU trace-event names), the IOMMU's own interrupts included. */
  hops: TraceHop[];
  /** Flows that are an IOMMU's own interrupt (a fault event raised while handling the message). */
  iommuFlows: number[];
  lines: string[];
  /** One line per outcome: "CPU 3 (APIC 0x3) vector 0x31", "fault: …", "memory write at …", "lost: …". */
  outcomes: string[];
  /** Linux's log lines for faults the IOMMU recorded. */
  faultLog: string[];
  /** What the guest printed while booting and programming its sources. */
  bootLog: string[];
  /**
   * What the translation core decided for the message itself (the first decision on its flow): the reading of the
   * message that this machine applied, or the fault / memory write it became. Null when the message never reached
   * the translation core (an I/O APIC pin that stayed masked, a device that could not write).
   */
  decision: RouteDecision | null;
}

/** The translation core's decision for the routed message, copied out of its reusable result. */
export interface RouteDecision {
  kind: TranslationKind;
  /** The reading that produced a delivery (meaningful for 'deliver' and 'posted'). */
  format: DeliveryFormat;
  fault: TranslationFault | null;
}

function prepare(setup: MessageRouteSetup): { m: Machine; bootLog: string[] } {
  const m = createMachine(setup.machine);
  if (!setup.guest) return { m, bootLog: ['(no guest: the machine as firmware left it, IOMMU translation off)'] };
  const guest = createGuest(m, setup.guest);
  guest.boot();
  for (const s of setup.sources ?? []) guest.setupInterrupt(s);
  return { m, bootLog: [...guest.log.lines] };
}

export function routeMessage(setup: MessageRouteSetup, requester: string, addr: bigint, data: number): MessageRoute {
  const { m, bootLog } = prepare(setup);
  const device = m.devices.find((d) => d.bdf === requester);
  if (!device) throw new UsageError(`requester ${requester} is not a PCI device on this machine (devices: ${m.devices.map((d) => d.bdf).join(', ') || 'none'})`);
  // A driver enables bus mastering before its device writes anything (Linux pci_set_master); do it for a bare machine.
  device.configWrite(PCI_COMMAND, 2, device.configRead(PCI_COMMAND, 2) | PCI_COMMAND_BUS_MASTER);
  return observe(m, bootLog, () => device.dmaWrite(addr, data));
}

/**
 * Program I/O APIC pin `pin` with `rte` the way Linux does (ioapic_write_entry: high dword first, so the entry is
 * never live with half a destination) and fire it: a pulse for an edge-triggered entry, a held assertion for a
 * level-triggered one (RTE bit 15). The message goes out with the I/O APIC's own source-id.
 */
export function routeRte(setup: MessageRouteSetup, pin: number, rte: bigint): MessageRoute {
  const { m, bootLog } = prepare(setup);
  const pins = m.ioapic.pins;
  if (!Number.isInteger(pin) || pin < 0 || pin >= pins) throw new UsageError(`pin ${pin} does not exist: this I/O APIC has pins 0–${pins - 1}`);
  const index = IOAPIC_REDTBL_BASE + 2 * pin;
  m.ioapic.write(IOREGSEL, 4, BigInt(index + 1));
  m.ioapic.write(IOWIN, 4, rte >> 32n);
  m.ioapic.write(IOREGSEL, 4, BigInt(index));
  m.ioapic.write(IOWIN, 4, rte & 0xffffffffn);
  const level = (rte >> 15n) & 1n;
  return observe(m, bootLog, () => (level ? m.ioapic.assert(pin) : m.ioapic.pulse(pin)));
}

function observe(m: Machine, bootLog: string[], act: () => void): MessageRoute {
  const outcomes: string[] = [];
  const faultLog: string[] = [];
  // An IOMMU's own interrupt (a fault event) runs as a flow of its own: report it as that, not as the message's delivery.
  const iommuFlows = new Set<number>();
  m.events.on('iommu_interrupt', (e) => iommuFlows.add(e.flow));
  m.events.on('apic_accept', (e) => {
    const where = `CPU ${e.cpu} (APIC ${'0x' + e.apicId.toString(16)}) vector ${'0x' + e.vector.toString(16)}`;
    outcomes.push(iommuFlows.has(e.flow) ? `the IOMMU's fault-event interrupt reached ${where}` : `delivered to ${where}`);
  });
  m.events.on('iommu_fault', (e) => {
    outcomes.push(`${e.unit} fault ${'0x' + e.code.toString(16)} (${e.name})${e.recorded ? '' : `, not recorded: ${e.suppressedBy ?? ''}`}`);
    faultLog.push(e.linuxLog);
  });
  m.events.on('memory_write', (e) => outcomes.push(`memory write at 0x${e.addr.toString(16)} (${e.reason})`));
  m.events.on('xen_pirq', (e) => outcomes.push(`Xen PIRQ ${e.pirq}`));
  m.events.on('interrupt_lost', (e) => outcomes.push(`lost: ${e.reason}`));
  // The bus acts on every translation decision in dispatch(); the first one is the message's own (an IOMMU's fault
  // event comes after it). Wrapping this one machine's bus, built for this question alone, reads it without a
  // hook on the hot path.
  let decision: RouteDecision | null = null;
  const dispatch = m.bus.dispatch.bind(m.bus);
  m.bus.dispatch = (sourceId, result) => {
    decision ??= { kind: result.kind, format: result.format, fault: result.fault ? { ...result.fault } : null };
    dispatch(sourceId, result);
  };
  const trace = m.startTrace();
  act();
  const hops = trace.stop();
  return { hops, iommuFlows: [...iommuFlows], lines: hops.map(formatHop), outcomes: outcomes.length ? outcomes : ['no effect observed'], faultLog, bootLog, decision };
}
