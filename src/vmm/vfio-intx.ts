/**
 * vfio INTx: an assigned device's legacy, level-triggered interrupt, as vfio-pci, KVM and QEMU carry it.
 *
 * Host (drivers/vfio/pci/vfio_pci_intrs.c). vfio-pci requests the device's host line — shared (IRQF_SHARED) when the
 * device can mask itself with Command.Interrupt Disable (PCI 2.3 DisINTx, `pci_2_3`), exclusive otherwise (and with
 * the module parameter `nointxmask`). Its handler `vfio_intx_handler`:
 * - DisINTx: if the vector is not masked already and `pci_check_and_mask_intx` finds Status.Interrupt Status set, set
 *   DisINTx (the device stops driving the line) and signal the trigger eventfd; a device that did not assert (a
 *   shared line) is left alone and the handler returns IRQ_NONE;
 * - no DisINTx: `disable_irq_nosync` on the host line (masked at the I/O APIC when it fires again) and signal.
 * The trigger eventfd is KVM's irqfd on the guest GSI the device's pin reaches in the guest (QEMU
 * `vfio_intx_enable_kvm`), with a resamplefd: KVM holds the guest's I/O APIC pin asserted until the guest EOIs it,
 * then signals the resamplefd, which vfio-pci runs as `vfio_pci_intx_unmask`: with DisINTx, `pci_check_and_unmask_intx`
 * clears DisINTx only if the device no longer asserts — if it still does, DisINTx stays and the eventfd is signalled
 * again at once ("A pending interrupt here would immediately trigger, but we can avoid that overhead by just
 * re-sending the interrupt to the user"); without DisINTx, `enable_irq`, and the still-asserted line fires again.
 *
 * The guest's Command.Interrupt Disable is virtual (vfio_pci_config.c `vfio_basic_config_write`): setting it masks
 * the interrupt at the host (`vdev->virq_disabled`, `vfio_pci_intx_mask`) and nothing is signalled; clearing it unmasks.
 * The guest reads the device's real Status.Interrupt Status.
 */
import type { PciFunction } from '../pci/pci-function.ts';
import { PCI_STATUS } from '../pci/config-space.ts';
import { PCI_STATUS_INTERRUPT } from '../pci/intx.ts';
import { PCI_COMMAND, PCI_COMMAND_INTX_DISABLE } from '../pci/type0-header.ts';
import type { EventHub } from '../core/events.ts';
import type { HostIntxLine, HostKernel } from './host-kernel.ts';
import type { EventfdToken, KvmIrqRouting } from './kvm-irq-routing.ts';
import type { SavedIntx } from './vmm-state.ts';

/** What `sys.vmm.intx()` reports for one assigned device: where its line goes, and the state a snapshot keeps. */
export interface VfioIntxReport extends Omit<SavedIntx, 'guestBdf' | 'enabled'> {
  bdf: string;
  /** QEMU's vbasedev.name: the host device "0000:bb:dd.f". */
  name: string;
  /** Host I/O APIC input and the vector the host kernel bound it to. */
  host: HostIntxLine | null;
  /** The guest GSI KVM's irqfd drives (the pin the device's INTx reaches in the guest). */
  guestGsi: number;
  /** How vfio masks: the device's DisINTx (PCI 2.3), or the host line (nointxmask). */
  maskWith: 'DisINTx' | 'host line';
}

export class VfioIntx {
  /** vdev->ctx[0].masked. */
  masked = false;
  /** vdev->virq_disabled: the guest's Command.Interrupt Disable. */
  guestDisabled = false;
  /** QEMU's intx.interrupt: the trigger eventfd (KVM's irqfd). */
  readonly trigger: EventfdToken = {};
  line: HostIntxLine | null = null;
  interrupts = 0;
  resamples = 0;
  resent = 0;
  /** Why the host refused the line, if it did. */
  refused: string | null = null;

