import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';
import { buildProgram, runCli } from '../../src/cli/main.ts';
import { parseUnsigned } from '../../src/cli/parse-number.ts';

/** Run the CLI in-process, capturing what it writes. */
async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'irqpath', ...args], { writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
  return { code, out, err };
}

describe('irqpath decode', () => {
  test('text output is a table with a row per format and the verdict', async () => {
    const { code, out, err } = await run('decode', '--addr', '0xfee00578', '--data', '0');
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toMatch(/^addr 0x00000000_fee00578 {2}data 0x00000000\nINTERRUPT: reaches the APIC window/);
    expect(out).toMatch(/^FORMAT +APPLIES +READING$/m);
    expect(out).toMatch(/^Intel remappable +yes +handle 0x002b, SHV 1, subhandle 0x0000 -> IRTE index 43 \(0x002b\)$/m);
    expect(out).toMatch(/^compatibility +no +physical dest 0x00/m);
    expect(out).toMatch(/^Xen PIRQ +yes +PIRQ 0/m);
  });

  test('--json prints exactly one object with numeric fields per format', async () => {
    const { code, out } = await run('decode', '--addr', '0x0000_0123_fee4_5000', '--data', '0x31', '--json');
    expect(code).toBe(0);
    const json = JSON.parse(out);
    expect(Object.keys(json.formats).sort()).toEqual(['amdRemappable', 'compat', 'extDestId', 'intelRemappable', 'kvmX2apicApi', 'windowsHighBits']);
    expect(json.interrupt).toBe(false);
    expect(json.verdict).toMatch(/^misses the APIC: a memory write at 0x00000123_fee45000/);
    expect(json.formats.compat).toMatchObject({ destination: 0x45, destMode: 0, redirectionHint: 0, vector: 0x31, deliveryMode: 0, triggerMode: 0 });
    expect(json.formats.intelRemappable).toMatchObject({ handle: 0x2280, shv: 0, subhandle: 0x31, index: 0x2280 });
    expect(json.formats.amdRemappable).toMatchObject({ index: 0x31 });
    expect(json.formats.extDestId).toMatchObject({ destination: 0x45 });
    // address_hi = 0x123: bits 7:0 = 0x23 != 0, so KVM rejects it; Windows reads dest 0x123 << 8 | 0x45.
    expect(json.formats.kvmX2apicApi).toMatchObject({ rejected: true, applies: false });
    expect(json.formats.windowsHighBits).toMatchObject({ destination: 0x12345, applies: true });
    for (const reading of Object.values(json.formats) as Record<string, unknown>[]) {
      expect(typeof reading.summary).toBe('string');
      expect(Array.isArray(reading.reserved)).toBe(true);
    }
  });

  test('--json includes xenPirq only when the vector is 0', async () => {
    const { out } = await run('decode', '--addr', '0x1000fee46000', '--data', '0x700', '--json');
    expect(JSON.parse(out).formats.xenPirq).toMatchObject({ pirq: 4166, applies: true });
  });

  test('a bad number exits 2 naming the option and the value', async () => {
    const { code, out, err } = await run('decode', '--addr', 'zz', '--data', '0');
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain("option '--addr <n>' argument 'zz' is invalid");
  });

  test('data wider than 32 bits and an address wider than 64 bits exit 2', async () => {
    const data = await run('decode', '--addr', '0xfee00000', '--data', '0x100000000');
    expect(data.code).toBe(2);
    expect(data.err).toContain("option '--data <n>' argument '0x100000000' is invalid. '0x100000000' does not fit in 32 bits");
    const addr = await run('decode', '--addr', '0x10000000000000000', '--data', '0');
    expect(addr.code).toBe(2);
    expect(addr.err).toContain("'--addr <n>'");
  });

  test('a missing option is a usage error (exit 2)', async () => {
    const { code, err } = await run('decode', '--addr', '0xfee00000');
    expect(code).toBe(2);
    expect(err).toContain("required option '--data <n>' not specified");
  });

  test('decode --help documents the options', async () => {
    const { code, out } = await run('decode', '--help');
    expect(code).toBe(0);
    expect(out).toContain('--addr <n>');
    expect(out).toContain('--data <n>');
    expect(out).toContain('--json');
  });

  test('buildProgram with exitOverride throws a CommanderError instead of exiting', () => {
    const program = buildProgram({ exitOverride: true, writeErr: () => {} });
    expect(() => program.parse(['node', 'irqpath', 'decode', '--addr', 'zz', '--data', '0'])).toThrow(CommanderError);
  });
});

describe('number parsing', () => {
  test('hex, decimal and underscore separators', () => {
    expect(parseUnsigned('0xFEE00000', 64)).toBe(0xfee00000n);
    expect(parseUnsigned('4276092928', 64)).toBe(0xfee00000n);
    expect(parseUnsigned('0x0000_0001_fee0_0000', 64)).toBe(0x1_fee00000n);
    expect(parseUnsigned('0xffffffffffffffff', 64)).toBe((1n << 64n) - 1n);
  });

  test('negative, empty, fractional and over-wide values are refused', () => {
    for (const bad of ['-1', '', '0x', '1.5', '0x1g', '_1', '1__0']) expect(() => parseUnsigned(bad, 32), bad).toThrow(RangeError);
    expect(() => parseUnsigned('4294967296', 32)).toThrow(/does not fit in 32 bits/);
  });
});

describe('irqpath as a process', () => {
  const require = createRequire(import.meta.url);
  const tsxCli = require.resolve('tsx/cli');
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const spawn = (...args: string[]) => spawnSync(process.execPath, [tsxCli, main, ...args], { encoding: 'utf8', timeout: 60_000 });

  test('decode --json on stdout, exit 0', () => {
    const result = spawn('decode', '--addr', '0xfee01000', '--data', '0x4031', '--json');
    expect(result.status).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json.interrupt).toBe(true);
    expect(json.formats.compat.summary).toBe('compatibility: physical dest 0x01, vector 0x31, fixed, edge');
  });

  test('a bad number exits with code 2 and the message on stderr', () => {
    const result = spawn('decode', '--addr', '0xfee00000', '--data', 'nope');
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("option '--data <n>' argument 'nope' is invalid");
  });
});
