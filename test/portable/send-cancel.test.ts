/**
 * A send on the portable backend that waits for room (the peer does not
 * read) can really be cancelled, as on io_uring: a deadline or an abort ends
 * it with the same error, exactly once, it sent nothing, and the connection
 * stays usable (the peer later reads exactly the bytes of the sends that
 * completed). Where the socket's fd is not exposed (Windows, forced here with
 * StreamHandle.rawFdAccess = false) libuv's queued bytes cannot be withdrawn:
 * the cancel destroys the connection instead, so nothing follows the gap.
 * A reset that arrives while unread bytes wait is reported after them
 * (ECONNRESET), never as end-of-stream. sendFile's pipe → socket step, which
 * took its bytes out of the pipe already, sends them all even when the kernel
 * takes only part at once. No handle is left open (portableRing).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, test } from 'node:test';

import { drainSendFilePipes, sendFile, Socket, TcpListener } from '../../src/index.js';
import { StreamHandle } from '../../src/backend/portable/sockets.js';
import { deadline, rejectionOf } from '../helpers/net-util.js';
import { socketBuffersSkipReason } from './socket-buffers.js';
import { portableRing, tempDir } from './util.js';

const SOON = 10_000;
const { ring } = portableRing();

async function pair(l: TcpListener): Promise<[Socket, Socket]> {
  const accepted = l.accept();
  const c = await Socket.connect(l.address(), { ring });
  return [c, await deadline(accepted, SOON, 'accept')];
}

/**
 * Sends `chunk` with raw ring sends until the kernel's buffers are full: a
 * send completes with 1 (no room: the one byte handed to libuv), so the next
 * send waits for room. Returns the bytes sent.
 */
async function fill(fd: number, chunk: Buffer): Promise<number> {
  let total = 0;
  for (let i = 0; i < 10_000; i++) {
    const n = await deadline(ring.send(fd, chunk), SOON, 'filling send');
    total += n;
    if (n === 1) return total;
  }
  throw new Error('the socket buffers never filled');
}

/** Reads from `s` until `n` bytes came (or EOF); returns them. */
async function readBytes(s: Socket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  const buf = Buffer.alloc(1 << 16);
  while (got < n) {
    const k = await deadline(s.recv(buf), SOON, 'recv');
    if (k === 0) break;
    parts.push(Buffer.from(buf.subarray(0, k)));
    got += k;
  }
  return Buffer.concat(parts);
}

describe('portable backend: cancelling a send that waits for room', () => {
  test('a deadline and an abort end it (ETIMEDOUT, AbortError) once; it sent nothing; the socket still sends',
    { skip: socketBuffersSkipReason(ring) }, async () => {
    // Fixed buffer sizes (no autotuning): the fill below ends.
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, ring, socket: { recvBuffer: 65536 } });
    const accepted = l.accept();
    const c = await Socket.connect(l.address(), { ring, sendBuffer: 65536 });
    const s = await deadline(accepted, SOON, 'accept');
    try {
      const sent = await fill(c.fd, Buffer.alloc(1 << 20, 0x61));
      // Room can still appear after the fill on a loaded machine (the kernel moves queued bytes to the
      // peer's receive queue late): a send that completes is part of the stream (counted); the first
      // one that waits must end with the cancel's error and send nothing.
      const arrived: Buffer[] = [Buffer.alloc(sent, 0x61)];
      let settled = 0;
      const waitsThenEnds = async (byte: number, start: (b: Buffer) => Promise<number>, label: string): Promise<Error & Record<string, unknown>> => {
        for (let i = 0; i < 1000; i++) {
          const b = Buffer.alloc(4096, byte);
          const r = await deadline(start(b).then((n) => ({ n }), (e: Error & Record<string, unknown>) => ({ e })), SOON, label);
          settled++;
          if ('e' in r) return r.e;
          arrived.push(b.subarray(0, r.n));
        }
        throw new Error(`${label}: the peer's buffers never filled`);
      };
      const e = await waitsThenEnds(0x62, (b) => ring.send(c.fd, b, { timeout: 50 }), 'send with a deadline');
      assert.equal(e.code, 'ETIMEDOUT');
      const a = await waitsThenEnds(0x63, (b) => {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 20);
        return ring.send(c.fd, b, { signal: ac.signal });
      }, 'aborted send');
      assert.equal(a.name, 'AbortError');
      // The socket still sends: this one completes once the peer reads.
      const later = ring.send(c.fd, Buffer.from('END'));
      arrived.push(Buffer.from('END'));
      const expected = Buffer.concat(arrived);
      const got = await readBytes(s, expected.length);
      assert.equal(await deadline(later, SOON, 'later send'), 3);
      assert.equal(got.length, expected.length, 'exactly the completed sends arrived');
      assert.ok(got.equals(expected), 'nothing of the cancelled sends was sent, and the rest in order');
      assert.equal(settled, arrived.length - 2 + 2, 'each send settled once');
    } finally {
      await c.close();
      await s.close();
      await l.close();
    }
  });

  test('Socket.write with a timeout to a peer that never reads rejects with ETIMEDOUT; the peer gets what it reported', async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, ring });
    const [c, s] = await pair(l);
    const big = Buffer.alloc(32 << 20, 0x41);
    const e = await deadline(rejectionOf(c.write(big, { timeout: 100 }), 'write'), SOON, 'timed-out write');
    assert.equal(e.code, 'ETIMEDOUT');
    const written = e['bytesWritten'] as number;
    assert.ok(written > 0 && written < big.length, `bytesWritten ${written}`);
    await c.close();
    const got = await readBytes(s, big.length);
    assert.equal(got.length, written, 'the peer received exactly bytesWritten bytes');
    await s.close();
    await l.close();
  });
});

