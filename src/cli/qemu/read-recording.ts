/**
 * Reads a recording directory (test/fixtures/qemu-recordings/<name>/, or what `npm run record-qemu -- --out DIR`
 * wrote) into src/tools/qemu-recording.ts's parsed form: the files are read here, parsing is in the library.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRecording, type QemuRecording } from '../../tools/qemu-recording.ts';

export function readRecording(dir: string): QemuRecording {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir)) if (name.endsWith('.txt') || name.endsWith('.json') || name === 'trace.log') files[name] = readFileSync(join(dir, name), 'utf8');
  return parseRecording(files);
}

/** The recording directories under `root` (those with a provenance.json), sorted by name. */
export function recordingDirectories(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'provenance.json')))
    .map((e) => join(root, e.name))
    .sort();
}
