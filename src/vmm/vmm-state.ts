/**
 * The VMM's part of a system snapshot, as plain data: every route (the guest message, its KVM GSI, the host vector
 * vfio-pci got for it, the translation KVM holds, where it posts), every vCPU's scheduling state, and the counters.
 * KVM's routing table, irqfds and irqbypass pairings are not stored: they follow from the routes and are rebuilt.
 * {@link checkVmmState} validates a state completely before anything is applied.
 */
import { UsageError } from '../core/errors.ts';
import type { ApicMessage } from '../msi/interrupt.ts';
import type { VcpuState } from './vcpu.ts';
import { KVM_MAX_IRQ_ROUTES } from './kvm-irq-routing.ts';

/** The delivery a valid route holds (only deliveries are ever kept): the APIC message's fields plus the translation's format and cookie. */
export interface SavedDelivery extends Pick<ApicMessage, 'dest' | 'destWidth' | 'destMode' | 'deliveryMode' | 'vector' | 'trigger' | 'level' | 'redirectionHint'> {
  format: string;
  cookie: number;
}

export interface SavedRoute {
  guestBdf: string;
  kind: 'msi' | 'msix' | 'ims';
  index: number;
  addrHi: number;
  addrLo: number;
  data: number;
  enabled: boolean;
  masked: boolean;
  gsi: number | null;
  host: { cpu: number; apicId: number; vector: number; irteIndex: number | null; addr: string; data: number } | null;
  postedTo: number | null;
  /** The translation the route holds, or null while it holds none. */
  delivery: SavedDelivery | null;
  translations: number;
  evictions: number;
  evicted: boolean;
  lastOutcome: string;
}

export interface SavedVcpu {
  state: VcpuState;
  hostCpu: number;
  nextHostCpu: number;
  wakeups: number;
}

/** vfio INTx of one assigned device (vfio-intx.ts): vfio-pci's mask state and KVM's hold on the guest pin. */
export interface SavedIntx {
  guestBdf: string;
  /** Set up (false while the guest uses MSI or MSI-X). */
  enabled: boolean;
  /** vdev->ctx[0].masked: masked at the host until the guest's EOI (resample). */
  masked: boolean;
  /** The guest set Command.Interrupt Disable (vdev->virq_disabled). */
  guestDisabled: boolean;
  /** KVM's resample source holds the guest pin asserted. */
  guestLineAsserted: boolean;
  /** Interrupts the handler took, resamples (guest EOIs), and re-sends at unmask because the device still asserted. */
  interrupts: number;
  resamples: number;
  resent: number;
}

export interface VmmState {
  routes: SavedRoute[];
  vcpus: SavedVcpu[];
  intx: SavedIntx[];
  /** KVM's APICv inhibit reasons set (vmm.ts apicvInhibits). */
  apicvInhibits: string[];
  /** The VMM's counters (vmm.ts VmmCounters), by name. */
  counters: Record<(typeof COUNTERS)[number], number>;
  /** The host kernel's vector allocations when the state was saved. */
  hostAllocations: number;
}

const COUNTERS = ['translations', 'evictions', 'injections', 'posted', 'wakeups', 'faults', 'dropped', 'pended', 'nativeRemaps', 'resamples', 'resent'] as const;

function fail(path: string, why: string): never {
  throw new UsageError(`system snapshot: ${path} ${why}`);
}

