/**
 * Datagram sockets: UDP over IPv4 and IPv6 loopback and Unix datagram
 * sockets (paths and abstract names), with sender addresses; connected
 * sockets; many datagrams; sizes; closing.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { Ring, SocketAddress, SystemError, UdpSocket } from '../../src/index.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import {
  abstractName, deadline, hasIPv6Loopback, rejectionOf, sockDir,
} from '../helpers/net-util.js';

const SOON = 10_000;

/** Closes sockets even when the test failed. */
async function closeAll(...sockets: UdpSocket[]): Promise<void> {
  await Promise.all(sockets.map((s) => s.close()));
}

/** a → b and b → a (to the address a datagram came from); checks data and sender addresses. */
async function roundTrip(a: UdpSocket, b: UdpSocket): Promise<void> {
  const aAddr = a.address();
  const bAddr = b.address();
  assert.equal(await a.send('ping', bAddr), 4);
  const d1 = await deadline(b.receive(), SOON, 'ping');
  assert.equal(d1.data.toString(), 'ping');
  assert.ok(d1.from instanceof SocketAddress);
  assert.equal(d1.from.toString(), aAddr.toString(), 'sender address of ping');
  assert.equal(d1.from.family, aAddr.family);
  assert.equal(await b.send(Buffer.from('pong'), d1.from), 4);
  const d2 = await deadline(a.receive(), SOON, 'pong');
  assert.equal(d2.data.toString(), 'pong');
  assert.equal(d2.from.toString(), bAddr.toString(), 'sender address of pong');
}

const UNIX_DGRAM_SKIP = skipUnlessIoUring('needs Unix datagram sockets (refused with EPROTONOSUPPORT on the portable backend)');

describe('round trips with addresses', () => {
  test('UDP over IPv4 loopback', async () => {
    const a = UdpSocket.bind();
    const b = UdpSocket.bind({ address: '127.0.0.1:0' });
    try {
      assert.equal(a.family, 'ipv4');
      assert.equal(a.address().address, '127.0.0.1');
      assert.ok(a.address().port > 0, 'an ephemeral port was chosen');
      await roundTrip(a, b);
      // The sender's address can also be given as a string.
      await a.send('by string', `127.0.0.1:${b.address().port}`);
      assert.equal((await deadline(b.receive(), SOON, 'by string')).data.toString(), 'by string');
    } finally {
      await closeAll(a, b);
    }
  });

  test('UDP over IPv6 loopback ([::1]:0 and family: "ipv6")', { skip: !hasIPv6Loopback() }, async () => {
    const a = UdpSocket.bind({ address: '[::1]:0' });
    const b = UdpSocket.bind({ family: 'ipv6' });
    try {
      for (const s of [a, b]) {
        assert.equal(s.family, 'ipv6');
        assert.equal(s.address().family, 'ipv6');
        assert.equal(s.address().address, '::1');
      }
      await roundTrip(a, b);
      await a.send('by string', `[::1]:${b.address().port}`);
      const d = await deadline(b.receive(), SOON, 'by string');
      assert.equal(d.from.address, '::1');
      assert.equal(d.from.port, a.address().port);
    } finally {
      await closeAll(a, b);
    }
  });

  test('Unix datagram sockets on paths', { skip: UNIX_DGRAM_SKIP }, async () => {
    const dir = sockDir();
    const a = UdpSocket.bind({ address: dir.file('a.sock') });
    const b = UdpSocket.bind({ address: `unix:${dir.file('b.sock')}` });
    try {
      assert.equal(a.family, 'unix');
      assert.equal(a.address().toString(), dir.file('a.sock'));
      assert.equal(b.address().toString(), dir.file('b.sock'));
      await roundTrip(a, b);
    } finally {
      await closeAll(a, b);
      dir.remove();
    }
  });

  test('Unix datagram sockets on abstract names', { skip: UNIX_DGRAM_SKIP }, async () => {
    const a = UdpSocket.bind({ address: abstractName('dgram-a') });
    const b = UdpSocket.bind({ address: SocketAddress.unix(abstractName('dgram-b')) });
    try {
      assert.equal(a.address().abstract, true);
      await roundTrip(a, b);
    } finally {
      await closeAll(a, b);
    }
  });
});

