/**
 * QEMU's trace-event format strings for the hops irqpath shares with QEMU, so that a line irqpath prints can be diffed
 * against `qemu -trace ...` output character for character (QEMU's "log" backend prints `name ` + the formatted
 * string, optionally after a `pid@seconds.micros:` prefix).
 *
 * The strings are those of QEMU's current hw/i386/trace-events, hw/intc/trace-events and hw/pci/trace-events with the
 * inttypes macros folded (`0x%"PRIx64` → `0x%x`, `%"PRIu32` → `%u`). The argument order is QEMU's; each hop carries its
 * arguments in that order, named after what the line prints them as. The table is also the parser's grammar
 * (`irqpath replay`): every format compiles to a regular expression that reads the same line back.
 *
 * Hops QEMU has no event for are named `irqpath_*` and printed as `name key value key value` (see docs/replay-and-qemu.md).
 */
import type { TraceHop, TraceValue } from '../core/events.ts';

/** One QEMU trace event: its format string and the names of its arguments, in order. */
export interface QemuTraceEvent {
  format: string;
  args: readonly string[];
  /** Where QEMU defines and emits it. */
  source: string;
}

const ev = (format: string, args: string[], source: string): QemuTraceEvent => ({ format, args, source });

/** Every QEMU trace event irqpath emits or reads back. */
export const QEMU_TRACE_EVENTS: Readonly<Record<string, QemuTraceEvent>> = {
  // hw/i386/trace-events — intel_iommu.c
  vtd_ir_remap_msi_req: ev('addr 0x%x data 0x%x', ['addr', 'data'], 'intel_iommu.c vtd_interrupt_remap_msi'),
  // QEMU passes (index, data[1], data[0]): the value printed as "low" is the IRTE's upper qword (bits 127:64).
  vtd_ir_irte_get: ev('index %d low 0x%x high 0x%x', ['index', 'low', 'high'], 'intel_iommu.c vtd_irte_get'),
  vtd_ir_remap: ev('index %d trigger %d vector %d deliver %d dest 0x%x mode %d', ['index', 'trigger', 'vector', 'deliver', 'dest', 'mode'], 'intel_iommu.c vtd_remap_irq_get'),
  vtd_ir_remap_type: ev('%s', ['type'], 'intel_iommu.c vtd_interrupt_remap_msi'),
  vtd_ir_remap_msi: ev('(addr 0x%x, data 0x%x) -> (addr 0x%x, data 0x%x)', ['addr', 'data', 'addr2', 'data2'], 'intel_iommu.c vtd_interrupt_remap_msi'),
  vtd_warn_ir_vector: ev('sid 0x%x index %d vec %d (should be: %d)', ['sid', 'index', 'vec', 'target'], 'intel_iommu.c vtd_interrupt_remap_msi'),
  vtd_warn_ir_trigger: ev('sid 0x%x index %d trigger %d (should be: %d)', ['sid', 'index', 'trig', 'target'], 'intel_iommu.c vtd_interrupt_remap_msi'),
  vtd_ir_enable: ev('enable %d', ['en'], 'intel_iommu.c vtd_handle_gcmd_ire'),
  vtd_reg_ir_root: ev('addr 0x%x size 0x%x', ['addr', 'size'], 'intel_iommu.c vtd_interrupt_remap_table_setup'),
  vtd_frr_new: ev('index %d high 0x%x low 0x%x', ['index', 'hi', 'lo'], 'intel_iommu.c vtd_record_frcd'),
  vtd_irq_generate: ev('addr 0x%x data 0x%x', ['addr', 'data'], 'intel_iommu.c vtd_generate_interrupt'),
  vtd_inv_desc_iec: ev('granularity 0x%x index 0x%x mask 0x%x', ['granularity', 'index', 'mask'], 'intel_iommu.c vtd_process_inv_iec_desc'),
  vtd_inv_desc_wait_sw: ev('wait invalidate status write addr 0x%x data 0x%x', ['addr', 'data'], 'intel_iommu.c vtd_process_wait_desc'),
  vtd_fsts_ppf: ev('FSTS PPF bit set to %d', ['set'], 'intel_iommu.c vtd_update_fsts_ppf'),
  // Read back by the replay: IRTA (0xb8) carries EIME and the table size, which no other line shows.
  vtd_reg_write: ev('addr 0x%x size 0x%x value 0x%x', ['addr', 'size', 'val'], 'intel_iommu.c vtd_mem_write'),
  vtd_reg_write_gcmd: ev('status 0x%x value 0x%x', ['status', 'val'], 'intel_iommu.c vtd_handle_gcmd_write'),
  vtd_dmar_translate: ev('dev %02x:%02x.%02x iova 0x%x -> gpa 0x%x mask 0x%x', ['bus', 'slot', 'func', 'iova', 'gpa', 'mask'], 'intel_iommu.c vtd_iommu_translate'),
  vtd_dmar_enable: ev('enable %d', ['en'], 'intel_iommu.c vtd_handle_gcmd_te'),
  vtd_dmar_fault: ev('sid 0x%x fault %d addr 0x%x write %d', ['sid', 'fault', 'addr', 'is_write'], 'intel_iommu.c vtd_report_fault'),
  // hw/i386/trace-events — amd_iommu.c
  // QEMU declares devid uint8_t, so it prints only DeviceID bits 7:0 (a request from 0x00a0 and one from 0x01a0 both
  // print "devid 0xa0"); irqpath prints what QEMU prints.
  amdvi_ir_remap_msi_req: ev('addr 0x%x data 0x%x devid 0x%x', ['addr', 'data', 'devid'], 'amd_iommu.c amdvi_int_remap_msi'),
  amdvi_ir_remap_msi: ev('(addr 0x%x, data 0x%x) -> (addr 0x%x, data 0x%x)', ['addr', 'data', 'addr2', 'data2'], 'amd_iommu.c amdvi_int_remap_msi'),
  amdvi_ir_delivery_mode: ev('%s', ['str'], 'amd_iommu.c amdvi_int_remap_msi'),
  amdvi_ir_intctl: ev('int_ctl 0x%x', ['val'], 'amd_iommu.c __amdvi_int_remap_msi'),
  amdvi_ir_irte: ev('addr 0x%x offset 0x%x', ['addr', 'offset'], 'amd_iommu.c amdvi_get_irte'),
  amdvi_ir_irte_val: ev('data 0x%x', ['data'], 'amd_iommu.c amdvi_get_irte'),
  amdvi_ir_irte_ga_val: ev('hi 0x%x lo 0x%x', ['hi', 'lo'], 'amd_iommu.c amdvi_get_irte_ga'),
  amdvi_ir_target_abort: ev('%s', ['str'], 'amd_iommu.c amdvi_int_remap_legacy / _ga'),
  amdvi_ir_err: ev('%s', ['str'], 'amd_iommu.c amdvi_int_remap_msi'),
  amdvi_err: ev('%s', ['str'], 'amd_iommu.c amdvi_int_remap_msi'),
  amdvi_mem_ir_write_req: ev('addr 0x%x data 0x%x size 0x%x', ['addr', 'val', 'size'], 'amd_iommu.c amdvi_mem_ir_write'),
  amdvi_mem_ir_write: ev('addr 0x%x data 0x%x', ['addr', 'val'], 'amd_iommu.c amdvi_mem_ir_write'),
  amdvi_completion_wait: ev('completion wait requested with store address 0x%x and store data 0x%x', ['addr', 'data'], 'amd_iommu.c amdvi_completion_wait'),
  amdvi_devtab_inval: ev('device table entry for devid: %02x:%02x.%x invalidated', ['bus', 'slot', 'func'], 'amd_iommu.c amdvi_inval_devtab_entry'),
  amdvi_intr_inval: ev('Interrupt table invalidated', [], 'amd_iommu.c amdvi_inval_inttable'),
  amdvi_pages_inval: ev('AMD-Vi pages for domain 0x%x invalidated', ['domid'], 'amd_iommu.c amdvi_inval_pages'),
  amdvi_all_inval: ev('Invalidation of all AMD-Vi cache requested ', [], 'amd_iommu.c amdvi_inval_all'),
  // hw/intc/trace-events — ioapic.c, apic.c
  ioapic_set_irq: ev('vector: %d level: %d', ['vector', 'level'], 'ioapic.c ioapic_set_irq'),
  ioapic_set_remote_irr: ev('set remote irr for pin %d', ['n'], 'ioapic.c ioapic_service'),
  ioapic_clear_remote_irr: ev('clear remote irr for pin %d vector %d', ['n', 'vector'], 'ioapic.c ioapic_eoi_broadcast'),
  ioapic_eoi_broadcast: ev('EOI broadcast for vector %d', ['vector'], 'ioapic.c ioapic_eoi_broadcast'),
  ioapic_eoi_delayed_reassert: ev('delayed reassert on EOI broadcast for vector %d', ['vector'], 'ioapic.c ioapic_eoi_broadcast'),
  ioapic_mem_read: ev('ioapic mem read addr 0x%x regsel: 0x%x size 0x%x retval 0x%x', ['addr', 'regsel', 'size', 'val'], 'ioapic.c ioapic_mem_read'),
  ioapic_mem_write: ev('ioapic mem write addr 0x%x regsel: 0x%x size 0x%x val 0x%x', ['addr', 'regsel', 'size', 'val'], 'ioapic.c ioapic_mem_write'),
  apic_deliver_irq: ev('dest %d dest_mode %d delivery_mode %d vector %d trigger_mode %d', ['dest', 'dest_mode', 'delivery_mode', 'vector_num', 'trigger_mode'], 'apic.c apic_deliver_irq'),
  apic_local_deliver: ev('vector %d delivery mode %d', ['vector', 'lvt'], 'apic.c apic_local_deliver'),
  apic_register_read: ev('register 0x%02x = 0x%x', ['reg', 'val'], 'apic.c apic_register_read'),
  apic_register_write: ev('register 0x%02x = 0x%x', ['reg', 'val'], 'apic.c apic_register_write'),
  // hw/intc/trace-events — i8259.c; hw/i386/trace-events — x86.c
  pic_update_irq: ev('master %d imr %u irr %u padd %u', ['master', 'imr', 'irr', 'padd'], 'i8259.c pic_update_irq'),
  pic_set_irq: ev('master %d irq %d level %d', ['master', 'irq', 'level'], 'i8259.c pic_set_irq'),
  pic_interrupt: ev('irq %d intno %d', ['irq', 'intno'], 'i8259.c pic_read_irq'),
  pic_ioport_write: ev('master %d addr 0x%x val 0x%x', ['master', 'addr', 'val'], 'i8259.c pic_ioport_write'),
  pic_ioport_read: ev('master %d addr 0x%x val 0x%x', ['master', 'addr', 'val'], 'i8259.c pic_ioport_read'),
  x86_pic_interrupt: ev('PIC interrupt #%d level:%d', ['irqn', 'level'], 'x86.c pic_irq_request'),
  // hw/pci/trace-events — pci_host.c, msix.c
  pci_cfg_read: ev('%s %02x:%02x.%x @0x%x -> 0x%x', ['dev', 'bus', 'slot', 'func', 'offs', 'val'], 'pci_host.c pci_host_config_read_common'),
  pci_cfg_write: ev('%s %02x:%02x.%x @0x%x <- 0x%x', ['dev', 'bus', 'slot', 'func', 'offs', 'val'], 'pci_host.c pci_host_config_write_common'),
  msix_write_config: ev('dev %s enabled %d masked %d', ['name', 'enabled', 'masked'], 'msix.c msix_write_config'),
  // accel/kvm/trace-events — kvm-all.c (dev is the PCI device's QEMU name, "N/A" for the I/O APIC's routes)
  kvm_irqchip_add_msi_route: ev('dev %s vector %d virq %d', ['name', 'vector', 'virq'], 'accel/kvm/kvm-all.c kvm_irqchip_add_msi_route'),
  kvm_irqchip_update_msi_route: ev('Updating MSI route virq=%d', ['virq'], 'accel/kvm/kvm-all.c kvm_irqchip_update_msi_route'),
  kvm_irqchip_release_virq: ev('virq %d', ['virq'], 'accel/kvm/kvm-all.c kvm_irqchip_release_virq'),
  kvm_irqchip_commit_routes: ev('', [], 'accel/kvm/kvm-all.c kvm_irqchip_commit_routes'),
  // target/i386/kvm/trace-events — kvm.c
  kvm_x86_fixup_msi_error: ev('VT-d failed to remap interrupt for GSI %u', ['gsi'], 'target/i386/kvm/kvm.c kvm_arch_fixup_msi_route'),
  kvm_x86_update_msi_routes: ev('Updated %d MSI routes', ['num'], 'target/i386/kvm/kvm.c kvm_update_msi_routes_all'),
  // hw/vfio/trace-events — pci.c (name is vbasedev.name, the host device "0000:bb:dd.f"; the leading space is QEMU's)
  vfio_msi_interrupt: ev(' (%s) vector %d 0x%x/0x%x', ['name', 'index', 'addr', 'data'], 'hw/vfio/pci.c vfio_msi_interrupt'),
  vfio_msix_vector_do_use: ev(' (%s) vector %d used', ['name', 'index'], 'hw/vfio/pci.c vfio_msix_vector_do_use'),
  vfio_msix_vector_release: ev(' (%s) vector %d released', ['name', 'index'], 'hw/vfio/pci.c vfio_msix_vector_release'),
  vfio_msix_pba_enable: ev(' (%s)', ['name'], 'hw/vfio/pci.c vfio_msi_interrupt'),
  vfio_intx_enable_kvm: ev(' (%s) KVM INTx accel enabled', ['name'], 'hw/vfio/pci.c vfio_intx_enable_kvm'),
  vfio_intx_disable_kvm: ev(' (%s) KVM INTx accel disabled', ['name'], 'hw/vfio/pci.c vfio_intx_disable_kvm'),
  vfio_intx_disable: ev(' (%s)', ['name'], 'hw/vfio/pci.c vfio_intx_disable'),
  // accel/kvm/trace-events: the resamplefd QEMU signals for a level EOI under kernel-irqchip=split (ioapic_eoi_broadcast).
  kvm_resample_fd_notify: ev('gsi %d', ['gsi'], 'accel/kvm/kvm-all.c kvm_resample_fd_notify'),
};

