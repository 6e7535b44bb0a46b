/**
 * Applying a VMM profile's behaviours to the guest machine. The `hardware` profile changes nothing.
 */
import type { Machine } from '../machine/machine.ts';
import type { VmmProfile } from './profiles.ts';

export function applyProfile(profile: VmmProfile, guest: Machine): void {
  void profile;
  void guest;
}
