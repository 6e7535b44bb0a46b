/**
 * `irqpath serve`'s server: the built site on the loopback interface only, nothing outside the site directory, and
 * a clear message when the site has not been built.
 */
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startWebServer } from '../../src/cli/serve-command.ts';
import { UsageError } from '../../src/core/errors.ts';

const site = mkdtempSync(join(tmpdir(), 'irqpath-site-'));
writeFileSync(join(site, 'index.html'), '<!doctype html><title>irqpath</title>');
writeFileSync(join(site, 'app.js'), 'export {};');
writeFileSync(join(tmpdir(), 'irqpath-secret.txt'), 'not for the web');
afterAll(() => rmSync(site, { recursive: true, force: true }));

/** GET with the path sent exactly as written (no client-side normalisation of ".."). */
function get(url: string, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('irqpath serve', () => {
  it('serves the site on 127.0.0.1 with content types, and nothing outside it', async () => {
    const { server, url } = await startWebServer(site, 0);
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const index = await get(url, '/');
      expect(index.status).toBe(200);
      expect(index.type).toBe('text/html; charset=utf-8');
      expect((await get(url, '/app.js')).type).toBe('text/javascript; charset=utf-8');
      expect((await get(url, '/../irqpath-secret.txt')).status).toBe(404);
      expect((await get(url, '/%2e%2e/irqpath-secret.txt')).status).toBe(404);
      expect((await get(url, '/nope.js')).status).toBe(404);
    } finally {
      server.close();
    }
  });

  it('says how to build the site when there is none', () => {
    expect(() => startWebServer(join(site, 'missing'), 0)).toThrow(UsageError);
    expect(() => startWebServer(join(site, 'missing'), 0)).toThrow(/run `npm run build:web` first/);
  });
});
