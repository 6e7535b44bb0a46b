/**
 * The Windows guest model: the register programming attributed to Windows Server 2022-era guests
 * in the qemu-devel thread "More than 255 vcpus Windows VM setup without viommu ?" (Jul–Oct 2024), with each deviation a named quirk
 * (quirks.ts). Windows prints no boot log; the model's lines start with "windows: " and describe its decisions.
 *
 * What the model ASSUMES where no public source says (each stated again where it is used):
 * - Windows starts every CPU in x2APIC mode and applies no APIC-ID limit of its own.
 * - With remapping in x2APIC mode it targets each CPU with a logical x2APIC-cluster destination, delivery Fixed,
 *   SVT 0 (the qemu-devel trace of 2024-07-11: IRTE high 0x100d10005, low 0 → DM logical, dest 0x1, SVT 0).
 * - IRTE indices are allocated in setup order. On Intel's global table I/O APIC pins and MSIs share one allocator:
 *   the published QEMU trace of a Windows boot (test/fixtures/qemu-trace/windows-intel-host.log) shows I/O APIC
 *   pin 2, the first interrupt Windows sets up, at IRTE 0 (`vtd_ir_irte_get index 0 …`, RTE message 0xfee00010);
 *   on an AMD host the same pin's AMD-style RTE carries index 0 (`addr 0xfee00004 data 0x0`). A pin set up again
 *   keeps its entry. On AMD-Vi the I/O APIC has a table of its own, where the model keeps index = pin (no public
 *   trace shows Windows on an AMD IOMMU).
 * - Device vectors come from 0x51 upward per CPU (Windows' real choice depends on IRQL; the trace's 0xD1 is the
 *   clock's).
 * - Level-triggered pins: with an Intel IOMMU the RTE holds the real vector and the IRTE is level, so the local
 *   APIC's EOI broadcast clears Remote IRR; where Windows programs AMD-style RTEs (index in the vector field) it
 *   writes the I/O APIC EOI register with that index, as any OS must with such RTEs.
 * - Windows uses the IOMMU only for interrupt remapping here; DMA remapping is not modelled.
 * - The register sequence that enables remapping is Linux's (intel-ir.ts / amd-ir.ts); Windows' own order is not
 *   public.
 */
import { UsageError } from '../../core/errors.ts';
import type { Machine } from '../../machine/machine.ts';
import { encodeRteRemappable, rteToMessage } from '../../msi/formats/ioapic-rte.ts';
import { encodeWindowsHighBits } from '../../msi/formats/windows-high-bits.ts';
import { MSI_ADDR_DM } from '../../msi/formats/compat.ts';
import { BootLog } from '../boot-log.ts';
import { firmwareHandoff } from '../firmware-handoff.ts';
import { GuestBase, type CheckedRequest } from '../guest-base.ts';
import type { ProgrammedInterrupt } from '../guest-os.ts';
import { ioapicVersion } from '../ioapic-access.ts';
import { AmdIrDriver } from '../drivers/amd-ir.ts';
import { IntelIrDriver } from '../drivers/intel-ir.ts';
import { composeAmdRemappable, composeApicMessage, composeIntelRemappable, rteFromMessage, type ComposedMessage } from '../drivers/msi-compose.ts';
import { sendInitSipiSipi, setupLocalApic } from '../smp-bringup.ts';
import { VectorAllocator } from '../vector-allocator.ts';
import { resolveWindowsQuirks, type WindowsQuirks } from './quirks.ts';

export const WINDOWS_FIRST_DEVICE_VECTOR = 0x51;
export const WINDOWS_LAST_DEVICE_VECTOR = 0xcf;

type Iommu = 'intel' | 'amd' | null;

