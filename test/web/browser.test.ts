/**
 * The web page in a real browser: Debian's Chromium driven by playwright-core, against the built site served by
 * `irqpath serve`'s server. Each test checks what a reader sees — fields, verdicts, fault lines, diagram lanes,
 * keyboard focus, links — with expected values from the specifications (VT-d §5.1.2.2 for the handle, Linux dmar.c's
 * fault line format, VT-d fault reason 0x25, the 15-bit extended destination ID), including every URL issue 18
 * quotes. Screenshots go to test-artifacts/web/ (not committed) for a person to look at.
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
/** For tests that open several heavy pages (a machine per scenario variant): the runner's own timeout, on a busy machine. */
const HEAVY = 120_000;

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
    await expect.poll(() => page.locator('#from').isVisible(), SLOW).toBe(true);
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
    // The cell's heading is the machine in words, not its internal id.
    await expect.poll(textOf(again.locator('.cell-detail h2')), SLOW).toBe('Windows on an AMD CPU, Intel VT-d, interrupt remapping only, no extended destination ID, no VMM workarounds, 300 vCPUs');
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
    await expect.poll(textOf(error.locator('.field-error')), SLOW).toMatch(new RegExp(`^${escapeRe('irqpath: pasted.yaml: sources[0].kind: must be msi, msix, ioapic, ims, isa, intx, lapic-timer, pit, hpet or rtc, got "usb"')}$`));
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
  // ---- The explainer follows the chosen machine (issue 18's URLs) ----

  /** The format names of the readings-table rows marked "applies: yes". */
  const applyingRows = (page: Page) => page.locator('table.readings tr.applies-yes th').allInnerTexts();

  it('on a 300-CPU machine with the 15-bit extension, the headline and the one applying reading say APIC 0x100', async () => {
    const page = await open('#/explain?kind=msi&addr=0xfee00020&data=0x41&machine=custom&cpus=300&ext=1&os=linux');
    const banner = page.locator('.banner');
    // addr[11:5] = 0x20 >> 5 = 1 are destination bits 14:8 under KVM_FEATURE_MSI_EXT_DEST_ID: APIC ID 0x100 = CPU 256.
    await expect.poll(textOf(banner), SLOW).toContain('delivered to CPU 256 (APIC 0x100) vector 0x41');
    const text = await banner.innerText();
    expect(text).toMatch(/^INTERRUPT /);
    expect(text).toContain('read as 15-bit extended destination ID');
    expect(text).toContain('physical dest 0x0100, vector 0x41');
    expect(text).not.toContain('physical dest 0x00,');
    expect(await applyingRows(page)).toEqual(['15-bit extended destination ID']);
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it('an AMD-style message on scenario 05\'s machine: the headline is VT-d fault 0x25 and only compatibility format applies', async () => {
    const page = await open('#/explain?kind=msi&addr=0xfee00000&data=0x1&machine=scenario:05&from=00:04.0');
    const banner = page.locator('.banner');
    // addr[4] = 0: compatibility format, which VT-d blocks under IRTA.EIME = 1 with fault reason 0x25 (VT-d §5.1.4.1).
    await expect.poll(textOf(banner), SLOW).toMatch(/^VT-d FAULT 0x25 compatibility format blocked/);
    expect(await banner.innerText()).not.toContain('INTERRUPT');
    expect(await applyingRows(page)).toEqual(['compatibility']);
    // The diagram: the device's write, the IOMMU's request and its blocked fault record, marked in words.
    const seq = page.locator('section.route figure.seq').first();
    expect(await seq.locator('.seq-actor').allInnerTexts()).toEqual(['device / I/O APIC', 'machine bus', 'IOMMU', 'local APIC']);
    const blocked = seq.locator('.seq-row.seq-blocked');
    expect(await blocked.first().innerText()).toContain('vtd_frr_new FRCD 0');
    expect(await blocked.first().innerText()).toContain('✗ blocked');
    expect(await seq.locator('.seq-row').first().innerText()).toContain('00:04.0 writes data 0x1 to 0xfee00000 (requester ID 0x0020');
    await page.close();
  });

  // ---- Hop diagrams ----

  it('every hop diagram of scenario 05 runs device → bus → IOMMU → LAPIC; a pin is a pin; blocked steps say so', async () => {
    const page = await open('#/scenario?id=05');
    const run = page.getByRole('article', { name: 'run 05-windows-amd-cpu-intel-ir-only', exact: true });
    await run.locator('figure.seq').first().waitFor({ timeout: 60_000 });
    for (const fig of await run.locator('figure.seq').all()) {
      expect(await fig.locator('.seq-actor').allInnerTexts()).toEqual(['device / I/O APIC', 'machine bus', 'IOMMU', 'local APIC']);
    }
    // QEMU's "ioapic_set_irq vector: 4" names the pin (hw/intc/ioapic.c): the serial source is on pin 4.
    const serial = run.locator('figure.seq', { hasText: 'serial (ioapic pin 4)' });
    expect(await serial.locator('.seq-row:not(.seq-derived) .seq-text').first().innerText()).toBe('ioapic_set_irq pin 4 level 1');
    expect(await serial.locator('.seq-row').first().getAttribute('title')).toBe('what started it (not a trace event)');
    // FRCD bits 127:64 (VT-d §11.4.14): F = 1, FR = 0x25, SID = 0xff00 (the I/O APIC's source-id).
    expect(await serial.locator('.seq-row.seq-blocked .seq-text').allInnerTexts()).toContainEqual(expect.stringMatching(/^vtd_frr_new FRCD \d+ hi 0x800000250000ff00 lo 0x[0-9a-f]+$/));
    await page.close();
  });

  it('two-machine scenarios draw host and guest as separate lane groups with the VMM between them', async () => {
    for (const id of ['11', '20', '23']) {
      const page = await open(`#/scenario?id=${id}`);
      const fig = page.locator('article.run').first().locator('figure.seq').first();
      await fig.waitFor({ timeout: 60_000 });
      expect(await fig.locator('.seq-group').allInnerTexts(), `scenario ${id}`).toEqual(['HOST MACHINE', 'VMM', 'GUEST MACHINE']);
      expect(await fig.locator('.seq-actor').allInnerTexts()).toEqual(['device / I/O APIC', 'machine bus', 'IOMMU', 'local APIC', 'VMM', 'device / I/O APIC', 'machine bus', 'IOMMU', 'local APIC']);
      await page.close();
    }
  }, HEAVY);

  it('two-machine diagrams put each hop on its machine\'s lane: host IOMMU, VMM, guest IOMMU (scenarios 20, 23)', async () => {
    // Scenario 20: the host's VT-d remaps the physical device's message, QEMU's vfio takes it (vfio_msi_interrupt), the guest's
    // vIOMMU remaps it again; vectors in hex (0x51 = 81), the same as the source table says.
    const page = await open('#/scenario?id=20');
    const ce = page.locator('article.run').first().locator('figure.seq', { hasText: 'ce (msi 00:05.0)' });
    await ce.waitFor({ timeout: 60_000 });
    const laneOf = async (text: string) => ((await ce.locator('.seq-row', { hasText: text }).first().locator('.seq-lane').textContent()) ?? '').replace(/: $/, '');
    // Two remapping requests: the host's (the physical device's message), then the guest's (what the VMM injected).
    const remaps = await ce.locator('.seq-row', { hasText: 'vtd_ir_remap_msi_req' }).locator('.seq-lane').allTextContents();
    expect(remaps.map((t) => t.replace(/: $/, ''))).toEqual(['host IOMMU', 'guest IOMMU']);
    expect(await laneOf('vfio_msi_interrupt')).toBe('VMM');
    const guestDelivery = await ce.locator('.seq-row', { hasText: 'apic_deliver_irq dest 0x02' }).locator('.seq-text').innerText();
    expect(guestDelivery).toBe('apic_deliver_irq dest 0x02 dest_mode logical delivery_mode fixed vector 0x51 trigger_mode edge');
    expect(await ce.locator('.seq-text').allInnerTexts()).not.toContainEqual(expect.stringMatching(/vector(_num)? 81\b/));
    // Scenario 23: the assigned NIC is 02:00.0 on the host and 00:05.0 in the guest; the posted interrupt's
    // notification goes to the host LAPIC, the VMM wakes the vCPU, the vector lands in the guest's APIC.
    await page.goto(base + '#/scenario?id=23');
    const desc = page.locator('article.run').first().locator('figure.seq', { hasText: 'descheduled (msix 00:05.0)' });
    await desc.waitFor({ timeout: 60_000 });
    expect(await desc.locator('.seq-row').first().innerText()).toContain('descheduled: 00:05.0 signals MSI-X (the physical device 02:00.0 on the host; the guest sees 00:05.0)');
    const lanes23 = await desc.locator('.seq-row:not(.seq-derived) .seq-lane').allTextContents();
    // The vCPU is put (blocked) first; then the device's message is posted by the host IOMMU, whose wake-up
    // notification reaches the host LAPIC; KVM's wake-up handler runs as that CPU takes the vector (so its hop comes
    // before the LAPIC's acceptance, irqpath_apic_accept), then KVM loads the vCPU and PIR moves to the guest's IRR.
    expect(lanes23.map((t) => t.replace(/: $/, ''))).toEqual(['VMM', 'host device / I/O APIC', 'host machine bus', 'host IOMMU', 'host IOMMU', 'host IOMMU', 'host local APIC', 'VMM', 'host local APIC', 'VMM', 'guest local APIC']);
    await page.close();
  }, HEAVY);

  it('DMA requests get a hop diagram (scenario 26: a write into the MSI window is an interrupt request)', async () => {
    const page = await open('#/scenario?id=26');
    const run = page.getByRole('article', { name: 'run 26-seed004-msi-iova-window', exact: true });
    const fig = run.locator('figure.seq', { hasText: 'DMA window-buffer' });
    await fig.waitFor({ timeout: 60_000 });
    expect(await fig.locator('.seq-actor').allInnerTexts()).toEqual(['device / I/O APIC', 'machine bus', 'IOMMU', 'local APIC']);
    // 0xfee00000 is the interrupt window whatever the IOVA mapping says (VT-d §3.14): VT-d takes it, and blocks it.
    expect(await fig.locator('.seq-text').allInnerTexts()).toContain('vtd_ir_remap_msi_req addr 0xfee00000 data 0x45');
    expect(await fig.locator('.seq-row.seq-blocked').count()).toBeGreaterThan(0);
    await page.close();
  });

  // ---- Phone width: every view ----

  it('no view scrolls sideways at 390 px, and matrix row labels stay in view', async () => {
    const phone = { width: 390, height: 844 };
    const views: [string, string][] = [
      ['#/explain', 'form.explain-form'],
      ['#/explain?kind=msi&addr=0xfee00020&data=0x41&machine=custom&cpus=300&ext=1&os=linux', 'section.route figure.seq'],
      ['#/explain?kind=msi&addr=0xfee00000&data=0x1&machine=scenario:05&from=00:04.0', 'section.route figure.seq'],
      ['#/explain?kind=msi&addr=0xfee01000&data=0x4031&cmp=1&addr2=0xfee00578&data2=0x0', '.compare'],
      ['#/explain?kind=amd-event&value=00000020 20080000 fee00000 00000000', 'pre.dmesg'],
      ['#/scenario', 'form.scenario-form'],
      ['#/scenario?id=05', 'figure.seq'],
      ['#/scenario?id=11', 'figure.seq'],
      ['#/scenario?id=26', 'figure.seq'],
      ['#/scenario?id=99', '.field-error'],
      ['#/matrix?guests=windows&vendors=amd&cpus=300&cell=windows.amd.intel-ir.-.-.300', '.cell-detail figure.seq'],
      ['#/matrix?cpus=abc', '.field-error'],
      ['#/sweep', 'form.sweep-form'],
      ['#/sweep?guests=windows&vendors=amd&iommus=intel-ir,amd&cpus=64,255&run=1', 'table.sweep-grid'],
      ['#/foo', '.page-error'],
    ];
    const page = await open('#/explain', phone);
    for (const [hash, ready] of views) {
      await page.goto(base + hash);
      await page.locator(ready).first().waitFor({ timeout: 60_000 });
      expect((await page.evaluate('document.documentElement.scrollWidth')) as number, hash).toBeLessThanOrEqual(390);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'phone-matrix-cell.png'), fullPage: false });
    // Scroll the grid sideways: the row header is sticky, so it stays on screen.
    await page.goto(base + '#/matrix?guests=windows&vendors=amd&iommus=intel-ir,amd');
    await page.locator('table.matrix').waitFor({ timeout: 60_000 });
    await page.locator('.matrix-scroll').evaluate((el) => el.scrollTo({ left: el.scrollWidth }));
    const label = await page.locator('table.matrix tbody th.row-key').first().boundingBox();
    expect(label!.x).toBeGreaterThanOrEqual(0);
    expect(label!.x + label!.width).toBeLessThanOrEqual(390);
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  }, HEAVY);

  // ---- Bad URLs ----

  it('bad URLs show an error inside the page and keep the form', async () => {
    const page = await open('#/scenario?id=99');
    await expect.poll(textOf(page.locator('#scenario-err')), SLOW).toMatch(/^There is no built-in scenario "99"\. Pick one from the list \(01, 02, /);
    expect(await page.locator('#scenario').isVisible()).toBe(true);
    expect(await page.locator('#yaml').count()).toBe(1);
    expect(await page.locator('header.top nav a').count()).toBe(4);

    await page.goto(base + '#/matrix?cpus=abc');
    await expect.poll(textOf(page.locator('#cpus-err')), SLOW).toBe('vCPU counts: "abc" is not a number (use decimal, or 0x… hex; separate counts with commas)');
    expect(await page.locator('#cpus').inputValue()).toBe('abc');
    expect(await page.locator('table.matrix').count()).toBe(0);

    await page.goto(base + '#/foo');
    await expect.poll(textOf(page.locator('.page-error')), SLOW).toContain('There is no page "#/foo"');
    expect(await page.locator('form.explain-form #kind').isVisible()).toBe(true);
    expect(await page.locator('nav a[aria-current="page"]').count()).toBe(0);
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it('format links point at real anchors, and such a link reopens scrolled to that reading', async () => {
    const page = await open('#/explain?kind=msi&addr=0xfee00578&data=0');
    await page.locator('table.readings a').first().waitFor({ timeout: 60_000 });
    const links = await page.locator('table.readings a').evaluateAll((as) => as.map((a) => ({ href: a.getAttribute('href')!, anchor: a.getAttribute('data-anchor')! })));
    expect(links.length).toBeGreaterThanOrEqual(6);
    for (const l of links) {
      expect(new URLSearchParams(l.href.split('?')[1]).get('at')).toBe(l.anchor);
      expect(await page.locator(`[id="${l.anchor}"]`).count()).toBe(1);
    }
    const intel = links.find((l) => l.anchor === 'reading-intel-remappable')!;
    const again = await open(intel.href, { width: 1280, height: 800 });
    const box = await again.locator('#reading-intel-remappable').boundingBox();
    await expect.poll(async () => (await again.locator('#reading-intel-remappable').boundingBox())!.y, SLOW).toBeLessThan(100);
    expect(box).not.toBeNull();
    await again.close();
    await page.close();
  });

  // ---- Matrix: keyboard, filters, titles ----

  it('the matrix is one tab stop with arrow keys (a grid), with failures-only and per-axis filters', async () => {
    const page = await open('#/matrix?guests=windows&vendors=amd&iommus=none,intel-ir&cpus=64,300');
    const grid = page.getByRole('grid', { name: 'compatibility matrix' });
    await grid.waitFor({ timeout: 60_000 });
    const buttons = grid.locator('button[data-cell]');
    expect(await buttons.count()).toBe(16);
    expect(await grid.locator('button[tabindex="0"]').count()).toBe(1);
    // Tab from the last control before the grid lands on the first cell.
    await page.getByRole('button', { name: 'Run matrix' }).focus();
    await page.keyboard.press('Tab');
    const focused = async () => (await page.evaluate("document.activeElement?.getAttribute('data-cell') ?? ''")) as string;
    expect(await focused()).toBe('windows.amd.none.-.-.64');
    await page.keyboard.press('ArrowRight');
    expect(await focused()).toBe('windows.amd.none.-.-.300');
    // Rows run workarounds fastest (off, on), then the extension, then the IOMMU.
    await page.keyboard.press('ArrowDown');
    expect(await focused()).toBe('windows.amd.none.-.wa.300');
    await page.keyboard.press('ArrowDown');
    expect(await focused()).toBe('windows.amd.none.ext.-.300');
    await page.keyboard.press('Home');
    expect(await focused()).toBe('windows.amd.none.ext.-.64');
    await page.keyboard.press('ArrowLeft');
    expect(await focused()).toBe('windows.amd.none.ext.-.64');
    await page.keyboard.press('Control+End');
    expect(await focused()).toBe('windows.amd.intel-ir.ext.wa.300');
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    expect(await grid.locator('button[tabindex="0"]').count()).toBe(1);
    expect(await grid.locator('button[tabindex="0"]').getAttribute('data-cell')).toBe('windows.amd.none.ext.-.64');
    // Human cell titles.
    expect(await grid.locator('button[data-cell="windows.amd.intel-ir.-.-.300"]').getAttribute('title')).toMatch(/^Windows on an AMD CPU, Intel VT-d, interrupt remapping only, no extended destination ID, no VMM workarounds, 300 vCPUs: /);
    await page.keyboard.press('Enter');
    await expect.poll(textOf(page.locator('.cell-detail h2')), SLOW).toBe('Windows on an AMD CPU, no IOMMU, extended destination ID offered, no VMM workarounds, 64 vCPUs');

    // Failures only: every row left has a failing cell, and fewer rows remain.
    // Windows guests on AMD-Vi deliver everything (scenario 08's fix); under VT-d with interrupt remapping only they
    // fault or miss at 300 vCPUs (scenario 05): only the VT-d rows remain.
    await page.goto(base + '#/matrix?guests=windows&vendors=amd&iommus=intel-ir,amd&cpus=64,300&fail=1');
    await grid.waitFor({ timeout: 60_000 });
    const rows = grid.locator('tbody tr');
    expect(await rows.count()).toBe(4);
    for (const row of await rows.all()) {
      expect(await row.locator('th').innerText()).toContain('Intel VT-d');
      expect(await row.locator('button', { hasText: '✗' }).count()).toBeGreaterThan(0);
    }
    expect(await page.locator('input[name="fail"]').isChecked()).toBe(true);

    // Per axis: only the rows with the extended destination ID, picked by ticking boxes.
    await page.goto(base + '#/matrix?guests=windows&vendors=amd&iommus=none&cpus=64');
    await grid.waitFor({ timeout: 60_000 });
    await page.locator('input[name="ext"][value="no-ext"]').uncheck();
    await page.getByRole('button', { name: 'Run matrix' }).click();
    await expect.poll(() => page.url(), SLOW).toContain('ext=ext');
    await expect.poll(async () => (await grid.locator('tbody th.row-key').allInnerTexts()).join('\n'), SLOW).toBe('Windows · AMD CPU · no IOMMU · ext. dest ID · no workarounds\nWindows · AMD CPU · no IOMMU · ext. dest ID · workarounds');
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  }, HEAVY);

  // ---- Explain while typing ----

  it('explain follows typing, keeps typed input when "What is it?" changes, and reads numbers as the CLI does', async () => {
    const page = await open('#/explain');
    await page.locator('#addr').pressSequentially('0xfee01000');
    await page.locator('#data').pressSequentially('4031');
    // Bare 4031 is decimal (the CLI's rule) = 0xfbf: vector 0xbf, data[10:8] = 7 = ExtINT; dest = addr[19:12] = 0x01.
    await expect.poll(textOf(page.locator('section.reading').first().locator('p').first()), SLOW).toBe('compatibility: physical dest 0x01, vector 0xbf, ExtINT, edge');
    expect(page.url()).toContain('addr=0xfee01000&data=4031');
    await page.locator('#data').fill('0x4031');
    await expect.poll(textOf(page.locator('section.reading').first().locator('p').first()), SLOW).toBe('compatibility: physical dest 0x01, vector 0x31, fixed, edge');
    // 0x4031: vector 0x31, data[14] = 1 (assert), data[15] = 0: edge (SDM 10.11.2).
    // A different kind keeps what was typed, and coming back restores the same reading.
    await page.locator('#kind').selectOption('rte');
    expect(await page.locator('#addr').inputValue()).toBe('0xfee01000');
    await expect.poll(() => page.url(), SLOW).toContain('kind=rte&value=0xfee01000');
    await page.locator('#kind').selectOption('msi');
    expect(await page.locator('#data').inputValue()).toBe('0x4031');
    await expect.poll(textOf(page.locator('section.reading').first().locator('p').first()), SLOW).toBe('compatibility: physical dest 0x01, vector 0x31, fixed, edge');
    // A bad number is an error next to its field, worded as the CLI words it.
    await page.locator('#data').fill('0xfg');
    await expect.poll(textOf(page.locator('#data-err')), SLOW).toBe("Data: '0xfg' is not an unsigned number: use hex (0x...) or decimal");
    expect(await page.locator('#data').inputValue()).toBe('0xfg');
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  // ---- Links, Perfetto, compare, bit hover ----

  it('edited YAML travels compressed, and Copy link gives a link that reopens the same run', async () => {
    const page = await open('#/scenario?id=05');
    await page.locator('article.run').first().waitFor({ timeout: 60_000 });
    await page.locator('.yaml-box summary').click();
    const original = await page.locator('#yaml').inputValue();
    const edited = original.replace(/^title: (.*)$/m, 'title: $1 (edited)');
    expect(edited).not.toBe(original);
    await page.locator('#yaml').fill(edited);
    await page.getByRole('button', { name: 'Run' }).click();
    // An edited built-in travels as its id and the changed line (line 1: line 0 is the schema comment): the link is short however long the file.
    await expect.poll(() => page.url(), SLOW).toContain('#/scenario?base=05&at=1&del=1&ins=title');
    const raw = new URLSearchParams({ yaml: edited }).toString().length;
    expect(raw).toBeGreaterThan(2000);
    expect(new URL(page.url()).hash.length).toBeLessThan(200);
    await expect.poll(textOf(page.locator('article.run .run-title')), SLOW).toMatch(/\(edited\)$/);
    expect(await page.locator('#yaml').inputValue()).toBe(edited);

    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await page.getByRole('button', { name: 'Copy link' }).click();
    await expect.poll(textOf(page.locator('.copy-status')), SLOW).toMatch(/^Link copied \(\d+ characters\)\.$/);
    const copied = (await page.evaluate('navigator.clipboard.readText()')) as string;
    expect(copied).toBe(await page.locator('.copy-box').inputValue());
    const again = await open(new URL(copied).hash);
    await expect.poll(textOf(again.locator('article.run .run-title')), SLOW).toMatch(/\(edited\)$/);
    expect(await again.locator('#yaml').inputValue()).toBe(edited);
    await again.close();
    // Pasted YAML (no built-in to start from) travels deflated: about half its URL-encoded size.
    await page.goto(base + '#/scenario');
    await page.locator('#yaml').fill(edited.replace(/^title: .*$/m, 'title: pasted'));
    // Ctrl+Enter in the editor runs it.
    await page.locator('#yaml').press('Control+Enter');
    await expect.poll(() => page.url(), SLOW).toContain('#/scenario?z=');
    expect(new URL(page.url()).hash.length).toBeLessThan(raw * 0.55);
    await expect.poll(textOf(page.locator('article.run .run-title')), SLOW).toBe('pasted');
    // A damaged compressed link is an error in the page, not a blank one.
    await page.goto(base + '#/scenario?z=AAAA');
    await expect.poll(textOf(page.locator('.page-error')), SLOW).toContain('compressed state (z=…) is damaged');
    await page.close();
  }, HEAVY);

  it('"Open in Perfetto UI" hands the trace over with Perfetto\'s PING/PONG postMessage handshake', async () => {
    const page = await open('#/scenario?id=05');
    // A stand-in for ui.perfetto.dev that answers as the real one does: PONG to PING, then takes { perfetto: {...} }.
    await page.context().route('https://ui.perfetto.dev/**', (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><title>waiting</title><script>
          addEventListener('message', (e) => {
            if (e.data === 'PING') { e.source.postMessage('PONG', e.origin); return; }
            if (e.data && e.data.perfetto) {
              const t = JSON.parse(new TextDecoder().decode(e.data.perfetto.buffer));
              document.title = 'got ' + e.data.perfetto.fileName + ' ' + t.traceEvents.length + ' from ' + e.origin;
            }
          });
        </script>`,
      }),
    );
    const run = page.getByRole('article', { name: 'run 05-windows-amd-cpu-intel-ir-only', exact: true });
    await run.locator('figure.seq').first().waitFor({ timeout: 60_000 });
    const popup = page.waitForEvent('popup');
    await run.getByRole('button', { name: 'Open in Perfetto UI' }).click();
    const perfetto = await popup;
    await expect.poll(() => perfetto.title(), SLOW).toMatch(new RegExp(`^got irqpath-05-windows-amd-cpu-intel-ir-only\\.perfetto\\.json \\d+ from ${escapeRe(base.replace(/\/$/, ''))}$`));
    await expect.poll(textOf(run.locator('.perfetto-status')), SLOW).toBe('Sent irqpath-05-windows-amd-cpu-intel-ir-only.perfetto.json to the Perfetto UI.');
    await perfetto.close();
    await page.close();
  });

  it('compares two messages side by side and outlines the fields that differ', async () => {
    const page = await open('#/explain?kind=msi&addr=0xfee01000&data=0x4031&cmp=1&addr2=0xfee00578&data2=0x0');
    const sides = page.locator('.compare > .side');
    await expect.poll(() => sides.count(), SLOW).toBe(2);
    expect(await sides.nth(0).locator('.banner').innerText()).toContain('compatibility format: physical dest 0x01, vector 0x31');
    expect(await sides.nth(1).locator('.banner').innerText()).toContain('IRTE 43');
    // The compatibility reading's vector field: 0x31 against 0x00.
    const vector = (k: number) => sides.nth(k).locator('#reading-compatibility, #reading-compatibility-2').locator('.bf[data-field="vector"]');
    expect(await vector(0).getAttribute('data-value')).toBe('0x31');
    expect(await vector(1).getAttribute('data-value')).toBe('0x00');
    expect(await vector(0).getAttribute('class')).toContain('bf-diff');
    expect(await vector(1).getAttribute('class')).toContain('bf-diff');
    expect(await sides.nth(0).locator('#reading-compatibility .bf[data-field="delivery mode"]').getAttribute('class')).not.toContain('bf-diff');

    // One message on two machines: VT-d with EIME blocks compatibility format (fault 0x25); AMD-Vi with IntCtl = 10b
    // remaps every message through the requester's table, index data[10:0] = 1 (AMD IOMMU §2.2.5).
    await page.goto(base + '#/explain?kind=msi&addr=0xfee00000&data=0x1&machine=scenario:05&from=00:04.0&cmp=1&machine2=scenario:08');
    await expect.poll(textOf(sides.nth(1).locator('.banner')), SLOW).toMatch(/^INTERRUPT on scenario 08's machine: delivered to CPU \d+/);
    expect(await sides.nth(0).locator('.banner').innerText()).toMatch(/^VT-d FAULT 0x25 /);
    expect(await sides.nth(0).locator('table.readings tr.applies-yes th').allInnerTexts()).toEqual(['compatibility']);
    expect(await sides.nth(1).locator('table.readings tr.applies-yes th').allInnerTexts()).toEqual(['AMD remappable']);
    expect(await page.locator('#machine2').inputValue()).toBe('scenario:08');
    // Each route has its trace, to download or to open in Perfetto.
    const download = page.waitForEvent('download');
    await sides.nth(0).getByRole('button', { name: 'Download Perfetto trace' }).click();
    expect((await download).suggestedFilename()).toBe('irqpath-explain-fee00000-1.perfetto.json');
    await page.close();
  });

  it('hovering a bit field lights up its digits in the input', async () => {
    const page = await open('#/explain?kind=msi&addr=0xfee00578&data=0x0');
    const handle = page.locator('#reading-intel-remappable .bf[data-field="handle[14:0]"]');
    await handle.waitFor({ timeout: 60_000 });
    await handle.hover();
    // handle[14:0] is addr 19:5 (VT-d §5.1.2.2): the hex digits for bits 19:16, 15:12, 11:8 and 7:4 of 0xfee00578.
    expect(await page.locator('#addr-field .hl-backdrop mark').allInnerTexts()).toEqual(['0057']);
    const vector = page.locator('#reading-compatibility .bf[data-field="vector"]').last();
    await vector.hover();
    expect(await page.locator('#data-field .hl-backdrop mark').allInnerTexts()).toEqual(['0']);
    expect(await page.locator('#addr-field .hl-backdrop mark').count()).toBe(0);
    // A click pins the highlight (touch screens have no hover); moving away keeps it, typing clears it.
    await handle.click();
    await page.locator('h2').first().hover();
    expect(await page.locator('#addr-field .hl-backdrop mark').allInnerTexts()).toEqual(['0057']);
    await page.screenshot({ path: join(ARTIFACTS, 'explain-hover.png') });
    await page.locator('#addr').press('End');
    await page.locator('#addr').press('Backspace');
    expect(await page.locator('#addr-field .hl-backdrop mark').count()).toBe(0);
    await page.close();
  });

  // ---- The sweep ----

  it('runs a slice of the full sweep: report grouped by cause, grid, state in the URL; a long run can be stopped', async () => {
    // Windows on an AMD CPU with an Intel IR-only unit, 64 vCPUs: extension × workarounds × x2APIC CPU = 8 cells.
    const page = await open('#/sweep');
    const form = page.getByRole('form', { name: 'sweep slice' });
    await expect.poll(textOf(form.getByRole('status')), SLOW).toBe('11,072 cells in this slice.');
    // Nothing runs until asked.
    expect(await page.locator('.sweep-report').count()).toBe(0);
    for (const [fieldset, keep] of [['guest', 'Windows'], ['CPU vendor', 'AMD'], ['IOMMU', 'intel-ir'], ['vCPUs', '64']] as const) {
      const group = form.locator('fieldset', { has: page.locator('legend', { hasText: new RegExp(`^${fieldset}$`) }) });
      for (const box of await group.getByRole('checkbox').all()) {
        const label = (await box.locator('xpath=..').innerText()).trim();
        if ((label === keep) !== (await box.isChecked())) await box.click();
      }
    }
    await expect.poll(textOf(form.getByRole('status')), SLOW).toBe('8 cells in this slice.');
    await form.getByRole('button', { name: 'Run slice' }).click();
    // The slice is the URL: only the narrowed axes, plus run=1.
    await expect.poll(() => decodeURIComponent(new URL(page.url()).hash), SLOW).toBe('#/sweep?guests=windows&vendors=amd&iommus=intel-ir&cpus=64&run=1');
    const report = page.locator('.sweep-report');
    await expect.poll(textOf(report.locator('h3')), SLOW).toMatch(/^0 of 8 cells ok; 8 fail in \d+ ways?$/);
    // Windows on an AMD CPU writes AMD-style messages (address bit 4, Interrupt Format, clear: the IRTE index in the
    // data) to the Intel unit; a compatibility-format request while GSTS.CFIS = 0 is blocked with fault reason 25h
    // (VT-d, "Interrupt Remapping Fault Conditions"), whatever the CPU's x2APIC — unless the VMM's workaround reads
    // them AMD-style.
    const dmar = report.locator('.failure-group', { hasText: 'DMAR fault 0x25' });
    await expect.poll(textOf(dmar.locator('.failure-mode')), SLOW).toBe('DMAR fault 0x25 — 4 cells — decided by workarounds ∈ {false}');
    expect(await page.locator('table.sweep-grid td.cell').count()).toBe(8);
    expect(await page.locator('table.sweep-grid td.cell.m-fault').count()).toBe(4);
    await page.screenshot({ path: join(ARTIFACTS, 'sweep.png'), fullPage: true });
    // A cell opens its run, traced: the I/O APIC pin and the MSIs are blocked with Linux's line for reason 0x25.
    const cellName = 'windows-amd-intel-ir-64-nox2apic-cpu';
    await page.locator(`table.sweep-grid button[data-cell="${cellName}"]`).click();
    await expect.poll(() => new URL(page.url()).hash, SLOW).toContain(`cell=${cellName}`);
    await expect.poll(textOf(page.locator('.cell-detail h2')), SLOW).toBe(cellName);
    await expect.poll(textOf(page.locator('.cell-detail .verdict')), SLOW).toContain('DMAR fault 0x25');
    await expect.poll(textOf(page.locator('.cell-detail').getByLabel('fault log')), SLOW).toMatch(/DMAR: \[INTR-REMAP\] Request device \[[0-9a-f:.]+\] fault index 0x[0-9a-f]+ \[fault reason 0x25\]/);
    expect(await page.locator('.cell-detail figure.seq').count()).toBeGreaterThan(0);
    expect(problemsOf(page)).toEqual([]);
    await page.close();

    // A slice of 2,688 cells (Linux at 1,024 vCPUs) runs on Web Workers, and the page answers a click while it runs.
    const big = await open('#/sweep');
    const worker = big.waitForEvent('worker', { timeout: 60_000 });
    await big.goto(base + '#/sweep?guests=linux&cpus=1024&run=1');
    expect((await worker).url()).toMatch(/\/sweep-worker\.js$/);
    await big.locator('.sweep-progress progress').waitFor({ timeout: 60_000 });
    await expect.poll(textOf(big.locator('.sweep-progress [role=status]')), SLOW).toMatch(/^Running cell [\d,]+ of 2,688…$/);
    await big.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(textOf(big.locator('.sweep-progress [role=status]')), SLOW).toMatch(/^Stopped\./);
    expect(await big.locator('.sweep-report').count()).toBe(0);
    // Windows at 64 and 255 vCPUs, run to the end on the workers: 2 vendors × 4 IOMMUs × extension × workarounds ×
    // x2APIC × 2 vCPU counts = 128 grid cells, and 16 assignment cells at 64 (2 host IOMMUs × 2 profiles × posting × extension).
    await big.goto(base + '#/sweep?guests=windows&cpus=64,255&run=1');
    await expect.poll(textOf(big.locator('.sweep-report h3')), SLOW).toMatch(/^[\d,]+ of 144 cells ok; /);
    expect(await big.locator('table.sweep-grid td.cell').count()).toBe(144);
    expect(problemsOf(big)).toEqual([]);
    await big.close();
  }, HEAVY);

  it('a sweep link with a value that names nothing shows the error beside its field and runs nothing', async () => {
    const page = await open('#/sweep?cpus=65&run=1');
    const error = page.locator('.sweep-form .field-error');
    await expect.poll(textOf(error), SLOW).toBe('vCPUs: "65" is not one of 64, 255, 300, 1024');
    expect(await page.locator('.sweep-progress, .sweep-report').count()).toBe(0);
    await page.close();
  });
});
