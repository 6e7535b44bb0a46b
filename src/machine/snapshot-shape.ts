/**
 * The field check every restore starts with: a snapshot may hold only fields that the machine it is restored into
 * has. The template is that machine's own saved state (same configuration, so the same devices and fields); a field
 * the template lacks would be dropped silently by the device that restores it, so it is refused, with its path. Which
 * values are legal is each device's own check (they name the field too); this walk only answers "does this machine
 * have such a field at all". Arrays are checked element by element against every shape the template's elements have.
 */
import { UsageError } from '../core/errors.ts';

type Json = unknown;

const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function checkStateFields(given: Json, template: Json, path: string): void {
  if (isObject(template)) {
    if (!isObject(given)) return; // the device's own check names a wrong type
    for (const key of Object.keys(given)) {
      if (!Object.hasOwn(template, key)) throw new UsageError(`${path}.${key}: no such field in this machine's state`);
      checkStateFields(given[key], template[key], `${path}.${key}`);
    }
    return;
  }
  if (Array.isArray(template) && Array.isArray(given)) {
    const shapes = template.filter(isObject);
    if (shapes.length === 0) return;
    const allowed = new Map<string, Json>();
    for (const shape of shapes) for (const [k, v] of Object.entries(shape)) if (!allowed.has(k)) allowed.set(k, v);
    const union = Object.fromEntries(allowed);
    given.forEach((element, i) => checkStateFields(element, union, `${path}[${i}]`));
  }
}
