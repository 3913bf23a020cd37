/**
 * uringkit serve, functional: every status the server answers with, HEAD,
 * conditional requests (304), ranges (206, 416), directories (index.html,
 * listing, redirect), traversal attempts and symbolic links out of the root,
 * the header size limit (431), keep-alive reuse, pipelining, a big file over
 * sendFile checked by SHA-256, timeouts, the access log, and graceful
 * shutdown of the CLI in a child process (SIGTERM mid-download).
 *
 * Clients are node:http / fetch and a raw node:net client (for requests a
 * well-behaved client would never send). Loopback only; no timing assertions.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Ring } from '../../src/index.js';
import { drainSendFilePipes } from '../../src/net/sendfile.js';
import { StaticServer } from '../../src/serve/server.js';
import { fdSnapshot, fdsLeftOpen } from '../helpers/fds.js';
import { reusePortSkipReason } from '../helpers/io-uring-probe.js';
import { decodePath } from '../../src/serve/files.js';
import { parseRange } from '../../src/serve/http.js';
import {
  AWKWARD_NAMES, makeFixture, pseudoRandom, rawOnce, RawClient, requestText, sha256, startCli, within, type Fixture,
} from './helpers.js';

let fx: Fixture;
let server: StaticServer;
let port: number;

before(() => {
  fx = makeFixture();
  server = StaticServer.start({ root: fx.root, port: 0 });
  port = server.port;
});

after(async () => {
  await server.close();
  assert.deepEqual(server.errors, [], 'unexpected server-side errors');
  fx.remove();
});

/** GET with node:http (fresh connection per call unless an agent is given). */
function get(target: string, headers: Record<string, string> = {}, method = 'GET', agent?: http.Agent):
  Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, method, headers, agent: agent ?? false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({
        status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), reused: req.reusedSocket,
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('parsing helpers', () => {
  test('decodePath normalizes and refuses', () => {
    assert.equal(decodePath('/a/b.txt'), '/a/b.txt');
    assert.equal(decodePath('/a/./b//c/'), '/a/b/c/');
    assert.equal(decodePath('/sp%20ace.txt'), '/sp ace.txt');
    assert.equal(decodePath('/..'), 403);
    assert.equal(decodePath('/a/../b'), 403);
    assert.equal(decodePath('/%2e%2e/x'), 403);
    assert.equal(decodePath('/a%2f..%2fb'), 403);
    assert.equal(decodePath('/x%00y'), 400);
    assert.equal(decodePath('/%zz'), 400);
    assert.equal(decodePath('/%c3'), 400); // truncated UTF-8
  });

  test('parseRange', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-1000', 100), { start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=50-1000', 100), { start: 50, end: 99 });
    assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-1,5-6', 100), 'none');
    assert.equal(parseRange('items=0-1', 100), 'none');
    assert.equal(parseRange('bytes=9-1', 100), 'none');
  });
});

