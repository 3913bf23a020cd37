/**
 * uringkit serve under attack (issue 16 items 1, 2, 3, 5, 6, 7, 8): expensive
 * headers, clients that never read, symbolic links swapped inside the cache
 * TTL, path variants that would flood the cache, trickled requests, files
 * truncated or replaced while cached, bare LF and TLS bytes.
 *
 * Waits are bounded by hang guards (`within`), never timing assertions.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { FileCache } from '../../src/serve/cache.js';
import { makeEntry } from '../../src/serve/files.js';
import type { Stats } from '../../src/fs/stats.js';
import { StaticServer } from '../../src/serve/server.js';
import {
  makeFixture, pseudoRandom, rawOnce, RawClient, requestText, sha256, withServer as withRoot, within, type Fixture,
} from './helpers.js';

let fx: Fixture;
before(() => {
  fx = makeFixture(4 * 1024 * 1024);
});
after(() => fx.remove());

/** Polls `cond` every 10 ms until true (rejects after `ms`: a hang guard). */
function until(cond: () => boolean, ms: number, label: string): Promise<void> {
  return within((async () => {
    while (!cond()) await new Promise((r) => setTimeout(r, 10));
  })(), ms, label);
}

function withServer(o: Parameters<typeof StaticServer.start>[0], fn: (s: StaticServer) => Promise<void>): Promise<void> {
  return withRoot(fx.root, o, fn);
}

describe('item 1: costly headers do not stall the server', () => {
  test('four connections with a 16,000-space Range and a bad character; a normal GET meanwhile', async () => {
    await withServer({}, async (s) => {
      const evil = requestText('GET', '/data.bin', { Range: `bytes=${' '.repeat(16_000)}x` });
      const clients = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(s.port)));
      try {
        for (const c of clients) c.write(evil);
        const normal = await rawOnce(s.port, requestText('GET', '/hello.txt'));
        assert.equal(normal.status, 200);
        for (const c of clients) {
          const r = await c.response();
          assert.equal(r.status, 200); // the Range is ignored
          assert.deepEqual(r.body, fx.files['data.bin']);
        }
      } finally {
        for (const c of clients) c.destroy();
      }
    });
  });
});

describe('item 8: bare LF and non-HTTP bytes', () => {
  // With a header deadline of 10 minutes, only an immediate answer gets past the guard.
  const opts = { headerTimeoutMs: 600_000, requestTimeoutMs: 600_000 };
  test('a bare-LF request gets 400 at once, and the connection closes', async () => {
    await withServer(opts, async (s) => {
      for (const text of ['GET /hello.txt HTTP/1.1\nHost: a\n\n', 'GET /hello.txt HTTP/1.1\r\nHost: a\n']) {
        const c = await RawClient.connect(s.port);
        c.write(text);
        const r = await within(c.response(), 20_000, 'the 400');
        assert.equal(r.status, 400);
        await c.waitClosed();
      }
    });
  });

  test('a TLS ClientHello gets 400 at once', async () => {
    await withServer(opts, async (s) => {
      const c = await RawClient.connect(s.port);
      // The start of a real ClientHello: handshake record, TLS 1.0 record version, length, ClientHello.
      c.write(Buffer.from('160301020001000001fc0303', 'hex'));
      const r = await within(c.response(), 20_000, 'the 400');
      assert.equal(r.status, 400);
      await c.waitClosed();
    });
  });
});

