/**
 * The layering of src/ (docs/architecture.md): imports run one way, top to bottom, and never in a cycle.
 *   cli, web  >  tools  >  scenario  >  guest  >  vmm  >  machine  >  devices  >  msi  >  core
 * devices = apic ioapic pci iommu-intel iommu-amd pic hpet pit rtc. The two root files are the package's entry points: src/index.ts
 * (the browser-safe library) sits above tools and below cli/web; src/testing.ts (Node-side assertions) may also use
 * cli's file loading. Inside guest: the shared OS plumbing (src/guest/*.ts) < the drivers both OS models use
 * (src/guest/drivers/) < the OS models (src/guest/{linux,windows}/) < the factories (create-guest.ts, create-system.ts).
 * test/architecture/layers.test.ts runs these rules in `npm test` and checks that every folder of src/ is named here.
 */
const DEVICES = '(apic|ioapic|pci|iommu-intel|iommu-amd|pic|hpet|pit|rtc)';
const layers = ['core', 'msi', DEVICES, 'machine', 'vmm', 'guest', 'scenario', 'tools', '(cli|web)'];

// A layer may import only from the layers listed before it.
const upward = layers.slice(0, -1).map((layer, i) => ({
  name: `no-upward-from-${layer.replace(/[()|]/g, '')}`,
  comment: `src/${layer} sits below ${layers.slice(i + 1).join(', ')} and must not import from them`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${layers.slice(i + 1).join('|')})/|^src/[^/]+\\.ts$` },
}));

const GUEST_OS = '^src/guest/(linux|windows|drivers)/';
const GUEST_FACTORIES = '^src/guest/(create-guest|create-system)\\.ts$';

module.exports = {
  layers,
  rootFiles: ['index.ts', 'testing.ts', 'index.cts', 'testing.cts'],
  forbidden: [
    { name: 'no-circular', severity: 'error', from: { path: '^src/' }, to: { circular: true } },
    ...upward,
    {
      name: 'library-entry-below-cli',
      comment: 'src/index.ts is the browser-safe library: it exports from every layer but cli and web',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: { path: '^src/(cli|web)/|^src/testing\\.ts$' },
    },
    {
      name: 'testing-entry-not-web',
      comment: 'src/testing.ts is the Node-side assertion library: it may load scenario files through cli, never the page',
      severity: 'error',
      from: { path: '^src/testing\\.ts$' },
      to: { path: '^src/web/' },
    },
    {
      name: 'devices-use-contracts-not-each-other',
      comment: 'a device model talks to its peers through the bus; only the AMD IOMMU is itself a PCI function',
      severity: 'error',
      from: { path: `^src/${DEVICES}/` },
      to: { path: `^src/${DEVICES}/`, pathNot: ['^src/$1/', '^src/pci/'] },
    },
    {
      name: 'guest-plumbing-below-os-models',
      comment: 'the shared guest plumbing (src/guest/*.ts) serves the OS models and must not import them',
      severity: 'error',
      from: { path: '^src/guest/[^/]+\\.ts$', pathNot: GUEST_FACTORIES },
      to: { path: `${GUEST_OS}|${GUEST_FACTORIES}` },
    },
    {
      name: 'os-models-independent',
      comment: 'the Linux and Windows models are siblings over the shared drivers: neither imports the other',
      severity: 'error',
      from: { path: '^src/guest/(linux|windows)/' },
      to: { path: `${GUEST_OS}|${GUEST_FACTORIES}`, pathNot: ['^src/guest/$1/', '^src/guest/drivers/'] },
    },
    {
      name: 'drivers-below-os-models',
      comment: 'the drivers (IOMMU remapping drivers, message composition, device quirks) serve both OS models',
      severity: 'error',
      from: { path: '^src/guest/drivers/' },
      to: { path: `^src/guest/(linux|windows)/|${GUEST_FACTORIES}` },
    },
    {
      name: 'no-node-below-cli',
      comment: 'the library runs in a browser: Node built-ins only in src/cli (test/architecture/browser-bundle.test.ts bundles it)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { dependencyTypes: ['core'] },
    },
  ],
  options: { tsPreCompilationDeps: true, doNotFollow: { path: 'node_modules' } },
};
