/**
 * In-memory sockets in the mock backend: TcpListener, Socket, UdpSocket and
 * the raw ring socket operations run unchanged on MockBackend (no syscalls).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  AbortError, Ring, Socket, SocketAddress, SystemError, TcpListener, TimeoutError, UdpSocket, UnixListener,
} from '../../src/index.js';
import { MockBackend, withMock, type WithMockOptions } from '../../src/testing.js';
import { bytes, readAll } from '../conformance/data.js';
import { decodeSockaddr, encodeSockaddr } from '../../src/backend/shared/sockaddr.js';

function run(fn: (mock: MockBackend, ring: Ring) => Promise<void>, options: WithMockOptions = {}): Promise<void> {
  return withMock({ diagnostic: (m) => console.error(m) }, fn, { seed: 7, ...options });
}

/** A listener and a connected (client, server) pair on it. */
async function pair(ring: Ring, options: { recvBuffer?: number } = {}): Promise<{
  listener: TcpListener; client: Socket; server: Socket; closeAll(): Promise<void>;
}> {
  const listener = TcpListener.bind({ ring, port: 0 });
  const [client, server] = await Promise.all([
    Socket.connect(listener.address(), { ring, ...options }),
    listener.accept(),
  ]);
  return {
    listener, client, server,
    closeAll: async () => {
      await Promise.all([client.close(), server.close(), listener.close()]);
    },
  };
}

