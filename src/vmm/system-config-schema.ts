/**
 * The shape of a two-machine system's configuration: what each field alone must be, declared once for createSystem
 * (system-config.ts, which adds the rules relating host, guest and VMM) and the scenario file's `system:` block and
 * JSON Schema. The host and the guest are machine configurations (machine/config-schema.ts); the guest adds the
 * devices assigned to it.
 */
import * as v from 'valibot';
import { fields, flag, got, mustBe, oneOf, pciAddress } from '../core/config-schema.ts';
import { MACHINE_FIELDS } from '../machine/config-schema.ts';
import { VMM_PROFILE_NAMES } from './profiles.ts';

const QUIRK_SPELLING = 'the current spelling is vmm.athBar0Quirk / vmm.imsTrap: true';
const address = () => pciAddress(mustBe('a PCI address "bb:dd.f"'));

const VmmSchema = fields(
  {
    profile: oneOf(VMM_PROFILE_NAMES, mustBe(`one of ${VMM_PROFILE_NAMES.join(', ')}`)),
    postedInterrupts: v.optional(flag()),
    msiNoVirt: v.optional(flag()),
    pvComposeMsi: v.optional(flag()),
    athBar0Quirk: v.optional(flag()),
    imsTrap: v.optional(flag()),
    nointxmask: v.optional(flag()),
    quirks: v.optional(
      v.array(oneOf(['ath-bar0', 'ims-trap'], (i) => `unknown quirk ${got(i)} (known: ath-bar0, ims-trap; ${QUIRK_SPELLING})`), `must be a list of quirk names (ath-bar0, ims-trap); ${QUIRK_SPELLING}`),
    ),
    nativeRemapBySourceId: v.optional(flag()),
  },
  'must be an object { profile, ... }',
);

const AssignedSchema = fields({ bdf: address(), host: address() }, "must be an object { bdf: '00:05.0', host: '02:00.0' }");

/** The shape of `createSystem`'s configuration and of a scenario's `system:` block. */
export const SystemConfigSchema = fields(
  {
    host: fields(MACHINE_FIELDS, 'must be a machine config object'),
    guest: fields(
      { ...MACHINE_FIELDS, assigned: v.optional(v.array(AssignedSchema, "must be a list like [{ bdf: '00:05.0', host: '02:00.0' }]")) },
      'must be a machine config object with an `assigned` list',
    ),
    vmm: VmmSchema,
    hypothetical: v.optional(fields({ nativeRemapBySourceId: v.optional(flag()) }, 'must be an object { nativeRemapBySourceId }')),
  },
  'must be an object { host, guest, vmm }',
);