  constructor(
    readonly guestBdf: string,
    readonly hostBdf: string,
    private readonly physical: PciFunction,
    /** The guest GSI the stand-in's pin reaches (QEMU pci_device_route_intx_to_irq). */
    readonly guestGsi: number,
    /** vdev->pci_2_3: mask with DisINTx (false: the device cannot, or vfio-pci's nointxmask). */
    readonly pci23: boolean,
    private readonly kernel: HostKernel,
    private readonly kvm: KvmIrqRouting,
    private readonly events: EventHub,
    private readonly hostEvents: EventHub,
    private readonly counters: { resamples: number; resent: number },
  ) {}

  get name(): string {
    return `0000:${this.hostBdf}`;
  }

  /**
   * QEMU vfio_intx_enable + vfio_intx_enable_kvm: VFIO_DEVICE_SET_IRQS (TRIGGER) with the irqfd's eventfd — vfio-pci
   * requests the host line (vfio_intx_set_signal) — and KVM_IRQFD on the guest GSI with the resamplefd that vfio-pci
   * runs as vfio_pci_intx_unmask (VFIO_IRQ_SET_ACTION_UNMASK with an eventfd).
   */
  enable(): void {
    if (this.line !== null) return;
    this.refused = null;
    const line = this.kernel.requestIntx(this.hostBdf, this.pci23, this.handlerRef);
    if (typeof line === 'string') {
      this.refused = line;
      return;
    }
    this.line = line;
    // vfio_intx_enable: the vector starts masked if the guest has Interrupt Disable set, and DisINTx follows
    // (pci_intx(pdev, !masked)); without DisINTx, vfio_intx_set_signal disables the new line instead.
    this.masked = this.guestDisabled;
    if (this.pci23) this.setDisIntx(this.masked);
    else if (this.masked) this.kernel.disableIntx(line);
    this.kvm.assignIrqfd(this.guestGsi, this.trigger, () => this.resample());
    if (this.events.active) this.events.hop('vfio_intx_enable_kvm', [['name', this.name]]);
  }

  /** Whether INTx is set up now (QEMU tears it down while the guest uses MSI or MSI-X). */
  get enabled(): boolean {
    return this.line !== null;
  }

  /**
   * QEMU vfio_intx_disable, when the guest enables MSI or MSI-X (vfio_msi_enable / vfio_msix_enable →
   * vfio_disable_interrupts): KVM's irqfd goes (vfio_intx_disable_kvm; a pin KVM held is released) and vfio-pci frees
   * the host line (VFIO_DEVICE_SET_IRQS with count 0 → vfio_intx_disable → free_irq).
   */
  disable(): void {
    if (this.line === null) return;
    this.kvm.deassignIrqfd(this.trigger);
    if (this.events.active) this.events.hop('vfio_intx_disable_kvm', [['name', this.name]]);
    this.kernel.freeIntx(this.line, this.handlerRef);
    this.line = null;
    this.masked = false;
    if (this.events.active) this.events.hop('vfio_intx_disable', [['name', this.name]]);
  }

  /** The handler as registered with the host kernel (one function, so free_irq can find it). */
  private readonly handlerRef = (): boolean => this.handler();

  /** vfio_intx_handler on the host line. True for IRQ_HANDLED. */
  handler(): boolean {
    let handled = false;
    let how = 'not asserted';
    if (!this.pci23) {
      this.kernel.disableIntx(this.line!);
      this.masked = true;
      handled = true;
      how = 'disable_irq_nosync';
    } else if (!this.masked && this.checkAndMask()) {
      this.masked = true;
      handled = true;
      how = 'DisINTx';
    } else if (this.masked) {
      how = 'already masked';
    }
    if (this.hostEvents.active) this.hostEvents.hop('irqpath_vfio_intx_handler', [['name', this.name], ['masked', how], ['ret', handled ? 'IRQ_HANDLED' : 'IRQ_NONE']]);
    if (handled) {
      this.interrupts++;
      this.send();
    }
    return handled;
  }

