import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/guest/create-system.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { resolveSystemConfig, type SystemConfig } from '../../src/vmm/system-config.ts';

const base = (): SystemConfig => ({
  host: { cpus: 2, iommu: { kind: 'intel' }, devices: [{ bdf: '02:00.0', msix: { entries: 4 } }] },
  guest: { cpus: 2, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
  vmm: { profile: 'hardware' },
});

function fieldOf(mutate: (c: Record<string, any>) => void): string {
  const c = base() as unknown as Record<string, any>;
  mutate(c);
  try {
    createSystem(c as unknown as SystemConfig);
  } catch (e) {
    if (e instanceof ConfigError) return e.field;
    throw e;
  }
  return '(accepted)';
}

describe('system config validation names the field', () => {
  it('accepts the minimal system', () => {
    expect(fieldOf(() => {})).toBe('(accepted)');
  });
  it.each([
    ['an unknown top-level field', (c: any) => (c.hypervisor = {}), 'hypervisor'],
    ['an unknown vmm field', (c: any) => (c.vmm.posted = true), 'vmm.posted'],
    ['an unknown profile', (c: any) => (c.vmm.profile = 'kvmtool'), 'vmm.profile'],
    ['a missing profile', (c: any) => delete c.vmm.profile, 'vmm.profile'],
    ['a non-boolean msiNoVirt', (c: any) => (c.vmm.msiNoVirt = 'yes'), 'vmm.msiNoVirt'],
    ['an unknown quirk', (c: any) => (c.vmm.quirks = ['ath-bar0', 'igd']), 'vmm.quirks[1]'],
    ['a quirk listed twice', (c: any) => (c.vmm.quirks = ['ath-bar0', 'ath-bar0']), 'vmm.quirks[1]'],
    ['a bad host machine field', (c: any) => (c.host.cpus = 0), 'host.cpus'],
    ['a bad host IOMMU option', (c: any) => (c.host.iommu.awBits = 40), 'host.iommu.awBits'],
    ['an unknown guest machine field', (c: any) => (c.guest.vcpus = 2), 'guest.vcpus'],
    ['an unknown field in an assignment', (c: any) => (c.guest.assigned[0].rom = false), 'guest.assigned[0].rom'],
    ['a malformed guest BDF', (c: any) => (c.guest.assigned[0].bdf = '5'), 'guest.assigned[0].bdf'],
    ['a host device that does not exist', (c: any) => (c.guest.assigned[0].host = '03:00.0'), 'guest.assigned[0].host'],
    ['a host device assigned twice', (c: any) => c.guest.assigned.push({ bdf: '00:06.0', host: '02:00.0' }), 'guest.assigned[1].host'],
    ['a guest BDF taken by a guest device', (c: any) => (c.guest.devices = [{ bdf: '00:05.0', msi: { vectors: 1 } }]), 'guest.assigned[0].bdf'],
    ['posting without a posting-capable host IOMMU (CAP.PI off)', (c: any) => (c.vmm.postedInterrupts = true), 'vmm.postedInterrupts'],
    ['a non-boolean nativeRemapBySourceId', (c: any) => (c.hypothetical = { nativeRemapBySourceId: 1 }), 'hypothetical.nativeRemapBySourceId'],
    ['nativeRemapBySourceId without a host IOMMU (it is a mode of the host IOMMU)', (c: any) => { delete c.host.iommu; c.hypothetical = { nativeRemapBySourceId: true }; }, 'hypothetical.nativeRemapBySourceId'],
    ['the same at its older place under vmm', (c: any) => { delete c.host.iommu; c.vmm.nativeRemapBySourceId = true; }, 'vmm.nativeRemapBySourceId'],
    ['an unknown hypothetical field', (c: any) => (c.hypothetical = { magic: true }), 'hypothetical.magic'],
    ['a non-boolean athBar0Quirk', (c: any) => (c.vmm.athBar0Quirk = 'yes'), 'vmm.athBar0Quirk'],
    ['posting on an AMD host whose IOMMU has no guest vAPIC (EFR.GAMSup = 0)', (c: any) => { c.host.iommu = { kind: 'amd' }; c.vmm.postedInterrupts = true; }, 'vmm.postedInterrupts'],
  ])('%s', (_what, mutate, field) => {
    expect(fieldOf(mutate)).toBe(field);
  });

  it('a host device with no MSI, MSI-X or INTx pin cannot be assigned (nothing to route); INTx alone can', () => {
    expect(fieldOf((c) => (c.host.devices = [{ bdf: '02:00.0' }]))).toBe('guest.assigned[0].host');
    expect(fieldOf((c) => (c.host.devices = [{ bdf: '02:00.0', intx: 'B' }]))).toBe('(accepted)');
    expect(fieldOf((c) => (c.vmm.nointxmask = 'yes'))).toBe('vmm.nointxmask');
  });

  it('reads the older spellings (vmm.quirks list, vmm.nativeRemapBySourceId) into the same resolved configuration', () => {
    const older = resolveSystemConfig({ ...base(), vmm: { profile: 'hardware', quirks: ['ath-bar0', 'ims-trap'], nativeRemapBySourceId: true } });
    const current = resolveSystemConfig({ ...base(), vmm: { profile: 'hardware', athBar0Quirk: true, imsTrap: true }, hypothetical: { nativeRemapBySourceId: true } });
    expect(older.vmm).toEqual(current.vmm);
    expect(older.vmm).toEqual({ profile: 'hardware', postedInterrupts: false, msiNoVirt: false, pvComposeMsi: false, athBar0Quirk: true, imsTrap: true, nointxmask: false });
    expect(older.hypothetical).toEqual({ nativeRemapBySourceId: true });
    expect(current.hypothetical).toEqual({ nativeRemapBySourceId: true });
  });

  it('reports every shape problem of host, guest and VMM at once, each field named from the system', () => {
    const c = base() as unknown as Record<string, any>;
    c.host.cpus = 0;
    c.guest.assigned[0].bdf = '5';
    c.vmm.profile = 'kvmtool';
    c.vmm.quirks = ['igd'];
    let error: unknown;
    try {
      resolveSystemConfig(c as unknown as SystemConfig);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      { field: 'host.cpus', reason: 'must be between 1 and 32768, got 0' },
      { field: 'guest.assigned[0].bdf', reason: '"5" is not a PCI address of the form bb:dd.f (e.g. 00:03.0)' },
      { field: 'vmm.profile', reason: 'must be one of hardware, qemu, qemu-amd-hack, got "kvmtool"' },
      { field: 'vmm.quirks[0]', reason: 'unknown quirk "igd" (known: ath-bar0, ims-trap; the current spelling is vmm.athBar0Quirk / vmm.imsTrap: true)' },
    ]);
  });
});
