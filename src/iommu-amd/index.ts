/** AMD IOMMU (AMD-Vi): public surface for the machine, the CLI and tests. */
export { AmdIommu, AMD_IOMMU_STATE_VERSION, resolveAmdOptions } from './amd-iommu.ts';
export type { AmdIommuState, ResolvedAmdOptions } from './amd-iommu.ts';
export { formatLinuxEvent, formatRawEventEntry } from './linux-log.ts';
export type { LinuxLogOptions } from './linux-log.ts';
export { decodeEvent, encodeEvent } from './event-log.ts';
export type { AmdEvent } from './event-log.ts';
export { EventCode, EventFlag, eventCodeName } from './event-codes.ts';
export { buildCommand, CommandOp, decodeCommand } from './command-buffer.ts';
export { decodeDte } from './device-table-entry.ts';
export { decodeIrte32, decodeIrte128 } from './irte.ts';
export { composeXtInterruptControl, decodeXtInterruptControl } from './xt-interrupt-control.ts';
export * as AmdRegisters from './registers.ts';
