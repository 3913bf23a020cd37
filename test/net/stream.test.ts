/**
 * socketStream(): a stream.Duplex over a uringkit Socket. Data both ways,
 * backpressure on both sides (a paused reader holds the writer back: its
 * write() returns false, 'drain' follows once the reader reads), half-close in
 * both directions, destroy and peer errors ('error' then 'close'), a 16 MiB
 * echo through stream.pipeline, node:http server and client over uringkit
 * sockets, and unref().
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';

import { Ring, Socket, TcpListener, type ConnectOptions, type SocketOptions } from '../../src/index.js';
import { connect } from '../../src/net/connect.js';
import { socketStream, SocketStream } from '../../src/net/stream.js';
import { describeChild, runModule } from '../helpers/child.js';
import { fdCount } from '../helpers/fds.js';
import { delay, waitUntil } from '../helpers/loop.js';
import { socketBuffersSkipReason } from '../portable/socket-buffers.js';

const T = { timeout: 120_000 };
const MODES = [true, false] as const;
const modeName = (m: boolean) => (m ? 'multishot recv' : 'one-shot recv');

/** A connected pair over 127.0.0.1. */
async function pair(opts: { client?: ConnectOptions; server?: SocketOptions } = {}): Promise<{ client: Socket; server: Socket }> {
  const l = TcpListener.bind({ host: '127.0.0.1', port: 0, socket: opts.server });
  try {
    const accepted = l.accept();
    accepted.catch(() => {});
    const client = await Socket.connect(l.address(), opts.client);
    return { client, server: await accepted };
  } finally {
    await l.close();
  }
}

async function streams(mode = true, opts: { allowHalfOpen?: boolean } = {}): Promise<{ a: SocketStream; b: SocketStream }> {
  const { client, server } = await pair();
  return { a: socketStream(client, { multishot: mode, ...opts }), b: socketStream(server, { multishot: mode, ...opts }) };
}

/** Resolves on 'close' (at once if already closed); never rejects on 'error'. */
function closed(s: { closed: boolean; once(e: 'close', f: () => void): unknown }): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve()));
}

/**
 * Everything the stream yields until it ends, as a string. ('data' and 'end',
 * not `for await`: whether that destroys the duplex at the end differs between
 * Node versions.)
 */
function readAll(s: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    s.on('data', (c) => (out += String(c)));
    s.once('end', () => resolve(out));
    s.once('error', reject);
  });
}

/** An event log: each name once, in the order emitted. */
function record(s: NodeJS.EventEmitter, names: string[]): string[] {
  const log: string[] = [];
  for (const n of names) s.on(n, () => log.push(n));
  return log;
}

