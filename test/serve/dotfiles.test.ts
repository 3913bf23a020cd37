/**
 * uringkit serve and dotfiles: a path with a segment starting with '.'
 * (.env, .git/, .htpasswd, a hidden directory) is refused by default (404, as
 * serve-static's 'ignore'), whatever encoding or normalization the request
 * uses; `dotfiles: 'deny'` answers 403, `dotfiles: 'allow'` (and the CLI's
 * `--dotfiles allow`) serves them. Listings leave dot names out unless
 * allowed. The files exist in every case: a 404 here is the policy, not a miss.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { StaticServer } from '../../src/serve/server.js';
import { parseServeArgs } from '../../src/serve/cli.js';
import { hasDotSegment } from '../../src/serve/respond.js';
import { reusePortSkipReason } from '../helpers/io-uring-probe.js';
import { makeFixture, rawOnce, requestText, startCli, withServer, within, type Fixture } from './helpers.js';

const T = { timeout: 60_000 };

const SECRETS: Record<string, string> = {
  '.env': 'DB_PASSWORD=hunter2\n',
  '.htpasswd': 'admin:$apr1$secret\n',
  '.git/config': '[core]\n\trepositoryformatversion = 0\n',
  'a/.hidden/x': 'hidden x\n',
  'a/visible.txt': 'visible\n',
};

/** Request targets for a dotfile, raw (sent as is), and the file each would be. */
const REFUSED: [target: string, file: string][] = [
  ['/.env', '.env'],
  ['/.htpasswd', '.htpasswd'],
  ['/.git/config', '.git/config'],
  ['/.git/', '.git'],
  ['/.git', '.git'],
  ['/a/.hidden/x', 'a/.hidden/x'],
  ['/a/.hidden/', 'a/.hidden'],
  // %-encoded dots (either case), and an encoded slash before the dot
  ['/%2eenv', '.env'],
  ['/%2Eenv', '.env'],
  ['/%2e%65%6e%76', '.env'],
  ['/%2egit/config', '.git/config'],
  ['/a/%2ehidden/x', 'a/.hidden/x'],
  ['/a%2f.hidden/x', 'a/.hidden/x'],
  // forms that normalize to a dot segment: '.' segments, doubled slashes
  ['/./.env', '.env'],
  ['//.env', '.env'],
  ['/a/./.hidden/x', 'a/.hidden/x'],
  ['/a//.hidden//x', 'a/.hidden/x'],
  ['/%2e/.env', '.env'],
  // with a query string
  ['/.env?x=1', '.env'],
];