export class WindowsGuest extends GuestBase {
  readonly os = 'windows';
  readonly quirks: Readonly<WindowsQuirks>;
  private readonly vectors: VectorAllocator;
  private readonly logicalId: Uint32Array;
  private intel: IntelIrDriver | null = null;
  private amd: AmdIrDriver | null = null;
  private iommu: Iommu = null;
  /** Remapping can name 32-bit destinations (Intel EIME, AMD XT). */
  private remapX2apic = false;
  private amdCpu: boolean;
  /** The quirk is in effect: AMD CPU, Intel IOMMU, quirk on. */
  private amdStyleOnIntel = false;
  /** Windows' per-device "AMD" index counter, used when it writes AMD-style MSIs to an Intel IOMMU. */
  private readonly amdStyleNext = new Map<number, number>();
  private readonly msiBase = new Map<number, number>();
  /** The IRTE each I/O APIC pin was given (setup order), so re-programming a pin rewrites its entry. */
  private readonly pinIrte = new Map<number, number>();
  private pins = 0;

  constructor(machine: Machine, quirks?: Partial<WindowsQuirks>) {
    super(machine);
    this.quirks = Object.freeze(resolveWindowsQuirks(quirks));
    this.vectors = new VectorAllocator(machine.cpuCount, WINDOWS_FIRST_DEVICE_VECTOR, WINDOWS_LAST_DEVICE_VECTOR);
    this.logicalId = new Uint32Array(machine.cpuCount);
    this.amdCpu = machine.firmware.cpuid.vendor === 'AuthenticAMD';
  }

  boot(): void {
    if (this.booted) throw new UsageError('boot(): the windows guest has already booted');
    const m = this.machine;
    const log = this.log;
    for (const [k, v] of Object.entries(this.quirks)) log.decide(`quirk.${k}`, v);
    const handoff = firmwareHandoff(m);
    log.decide('x2apicByFirmware', handoff.x2apicByFirmware);
    this.pins = ioapicVersion(this.bsp, this.ioapicBase).pins;
    this.prepareRemapping();

    // Every processor in x2APIC mode, no APIC-ID limit (model assumption) — on a CPU that has x2APIC at all.
    const x2apic = m.firmware.cpuid.x2apic;
    this.logicalId[0] = setupLocalApic(this.bsp, x2apic);
    this.markOnline(0);
    for (let cpu = 1; cpu < m.cpuCount; cpu++) {
      sendInitSipiSipi(this.bsp, this.apicIdOf(cpu));
      if (m.cpu(cpu).runState !== 'running') continue;
      this.logicalId[cpu] = setupLocalApic(m.cpu(cpu), x2apic);
      this.markOnline(cpu);
    }
    log.print(`windows: ${x2apic ? 'x2APIC' : 'xAPIC'} mode, ${this.online.length} of ${m.cpuCount} processors started`);
    log.decide('x2apic', x2apic);
    log.decide('onlineCpus', this.online.length);
    this.booted = true;
  }

  private prepareRemapping(): void {
    const fw = this.machine.firmware;
    const log = this.log;
    // The drivers print Linux's lines; Windows prints none, so they log into a scratch log.
    const scratch = new BootLog();
    if (fw.dmar !== null) {
      const drv = new IntelIrDriver(this.machine, this.mem, scratch);
      const p = drv.probe(fw.madt.ioapic.id);
      // x2APIC-mode remapping (EIM) only for processors that run in x2APIC mode.
      const eim = p.eim && fw.cpuid.x2apic;
      if (p.ir && drv.enable(eim)) {
        this.intel = drv;
        this.iommu = 'intel';
        this.remapX2apic = eim;
        log.print(`windows: interrupt remapping through Intel VT-d (${eim ? 'x2APIC' : 'xAPIC'} mode)${p.sagaw === 0 ? '; SAGAW = 0, DMA remapping not used' : ''}`);
      }
    } else if (fw.ivrs !== null) {
      const drv = new AmdIrDriver(this.machine, this.mem, scratch);
      const p = drv.probe();
      const xt = p.xtSup && p.gaSup && fw.cpuid.x2apic;
      if (drv.enable(xt, this.machine.devices.map((d) => d.requesterId))) {
        this.amd = drv;
        this.iommu = 'amd';
        this.remapX2apic = xt;
        log.print(`windows: interrupt remapping through AMD-Vi (${xt ? 'x2APIC' : 'xAPIC'} mode)${p.noDmaTranslation ? '; HATS = 11b, DMA remapping not used' : ''}`);
      }
    }
    this.amdStyleOnIntel = this.iommu === 'intel' && this.amdCpu && this.quirks.amdCpuAssumesAmdIommu;
    if (this.amdStyleOnIntel) log.print('windows: AMD processor: programming AMD-style interrupt messages (quirk amdCpuAssumesAmdIommu)');
    log.decide('interruptRemapping', this.iommu === null ? 'off' : `${this.iommu}-${this.remapX2apic ? 'x2apic' : 'xapic'}`);
    log.decide('amdStyleMessagesOnIntelIommu', this.amdStyleOnIntel);
  }

