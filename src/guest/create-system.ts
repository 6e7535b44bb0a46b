/**
 * `createSystem(config)`: a host machine running the Linux model as its kernel, a guest machine, and the VMM
 * between them (src/vmm). Boot a guest OS on `sys.guest` with `createGuest` as on any machine.
 *
 *   const sys = createSystem({
 *     host: { cpus: 4, iommu: { kind: 'intel' }, devices: [{ bdf: '02:00.0', msix: { entries: 4 } }] },
 *     guest: { cpus: 2, iommu: { kind: 'intel', dmaTranslation: false }, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
 *     vmm: { profile: 'hardware' },
 *   });
 */
import { buildSystem, type System } from '../vmm/system.ts';
import type { SystemConfig } from '../vmm/system-config.ts';
import { LinuxHostKernel } from './linux/host-kernel.ts';

export function createSystem(config: SystemConfig): System {
  return buildSystem(config, (host) => new LinuxHostKernel(host));
}
