/**
 * scripts/peers.mjs: how the test command finds its peers, and what it says
 * when one is missing and it may not install it (not root). The install path
 * itself (apt-get as root) is exercised by the runner whenever a peer is
 * missing on a fresh machine; here it is never triggered (an unprivileged
 * child, or a peer that is present).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { describeChild, REPO_ROOT, runProcess } from '../helpers/child.js';
import { makeTempDir } from '../helpers/tmp.js';

const PEERS_URL = pathToFileURL(path.join(REPO_ROOT, 'scripts', 'peers.mjs')).href;

interface PeersModule {
  locate(name: string): string | undefined;
  installHint(names: string[]): string;
}

test('locate: an override wins; one that is not executable counts as missing; PATH is searched', async () => {
  const peers = (await import(PEERS_URL)) as PeersModule;
  const dir = makeTempDir('uk-peers-');
  const saved = { UK_OPENSSL: process.env.UK_OPENSSL, PATH: process.env.PATH };
  try {
    const fake = path.join(dir.dir, 'openssl');
    fs.writeFileSync(fake, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    process.env.UK_OPENSSL = fake;
    assert.equal(peers.locate('openssl'), fake);
    fs.chmodSync(fake, 0o644);
    assert.equal(peers.locate('openssl'), undefined, 'a non-executable override is missing, not silently replaced');
    delete process.env.UK_OPENSSL;
    fs.chmodSync(fake, 0o755);
    process.env.PATH = dir.dir;
    assert.equal(peers.locate('openssl'), fake);
    assert.throws(() => peers.locate('no-such-peer'), /unknown test peer/);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    dir.remove();
  }
});

test('installHint names the Debian packages, once each', async () => {
  const peers = (await import(PEERS_URL)) as PeersModule;
  assert.equal(peers.installHint(['chromium', 'openssl']), 'apt-get install -y --no-install-recommends chromium openssl');
  assert.equal(peers.installHint(['qemu-aarch64-static', 'qemu-aarch64-static']),
    'apt-get install -y --no-install-recommends qemu-user-static');
});

test('not root and missing: provide() installs nothing and says exactly what to install', { timeout: 60_000 }, async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to start the unprivileged child (setpriv)');
    return;
  }
  const code = `
    const { provide } = await import(${JSON.stringify(PEERS_URL)});
    const r = provide(['openssl', 'chromium'], () => { throw new Error('nothing may be logged or installed'); });
    console.log(JSON.stringify(r));
  `;
  const r = await runProcess('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath,
    '--input-type=module', '-e', code], 30_000, {
    env: { ...process.env, UK_OPENSSL: '/nonexistent/openssl', UK_CHROMIUM: '/nonexistent/chromium' },
  });
  assert.equal(r.code, 0, describeChild(r));
  const answer = JSON.parse(r.stdout.trim()) as { found: object; missing: string[]; message: string };
  assert.deepEqual(answer.found, {});
  assert.deepEqual(answer.missing, ['openssl', 'chromium']);
  assert.equal(answer.message, 'openssl, chromium not found (not root, so not installed automatically). ' +
    'Install: apt-get install -y --no-install-recommends openssl chromium');
});