  // ---- Interrupt setup ------------------------------------------------------------------------------------------

  /** Can this OS, in its configuration, address `cpu` at all? (The no-IOMMU high-bits quirk "can", wrongly.) */
  private reachable(cpu: number): boolean {
    const id = this.apicIdOf(cpu);
    if (id <= 255 || this.remapX2apic) return true;
    if (this.iommu !== null) return false;
    if (this.usesExtDestId() && id <= 32767) return true;
    return this.quirks.msiHighAddressBits;
  }

  private usesExtDestId(): boolean {
    return this.machine.firmware.cpuid.msiExtDestId && !this.quirks.ignoresExtDestId;
  }

  protected program(req: CheckedRequest, cpu: number, note: string | undefined): ProgrammedInterrupt {
    if (!this.reachable(cpu)) {
      const why = `APIC ID ${this.apicIdOf(cpu)} cannot be addressed in this configuration; effective affinity CPU 0`;
      note = note ? `${note}; ${why}` : why;
      cpu = 0;
    }
    const vector = this.vectors.allocate(cpu);
    if (vector === null) return this.refused(req, cpu, `no free vector on CPU ${cpu}`);
    const base: ProgrammedInterrupt = { request: req.request, status: 'programmed', cpu, apicId: this.apicIdOf(cpu), vector, encoding: '' };
    if (note !== undefined) base.note = note;
    if (this.amdStyleOnIntel) return this.programAmdStyleOnIntel(req, base);
    if (this.intel) return this.programIntel(req, base);
    if (this.amd) return this.programAmd(req, base);
    return this.programDirect(req, base);
  }

  /** Logical x2APIC-cluster destination with remapping in x2APIC mode, else the physical APIC ID. */
  private destination(cpu: number): { dest: number; destMode: 0 | 1 } {
    return this.remapX2apic ? { dest: this.logicalId[cpu], destMode: 1 } : { dest: this.apicIdOf(cpu), destMode: 0 };
  }

  private intelIrte(cpu: number, vector: number, level: boolean) {
    const d = this.destination(cpu);
    return { vector, dest: d.dest, destMode: d.destMode, redirectionHint: 0 as const, trigger: (level ? 1 : 0) as 0 | 1, deliveryMode: 0, sid: 0, sq: 0, svt: 0 };
  }

  /** AMD-style RTE as Windows writes it: index in the vector field (and 10:8), destination mode set, dest 0. */
  private amdStyleRte(index: number, req: CheckedRequest): bigint {
    const msg: ComposedMessage = { addr: BigInt((0xfee00000 | MSI_ADDR_DM) >>> 0), data: index };
    return rteFromMessage(msg, req.pinSetup);
  }

