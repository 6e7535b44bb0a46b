/**
 * `--perfetto` files as the CLI writes them: `run` names each process after its scenario run (variant included), and
 * `replay` places a QEMU log's events at the log's own time — test/fixtures/qemu-trace/amd-constructed.log starts at
 * 1732963200.000101 s and its last line is at .000502 s, so that event sits at 401 µs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';

const dir = mkdtempSync(join(tmpdir(), 'irqpath-perfetto-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const LOG = fileURLToPath(new URL('../fixtures/qemu-trace/amd-constructed.log', import.meta.url));

type Ev = { ph: string; name: string; ts: number; args: Record<string, unknown> };

async function trace(...args: string[]): Promise<Ev[]> {
  const path = join(dir, `${args[0]}.json`);
  const code = await runCli(['node', 'irqpath', ...args, '--perfetto', path], { writeOut: () => {}, writeErr: () => {} });
  // The constructed AMD-Vi log holds requests where QEMU differs from hardware: replay exits 1 for them.
  expect(code).toBe(args[0] === 'replay' ? 1 : 0);
  return (JSON.parse(readFileSync(path, 'utf8')) as { traceEvents: Ev[] }).traceEvents;
}

describe('--perfetto files', () => {
  it('run: a process per scenario run, named with its variant', async () => {
    const t = await trace('run', '05');
    expect(t.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => e.args.name)).toEqual([
      '05-windows-amd-cpu-intel-ir-only',
      '05-windows-amd-cpu-intel-ir-only [fixed-windows]',
    ]);
  });

  it("replay: the log's events at the log's own timestamps", async () => {
    const t = await trace('replay', LOG);
    const slices = t.filter((e) => e.ph === 'X');
    expect(slices[0]).toMatchObject({ name: 'amdvi_ir_remap_msi_req', ts: 0, args: { addr: '0xfee00000', data: '0x3', devid: '0x18' } });
    expect(slices.at(-1)).toMatchObject({ name: 'amdvi_ir_remap_msi', ts: 401 });
    expect(t.find((e) => e.ph === 'M' && e.name === 'process_name')?.args.name).toBe('amd-constructed.log');
  });
});
