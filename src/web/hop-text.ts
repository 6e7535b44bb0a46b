/**
 * One trace hop in words for the page's diagrams: the QEMU event name, then its arguments with each number written
 * the way its meaning is written everywhere else on the page — vectors, addresses, APIC IDs and requester IDs in hex,
 * pins, table indices and CPU numbers in decimal, modes by name. QEMU prints some of these in decimal
 * (`apic_deliver_irq ... vector 81`) and calls an I/O APIC pin a "vector" (`ioapic_set_irq vector: 4`, QEMU
 * hw/intc/ioapic.c ioapic_set_irq); the exact QEMU line stays available as the step's tooltip.
 */
import type { TraceHop, TraceValue } from '../core/events.ts';
import { formatBdf } from '../core/bdf.ts';

type Meaning = 'vector' | 'pin' | 'index' | 'apic' | 'hex' | 'sid' | 'destMode' | 'deliveryMode' | 'trigger' | 'decimal' | 'flag';

/** What an argument means, by its name; hop-specific exceptions below. */
const BY_KEY: Record<string, Meaning> = {
  vector: 'vector', vector_num: 'vector', vec: 'vector', nv: 'vector',
  dest: 'apic', ndst: 'apic',
  addr: 'hex', addr2: 'hex', data: 'hex', data2: 'hex', low: 'hex', high: 'hex', lo: 'hex', hi: 'hex', iova: 'hex', gpa: 'hex', pda: 'hex', val: 'hex', mask: 'hex', offset: 'hex', backing_page: 'hex',
  sid: 'sid', devid: 'hex',
  dest_mode: 'destMode', mode: 'destMode',
  delivery_mode: 'deliveryMode', deliver: 'deliveryMode',
  trigger: 'trigger', trigger_mode: 'trigger',
  index: 'index', n: 'pin', pin: 'pin', cpu: 'decimal', vcpu: 'decimal', level: 'decimal', pirq: 'decimal',
  cached: 'flag', notify: 'flag', is_write: 'flag',
};

/** Arguments whose name says less than their meaning: [hop, argument] → meaning and the name shown. */
const BY_HOP: Record<string, Record<string, [Meaning, string]>> = {
  // hw/intc/ioapic.c ioapic_set_irq(vector, level): "vector" is the pin number.
  ioapic_set_irq: { vector: ['pin', 'pin'] },
  // The MSI-X table entry / MSI message number, not an interrupt vector.
  irqpath_msix_notify: { vector: ['index', 'entry'] },
  irqpath_msi_notify: { vector: ['index', 'message'] },
  irqpath_kvm_set_msi: { vector: ['index', 'entry'] },
  kvm_irqchip_add_msi_route: { vector: ['index', 'entry'] },
  vfio_msi_interrupt: { index: ['index', 'entry'] },
  irqpath_ioapic_masked_edge_lost: { n: ['pin', 'pin'] },
  // QEMU's "(should be: %d)" is a trigger mode here, a vector in vtd_warn_ir_vector.
  vtd_warn_ir_trigger: { trig: ['trigger', 'trigger'], target: ['trigger', 'should be'] },
  vtd_warn_ir_vector: { target: ['vector', 'should be'] },
  // vtd_frr_new's index is the fault recording register number.
  vtd_frr_new: { index: ['index', 'FRCD'] },
};

const DELIVERY = ['fixed', 'lowest-priority', 'SMI', 'reserved', 'NMI', 'INIT', 'SIPI', 'ExtINT'];

function hexOf(v: TraceValue, digits = 1): string {
  const n = typeof v === 'bigint' ? v : BigInt(typeof v === 'number' ? (v < 0 ? v >>> 0 : v) : 0);
  return '0x' + n.toString(16).padStart(digits, '0');
}

function formatArg(meaning: Meaning | undefined, v: TraceValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  const n = Number(v);
  switch (meaning) {
    case 'vector':
      return hexOf(v, 2);
    case 'apic':
      return hexOf(v, 2);
    case 'hex':
      return hexOf(v);
    case 'sid':
      return `${hexOf(v, 4)} (${formatBdf(n)})`;
    case 'destMode':
      return n ? 'logical' : 'physical';
    case 'deliveryMode':
      return DELIVERY[n] ?? String(n);
    case 'trigger':
      return n ? 'level' : 'edge';
    case 'flag':
      return n ? 'yes' : 'no';
    default:
      return typeof v === 'bigint' ? hexOf(v) : String(v);
  }
}

/** "ioapic_set_irq pin 4 level 1", "apic_deliver_irq dest 0x100 dest_mode physical … vector 0x41 trigger_mode edge". */
export function hopText(hop: TraceHop): string {
  const special = BY_HOP[hop.name] ?? {};
  const parts = hop.args.map(([key, v]) => {
    const [meaning, shown] = special[key] ?? [BY_KEY[key], key];
    return `${shown} ${formatArg(meaning, v)}`;
  });
  return parts.length ? `${hop.name} ${parts.join(' ')}` : hop.name;
}

/** Hops that record a request being refused, dropped or held back: drawn as blocked steps. */
const BLOCKED = new Set([
  'vtd_frr_new', 'vtd_dmar_fault', 'amdvi_ir_target_abort', 'amdvi_ir_err', 'amdvi_err', 'irqpath_amdvi_page_fault',
  'irqpath_amdvi_dma_abort', 'irqpath_ioapic_masked_edge_lost', 'irqpath_msix_masked_pending', 'irqpath_msi_masked_pending',
  'irqpath_amdvi_intcapxt_masked', 'irqpath_amdvi_msi_disabled', 'irqpath_msix_bad_access', 'irqpath_vtd_inv_qi_error',
  'irqpath_amdvi_invalid_command', 'irqpath_amdvi_mmio_invalid', 'irqpath_amdvi_ga_log_off',
]);

/** Hops where the hardware carried on but something was wrong (QEMU's vtd_warn_*). */
const WARNING = new Set(['vtd_warn_ir_vector', 'vtd_warn_ir_trigger']);

export function hopSeverity(hop: TraceHop): 'blocked' | 'warning' | 'ok' {
  return BLOCKED.has(hop.name) ? 'blocked' : WARNING.has(hop.name) ? 'warning' : 'ok';
}