describe('connected datagram sockets', () => {
  test('after connect(), send() needs no address and datagrams from others are filtered out', async () => {
    const a = UdpSocket.bind();
    const b = UdpSocket.bind();
    const intruder = UdpSocket.bind();
    try {
      await a.connect(b.address());
      assert.equal(await a.send('no address'), 10);
      const d = await deadline(b.receive(), SOON, 'connected send');
      assert.equal(d.data.toString(), 'no address');
      assert.equal(d.from.toString(), a.address().toString());
      // The kernel drops datagrams to a connected socket from anyone but its peer.
      await intruder.send('intruder', a.address());
      await b.send('peer', a.address());
      const d2 = await deadline(a.receive(), SOON, 'datagram from the peer');
      assert.equal(d2.data.toString(), 'peer');
      assert.equal(d2.from.toString(), b.address().toString());
      // An explicit destination still works on a connected socket (it must be the peer's).
      await a.send('explicit', b.address());
      assert.equal((await deadline(b.receive(), SOON, 'explicit')).data.toString(), 'explicit');
    } finally {
      await closeAll(a, b, intruder);
    }
  });

  test('connect() by string, on Unix datagram sockets too', { skip: UNIX_DGRAM_SKIP }, async () => {
    const dir = sockDir();
    const a = UdpSocket.bind({ address: dir.file('a') });
    const b = UdpSocket.bind({ address: dir.file('b') });
    const x = UdpSocket.bind();
    const y = UdpSocket.bind();
    try {
      await a.connect(dir.file('b'));
      await a.send('unix connected');
      const d = await deadline(b.receive(), SOON, 'unix connected');
      assert.equal(d.data.toString(), 'unix connected');
      assert.equal(d.from.toString(), dir.file('a'));
      await x.connect(`127.0.0.1:${y.address().port}`);
      await x.send('udp connected');
      assert.equal((await deadline(y.receive(), SOON, 'udp connected')).data.toString(), 'udp connected');
    } finally {
      await closeAll(a, b, x, y);
      dir.remove();
    }
  });

  test('send() without an address on an unconnected socket is an argument error', async () => {
    const a = UdpSocket.bind();
    try {
      const e = await rejectionOf(Promise.resolve().then(() => a.send('nowhere')), 'send without address');
      assert.ok(e instanceof TypeError, String(e));
      assert.equal(e.code, 'ERR_INVALID_ARG_TYPE');
    } finally {
      await a.close();
    }
  });
});

