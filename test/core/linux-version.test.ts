import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { amdViDeviceStyle, apicIdRejection, cpuEnumerationPrefix, dmarFaultStyle, parseLinuxVersion } from '../../src/core/linux-version.ts';

const v = (text: string) => parseLinuxVersion(text, 'guest.version');

describe('Linux kernel versions', () => {
  it('parses major.minor, with a patch level and a distribution suffix', () => {
    expect(v('5.10')).toMatchObject({ major: 5, minor: 10 });
    expect(v('6.1.55')).toMatchObject({ major: 6, minor: 1 });
    expect(v('5.15.0-91-generic')).toMatchObject({ major: 5, minor: 15 });
  });

  it('a bad version is a ConfigError naming the field', () => {
    for (const bad of ['linux', '5', '5.x', '', '3.10', '10.1']) {
      let err: unknown;
      try {
        v(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).field).toBe('guest.version');
    }
  });

  it('a YAML number (5.10 read as 5.1) is refused with a hint to quote it', () => {
    expect(() => parseLinuxVersion(5.1, 'guest.version')).toThrow(/quotes/);
  });

  it('DMAR fault lines: decimal up to 5.13, 0x everywhere in 5.14, current from 5.15 (dmar_fault_do_one history)', () => {
    expect(dmarFaultStyle(v('4.19'))).toBe('decimal');
    expect(dmarFaultStyle(v('5.13'))).toBe('decimal');
    expect(dmarFaultStyle(v('5.14'))).toBe('hex-bdf');
    expect(dmarFaultStyle(v('5.15'))).toBe('current');
    expect(dmarFaultStyle(v('6.12'))).toBe('current');
  });

  it('AMD-Vi device names gain the PCI segment in 6.0', () => {
    expect(amdViDeviceStyle(v('5.19'))).toBe('pre-segment');
    expect(amdViDeviceStyle(v('6.0'))).toBe('current');
  });

  it('CPU enumeration moves from smpboot to CPU topo in 6.9; the bring-up rejection names native_cpu_up, then native_kick_ap', () => {
    expect(cpuEnumerationPrefix(v('6.8'))).toBe('smpboot: ');
    expect(cpuEnumerationPrefix(v('6.9'))).toBe('CPU topo: ');
    expect(apicIdRejection(v('5.10'))).toEqual({ at: 'bringup', fn: 'native_cpu_up' });
    expect(apicIdRejection(v('6.6'))).toEqual({ at: 'bringup', fn: 'native_kick_ap' });
    expect(apicIdRejection(v('6.9'))).toEqual({ at: 'madt' });
  });
});