describe('item 6: a total request deadline', () => {
  test('a request body trickled a byte at a time is cut off at the deadline although bytes keep coming', async () => {
    await withServer({ requestTimeoutMs: 1000, headerTimeoutMs: 1000, keepAliveTimeoutMs: 600_000 }, async (s) => {
      const c = await RawClient.connect(s.port);
      c.write(requestText('GET', '/hello.txt', { 'Content-Length': '100000' }));
      const r = await c.response();
      assert.equal(r.status, 200);
      let sent = 0;
      const trickle = setInterval(() => {
        if (!c.ended && !c.sock.destroyed) {
          c.sock.write('x');
          sent++;
        }
      }, 50);
      try {
        await c.waitClosed(30_000);
      } finally {
        clearInterval(trickle);
        c.destroy();
      }
      assert.ok(sent > 0 && sent < 100_000, `${sent} body bytes were sent`);
    });
  });

  test('a head trickled a byte at a time gets 408 at the deadline', async () => {
    await withServer({ requestTimeoutMs: 1000, headerTimeoutMs: 1000, keepAliveTimeoutMs: 600_000 }, async (s) => {
      const c = await RawClient.connect(s.port);
      const text = `GET /hello.txt HTTP/1.1\r\nHost: a\r\nX-Slow: ${'y'.repeat(10_000)}\r\n\r\n`;
      let i = 0;
      const trickle = setInterval(() => {
        if (i < text.length && !c.ended && !c.sock.destroyed) c.sock.write(text[i++]!);
      }, 20);
      try {
        const r = await within(c.response(), 30_000, 'the 408');
        assert.equal(r.status, 408);
        assert.ok(i < text.length, 'the head was complete');
        await c.waitClosed();
      } finally {
        clearInterval(trickle);
        c.destroy();
      }
    });
  });
});

describe('item 2: clients that never read', () => {
  test('non-reading clients of a large file are all disconnected after the send deadline; others are served', async () => {
    const huge = pseudoRandom(48 * 1024 * 1024, 21);
    fs.writeFileSync(path.join(fx.root, 'huge.bin'), huge);
    await withServer({ sendTimeoutMs: 1000 }, async (s) => {
      const stalled: RawClient[] = [];
      try {
        for (let i = 0; i < 6; i++) {
          const c = await RawClient.connect(s.port);
          c.sock.pause(); // never reads: the response fills the socket buffers, then the splice blocks
          c.write(requestText('GET', i % 2 === 0 ? '/huge.bin' : '/mid.bin'));
          stalled.push(c);
        }
        await until(() => s.stats().sendFiles >= 6, 20_000, 'the transfers to start');
        // Meanwhile a normal client gets its whole file.
        const ok = await rawOnce(s.port, requestText('GET', '/big.bin'));
        assert.equal(sha256(ok.body), sha256(fx.files['big.bin']!));
        // The server drops every stalled connection (the clients never close theirs).
        await until(() => s.stats().connections === 0, 60_000, 'the stalled connections to be closed');
        // Those that fit in the socket buffers (mid.bin) were delivered whole; the huge ones were cut.
        for (const [i, c] of stalled.entries()) {
          c.sock.resume();
          await c.waitClosed();
          if (i % 2 === 0) await assert.rejects(c.response(), /connection closed/);
        }
      } finally {
        for (const c of stalled) c.destroy();
      }
    });
  });
  test('a non-reading client of pipelined small (in-memory) responses is disconnected after the send deadline', async () => {
    await withServer({ sendTimeoutMs: 1000 }, async (s) => {
      const c = await RawClient.connect(s.port);
      try {
        c.sock.pause();
        // ~20 MB of responses from memory: far more than the socket buffers hold.
        c.write(requestText('GET', '/data.bin').repeat(2000));
        await until(() => s.stats().requests > 0, 20_000, 'the requests to arrive');
        await until(() => s.stats().connections === 0, 60_000, 'the stalled connection to be closed');
      } finally {
        c.destroy();
      }
    });
  });
});

