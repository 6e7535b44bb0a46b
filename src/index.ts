/** The public API of irqpath. See README.md for a tour. */
export { createMachine, Machine } from './machine/machine.ts';
export type { MachineConfig, HypervisorOptions, IntelIommuOptions, AmdIommuOptions, DeviceOptions, IoapicOptions, MsiOptions, MsixOptions } from './core/config-types.ts';
export { ConfigError, GeneralProtectionFault, UsageError } from './core/errors.ts';
export type { MachineEvents, TraceHop, IommuFaultEvent, ApicAcceptEvent, MemoryWriteEvent, PirqEvent, InterruptLostEvent } from './core/events.ts';
export { formatHop, mermaidForFlow, perfettoTrace, TraceRecorder } from './machine/trace.ts';
export type { MachineSnapshot } from './machine/snapshot.ts';
export { parseBdf, formatBdf } from './core/bdf.ts';
export { TranslationCore } from './msi/translate.ts';
export { TranslationResult } from './msi/translation-result.ts';
export type { ApicMessage } from './msi/interrupt.ts';
export { DeliveryMode } from './msi/interrupt.ts';
export { explain } from './msi/explain.ts';
export { createGuest } from './guest/create-guest.ts';
export type { GuestOs, InterruptRequest, ProgrammedInterrupt } from './guest/guest-os.ts';
export { runScenario } from './guest/scenario/run-scenario.ts';
export { parseScenario, loadScenarioFile } from './guest/scenario/scenario-file.ts';
export { runMatrix, renderMatrix } from './guest/scenario/matrix.ts';