  private programAmdStyleOnIntel(req: CheckedRequest, out: ProgrammedInterrupt): ProgrammedInterrupt {
    const drv = this.intel!;
    if (req.kind === 'ioapic') {
      const index = this.pinIndex(req.pin, () => drv.allocIrte(1));
      if (index === null) return this.refused(req, out.cpu, 'interrupt remapping table full');
      const level = req.pinSetup.trigger === 'level';
      drv.writeIrte(index, this.intelIrte(out.cpu, out.vector, level));
      const rte = this.amdStyleRte(index, req);
      this.writeRte(req.pin, rte);
      if (level) this.registerIoapicEoi(out.cpu, out.vector, req.pin, index & 0xff);
      return { ...out, message: rteToMessage(rte), rte, irteIndex: index, encoding: 'amd-remappable' };
    }
    // PCI: an AMD-style per-device index, and no IRTE written anywhere.
    const devid = req.device!.requesterId;
    let index: number;
    if (req.kind === 'msi') {
      let base = this.msiBase.get(devid);
      if (base === undefined) {
        base = this.takeAmdStyleIndices(devid, req.msi!.vectorsCapable);
        this.msiBase.set(devid, base);
        this.writeMsi(req, composeAmdRemappable(base, false), Math.log2(req.msi!.vectorsCapable));
      }
      index = base + req.index;
    } else {
      index = this.takeAmdStyleIndices(devid, 1);
      this.writeMsix(req, composeAmdRemappable(index, false));
    }
    const why = `AMD-style index ${index} for ${req.device!.bdf}; no Intel IRTE written (quirk amdCpuAssumesAmdIommu)`;
    return { ...out, note: out.note ? `${out.note}; ${why}` : why, message: composeAmdRemappable(index, false), encoding: 'amd-remappable' };
  }

  /** The pin's IRTE index: the one it was given at its first setup, else the next free one (setup order). */
  private pinIndex(pin: number, allocate: () => number | null): number | null {
    const known = this.pinIrte.get(pin);
    if (known !== undefined) return known;
    const index = allocate();
    if (index !== null) this.pinIrte.set(pin, index);
    return index;
  }

  private takeAmdStyleIndices(devid: number, count: number): number {
    const next = this.amdStyleNext.get(devid) ?? 0;
    const base = Math.ceil(next / count) * count;
    this.amdStyleNext.set(devid, base + count);
    return base;
  }

  private programIntel(req: CheckedRequest, out: ProgrammedInterrupt): ProgrammedInterrupt {
    const drv = this.intel!;
    if (req.kind === 'ioapic') {
      const level = req.pinSetup.trigger === 'level';
      const index = this.pinIndex(req.pin, () => drv.allocIrte(1));
      if (index === null) return this.refused(req, out.cpu, 'interrupt remapping table full');
      drv.writeIrte(index, this.intelIrte(out.cpu, out.vector, level));
      // Remappable RTE with the real vector in 7:0, so the EOI broadcast of a level interrupt matches it.
      const rte = encodeRteRemappable({
        index,
        vector: out.vector,
        triggerMode: level ? 1 : 0,
        polarity: req.pinSetup.polarity === 'low' ? 1 : 0,
      });
      this.writeRte(req.pin, rte);
      return { ...out, message: rteToMessage(rte), rte, irteIndex: index, encoding: 'intel-remappable' };
    }
    const devid = req.device!.requesterId;
    let index: number | null;
    if (req.kind === 'msi') {
      let base = this.msiBase.get(devid);
      if (base === undefined) {
        base = drv.allocIrte(req.msi!.vectorsCapable) ?? undefined;
        if (base === undefined) return this.refused(req, out.cpu, 'interrupt remapping table full');
        this.msiBase.set(devid, base);
        this.writeMsi(req, composeIntelRemappable(base, 0), Math.log2(req.msi!.vectorsCapable));
      }
      index = base + req.index;
      drv.writeIrte(index, this.intelIrte(out.cpu, out.vector, false));
      return { ...out, message: composeIntelRemappable(base, req.index), irteIndex: index, encoding: 'intel-remappable' };
    }
    index = drv.allocIrte(1);
    if (index === null) return this.refused(req, out.cpu, 'interrupt remapping table full');
    drv.writeIrte(index, this.intelIrte(out.cpu, out.vector, false));
    const msg = composeIntelRemappable(index, 0);
    this.writeMsix(req, msg);
    return { ...out, message: msg, irteIndex: index, encoding: 'intel-remappable' };
  }

