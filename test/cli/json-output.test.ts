/**
 * Every `--json` output is machine-readable: it parses as JSON, and every value that is a number written in hex is a
 * plain "0x…" string that `BigInt()` reads back (`decode --json` once printed "0x00000000_fee00578", which it
 * cannot). Prose fields (verdicts, reasons) may quote addresses the way the text report does; a field whose whole
 * value is a hex number may not.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/qemu-trace/', import.meta.url));

async function json(...args: string[]): Promise<unknown> {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'irqpath', ...args], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
  expect(err).toBe('');
  expect(code).toBeLessThan(2);
  return JSON.parse(out);
}

/** Every string value that starts with 0x and has no space, with its path, that BigInt() rejects. */
function unreadableHex(value: unknown, path = '$', out: string[] = []): string[] {
  if (typeof value === 'string') {
    if (/^0x\S*$/i.test(value)) {
      try {
        BigInt(value);
      } catch {
        out.push(`${path} = ${value}`);
      }
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => unreadableHex(v, `${path}[${i}]`, out));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) unreadableHex(v, `${path}.${k}`, out);
  }
  return out;
}

describe('--json output', () => {
  it('decode: addr is plain hex BigInt() parses, data a number', async () => {
    const j = (await json('decode', '--addr', '0xfee00578', '--data', '0', '--json')) as { addr: string; data: number };
    expect(j.addr).toBe('0xfee00578');
    expect(BigInt(j.addr)).toBe(0xfee00578n);
    expect(j.data).toBe(0);
    const wide = (await json('decode', '--addr', '0x0000_0123_fee4_5000', '--data', '0x31', '--json')) as { addr: string };
    expect(BigInt(wide.addr)).toBe(0x123_fee4_5000n);
    expect(unreadableHex(wide)).toEqual([]);
  });

  it('run: every hex value of every scenario result parses', async () => {
    const j = await json('run', 'all', '--json');
    expect(Array.isArray(j)).toBe(true);
    expect(unreadableHex(j)).toEqual([]);
  });

  it('matrix: every hex value parses', async () => {
    expect(unreadableHex(await json('matrix', '--guest', 'linux', '--iommu', 'none,intel-ir', '--cpus', '64,300', '--jobs', '1', '--json'))).toEqual([]);
  });

  it('replay: every hex value parses', async () => {
    for (const log of ['windows-intel-host.log', 'amd-constructed.log']) {
      expect(unreadableHex(await json('replay', FIXTURES + log, '--json'))).toEqual([]);
    }
  });
});
