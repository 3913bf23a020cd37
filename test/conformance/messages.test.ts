/**
 * Conformance, ring-to-ring messages: ring.send / ring.messages(), Notifier,
 * Channel and worker threads, on every backend fixture (backends.ts).
 *
 * On io_uring a message is an IORING_OP_MSG_RING SQE posting a CQE into the
 * target ring; the mock posts the same SLOT_MESSAGE completion into the
 * target mock ring (any MockBackend of the same thread). Known difference,
 * asserted below (DIFF_WORKER_MESSAGES): a mock ring lives in one thread, so
 * a worker (whose ring runs on the worker's own default backend) cannot reach
 * it and gets ERR_RING_CLOSED, as for a ring that is gone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Channel, Notifier, type RingMessage, startWorkers } from '../../src/index.js';
import { backends, describeBackend, DIFF_WORKER_MESSAGES, outcome } from './backends.js';
import { MESSAGE_TAG, type MessageWorkerData } from './fixtures/message-worker.js';

const WORKER_URL = new URL('./fixtures/message-worker.js', import.meta.url);

for (const b of backends()) {
  describeBackend(b, 'ring messages', () => {

    test('send / messages(): in order, with tag and value; the sender resolves once delivered', async () => {
      const a = b.makeRing();
      const target = b.makeRing();
      const N = 500;
      const sends: Promise<void>[] = [];
      for (let i = 0; i < N; i++) sends.push(a.sendMessage(target.handle, { tag: i % 7, value: i - 250 }));
      assert.deepEqual(await Promise.all(sends), new Array(N).fill(undefined));
      const got: RingMessage[] = [];
      for await (const m of target.messages()) {
        got.push(m);
        if (got.length === N) break;
      }
      assert.deepEqual(got, Array.from({ length: N }, (_, i) => ({ tag: i % 7, value: i - 250 })));
      const st = target.messageStats();
      assert.equal(st.received, N);
      assert.equal(st.dropped, 0);
      assert.equal(st.queued, 0);
    });

    test('messages({ batch: true }) yields what arrived together; a ring can message itself', async () => {
      const r = b.makeRing();
      await Promise.all([1, 2, 3].map((v) => r.sendMessage(r.handle, { tag: 1, value: v })));
      const it = r.messages({ batch: true });
      const first = await it.next();
      assert.equal(first.done, false);
      assert.deepEqual(first.value, [{ tag: 1, value: 1 }, { tag: 1, value: 2 }, { tag: 1, value: 3 }]);
      await it.return!();
    });

    test('a closed target: ERR_RING_CLOSED; bad arguments throw before anything is submitted', async () => {
      const a = b.makeRing();
      const gone = b.makeRing();
      const handle = gone.handle;
      await gone.close();
      const o = await outcome(a.sendMessage(handle, { tag: 1, value: 1 }));
      assert.ok(!o.ok);
      assert.equal(o.error.code, 'ERR_RING_CLOSED');
      const before = a.stats().submitted;
      assert.throws(() => a.sendMessage(handle, { tag: -1, value: 1 }), { code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => a.sendMessage(handle, { tag: 1, value: 2 ** 31 }), { code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => a.sendMessage({} as never, { tag: 1, value: 1 }), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.equal(a.stats().submitted, before);
    });

    test('Notifier: a wake-up sent from another ring resolves the owner\'s wait(), coalesced', async () => {
      await b.currentRing(); // the signalling side sends from Ring.current()
      const owner = b.makeRing();
      const n = new Notifier({ ring: owner });
      const remote = Notifier.from({ ...n.handle });
      assert.notEqual(remote, n, 'revived as a signaller, not the owner');
      assert.equal(remote.isOwner, false);
      const waiting = n.wait();
      assert.equal(remote.signal(), true);
      assert.equal(remote.signal(), false, 'absorbed by the wake-up already outstanding');
      await waiting;
      assert.equal(n.stats().wakes, 1);
      assert.equal(remote.stats().sent, 1);
      assert.equal(owner.messageStats().received, 1, 'the wake-up came as a ring message');
      // Consumed: the next signal sends again.
      const again = n.wait();
      assert.equal(remote.signal(), true);
      await again;
      assert.equal(owner.messageStats().received, 2);
    });

    test('Channel: bytes through a small channel, in order, with waits on both sides', async () => {
      await b.currentRing();
      const ch = new Channel({ capacity: 1024 });
      const reader = Channel.from(ch.handle);
      const data = Buffer.alloc(100_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
      const writing = (async () => {
        for (let off = 0; off < data.length; off += 3000) await ch.write(data.subarray(off, off + 3000));
        await ch.close();
      })();
      const parts: Buffer[] = [];
      for await (const chunk of reader) parts.push(chunk);
      await writing;
      assert.ok(Buffer.concat(parts).equals(data));
      await reader.close();
    });

    test(`workers: a worker's ring messages the parent ring (${DIFF_WORKER_MESSAGES} where documented)`, async () => {
      const parent = await b.currentRing();
      const results = new SharedArrayBuffer(8);
      const workers = startWorkers<MessageWorkerData>({ module: WORKER_URL, count: 2, pin: false, data: { results } });
      await workers.join();
      const outcomes = [...new Int32Array(results)];
      const difference = b.differs(DIFF_WORKER_MESSAGES);
      if (difference === undefined) {
        assert.deepEqual(outcomes, [1, 1], 'both workers delivered');
        const got: number[] = [];
        for await (const m of parent.messages()) {
          assert.equal(m.tag, MESSAGE_TAG);
          got.push(m.value);
          if (got.length === 2) break;
        }
        assert.deepEqual(got.sort(), [1, 2]);
      } else {
        // The mock: the worker's ring cannot reach a mock ring of this thread.
        assert.deepEqual(outcomes, [2, 2], 'both workers got ERR_RING_CLOSED');
        assert.equal(parent.messageStats().received, 0);
      }
    });
  });
}