describe('mock sockets: TCP', () => {
  test('listen, connect, accept, echo round trip, names', () => run(async (mock, ring) => {
    const { listener, client, server, closeAll } = await pair(ring);
    const port = listener.address().port;
    assert.ok(port >= 30000, `ephemeral port ${port}`);
    assert.equal(listener.address().address, '127.0.0.1');
    assert.equal(client.remoteAddress().toString(), `127.0.0.1:${port}`);
    assert.equal(server.localAddress().toString(), `127.0.0.1:${port}`);
    assert.equal(server.remoteAddress().toString(), client.localAddress().toString());
    assert.notEqual(client.localAddress().port, port);

    await client.write('hello');
    const buf = Buffer.alloc(64);
    const n = await server.recv(buf);
    assert.equal(buf.toString('utf8', 0, n), 'hello');
    await server.write(buf.subarray(0, n));
    const m = await client.recv(buf);
    assert.equal(buf.toString('utf8', 0, m), 'hello');
    assert.deepEqual(mock.openFds().map((f) => f.kind), ['socket', 'socket', 'socket']);
    await closeAll();
    assert.deepEqual(mock.openFds(), []);
  }));

  test('a recv waits for data; the peer closing ends it with 0 (EOF)', () => run(async (_mock, ring) => {
    const { client, server, closeAll } = await pair(ring);
    const buf = Buffer.alloc(16);
    const pending = server.recv(buf);
    await client.write('late');
    assert.equal(await pending, 4);
    const eof = server.recv(buf);
    await client.close();
    assert.equal(await eof, 0);
    await closeAll();
  }));

  test('connecting where nothing listens: ECONNREFUSED, and the fd is closed', () => run(async (_mock, ring) => {
    await assert.rejects(Socket.connect('127.0.0.1:9', { ring }), (e: unknown) => {
      assert.ok(e instanceof SystemError);
      assert.equal(e.code, 'ECONNREFUSED');
      assert.equal(e.port, 9);
      return true;
    });
    // A closed listener's port refuses as well.
    const l = TcpListener.bind({ ring, port: 0 });
    const addr = l.address();
    await l.close();
    await assert.rejects(Socket.connect(addr, { ring }), { code: 'ECONNREFUSED' });
  }));

  test('EADDRINUSE on a second listener, unless both set SO_REUSEPORT', () => run(async (_mock, ring) => {
    const a = TcpListener.bind({ ring, port: 8080 });
    assert.throws(() => TcpListener.bind({ ring, port: 8080 }), { code: 'EADDRINUSE' });
    assert.throws(() => TcpListener.bind({ ring, host: '0.0.0.0', port: 8080 }), { code: 'EADDRINUSE' });
    const other = TcpListener.bind({ ring, host: '127.0.0.2', port: 8080 });
    await other.close();
    await a.close();
    const r1 = TcpListener.bind({ ring, port: 8081, reusePort: true });
    const r2 = TcpListener.bind({ ring, port: 8081, reusePort: true });
    // Connections are spread over both (round robin).
    const c1 = await Socket.connect('127.0.0.1:8081', { ring });
    const c2 = await Socket.connect('127.0.0.1:8081', { ring });
    const [s1, s2] = await Promise.all([r1.accept(), r2.accept()]);
    await Promise.all([c1.close(), c2.close(), s1.close(), s2.close(), r1.close(), r2.close()]);
    // The port is free again once closed.
    const again = TcpListener.bind({ ring, port: 8080 });
    await again.close();
  }));

  test('socket options are stored and read back', () => run(async (_mock, ring) => {
    const { client, closeAll } = await pair(ring);
    client.setNoDelay(true).setKeepAlive(true).setOptions({ sendBuffer: 4096, recvBuffer: 8192 });
    assert.equal(client.getOption(6, 1), 1); // TCP_NODELAY
    assert.equal(client.getOption(1, 9), 1); // SO_KEEPALIVE
    assert.equal(client.getOption(1, 7), 4096); // SO_SNDBUF
    assert.equal(client.getOption(1, 8), 8192); // SO_RCVBUF
    assert.equal(client.getOption(1, 3), 1); // SO_TYPE: SOCK_STREAM
    await closeAll();
  }));

  test('short sends (peer buffer and injected shortBy) are continued by Socket.write', () => run(async (mock, ring) => {
    // A 1000-byte receive buffer: every large send is short, then waits for the reader.
    const listener = TcpListener.bind({ ring, port: 0, socket: { recvBuffer: 1000 } });
    const [client, server] = await Promise.all([Socket.connect(listener.address(), { ring }), listener.accept()]);
    mock.faults.add({ op: 'send', shortBy: 'random', probability: 0.5 });
    const data = bytes(200_000);
    const writing = Promise.all([client.write(data.subarray(0, 50_000)), client.write(data.subarray(50_000))]);
    const reading = readAll(server);
    assert.deepEqual(await writing, [50_000, 150_000]);
    await client.shutdown('write');
    const got = await reading;
    assert.equal(got.length, data.length);
    assert.ok(got.equals(data), 'bytes arrive complete and in order');
    const sends = mock.calls('send');
    assert.ok(sends.length > 200, `many partial sends (${sends.length})`);
    assert.ok(sends.some((e) => e.fault !== undefined), 'shortBy hit some sends');
    await Promise.all([client.close(), server.close(), listener.close()]);
  }));

  test('injected ECONNRESET surfaces as SystemError ECONNRESET and resets the connection', () => run(async (mock, ring) => {
    const { client, server, closeAll } = await pair(ring);
    mock.faults.add({ op: 'recv', errno: 'ECONNRESET', fd: server.fd, times: 1 });
    await client.write('abc');
    await assert.rejects(server.recv(Buffer.alloc(8)), (e: unknown) => {
      assert.ok(e instanceof SystemError);
      assert.equal(e.code, 'ECONNRESET');
      assert.equal(e.syscall, 'recv');
      return true;
    });
    // The connection is gone on both sides: this side reads EOF, the peer sees the reset.
    assert.equal(await server.recv(Buffer.alloc(8)), 0);
    await assert.rejects(server.write('x'), { code: 'EPIPE' });
    await assert.rejects(client.recv(Buffer.alloc(8)), { code: 'ECONNRESET' });
    assert.equal(await client.recv(Buffer.alloc(8)), 0);
    await closeAll();
  }));

  test('injected errors on a connection that stays up: EAGAIN, delays', () => run(async (mock, ring) => {
    const { client, server, closeAll } = await pair(ring);
    mock.faults.add({ op: 'send', errno: 'EAGAIN', times: 1 });
    await assert.rejects(client.write('x'), { code: 'EAGAIN' });
    mock.faults.add({ op: 'recv', delayMs: 100, times: 1 });
    await client.write('abc');
    const buf = Buffer.alloc(8);
    const late = server.recv(buf);
    await mock.idle();
    assert.equal(mock.inFlight().length, 1, 'the recv waits for its delay');
    mock.clock.advance(100);
    assert.equal(buf.toString('utf8', 0, await late), 'abc');
    await closeAll();
  }));

  test('close with linger 0 resets the peer: its recv fails with ECONNRESET, then reads EOF', () => run(async (_mock, ring) => {
    const { client, server, closeAll } = await pair(ring);
    const pending = server.recv(Buffer.alloc(8));
    client.setOptions({ linger: 0 });
    await client.close();
    await assert.rejects(pending, { code: 'ECONNRESET' });
    assert.equal(await server.recv(Buffer.alloc(8)), 0);
    await assert.rejects(server.write('late'), { code: 'EPIPE' });
    await closeAll();
  }));

  test('closing with unread data resets the peer (as Linux does)', () => run(async (_mock, ring) => {
    const { client, server, closeAll } = await pair(ring);
    await server.write('unread');
    await client.close();
    await assert.rejects(server.recv(Buffer.alloc(8)), { code: 'ECONNRESET' });
    await closeAll();
  }));

  test('half-close: shutdown(write) → the peer reads EOF after draining, and can still reply', () => run(async (_mock, ring) => {
    const { client, server, closeAll } = await pair(ring);
    await client.write('request');
    await client.shutdown('write');
    assert.equal((await readAll(server)).toString(), 'request');
    await assert.rejects(client.write('more'), { code: 'EPIPE' });
    await server.write('reply');
    await server.shutdown('write');
    assert.equal((await readAll(client)).toString(), 'reply');
    await closeAll();
  }));

  test('shutdown(read) ends a pending recv with 0', () => run(async (_mock, ring) => {
    const { client, server, closeAll } = await pair(ring);
    const buf = Buffer.alloc(8);
    const pending = ring.recv(server.fd, buf);
    await ring.shutdown(server.fd, 0);
    assert.equal(await pending, 0);
    await closeAll();
    void client;
  }));

  test('cancel and deadlines: pending accept/recv/connect settle as AbortError / TimeoutError', () => run(async (mock, ring) => {
    const listener = TcpListener.bind({ ring, port: 0, backlog: 0 });
    const ac = new AbortController();
    const accepting = listener.accept({ signal: ac.signal });
    ac.abort();
    await assert.rejects(accepting, (e: unknown) => e instanceof AbortError);
    const c = await Socket.connect(listener.address(), { ring });
    const s = await listener.accept();
    const recv = s.recv(Buffer.alloc(4), { timeout: 50 });
    mock.clock.advance(50);
    await assert.rejects(recv, (e: unknown) => e instanceof TimeoutError);
    // backlog 0 holds one queued connection; the next connect waits until accepted or cancelled.
    const c2 = await Socket.connect(listener.address(), { ring });
    const ac2 = new AbortController();
    const waiting = Socket.connect(listener.address(), { ring, signal: ac2.signal });
    waiting.catch(() => {});
    await mock.idle();
    assert.equal(mock.inFlight().filter((r) => r.op === 'connect').length, 1);
    ac2.abort();
    await assert.rejects(waiting, (e: unknown) => e instanceof AbortError);
    const s2 = await listener.accept();
    await Promise.all([c.close(), s.close(), c2.close(), s2.close(), listener.close()]);
  }));

  test('a pending accept ends when the listener closes; the accept loop ends quietly', () => run(async (_mock, ring) => {
    const listener = TcpListener.bind({ ring, port: 0 });
    const seen: Socket[] = [];
    const loop = (async () => {
      for await (const s of listener) seen.push(s);
    })();
    const c = await Socket.connect(listener.address(), { ring });
    await listener.close();
    await loop;
    assert.equal(seen.length, 1);
    await Promise.all([c.close(), ...seen.map((s) => s.close())]);
  }));

  test('multishot accept yields one fd per connection', () => run(async (_mock, ring) => {
    const listener = TcpListener.bind({ ring, port: 0 });
    const it = ring.acceptMultishot(listener.fd);
    const clients = await Promise.all([1, 2, 3].map(() => Socket.connect(listener.address(), { ring })));
    const fds: number[] = [];
    for await (const fd of it) {
      fds.push(fd);
      if (fds.length === 3) break;
    }
    assert.equal(new Set(fds).size, 3);
    await Promise.all([...clients.map((c) => c.close()), ...fds.map((fd) => ring.closeFd(fd)), listener.close()]);
  }));

  test('the leak check names an unclosed socket', async () => {
    const diagnostics: string[] = [];
    await assert.rejects(withMock({ diagnostic: (m) => diagnostics.push(m) }, async (_mock, ring) => {
      const listener = TcpListener.bind({ ring, port: 0 });
      const c = await Socket.connect(listener.address(), { ring });
      const s = await listener.accept();
      await Promise.all([c.close(), listener.close()]);
      void s; // never closed
    }, { seed: 3 }), (e: Error) => {
      assert.match(e.message, /1 file descriptor leaked/);
      assert.match(e.message, /socket tcp connected 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ \(opened by accept on fd \d+\)/);
      assert.match(e.message, /seed 3/);
      return true;
    });
    assert.ok(diagnostics.some((d) => d.includes('open fds (1)')));
  });

  test('Unix stream sockets: path and abstract names', () => run(async (_mock, ring) => {
    for (const path of ['/run/app.sock', '@uringkit-test']) {
      const listener = UnixListener.bind(path, { ring });
      assert.equal(listener.address().address, path);
      const [c, s] = await Promise.all([Socket.connect(SocketAddress.unix(path), { ring }), listener.accept()]);
      assert.equal(c.remoteAddress().address, path);
      assert.equal(s.remoteAddress().address, '', 'the client is unnamed');
      await c.write('over unix');
      await c.shutdown('write');
      assert.equal((await readAll(s)).toString(), 'over unix');
      await Promise.all([c.close(), s.close(), listener.close()]);
    }
    await assert.rejects(Socket.connect(SocketAddress.unix('/nope.sock'), { ring }), { code: 'ENOENT' });
  }));

  test('poll readiness follows the socket', () => run(async (_mock, ring) => {
    const { client, server, closeAll } = await pair(ring);
    const POLLIN = 1;
    const ready = ring.poll(server.fd, POLLIN);
    await client.write('x');
    assert.equal((await ready) & POLLIN, POLLIN);
    await closeAll();
  }));
});

