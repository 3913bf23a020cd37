/**
 * Conformance, networking: the same bodies on every backend (backends.ts):
 * TCP and Unix listeners and sockets, UDP, socket.stream() as a Duplex,
 * sendFile, and TLS (node:tls over socket.stream(), with the committed test
 * certificate in fixtures/tls-cert.ts).
 *
 * io_uring runs real sockets on 127.0.0.1 and real Unix paths in a temp
 * directory; the mock runs its in-memory sockets. Known differences (also in
 * docs/guides/testing-with-mock.md), asserted where they show:
 *  - sendFile (DIFF_SENDFILE): the mock has no splice model;
 *  - SO_REUSEPORT (DIFF_REUSEPORT): the portable backend needs Node >= 22.12;
 *  - ports: the mock hands out ephemeral ports from 30000 up, the kernel
 *    from its ip_local_port_range (bodies only check that a port was given);
 *  - time: TLS handshakes and stream pipelines run on the mock's in-memory
 *    sockets within one process; no body depends on timing.
 */
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { beforeEach, test } from 'node:test';
import tls from 'node:tls';

import {
  connectTls, File, type Ring, sendFile, Socket, SocketAddress, SystemError, TcpListener, UdpSocket, UnixListener,
} from '../../src/index.js';
import { backends, describeBackend, DIFF_REUSEPORT, DIFF_SENDFILE, outcome, shape } from './backends.js';
import { bytes, readAll } from './data.js';
import { TEST_CERT, TEST_KEY } from './fixtures/tls-cert.js';

async function collect(stream: Duplex): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(parts);
}

