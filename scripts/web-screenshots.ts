/**
 * Regenerates the screenshots of the web page in docs/ (docs/web-*.png, shown in docs/web-page.md): builds the site, serves it on a free
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
/** Linux 6.12 at 300 vCPUs on Intel CPUs, with and without Intel IR: 112 cells of the sweep. */
const SWEEP_SLICE = '#/sweep?guests=linux&vendors=intel&iommus=none,intel-ir&cpus=300&versions=6.12&assign=none&run=1';

async function shoot(hash: string, name: string, ready: string, scrollTo?: string, act?: () => Promise<void>): Promise<void> {
  await page.goto(url + hash);
  await page.locator(ready).first().waitFor({ timeout: 120_000 });
  if (scrollTo) await page.locator(scrollTo).first().evaluate((el) => el.scrollIntoView({ block: 'start' }));
  if (act) await act();
  await page.screenshot({ path: join(docs, name) });
  console.log(`wrote docs/${name}`);
}

await shoot('#/explain?kind=msi&addr=0xfee00000&data=0x1&machine=scenario:05&from=00:04.0', 'web-explain.png', 'section.route', '.banner');
// A clicked field stays lit in the input: pin handle[14:0], then show the input above the bit diagram.
await shoot('#/explain?kind=msi&addr=0xfee00578&data=0', 'web-explain-bits.png', 'section.reading', undefined, async () => {
  await page.locator('#reading-intel-remappable .bf[data-field="handle[14:0]"]').click();
  await page.locator('form.explain-form').evaluate((el) => el.scrollIntoView({ block: 'start' }));
});
await shoot('#/explain?kind=msi&addr=0xfee01000&data=0x4031&cmp=1&addr2=0xfee00578&data2=0x0', 'web-explain-compare.png', '.compare', '.compare-note');
await shoot('#/scenario?id=05', 'web-scenario.png', '.variants', '.variants');
await shoot('#/scenario?id=20', 'web-scenario-two-machines.png', 'figure.seq-two', 'figure.seq-two');
await shoot('#/matrix?guests=windows', 'web-matrix.png', 'table.matrix', '.legend');
await shoot('#/matrix?cell=windows.amd.intel-ir.-.-.300', 'web-matrix-cell.png', '.cell-detail .run', '.cell-detail');
await shoot(SWEEP_SLICE, 'web-sweep.png', '.sweep-report', '.sweep-report');
await page.setViewportSize({ width: 390, height: 844 });
await shoot('#/explain?kind=msi&addr=0xfee00020&data=0x41&machine=custom&cpus=300&ext=1&os=linux', 'web-phone-explain.png', 'section.route', '.banner');
await browser.close();
server.close();