describe('portable backend: a runtime without the socket fd (rawFdAccess false)', () => {
  afterEach(() => {
    StreamHandle.rawFdAccess = true;
  });

  test('a send cancelled while libuv holds its bytes destroys the connection: ECONNABORTED, then EPIPE; settled once', async () => {
    StreamHandle.rawFdAccess = false;
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, ring });
    const [c, s] = await pair(l);
    assert.equal(await deadline(ring.send(c.fd, Buffer.from('hi')), SOON, 'first send'), 2);
    let settled = 0;
    const e = await deadline(rejectionOf(ring.send(c.fd, Buffer.alloc(32 << 20, 1), { timeout: 100 }).finally(() => settled++),
      'send with a deadline'), SOON, 'deadline');
    assert.equal(e.code, 'ETIMEDOUT');
    assert.equal((await rejectionOf(ring.send(c.fd, Buffer.from('x')), 'send after')).code, 'EPIPE');
    assert.equal((await rejectionOf(ring.recv(c.fd, Buffer.alloc(16)), 'recv after')).code, 'ECONNABORTED');
    // The peer sees the connection end (after what was sent, at most part of the big send).
    const got = await readBytes(s, 64 << 20);
    assert.equal(got.subarray(0, 2).toString(), 'hi');
    assert.ok(got.length < 2 + (32 << 20), `the peer got ${got.length} bytes: not the whole cancelled send`);
    assert.equal(settled, 1);
    await c.close();
    await s.close();
    await l.close();
  });
});

describe('portable backend: a reset while unread bytes wait', () => {
  test('recv returns the bytes still queued, then ECONNRESET (never end-of-stream)', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const peer = new Promise<net.Socket>((r) => srv.once('connection', r));
    const c = await Socket.connect(`127.0.0.1:${port}`, { ring });
    const p = await deadline(peer, SOON, 'peer');
    const block = Buffer.alloc(1 << 20, 9);
    // Written without waiting for the callbacks: with this side paused past its bound, the kernel's
    // buffers may not hold all 4 MiB (a callback could then never come).
    for (let i = 0; i < 4; i++) p.write(block);
    // The bytes fill this side's receive queue (it is paused past its bound); then the peer resets.
    await new Promise((r) => setTimeout(r, 50));
    p.resetAndDestroy();
    let got = 0;
    const buf = Buffer.alloc(1 << 16);
    const e = await deadline(rejectionOf((async () => {
      for (;;) {
        await new Promise((r) => setTimeout(r, 1));
        const n = await c.recv(buf);
        if (n === 0) return n;
        got += n;
      }
    })(), 'recv until the reset'), SOON, 'reset');
    assert.equal(e.code, 'ECONNRESET');
    assert.ok(got > 0 && got <= 4 * block.length, `got ${got}`);
    await c.close();
    await new Promise<void>((r) => srv.close(() => r()));
  });
});

describe('portable backend: sendFile to a peer that reads late', () => {
  test('every byte arrives, in order, though the kernel takes each piece in parts', async () => {
    const dir = tempDir();
    const data = randomBytes(24 << 20); // far beyond the socket buffers: the pipe → socket sends are short at first
    const file = dir.write('big.bin', data);
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, ring });
    const [c, s] = await pair(l);
    const fh = await ring.open(file);
    const sending = sendFile(s, fh);
    await new Promise((r) => setTimeout(r, 100)); // the peer reads nothing yet: the buffers fill
    const got = await readBytes(c, data.length);
    assert.equal(await deadline(sending, SOON, 'sendFile'), data.length);
    assert.equal(got.length, data.length);
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
    await ring.closeFd(fh);
    await Promise.all([c.close(), s.close(), l.close()]);
    drainSendFilePipes(ring);
    dir.remove();
  });
});
