/**
 * uringkit serve in a real browser: headless Debian Chromium driven by
 * playwright-core opens the listing page of a served directory, follows
 * links (a text file, an image), and the bytes the browser received must be
 * the file's. Screenshots go to .test-output/ (kept after the run).
 *
 * Chromium is required: the test runner locates it (UK_CHROMIUM, chromium or
 * chromium-browser on PATH, /usr/bin/chromium) or installs it with apt-get when
 * root (test/helpers/peers.ts); when it is missing the test fails and says how
 * to install it; it never skips.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { chromium, type BrowserContext } from 'playwright-core';

import { StaticServer } from '../../src/serve/server.js';
import { requirePeer } from '../helpers/peers.js';
import { DEFAULT_SITE } from '../../src/serve/cli.js';
import { makeFixture, pseudoRandom, REPO, type Fixture } from './helpers.js';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OUT = path.join(REPO, '.test-output');

let fx: Fixture;
let server: StaticServer;
let site: StaticServer;
let userDataDir: string;
let context: BrowserContext | undefined;

before(() => {
  fx = makeFixture(1024 * 1024);
  // An image and a file above the sendFile threshold, reachable from the listing.
  fs.copyFileSync(path.join(DEFAULT_SITE, 'images', 'pixels.png'), path.join(fx.root, 'list', 'pixels.png'));
  fs.writeFileSync(path.join(fx.root, 'list', 'large.txt'), pseudoRandom(300 * 1024, 3).toString('base64'));
  server = StaticServer.start({ root: fx.root, port: 0 });
  site = StaticServer.start({ root: DEFAULT_SITE, port: 0 });
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uringkit-chromium-'));
  fs.mkdirSync(OUT, { recursive: true });
});

after(async () => {
  await context?.close();
  await server.close();
  await site.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
  fx.remove();
});

async function browser(): Promise<BrowserContext> {
  const executablePath = await requirePeer('chromium');
  context ??= await chromium.launchPersistentContext(userDataDir, {
    executablePath, args: ARGS, headless: true, viewport: { width: 900, height: 640 },
    // Under `npm run test:asan` the sanitizer runtime is preloaded into node; not into the browser.
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD')) as Record<string, string>,
  });
  return context;
}

test('a listing in Chromium: follow links, the bytes match the files, screenshot', async () => {
  const ctx = await browser();
  const page = await ctx.newPage();
  const listing = await page.goto(`${server.url}list/`);
  assert.ok(listing !== null);
  assert.equal(listing.status(), 200);
  assert.equal(await page.title(), 'Index of /list/');
  // The awkward names are shown as text (escaped), not interpreted as markup.
  assert.ok(await page.locator('a', { hasText: 'a&b <c>.txt' }).count() === 1, 'the escaped name is not shown');
  await page.screenshot({ path: path.join(OUT, 'serve-listing.png'), fullPage: true });

  for (const name of ['sp ace.txt', 'a&b <c>.txt', 'pixels.png', 'large.txt']) {
    const [resp] = await Promise.all([
      page.waitForNavigation(),
      page.locator('a', { hasText: name }).first().click(),
    ]);
    assert.ok(resp !== null, `no navigation for ${name}`);
    assert.equal(resp.status(), 200, name);
    assert.equal(decodeURIComponent(new URL(resp.url()).pathname), `/list/${name}`);
    const want = fs.readFileSync(path.join(fx.root, 'list', name));
    assert.deepEqual(await resp.body(), want, `${name}: the bytes served differ from the file`);
    await page.goBack();
  }

  // Into a subdirectory and back up with "../".
  await Promise.all([page.waitForNavigation(), page.locator('a', { hasText: 'sub/' }).click()]);
  assert.equal(await page.title(), 'Index of /list/sub/');
  await Promise.all([page.waitForNavigation(), page.locator('a', { hasText: '../' }).click()]);
  assert.equal(await page.title(), 'Index of /list/');
  await page.close();
});

test('the bundled site renders: stylesheet and images load', async () => {
  const ctx = await browser();
  const page = await ctx.newPage();
  const failed: string[] = [];
  page.on('requestfailed', (r) => failed.push(r.url()));
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(site.url, { waitUntil: 'load' });
  assert.equal(await page.title(), 'uringkit serve');
  // (Expressions as strings: this project compiles without the DOM library.)
  const images = await page.evaluate<{ src: string; w: number }[]>(
    '[...document.images].map((i) => ({ src: i.src, w: i.naturalWidth }))');
  assert.ok(images.length >= 2);
  for (const i of images) assert.ok(i.w > 0, `image not rendered: ${i.src}`);
  const styled = await page.evaluate<string>('getComputedStyle(document.body).maxWidth');
  assert.notEqual(styled, 'none', 'style.css was not applied');
  assert.deepEqual(failed.filter((u) => !u.endsWith('/favicon.ico')), []);
  await page.screenshot({ path: path.join(OUT, 'serve-site.png'), fullPage: true });
  await page.close();
});