  /** vfio_send_intx_eventfd: nothing while the guest has Interrupt Disable set. */
  private send(): void {
    if (this.guestDisabled) return;
    this.kvm.signal(this.trigger);
  }

  /** The resamplefd fired (the guest EOI'd the pin): vfio_pci_intx_unmask. */
  private resample(): void {
    this.resamples++;
    this.counters.resamples++;
    if (this.events.active) this.events.hop('kvm_resample_fd_notify', [['gsi', this.guestGsi]]);
    this.unmask();
  }

  /** vfio_pci_intx_unmask: unmask at the host, or — the device still asserting — re-send at once. */
  unmask(): void {
    let resend = false;
    if (this.masked && !this.guestDisabled) {
      if (this.pci23) {
        resend = !this.checkAndUnmask();
        this.masked = resend;
      } else {
        // vfio-pci holds its irqlock with interrupts off: the line, still asserted, fires only after masked is clear.
        this.masked = false;
        this.kernel.enableIntx(this.line!);
      }
    }
    if (this.hostEvents.active) this.hostEvents.hop('irqpath_vfio_pci_intx_unmask', [['name', this.name], ['pending', resend ? 1 : 0]]);
    if (resend) {
      this.resent++;
      this.counters.resent++;
      this.send();
    }
  }

  /** vfio_pci_intx_mask: DisINTx, or disable the host line. */
  mask(): void {
    if (this.masked) return;
    if (this.pci23) this.setDisIntx(true);
    else this.kernel.disableIntx(this.line!);
    this.masked = true;
  }

  /** The guest wrote its Command register: Interrupt Disable is virtual (vfio_basic_config_write). */
  guestCommandWritten(interruptDisable: boolean): void {
    if (interruptDisable && !this.guestDisabled) {
      this.guestDisabled = true;
      this.mask();
    } else if (!interruptDisable && this.guestDisabled) {
      this.guestDisabled = false;
      this.unmask();
    }
  }

  /** pci_check_and_mask_intx: set DisINTx only if the device asserts (Status.Interrupt Status). */
  private checkAndMask(): boolean {
    if ((this.physical.configRead(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT) === 0) return false;
    this.setDisIntx(true);
    return true;
  }

  /** pci_check_and_unmask_intx: clear DisINTx only if the device no longer asserts. */
  private checkAndUnmask(): boolean {
    if ((this.physical.configRead(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT) !== 0) return false;
    this.setDisIntx(false);
    return true;
  }

  private setDisIntx(on: boolean): void {
    const command = this.physical.configRead(PCI_COMMAND, 2);
    const next = on ? command | PCI_COMMAND_INTX_DISABLE : command & ~PCI_COMMAND_INTX_DISABLE;
    if (next !== command) this.physical.configWrite(PCI_COMMAND, 2, next);
  }

  save(): SavedIntx {
    return { guestBdf: this.guestBdf, enabled: this.enabled, masked: this.masked, guestDisabled: this.guestDisabled, guestLineAsserted: this.kvm.resampleLevel(this.guestGsi), interrupts: this.interrupts, resamples: this.resamples, resent: this.resent };
  }

  /** Back to a saved state; the guest machine's wires (restored with it) already count KVM's hold on the pin. */
  restore(s: SavedIntx): void {
    this.masked = s.masked;
    this.guestDisabled = s.guestDisabled;
    this.interrupts = s.interrupts;
    this.resamples = s.resamples;
    this.resent = s.resent;
    this.kvm.restoreResampleLevel(this.guestGsi, s.guestLineAsserted);
  }

  report(): VfioIntxReport {
    return {
      bdf: this.guestBdf, name: this.name, host: this.line === null ? null : { ...this.line }, guestGsi: this.guestGsi,
      maskWith: this.pci23 ? 'DisINTx' : 'host line', masked: this.masked, guestDisabled: this.guestDisabled,
      guestLineAsserted: this.kvm.resampleLevel(this.guestGsi), interrupts: this.interrupts, resamples: this.resamples, resent: this.resent,
    };
  }
}
