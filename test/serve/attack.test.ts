/**
 * uringkit serve against a hostile client (the SERVE-ATTACK pass): what a
 * second round of attacks found, each case compared with nginx where nginx
 * has an answer (docs/reliability.md, serve section).
 *
 * Waits are bounded by hang guards (`within`), never timing assertions.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { HEAD_INCOMPLETE, HEAD_MALFORMED, parseRequest, scanHead } from '../../src/serve/http.js';
import { StaticServer } from '../../src/serve/server.js';
import {
  makeFixture, pseudoRandom, rawOnce, RawClient, requestText, startChildServer, withServer as withRoot, within, type Fixture,
} from './helpers.js';

let fx: Fixture;
before(() => {
  fx = makeFixture(1024 * 1024);
});
after(() => fx.remove());

function withServer(o: Parameters<typeof StaticServer.start>[0], fn: (s: StaticServer) => Promise<void>): Promise<void> {
  return withRoot(fx.root, o, fn);
}

const bytes = (t: string): Buffer => Buffer.from(t, 'latin1');

describe('request lines and heads', () => {
  test('an HTTP/0.9-style line (no version) is malformed as soon as its line is complete', () => {
    for (const t of ['GET /hello.txt\r\n', 'GET /\r\nHost: a\r\n', 'GET\r\n']) {
      assert.equal(scanHead(bytes(t), 0, 0, t.length), HEAD_MALFORMED, JSON.stringify(t));
    }
    // Complete request lines are not refused early; incomplete ones wait.
    const ok = 'GET / HTTP/1.1\r\nHost: a\r\n';
    assert.equal(scanHead(bytes(ok), 0, 0, ok.length), HEAD_INCOMPLETE);
    assert.equal(scanHead(bytes('GET /hello.txt'), 0, 0, 14), HEAD_INCOMPLETE);
    // Pipelined: the second head's first line is checked from its own start.
    const two = bytes(`${ok}\r\nGET /x\r\n`);
    assert.equal(scanHead(two, ok.length + 2, 0, two.length), HEAD_MALFORMED);
  });

  test('HTTP/0.9-style request over the wire: 400 at once, not after the header timeout', async () => {
    // A header timeout far beyond the hang guard: an answer can only come from the early check.
    await withServer({ headerTimeoutMs: 600_000, requestTimeoutMs: 600_000 }, async (s) => {
      const r = await within(rawOnce(s.port, 'GET /hello.txt\r\n'), 20_000, 'answer to an HTTP/0.9 line');
      assert.equal(r.status, 400);
    });
  });

  test('empty lines before a request line are ignored (RFC 9112 2.2, as nginx)', async () => {
    await withServer({}, async (s) => {
      const c = await RawClient.connect(s.port);
      try {
        c.write(`\r\n\r\n${requestText('GET', '/hello.txt')}`);
        const r = await c.response();
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, fx.files['hello.txt']);
        // After a body (a client that appends CRLF to it), on the same connection.
        c.write(`${requestText('GET', '/style.css', { 'Content-Length': '3' })}abc\r\n`);
        c.write(requestText('GET', '/hello.txt'));
        const r2 = await c.response();
        assert.equal(r2.status, 200);
        assert.deepEqual(r2.body, fx.files['style.css']);
        const r3 = await c.response();
        assert.equal(r3.status, 200);
        assert.deepEqual(r3.body, fx.files['hello.txt']);
        assert.equal(c.ended, false);
      } finally {
        c.destroy();
      }
    });
  });

  test('CRLFs alone do not keep a connection open: the head deadline still runs', async () => {
    await withServer({ headerTimeoutMs: 200, requestTimeoutMs: 10_000 }, async (s) => {
      const c = await RawClient.connect(s.port);
      try {
        let stop = false;
        const drip = (async () => {
          while (!stop && !c.ended) {
            c.write('\r\n');
            await new Promise((r) => setTimeout(r, 20));
          }
        })();
        await c.waitClosed(20_000);
        stop = true;
        await drip;
      } finally {
        c.destroy();
      }
    });
  });

  test('a head over the limit: 414 when the request line alone is too long (as nginx), 431 for headers', async () => {
    await withServer({}, async (s) => {
      const longTarget = await rawOnce(s.port, `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: a\r\n\r\n`);
      assert.equal(longTarget.status, 414);
      assert.equal(longTarget.reason, 'URI Too Long');
      // Still arriving (no LF yet) and already over the limit.
      const partial = await rawOnce(s.port, `GET /${'a'.repeat(20_000)}`);
      assert.equal(partial.status, 414);
      const longHeader = await rawOnce(s.port, `GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`);
      assert.equal(longHeader.status, 431);
      const many = await rawOnce(s.port, `GET / HTTP/1.1\r\nHost: a\r\n${'a: b\r\n'.repeat(10_000)}\r\n`);
      assert.equal(many.status, 431);
    });
  });

  test('Host values with characters no host has are refused (400), as nginx; an empty one is allowed', () => {
    const req = (host: string): ReturnType<typeof parseRequest> => {
      const t = bytes(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      return parseRequest(t, 0, t.length);
    };
    for (const h of ['a b', 'a/b', 'user@host', 'a\\b', 'a"b', 'a<b>', 'h\u00e9']) assert.equal(req(h), 400, JSON.stringify(h));
    for (const h of ['', 'localhost', 'example.com:8080', '127.0.0.1:1', '[::1]:80', 'xn--bcher-kva.example', 'a_b']) {
      assert.notEqual(typeof req(h), 'number', JSON.stringify(h));
    }
  });
});

describe('a client that pipelines requests and never reads', () => {
  test('holds a bounded amount of server memory per connection', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    assert.ok(gc !== undefined, 'the test runner passes --expose-gc (scripts/test.mjs)');
    // 60 KB: cached, answered from one shared Buffer; before the fix each connection held a
    // private copy of up to 1 MiB of such responses (300 connections: +380 MB RSS).
    fx.files['p60.bin'] = pseudoRandom(60_000, 21);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${fx.root}/p60.bin`, fx.files['p60.bin']);
    const N = 40;
    await withServer({}, async (s) => {
      const clients = await Promise.all(Array.from({ length: N }, () => RawClient.connect(s.port)));
      try {
        gc();
        const base = process.memoryUsage().arrayBuffers;
        const reqs = requestText('GET', '/p60.bin').repeat(2000);
        for (const c of clients) {
          c.sock.pause();
          c.write(reqs);
        }
        // Until the server stalls on every connection (its request count stops moving).
        await within((async () => {
          let last = -1;
          let same = 0;
          while (same < 10) {
            await new Promise((r) => setTimeout(r, 100));
            const n = s.stats().requests;
            same = n === last && n > 0 ? same + 1 : 0;
            last = n;
          }
        })(), 60_000, 'the server stalls on non-reading clients');
        assert.ok(s.stats().requests < N * 2000, 'the server stopped answering requests nobody reads');
        gc();
        const grown = process.memoryUsage().arrayBuffers - base;
        // Per connection: one send batch (64 KiB) and queued views of the shared response; the
        // bound leaves room for the test's own buffers (the requests written, 2000 x ~40 bytes).
        assert.ok(grown < N * 384 * 1024, `${(grown / N / 1024).toFixed(0)} KiB of buffers per non-reading connection`);
      } finally {
        for (const c of clients) c.destroy();
      }
    });
  });
});

describe('permissions', () => {
  // Permission checks do not apply to root: as root, the server runs in a child as `nobody`.
  const root = process.getuid?.() === 0;
  let nobody: number | undefined;
  if (root) {
    const id = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' });
    nobody = id.status === 0 ? Number(id.stdout.trim()) : undefined;
  }
  // ...and `nobody` must be able to run this Node binary (one installed under a private directory is not).
  const runsNode = nobody === undefined ||
    spawnSync(process.execPath, ['-e', ''], { uid: nobody, stdio: 'ignore' }).status === 0;
  const skip = root && nobody === undefined ? 'running as root and there is no user nobody to run the server as'
    : !runsNode ? `user nobody cannot execute ${process.execPath} (a private directory): cannot drop root for the server`
      : false;

  test('a file or directory the server may not read is 403 (EACCES), as nginx; never 404, never a listing', { skip },
    async () => {
      const base = path.join(fx.root, 'perm');
      fs.mkdirSync(path.join(base, 'locked'), { recursive: true });
      fs.mkdirSync(path.join(base, 'hidden-index'));
      fs.writeFileSync(path.join(base, 'secret.txt'), 'not yours\n');
      fs.writeFileSync(path.join(base, 'locked', 'f.txt'), 'not yours\n');
      fs.writeFileSync(path.join(base, 'hidden-index', 'index.html'), 'not yours\n');
      fs.writeFileSync(path.join(base, 'hidden-index', 'other.txt'), 'listed?\n');
      fs.chmodSync(path.join(base, 'secret.txt'), 0o000);
      fs.chmodSync(path.join(base, 'locked'), 0o000);
      fs.chmodSync(path.join(base, 'hidden-index', 'index.html'), 0o000);
      const expect = async (port: number): Promise<void> => {
        for (const p of ['/perm/secret.txt', '/perm/locked/', '/perm/hidden-index/']) {
          const r = await rawOnce(port, requestText('GET', p));
          assert.equal(r.status, 403, p);
          assert.ok(!r.body.includes('listed?') && !r.body.includes('not yours'), p);
        }
        assert.equal((await rawOnce(port, requestText('GET', '/hello.txt'))).status, 200);
      };
      try {
        if (!root) {
          await withServer({}, (s) => expect(s.port));
          return;
        }
        // The child must reach the fixture: open the temporary directories to others.
        for (let d = fx.root; d.startsWith(fx.tmp.dir); d = path.dirname(d)) fs.chmodSync(d, 0o755);
        // ...and let it pass through the directories above (the test runner gives each file a private TMPDIR).
        for (let d = path.dirname(fx.tmp.dir); d.startsWith(os.tmpdir()) && d !== path.dirname(d); d = path.dirname(d)) {
          fs.chmodSync(d, (fs.statSync(d).mode & 0o777) | 0o111);
        }
        const srv = await startChildServer(fx.root, {}, { uid: nobody });
        try {
          await expect(srv.port);
        } finally {
          srv.child.kill('SIGKILL');
        }
      } finally {
        fs.rmSync(base, { recursive: true, force: true });
      }
    });
});