describe('mock sockets: UDP, pipes, sockaddr', () => {
  test('UDP round trip with addresses', () => run(async (_mock, ring) => {
    const a = UdpSocket.bind({ ring });
    const b = UdpSocket.bind({ ring, address: '127.0.0.1:5353' });
    assert.equal(b.address().port, 5353);
    const receiving = b.receive();
    assert.equal(await a.send('ping', b.address()), 4);
    const d = await receiving;
    assert.equal(d.data.toString(), 'ping');
    assert.equal(d.from.toString(), a.address().toString());
    await b.send('pong', d.from);
    const r = await a.receive();
    assert.equal(r.data.toString(), 'pong');
    assert.equal(r.from.toString(), '127.0.0.1:5353');
    // Nobody bound there: the datagram is lost, the send still succeeds.
    assert.equal(await a.send('void', '127.0.0.1:9'), 4);
    // IPv6.
    const c = UdpSocket.bind({ ring, address: '[::1]:0' });
    const d6 = UdpSocket.bind({ ring, family: 'ipv6' });
    await c.send('six', d6.address());
    const got = await d6.receive();
    assert.equal(got.data.toString(), 'six');
    assert.equal(got.from.toString(), c.address().toString());
    // close() ends a pending receive.
    const pending = a.receive();
    await a.close();
    await assert.rejects(pending, { code: 'ERR_SOCKET_CLOSED' });
    await Promise.all([b.close(), c.close(), d6.close()]);
  }));

  test('pipe(): bytes from the write end to the read end, EOF on close', () => run(async (mock, ring) => {
    const fds = mock.sys.pipe(4);
    assert.ok(Array.isArray(fds));
    const [r, w] = fds;
    const wrote = await ring.write(w, Buffer.from('abcdef'));
    assert.equal(wrote, 4, 'a 4-byte pipe takes 4 bytes');
    const buf = Buffer.alloc(16);
    const n = await ring.read(r, buf);
    assert.equal(buf.toString('utf8', 0, n), 'abcd');
    await ring.closeFd(w);
    assert.equal(await ring.read(r, buf), 0);
    await ring.closeFd(r);
  }));

  test('sockaddr encode/decode: the native layout', () => {
    const v4 = encodeSockaddr(2, '10.1.2.3', 8080, 0, 0) as Buffer;
    assert.equal(v4.length, 132);
    assert.equal(v4.readUInt16LE(0), 2);
    assert.equal(v4.readUInt16BE(2), 8080);
    assert.deepEqual([...v4.subarray(4, 8)], [10, 1, 2, 3]);
    assert.equal(v4.readUInt32LE(128), 16);
    const v6 = encodeSockaddr(10, 'fe80::1:2', 443, 0x12345, 7) as Buffer;
    assert.equal(v6.readUInt32BE(4), 0x12345);
    assert.equal(v6.readUInt32LE(24), 7);
    assert.equal(v6.readUInt32LE(128), 28);
    assert.deepEqual(decodeSockaddr(v6), [10, 'fe80::1:2', 443, 0x12345, 7]);
    assert.deepEqual(decodeSockaddr(encodeSockaddr(10, '::ffff:1.2.3.4', 1, 0, 0) as Buffer), [10, '::ffff:1.2.3.4', 1, 0, 0]);
    assert.deepEqual(decodeSockaddr(encodeSockaddr(10, '2001:db8:0:0:1:0:0:1', 1, 0, 0) as Buffer),
      [10, '2001:db8::1:0:0:1', 1, 0, 0]);
    const un = encodeSockaddr(1, '/tmp/x.sock', 0, 0, 0) as Buffer;
    assert.equal(un.readUInt32LE(128), 2 + 11 + 1);
    const ab = encodeSockaddr(1, '@name', 0, 0, 0) as Buffer;
    assert.equal(ab[2], 0);
    assert.equal(ab.readUInt32LE(128), 2 + 5);
    assert.deepEqual(decodeSockaddr(ab, 7), [1, '@name', 0, 0, 0]);
    assert.deepEqual(decodeSockaddr(ab), [1, '@name', 0, 0, 0]);
    assert.equal(encodeSockaddr(2, 'nope', 0, 0, 0), -22);
    assert.equal(encodeSockaddr(99, 'x', 0, 0, 0), -97);
  });

  test('sockaddr: byte-identical to the native addon where it loads', async (t) => {
    let native: { sockaddrEncode: typeof encodeSockaddr; sockaddrDecode: typeof decodeSockaddr } | undefined;
    try {
      const { nativeBinding } = await import('../../src/index.js');
      native = nativeBinding() as unknown as typeof native;
    } catch {
      native = undefined;
    }
    if (native === undefined || typeof native.sockaddrEncode !== 'function') {
      t.skip('native addon not available');
      return;
    }
    const cases: [number, string, number, number, number][] = [
      [2, '127.0.0.1', 80, 0, 0], [2, '0.0.0.0', 0, 0, 0], [10, '::1', 65535, 0, 0], [10, '::', 1, 0, 0],
      [10, 'fe80::abcd:1', 8080, 0xfffff, 3], [10, '::ffff:10.0.0.1', 5, 0, 0], [10, '1:0:0:1:0:0:0:1', 5, 0, 0],
      [1, '/run/a.sock', 0, 0, 0], [1, '@abstract', 0, 0, 0],
    ];
    for (const c of cases) {
      const mine = encodeSockaddr(...c) as Buffer;
      const theirs = native.sockaddrEncode(...c) as Buffer;
      assert.ok(mine.equals(theirs), `encode ${c.join(' ')}`);
      assert.deepEqual(decodeSockaddr(mine), native.sockaddrDecode(theirs), `decode ${c.join(' ')}`);
      const len = mine.readUInt32LE(128);
      assert.deepEqual(decodeSockaddr(mine.subarray(0, len)), native.sockaddrDecode(theirs.subarray(0, len)));
    }
  });

  test('same seed, same run: random short sends replay exactly', async () => {
    async function once(seed: number): Promise<string> {
      const mock = new MockBackend({ seed, faults: [{ op: 'send', shortBy: 'random' }] });
      const ring = new Ring({ backend: mock });
      const { client, server, closeAll } = await pair(ring);
      const data = bytes(20_000, seed);
      const w = client.write(data).then(() => client.shutdown('write'));
      const got = await readAll(server);
      await w;
      assert.ok(got.equals(data));
      await closeAll();
      await ring.close();
      return mock.calls('send').map((e) => e.res).join(',');
    }
    assert.equal(await once(11), await once(11));
    assert.notEqual(await once(11), await once(12));
  });
});
