/**
 * Regenerates the docs' screenshots of the web page (docs/web-*.png): builds the site, serves it on a free
 * loopback port and photographs each view in Chromium. Not part of the tests (those keep their own screenshots in
 * test-artifacts/web/); run it when the page changes:
 *
 *   npx tsx scripts/web-screenshots.ts
 */
import { mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { buildWeb } from './build-web.ts';
import { startWebServer } from '../src/cli/serve-command.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const site = join(root, 'test-artifacts/web-site');
const docs = join(root, 'docs');
mkdirSync(docs, { recursive: true });
await buildWeb(site);
const { server, url } = await startWebServer(site, 0);
const browser = await chromium.launch({ executablePath: process.env.IRQPATH_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });

async function shoot(hash: string, name: string, ready: string, scrollTo?: string): Promise<void> {
  await page.goto(url + hash);
  await page.locator(ready).first().waitFor({ timeout: 120_000 });
  if (scrollTo) await page.locator(scrollTo).first().evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: join(docs, name) });
  console.log(`wrote docs/${name}`);
}

await shoot('#/explain?kind=msi&addr=0xfee00000&data=0x1&machine=scenario:05&from=00:04.0', 'web-explain.png', 'section.route', '.banner');
await shoot('#/explain?kind=msi&addr=0xfee00578&data=0', 'web-explain-bits.png', 'section.reading', '#reading-1');
await shoot('#/scenario?id=05', 'web-scenario.png', '.variants', '.variants');
await shoot('#/matrix?guests=windows', 'web-matrix.png', 'table.matrix', '.legend');
await shoot('#/matrix?cell=windows.amd.intel-ir.-.-.300', 'web-matrix-cell.png', '.cell-detail .run', '.cell-detail');
await browser.close();
server.close();