for (const b of backends()) {
  describeBackend(b, 'networking', () => {
    let ring: Ring;
    beforeEach(() => {
      ring = b.makeRing();
    });

    /** A TCP listener on 127.0.0.1 and a connected (client, server) pair. */
    async function tcpPair(): Promise<{ listener: TcpListener; client: Socket; server: Socket }> {
      const listener = TcpListener.bind({ ring, host: '127.0.0.1', port: 0 });
      const [client, server] = await Promise.all([Socket.connect(listener.address(), { ring }), listener.accept()]);
      return { listener, client, server };
    }

    test('TCP: bind, connect, accept, names, both directions, EOF on shutdown', async () => {
      const { listener, client, server } = await tcpPair();
      const port = listener.address().port;
      assert.ok(port > 0);
      assert.equal(listener.address().address, '127.0.0.1');
      assert.equal(client.remoteAddress().toString(), `127.0.0.1:${port}`);
      assert.equal(server.localAddress().toString(), `127.0.0.1:${port}`);
      assert.equal(server.remoteAddress().toString(), client.localAddress().toString());
      const big = bytes(300_000, 3);
      const received = readAll(server);
      await client.write('hello ');
      await client.write(big);
      await client.shutdown('write');
      const got = await received;
      assert.equal(got.subarray(0, 6).toString(), 'hello ');
      assert.ok(got.subarray(6).equals(big), 'the 300 kB arrived whole and in order');
      await server.write('bye');
      await server.shutdown('write');
      assert.equal((await readAll(client)).toString(), 'bye');
      await Promise.all([client.close(), server.close(), listener.close()]);
    });

    test('TCP: ECONNREFUSED where nothing listens, with the address in the error', async () => {
      const l = TcpListener.bind({ ring, host: '127.0.0.1', port: 0 });
      const addr = l.address();
      await l.close();
      const o = await outcome(Socket.connect(addr, { ring }));
      assert.ok(!o.ok);
      assert.deepEqual(shape(o.error), { name: 'Error', code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });
      assert.equal(o.error.address, '127.0.0.1');
      assert.equal(o.error.port, addr.port);
    });

    test('TCP: EADDRINUSE for a second listener on the port; SO_REUSEPORT shares it', async () => {
      const a = TcpListener.bind({ ring, host: '127.0.0.1', port: 0 });
      const port = a.address().port;
      assert.throws(() => TcpListener.bind({ ring, host: '127.0.0.1', port }), { code: 'EADDRINUSE' });
      await a.close();
      if (b.differs(DIFF_REUSEPORT) !== undefined) {
        // Refused before anything is bound, with the errno Linux gives for an unknown option.
        assert.throws(() => TcpListener.bind({ ring, host: '127.0.0.1', port: 0, reusePort: true }),
          (e: unknown) => e instanceof SystemError && e.code === 'ENOPROTOOPT' && e.syscall === 'setsockopt');
        return;
      }
      const r1 = TcpListener.bind({ ring, host: '127.0.0.1', port: 0, reusePort: true });
      const r2 = TcpListener.bind({ ring, host: '127.0.0.1', port: r1.address().port, reusePort: true });
      assert.equal(r2.address().port, r1.address().port);
      await Promise.all([r1.close(), r2.close()]);
    });

    test('listener: async iteration accepts connections until the listener closes', async () => {
      const listener = TcpListener.bind({ ring, host: '127.0.0.1', port: 0 });
      const served: string[] = [];
      const serving = (async () => {
        for await (const s of listener) {
          const msg = (await readAll(s)).toString();
          served.push(msg);
          await s.close();
          if (served.length === 3) break;
        }
      })();
      for (let i = 0; i < 3; i++) {
        const c = await Socket.connect(listener.address(), { ring });
        await c.write(`client ${i}`);
        await c.shutdown('write');
        assert.equal((await readAll(c)).length, 0, 'the server closes without a reply');
        await c.close();
      }
      await serving;
      assert.deepEqual(served, ['client 0', 'client 1', 'client 2']);
      await listener.close();
    });

    test('Unix: a stream listener on a path; the client is unnamed; ENOENT for a missing path', async () => {
      const path = `${b.dir()}/app.sock`;
      const listener = UnixListener.bind(path, { ring });
      assert.equal(listener.address().address, path);
      const [c, s] = await Promise.all([Socket.connect(SocketAddress.unix(path), { ring }), listener.accept()]);
      assert.equal(c.remoteAddress().address, path);
      assert.equal(s.remoteAddress().address, '');
      await c.write('over unix');
      await c.shutdown('write');
      assert.equal((await readAll(s)).toString(), 'over unix');
      await Promise.all([c.close(), s.close(), listener.close()]);
      const o = await outcome(Socket.connect(SocketAddress.unix(`${b.dir()}/none.sock`), { ring }));
      assert.ok(!o.ok);
      assert.equal(o.error.code, 'ENOENT');
    });

    test('UDP: datagrams with their sender; a pending receive ends with the socket', async () => {
      const a = UdpSocket.bind({ ring, address: '127.0.0.1:0' });
      const c = UdpSocket.bind({ ring, address: '127.0.0.1:0' });
      const receiving = c.receive();
      assert.equal(await a.send('ping', c.address()), 4);
      const d = await receiving;
      assert.equal(d.data.toString(), 'ping');
      assert.equal(d.from.toString(), a.address().toString());
      assert.equal(await c.send(Buffer.from('pong!'), d.from), 5);
      const r = await a.receive();
      assert.equal(r.data.toString(), 'pong!');
      assert.equal(r.from.toString(), c.address().toString());
      const pending = a.receive();
      await a.close();
      await assert.rejects(pending, { code: 'ERR_SOCKET_CLOSED' });
      await c.close();
    });

    test('socket.stream(): a Duplex that node:stream pipelines through (echo)', async () => {
      const { listener, client, server } = await tcpPair();
      const serverStream = server.stream();
      assert.ok(serverStream instanceof Duplex);
      const echo = pipeline(serverStream, serverStream);
      const clientStream = client.stream();
      const data = bytes(200_000, 9);
      const received = collect(clientStream);
      clientStream.end(data);
      const got = await received;
      assert.ok(got.equals(data), `echoed ${got.length} of ${data.length} bytes`);
      await echo;
      await Promise.all([client.close(), server.close(), listener.close()]);
    });

    test('sendFile: a file region to a socket (DIFF_SENDFILE where documented)', async () => {
      const path = `${b.dir()}/payload.bin`;
      const payload = bytes(100_000, 5);
      b.writeFile(path, payload);
      const { listener, client, server } = await tcpPair();
      const file = await File.open(path, 'r', 0o644, { ring });
      try {
        const difference = b.differs(DIFF_SENDFILE);
        if (difference === undefined) {
          const received = readAll(client);
          assert.equal(await sendFile(server, file, 1000, 50_000), 50_000);
          assert.equal(await server.sendFile(file), payload.length - 0, 'the whole file by default');
          await server.shutdown('write');
          const got = await received;
          assert.ok(got.subarray(0, 50_000).equals(payload.subarray(1000, 51_000)));
          assert.ok(got.subarray(50_000).equals(payload));
        } else {
          // The mock: splice has no built-in model.
          const o = await outcome(sendFile(server, file, 0, 10));
          assert.ok(!o.ok);
          assert.deepEqual(shape(o.error), { name: 'Error', code: 'ENOSYS', errno: -38, syscall: 'splice' });
          const mock = b.mock!;
          assert.match(mock.unhandled.at(-1)!.message, /^no mock handler for splice/);
          // sendFile gives a failed transfer's pipe back through the ring (closeFd), never with node:fs on a
          // number the backend made: the mock sees both ends close.
          const pipes = (): unknown[] => mock.openFds().filter((f) => f.kind === 'pipe');
          for (let i = 0; i < 200 && pipes().length > 0; i++) await new Promise((r) => setImmediate(r));
          assert.deepEqual(pipes(), [], 'sendFile closed both ends of its pipe through the ring');
        }
      } finally {
        await file.close();
        await Promise.all([client.close(), server.close(), listener.close()]);
      }
    });

    /** Accepts one connection and runs a node:tls server over its stream(). */
    async function tlsServer(listener: TcpListener): Promise<{ socket: Socket; secure: tls.TLSSocket }> {
      const socket = await listener.accept();
      const secure = new tls.TLSSocket(socket.stream({ allowHalfOpen: true }), {
        isServer: true, key: TEST_KEY, cert: TEST_CERT,
      });
      return { socket, secure };
    }

    /** Data of `s` up to and including the first newline. */
    function line(s: tls.TLSSocket): Promise<string> {
      return new Promise((resolve, reject) => {
        let text = '';
        const onData = (d: Buffer): void => {
          text += d.toString();
          if (text.includes('\n')) {
            s.off('data', onData);
            resolve(text);
          }
        };
        s.on('data', onData);
        s.once('error', reject);
      });
    }

    test('TLS: connectTls to a node:tls server over socket.stream(), both ways', async () => {
      const listener = TcpListener.bind({ ring, host: '127.0.0.1', port: 0 });
      const server = tlsServer(listener);
      const t = await connectTls('127.0.0.1', listener.address().port, { ring, ca: TEST_CERT, servername: 'localhost' });
      assert.equal(t.authorized, true);
      assert.equal(t.getPeerCertificate().subject?.CN, 'localhost');
      const { socket, secure } = await server;
      const request = line(secure);
      t.write('hello over tls\n');
      assert.equal(await request, 'hello over tls\n');
      const reply = line(t);
      secure.write('echo: hello over tls\n');
      assert.equal(await reply, 'echo: hello over tls\n');
      const clientClosed = new Promise((resolve) => t.once('close', resolve));
      const serverClosed = new Promise((resolve) => secure.once('close', resolve));
      t.end();
      secure.end();
      await Promise.all([clientClosed, serverClosed]);
      await socket.close();
      await listener.close();
    });

    test('TLS: a certificate the client does not trust fails the handshake', async () => {
      const listener = TcpListener.bind({ ring, host: '127.0.0.1', port: 0 });
      const server = tlsServer(listener);
      const o = await outcome(connectTls('127.0.0.1', listener.address().port, { ring, servername: 'localhost' }));
      assert.ok(!o.ok);
      assert.equal(o.error.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
      const { socket, secure } = await server;
      secure.on('error', () => {});
      secure.destroy();
      await socket.close();
      await listener.close();
    });
  });
}
