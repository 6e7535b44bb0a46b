/**
 * The web page in a real browser: Debian's Chromium driven by playwright-core, against the built site served by
 * `irqpath serve`'s server. Each test checks what a reader sees — fields, verdicts, fault lines — with expected
 * values from the specifications (VT-d §5.1.2.2 for the handle, Linux dmar.c's fault line format, VT-d fault
 * reason 0x25). Screenshots of every view go to test-artifacts/web/ (not committed) for a person to look at.
 *
 * Without Chromium a newcomer's `npm test` skips these with a message saying how to get it; under CI (CI=true) a
 * missing browser is a failure, never a skip.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { startWebServer } from '../../src/cli/serve-command.ts';

const CHROMIUM = process.env.IRQPATH_CHROMIUM ?? '/usr/bin/chromium';
const IN_CI = !!process.env.CI && process.env.CI !== 'false';
const haveBrowser = existsSync(CHROMIUM);
const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts/web');
const SITE = join(import.meta.dirname, '../../test-artifacts/web-site');

/** Text of the first match once it exists ('' until then), for expect.poll. */
const textOf = (loc: Locator) => () => loc.first().innerText({ timeout: 1000 }).catch(() => '');
const escapeRe = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const SLOW = { timeout: 60_000, interval: 200 };

if (!haveBrowser) {
  if (IN_CI) throw new Error(`CI=true but no Chromium at ${CHROMIUM}: .ci/run installs the Debian package "chromium"`);
  console.warn(`browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set IRQPATH_CHROMIUM)`);
}

