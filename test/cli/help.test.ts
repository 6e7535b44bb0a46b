/**
 * Every way of asking for help works for every command: `irqpath --help`, `irqpath help <cmd>` and
 * `irqpath <cmd> --help`, each exiting 0 with a usage line naming the command. (`serve --help` once threw "Do not
 * know how to serialize a BigInt": commander JSON.stringify-s an option's default value for the help text.) The
 * command list is read from the program itself, so a command added later is covered without editing this test.
 */
import { describe, expect, it } from 'vitest';
import { buildProgram, runCli } from '../../src/cli/main.ts';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'irqpath', ...args], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
  return { code, out, err };
}

const commands = buildProgram().commands.map((c) => c.name());

describe('help', () => {
  it('lists every command in `irqpath --help`', async () => {
    const { code, out, err } = await cli('--help');
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/^Usage: irqpath /);
    // The commands the issue names are all there (the list below is the CLI's documented surface).
    expect(commands).toEqual(expect.arrayContaining(['decode', 'run', 'matrix', 'log', 'from-dmesg', 'replay', 'serve']));
    for (const name of commands) expect(out).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  });

  for (const name of commands) {
    it(`irqpath ${name} --help and irqpath help ${name}`, async () => {
      const direct = await cli(name, '--help');
      expect(direct.err).toBe('');
      expect(direct.code).toBe(0);
      expect(direct.out).toMatch(new RegExp(`^Usage: irqpath ${name} `));
      const viaHelp = await cli('help', name);
      expect(viaHelp.err).toBe('');
      expect(viaHelp.code).toBe(0);
      expect(viaHelp.out).toBe(direct.out);
    });
  }

  it('shows serve\'s default port as 8080', async () => {
    const { out } = await cli('serve', '--help');
    expect(out).toMatch(/--port <n>.*\(default: 8080\)/);
  });
});