describe('socketStream basics', () => {
  for (const mode of MODES) {
    test(`data both ways, addresses, counters, clean close (${modeName(mode)})`, T, async () => {
      await streams(mode).then(async ({ a, b }) => { // warm-up: the ring and its buffer pool exist from here on
        a.destroy();
        b.destroy();
        await Promise.all([closed(a), closed(b)]);
      });
      const fds = fdCount();
      const { a, b } = await streams(mode);
      assert.equal(a.multishot, mode);
      assert.equal(a.remoteAddress, '127.0.0.1');
      assert.equal(a.remoteFamily, 'IPv4');
      assert.equal(a.remotePort, b.localPort);
      assert.equal(b.remotePort, a.localPort);
      assert.deepEqual(a.address(), { address: '127.0.0.1', family: 'IPv4', port: a.localPort });
      assert.equal(a.readyState, 'open');
      assert.equal(a.connecting, false);
      const aLog = record(a, ['end', 'finish', 'close', 'error']);
      const bLog = record(b, ['end', 'finish', 'close', 'error']);
      const aGot = readAll(a);
      const bGot = readAll(b);
      a.write('hello ');
      a.end('from a');
      b.write('and b');
      assert.equal(await bGot, 'hello from a');
      b.end(); // allowHalfOpen (the default): b's side stays open until it ends it
      assert.equal(await aGot, 'and b');
      await Promise.all([closed(a), closed(b)]);
      assert.deepEqual(aLog.sort(), ['close', 'end', 'finish']);
      assert.deepEqual(bLog.sort(), ['close', 'end', 'finish']);
      assert.equal(a.bytesWritten, 12);
      assert.equal(a.bytesRead, 5);
      assert.equal(b.bytesRead, 12);
      assert.equal(a.readyState, 'closed');
      assert.ok(a.uringSocket.closed && b.uringSocket.closed, 'the sockets are closed');
      // The remote address stays readable after close (as net.Socket).
      assert.equal(a.remoteAddress, '127.0.0.1');
      assert.ok(await waitUntil(() => fdCount() <= fds, 10_000), `fds: ${fdCount()} now, ${fds} before`);
    });
  }

  test('argument checks', () => {
    assert.throws(() => socketStream({} as Socket), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new SocketStream(null as unknown as Socket), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  test('a closed socket cannot be wrapped', T, async () => {
    const { client, server } = await pair();
    await client.close();
    assert.throws(() => socketStream(client), { code: 'ERR_SOCKET_CLOSED' });
    await server.close();
  });
});

describe('backpressure', () => {
  const TOTAL = 48 << 20;
  const CHUNK = 256 << 10;
  // Kernel buffers are fixed at 64 KiB (doubled by the kernel) on both ends, so
  // with a paused reader at most about a MiB can be in flight. 8 MiB is a
  // generous bound that unbounded buffering (48 MiB) blows through.
  const BOUND = 8 << 20;

  for (const mode of MODES) {
    test(`a paused reader holds the writer back; write() returns false, then 'drain' (${modeName(mode)})`, T, async () => {
      const { client, server } = await pair({ client: { recvBuffer: 64 << 10 }, server: { sendBuffer: 64 << 10 } });
      const reader = socketStream(client, { multishot: mode });
      const writer = socketStream(server);
      const sent = crypto.createHash('sha256');
      let acked = 0;
      let falses = 0;
      let drains = 0;
      let maxHeld = 0;
      writer.on('drain', () => drains++);
      writer.resume(); // its readable side must see the reader's EOF for the stream to close
      const produce = (async () => {
        for (let i = 0; i < TOTAL / CHUNK; i++) {
          const b = Buffer.alloc(CHUNK, i & 0xff);
          b.writeUInt32LE(i, 0);
          sent.update(b);
          const ok = writer.write(b, (err) => {
            if (!err) acked += b.length;
          });
          if (!ok) {
            falses++;
            await once(writer, 'drain');
          }
        }
        writer.end();
      })();
      produce.catch(() => {});

      // Phase 1: the reader takes one buffer's worth (read(0) starts it) and then reads nothing.
      reader.read(0);
      assert.ok(await waitUntil(() => reader.readableLength >= reader.readableHighWaterMark, 30_000),
        `the reader filled its buffer (${reader.readableLength})`);
      // Watch the writer until it stalls; what it got into the kernel minus what the
      // reader consumed (nothing) must stay bounded all the while.
      let last = -1;
      let still = 0;
      for (let polls = 0; polls < 3000 && still < 10; polls++) {
        maxHeld = Math.max(maxHeld, acked);
        assert.ok(acked <= BOUND, `${acked} bytes left the writer while the reader was paused (bound ${BOUND})`);
        still = acked === last && writer.writableNeedDrain ? still + 1 : 0;
        last = acked;
        await delay(20);
      }
      assert.ok(writer.writableNeedDrain, 'the writer is waiting for drain');
      assert.ok(falses > 0, 'write() returned false');
      assert.ok(acked < TOTAL);

      // Phase 2: read everything; the writer is released and finishes.
      const got = crypto.createHash('sha256');
      let n = 0;
      reader.on('data', (c: Buffer) => {
        got.update(c);
        n += c.length;
      });
      await once(reader, 'end');
      reader.end();
      await produce;
      assert.equal(n, TOTAL);
      assert.equal(got.digest('hex'), sent.digest('hex'));
      assert.ok(drains > 0, "'drain' was emitted");
      await Promise.all([closed(reader), closed(writer)]);
      assert.ok(maxHeld <= BOUND);
    });
  }

  test('writes complete only as the kernel takes them: writableLength grows past the mark while the peer is paused', { ...T, skip: socketBuffersSkipReason() }, async () => {
    const { client, server } = await pair({ client: { recvBuffer: 64 << 10 }, server: { sendBuffer: 64 << 10 } });
    const reader = socketStream(client);
    const writer = socketStream(server, { highWaterMark: 1024 });
    const big = Buffer.alloc(4 << 20);
    assert.equal(writer.write(big), false, 'write() of more than the high-water mark returns false');
    let drained = false;
    writer.once('drain', () => (drained = true));
    // Nothing reads: 4 MiB cannot fit in ~256 KiB of kernel buffers, so the write is still pending.
    await delay(50);
    assert.equal(drained, false);
    assert.equal(writer.writableLength, big.length);
    const total = (async () => {
      let n = 0;
      reader.on('data', (c: Buffer) => (n += c.length));
      await once(reader, 'end');
      reader.end();
      return n;
    })();
    await once(writer, 'drain');
    writer.end();
    writer.resume();
    assert.equal(await total, big.length);
    await Promise.all([closed(reader), closed(writer)]);
  });
});

describe('half-close', () => {
  for (const mode of MODES) {
    test(`end() on either side half-closes; the other side can still write (allowHalfOpen, the default) (${modeName(mode)})`, T, async () => {
      const { a, b } = await streams(mode);
      assert.equal(a.allowHalfOpen, true);
      // a ends first
      a.end('ping');
      const bGot = await readAll(b); // ends at a's FIN
      assert.equal(bGot, 'ping');
      assert.equal(b.writable, true, 'b can still write after the peer ended');
      assert.equal(a.readable, true, 'a can still read after its own end()');
      const aGot = readAll(a);
      b.write('pong');
      await delay(10);
      b.write(' after the peer ended');
      b.end();
      assert.equal(await aGot, 'pong after the peer ended');
      await Promise.all([closed(a), closed(b)]);

      // the other direction: b ends first
      const { a: c, b: d } = await streams(mode);
      d.end('first');
      assert.equal(await readAll(c), 'first');
      const dGot = readAll(d);
      c.end('second');
      assert.equal(await dGot, 'second');
      await Promise.all([closed(c), closed(d)]);
    });
  }

  test('allowHalfOpen: false (as net.Socket): the peer ending ends our side too, after our queued writes', T, async () => {
    const { client, server } = await pair();
    const a = socketStream(client);
    const b = socketStream(server, { allowHalfOpen: false });
    assert.equal(b.allowHalfOpen, false);
    let bFinished = false;
    b.on('finish', () => (bFinished = true));
    b.write('queued before the peer ended');
    const aGot = readAll(a);
    a.end();
    b.resume();
    assert.equal(await aGot, 'queued before the peer ended', 'a reads b\'s data, then EOF without b calling end()');
    await closed(b);
    assert.equal(bFinished, true);
    await closed(a);
  });
});

describe('errors and destroy', () => {
  test("destroy(err): 'error' with err, then 'close'; the socket is closed; the peer sees the end", T, async () => {
    const { a, b } = await streams();
    const log: string[] = [];
    let seen: unknown;
    a.on('error', (e) => {
      seen = e;
      log.push('error');
    });
    a.on('close', () => log.push('close'));
    const peerEnd = new Promise<string>((resolve) => {
      b.on('end', () => {
        b.end();
        resolve('end');
      });
      b.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      b.resume();
    });
    const boom = new Error('boom');
    a.destroy(boom);
    await closed(a);
    assert.deepEqual(log, ['error', 'close']);
    assert.equal(seen, boom);
    assert.equal(a.uringSocket.closed, true);
    assert.ok(['end', 'ECONNRESET'].includes(await peerEnd));
    await closed(b);
  });

  test("destroy() without an error: 'close' only; pending writes are dropped", T, async () => {
    const { client, server } = await pair({ client: { recvBuffer: 64 << 10 }, server: { sendBuffer: 64 << 10 } });
    const a = socketStream(client);
    const b = socketStream(server);
    const log = record(b, ['error', 'close', 'finish']);
    let writeErr: unknown;
    b.write(Buffer.alloc(8 << 20), (err) => (writeErr = err)); // cannot complete: nobody reads
    await delay(20);
    b.destroy();
    await closed(b);
    assert.ok(await waitUntil(() => writeErr !== undefined, 10_000), 'the pending write settled');
    assert.ok(writeErr instanceof Error, 'the pending write failed');
    assert.deepEqual(log, ['close']);
    a.destroy();
    await closed(a);
  });

  for (const mode of MODES) {
    test(`a reset by the peer: 'error' ECONNRESET, then 'close' (${modeName(mode)})`, T, async () => {
      const { client, server } = await pair();
      const a = socketStream(client, { multishot: mode });
      a.resume();
      const log: string[] = [];
      let code: string | undefined;
      a.on('error', (e: NodeJS.ErrnoException) => {
        code = e.code;
        log.push('error');
      });
      a.on('close', () => log.push('close'));
      server.setOptions({ linger: 0 }); // close() now sends RST
      await server.close();
      await closed(a);
      assert.deepEqual(log, ['error', 'close']);
      assert.equal(code, 'ECONNRESET');
      assert.equal(a.uringSocket.closed, true);
    });
  }

  test('writing to a reset peer fails with EPIPE or ECONNRESET', T, async () => {
    const { client, server } = await pair();
    const a = socketStream(client);
    a.on('error', () => {});
    server.setOptions({ linger: 0 });
    await server.close();
    let err: NodeJS.ErrnoException | undefined;
    a.on('error', (e) => (err = e));
    // keep writing until the kernel reports the reset
    for (let i = 0; i < 1000 && !a.destroyed; i++) {
      a.write(Buffer.alloc(64 << 10));
      await delay(5);
    }
    await closed(a);
    assert.ok(err !== undefined && ['EPIPE', 'ECONNRESET'].includes(err.code!), String(err));
  });

  test('an AbortSignal destroys the stream with an AbortError', T, async () => {
    const { client, server } = await pair();
    const ac = new AbortController();
    const a = socketStream(client, { signal: ac.signal });
    let err: Error | undefined;
    a.on('error', (e) => (err = e));
    ac.abort();
    await closed(a);
    assert.equal(err?.name, 'AbortError');
    assert.equal(a.uringSocket.closed, true);
    await server.close();
  });
});

describe('setTimeout', () => {
  test("'timeout' after idleness; the stream stays open; setTimeout(0) disables", T, async () => {
    const { a, b } = await streams();
    a.resume(); // a pending receive keeps the process alive (the timer itself is unref'd, as net's)
    let fired = 0;
    a.setTimeout(30, () => fired++);
    assert.equal(a.timeout, 30);
    await once(a, 'timeout');
    assert.equal(a.destroyed, false);
    a.setTimeout(0);
    assert.equal(a.timeout, 0);
    assert.ok(fired >= 1);
    // As net.Socket: after firing, activity arms the timer again.
    a.setTimeout(30);
    await once(a, 'timeout');
    b.write('activity');
    await once(a, 'data');
    await once(a, 'timeout');
    a.setTimeout(0);
    assert.throws(() => a.setTimeout(-1), { code: 'ERR_OUT_OF_RANGE' });
    a.destroy();
    b.destroy();
    await Promise.all([closed(a), closed(b)]);
  });
});

describe('stream.pipeline', () => {
  for (const mode of MODES) {
    test(`16 MiB echoed through pipeline(s, s) arrives intact (SHA-256) (${modeName(mode)})`, T, async () => {
      const { a, b } = await streams(mode);
      const data = crypto.randomBytes(16 << 20);
      const echo = pipeline(b, b); // the server echoes everything back, then ends
      const got = crypto.createHash('sha256');
      let n = 0;
      await Promise.all([
        pipeline(Readable.from((function* () {
          for (let i = 0; i < data.length; i += 100_000) yield data.subarray(i, i + 100_000);
        })()), a),
        pipeline(a, new Writable({
          write(chunk: Buffer, _e, cb) {
            got.update(chunk);
            n += chunk.length;
            setImmediate(cb); // a slowish consumer
          },
        })),
        echo,
      ]);
      assert.equal(n, data.length);
      assert.equal(got.digest('hex'), crypto.createHash('sha256').update(data).digest('hex'));
      await Promise.all([closed(a), closed(b)]);
    });
  }

  test('pipeline rejects with the error and destroys both ends', T, async () => {
    const { a, b } = await streams();
    const p = pipeline(a, new Writable({
      write(_c, _e, cb) {
        cb(new Error('sink failed'));
      },
    }));
    b.on('error', () => {});
    b.on('end', () => b.end());
    b.resume();
    b.write('data');
    await assert.rejects(p, /sink failed/);
    await closed(a);
    assert.equal(a.uringSocket.closed, true);
    await closed(b);
  });
});

describe('node:http over uringkit sockets', () => {
  test('an http.Server fed by a TcpListener serves 200 keep-alive requests from http.Agent, and fetch', T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const port = l.address().port;
    const server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        res.setHeader('x-remote', `${req.socket.remoteAddress}:${req.socket.remotePort}`);
        res.end(`${req.method} ${req.url} ${body}`);
      });
    });
    // 'listening' starts the server's connection tracking (closeAllConnections, request timeouts).
    server.emit('listening');
    const accepted: SocketStream[] = [];
    const loop = (async () => {
      for await (const s of l) {
        const st = socketStream(s);
        accepted.push(st);
        server.emit('connection', st);
      }
    })();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const request = (i: number) => new Promise<{ body: string; remote: string; local: string }>((resolve, reject) => {
      const post = i % 3 === 0;
      const req = http.request({ host: '127.0.0.1', port, path: `/r${i}`, method: post ? 'POST' : 'GET', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({
          body, remote: String(res.headers['x-remote']), local: `${req.socket!.localAddress}:${req.socket!.localPort}`,
        }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(post ? `payload-${i}` : undefined);
    });
    try {
      for (let batch = 0; batch < 200; batch += 8) {
        const rs = await Promise.all(Array.from({ length: 8 }, (_, k) => request(batch + k)));
        rs.forEach((r, k) => {
          const i = batch + k;
          assert.equal(r.body, i % 3 === 0 ? `POST /r${i} payload-${i}` : `GET /r${i} `);
          assert.equal(r.remote, r.local, 'req.socket.remoteAddress/remotePort are the client\'s');
        });
      }
      assert.ok(accepted.length >= 1 && accepted.length <= 4, `keep-alive: ${accepted.length} connections for 200 requests`);
      const res = await fetch(`http://127.0.0.1:${port}/fetch`, { method: 'POST', body: 'via fetch' });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'POST /fetch via fetch');
      server.closeAllConnections();
      assert.ok(accepted.every((s) => s.destroyed), 'closeAllConnections() destroyed every stream');
    } finally {
      agent.destroy();
      server.closeAllConnections();
      server.close();
      await l.close();
      await loop;
    }
    await Promise.all(accepted.map(closed));
    assert.ok(accepted.every((s) => s.uringSocket.closed));
  });

  test("the server's keepAliveTimeout closes an idle connection (setTimeout is real)", T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const server = http.createServer((_req, res) => res.end('ok'));
    server.keepAliveTimeout = 100;
    const accepted: SocketStream[] = [];
    const loop = (async () => {
      for await (const s of l) {
        const st = socketStream(s);
        accepted.push(st);
        server.emit('connection', st);
      }
    })();
    // A raw client that keeps the connection open: only the server's timeout can close it.
    const c = await Socket.connect(l.address());
    try {
      await c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      let got = '';
      const buf = Buffer.alloc(4096);
      for (;;) {
        const n = await c.recv(buf);
        if (n === 0) break; // the server closed the idle keep-alive connection
        got += buf.toString('latin1', 0, n);
      }
      assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(got, /\r\nConnection: keep-alive\r\n/i);
      assert.match(got, /\r\n\r\nok$/);
      assert.equal(accepted.length, 1);
      await closed(accepted[0]!);
      assert.equal(accepted[0]!.uringSocket.closed, true);
    } finally {
      await c.close();
      server.close();
      await l.close();
      await loop;
    }
  });

  test('http.request over socketStream (Agent createConnection): keep-alive, ref/unref, setKeepAlive', T, async () => {
    let connections = 0;
    const server = http.createServer((req, res) => res.end(`hi ${req.url}`));
    server.on('connection', () => connections++);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const made: SocketStream[] = [];
    (agent as unknown as { createConnection: unknown }).createConnection =
      (o: { host: string; port: number }, cb: (err: Error | null, s?: SocketStream) => void) => {
        connect(o.host, Number(o.port)).then((s) => {
          const st = socketStream(s);
          made.push(st);
          cb(null, st);
        }, cb);
      };
    try {
      for (let i = 0; i < 20; i++) {
        const body = await new Promise<string>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port, path: `/${i}`, agent }, (res) => {
            let b = '';
            res.on('data', (d) => (b += d));
            res.on('end', () => resolve(b));
          }).on('error', reject);
        });
        assert.equal(body, `hi /${i}`);
      }
      assert.equal(made.length, 1, 'one uringkit connection carried all requests');
      assert.equal(connections, 1);
    } finally {
      agent.destroy();
      server.closeAllConnections();
      server.close();
    }
    await Promise.all(made.map(closed));
  });
});

