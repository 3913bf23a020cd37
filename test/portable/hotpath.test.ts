/**
 * The portable backend's hot paths: provided-buffer bookkeeping (take /
 * recycle), and sends completing as send(2) on a non-blocking socket does
 * (what the kernel took now, a short count when it took part; without room,
 * later): many sends in flight at once each settle once, in order, with the
 * count the kernel took, and the peer receives exactly those bytes; sends
 * still waiting when the peer resets the connection all settle (none hangs,
 * none twice).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { describe, test } from 'node:test';

import { Socket } from '../../src/index.js';
import { BufRing } from '../../src/backend/portable/engine.js';
import { deadline } from '../helpers/net-util.js';
import { portableRing } from './util.js';

const SOON = 20_000;
const { ring } = portableRing();

/** A node:net server whose connections start paused; resolves with the server and its first connection. */
async function pausedPeer(): Promise<{ srv: net.Server; port: number; conn: Promise<net.Socket> }> {
  let take!: (s: net.Socket) => void;
  const conn = new Promise<net.Socket>((r) => (take = r));
  const srv = net.createServer({ pauseOnConnect: true }, (s) => take(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, port: (srv.address() as net.AddressInfo).port, conn };
}

describe('portable backend: provided-buffer ring bookkeeping', () => {
  test('take hands out each id once; recycle ignores ids that are free or out of range', () => {
    const br = new BufRing(new Uint8Array(4 * 8), 8, 4);
    const ids = [br.take(), br.take(), br.take(), br.take()];
    assert.deepEqual([...ids].sort(), [0, 1, 2, 3]);
    assert.equal(br.take(), undefined, 'all four taken');
    br.recycle(2);
    br.recycle(2); // already free: not listed twice
    br.recycle(-1);
    br.recycle(4);
    br.recycle(1.5);
    assert.equal(br.take(), 2);
    assert.equal(br.take(), undefined, 'the duplicate and out-of-range recycles added nothing');
    br.recycle(0);
    br.recycle(3);
    assert.deepEqual([br.take(), br.take(), br.take()].sort(), [0, 3, undefined].sort());
    assert.equal(br.view(3).byteLength, 8);
    assert.equal(br.view(3).byteOffset, 24);
  });
});

describe('portable backend: sends in flight', () => {
  test('32 sends queued behind a paused peer each settle once with what the kernel took; the peer gets exactly those bytes, in order', async () => {
    const { srv, port, conn } = await pausedPeer();
    const c = await Socket.connect(`127.0.0.1:${port}`, { ring });
    const peer = await deadline(conn, SOON, 'peer connection');
    // Distinct sizes, large enough that libuv queues them (the peer reads nothing yet).
    const parts = Array.from({ length: 32 }, (_, i) => Buffer.alloc(512 * 1024 + i * 1000, i + 1));
    const sends = parts.map((p) => ring.send(c.fd, p));
    const got: Buffer[] = [];
    const ended = new Promise<void>((r) => peer.on('end', r));
    peer.on('data', (d: Buffer) => got.push(d));
    peer.resume();
    const results = await deadline(Promise.all(sends), SOON, 'sends');
    // Short counts as the kernel gives them (the buffers fill): each send took a prefix of its part.
    results.forEach((n, i) => assert.ok(n >= 1 && n <= parts[i]!.length, `send ${i}: ${n} of ${parts[i]!.length}`));
    assert.ok(results.some((n, i) => n < parts[i]!.length), 'some send was short: the kernel buffers filled');
    await c.shutdown('write');
    await deadline(ended, SOON, 'peer EOF');
    const all = Buffer.concat(got);
    const expected = Buffer.concat(parts.map((p, i) => p.subarray(0, results[i])));
    assert.equal(all.length, expected.length);
    assert.equal(createHash('sha256').update(all).digest('hex'), createHash('sha256').update(expected).digest('hex'));
    await c.close();
    peer.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });

  test('sends queued when the peer resets the connection all settle, once each', async () => {
    const { srv, port, conn } = await pausedPeer();
    const c = await Socket.connect(`127.0.0.1:${port}`, { ring });
    const peer = await deadline(conn, SOON, 'peer connection');
    const outcomes: string[] = [];
    let settled = 0;
    const sends = Array.from({ length: 16 }, (_, i) => ring.send(c.fd, Buffer.alloc(1 << 20, i)).then(
      (n) => { settled++; outcomes.push(`ok ${n}`); },
      (err: { code?: string }) => { settled++; outcomes.push(err.code ?? 'error'); }));
    // Let the first ones reach the kernel buffers, then reset from the peer's side.
    await new Promise((r) => setTimeout(r, 50));
    peer.resetAndDestroy();
    await deadline(Promise.all(sends), SOON, 'sends after the reset');
    assert.equal(settled, 16);
    assert.equal(outcomes.length, 16);
    for (const o of outcomes) {
      assert.match(o, /^(ok \d+|ECONNRESET|EPIPE)$/);
      if (o.startsWith('ok')) assert.ok(Number(o.slice(3)) >= 1 && Number(o.slice(3)) <= 1 << 20, o);
    }
    assert.ok(outcomes.some((o) => !o.startsWith('ok')), `some send saw the reset: ${outcomes.join(', ')}`);
    c.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
});
