/**
 * The PCI functions of segment 0, by requester ID, and configuration access by BDF. A config read of a function
 * that does not exist completes with all ones (the master abort software uses to probe: vendor ID 0xFFFF), and a
 * write to it is dropped.
 */
import { formatBdf, parseBdf } from '../core/bdf.ts';
import { UsageError } from '../core/errors.ts';
import { checkConfigAccess } from './config-space.ts';

/** What the bus needs from a function: a PciFunction, or another function model (e.g. an IOMMU's own). */
export interface PciBusMember {
  readonly requesterId: number;
  configRead(offset: number, size: number): number;
  configWrite(offset: number, size: number, value: number): void;
  /** Members with save/restore are included in the bus state. */
  save?(): unknown;
  /** Throws if `state` cannot be restored; changes nothing. Lets the bus validate every function before applying. */
  checkState?(state: unknown): void;
  restore?(state: never): void;
}

export const PCI_BUS_STATE_VERSION = 1;

export interface PciBusState {
  version: typeof PCI_BUS_STATE_VERSION;
  /** Function states by "bb:dd.f". */
  functions: Record<string, unknown>;
}

export type BdfRef = number | string;

export class PciBus {
  private readonly members = new Map<number, PciBusMember>();

  add(fn: PciBusMember): void {
    if (this.members.has(fn.requesterId)) throw new UsageError(`PCI address ${formatBdf(fn.requesterId)} is already taken`);
    this.members.set(fn.requesterId, fn);
  }

  get(bdf: BdfRef): PciBusMember | undefined {
    return this.members.get(toRequesterId(bdf));
  }

  /** Members in requester-ID order. */
  functions(): PciBusMember[] {
    return [...this.members.values()].sort((a, b) => a.requesterId - b.requesterId);
  }

  configRead(bdf: BdfRef, offset: number, size: number): number {
    checkConfigAccess(offset, size);
    const fn = this.members.get(toRequesterId(bdf));
    if (fn === undefined) return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    return fn.configRead(offset, size);
  }

  configWrite(bdf: BdfRef, offset: number, size: number, value: number): void {
    checkConfigAccess(offset, size);
    const fn = this.members.get(toRequesterId(bdf));
    if (fn === undefined) return; // master abort: the write goes nowhere
    fn.configWrite(offset, size, value);
  }

  save(): PciBusState {
    const functions: Record<string, unknown> = {};
    for (const fn of this.functions()) if (fn.save) functions[formatBdf(fn.requesterId)] = fn.save();
    return { version: PCI_BUS_STATE_VERSION, functions };
  }

  /** Validates every function's part first (members providing checkState), then applies them. */
  restore(state: PciBusState): void {
    if (typeof state !== 'object' || state === null) throw new UsageError('PCI bus state: not an object');
    if (state.version !== PCI_BUS_STATE_VERSION) throw new UsageError(`PCI bus state: version must be ${PCI_BUS_STATE_VERSION}, got ${String(state.version)}`);
    const functions = state.functions;
    if (typeof functions !== 'object' || functions === null) throw new UsageError('PCI bus state: functions must be an object keyed by bb:dd.f');
    const saved = this.functions().filter((fn) => fn.save);
    const expected = saved.map((fn) => formatBdf(fn.requesterId));
    const given = Object.keys(functions).sort();
    if (given.length !== expected.length || expected.some((bdf) => !(bdf in functions))) {
      throw new UsageError(`PCI bus state: holds functions [${given.join(', ')}], this bus has [${expected.join(', ')}]`);
    }
    for (const fn of saved) fn.checkState?.(functions[formatBdf(fn.requesterId)]);
    for (const fn of saved) fn.restore?.(functions[formatBdf(fn.requesterId)] as never);
  }
}

function toRequesterId(bdf: BdfRef): number {
  if (typeof bdf === 'string') return parseBdf(bdf);
  if (!Number.isInteger(bdf) || bdf < 0 || bdf > 0xffff) throw new UsageError(`requester ID ${bdf} is not 0..0xFFFF`);
  return bdf;
}
