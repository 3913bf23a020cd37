/**
 * Garbage collection while operations are in flight: the ring keeps every
 * callback, promise and iterator of a live operation alive, and lets go of
 * them once the operation is released. Needs --expose-gc (scripts/test.mjs).
 */
import assert from 'node:assert/strict';
import { getEventListeners, setMaxListeners } from 'node:events';
import { describe, test } from 'node:test';

import { POLL, Ring } from '../../src/index.js';
import { makeFifo } from '../helpers/fifo.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { collectGarbage, turns, waitUntil } from '../helpers/loop.js';

const gc = (globalThis as { gc?: () => void }).gc!;

const FIFO_POLL_SKIP = skipUnlessIoUring('polls a FIFO (refused with EOPNOTSUPP on the portable backend)');

describe('gc() with operations in flight', () => {
  test('--expose-gc is on', () => {
    assert.equal(typeof gc, 'function');
  });

  test('callbacks, promises and iterators referenced only by the ring survive gc()', { timeout: 60_000, skip: FIFO_POLL_SKIP },
    async () => {
    const ring = new Ring();
    const fifo = makeFifo();
    const c = { sleepCb: 0, sleepPromise: 0, pollCb: 0, pollPromise: 0, multishot: 0, multishotDone: false, errors: 0 };
    const M = 500;
    try {
      // Nothing below is retained by the test: closures and promises live only in the ring.
      (() => {
        for (let i = 0; i < M; i++) {
          ring.sleep(1 + (i % 40), (err) => {
            if (err) c.errors++;
            else c.sleepCb++;
            if (i % 100 === 0) gc(); // collect from inside completion dispatch
          });
          void ring.sleep(1 + (i % 40)).then(() => c.sleepPromise++, () => c.errors++);
          ring.poll(fifo.fd, POLL.IN, (err, mask) => {
            if (err || ((mask ?? 0) & POLL.IN) === 0) c.errors++;
            else c.pollCb++;
          });
          void ring.poll(fifo.fd, POLL.IN).then((m) => ((m & POLL.IN) !== 0 ? c.pollPromise++ : c.errors++),
            () => c.errors++);
        }
        void (async () => {
          for await (const mask of ring.pollMultishot(fifo.fd, POLL.IN)) {
            if ((mask & POLL.IN) === 0) c.errors++;
            if (++c.multishot === 2) break;
          }
          c.multishotDone = true;
        })();
      })();
      await collectGarbage(5);
      assert.equal(c.pollCb + c.pollPromise + c.multishot, 0, 'the FIFO is not readable yet');
      assert.ok(ring.stats().inFlight > 2 * M, `inFlight ${ring.stats().inFlight}`);

      fifo.write();
      const ok1 = await waitUntil(() => {
        gc();
        return c.pollCb === M && c.pollPromise === M && c.multishot >= 1 && c.sleepCb === M && c.sleepPromise === M;
      }, 30_000);
      assert.ok(ok1, JSON.stringify(c));
      await collectGarbage(3);
      fifo.write(); // a second readiness event for the multishot poll
      assert.ok(await waitUntil(() => c.multishotDone, 30_000), JSON.stringify(c));
      await collectGarbage(3);
      assert.equal(c.errors, 0);
      assert.deepEqual({ ...c }, {
        sleepCb: M, sleepPromise: M, pollCb: M, pollPromise: M, multishot: 2, multishotDone: true, errors: 0,
      });
      assert.ok(await waitUntil(() => ring.stats().inFlight === 0, 10_000));
      const s = ring.stats();
      assert.equal(s.staleCqes, 0);
      assert.equal(s.completed, 4 * M);
      // Still consistent and usable.
      await ring.nop();
      assert.equal(await ring.poll(fifo.fd, POLL.IN), POLL.IN);
    } finally {
      await ring.close();
      fifo.close();
    }
  });

  test('a ring referenced only by its in-flight operation keeps working', { timeout: 30_000 }, async () => {
    let settled: Error | null | undefined;
    let closed = false;
    (() => {
      const r = new Ring({ entries: 8 });
      r.sleep(20, (err) => {
        settled = err;
        void r.close().then(() => (closed = true));
      });
    })();
    await collectGarbage(5);
    assert.ok(await waitUntil(() => closed, 20_000), 'the sleep settled and the ring closed');
    assert.equal(settled, null);
  });

  test('settled operations are released: no callback, promise, signal or reason stays reachable',
    { timeout: 30_000, skip: FIFO_POLL_SKIP }, async () => {
      const ring = new Ring();
      const fifo = makeFifo();
      const refs: WeakRef<object>[] = [];
      let settled = 0;
      const M = 200;
      try {
        (() => {
          for (let i = 0; i < M; i++) {
            const token = { i };
            const cb = (err: Error | null) => {
              if (!err && token.i >= 0) settled++;
            };
            const ac = new AbortController();
            refs.push(new WeakRef(cb), new WeakRef(ac.signal), new WeakRef(token));
            ring.sleep(1, { signal: ac.signal, timeout: 60_000 }, cb);

            const p = ring.nop({ timeout: 60_000 });
            refs.push(new WeakRef(p));
            void p.then(() => settled++);

            // Aborted: the reason is handed to the AbortError, which nobody keeps.
            const ac2 = new AbortController();
            const reason = { abortReason: i };
            refs.push(new WeakRef(reason), new WeakRef(ac2.signal));
            ring.poll(fifo.fd, POLL.IN, { signal: ac2.signal }, (err) => {
              if (err && err.name === 'AbortError') settled++;
            });
            setImmediate(() => ac2.abort(reason));
          }
          const it = ring.pollMultishot(fifo.fd, POLL.IN);
          refs.push(new WeakRef(it));
          void it.return();
        })();
        assert.ok(await waitUntil(() => settled === 3 * M, 20_000), `settled ${settled} of ${3 * M}`);
        assert.ok(await waitUntil(() => ring.stats().inFlight === 0, 10_000));
        await turns(2);
        let alive = refs.length;
        for (let round = 0; round < 20 && alive > 0; round++) {
          await collectGarbage(1);
          alive = refs.filter((r) => r.deref() !== undefined).length;
        }
        assert.equal(alive, 0, `${alive} of ${refs.length} objects of settled operations are still reachable`);
      } finally {
        await ring.close();
        fifo.close();
      }
    });

  test('a long-lived signal has no abort listener left once its operations settle', { timeout: 30_000 }, async () => {
    const ring = new Ring();
    try {
      const ac = new AbortController();
      setMaxListeners(0, ac.signal);
      const ps: Promise<unknown>[] = [];
      for (let i = 0; i < 50; i++) ps.push(ring.sleep(i % 3, { signal: ac.signal }));
      for (let i = 0; i < 50; i++) ps.push(ring.nop({ signal: ac.signal }));
      assert.equal(getEventListeners(ac.signal, 'abort').length, 100);
      await Promise.all(ps);
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
      // Aborting later affects nothing.
      ac.abort();
      await turns(2);
      assert.equal(ring.stats().cancelled, 0);
    } finally {
      await ring.close();
    }
  });
});