describe('GET and HEAD', () => {
  test('a small file: 200 with type, length, validators and the bytes', async () => {
    const r = await get('/hello.txt');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.headers['content-length'], String(fx.files['hello.txt']!.length));
    assert.match(r.headers.etag!, /^"[0-9a-z]+-[0-9a-z]+-[0-9a-z]+"$/);
    assert.ok(!Number.isNaN(Date.parse(r.headers['last-modified']!)));
    assert.ok(!Number.isNaN(Date.parse(r.headers.date!)));
    assert.equal(r.headers['accept-ranges'], 'bytes');
    assert.deepEqual(r.body, fx.files['hello.txt']);
    // A second GET comes from the cache: same bytes, same validators.
    const again = await get('/hello.txt');
    assert.deepEqual(again.body, r.body);
    assert.equal(again.headers.etag, r.headers.etag);
  });

  test('content types from mime-types', async () => {
    assert.equal((await get('/style.css')).headers['content-type'], 'text/css; charset=utf-8');
    assert.equal((await get('/data.bin')).headers['content-type'], 'application/octet-stream');
    assert.equal((await get('/dir/index.html')).headers['content-type'], 'text/html; charset=utf-8');
  });

  test('HEAD: the same headers, no body (small, big and missing files)', async () => {
    for (const name of ['hello.txt', 'big.bin']) {
      const g = await get(`/${name}`);
      const h = await rawOnce(port, requestText('HEAD', `/${name}`), true);
      assert.equal(h.status, 200);
      assert.equal(h.headers['content-length'], String(fx.files[name]!.length));
      assert.equal(h.headers.etag, g.headers.etag);
      assert.equal(h.headers['content-type'], g.headers['content-type']);
      assert.equal(h.body.length, 0);
    }
    // The raw client would see any body bytes as the start of the next response.
    const c = await RawClient.connect(port);
    try {
      assert.equal((await c.request('HEAD', '/hello.txt')).status, 200);
      assert.equal((await c.request('HEAD', '/missing')).status, 404);
      const g = await c.request('GET', '/hello.txt');
      assert.equal(g.status, 200);
      assert.deepEqual(g.body, fx.files['hello.txt']);
    } finally {
      c.destroy();
    }
  });

  test('an empty file', async () => {
    const r = await get('/empty.txt');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], '0');
    assert.equal(r.body.length, 0);
  });

  test('a big file goes out with sendFile: SHA-256 of what arrives equals the file', async () => {
    const before = server.stats().sendFiles;
    const r = await get('/big.bin');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(fx.files['big.bin']!.length));
    assert.equal(sha256(r.body), sha256(fx.files['big.bin']!));
    assert.ok(server.stats().sendFiles > before, 'sendFile was not used');
    // ...and again on a kept-alive connection, twice in a row.
    const c = await RawClient.connect(port);
    try {
      for (let i = 0; i < 2; i++) {
        const g = await c.request('GET', '/big.bin');
        assert.equal(sha256(g.body), sha256(fx.files['big.bin']!));
      }
      assert.deepEqual((await c.request('GET', '/hello.txt')).body, fx.files['hello.txt']);
    } finally {
      c.destroy();
    }
  });

  test('fetch() works against it', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/data.bin`);
    assert.equal(r.status, 200);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), fx.files['data.bin']);
  });
});

describe('conditional requests', () => {
  test('If-None-Match: 304 on a match (exact, weak, in a list, *); 200 otherwise', async () => {
    const { headers } = await get('/hello.txt');
    const etag = headers.etag!;
    for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
      const r = await get('/hello.txt', { 'If-None-Match': inm });
      assert.equal(r.status, 304, inm);
      assert.equal(r.body.length, 0);
      assert.equal(r.headers.etag, etag);
      assert.equal(r.headers['last-modified'], headers['last-modified']);
    }
    assert.equal((await get('/hello.txt', { 'If-None-Match': '"other"' })).status, 200);
  });

  test('If-Modified-Since: 304 when not modified since; If-None-Match wins', async () => {
    const { headers } = await get('/data.bin');
    const lm = headers['last-modified']!;
    assert.equal((await get('/data.bin', { 'If-Modified-Since': lm })).status, 304);
    // Later than the file but not in the future: not modified.
    const later = new Date(Math.max(Date.parse(lm), Date.now() - 2000)).toUTCString();
    assert.equal((await get('/data.bin', { 'If-Modified-Since': later })).status, 304);
    // A date in the future is not a valid validator (RFC 9110 13.1.3): the whole file (issue 16 item 8).
    const future = new Date(Date.now() + 3600_000).toUTCString();
    assert.equal((await get('/data.bin', { 'If-Modified-Since': future })).status, 200);
    const earlier = new Date(Date.parse(lm) - 3600_000).toUTCString();
    assert.equal((await get('/data.bin', { 'If-Modified-Since': earlier })).status, 200);
    assert.equal((await get('/data.bin', { 'If-Modified-Since': 'not a date' })).status, 200);
    // A non-matching If-None-Match overrides a matching If-Modified-Since.
    assert.equal((await get('/data.bin', { 'If-None-Match': '"x"', 'If-Modified-Since': lm })).status, 200);
  });

  test('304 for big (sendFile) files too, with HEAD', async () => {
    const { headers } = await get('/mid.bin', {}, 'HEAD');
    assert.equal((await get('/mid.bin', { 'If-None-Match': headers.etag! })).status, 304);
    assert.equal((await get('/mid.bin', { 'If-None-Match': headers.etag! }, 'HEAD')).status, 304);
  });
});

describe('ranges', () => {
  const cases: [string, number, number][] = [['bytes=0-9', 0, 9], ['bytes=100-', 100, -1], ['bytes=-7', -7, -1],
    ['bytes=9990-20000', 9990, 20000]];
  for (const name of ['data.bin', 'mid.bin', 'big.bin']) {
    test(`single ranges on ${name}: 206 with Content-Range and the right bytes`, async () => {
      const data = fx.files[name]!;
      for (const [range, a, b] of cases) {
        const start = a < 0 ? data.length + a : a;
        const end = b < 0 ? data.length - 1 : Math.min(b, data.length - 1);
        const r = await get(`/${name}`, { Range: range });
        assert.equal(r.status, 206, range);
        assert.equal(r.headers['content-range'], `bytes ${start}-${end}/${data.length}`, range);
        assert.equal(r.headers['content-length'], String(end - start + 1));
        assert.deepEqual(r.body, data.subarray(start, end + 1), range);
      }
    });
  }

  test('a range deep inside the big file (sendFile with an offset)', async () => {
    const data = fx.files['big.bin']!;
    const r = await get('/big.bin', { Range: 'bytes=1000000-2999999' });
    assert.equal(r.status, 206);
    assert.equal(sha256(r.body), sha256(data.subarray(1_000_000, 3_000_000)));
  });

  test('unsatisfiable: 416 with Content-Range bytes */size', async () => {
    for (const name of ['data.bin', 'big.bin']) {
      const size = fx.files[name]!.length;
      const r = await get(`/${name}`, { Range: `bytes=${size}-` });
      assert.equal(r.status, 416);
      assert.equal(r.headers['content-range'], `bytes */${size}`);
    }
  });

  test('several ranges, other units and bad syntax answer 200 with everything', async () => {
    for (const range of ['bytes=0-1,5-6', 'items=0-5', 'bytes=abc', 'bytes=5-1']) {
      const r = await get('/data.bin', { Range: range });
      assert.equal(r.status, 200, range);
      assert.deepEqual(r.body, fx.files['data.bin']);
    }
  });

  test('If-Range: the range only when the validator matches', async () => {
    const { headers } = await get('/data.bin');
    assert.equal((await get('/data.bin', { Range: 'bytes=0-3', 'If-Range': headers.etag! })).status, 206);
    assert.equal((await get('/data.bin', { Range: 'bytes=0-3', 'If-Range': headers['last-modified']! })).status, 206);
    assert.equal((await get('/data.bin', { Range: 'bytes=0-3', 'If-Range': '"stale"' })).status, 200);
    assert.equal((await get('/data.bin', { Range: 'bytes=0-3', 'If-Range': `W/${headers.etag!}` })).status, 200);
  });
});

describe('directories', () => {
  test('index.html is served for a directory', async () => {
    const r = await get('/dir/');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, fx.files['dir/index.html']);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
  });

  test('a directory without the trailing slash redirects (301, query kept)', async () => {
    const r = await get('/dir?x=1');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/dir/?x=1');
    const l = await get('/list/sub');
    assert.equal(l.status, 301);
    assert.equal(l.headers.location, '/list/sub/');
  });

  test('a listing: escaped names, encoded links that lead to the files, sizes', async () => {
    const r = await get('/list/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    const html = r.body.toString('utf8');
    assert.ok(!html.includes('<c>'), 'a name was not HTML-escaped');
    assert.ok(html.includes('a&amp;b &lt;c&gt;.txt'));
    assert.ok(html.includes('href="sub/"'));
    assert.ok(html.includes('href="../"'));
    const hrefs = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&').replace(/&#39;/g, "'")
      .replace(/&quot;/g, '"'));
    for (const name of AWKWARD_NAMES) {
      const href = hrefs.find((h) => decodeURIComponent(h) === name);
      assert.ok(href !== undefined, `no link for ${name} in ${hrefs.join(' ')}`);
      const f = await get(`/list/${href}`);
      assert.equal(f.status, 200, name);
      assert.deepEqual(f.body, fx.files[`list/${name}`]);
      const size = fx.files[`list/${name}`]!.length;
      assert.ok(html.includes(`data-bytes="${size}"`), `size of ${name}`);
    }
  });

  test('a link out of the root is listed without its size or date', async () => {
    const html = (await get('/list/')).body.toString();
    const row = /<tr><td><a href="rel-out.txt">.*?<\/tr>/.exec(html);
    assert.ok(row !== null);
    assert.match(row[0], /data-bytes=""/);
    assert.ok(!/\d{4}-\d\d-\d\d/.test(row[0]), row[0]);
  });

  test('the root has no "../" link', async () => {
    const html = (await get('/')).body.toString();
    assert.ok(!html.includes('href="../"'));
    assert.ok(html.includes('href="hello.txt"'));
  });

  test('listing: false answers 404 for a directory without index.html', async () => {
    const s = StaticServer.start({ root: fx.root, port: 0, listing: false });
    try {
      const r = await rawOnce(s.port, requestText('GET', '/list/'));
      assert.equal(r.status, 404);
      assert.equal((await rawOnce(s.port, requestText('GET', '/dir/'))).status, 200);
    } finally {
      await s.close();
    }
  });
});

describe('refusals', () => {
  test('404 for a missing file, with a small HTML body; the connection stays usable', async () => {
    const c = await RawClient.connect(port);
    try {
      const r = await c.request('GET', '/no/such/file.txt');
      assert.equal(r.status, 404);
      assert.match(r.headers['content-type']!, /^text\/html/);
      assert.ok(r.body.length > 0 && r.body.length < 512);
      assert.equal((await c.request('GET', '/hello.txt')).status, 200);
      assert.equal((await c.request('GET', '/hello.txt/x')).status, 404); // a file used as a directory
    } finally {
      c.destroy();
    }
  });

  test('405 with Allow for other methods, then the connection closes', async () => {
    for (const m of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const r = await rawOnce(port, requestText(m, '/hello.txt', { 'Content-Length': '0' }));
      assert.equal(r.status, 405, m);
      assert.equal(r.headers.allow, 'GET, HEAD');
      assert.equal(r.headers.connection, 'close');
    }
  });

  test('400 for malformed requests, then the connection closes', async () => {
    const bad = [
      'GARBAGE\r\n\r\n',
      'GET /hello.txt\r\n\r\n',
      'GET /hello.txt HTTP/1.1\r\n\r\n', // HTTP/1.1 without Host
      'GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
      'GET /hello.txt HTTP/x.y\r\nHost: a\r\n\r\n',
      'GET  /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET /hello.txt HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n',
      'GET /hello.txt HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n',
      'GET /hello.txt HTTP/1.1\r\nHost: a\r\n folded: x\r\n\r\n',
      'GET /hello.txt HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n',
      'GET /hello.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'G@T /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET hello.txt HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET /hello.txt%00.html HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n',
    ];
    for (const text of bad) {
      const r = await rawOnce(port, text);
      assert.equal(r.status, 400, JSON.stringify(text));
    }
    const c = await RawClient.connect(port);
    c.write('NONSENSE\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.equal((await c.response()).status, 400);
    await c.waitClosed();
  });

  test('505 for an HTTP version other than 1.0 and 1.1', async () => {
    assert.equal((await rawOnce(port, 'GET / HTTP/2.0\r\nHost: a\r\n\r\n')).status, 505);
  });

  test('431 beyond the header size limit (16 KiB), then the connection closes', async () => {
    const c = await RawClient.connect(port);
    c.write(requestText('GET', '/hello.txt', { 'X-Big': 'x'.repeat(20 * 1024) }));
    const r = await c.response();
    assert.equal(r.status, 431);
    await c.waitClosed();
    // A head that never ends is refused the same way once it passes the limit.
    const d = await RawClient.connect(port);
    d.write(`GET /hello.txt HTTP/1.1\r\nHost: a\r\nX-Endless: ${'y'.repeat(40 * 1024)}`);
    assert.equal((await d.response()).status, 431);
    await d.waitClosed();
    // Just under the limit is fine.
    const ok = await rawOnce(port, requestText('GET', '/hello.txt', { 'X-Big': 'x'.repeat(15 * 1024) }));
    assert.equal(ok.status, 200);
  });
});

describe('traversal and symbolic links', () => {
  const attempts = [
    '/../etc/passwd', '/../../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/%2e%2e%2f%2e%2e%2fetc/passwd',
    '/list/..%2f..%2fhello.txt', '/dir/../../outside/secret.txt', '/..%5c..%5cetc/passwd', '/%2E%2E/outside/secret.txt',
    '/./../outside/secret.txt',
  ];
  for (const target of attempts) {
    test(`refused: ${target}`, async () => {
      const r = await rawOnce(port, requestText('GET', target));
      assert.ok([400, 403, 404].includes(r.status), `${target}: status ${r.status}`);
      assert.ok(!r.body.includes('root:'), 'served /etc/passwd');
      assert.ok(!r.body.includes('TOP SECRET'), 'served a file outside the root');
    });
  }

  test("'..' segments are 403, an encoded NUL 400", async () => {
    assert.equal((await rawOnce(port, requestText('GET', '/../etc/passwd'))).status, 403);
    assert.equal((await rawOnce(port, requestText('GET', '/%2e%2e/etc/passwd'))).status, 403);
    assert.equal((await rawOnce(port, requestText('GET', '/hello.txt%00'))).status, 400);
  });

  test('an absolute-form target cannot escape either', async () => {
    const r = await rawOnce(port, requestText('GET', 'http://localhost/../outside/secret.txt'));
    assert.equal(r.status, 403);
    const ok = await rawOnce(port, requestText('GET', 'http://localhost/hello.txt'));
    assert.equal(ok.status, 200);
  });

  test('a symbolic link out of the root is 403 (file, directory, relative)', async () => {
    for (const target of ['/link-out.txt', '/linkdir-out/secret.txt', '/linkdir-out/', '/list/rel-out.txt']) {
      const r = await get(target);
      assert.equal(r.status, 403, target);
      assert.ok(!r.body.includes('TOP SECRET'));
    }
  });

  test('a symbolic link inside the root is followed', async () => {
    const r = await get('/link-in.txt');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, fx.files['hello.txt']);
  });
});

describe('connections', () => {
  test('keep-alive: 200 requests on one connection (node:http agent reuses one socket)', async () => {
    const accepted = server.stats().accepted;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      let reused = 0;
      for (let i = 0; i < 200; i++) {
        const name = ['hello.txt', 'data.bin', 'mid.bin', 'style.css'][i % 4]!;
        const r = await get(`/${name}`, {}, i % 5 === 4 ? 'HEAD' : 'GET', agent);
        assert.equal(r.status, 200);
        if (i % 5 !== 4) assert.deepEqual(r.body, fx.files[name]);
        if (r.reused) reused++;
      }
      assert.equal(reused, 199);
      assert.equal(server.stats().accepted - accepted, 1);
    } finally {
      agent.destroy();
    }
  });

  test('pipelining: 100 requests in one write, 100 responses in order', async () => {
    const names = ['hello.txt', 'data.bin', 'missing.txt', 'mid.bin', 'style.css', 'dir/', 'list/', 'empty.txt'];
    const plan = Array.from({ length: 100 }, (_, i) => ({ name: names[i % names.length]!, head: i % 7 === 3 }));
    const c = await RawClient.connect(port);
    try {
      c.write(plan.map((p) => requestText(p.head ? 'HEAD' : 'GET', `/${p.name}`)).join(''));
      for (const [i, p] of plan.entries()) {
        const r = await c.response({ head: p.head });
        const want = p.name === 'missing.txt' ? 404 : 200;
        assert.equal(r.status, want, `response ${i} (${p.name})`);
        if (!p.head && fx.files[p.name] !== undefined) assert.deepEqual(r.body, fx.files[p.name], `body ${i}`);
        if (!p.head && p.name === 'dir/') assert.deepEqual(r.body, fx.files['dir/index.html']);
      }
      assert.equal(c.ended, false);
    } finally {
      c.destroy();
    }
  });

  test('pipelined requests split at every byte boundary', async () => {
    const text = requestText('GET', '/hello.txt') + requestText('GET', '/style.css');
    const c = await RawClient.connect(port);
    try {
      for (let i = 0; i < text.length; i += 7) {
        c.write(text.slice(i, i + 7));
        await new Promise((r) => setImmediate(r));
      }
      assert.deepEqual((await c.response()).body, fx.files['hello.txt']);
      assert.deepEqual((await c.response()).body, fx.files['style.css']);
    } finally {
      c.destroy();
    }
  });

  test('a GET with a Content-Length body: the body is skipped, the next request answered', async () => {
    const c = await RawClient.connect(port);
    try {
      c.write(`${requestText('GET', '/hello.txt', { 'Content-Length': '5' })}ABCDE${requestText('GET', '/style.css')}`);
      assert.deepEqual((await c.response()).body, fx.files['hello.txt']);
      assert.deepEqual((await c.response()).body, fx.files['style.css']);
    } finally {
      c.destroy();
    }
  });

  test('Connection: close and HTTP/1.0 close after the response; HTTP/1.0 keep-alive stays open', async () => {
    const a = await RawClient.connect(port);
    a.write(requestText('GET', '/hello.txt', { Connection: 'close' }));
    const ra = await a.response();
    assert.equal(ra.headers.connection, 'close');
    assert.deepEqual(ra.body, fx.files['hello.txt']);
    await a.waitClosed();

    const b = await RawClient.connect(port);
    b.write('GET /hello.txt HTTP/1.0\r\n\r\n');
    assert.deepEqual((await b.response()).body, fx.files['hello.txt']);
    await b.waitClosed();

    const k = await RawClient.connect(port);
    try {
      k.write('GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      const r1 = await k.response();
      assert.equal(r1.headers.connection, 'keep-alive');
      k.write('GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      assert.deepEqual((await k.response()).body, fx.files['style.css']);
    } finally {
      k.destroy();
    }
  });

  test('the client half-closing after its request still gets the response', async () => {
    const c = await RawClient.connect(port);
    c.sock.end(requestText('GET', '/data.bin'));
    const r = await c.response();
    assert.deepEqual(r.body, fx.files['data.bin']);
    await c.waitClosed();
  });

  test('a client that vanishes mid-download does not disturb the server', async () => {
    for (let i = 0; i < 5; i++) {
      const c = await RawClient.connect(port);
      c.write(requestText('GET', '/big.bin'));
      await new Promise((r) => setTimeout(r, 5));
      c.destroy();
    }
    const r = await get('/big.bin');
    assert.equal(sha256(r.body), sha256(fx.files['big.bin']!));
  });
});

describe('timeouts', () => {
  test('idle keep-alive connections are closed; a slow head gets 408', async () => {
    const s = StaticServer.start({ root: fx.root, port: 0, keepAliveTimeoutMs: 1000, headerTimeoutMs: 1000 });
    try {
      const idle = await RawClient.connect(s.port);
      assert.equal((await idle.request('GET', '/hello.txt')).status, 200);
      await idle.waitClosed();

      const never = await RawClient.connect(s.port); // connects, sends nothing
      await never.waitClosed();

      const slow = await RawClient.connect(s.port);
      slow.write('GET /hello.txt HTTP/1.1\r\nHost: a\r\n'); // never finishes its head
      const r = await slow.response();
      assert.equal(r.status, 408);
      await slow.waitClosed();
      // The server closes its side after the client's (it lingers for the client's EOF).
      await within((async () => {
        while (s.stats().connections !== 0) await new Promise((r) => setTimeout(r, 10));
      })(), 20_000, 'connections to drop to 0');
    } finally {
      await s.close();
    }
  });
});

describe('access log', () => {
  test('off by default; with a logger, one line per request', async () => {
    const lines: Record<string, unknown>[] = [];
    const s = StaticServer.start({ root: fx.root, port: 0, log: { info: (o: object) => lines.push(o as never) } });
    try {
      const c = await RawClient.connect(s.port);
      await c.request('GET', '/hello.txt?q=1');
      await c.request('HEAD', '/missing');
      c.destroy();
      assert.equal(lines.length, 2);
      assert.deepEqual({ ...lines[0], remote: undefined }, {
        remote: undefined, method: 'GET', url: '/hello.txt?q=1', http: '1.1', status: 200,
        bytes: fx.files['hello.txt']!.length,
      });
      assert.equal(lines[1]!['status'], 404);
      assert.match(String(lines[0]!['remote']), /^127\.0\.0\.1:\d+$/);
    } finally {
      await s.close();
    }
  });
});

describe('graceful shutdown', () => {
  // Bigger than any socket buffers: with the client not reading, the server is mid-sendFile when told to stop.
  let huge: Buffer;
  before(() => {
    huge = pseudoRandom(64 * 1024 * 1024, 17);
    fs.writeFileSync(path.join(fx.root, 'huge.bin'), huge);
  });

  test('server.close(): in-flight download completes, idle connections close, new ones are refused, no fd leaks',
    async () => {
    drainSendFilePipes(Ring.current());
    const fds = fdSnapshot();
    const s = StaticServer.start({ root: fx.root, port: 0 });
    const idle = await RawClient.connect(s.port);
    assert.equal((await idle.request('GET', '/hello.txt')).status, 200);
    const busy = await RawClient.connect(s.port);
    busy.sock.pause(); // the download stalls in the socket buffers
    busy.write(requestText('GET', '/huge.bin'));
    await within((async () => {
      while (s.stats().sendFiles === 0) await new Promise((r) => setTimeout(r, 10));
    })(), 20_000, 'the download to start');
    const closing = s.close();
    await idle.waitClosed();
    assert.equal(s.stats().connections, 1, 'the busy connection was closed early');
    busy.sock.resume();
    const r = await busy.response();
    assert.equal(r.status, 200);
    assert.equal(sha256(r.body), sha256(huge));
    await busy.waitClosed();
    await within(closing, 30_000, 'close()');
    await assert.rejects(RawClient.connect(s.port), /ECONNREFUSED/);
    drainSendFilePipes(Ring.current());
    // Nothing opened since the snapshot is still open (sockets of earlier tests
    // that were still closing when it was taken may close meanwhile).
    assert.deepEqual(await fdsLeftOpen(fds, 5_000), [], 'fds left open');
  });

  test('the CLI: SIGTERM during a large download, the download completes, exit code 0', async () => {
    const cli = await startCli([fx.root, '--port', '0']);
    try {
      const c = await RawClient.connect(cli.port);
      const started = c.pauseAtFirstData(); // the response has begun; the rest waits for us
      c.write(requestText('GET', '/huge.bin'));
      await within(started, 20_000, 'the download to start');
      cli.child.kill('SIGTERM');
      // It stops accepting (the listener closes) while the download is still held up by us.
      await within((async () => {
        while (!cli.stderr().includes('shutting down')) await new Promise((r) => setTimeout(r, 20));
      })(), 20_000, 'shutdown message');
      let refused = false;
      for (let i = 0; i < 200 && !refused; i++) {
        try {
          (await RawClient.connect(cli.port)).destroy();
          await new Promise((r) => setTimeout(r, 20));
        } catch (e) {
          refused = (e as NodeJS.ErrnoException).code === 'ECONNREFUSED';
        }
      }
      assert.ok(refused, 'the listener was not closed');
      c.sock.resume();
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.equal(sha256(r.body), sha256(huge));
      const { code, signal } = await within(cli.exit, 30_000, 'CLI exit');
      assert.equal(signal, null);
      assert.equal(code, 0, cli.stderr());
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  test('the CLI with --workers 2 and --log: serves, logs JSON lines, exits 0 on SIGINT', { skip: reusePortSkipReason() }, async () => {
    const cli = await startCli([fx.root, '--port', '0', '--workers', '2', '--log']);
    try {
      assert.match(cli.stdout(), /\(2 workers\)/);
      const agentless = [];
      for (let i = 0; i < 20; i++) agentless.push(rawOnce(cli.port, requestText('GET', '/hello.txt')));
      for (const r of await Promise.all(agentless)) assert.deepEqual(r.body, fx.files['hello.txt']);
      const big = await rawOnce(cli.port, requestText('GET', '/big.bin'));
      assert.equal(sha256(big.body), sha256(fx.files['big.bin']!));
      cli.child.kill('SIGINT');
      const { code } = await within(cli.exit, 30_000, 'CLI exit');
      assert.equal(code, 0, cli.stderr());
      const logLines = cli.stdout().split('\n').filter((l) => l.startsWith('{'));
      assert.ok(logLines.length >= 21, `expected access log lines, got: ${cli.stdout()}`);
      const first = JSON.parse(logLines[0]!) as Record<string, unknown>;
      assert.equal(first['msg'], 'request');
      assert.equal(first['status'], 200);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  test('the CLI serves the bundled site when given no directory', async () => {
    const cli = await startCli(['--port', '0']);
    try {
      assert.match(cli.stdout(), /the bundled site/);
      const r = await rawOnce(cli.port, requestText('GET', '/'));
      assert.equal(r.status, 200);
      assert.match(r.body.toString(), /uringkit serve/);
      const css = await rawOnce(cli.port, requestText('GET', '/style.css'));
      assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
      const listing = await rawOnce(cli.port, requestText('GET', '/files/'));
      assert.match(listing.body.toString(), /Index of \/files\//);
      cli.child.kill('SIGTERM');
      assert.equal((await within(cli.exit, 30_000, 'CLI exit')).code, 0);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  test('the CLI refuses bad arguments', async () => {
    await assert.rejects(startCli(['--port', 'abc']), /exited \(code 2/);
    await assert.rejects(startCli(['/no/such/dir', '--port', '0']), /exited \(code 1/);
  });
});
