/**
 * The package's `bin`, bin/irqpath.mjs, runs the compiled CLI from dist/ and, where dist/ was never built (a fresh
 * clone after `npm ci`, which runs no build), says what to do and exits 2 instead of the shell's bare
 * "irqpath: not found". Run from a copy with no dist/ beside it; the built path is checked by .ci/run on the tarball.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'irqpath-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('without dist/, names the build command and exits 2', () => {
  mkdirSync(join(dir, 'bin'));
  copyFileSync(fileURLToPath(new URL('../../bin/irqpath.mjs', import.meta.url)), join(dir, 'bin', 'irqpath.mjs'));
  const r = spawnSync(process.execPath, [join(dir, 'bin', 'irqpath.mjs'), '--version'], { encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^irqpath: the command is not built yet: run `npm run build`/);
});
