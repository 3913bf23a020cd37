/**
 * Stream sockets (TCP over IPv4/IPv6 loopback, Unix paths and abstract
 * names): connection errors with their addresses, resets, half-close,
 * options read back from the kernel, write ordering, the one-receive rule,
 * and nothing left in flight once everything is closed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { Ring, Socket, SocketAddress, SystemError, TcpListener, UdpSocket, UnixListener } from '../../src/index.js';
import { fdCount, fdSnapshot, fdsLeftOpen, fdsOpenedSince } from '../helpers/fds.js';
import { waitUntil } from '../helpers/loop.js';
import {
  abstractName, deadline, drain, echoServer, hasIPv6Loopback, recvAll, recvExactly, rejectionOf, sleep, sockDir,
} from '../helpers/net-util.js';

const E = os.constants.errno;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const TCP_KEEPIDLE = 4;
const TCP_KEEPINTVL = 5;
const TCP_KEEPCNT = 6;
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_KEEPALIVE = 9;
const SO_LINGER = 13;

/** Bound for anything that should happen "soon": generous, against hangs only. */
const SOON = 10_000;

const sysctl = (name: string): number => Number(fs.readFileSync(`/proc/sys/${name}`, 'utf8').trim());

/** A listener plus one accepted connection: [client, server side]. */
async function pair(listener: TcpListener, options?: Parameters<typeof Socket.connect>[1]): Promise<[Socket, Socket]> {
  const accepted = listener.accept();
  const c = await Socket.connect(listener.address(), options);
  return [c, await deadline(accepted, SOON, 'accept')];
}

/** A port nobody listens on (a listener's port, just closed). */
async function closedPort(host = '127.0.0.1'): Promise<number> {
  const l = TcpListener.bind({ host, reuseAddr: false });
  const port = l.address().port;
  await l.close();
  return port;
}

describe('connection errors', () => {
  test('ECONNREFUSED (IPv4, by SocketAddress and by string) carries address, port, syscall and errno', async () => {
    const port = await closedPort();
    const base = fdCount();
    for (const target of [`127.0.0.1:${port}`, SocketAddress.ipv4('127.0.0.1', port)]) {
      const e = await rejectionOf(Socket.connect(target), `connect ${target.toString()}`);
      assert.ok(e instanceof SystemError, String(e));
      assert.equal(e.code, 'ECONNREFUSED');
      assert.equal(e.errno, -E.ECONNREFUSED);
      assert.equal(e.syscall, 'connect');
      assert.equal(e.address, '127.0.0.1');
      assert.equal(e.port, port);
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    }
    assert.ok(await waitUntil(() => fdCount() <= base, SOON), `fds after failed connects: ${fdCount()} vs ${base}`);
  });

  test('ECONNREFUSED on IPv6 loopback carries address ::1 and the port', { skip: !hasIPv6Loopback() }, async () => {
    const port = await closedPort('::1');
    const e = await rejectionOf(Socket.connect(`[::1]:${port}`), 'connect [::1]');
    assert.equal(e.code, 'ECONNREFUSED');
    assert.equal(e.address, '::1');
    assert.equal(e.port, port);
  });

  test('connecting to a missing Unix path: ENOENT with the path as address and no port', async () => {
    const dir = sockDir();
    try {
      const p = dir.file('missing.sock');
      const e = await rejectionOf(Socket.connect(p), 'connect unix');
      assert.equal(e.code, 'ENOENT');
      assert.equal(e.syscall, 'connect');
      assert.equal(e.address, p);
      assert.equal(e.port, undefined);
    } finally {
      dir.remove();
    }
  });

  test('a pending recv() sees ECONNRESET when the peer resets (linger 0); a later write fails with EPIPE', async () => {
    const l = TcpListener.bind({ socket: { linger: 0 } });
    try {
      const [c, s] = await pair(l);
      assert.equal(s.getOption(SOL_SOCKET, SO_LINGER), 1, 'listener socket options: SO_LINGER on');
      const r = c.recv(Buffer.alloc(64));
      await s.close();
      const e = await deadline(rejectionOf(r, 'recv'), SOON, 'recv after reset');
      assert.equal(e.code, 'ECONNRESET');
      assert.equal(e.errno, -E.ECONNRESET);
      assert.equal(e.syscall, 'recv');
      // The reset was reported (and consumed) by recv: the socket is now shut down for sending.
      const w = await rejectionOf(c.write('after reset'), 'write after reset');
      assert.equal(w.code, 'EPIPE');
      assert.equal(w.syscall, 'send');
      await c.close();
    } finally {
      await l.close();
    }
  });

  test('a write blocked on a full peer fails with ECONNRESET when the peer resets; the next write with EPIPE', async () => {
    const l = TcpListener.bind({ socket: { recvBuffer: 65536 } });
    try {
      const [c, s] = await pair(l, { sendBuffer: 65536 });
      const big = Buffer.alloc(64 << 20, 0x5a); // far beyond both socket buffers: this write must block
      const w = c.write(big);
      assert.equal(await recvExactly(s, 1).then((b) => b[0]), 0x5a, 'the write started');
      s.setOptions({ linger: 0 });
      await s.close();
      const e = await deadline(rejectionOf(w, 'blocked write'), SOON, 'blocked write after reset');
      assert.equal(e.code, 'ECONNRESET');
      assert.equal(e.syscall, 'send');
      const e2 = await rejectionOf(c.write('x'), 'second write');
      assert.equal(e2.code, 'EPIPE');
      await c.close();
    } finally {
      await l.close();
    }
  });

  test('the async iterator throws ECONNRESET when the peer resets', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      const got: Buffer[] = [];
      const reading = (async () => {
        for await (const chunk of c) got.push(chunk);
      })();
      await s.write('before');
      assert.ok(await waitUntil(() => got.length > 0, SOON), 'first chunk');
      s.setOptions({ linger: 0 });
      await s.close();
      const e = await deadline(rejectionOf(reading, 'iterate'), SOON, 'iteration after reset');
      assert.equal(e.code, 'ECONNRESET');
      assert.equal(Buffer.concat(got).toString(), 'before');
      await c.close();
    } finally {
      await l.close();
    }
  });
});

