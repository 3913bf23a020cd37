/**
 * Sockets on the portable backend (node:net behind virtual fds): TCP and
 * Unix echo through the public Socket / TcpListener / UnixListener types,
 * a large transfer through the backpressure bound, half-close, the error
 * shapes of refused connections and taken ports, and no handle left open.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, test } from 'node:test';

import { Socket, SocketAddress, SystemError, TcpListener, UnixListener, sendFile } from '../../src/index.js';
import { INBOX_HIGH } from '../../src/backend/portable/sockets.js';
import { deadline, echoServer, recvAll, recvExactly, rejectionOf, sockDir } from '../helpers/net-util.js';
import { portableRing, tempDir } from './util.js';

const SOON = 10_000;
const { backend, ring } = portableRing();

async function pair(listener: TcpListener): Promise<[Socket, Socket]> {
  const accepted = listener.accept();
  const c = await Socket.connect(listener.address(), { ring });
  return [c, await deadline(accepted, SOON, 'accept')];
}

describe('portable backend: TCP', () => {
  test('echo over loopback; sockets are virtual fds; addresses read back', async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, ring });
    assert.ok(l.address().port > 0);
    const server = echoServer(l);
    const c = await Socket.connect(l.address(), { ring });
    assert.ok(c.fd >= 2 ** 30, `virtual fd ${c.fd}`);
    assert.equal(c.remoteAddress().port, l.address().port);
    assert.equal(c.localAddress().address, '127.0.0.1');
    await c.write('hello, portable');
    assert.equal((await recvExactly(c, 15)).toString(), 'hello, portable');
    await c.shutdown('write');
    assert.equal((await recvAll(c)).length, 0, 'EOF after the echo side closed');
    await c.close();
    await deadline(server.idle(), SOON, 'server idle');
    await l.close();
    await deadline(server.loop, SOON, 'accept loop');
    assert.deepEqual(server.errors, []);
  });

  test('8 MiB both ways through the inbox bound: every byte, in order', async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, ring });
    const [c, s] = await pair(l);
    const data = randomBytes(8 << 20);
    assert.ok(data.length > 4 * INBOX_HIGH);
    const sent = (async () => {
      for (let off = 0; off < data.length; off += 256 * 1024) await c.write(data.subarray(off, off + 256 * 1024));
      await c.shutdown('write');
    })();
    // Read slowly at first so the sender runs into the bound.
    await new Promise((r) => setTimeout(r, 50));
    const got = await recvAll(s, 100_000);
    await sent;
    assert.equal(got.length, data.length);
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
    await Promise.all([c.close(), s.close(), l.close()]);
  });

  test('talks to node:net peers both ways', async () => {
    const srv = net.createServer((sock) => sock.pipe(sock));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const c = await Socket.connect(`127.0.0.1:${port}`, { ring });
    await c.write('ping');
    assert.equal((await recvExactly(c, 4)).toString(), 'ping');
    await c.close();
    await new Promise((r) => srv.close(r));

    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, ring });
    const accepted = l.accept();
    const nc = net.connect(l.address().port, '127.0.0.1');
    const s = await deadline(accepted, SOON, 'accept');
    nc.end('from node:net');
    assert.equal((await recvAll(s)).toString(), 'from node:net');
    await Promise.all([s.close(), l.close()]);
    nc.destroy();
  });

  test('ECONNREFUSED and EADDRINUSE have the io_uring backend\'s error shapes', async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, ring, reuseAddr: false });
    const port = l.address().port;
    const e1 = await rejectionOf((async () => TcpListener.bind({ host: '127.0.0.1', port, ring }))(), 'bind');
    assert.ok(e1 instanceof SystemError);
    assert.equal(e1.code, 'EADDRINUSE');
    assert.equal(e1.syscall, 'bind');
    await l.close();
    const e2 = await rejectionOf(Socket.connect(SocketAddress.ipv4('127.0.0.1', port), { ring }), 'connect');
    assert.ok(e2 instanceof SystemError, String(e2));
    assert.equal(e2.code, 'ECONNREFUSED');
    assert.equal(e2.errno, -111);
    assert.equal(e2.syscall, 'connect');
    assert.equal(e2.address, '127.0.0.1');
    assert.equal(e2.port, port);
  });

  test('a recv with a deadline times out, an aborted accept rejects; the socket stays usable', async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, ring });
    const [c, s] = await pair(l);
    const e = await rejectionOf(s.recv(Buffer.alloc(10), { timeout: 30 }), 'recv');
    assert.equal(e.code, 'ETIMEDOUT');
    await c.write('after');
    assert.equal((await recvExactly(s, 5)).toString(), 'after');
    const ac = new AbortController();
    const p = rejectionOf(ring.accept(l.fd, { signal: ac.signal }), 'accept');
    setTimeout(() => ac.abort(), 10);
    assert.equal((await p).code, 'ABORT_ERR');
    await Promise.all([c.close(), s.close(), l.close()]);
  });

  test('sendFile: file bytes through the emulated splice path', async () => {
    const dir = tempDir();
    const data = randomBytes(300_000);
    const file = dir.write('f.bin', data);
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, ring });
    const [c, s] = await pair(l);
    const fh = await ring.open(file);
    const reading = recvAll(c);
    assert.equal(await sendFile(s, fh), data.length);
    await s.shutdown('write');
    assert.ok((await reading).equals(data));
    await ring.closeFd(fh);
    await Promise.all([c.close(), s.close(), l.close()]);
    const { drainSendFilePipes, sendFilePoolSize } = await import('../../src/index.js');
    assert.equal(sendFilePoolSize(ring), 1);
    assert.deepEqual(backend.openHandles().filter((h) => h.kind === 'pipe').length, 2);
    // The pooled pipe is two of this backend's own handles: draining closes them through the backend.
    assert.equal(drainSendFilePipes(ring), 1);
    assert.deepEqual(backend.openHandles().filter((h) => h.kind === 'pipe'), []);
    dir.remove();
  });
});

describe('portable backend: Unix sockets', () => {
  test('echo over a path; the path is taken while bound', async () => {
    const d = sockDir();
    const l = UnixListener.bind(d.file('s.sock'), { ring });
    const server = echoServer(l);
    const c = await Socket.connect(SocketAddress.unix(d.file('s.sock')), { ring });
    await c.write('unix says hi');
    assert.equal((await recvExactly(c, 12)).toString(), 'unix says hi');
    await c.close();
    await deadline(server.idle(), SOON, 'idle');
    const e = await rejectionOf((async () => UnixListener.bind(d.file('s.sock'), { ring }))(), 'bind');
    assert.equal(e.code, 'EADDRINUSE');
    await l.close();
    await deadline(server.loop, SOON, 'loop');
    d.remove();
  });
});