describe('item 3: symbolic links swapped while cached', () => {
  const SECRET = 'TOP SECRET';
  let swapDir: string;
  before(() => {
    swapDir = path.join(fx.root, 'swap');
    fs.mkdirSync(swapDir);
    // Inside: a small and a big file; outside: files of the same names full of the secret.
    fs.writeFileSync(path.join(swapDir, 'small.txt'), 'inside small\n');
    fs.writeFileSync(path.join(swapDir, 'big.bin'), Buffer.alloc(300 * 1024, 'i'));
    fs.writeFileSync(path.join(fx.outside, 'small.txt'), `${SECRET} small\n`);
    fs.writeFileSync(path.join(fx.outside, 'big.bin'), Buffer.from(`${SECRET} `.repeat(30 * 1024)));
    fs.writeFileSync(path.join(fx.outside, 'real.txt'), `${SECRET} real\n`);
    fs.writeFileSync(path.join(fx.root, 'real.txt'), 'inside real\n');
    fs.writeFileSync(path.join(fx.root, 'real.bin'), Buffer.alloc(300 * 1024, 'r'));
    fs.writeFileSync(path.join(fx.outside, 'real.bin'), Buffer.from(`${SECRET} `.repeat(30 * 1024)));
  });

  /** A child process that swaps `script`'s names back and forth (bounded count) until killed. */
  function swapper(script: string): { stop(): Promise<void> } {
    const child = spawn(process.execPath, ['-e', `
      const fs = require('node:fs');
      for (let i = 0; i < 2_000_000; i++) { ${script} }`], { stdio: 'ignore' });
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    return {
      async stop() {
        child.kill('SIGKILL');
        await exited;
      },
    };
  }

  async function hammer(s: StaticServer, targets: string[], n: number): Promise<Map<number, number>> {
    const seen = new Map<number, number>();
    const c = await RawClient.connect(s.port);
    try {
      for (let i = 0; i < n; i++) {
        const r = await c.request('GET', targets[i % targets.length]!);
        seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
        assert.ok(!r.body.includes(SECRET), `served a file outside the root: ${targets[i % targets.length]} (${r.status})`);
        assert.ok([200, 301, 403, 404].includes(r.status), `status ${r.status}`);
        if (r.status === 200) assert.equal(r.body.length, Number(r.headers['content-length']));
        if (r.headers.connection === 'close') break;
      }
    } finally {
      c.destroy();
    }
    return seen;
  }

  const q = (p: string): string => JSON.stringify(p);
  for (const cache of [true, false]) {
    const opts = cache ? { cacheTtlMs: 600_000 } : { cacheBytes: 0, cacheEntries: 0 };
    const label = cache ? 'inside a long TTL' : 'with the cache off';

    test(`the file swapped for a link out of the root, ${label}`, async () => {
      const f = path.join(fx.root, 'real.txt'), b = path.join(fx.root, 'real.bin');
      const keep = path.join(fx.root, '.real.txt'), keepB = path.join(fx.root, '.real.bin');
      await withServer(opts, async (s) => {
        // Warm the cache while the names are real files inside the root.
        assert.equal((await rawOnce(s.port, requestText('GET', '/real.txt'))).status, 200);
        assert.equal((await rawOnce(s.port, requestText('GET', '/real.bin'))).status, 200);
        const sw = swapper(`
          for (const [n, k, o] of [[${q(f)}, ${q(keep)}, ${q(path.join(fx.outside, 'real.txt'))}],
                                   [${q(b)}, ${q(keepB)}, ${q(path.join(fx.outside, 'real.bin'))}]]) {
            try { fs.renameSync(n, k); fs.symlinkSync(o, n); fs.unlinkSync(n); fs.renameSync(k, n); } catch {}
          }`);
        try {
          await hammer(s, ['/real.txt', '/real.bin'], 400);
        } finally {
          await sw.stop();
        }
      });
      for (const [n, k] of [[f, keep], [b, keepB]] as const) {
        if (fs.existsSync(k)) {
          fs.rmSync(n, { force: true });
          fs.renameSync(k, n);
        }
      }
    });

    test(`a parent directory swapped for a link out of the root, ${label}`, async () => {
      const keep = path.join(fx.root, '.swap');
      await withServer(opts, async (s) => {
        assert.equal((await rawOnce(s.port, requestText('GET', '/swap/small.txt'))).status, 200);
        assert.equal((await rawOnce(s.port, requestText('GET', '/swap/big.bin'))).status, 200);
        const sw = swapper(`
          try { fs.renameSync(${q(swapDir)}, ${q(keep)}); fs.symlinkSync(${q(fx.outside)}, ${q(swapDir)});
                fs.unlinkSync(${q(swapDir)}); fs.renameSync(${q(keep)}, ${q(swapDir)}); } catch {}`);
        try {
          await hammer(s, ['/swap/small.txt', '/swap/big.bin', '/swap/'], 400);
        } finally {
          await sw.stop();
        }
      });
      if (fs.existsSync(keep)) {
        fs.rmSync(swapDir, { force: true, recursive: false });
        fs.renameSync(keep, swapDir);
      }
    });
  }

  test('the path walk refuses links out of the root even when cached before the link existed', async () => {
    await withServer({ cacheTtlMs: 600_000 }, async (s) => {
      const name = path.join(fx.root, 'late.txt');
      fs.writeFileSync(name, 'inside late\n');
      assert.equal((await rawOnce(s.port, requestText('GET', '/late.txt'))).status, 200);
      fs.rmSync(name);
      fs.symlinkSync(path.join(fx.outside, 'secret.txt'), name);
      // Cached (small body in memory) → the cached inside bytes or a refusal; never the secret.
      const r = await rawOnce(s.port, requestText('GET', '/late.txt'));
      assert.ok(!r.body.includes(SECRET));
      fs.rmSync(name);
    });
  });
});