/** True for an event QEMU defines (and irqpath renders with QEMU's format). */
export function isQemuTraceEvent(name: string): boolean {
  return Object.hasOwn(QEMU_TRACE_EVENTS, name);
}

/** `%d`, `%u`, `%x`, `%02x`, `%s` and `%%` — all QEMU's trace formats above use. */
const DIRECTIVE = /%(0?\d*)([dusx%])/g;

function renderValue(spec: string, pad: string, value: TraceValue | undefined): string {
  if (value === undefined) return '';
  if (spec === 's') return String(value);
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'boolean') v = value ? 1n : 0n;
  else if (typeof value === 'number') v = BigInt(Math.trunc(value));
  else v = BigInt(value);
  // QEMU's unsigned conversions print a negative int as its two's complement; irqpath's values are never negative
  // except a deliberate -1, printed as %d.
  let text = spec === 'x' ? (v < 0n ? (v & 0xffff_ffff_ffff_ffffn) : v).toString(16) : v.toString(10);
  const width = pad ? Number(pad) : 0;
  if (width > text.length) text = (pad.startsWith('0') ? '0' : ' ').repeat(width - text.length) + text;
  return text;
}

/** QEMU's printf of one format with the given values in order. */
export function renderQemuFormat(format: string, values: readonly TraceValue[]): string {
  let i = 0;
  return format.replace(DIRECTIVE, (_m, pad: string, spec: string) => (spec === '%' ? '%' : renderValue(spec, pad, values[i++])));
}