function obj(v: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${path}.${k}`, 'is not a field of this state');
  for (const k of keys) if (!(k in o)) fail(`${path}.${k}`, 'is missing');
  return o;
}

function uint(v: unknown, path: string, max = 0xffffffff): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) fail(path, `must be an integer 0..${max}, got ${JSON.stringify(v)}`);
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** The shape the system the state is restored into imposes. */
export interface VmmShape {
  guestBdfs: ReadonlySet<string>;
  /** Guest BDFs of the assigned devices with vfio INTx, in order. */
  intxBdfs: readonly string[];
  /** Whether each of those has its INTx set up now. */
  intxEnabled: readonly boolean[];
  vcpus: number;
  hostCpus: number;
}

/** Check a saved VMM state completely (types, ranges, references); throws UsageError naming the field. */
export function checkVmmState(raw: unknown, shape: VmmShape): VmmState {
  const s = obj(raw, 'vmm', ['routes', 'vcpus', 'intx', 'apicvInhibits', 'counters', 'hostAllocations']);
  if (!Array.isArray(s.apicvInhibits) || !s.apicvInhibits.every((r) => r === 'APIC_ID_MODIFIED')) fail('vmm.apicvInhibits', 'must be a list of inhibit reasons (APIC_ID_MODIFIED)');
  if (!Array.isArray(s.intx) || s.intx.length !== shape.intxBdfs.length) fail('vmm.intx', `must list the ${shape.intxBdfs.length} devices with vfio INTx`);
  s.intx.forEach((x, i) => {
    const p = `vmm.intx[${i}]`;
    const o = obj(x, p, ['guestBdf', 'enabled', 'masked', 'guestDisabled', 'guestLineAsserted', 'interrupts', 'resamples', 'resent']);
    if (o.guestBdf !== shape.intxBdfs[i]) fail(`${p}.guestBdf`, `must be ${shape.intxBdfs[i]}, got ${JSON.stringify(o.guestBdf)}`);
    // The host line is the host kernel's (not in a snapshot): it must be requested now exactly when it was then.
    if (o.enabled !== shape.intxEnabled[i]) fail(`${p}.enabled`, `is ${JSON.stringify(o.enabled)}, but vfio INTx of ${shape.intxBdfs[i]} is ${shape.intxEnabled[i] ? 'set up' : 'torn down (MSI mode)'} now and the host kernel is not part of a snapshot`);
    for (const f of ['masked', 'guestDisabled', 'guestLineAsserted'] as const) bool(o[f], `${p}.${f}`);
    for (const f of ['interrupts', 'resamples', 'resent'] as const) uint(o[f], `${p}.${f}`, Number.MAX_SAFE_INTEGER);
  });
  uint(s.hostAllocations, 'vmm.hostAllocations', Number.MAX_SAFE_INTEGER);
  const c = obj(s.counters, 'vmm.counters', COUNTERS);
  for (const k of COUNTERS) uint(c[k], `vmm.counters.${k}`, Number.MAX_SAFE_INTEGER);
  if (!Array.isArray(s.vcpus) || s.vcpus.length !== shape.vcpus) fail('vmm.vcpus', `must list the ${shape.vcpus} vCPUs`);
  s.vcpus.forEach((v, i) => {
    const p = `vmm.vcpus[${i}]`;
    const o = obj(v, p, ['state', 'hostCpu', 'nextHostCpu', 'wakeups']);
    if (o.state !== 'running' && o.state !== 'preempted' && o.state !== 'blocked') fail(`${p}.state`, `must be running, preempted or blocked, got ${JSON.stringify(o.state)}`);
    uint(o.hostCpu, `${p}.hostCpu`, shape.hostCpus - 1);
    uint(o.nextHostCpu, `${p}.nextHostCpu`, shape.hostCpus - 1);
    uint(o.wakeups, `${p}.wakeups`, Number.MAX_SAFE_INTEGER);
  });
  if (!Array.isArray(s.routes)) fail('vmm.routes', 'must be a list');
  const keys = new Set<string>();
  const gsis = new Set<number>();
  s.routes.forEach((r, i) => {
    const p = `vmm.routes[${i}]`;
    const o = obj(r, p, ['guestBdf', 'kind', 'index', 'addrHi', 'addrLo', 'data', 'enabled', 'masked', 'gsi', 'host', 'postedTo', 'delivery', 'translations', 'evictions', 'evicted', 'lastOutcome']);
    if (typeof o.guestBdf !== 'string' || !shape.guestBdfs.has(o.guestBdf)) fail(`${p}.guestBdf`, `must name an assigned device, got ${JSON.stringify(o.guestBdf)}`);
    if (o.kind !== 'msi' && o.kind !== 'msix' && o.kind !== 'ims') fail(`${p}.kind`, `must be msi, msix or ims, got ${JSON.stringify(o.kind)}`);
    uint(o.index, `${p}.index`, 2047);
    const key = `${o.guestBdf}:${o.kind}:${o.index}`;
    if (keys.has(key)) fail(p, `is a second route for ${key}`);
    keys.add(key);
    for (const f of ['addrHi', 'addrLo', 'data', 'translations', 'evictions'] as const) uint(o[f], `${p}.${f}`, f === 'translations' || f === 'evictions' ? Number.MAX_SAFE_INTEGER : 0xffffffff);
    for (const f of ['enabled', 'masked', 'evicted'] as const) bool(o[f], `${p}.${f}`);
    if (typeof o.lastOutcome !== 'string') fail(`${p}.lastOutcome`, 'must be a string');
    if (o.gsi !== null) {
      const g = uint(o.gsi, `${p}.gsi`, KVM_MAX_IRQ_ROUTES - 1);
      if (g < 24) fail(`${p}.gsi`, `${g} is one of the I/O APIC's GSIs 0..23`);
      if (gsis.has(g)) fail(`${p}.gsi`, `${g} is used by two routes`);
      gsis.add(g);
    }
    if (o.postedTo !== null) uint(o.postedTo, `${p}.postedTo`, shape.vcpus - 1);
    if (o.host !== null) {
      const h = obj(o.host, `${p}.host`, ['cpu', 'apicId', 'vector', 'irteIndex', 'addr', 'data']);
      uint(h.cpu, `${p}.host.cpu`, shape.hostCpus - 1);
      uint(h.apicId, `${p}.host.apicId`);
      uint(h.vector, `${p}.host.vector`, 255);
      if (h.irteIndex !== null) uint(h.irteIndex, `${p}.host.irteIndex`, 0xffff);
      if (typeof h.addr !== 'string' || !/^0x[0-9a-f]{1,16}$/.test(h.addr)) fail(`${p}.host.addr`, 'must be a hex address "0x…"');
      uint(h.data, `${p}.host.data`);
    }
    if (o.delivery !== null) {
      const d = obj(o.delivery, `${p}.delivery`, ['format', 'cookie', 'dest', 'destWidth', 'destMode', 'deliveryMode', 'vector', 'trigger', 'level', 'redirectionHint']);
      if (typeof d.format !== 'string') fail(`${p}.delivery.format`, 'must be a string');
      // A cookie names the remapping entry a delivery depended on; NO_COOKIE (-1) when it depended on none.
      if (typeof d.cookie !== 'number' || !Number.isSafeInteger(d.cookie) || d.cookie < -1) fail(`${p}.delivery.cookie`, `must be an integer ≥ -1, got ${JSON.stringify(d.cookie)}`);
      uint(d.dest, `${p}.delivery.dest`);
      if (d.destWidth !== 8 && d.destWidth !== 32) fail(`${p}.delivery.destWidth`, 'must be 8 or 32');
      uint(d.destMode, `${p}.delivery.destMode`, 1);
      uint(d.deliveryMode, `${p}.delivery.deliveryMode`, 7);
      uint(d.vector, `${p}.delivery.vector`, 255);
      uint(d.trigger, `${p}.delivery.trigger`, 1);
      uint(d.level, `${p}.delivery.level`, 1);
      uint(d.redirectionHint, `${p}.delivery.redirectionHint`, 1);
    }
  });
  return raw as VmmState;
}
