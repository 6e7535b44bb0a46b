/**
 * The legacy sources of scenario files (isa, intx, lapic-timer, pit, hpet): what the validator refuses, with the
 * file, line and column, and what a run observes. Expected outcomes come from the hardware: ISA IRQ 4 is edge and
 * active high (no MADT override), IRQ 9 level and active high (QEMU's override "high level"); init_8259A gives the
 * master vector base 0x30, so IRQ 4 through the 8259 is vector 0x34; a masked I/O APIC pin drops an edge (82093AA:
 * "not delivered or held pending") and holds a level line; an unacknowledged level interrupt keeps Remote IRR set.
 */
import { describe, expect, it } from 'vitest';
import { parseScenario, ScenarioError } from '../../src/scenario/scenario-file.ts';
import { runScenario } from '../../src/scenario/run-scenario.ts';

const MACHINE = `machine: { cpus: 2, devices: [{ bdf: '00:03.0', intx: A }, { bdf: '00:04.0', intx: A }, { bdf: '00:07.0', intx: A }, { bdf: '00:05.0', msix: { entries: 1 } }] }`;

/** A one-source scenario: `source` is the flow mapping of the source, `expectation` its expectation. */
function scenario(source: string, expectation: string, machine = MACHINE): string {
  return ['title: t', machine, 'guest: { os: linux }', 'sources:', `  - ${source}`, 'expect:', '  verdict: fixed', `  sources: { s: ${expectation} }`, ''].join('\n');
}

function problem(text: string): string {
  try {
    parseScenario(text, 'x.yaml');
  } catch (e) {
    if (e instanceof ScenarioError) return e.located();
    throw e;
  }
  throw new Error('accepted');
}

function run(source: string, expectation: string, machine = MACHINE) {
  const [s] = parseScenario(scenario(source, expectation, machine), 'x.yaml');
  return runScenario(s);
}

describe('validation of legacy sources, with file:line:column (the column of the value at fault)', () => {
  const cases: [string, string, string][] = [
    ['{ id: s, kind: isa, irq: 2, cpu: 0 }', 'intended', 'x.yaml:5:30: sources[0].irq: IRQ2 is the cascade from the slave 8259'],
    ['{ id: s, kind: isa, irq: 4, via: extint, cpu: 1 }', 'intended', 'x.yaml:5:51: sources[0].cpu: the 8259\'s virtual wire (via extint) reaches the BSP\'s LINT0 only: cpu must be 0'],
    ['{ id: s, kind: isa, irq: 4, trigger: level, cpu: 0 }', 'intended', 'x.yaml:5:42: sources[0].trigger: an ISA IRQ takes its trigger and polarity from the MADT'],
    ['{ id: s, kind: intx, device: \'00:05.0\', cpu: 0 }', 'intended', 'x.yaml:5:34: sources[0].device: device 00:05.0 has no INTx pin: give it intx: A, B, C or D'],
    ['{ id: s, kind: intx, device: \'00:03.0\', cpu: 0, steps: [raise 00:04.0] }', 'intended', 'x.yaml:5:61: sources[0].steps[0]: 00:04.0 is on PIRQE, not on 00:03.0\'s PIRQH: they do not share the line'],
    ['{ id: s, kind: lapic-timer, mode: periodic, period: 1000ns, cpu: 0 }', 'intended', 'x.yaml:5:57: sources[0].period: must be a multiple of 16 ns'],
    ['{ id: s, kind: lapic-timer, mode: sometimes, period: 1ms, cpu: 0 }', 'intended', 'x.yaml:5:39: sources[0].mode: must be one-shot, periodic, tsc-deadline, terminal-count, rate-generator, square-wave, strobe or update, got "sometimes"'],
    ['{ id: s, kind: pit, period: 1ms, cpu: 0 }', 'intended', 'x.yaml:5:33: sources[0].period: a pit source does not take period (it takes mode, count, via)'],
    ['{ id: s, kind: msix, device: \'00:05.0\', cpu: 0, steps: [disintx] }', 'intended', 'x.yaml:5:61: sources[0].steps[0]: "disintx" sets PCI Command.Interrupt Disable: an intx source\'s step'],
    ['{ id: s, kind: hpet, mode: periodic, period: 15ns, cpu: 0 }', 'intended', 'x.yaml:5:50: sources[0].period: must be a multiple of 10 ns: the HPET counts at 100 MHz'],
    ['{ id: s, kind: isa, irq: 4, cpu: 0, steps: [advance 5 ms] }', 'intended', 'x.yaml:5:49: sources[0].steps[0]: unknown step "advance 5 ms"'],
    ['{ id: s, kind: rtc, mode: update, rate: 3, cpu: 0 }', 'intended', "x.yaml:5:45: sources[0].rate: is the periodic interrupt's rate select (register A RS): only mode periodic has one"],
    ['{ id: s, kind: isa, irq: 4, cpu: 0, steps: [read-c] }', 'intended', 'x.yaml:5:49: sources[0].steps[0]: "read-c" is not a step of isa sources (raise, lower, pulse, ack, eoi, handle, mask, unmask, advance <time>)'],
    ['{ id: s, kind: isa, irq: 4, cpu: 0 }', '{ held: { by: nowhere } }', 'x.yaml:8:31: expect.sources.s.held.by: must be remote-irr, rte-masked, pic-imr, disintx or lapic-irr, got "nowhere"'],
  ];
  for (const [source, expectation, message] of cases) {
    it(message.slice(0, 90), () => {
      expect(problem(scenario(source, expectation))).toContain(message);
    });
  }
});

