/** Golden test against a real Linux DMAR line (test/fixtures/dmar-0x25-compat-fault-index.txt says where from). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { linuxReadyUnit, remap } from './helpers.ts';

const fixture = readFileSync(new URL('../fixtures/dmar-0x25-compat-fault-index.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l && !l.startsWith('#'));
const request = /addr=(0x[0-9a-f]+) sid=([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])/.exec(fixture[0])!;
const logged = fixture[1].replace(/^logged /, '');

describe('compatibility-format fault index (published line)', () => {
  it('a blocked request to 0xfee2c000 from 42:00.2 is logged with fault index 0x1600', () => {
    const { unit, host } = linuxReadyUnit({}, true); // EIME = 1: every compatibility-format request is blocked
    const sid = (parseInt(request[2], 16) << 8) | (parseInt(request[3], 16) << 3) | Number(request[4]);
    remap(unit, sid, Number(request[1]), 0x41);
    expect(host.faults).toHaveLength(1);
    expect(host.faults[0].linuxLog).toContain(logged);
  });
});
