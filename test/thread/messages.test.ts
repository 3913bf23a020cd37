/**
 * Ring-to-ring messages between threads (ring.send / ring.messages()):
 * 100,000 each way, none lost, none duplicated, in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Ring, type RingHandle } from '../../src/index.js';
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
          batch.push(ring.send(peerRing, { tag: TAG, value: i }));
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

  test('a send to a ring that has closed rejects with ERR_RING_CLOSED', { timeout: 60_000 }, async () => {
    const other = new Ring();
    const h = other.handle;
    await other.close();
    await assert.rejects(ring.send(h, { tag: 1, value: 1 }), { code: 'ERR_RING_CLOSED' });
  });
});