describe('connections', () => {
  test('half-close: the server reads EOF after shutdown("write"), then still sends, and the client reads it', async () => {
    const l = TcpListener.bind();
    const payload = Buffer.alloc(300_000, 'q');
    const srv = echoServer(l, async (s) => {
      const data = await recvAll(s);
      // A second read after EOF is EOF again.
      assert.equal(await s.recv(Buffer.alloc(8)), 0);
      await s.write(`got ${data.length} ${createHash('sha256').update(data).digest('hex')}`);
    });
    try {
      const c = await Socket.connect(l.address());
      await c.write(payload);
      await c.shutdown('write');
      const w = await rejectionOf(c.write('too late'), 'write after shutdown');
      assert.equal(w.code, 'EPIPE');
      const reply = (await deadline(recvAll(c), SOON, 'reply after half-close')).toString();
      assert.equal(reply, `got ${payload.length} ${createHash('sha256').update(payload).digest('hex')}`);
      await c.close();
      await srv.idle();
      assert.deepEqual(srv.errors, []);
    } finally {
      await l.close();
      await srv.loop;
    }
  });

  test('IPv6 loopback: echo through [::1] with IPv6 local and remote addresses', { skip: !hasIPv6Loopback() }, async () => {
    const l = TcpListener.bind({ host: '::1' });
    const seen: string[] = [];
    const srv = echoServer(l, async (s) => {
      seen.push(s.remoteAddress().toString(), s.localAddress().toString());
      for await (const chunk of s) await s.write(chunk);
    });
    try {
      const addr = l.address();
      assert.equal(addr.family, 'ipv6');
      assert.equal(addr.address, '::1');
      assert.ok(addr.port > 0);
      const c = await Socket.connect(`[::1]:${addr.port}`);
      assert.equal(c.family, 10);
      assert.equal(c.remoteAddress().toString(), `[::1]:${addr.port}`);
      const local = c.localAddress();
      assert.equal(local.family, 'ipv6');
      assert.equal(local.address, '::1');
      await c.write('over six');
      assert.equal((await recvExactly(c, 8)).toString(), 'over six');
      await c.shutdown('write');
      assert.equal(await c.recv(Buffer.alloc(8)), 0);
      await c.close();
      await srv.idle();
      assert.deepEqual(seen, [local.toString(), addr.toString()]);
    } finally {
      await l.close();
      await srv.loop;
    }
  });

  test('Unix stream socket on a path: echo, addresses, the file is removed on close', async () => {
    const dir = sockDir();
    const p = dir.file('echo.sock');
    const l = UnixListener.bind(p);
    const srv = echoServer(l);
    try {
      assert.equal(l.address().family, 'unix');
      assert.equal(l.address().toString(), p);
      assert.ok(fs.statSync(p).isSocket(), 'the socket file exists');
      const c = await Socket.connect(p, { noDelay: true, keepAlive: true }); // TCP-only options are ignored
      assert.equal(c.family, 1);
      assert.equal(c.remoteAddress().address, p);
      const data = Buffer.alloc(1 << 20, 'u');
      const reading = drain(c);
      await c.write(data);
      await c.shutdown('write');
      const got = await deadline(reading, SOON, 'unix echo');
      assert.equal(got.bytes, data.length);
      assert.equal(got.sha256, createHash('sha256').update(data).digest('hex'));
      await c.close();
      await srv.idle();
      await l.close();
      assert.equal(fs.existsSync(p), false, 'close() unlinks the socket file');
    } finally {
      await l.close();
      await srv.loop;
      dir.remove();
    }
  });

  test('Unix stream socket on an abstract name: echo and addresses', async () => {
    const name = abstractName('stream');
    const l = TcpListener.bind({ path: name });
    const local: string[] = [];
    const srv = echoServer(l, async (s) => {
      local.push(s.localAddress().toString());
      for await (const chunk of s) await s.write(chunk);
    });
    try {
      assert.equal(l.address().abstract, true);
      assert.equal(l.address().toString(), name);
      const c = await Socket.connect(name);
      const remote = c.remoteAddress();
      assert.equal(remote.family, 'unix');
      assert.equal(remote.abstract, true);
      assert.equal(remote.toString(), name);
      await c.write('abstract hello');
      assert.equal((await recvExactly(c, 14)).toString(), 'abstract hello');
      await c.close();
      await srv.idle();
      assert.deepEqual(local, [name]);
    } finally {
      await l.close();
      await srv.loop;
    }
    // Abstract names vanish with their socket: the name can be bound again.
    const again = TcpListener.bind({ path: name });
    await again.close();
  });

  test('an unbound (unnamed) Unix client has an empty address, not the abstract name "@"', async () => {
    const name = abstractName('unnamed');
    const l = UnixListener.bind(name);
    try {
      const [c, s] = await pair(l);
      const mine = c.localAddress();
      const theirs = s.remoteAddress();
      await c.close();
      await s.close();
      assert.equal(mine.family, 'unix');
      assert.equal(mine.abstract, false, `client localAddress() is ${JSON.stringify(mine.toString())}`);
      assert.equal(mine.address, '');
      assert.equal(theirs.abstract, false, `server remoteAddress() is ${JSON.stringify(theirs.toString())}`);
      assert.equal(theirs.address, '');
    } finally {
      await l.close();
    }
  });

  test('accepted and connected sockets report matching addresses and ports', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      assert.equal(c.remoteAddress().toString(), l.address().toString());
      assert.equal(s.localAddress().toString(), l.address().toString());
      assert.equal(s.remoteAddress().toString(), c.localAddress().toString());
      await c.close();
      await s.close();
      assert.equal(c.closed, true);
      const e = await rejectionOf(Promise.resolve().then(() => c.localAddress()), 'localAddress after close');
      assert.equal(e.code, 'EBADF');
    } finally {
      await l.close();
    }
  });
});