describe('item 5: the cache is keyed by the normalized path and bounded', () => {
  test('variants of one path share one entry', async () => {
    await withServer({}, async (s) => {
      const variants = ['/hello.txt', '/./hello.txt', '//hello.txt', '/%68ello.txt', '/%68%65llo.txt', '///./hello.txt'];
      for (let i = 1; i <= 300; i++) variants.push(`/${'./'.repeat(i)}hello.txt`, `/${'/'.repeat(i)}hello.txt`);
      for (const v of variants) {
        const r = await rawOnce(s.port, requestText('GET', v));
        assert.equal(r.status, 200, v);
        assert.deepEqual(r.body, fx.files['hello.txt']);
      }
      const st = s.stats();
      assert.equal(st.cacheEntries, 1);
      assert.ok(st.cacheBytes < 4096, `${st.cacheBytes} bytes cached for one small file`);
    });
  });

  test('entries and body bytes stay within their bounds', async () => {
    const dir = path.join(fx.root, 'many');
    fs.mkdirSync(dir);
    for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(dir, `f${i}.txt`), Buffer.alloc(1000, 97 + (i % 26)));
    await withServer({ cacheEntries: 10, cacheBytes: 5000 }, async (s) => {
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 40; i++) {
          const r = await rawOnce(s.port, requestText('GET', `/many/f${i}.txt`));
          assert.equal(r.status, 200);
          assert.deepEqual(r.body, Buffer.alloc(1000, 97 + (i % 26)));
          const st = s.stats();
          assert.ok(st.cacheEntries <= 10, `${st.cacheEntries} entries`);
        }
      }
    });
  });

  test('FileCache: metadata bytes are bounded too (long keys)', () => {
    const cache = new FileCache({ maxBodyBytes: 1 << 20, maxEntries: 1 << 20, maxMetaBytes: 64 * 1024 });
    const st = fs.statSync(path.join(fx.root, 'hello.txt')) as unknown as Stats;
    for (let i = 0; i < 1000; i++) {
      const key = `/${'k'.repeat(2000)}${i}`;
      cache.set(makeEntry(key, path.join(fx.root, key), st));
      assert.ok(cache.bytes <= 64 * 1024, `${cache.bytes} bytes after ${i + 1} entries`);
    }
    assert.ok(cache.size > 0 && cache.size < 1000);
    // An entry bigger than the whole budget is not kept (and evicts nothing).
    const before = cache.size;
    cache.set(makeEntry(`/${'z'.repeat(100_000)}`, '/z', st));
    assert.equal(cache.size, before);
  });
});