describe('defaults', () => {
  it('an ISA or INTx source raises, is taken, lowers and is EOIed; a timer runs for one period', () => {
    const [s] = parseScenario(
      ['title: t', MACHINE, 'guest: { os: linux }', 'sources:', '  - { id: a, kind: isa, irq: 4, cpu: 0 }', '  - { id: b, kind: pit, cpu: 0 }', '  - { id: c, kind: lapic-timer, mode: one-shot, period: 2ms, cpu: 1 }', 'expect:', '  verdict: fixed', '  sources: { a: intended, b: intended, c: intended }', ''].join('\n'),
      'x.yaml',
    );
    expect(s.sources[0].steps).toEqual(['raise', 'ack', 'lower', 'eoi']);
    // LATCH 4773: the first period ends 4774 CLK edges after the write, at ⌈4774 · 10^9 / 1 193 182⌉ ns.
    expect(s.sources[1]).toMatchObject({ mode: 'rate-generator', count: 4773, steps: ['advance 4001067ns'] });
    expect(s.sources[2]).toMatchObject({ vector: 0xec, period: 2_000_000, steps: ['advance 2000000ns'] });
  });
});

describe('running legacy sources', () => {
  it('ISA IRQ 4 (edge, no override) through I/O APIC pin 4 reaches the CPU the guest chose', () => {
    const r = run('{ id: s, kind: isa, irq: 4, cpu: 1 }', 'intended');
    expect(r.verdict).toBe('FIXED');
    expect(r.sources[0].programmed.rte! & 0xa000n).toBe(0n); // edge, active high
  });

  it('ISA IRQ 9 is level (QEMU\'s override): with no EOI the pin is held in Remote IRR after one delivery', () => {
    const r = run('{ id: s, kind: isa, irq: 9, cpu: 1, steps: [raise, ack, advance 1ms] }', '{ held: { by: remote-irr, delivered: 1 } }');
    expect(r.verdict).toBe('FIXED');
    expect(r.sources[0].programmed.rte! & 0x8000n).toBe(0x8000n);
  });

  it('the same expectation fails when the EOI does come (the line is delivered again instead)', () => {
    const r = run('{ id: s, kind: isa, irq: 9, cpu: 1, steps: [raise, ack, eoi] }', '{ held: { by: remote-irr, delivered: 1 } }');
    expect(r.verdict).toBe('UNEXPECTED');
    expect(r.sources[0].observed.deliveries).toHaveLength(2);
  });

  it('an edge on a masked pin is lost, with the I/O APIC\'s reason', () => {
    const r = run('{ id: s, kind: isa, irq: 4, cpu: 1, steps: [mask, pulse] }', '{ lost: { reason: "edge on a masked pin" } }');
    expect(r.verdict).toBe('FIXED');
  });

  it('a level line behind a masked RTE is held there, and delivered when the RTE is unmasked', () => {
    expect(run('{ id: s, kind: isa, irq: 9, cpu: 1, steps: [mask, raise] }', '{ held: { by: rte-masked } }').verdict).toBe('FIXED');
    expect(run('{ id: s, kind: isa, irq: 9, cpu: 1, steps: [mask, raise, unmask, ack, lower, eoi] }', 'intended').verdict).toBe('FIXED');
  });

  it('IRQ 4 through the 8259 as ExtINT: the INTA cycle answers ISA_IRQ_VECTOR(4) = 0x34; masked in the IMR it waits', () => {
    const r = run('{ id: s, kind: isa, irq: 4, via: extint, cpu: 0 }', '{ reaches: { cpu: 0, vector: 0x34 } }');
    expect(r.verdict).toBe('FIXED');
    expect(run('{ id: s, kind: isa, irq: 4, via: extint, cpu: 0, steps: [mask, raise, ack] }', '{ held: { by: pic-imr } }').verdict).toBe('FIXED');
  });

  it('DisINTx: the function\'s Interrupt Status is set but INTx# stays quiet until Interrupt Disable is cleared', () => {
    expect(run('{ id: s, kind: intx, device: \'00:03.0\', cpu: 1, steps: [disintx, raise, ack] }', '{ held: { by: disintx } }').verdict).toBe('FIXED');
    expect(run('{ id: s, kind: intx, device: \'00:03.0\', cpu: 1, steps: [disintx, raise, enintx, ack, lower, eoi] }', 'intended').verdict).toBe('FIXED');
  });

  it('an accepted interrupt never taken is held in the LAPIC\'s IRR', () => {
    expect(run('{ id: s, kind: lapic-timer, mode: one-shot, period: 1ms, cpu: 1, steps: [advance 1ms] }', '{ held: { by: lapic-irr, delivered: 1 } }').verdict).toBe('FIXED');
  });

  it('a periodic LAPIC timer of 1 ms fires 10 times in 10 ms; its interrupts coalesce in IRR when not taken', () => {
    const r = run('{ id: s, kind: lapic-timer, mode: periodic, period: 1ms, cpu: 1, steps: [advance 10ms] }', '{ intended: { times: 10 } }');
    expect(r.verdict).toBe('FIXED');
  });
});