describe.skipIf(!haveBrowser)('web page in Chromium', () => {
  let browser: Browser;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await buildWeb(SITE);
    ({ server, url: base } = await startWebServer(SITE, 0));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  async function open(hash: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
    const page = await browser.newPage({ viewport });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    (page as Page & { problems: string[] }).problems = problems;
    await page.goto(base + hash);
    return page;
  }

  const problemsOf = (page: Page) => (page as Page & { problems: string[] }).problems;

  it('explains fee00578/0: Intel remappable, handle 43 with SHV, and the bit fields drawn', async () => {
    const page = await open('#/explain?kind=msi&addr=0xfee00578&data=0');
    await page.getByRole('status').filter({ hasText: 'INTERRUPT' }).waitFor();
    // VT-d §5.1.2.2: handle[14:0] = addr 19:5 = 0x02b, SHV = addr 3 = 1, so IRTE index = 43 + subhandle 0.
    const intel = page.locator('section.reading', { has: page.getByRole('heading', { name: /Intel remappable/ }) });
    await intel.getByText('IRTE index 43').first().waitFor();
    await expect.poll(textOf(intel.locator('.bf', { hasText: 'handle[14:0]' }).locator('.bf-val')), SLOW).toMatch(new RegExp(`^${escapeRe('0x002b')}$`));
    await expect.poll(textOf(intel.locator('.bf', { hasText: 'SHV' }).locator('.bf-val')), SLOW).toMatch(new RegExp(`^${escapeRe('0x1')}$`));
    // In the compatibility reading the same bit 4 is reserved, and it is set.
    const compat = page.locator('section.reading').first();
    await expect.poll(textOf(compat.locator('.bf.bf-flag', { hasText: 'IF (reserved)' })), SLOW).toContain('SET');
    await page.screenshot({ path: join(ARTIFACTS, 'explain.png'), fullPage: false });
    // The requester field appears only once a machine is chosen (keyboard: the select is an ordinary control).
    expect(await page.locator('#from').isVisible()).toBe(false);
    await page.locator('#machine').selectOption('scenario:05');
    expect(await page.locator('#from').isVisible()).toBe(true);
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it('runs scenario 05: REPRODUCED, with Linux\'s fault line for reason 0x25', async () => {
    const page = await open('#/scenario?id=05');
    const base05 = page.getByRole('article', { name: 'run 05-windows-amd-cpu-intel-ir-only', exact: true });
    await expect.poll(textOf(base05.locator('.verdict')), SLOW).toMatch(new RegExp(`^${escapeRe('REPRODUCED')}$`));
    // Linux dmar_fault_do_one: "DMAR: [INTR-REMAP] Request device [bb:dd.f] fault index 0x.. [fault reason 0x25] <reason>".
    await expect.poll(textOf(base05.getByLabel('fault log')), SLOW).toMatch(/DMAR: \[INTR-REMAP\] Request device \[00:04\.0\] fault index 0x[0-9a-f]+ \[fault reason 0x25\] Blocked a compatibility format interrupt request/);
    // The variant runs beside it.
    await expect.poll(textOf(page.getByRole('article', { name: 'run 05-windows-amd-cpu-intel-ir-only [fixed-windows]' }).locator('.verdict')), SLOW).toMatch(new RegExp(`^${escapeRe('FIXED')}$`));
    await base05.locator('figure.seq').first().waitFor();
    // What the guest programmed links to the explainer, on this scenario's machine, from the source's device.
    const nicLink = await base05.locator('table.sources tr', { hasText: 'nic' }).locator('a').getAttribute('href');
    expect(nicLink).toMatch(/^#\/explain\?kind=msi&addr=0x[0-9a-f]+&data=0x[0-9a-f]+&machine=scenario%3A05&from=00%3A04\.0$/);
    await page.screenshot({ path: join(ARTIFACTS, 'scenario.png') });
    const download = page.waitForEvent('download');
    await base05.getByRole('button', { name: 'Download Perfetto trace' }).click();
    const file = await download;
    expect(file.suggestedFilename()).toBe('irqpath-05-windows-amd-cpu-intel-ir-only.perfetto.json');
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it('opens a matrix cell, and a copied link reopens the same cell', async () => {
    const page = await open('#/matrix?guests=windows&vendors=amd&cpus=300');
    const cell = page.locator('button[data-cell="windows.amd.intel-ir.-.-.300"]');
    await expect.poll(textOf(cell), SLOW).toContain('DMAR fault 0x25 [05]');
    await page.screenshot({ path: join(ARTIFACTS, 'matrix.png') });
    // Keyboard: focus the cell and press Enter.
    await cell.focus();
    await page.keyboard.press('Enter');
    await expect.poll(textOf(page.locator('.cell-detail .verdict')), SLOW).toBe('✗ DMAR fault 0x25');
    await expect.poll(textOf(page.locator('.cell-detail').getByLabel('fault log')), SLOW).toContain('[fault reason 0x25]');
    expect(page.url()).toContain('cell=windows.amd.intel-ir.-.-.300');
    await page.locator('.cell-detail').screenshot({ path: join(ARTIFACTS, 'matrix-cell.png') });

    const copied = page.url();
    const again = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await again.goto(copied);
    await expect.poll(textOf(again.locator('.cell-detail h2')), SLOW).toMatch(new RegExp(`^${escapeRe('Cell windows · amd · intel-ir · - · - · 300')}$`));
    expect(await again.locator('button[data-cell="windows.amd.intel-ir.-.-.300"]').getAttribute('aria-pressed')).toBe('true');
    expect(problemsOf(page)).toEqual([]);
    await again.close();
    await page.close();
  });

  it('a copied explain link with a machine reopens the same route', async () => {
    const page = await open('#/explain?kind=msi&addr=0xfee00000&data=0x1&machine=scenario:05&from=00:04.0');
    const route = page.locator('section.route');
    // An AMD-style message (index in data) is a compatibility-format request to VT-d; EIME blocks it: fault 0x25.
    await expect.poll(textOf(route.getByLabel('fault log')), SLOW).toContain('[fault reason 0x25]');
    await page.screenshot({ path: join(ARTIFACTS, 'explain-route.png'), fullPage: true });
    await page.reload();
    await expect.poll(textOf(page.locator('section.route').getByLabel('fault log')), SLOW).toContain('[fault reason 0x25]');
    expect(await page.locator('#addr').inputValue()).toBe('0xfee00000');
    await page.close();
  });

  it('pasted YAML with a bad field shows the CLI\'s error next to that line', async () => {
    const page = await open('#/scenario');
    const yaml = ['title: bad kind', 'machine: { cpus: 2, devices: [{ bdf: "00:03.0", msix: { entries: 1 } }] }', 'guest: { os: linux }', 'sources:', '  - { id: q, kind: usb, device: "00:03.0", cpu: 1 }', 'expect: { verdict: fixed, sources: { q: intended } }'].join('\n');
    await page.locator('#yaml').fill(yaml);
    await page.getByRole('button', { name: 'Run' }).click();
    const error = page.locator('.yaml-error');
    // The same words parseScenario gives the CLI: "<file>: <field>: <reason>".
    await expect.poll(textOf(error.locator('.field-error')), SLOW).toMatch(new RegExp(`^${escapeRe('irqpath: pasted.yaml: sources[0].kind: must be msi, msix, ioapic or ims, got "usb"')}$`));
    await expect.poll(textOf(error.locator('.yaml-bad')), SLOW).toContain('5    - { id: q, kind: usb');
    await page.screenshot({ path: join(ARTIFACTS, 'scenario-yaml-error.png') });
    await page.close();
  });

  it('fits a phone-width screen', async () => {
    const page = await open('#/explain?kind=vtd-fault&value=0x80000025000000181600000000000000', { width: 390, height: 844 });
    await expect.poll(textOf(page.locator('pre.dmesg')), SLOW).toMatch(new RegExp(`^${escapeRe('DMAR: [INTR-REMAP] Request device [00:03.0] fault index 0x1600 [fault reason 0x25] Blocked a compatibility format interrupt request')}$`));
    // Nothing wider than the screen but the scroll boxes meant for it.
    const overflow = (await page.evaluate('document.documentElement.scrollWidth')) as number;
    expect(overflow).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(ARTIFACTS, 'phone-explain.png'), fullPage: false });
    // The matrix too: one row header instead of five columns keeps a 300-vCPU column on screen.
    await page.goto(base + '#/matrix?guests=windows&vendors=amd&iommus=intel-ir&cpus=300');
    await page.locator('table.matrix').waitFor({ timeout: 60_000 });
    expect((await page.evaluate('document.documentElement.scrollWidth')) as number).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(ARTIFACTS, 'phone-matrix.png'), fullPage: false });
    await page.close();
  });
});
