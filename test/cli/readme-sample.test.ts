/**
 * README's sample output is what `irqpath run 05` prints (timings aside; "..." marks lines left out), its TypeScript
 * example prints the line it says, and the Node version README names is the one package.json's `engines` states.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { createGuest, createMachine } from '../../src/index.ts';

const ROOT = new URL('../..', import.meta.url);
const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { engines: { node: string } };

/** Timings differ from run to run: "(89 ms)" and "in 0.18 s" are compared without their numbers. */
const withoutTimings = (line: string) => line.replace(/\(\d+ ms\)/, '(… ms)').replace(/in [\d.]+ s$/, 'in … s');

describe('README', () => {
  it('shows what `irqpath run 05` prints', async () => {
    const start = readme.indexOf('$ npx irqpath run 05\n');
    expect(start).toBeGreaterThan(0);
    const sample = readme.slice(start, readme.indexOf('```', start)).split('\n').slice(1);
    let out = '';
    await runCli(['node', 'irqpath', 'run', '05', '--no-color'], { writeOut: (t) => (out += t) });
    const printed = out.split('\n').map(withoutTimings);
    const shown = sample.filter((l) => l.trim() !== '' && l.trim() !== '...');
    expect(shown.length).toBeGreaterThan(5);
    for (const line of shown) {
      // A line ending in " · ..." is the start of a longer printed line.
      const text = withoutTimings(line.replace(/ · \.\.\.$/, ''));
      expect(printed.some((p) => (line.endsWith(' · ...') ? p.startsWith(text) : p === text)), line).toBe(true);
    }
  });

  it('shows what its TypeScript example prints', () => {
    const start = readme.indexOf('```ts\n');
    expect(start).toBeGreaterThan(0);
    const code = readme.slice(start + 6, readme.indexOf('```', start + 6));
    const printed = /\/\/ prints: (.*)/.exec(code)?.[1];
    expect(printed).toBeDefined();
    // The example is plain JavaScript apart from its import, which names the package: run it against the sources.
    const body = code.replace(/^import \{ createMachine, createGuest \} from 'irqpath';$/m, '');
    expect(body).not.toContain('import ');
    const lines: string[] = [];
    new Function('createMachine', 'createGuest', 'console', body)(createMachine, createGuest, { log: (line: string) => lines.push(line) });
    expect(lines).toEqual([printed]);
  });

  it('names the Node version package.json requires', () => {
    const min = /^>=(\d+\.\d+)$/.exec(pkg.engines.node)?.[1];
    expect(min).toBeDefined();
    expect(readme.replace(/\s+/g, ' ')).toContain(`The installed package itself runs on Node ${min} or later (\`engines\`)`);
  });
});
