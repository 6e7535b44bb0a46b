/**
 * The shape of `iommu: { kind: 'intel', ... }`: what each field alone must be, declared once for createMachine, the
 * unit's own resolution (options.ts, which adds the rules relating fields) and the scenario file's JSON Schema. Kept
 * apart from options.ts so the package's declarations, which name the resolved options, never reach valibot's.
 */
import * as v from 'valibot';
import type { IntelIommuOptions } from '../core/config-types.ts';
import { flag, integer, mustBe, pciAddress, registerValue, strictFields, type SameType } from '../core/config-schema.ts';
import { ConfigError } from '../core/errors.ts';
import { VTD_VERSION } from './capabilities.ts';

const VER_MESSAGE = mustBe('"major:minor" as Linux prints it (e.g. "1:0")');

/** VER as Linux prints it ("1:0") → the register value (major in 7:4, minor in 3:0); absent: VT-d 1.0. */
export function parseVer(value: string | undefined, field: string): number {
  if (value === undefined) return VTD_VERSION;
  // As Linux prints it ("ver %d:%d", major:minor).
  const m = /^(\d+):(\d+)$/.exec(value.trim());
  if (m === null) throw new ConfigError(field, `must be "major:minor" as Linux prints it (e.g. "1:0"), got ${JSON.stringify(value)}`);
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major < 1 || major > 15 || minor > 15) throw new ConfigError(field, `VER holds major 7:4 and minor 3:0 (1..15, 0..15), got ${major}:${minor}`);
  return (major << 4) | minor;
}

/** The unit's fields. `kindMessage` is what a unit of another kind is told (in `iommus`, only Intel units are modelled). */
export function intelIommuOptionsSchema(kindMessage = mustBe("'intel' for the VT-d unit")) {
  const register16 = (what: string) => integer(0, 0xffff, mustBe(what));
  return strictFields({
    kind: v.literal('intel', kindMessage),
    base: v.optional(
      v.pipe(
        integer(0, 2 ** 52 - 1, mustBe('a physical address below 2^52')),
        // A DRHD register set is 4 KiB aligned (ACPI DMAR: "Register Base Address ... aligned to 4 KB").
        v.check((base) => base % 0x1000 === 0, (i) => `must be 4 KiB aligned, got 0x${(i.input as number).toString(16)}`),
      ),
    ),
    // 39, 48 or 57 without a raw cap (options.ts checks, knowing cap); with one, whatever MGAW + 1 says.
    awBits: v.optional(v.pipe(v.number(mustBe('39, 48 or 57')), v.integer(mustBe('39, 48 or 57')))),
    dmaTranslation: v.optional(flag()),
    interruptRemapping: v.optional(flag()),
    eim: v.optional(flag()),
    // CAP.NFR is 8 bits holding count - 1.
    faultRecords: v.optional(integer(1, 256, mustBe('an integer from 1 to 256'))),
    postedInterrupts: v.optional(flag()),
    ioapicSourceId: v.optional(register16('a 16-bit requester ID (0..0xffff)')),
    cap: v.optional(registerValue(64)),
    ecap: v.optional(registerValue(64)),
    ver: v.optional(
      v.pipe(
        v.string(VER_MESSAGE),
        v.rawCheck(({ dataset, addIssue }) => {
          if (!dataset.typed) return;
          try {
            parseVer(dataset.value, '');
          } catch (e) {
            addIssue({ message: (e as ConfigError).reason });
          }
        }),
      ),
    ),
    includePciAll: v.optional(flag()),
    devices: v.optional(v.array(pciAddress(mustBe('a PCI address string')), 'must be a list of PCI addresses ("00:02.0")')),
    ioapicScope: v.optional(flag()),
    hpet: v.optional(v.object({ id: integer(0, 255, mustBe('an HPET number 0..255')), sourceId: register16('a 16-bit source-id') }, 'must be { id, sourceId }')),
  });
}

export const IntelIommuOptionsSchema = intelIommuOptionsSchema();
/** The public interface (core/config-types.ts) says what this schema accepts, no more and no less. */
const schemaMatchesInterface: SameType<v.InferInput<typeof IntelIommuOptionsSchema>, IntelIommuOptions> = true;
void schemaMatchesInterface;
