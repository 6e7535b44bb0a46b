/**
 * The kinds of boot-log line the Linux model reproduces — its interrupt-remapping, x2APIC and APIC-routing decisions
 * (see dmesg-check.ts for what is compared and how). A boot-log reader keeps these lines and no others.
 */
const COVERED = [
  /^DMAR: IOMMU (enabled|disabled)$/,
  /^DMAR: Host address width /,
  /^DMAR: DRHD base: /,
  /^DMAR: dmar\d+: reg_base_addr /,
  /^DMAR-IR: /,
  /^x2apic: IRQ remapping doesn't support X2APIC mode/,
  /^x2apic: enabled by BIOS, switching to x2apic ops/,
  /^x2apic enabled$/,
  /^x2apic disabled$/,
  /^x2apic already enabled\.$/,
  /^Apicid: [0-9a-f]+, cannot enforce nox2apic/,
  /^(APIC: )?Switched APIC routing to:? /,
  /^Not enabling interrupt remapping due to skipped IO-APIC setup/,
  /^AMD-Vi: Extended features \(0x[0-9a-f]+, 0x[0-9a-f]+\):/,
  /^AMD-Vi: Interrupt remapping enabled/,
  /^AMD-Vi: X2APIC enabled/,
  /^AMD-Vi: Virtual APIC enabled/,
  /^AMD-Vi: \[Firmware Bug\]: : (IOAPIC\[\d+\] not in IVRS table|No southbridge IOAPIC found)/,
  /^AMD-Vi: Disabling interrupt remapping/,
];

/** The decision-line kinds, one pattern each (a comparison counts only the kinds an excerpt shows). */
export const DECISION_LINE_KINDS: readonly RegExp[] = COVERED;

/** Is this (prefix-free) line one the Linux model reproduces? */
export function isModelledRemappingLine(line: string): boolean {
  return COVERED.some((re) => re.test(line));
}
