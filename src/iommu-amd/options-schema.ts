/**
 * The shape of `iommu: { kind: 'amd', ... }`: what each field alone must be, declared once for createMachine, the
 * unit's own resolution (options.ts, which adds the rules relating fields) and the scenario file's JSON Schema. Kept
 * apart from options.ts so the package's declarations, which name the resolved options, never reach valibot's.
 */
import * as v from 'valibot';
import type { AmdIommuOptions } from '../core/config-types.ts';
import { flag, integer, mustBe, oneOf, pciAddress, registerValue, strictFields, type SameType } from '../core/config-schema.ts';
import { MMIO_SIZE } from './registers.ts';

const address = () => pciAddress(mustBe('a PCI address "bb:dd.f"'));

export const AmdIommuOptionsSchema = strictFields({
  kind: v.literal('amd', mustBe("'amd' for the AMD IOMMU")),
  base: v.optional(
    v.pipe(
      integer(0, 2 ** 52 - MMIO_SIZE, mustBe('an integer physical address below 2^52')),
      // The capability's Base Address Low register holds only bits 31:14, so the window is 16 KiB aligned.
      v.check((base) => base % MMIO_SIZE === 0, (i) => `${hex(i.input)} is not 16 KiB aligned (capability base register bits 13:0 are not stored)`),
      v.check((base) => base > 0xfeefffff || base + MMIO_SIZE <= 0xfee00000, (i) => `${hex(i.input)} overlaps the interrupt window 0xFEE00000-0xFEEFFFFF`),
    ),
  ),
  xt: v.optional(flag()),
  ga: v.optional(flag()),
  vapic: v.optional(flag()),
  intRemap2k: v.optional(flag()),
  dmaTranslation: v.optional(flag()),
  hostLevels: v.optional(oneOf([4, 5, 6], mustBe('4, 5 or 6 (EFR.HATS 00b/01b/10b)'))),
  ioapicDeviceId: v.optional(address()),
  bdf: v.optional(address()),
  efr: v.optional(registerValue(64)),
  efr2: v.optional(registerValue(64)),
  ioapicInIvrs: v.optional(flag()),
  hpet: v.nullish(v.object({ id: integer(0, 255, mustBe('an HPET number 0..255')), deviceId: address() }, 'must be { id, deviceId }')),
});
/** The public interface (core/config-types.ts) says what this schema accepts, no more and no less. */
const schemaMatchesInterface: SameType<v.InferInput<typeof AmdIommuOptionsSchema>, AmdIommuOptions> = true;
void schemaMatchesInterface;

function hex(n: unknown): string {
  return `0x${(n as number).toString(16)}`;
}