/** The text after the event name: QEMU's format for a QEMU event, `key value ...` for an `irqpath_*` hop. */
export function formatHopArgs(hop: TraceHop, fallback: (key: string, value: TraceValue) => string): string {
  const qemu = QEMU_TRACE_EVENTS[hop.name];
  if (qemu) return renderQemuFormat(qemu.format, hop.args.map(([, v]) => v));
  return hop.args.map(([k, v]) => `${k} ${fallback(k, v)}`).join(' ');
}

export interface CompiledQemuEvent {
  name: string;
  event: QemuTraceEvent;
  /** Matches the formatted arguments at the start of the text after the name; what follows is in the last group. */
  pattern: RegExp;
  /** For each argument: 'd' (decimal), 'x' (hex), 's' (string). */
  kinds: ('d' | 'x' | 's')[];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Turn one QEMU format into a reader for lines it produced (also lines with extra trailing arguments). */
export function compileQemuEvent(name: string, event: QemuTraceEvent): CompiledQemuEvent {
  const kinds: ('d' | 'x' | 's')[] = [];
  let source = '^';
  let last = 0;
  for (const m of event.format.matchAll(DIRECTIVE)) {
    source += escapeRegExp(event.format.slice(last, m.index));
    last = m.index! + m[0].length;
    const spec = m[2];
    if (spec === '%') source += '%';
    else if (spec === 'x') (source += '([0-9a-fA-F]+)'), kinds.push('x');
    else if (spec === 's') (source += '(.*?)'), kinds.push('s');
    else (source += '(-?\\d+)'), kinds.push('d');
  }
  source += escapeRegExp(event.format.slice(last));
  // A format ending in %s owns the rest of the line; any other keeps what follows (a patched QEMU's extra
  // arguments, such as `sid 0xffff do_fault 0`) in a last group.
  if (event.format.endsWith('%s')) source = source.slice(0, -'(.*?)'.length) + '(.*)$';
  else source += '(.*)$';
  return { name, event, pattern: new RegExp(source), kinds };
}
