/**
 * Ring-to-ring messages between threads (ring.send / ring.messages()):
 * 100,000 each way, none lost, none duplicated, in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Ring, type RingHandle } from '../../src/index.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { Peer, within } from './helpers.js';

const N = 100_000;

describe('ring-to-ring messages between threads', () => {
  let peer: Peer;
  let peerRing: RingHandle;
  const ring = Ring.current();

  before(async () => {
    peer = new Peer();
    peerRing = (await peer.call({ cmd: 'hello' })).ring as RingHandle;
  });
  after(async () => {
    await peer.close();
    await ring.close();
  });

  test(`worker -> main: ${N.toLocaleString('en')} messages, in order, none lost or duplicated`, { timeout: 180_000 },
    async () => {
      const before = ring.messageStats();
      const TAG = 7;
      const END = 8;
      let next = 0;
      let wrongTag = 0;
      let outOfOrder = 0;
      let endValue = -1;
      const consumer = (async () => {
        for await (const m of ring.messages()) {
          if (m.tag === END) {
            endValue = m.value;
            break;
          }
          if (m.tag !== TAG) wrongTag++;
          else if (m.value !== next) outOfOrder++;
          next++;
        }
      })();
      const sent = peer.call({ cmd: 'send-seq', target: ring.handle, n: N, tag: TAG, endTag: END, inFlight: 1000 });
      await within(Promise.all([consumer, sent]), 150_000, 'the transfer');
      assert.equal(next, N, 'messages received before the end marker');
      assert.equal(wrongTag, 0);
      assert.equal(outOfOrder, 0, 'each message carries the next sequence number');
      assert.equal(endValue, N);
      const after = ring.messageStats();
      assert.equal(after.received - before.received, N + 1);
      assert.equal(after.dropped - before.dropped, 0);
      assert.equal(after.queued, 0, 'nothing beyond the end marker');
      assert.equal(ring.stats().cqesDropped, 0);
    });

  test(`main -> worker: ${N.toLocaleString('en')} messages, in order, none lost or duplicated`, { timeout: 180_000 },
    async () => {
      const TAG = 9;
      const received = peer.call({ cmd: 'recv-seq', n: N, tag: TAG });
      const send = (async () => {
        let batch: Promise<void>[] = [];
        for (let i = 0; i < N; i++) {
          batch.push(ring.sendMessage(peerRing, { tag: TAG, value: i }));
          if (batch.length === 1000) {
            await Promise.all(batch);
            batch = [];
          }
        }
        await Promise.all(batch);
      })();
      const [r] = await within(Promise.all([received, send]), 150_000, 'the transfer');
      assert.deepEqual({ received: r.received, wrongTag: r.wrongTag, outOfOrder: r.outOfOrder, queued: r.queued },
        { received: N, wrongTag: 0, outOfOrder: 0, queued: 0 });
    });

  for (const busyPollUs of [0, 50]) {
    test(`worker -> main, messages({ batch: true }), busyPollUs ${busyPollUs} on both rings: ` +
      `${N.toLocaleString('en')} messages in order, no empty batch`, {
      timeout: 180_000,
      skip: busyPollUs > 0 ? skipUnlessIoUring('busyPollUs spins on the io_uring completion queue') : undefined,
    }, async () => {
      const before = ring.messageStats();
      ring.busyPollUs = busyPollUs;
      await peer.call({ cmd: 'busy-poll', us: busyPollUs });
      const TAG = 11;
      const END = 12;
      let next = 0;
      let bad = 0;
      let batches = 0;
      let empty = 0;
      let endValue = -1;
      const consumer = (async () => {
        for await (const batch of ring.messages({ batch: true })) {
          batches++;
          if (batch.length === 0) empty++;
          for (const m of batch) {
            if (m.tag === END) endValue = m.value;
            else if (m.tag !== TAG || m.value !== next++) bad++;
          }
          if (endValue >= 0) break;
        }
      })();
      try {
        const sent = peer.call({ cmd: 'send-seq', target: ring.handle, n: N, tag: TAG, endTag: END, inFlight: 500 });
        await within(Promise.all([consumer, sent]), 150_000, 'the transfer');
      } finally {
        ring.busyPollUs = 0;
        await peer.call({ cmd: 'busy-poll', us: 0 });
      }
      assert.equal(next, N);
      assert.equal(bad, 0, 'every message in order with its tag');
      assert.equal(endValue, N);
      assert.equal(empty, 0);
      assert.ok(batches >= 1 && batches <= N + 1);
      const after = ring.messageStats();
      assert.equal(after.received - before.received, N + 1);
      assert.equal(after.queued, 0);
      if (busyPollUs > 0) assert.ok(ring.busyPollStats().spins > 0, 'the main ring busy polled');
    });
  }

  test('messages({ batch: true }) takes what was queued before it; plain and batch consumers take turns', async () => {
    const self = ring.handle;
    for (let i = 0; i < 5; i++) await ring.sendMessage(self, { tag: 21, value: i });
    const plain = ring.messages();
    assert.deepEqual((await plain.next()).value, { tag: 21, value: 0 });
    await plain.return!();
    const batches = ring.messages({ batch: true });
    assert.deepEqual((await batches.next()).value, [1, 2, 3, 4].map((value) => ({ tag: 21, value })));
    // A waiting batch consumer gets the messages of one reap together.
    const waiting = batches.next();
    await Promise.all([ring.sendMessage(self, { tag: 22, value: 1 }), ring.sendMessage(self, { tag: 22, value: 2 })]);
    const got = (await waiting).value as { tag: number; value: number }[];
    assert.deepEqual(got.map((m) => m.value), [1, 2]);
    await assert.rejects(Promise.all([batches.next(), batches.next()]), /already has a pending next/);
    await batches.return!();
    assert.equal(ring.messageStats().queued, 0);
    for (const bad of [null, 1, { batch: 'yes' }]) {
      assert.throws(() => ring.messages(bad as never), { code: 'ERR_INVALID_ARG_TYPE' });
    }
  });

  test('a send to a ring that has closed rejects with ERR_RING_CLOSED', { timeout: 60_000 }, async () => {
    const other = new Ring();
    const h = other.handle;
    await other.close();
    await assert.rejects(ring.sendMessage(h, { tag: 1, value: 1 }), { code: 'ERR_RING_CLOSED' });
  });
});