let fx: Fixture;
before(() => {
  fx = makeFixture(256 * 1024);
  for (const [name, data] of Object.entries(SECRETS)) {
    const p = path.join(fx.root, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
  }
});
after(() => fx.remove());

function secretOf(file: string): string | undefined {
  return SECRETS[file];
}

describe('dotfiles', () => {
  test('hasDotSegment: any segment starting with a dot, nothing else', () => {
    for (const p of ['/.env', '/.git/config', '/a/.hidden/x', '/a/b/.c', '/.well-known/x', '/...']) assert.ok(hasDotSegment(p), p);
    for (const p of ['/', '/a.b', '/a/b.c/d', '/env.', '/a/b', '/x/y.z/']) assert.ok(!hasDotSegment(p), p);
  });

  for (const cache of [true, false]) {
    test(`default (ignore): every dotfile form is 404 and no byte of it is sent (cache ${cache ? 'on' : 'off'})`, T, async () => {
      const opts = cache ? {} : { cacheEntries: 0, cacheBytes: 0 };
      await withServer(fx.root, opts, async (s) => {
        for (const [target, file] of REFUSED) {
          for (const method of ['GET', 'HEAD'] as const) {
            const r = await rawOnce(s.port, requestText(method, target), method === 'HEAD');
            assert.equal(r.status, 404, `${method} ${target}: ${r.status}`);
            const secret = secretOf(file);
            if (secret !== undefined) assert.ok(!r.body.toString('latin1').includes(secret.trim()), `${target} leaked`);
          }
        }
        // Ordinary files beside them are served, so the 404s are the policy.
        const ok = await rawOnce(s.port, requestText('GET', '/a/visible.txt'));
        assert.equal(ok.status, 200);
        assert.equal(ok.body.toString(), SECRETS['a/visible.txt']);
      });
    });
  }

  test("'..' forms stay refused (403) and never reach a dotfile", T, async () => {
    await withServer(fx.root, {}, async (s) => {
      for (const target of ['/a/../.env', '/a/%2e%2e/.env', '/a/.%2e/.git/config', '/x/..%2f.env']) {
        const r = await rawOnce(s.port, requestText('GET', target));
        assert.ok(r.status === 403 || r.status === 404, `${target}: ${r.status}`);
        assert.ok(!r.body.toString('latin1').includes('hunter2'), `${target} leaked`);
        assert.ok(!r.body.toString('latin1').includes('repositoryformatversion'), `${target} leaked`);
      }
    });
  });

  test("dotfiles: 'deny' answers 403", T, async () => {
    await withServer(fx.root, { dotfiles: 'deny' }, async (s) => {
      for (const [target] of REFUSED) {
        const r = await rawOnce(s.port, requestText('GET', target));
        assert.equal(r.status, 403, `${target}: ${r.status}`);
        assert.ok(!r.body.toString('latin1').includes('hunter2'));
      }
    });
  });

  test("dotfiles: 'allow' serves them (byte-exact)", T, async () => {
    await withServer(fx.root, { dotfiles: 'allow' }, async (s) => {
      for (const [target, file] of REFUSED) {
        const secret = secretOf(file);
        if (secret === undefined) continue; // a directory: listing or redirect, not a file body
        const r = await rawOnce(s.port, requestText('GET', target));
        assert.equal(r.status, 200, `${target}: ${r.status}`);
        assert.equal(r.body.toString(), secret, target);
      }
    });
  });

  test('listings leave dot names out unless allowed', T, async () => {
    await withServer(fx.root, {}, async (s) => {
      const r = await rawOnce(s.port, requestText('GET', '/a/'));
      assert.equal(r.status, 200);
      const html = r.body.toString();
      assert.ok(html.includes('visible.txt'), html);
      assert.ok(!html.includes('.hidden'), html);
      const root = (await rawOnce(s.port, requestText('GET', '/list/'))).body.toString();
      assert.ok(root.includes('plain.txt'));
    });
    await withServer(fx.root, { dotfiles: 'allow' }, async (s) => {
      const html = (await rawOnce(s.port, requestText('GET', '/a/'))).body.toString();
      assert.ok(html.includes('visible.txt'), html);
      assert.ok(html.includes('.hidden/'), html);
    });
  });

  test('a bad dotfiles option is refused before anything binds', () => {
    for (const bad of ['yes', true, 0, null, 'Allow']) {
      assert.throws(() => StaticServer.start({ root: fx.root, port: 0, dotfiles: bad as never }),
        (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_VALUE' && /ignore.*deny.*allow/.test(e.message));
    }
  });

  test('--dotfiles: parsed (allow, deny, ignore; = form); anything else is a usage error', () => {
    assert.equal(parseServeArgs(['--dotfiles', 'allow']).dotfiles, 'allow');
    assert.equal(parseServeArgs(['--dotfiles=deny']).dotfiles, 'deny');
    assert.equal(parseServeArgs(['--dotfiles', 'ignore']).dotfiles, 'ignore');
    assert.equal(parseServeArgs([]).dotfiles, undefined);
    assert.throws(() => parseServeArgs(['--dotfiles']), /--dotfiles needs ignore, deny or allow, got nothing/);
    assert.throws(() => parseServeArgs(['--dotfiles', 'yes']), /--dotfiles needs ignore, deny or allow, got 'yes'/);
  });

  for (const workers of [1, 2]) {
    test(`the CLI: .env is 404 by default, served with --dotfiles allow (${workers} worker${workers > 1 ? 's' : ''})`,
      { ...T, skip: workers > 1 ? reusePortSkipReason() : undefined }, async () => {
        for (const [args, status] of [[[], 404], [['--dotfiles', 'allow'], 200]] as const) {
          const cli = await startCli([fx.root, '--port', '0', '--workers', String(workers), ...args]);
          try {
            const r = await within(rawOnce(cli.port, requestText('GET', '/.env')), 30_000, 'GET /.env');
            assert.equal(r.status, status, `${args.join(' ')}: ${r.status}`);
            if (status === 200) assert.equal(r.body.toString(), SECRETS['.env']);
            else assert.ok(!r.body.toString().includes('hunter2'));
          } finally {
            cli.child.kill('SIGTERM');
            await within(cli.exit, 30_000, 'the CLI exit');
          }
        }
      });
  }
});