describe('liveness', () => {
  test('unref(): an idle, reading stream does not keep the process alive; ref() does', T, async () => {
    const STREAM_URL = new URL('../../src/net/stream.js', import.meta.url).href;
    const code = (unref: boolean) => `
      import { Socket, TcpListener } from __LIB__;
      import { socketStream } from ${JSON.stringify(STREAM_URL)};
      const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
      const acc = l.accept();
      const a = socketStream(await Socket.connect(l.address()));
      const b = socketStream(await acc);
      await l.close();
      a.on('data', () => {});
      b.on('data', () => {});
      ${unref ? 'a.unref(); b.unref();' : 'a.unref(); b.unref(); a.ref(); setTimeout(() => { console.log("still alive"); process.exit(0); }, 3000).unref();'}
      console.log('reading');
    `;
    const r = await runModule(code(true), 30_000);
    assert.equal(r.killed, false, describeChild(r));
    assert.equal(r.code, 0, describeChild(r));
    assert.match(r.stdout, /^reading$/m);
    // With ref() back on, the pending receive keeps the process alive until the unref'd timer's exit.
    const r2 = await runModule(code(false), 30_000);
    assert.equal(r2.code, 0, describeChild(r2));
    assert.match(r2.stdout, /still alive/, describeChild(r2));
  });
});

describe('ring hygiene', () => {
  test('nothing is left in flight after the streams closed', T, async () => {
    const ring = Ring.current();
    const { a, b } = await streams();
    a.end('x');
    b.on('end', () => b.end());
    b.resume();
    a.resume();
    await Promise.all([closed(a), closed(b)]);
    assert.ok(await waitUntil(() => ring.stats().inFlight === 0, 10_000), `inFlight ${ring.stats().inFlight}`);
  });
});