describe('socket options', () => {
  test('noDelay, keepAlive (idle/interval/count), sendBuffer, recvBuffer, linger are set and read back', async () => {
    const l = TcpListener.bind({ socket: { noDelay: true, keepAlive: true } });
    try {
      const [c, s] = await pair(l, {
        noDelay: true, keepAlive: { idle: 30_000, interval: 5_000, count: 3 }, sendBuffer: 65536, recvBuffer: 100_000, linger: 5,
      });
      assert.equal(c.getOption(IPPROTO_TCP, TCP_NODELAY), 1, 'TCP_NODELAY');
      assert.equal(c.getOption(SOL_SOCKET, SO_KEEPALIVE), 1, 'SO_KEEPALIVE');
      assert.equal(c.getOption(IPPROTO_TCP, TCP_KEEPIDLE), 30, 'TCP_KEEPIDLE (seconds)');
      assert.equal(c.getOption(IPPROTO_TCP, TCP_KEEPINTVL), 5, 'TCP_KEEPINTVL (seconds)');
      assert.equal(c.getOption(IPPROTO_TCP, TCP_KEEPCNT), 3, 'TCP_KEEPCNT');
      // Linux doubles the requested size (capped at the sysctl maximum).
      assert.equal(c.getOption(SOL_SOCKET, SO_SNDBUF), 2 * Math.min(65536, sysctl('net/core/wmem_max')), 'SO_SNDBUF');
      assert.equal(c.getOption(SOL_SOCKET, SO_RCVBUF), 2 * Math.min(100_000, sysctl('net/core/rmem_max')), 'SO_RCVBUF');
      assert.equal(c.getOption(SOL_SOCKET, SO_LINGER), 1, 'SO_LINGER l_onoff');
      // The listener's `socket` options apply to accepted sockets.
      assert.equal(s.getOption(IPPROTO_TCP, TCP_NODELAY), 1, 'accepted TCP_NODELAY');
      assert.equal(s.getOption(SOL_SOCKET, SO_KEEPALIVE), 1, 'accepted SO_KEEPALIVE');
      // And they can be switched off again.
      c.setNoDelay(false).setKeepAlive(false).setOptions({ linger: false });
      assert.equal(c.getOption(IPPROTO_TCP, TCP_NODELAY), 0);
      assert.equal(c.getOption(SOL_SOCKET, SO_KEEPALIVE), 0);
      assert.equal(c.getOption(SOL_SOCKET, SO_LINGER), 0);
      c.setNoDelay();
      assert.equal(c.getOption(IPPROTO_TCP, TCP_NODELAY), 1, 'setNoDelay() defaults to on');
      c.setOption(SOL_SOCKET, SO_KEEPALIVE, 1);
      assert.equal(c.getOption(SOL_SOCKET, SO_KEEPALIVE), 1, 'setOption/getOption');
      const bad = await rejectionOf(Promise.resolve().then(() => c.getOption(IPPROTO_TCP, 9999)), 'unknown option');
      assert.ok(bad instanceof SystemError, String(bad));
      assert.equal(bad.syscall, 'getsockopt');
      await c.close();
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('without options a connection has Nagle and keep-alive off (the option test above can fail)', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      for (const x of [c, s]) {
        assert.equal(x.getOption(IPPROTO_TCP, TCP_NODELAY), 0);
        assert.equal(x.getOption(SOL_SOCKET, SO_KEEPALIVE), 0);
        assert.equal(x.getOption(SOL_SOCKET, SO_LINGER), 0);
      }
      await c.close();
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('invalid option values are rejected with RangeError/TypeError and leak no fd', async () => {
    const l = TcpListener.bind();
    try {
      const base = fdCount();
      const e1 = await rejectionOf(Socket.connect(l.address(), { sendBuffer: -1 }), 'sendBuffer -1');
      assert.ok(e1 instanceof RangeError, String(e1));
      assert.equal(e1.code, 'ERR_OUT_OF_RANGE');
      const e2 = await rejectionOf(Socket.connect(l.address(), { recvBuffer: '1' as unknown as number }), 'recvBuffer "1"');
      assert.ok(e2 instanceof TypeError, String(e2));
      assert.equal(e2.code, 'ERR_INVALID_ARG_TYPE');
      const e3 = await rejectionOf(Socket.connect(l.address(), { keepAlive: { idle: -5 } }), 'keepAlive.idle -5');
      assert.equal(e3.code, 'ERR_OUT_OF_RANGE');
      assert.ok(await waitUntil(() => fdCount() <= base, SOON), `fds: ${fdCount()} vs ${base}`);
    } finally {
      await l.close();
    }
  });
});

describe('reading and writing', () => {
  test('100 writes issued without awaiting arrive complete and in order', async () => {
    const l = TcpListener.bind({ socket: { recvBuffer: 32 * 1024 } });
    try {
      const [c, s] = await pair(l, { sendBuffer: 16 * 1024 }); // small buffers: sends block and come back short
      const reading = drain(s, async (_chunk, i) => {
        if (i % 16 === 15) await sleep(1);
      });
      const expected = createHash('sha256');
      const writes: Promise<number>[] = [];
      const sizes: number[] = [];
      for (let i = 0; i < 100; i++) {
        const size = ((i * 7919) % 61 + 1) * 1024 + i;
        const b = Buffer.alloc(size, i);
        b.writeUInt32BE(i, 0);
        expected.update(b);
        sizes.push(size);
        writes.push(c.write(i % 2 === 0 ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
      }
      assert.equal(c.pendingWrites, 100);
      const results = await deadline(Promise.all(writes), 60_000, '100 writes');
      assert.deepEqual(results, sizes, 'each write resolves with its full length');
      assert.equal(c.pendingWrites, 0);
      await c.shutdown('write');
      const got = await deadline(reading, 60_000, 'reader');
      assert.equal(got.bytes, sizes.reduce((a, b) => a + b, 0));
      assert.equal(got.sha256, expected.digest('hex'), 'bytes arrive in write order');
      await c.close();
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('a second concurrent recv() (or iterator) rejects with ERR_SOCKET_RECV_PENDING; the first is unaffected', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      const first = Buffer.alloc(16);
      const r1 = c.recv(first);
      const e = await rejectionOf(c.recv(Buffer.alloc(16)), 'second recv');
      assert.equal(e.code, 'ERR_SOCKET_RECV_PENDING');
      const e2 = await rejectionOf(c[Symbol.asyncIterator]().next(), 'iterator during recv');
      assert.equal(e2.code, 'ERR_SOCKET_RECV_PENDING');
      await s.write('abc');
      const n = await deadline(r1, SOON, 'first recv');
      assert.equal(first.toString('utf8', 0, n), 'abc');
      // Once it settled, receiving works again (recv, then the iterator).
      await s.write('d');
      const b = Buffer.alloc(4);
      assert.equal(await c.recv(b), 1);
      assert.equal(b.toString('utf8', 0, 1), 'd');
      const chunks: string[] = [];
      const it = (async () => {
        for await (const chunk of c) chunks.push(chunk.toString());
      })();
      const e3 = await rejectionOf(c.recv(Buffer.alloc(4)), 'recv during iteration');
      assert.equal(e3.code, 'ERR_SOCKET_RECV_PENDING');
      await s.write('end');
      await s.close();
      await deadline(it, SOON, 'iterator to EOF');
      assert.equal(chunks.join(''), 'end');
      await c.close();
    } finally {
      await l.close();
    }
  });

  test('destroy() ends a pending recv and a blocked write', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l, { sendBuffer: 65536 });
      const [c2, s2] = await pair(l);
      const r = c.recv(Buffer.alloc(8)).then((n) => ({ n }), (e: Error) => ({ e }));
      const w = c2.write(Buffer.alloc(64 << 20)).then((n) => ({ n }), (e: Error) => ({ e }));
      await recvExactly(s2, 1);
      c.destroy();
      c2.destroy();
      const rr = await deadline(r, SOON, 'recv after destroy()');
      assert.ok('e' in rr || rr.n === 0, `recv settled with ${JSON.stringify(rr)}`);
      const ww = await deadline(w, SOON, 'write after destroy()');
      assert.ok('e' in ww, 'a 64 MiB write to a peer that never reads cannot have completed');
      assert.equal(c.closed, true);
      // The peers see the connection end.
      assert.equal(await deadline(s.recv(Buffer.alloc(8)), SOON, 'peer EOF'), 0);
      await s.close();
      await s2.close();
    } finally {
      await l.close();
    }
  });

  test('close() while a recv is pending closes the connection: the peer sees EOF and the recv settles', async () => {
    const peers: net.Socket[] = [];
    const srv = net.createServer();
    const peerEnded = new Promise<void>((resolve) => {
      srv.on('connection', (sock) => {
        peers.push(sock);
        sock.on('end', resolve);
        sock.on('error', () => resolve());
        sock.resume();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    // Everything after the listener is inside try: a connect that fails must still close the server,
    // or this file's process never exits (it ran into the runner's timeout under a seccomp filter).
    let r: Promise<unknown> = Promise.resolve();
    try {
      const c = await Socket.connect(`127.0.0.1:${port}`);
      r = c.recv(Buffer.alloc(8)).then((n) => ({ n }), (e: Error) => ({ e }));
      await c.close();
      const ended = await deadline(peerEnded, SOON, 'peer EOF').then(() => true, () => false);
      assert.ok(ended, 'after close() with a recv pending, the peer never saw the connection end');
      await deadline(r, SOON, 'the pending recv after close()');
    } finally {
      // Unblock whatever is still pending: the peer closing ends our recv.
      for (const p of peers) p.destroy();
      await new Promise<void>((res) => srv.close(() => res()));
      await deadline(r, SOON, 'recv after the peer closed').catch(() => {});
    }
  });
});

describe('teardown', () => {
  test('stats().inFlight returns to 0 after destroying sockets with pending operations and closing listeners', async () => {
    const ring = Ring.current();
    const l = TcpListener.bind();
    const l2 = TcpListener.bind();
    const loopSockets: Socket[] = [];
    const loop = (async () => {
      for await (const s of l) loopSockets.push(s);
    })();
    const pendingAccept = l2.accept().then(() => 'accepted', (e: Error) => e);
    const [c1, c2, c3] = await Promise.all([0, 1, 2].map(() => Socket.connect(l.address(), { sendBuffer: 65536 })));
    assert.ok(await waitUntil(() => loopSockets.length === 3, SOON), 'three accepted');
    const settled: Promise<unknown>[] = [];
    settled.push(c1!.recv(Buffer.alloc(8)).catch((e: unknown) => e)); // one-shot recv
    settled.push((async () => {
      for await (const chunk of c2!) void chunk; // multishot recv
    })().catch((e: unknown) => e));
    settled.push(c3!.write(Buffer.alloc(64 << 20)).catch((e: unknown) => e)); // blocked send
    settled.push((async () => {
      for await (const chunk of loopSockets[0]!) void chunk; // server-side multishot recv
    })().catch((e: unknown) => e));
    assert.ok(ring.stats().inFlight >= 5, `operations in flight: ${ring.stats().inFlight}`);
    for (const x of [c1!, c2!, c3!, ...loopSockets]) x.destroy();
    await l.close();
    await l2.close();
    await deadline(loop, SOON, 'accept loop after close()');
    const acc = await deadline(pendingAccept, SOON, 'one-shot accept after close()');
    assert.ok(acc instanceof Error, `a pending accept on a closed listener rejects (got ${String(acc)})`);
    await deadline(Promise.all(settled), SOON, 'pending operations after destroy()');
    assert.ok(await waitUntil(() => ring.stats().inFlight === 0, SOON), `inFlight: ${ring.stats().inFlight}`);
  });

  test('stats().inFlight returns to 0 after close() on both ends of connections with pending receives', async () => {
    const ring = Ring.current();
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      const [c2, s2] = await pair(l);
      const pending = [
        c.recv(Buffer.alloc(8)).catch((e: unknown) => e),
        s.recv(Buffer.alloc(8)).catch((e: unknown) => e),
        (async () => {
          for await (const chunk of c2) void chunk;
        })().catch((e: unknown) => e),
        (async () => {
          for await (const chunk of s2) void chunk;
        })().catch((e: unknown) => e),
      ];
      await Promise.all([c.close(), s.close(), c2.close(), s2.close()]);
      const ok = await deadline(Promise.all(pending), SOON, 'receives after close()').then(() => true, () => false);
      const inFlight = ring.stats().inFlight;
      assert.ok(ok && await waitUntil(() => ring.stats().inFlight === 0, 1000),
        `receives pending on sockets closed with close() never settle (inFlight ${inFlight})`);
    } finally {
      await l.close();
    }
  });
});

describe('closing after the ring closed', () => {
  test('Socket, TcpListener, UnixListener and UdpSocket release their fds when closed after their ring', async () => {
    const own = new Ring();
    const base = fdSnapshot();
    const l = TcpListener.bind({ host: '127.0.0.1', ring: own });
    const accepted = l.accept();
    const c = await Socket.connect(l.address(), { ring: own });
    const s = await deadline(accepted, SOON, 'accept');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uringkit-orphan-'));
    const u = UnixListener.bind(path.join(dir, 'sock'), { ring: own });
    const d = UdpSocket.bind({ address: '127.0.0.1:0', ring: own });
    const c2 = await Socket.connect(l.address(), { ring: own });
    try {
      assert.ok(fdsOpenedSince(base).length >= 6, `fds opened: ${fdsOpenedSince(base).join(', ')}`);
      await own.close();
      c2.destroy();
      await Promise.all([c.close(), s.close(), l.close(), u.close(), d.close(), c2.close()]);
      assert.deepEqual(await fdsLeftOpen(base, SOON), [], 'every fd closed without the ring');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

after(async () => {
  // Whatever a failed test left pending must not keep this file's process alive; a cancelAll that
  // never settles is a bug of its own: fail with the ring's state rather than hang.
  const ring = Ring.current();
  await deadline(ring.cancelAll().catch(() => 0), 20_000, `cancelAll() at the end (stats ${JSON.stringify(ring.stats())})`);
});
