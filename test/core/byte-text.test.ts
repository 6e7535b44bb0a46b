/** Saved-state byte encodings: standard padded base64 (RFC 4648 §4) and plain hex, and refusal of anything else. */
import { describe, expect, it } from 'vitest';
import { base64ToBytes, bytesToBase64, bytesToHex, hexToBytes } from '../../src/core/byte-text.ts';

describe('byte text', () => {
  it('encodes the RFC 4648 §10 test vectors', () => {
    const ascii = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
    expect(bytesToBase64(ascii('f'))).toBe('Zg==');
    expect(bytesToBase64(ascii('foob'))).toBe('Zm9vYg==');
    expect(bytesToBase64(ascii('foobar'))).toBe('Zm9vYmFy');
    expect([...base64ToBytes('Zm9vYmE=')!]).toEqual([...ascii('fooba')]);
  });

  it('round-trips a 4 KiB page with every byte value', () => {
    const page = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
    expect(base64ToBytes(bytesToBase64(page))).toEqual(page);
    expect(hexToBytes(bytesToHex(page))).toEqual(page);
  });

  it('refuses malformed text instead of decoding part of it', () => {
    expect(base64ToBytes('Zm9v!mFy')).toBeNull();
    expect(base64ToBytes('Zm9')).toBeNull();
    expect(hexToBytes('0g')).toBeNull();
    expect(hexToBytes('abc')).toBeNull();
    expect(bytesToHex(new Uint8Array([0, 0x0f, 0xa0, 0xff]))).toBe('000fa0ff');
  });
});
