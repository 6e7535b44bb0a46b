/**
 * interrupt_lost says why each addressed local APIC refused a message (Intel SDM Vol. 3A):
 * - §10.4.7.2: a software-disabled APIC (SVR bit 8 = 0, its state after reset) takes no Fixed, LowestPriority or
 *   ExtINT message (INIT, NMI, SMI and SIPI still are);
 * - §10.4.3: with IA32_APIC_BASE.EN = 0 the APIC is hardware-disabled: off the bus, so no destination includes it;
 * - §10.5.3: a Fixed vector 0–15 is refused with "receive illegal vector" in the ESR.
 * The machines are not booted: every LAPIC starts software-disabled, and the test enables the ones it needs.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, fireVector, type InterruptLostEvent } from '../../src/index.ts';

const SVR = 0xfee000f0;
const IA32_APIC_BASE = 0x1b;

function machine() {
  const m = createMachine({ cpus: 4, devices: [{ bdf: '00:03.0', msix: { entries: 1 } }] });
  const lost: InterruptLostEvent[] = [];
  m.events.on('interrupt_lost', (e) => lost.push(e));
  return { m, lost };
}

describe('interrupt_lost names each refusing LAPIC and why', () => {
  it('software-disabled: a Fixed message to APIC 1 straight after reset', () => {
    const { m, lost } = machine();
    fireVector(m, '00:03.0', 'msix', 0, { addr: 0xfee01000n, data: 0x31 });
    // One event for one loss, naming the requester (the device) and the LAPIC's reason: the machine bus that handed
    // the message to the APIC bus used to report the same loss a second time, without the reasons.
    expect(lost).toHaveLength(1);
    expect(lost[0].source).toBe('00:03.0');
    expect(lost[0].refusals).toEqual([{ cpu: 1, apicId: 1, why: 'software-disabled (SVR bit 8 = 0)' }]);
    expect(lost[0].reason).toBe('Fixed vector 0x31 to physical 0x1/8: every addressed LAPIC refused it — CPU 1 (APIC 0x1): software-disabled (SVR bit 8 = 0)');
  });

  it('an illegal vector (0x05) to a software-enabled APIC', () => {
    const { m, lost } = machine();
    m.cpu(2).write32(SVR, 0x1ff);
    fireVector(m, '00:03.0', 'msix', 0, { addr: 0xfee02000n, data: 0x05 });
    expect(lost.map((e) => e.refusals)).toEqual([[{ cpu: 2, apicId: 2, why: 'illegal vector 0x5 (ESR: receive illegal vector)' }]]);
  });

  it('a broadcast refused for different reasons, grouped by reason; a hardware-disabled APIC is not addressed at all', () => {
    const { m, lost } = machine();
    m.cpu(0).write32(SVR, 0x1ff);
    m.cpu(1).write32(SVR, 0x1ff);
    // CPU 3 clears IA32_APIC_BASE.EN (bit 11): hardware-disabled.
    m.cpu(3).wrmsr(IA32_APIC_BASE, m.cpu(3).rdmsr(IA32_APIC_BASE) & ~(1n << 11n));
    // Physical broadcast (destination 0xff) of vector 0x0e: CPUs 0-2 are addressed (CPU 3's APIC is off the bus).
    fireVector(m, '00:03.0', 'msix', 0, { addr: 0xfeeff000n, data: 0x0e });
    expect(lost).toHaveLength(1);
    expect(lost[0].refusals?.map((r) => r.cpu)).toEqual([0, 1, 2]);
    const why = Object.fromEntries((lost[0].refusals ?? []).map((r) => [r.cpu, r.why]));
    expect(why[0]).toBe('illegal vector 0xe (ESR: receive illegal vector)');
    expect(why[1]).toBe('illegal vector 0xe (ESR: receive illegal vector)');
    expect(why[2]).toBe('software-disabled (SVR bit 8 = 0)');
    expect(lost[0].reason).toContain('CPUs 0, 1 (APIC 0x0, 0x1): illegal vector 0xe (ESR: receive illegal vector); CPU 2 (APIC 0x2): software-disabled (SVR bit 8 = 0)');
  });

  it('no LAPIC matches: the reason says so and names no CPU', () => {
    const { m, lost } = machine();
    fireVector(m, '00:03.0', 'msix', 0, { addr: 0xfee20000n, data: 0x31 });
    expect(lost).toHaveLength(1);
    expect(lost[0].reason).toBe('Fixed vector 0x31 to physical 0x20/8: no LAPIC matches the destination');
    expect(lost[0].refusals).toBeUndefined();
  });

  it('an IPI no LAPIC takes has no requester: the event names the APIC bus', () => {
    const { m, lost } = machine();
    m.cpu(0).write32(SVR, 0x1ff);
    // ICR (SDM §10.6.1): destination 0x20 in ICR high bits 31:24, then a Fixed, physical vector 0x31 in ICR low.
    m.cpu(0).write32(0xfee00310, 0x20 << 24);
    m.cpu(0).write32(0xfee00300, 0x31);
    expect(lost.map((e) => [e.source, e.reason])).toEqual([['apic-bus', 'Fixed vector 0x31 to physical 0x20/8: no LAPIC matches the destination']]);
  });
});