describe('volume and sizes', () => {
  test('2,000 datagrams of varying sizes (sent 50 at a time) all arrive intact', async () => {
    const a = UdpSocket.bind({ sendBuffer: 1 << 20 });
    const b = UdpSocket.bind({ recvBuffer: 4 << 20 });
    const TOTAL = 2000;
    const payload = (i: number): Buffer => {
      const size = 8 + ((i * 7919) % 1400);
      const buf = Buffer.alloc(size, i & 0xff);
      buf.writeUInt32BE(i, 0);
      buf.writeUInt32BE(size, 4);
      return buf;
    };
    try {
      const seen = new Set<number>();
      let failed = false;
      const receiving = (async () => {
        while (seen.size < TOTAL) {
          const d = await b.receive(2048);
          const i = d.data.readUInt32BE(0);
          assert.ok(d.data.equals(payload(i)), `datagram ${i} intact (${d.data.length} bytes)`);
          assert.equal(d.from.port, a.address().port);
          assert.ok(!seen.has(i), `datagram ${i} delivered once`);
          seen.add(i);
        }
      })().catch((e: unknown) => {
        failed = true;
        throw e;
      });
      for (let i = 0; i < TOTAL; i += 50) {
        // Flow control: at most 200 datagrams ahead of the receiver, so a small rmem_max drops nothing.
        await deadline((async () => {
          while (!failed && seen.size < i - 200) await new Promise((r) => setTimeout(r, 1));
        })(), 30_000, `receiver stuck at ${seen.size} of ${i} sent`);
        if (failed) break;
        const sent = await Promise.all(Array.from({ length: 50 }, (_, k) => a.send(payload(i + k), b.address())));
        sent.forEach((n, k) => assert.equal(n, payload(i + k).length));
      }
      await deadline(receiving, 30_000, `datagrams received: ${seen.size} of ${TOTAL}`);
      assert.equal(seen.size, TOTAL);
    } finally {
      await closeAll(a, b);
    }
  });

  test('empty, maximal (65507 bytes) and truncated datagrams; EMSGSIZE beyond the maximum', async () => {
    const a = UdpSocket.bind();
    const b = UdpSocket.bind();
    try {
      assert.equal(await a.send(Buffer.alloc(0), b.address()), 0);
      const empty = await deadline(b.receive(), SOON, 'empty datagram');
      assert.equal(empty.data.length, 0);
      assert.equal(empty.from.toString(), a.address().toString());

      const big = Buffer.alloc(65507);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
      assert.equal(await a.send(big, b.address()), 65507);
      const d = await deadline(b.receive(), SOON, 'largest datagram');
      assert.ok(d.data.equals(big), 'a 65507-byte datagram arrives whole with the default maxSize');

      await a.send(Buffer.from('0123456789abcdef'), b.address());
      const t = await deadline(b.receive(10), SOON, 'truncated');
      assert.equal(t.data.toString(), '0123456789', 'receive(maxSize) keeps the first maxSize bytes');
      // The rest of a truncated datagram is discarded: the next receive gets the next datagram.
      await a.send('next', b.address());
      assert.equal((await deadline(b.receive(), SOON, 'after truncation')).data.toString(), 'next');

      const e = await rejectionOf(a.send(Buffer.alloc(65508), b.address()), 'oversize');
      assert.ok(e instanceof SystemError, String(e));
      assert.equal(e.code, 'EMSGSIZE');
      assert.equal(e.syscall, 'sendmsg');
    } finally {
      await closeAll(a, b);
    }
  });
});

describe('closing', () => {
  test('close() ends a for-await over datagrams without yielding a phantom datagram', { skip: UNIX_DGRAM_SKIP }, async () => {
    for (const address of ['127.0.0.1:0', abstractName('dgram-iter')]) {
      const a = UdpSocket.bind();
      const b = UdpSocket.bind({ address });
      const target = b.address();
      const from = a.address().toString();
      const got: { data: string; from: string }[] = [];
      const loop = (async () => {
        for await (const d of b) got.push({ data: d.data.toString(), from: d.from.toString() });
      })();
      if (target.family !== 'unix') {
        await a.send('one', target);
        await deadline((async () => {
          while (got.length === 0) await new Promise((r) => setTimeout(r, 5));
        })(), SOON, 'first datagram');
      }
      await b.close();
      await deadline(loop, SOON, `iteration after close() (${address})`);
      await a.close();
      const expected = target.family === 'unix' ? [] : [{ data: 'one', from }];
      assert.deepEqual(got, expected, `${address}: datagrams yielded (after close() nothing more may appear)`);
    }
  });

  test('a receive() pending when the socket is closed settles with an error, not a fabricated empty datagram', async () => {
    const b = UdpSocket.bind();
    const p = b.receive().then((d) => ({ resolved: { bytes: d.data.length, from: d.from.toString() } }), (e: Error) => ({ e }));
    await b.close();
    const r = await deadline(p, SOON, 'receive after close()');
    assert.ok('e' in r, `receive() resolved after close() with ${JSON.stringify(r)}`);
  });

  test('operations on a closed socket fail with EBADF; close() is idempotent', async () => {
    const a = UdpSocket.bind();
    const addr = a.address();
    await a.close();
    await a.close();
    const e = await rejectionOf(Promise.resolve().then(() => a.send('x', addr)), 'send after close');
    assert.equal(e.code, 'EBADF');
    const e2 = await rejectionOf(Promise.resolve().then(() => a.receive()), 'receive after close');
    assert.equal(e2.code, 'EBADF');
  });

  test('nothing is left in flight', async () => {
    assert.equal(Ring.current().stats().inFlight, 0);
  });
});

after(async () => {
  await Ring.current().cancelAll().catch(() => 0);
});