  private programAmd(req: CheckedRequest, out: ProgrammedInterrupt): ProgrammedInterrupt {
    const drv = this.amd!;
    const d = this.destination(out.cpu);
    const fields = { vector: out.vector, dest: d.dest, destMode: d.destMode };
    if (req.kind === 'ioapic') {
      const devid = drv.ioapicDeviceId;
      // The I/O APIC's own table: index = pin (model assumption; no trace shows Windows on an AMD IOMMU).
      const index = req.pin;
      drv.claimIndex(devid, index);
      drv.writeIrte(devid, index, fields);
      const rte = this.amdStyleRte(index, req);
      this.writeRte(req.pin, rte);
      if (req.pinSetup.trigger === 'level') this.registerIoapicEoi(out.cpu, out.vector, req.pin, index & 0xff);
      return { ...out, message: rteToMessage(rte), rte, irteIndex: index, encoding: 'amd-remappable' };
    }
    const devid = req.device!.requesterId;
    if (req.kind === 'msi') {
      let base = this.msiBase.get(devid);
      if (base === undefined) {
        base = drv.allocIndex(devid, req.msi!.vectorsCapable) ?? undefined;
        if (base === undefined) return this.refused(req, out.cpu, 'interrupt remapping table full');
        this.msiBase.set(devid, base);
        this.writeMsi(req, composeAmdRemappable(base, drv.twoKMode), Math.log2(req.msi!.vectorsCapable));
      }
      const index = base + req.index;
      drv.writeIrte(devid, index, fields);
      return { ...out, message: composeAmdRemappable(base | req.index, drv.twoKMode), irteIndex: index, encoding: 'amd-remappable' };
    }
    const index = drv.allocIndex(devid, 1);
    if (index === null) return this.refused(req, out.cpu, 'interrupt remapping table full');
    drv.writeIrte(devid, index, fields);
    const msg = composeAmdRemappable(index, drv.twoKMode);
    this.writeMsix(req, msg);
    return { ...out, message: msg, irteIndex: index, encoding: 'amd-remappable' };
  }

  /** No remapping: compatibility format, the 15-bit extension (quirk off), or the high-bits layout (quirk on). */
  private programDirect(req: CheckedRequest, out: ProgrammedInterrupt): ProgrammedInterrupt {
    const dest = out.apicId;
    if (req.kind === 'msi' && req.index !== 0) {
      return this.refused(req, out.cpu, 'multi-message MSI without interrupt remapping is not modelled');
    }
    let msg: ComposedMessage;
    let encoding: string;
    if (dest <= 255 || (this.usesExtDestId() && dest <= 32767)) {
      msg = composeApicMessage(dest, out.vector, false);
      encoding = dest <= 255 ? 'compat' : 'ext-dest-id';
    } else if (req.kind === 'ioapic') {
      // Model assumption (the qemu-devel thread does not say): the RTE keeps destination bits 7:0 only.
      msg = composeApicMessage(dest & 0xff, out.vector, false);
      encoding = 'compat-truncated';
      const why = `an RTE holds only destination bits 7:0: APIC ID ${dest} becomes ${dest & 0xff} (model assumption)`;
      out = { ...out, note: out.note ? `${out.note}; ${why}` : why };
    } else {
      msg = encodeWindowsHighBits({ destination: dest, vector: out.vector });
      encoding = 'windows-high-bits';
    }
    if (req.kind === 'ioapic') {
      const rte = rteFromMessage(msg, req.pinSetup);
      this.writeRte(req.pin, rte);
      return { ...out, message: rteToMessage(rte), rte, encoding };
    }
    if (req.kind === 'msi') this.writeMsi(req, msg, 0);
    else this.writeMsix(req, msg);
    return { ...out, message: msg, encoding };
  }
}

