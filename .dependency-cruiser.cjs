/**
 * The layering of src/ (design.md, "Layers"): imports run one way, top to bottom, and never in a cycle.
 *   cli, web  >  tools  >  guest  >  vmm  >  machine  >  devices (apic ioapic pci iommu-intel iommu-amd)  >  msi  >  core
 * test/architecture/layers.test.ts runs these rules in `npm test`.
 */
const layers = ['core', 'msi', '(apic|ioapic|pci|iommu-intel|iommu-amd)', 'machine', 'vmm', 'guest', 'tools', '(cli|web)'];

// A layer may import only from the layers listed before it.
const upward = layers.slice(0, -1).map((layer, i) => ({
  name: `no-upward-from-${layer.replace(/[()|]/g, '')}`,
  comment: `src/${layer} sits below ${layers.slice(i + 1).join(', ')} and must not import from them`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${layers.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: { path: '^src/' }, to: { circular: true } },
    ...upward,
    {
      name: 'devices-use-contracts-not-each-other',
      comment: 'a device model talks to its peers through the bus; only the AMD IOMMU is itself a PCI function',
      severity: 'error',
      from: { path: '^src/(apic|ioapic|pci|iommu-intel|iommu-amd)/' },
      to: { path: '^src/(apic|ioapic|pci|iommu-intel|iommu-amd)/', pathNot: ['^src/$1/', '^src/pci/'] },
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