describe('item 7: files truncated, replaced or turned into directories while cached', () => {
  const opts = { cacheTtlMs: 600_000 };
  test('truncated in place: Content-Length and bytes come from the open file', async () => {
    const p = path.join(fx.root, 'shrink.bin');
    const data = pseudoRandom(2 * 1024 * 1024, 31);
    fs.writeFileSync(p, data);
    await withServer(opts, async (s) => {
      const c = await RawClient.connect(s.port);
      try {
        const full = await c.request('GET', '/shrink.bin');
        assert.equal(full.body.length, data.length);
        fs.truncateSync(p, 100_000);
        const r = await c.request('GET', '/shrink.bin');
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-length'], '100000');
        assert.deepEqual(r.body, data.subarray(0, 100_000));
        assert.notEqual(r.headers.etag, full.headers.etag);
        // Small now: read, not spliced, and still right.
        fs.truncateSync(p, 1000);
        const small = await c.request('GET', '/shrink.bin');
        assert.deepEqual(small.body, data.subarray(0, 1000));
      } finally {
        c.destroy();
      }
    });
  });

  test('replaced by another file (rename over it): the new bytes with their own length', async () => {
    const p = path.join(fx.root, 'replace.bin');
    fs.writeFileSync(p, pseudoRandom(500_000, 1));
    await withServer(opts, async (s) => {
      assert.equal((await rawOnce(s.port, requestText('GET', '/replace.bin'))).body.length, 500_000);
      const next = pseudoRandom(300_000, 2);
      fs.writeFileSync(`${p}.new`, next);
      fs.renameSync(`${p}.new`, p);
      const r = await rawOnce(s.port, requestText('GET', '/replace.bin'));
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, next);
    });
  });

  test('a file replaced by a directory: a redirect, never an empty 200', async () => {
    const p = path.join(fx.root, 'becomes-dir');
    fs.writeFileSync(p, pseudoRandom(200_000, 3));
    await withServer(opts, async (s) => {
      assert.equal((await rawOnce(s.port, requestText('GET', '/becomes-dir'))).status, 200);
      fs.rmSync(p);
      fs.mkdirSync(p);
      fs.writeFileSync(path.join(p, 'index.html'), 'now a directory\n');
      const r = await rawOnce(s.port, requestText('GET', '/becomes-dir'));
      assert.equal(r.status, 301);
      assert.equal(r.headers.location, '/becomes-dir/');
      assert.equal((await rawOnce(s.port, requestText('GET', '/becomes-dir/'))).body.toString(), 'now a directory\n');
      // ...and back: the directory replaced by a file.
      fs.rmSync(p, { recursive: true });
      fs.writeFileSync(p, 'a file again\n');
      assert.equal((await rawOnce(s.port, requestText('GET', '/becomes-dir'))).body.toString(), 'a file again\n');
      // '/becomes-dir/' was answered from memory (index.html's snapshot): within the TTL that snapshot, or 404.
      const gone = await rawOnce(s.port, requestText('GET', '/becomes-dir/'));
      assert.ok(gone.status === 404 || gone.body.toString() === 'now a directory\n', `${gone.status}`);
    });
  });

  test('a file that shrinks mid-transfer: the connection is closed, no other response follows', async () => {
    const p = path.join(fx.root, 'midshrink.bin');
    fs.writeFileSync(p, pseudoRandom(32 * 1024 * 1024, 5));
    await withServer(opts, async (s) => {
      const c = await RawClient.connect(s.port);
      try {
        const started = c.pauseAtFirstData();
        c.write(requestText('GET', '/midshrink.bin') + requestText('GET', '/hello.txt'));
        await within(started, 20_000, 'the transfer to start');
        fs.truncateSync(p, 1024 * 1024);
        c.sock.resume();
        await assert.rejects(c.response(), /connection closed/);
        await c.waitClosed();
      } finally {
        c.destroy();
      }
    });
  });
});
