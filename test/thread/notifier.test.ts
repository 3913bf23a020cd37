/**
 * Notifier: cross-thread wake-ups over msg_ring, coalescing, liveness.
 * No assertion depends on speed: bounds (within) only catch hangs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Ring } from '../../src/index.js';
import { Notifier, NotifierClosedError, type NotifierHandle } from '../../src/thread/index.js';
import { describeChild, runModule } from '../helpers/child.js';
import { Peer, PEER, THREAD_LIB_URL, within } from './helpers.js';

/** A child process script: __THREAD__ = the thread library, __PEER__ = the peer worker. */
function child(code: string): string {
  return code.replaceAll('__THREAD__', JSON.stringify(THREAD_LIB_URL)).replaceAll('__PEER__', JSON.stringify(PEER.href));
}

describe('Notifier: liveness (separate processes)', () => {
  test('a notifier signalled from a worker wakes an idle main thread (nothing else keeps the loop alive)',
    { timeout: 60_000 }, async () => {
      const r = await runModule(child(`
        import { Worker } from 'node:worker_threads';
        import { Notifier } from __THREAD__;
        import { Ring } from __LIB__;
        const n = new Notifier();
        const w = new Worker(new URL(__PEER__), { execArgv: [] });
        w.unref(); // the worker and its port must not keep this thread alive
        w.postMessage({ cmd: 'signal', notifier: n.handle, times: 1 });
        process.on('exit', (code) => console.log('exit', code));
        await n.wait();
        console.log('woken', JSON.stringify(Ring.current().messageStats()), JSON.stringify(n.stats()));
        // not closed: the wait's hold must already be released, or this process would not end
      `), 30_000);
      assert.equal(r.killed, false, describeChild(r));
      assert.equal(r.code, 0, describeChild(r));
      const m = /woken (\S+) (\S+)/.exec(r.stdout);
      assert.ok(m, describeChild(r));
      assert.deepEqual(JSON.parse(m[1]!), { received: 1, dropped: 0, queued: 0 });
      assert.deepEqual(JSON.parse(m[2]!), { sent: 0, wakes: 1 });
    });

  test('a notifier nobody waits on, or an aborted wait, does not keep the process alive', { timeout: 60_000 },
    async () => {
      const r = await runModule(child(`
        import { Notifier } from __THREAD__;
        const n = new Notifier();
        const ac = new AbortController();
        const p = n.wait({ signal: ac.signal });
        ac.abort(new Error('stop'));
        try {
          await p;
          console.log('resolved?');
        } catch (e) {
          console.log('rejected', e.name, e.cause.message);
        }
        const idle = new Notifier();
        process.on('exit', (code) => console.log('exit', code));
      `), 30_000);
      assert.equal(r.killed, false, describeChild(r));
      assert.equal(r.code, 0, describeChild(r));
      assert.match(r.stdout, /rejected AbortError stop\nexit 0/, describeChild(r));
    });
});

describe('Notifier: cross-thread', () => {
  let peer: Peer;
  const ring = Ring.current();

  before(async () => {
    peer = new Peer();
    await peer.call({ cmd: 'hello' });
  });
  after(async () => {
    await peer.close();
  });

  test('1,000 signals before a wait send one message and give one wake', { timeout: 60_000 }, async () => {
    const n = new Notifier();
    try {
      const base = ring.messageStats().received;
      const r = await peer.call({ cmd: 'signal', notifier: n.handle, times: 1000 });
      assert.equal(r.sent, 1, 'only the first signal sends a message');
      await within(n.wait(), 30_000, 'wait');
      // Every message the peer sent was in this ring's CQ before its reply, and the
      // reap that delivered the wake drained the CQ.
      assert.equal(ring.messageStats().received - base, 1);
      assert.deepEqual(n.stats(), { sent: 0, wakes: 1 });
      assert.equal(n.pending, false);

      // After a consumed wake, the next signal sends again; signals from the
      // owner collapse into that outstanding wake-up.
      const r2 = await peer.call({ cmd: 'signal', notifier: n.handle, times: 500 });
      assert.equal(r2.sent, 1);
      assert.equal(n.signal(), false, 'absorbed by the outstanding wake-up');
      await within(n.wait(), 30_000, 'second wait');
      assert.equal(ring.messageStats().received - base, 2);
      assert.equal(n.stats().wakes, 2);
    } finally {
      n.close();
    }
  });

  test('no lost wake-up: 50,000 counted signals, the waiter always catches up', { timeout: 120_000 }, async () => {
    const n = new Notifier();
    const counter = new SharedArrayBuffer(4);
    const seen = new Int32Array(counter);
    const N = 50_000;
    try {
      const base = ring.messageStats().received;
      const done = peer.call({ cmd: 'count-and-signal', notifier: n.handle, counter, n: N, yieldEvery: 97 });
      let wakes = 0;
      await within((async () => {
        while (Atomics.load(seen, 0) < N) {
          await n.wait();
          wakes++;
        }
      })(), 60_000, 'the waiter reaching the final count');
      const r = await done;
      const messages = ring.messageStats().received - base;
      assert.ok((r.sent as number) >= 1 && (r.sent as number) <= N);
      assert.ok(messages <= (r.sent as number), `${messages} messages for ${String(r.sent)} sends`);
      assert.ok(wakes >= 1 && wakes <= messages, `${wakes} wakes, ${messages} messages`);
    } finally {
      n.close();
    }
  });

  test('signals from two threads at once still wake once per consumption', { timeout: 60_000 }, async () => {
    const other = new Peer();
    const n = new Notifier();
    try {
      await other.call({ cmd: 'hello' });
      const [a, b] = await Promise.all([
        peer.call({ cmd: 'signal', notifier: n.handle, times: 2000 }),
        other.call({ cmd: 'signal', notifier: n.handle, times: 2000 }),
      ]);
      assert.equal((a.sent as number) + (b.sent as number), 1, 'exactly one of the 4,000 signals sent a message');
      await within(n.wait(), 30_000, 'wait');
      assert.equal(n.stats().wakes, 1);
    } finally {
      n.close();
      await other.close();
    }
  });

  test('a signal to a closed notifier is ignored', { timeout: 60_000 }, async () => {
    const n = new Notifier();
    const h = n.handle;
    n.close();
    const r = await peer.call({ cmd: 'signal', notifier: h, times: 3 });
    assert.equal(r.sent, 0);
  });
});

describe('Notifier: on one thread', () => {
  test('the owner can signal itself; signals coalesce into one pending wake', async () => {
    const n = new Notifier();
    try {
      assert.equal(n.signal(), true);
      assert.equal(n.signal(), false);
      assert.equal(n.signal(), false);
      await n.wait();
      assert.equal(n.stats().wakes, 1);
      // The pending wake was consumed: a wait now needs a new signal.
      const p = n.wait();
      let settled = false;
      void p.then(() => (settled = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(settled, false);
      assert.equal(n.signal(), true);
      await p;
      assert.equal(n.stats().wakes, 2);
    } finally {
      n.close();
    }
  });

  test('one wake releases every concurrent wait', async () => {
    const n = new Notifier();
    try {
      const waits = [n.wait(), n.wait(), n.wait()];
      n.signal();
      await Promise.all(waits);
      assert.equal(n.stats().wakes, 1);
    } finally {
      n.close();
    }
  });

  test('close() rejects pending and later waits; abort rejects with AbortError', async () => {
    const n = new Notifier();
    const pending = n.wait();
    n.close();
    await assert.rejects(pending, NotifierClosedError);
    await assert.rejects(n.wait(), { code: 'ERR_NOTIFIER_CLOSED' });
    assert.equal(n.closed, true);
    assert.equal(n.signal(), false);
    n.close(); // idempotent

    const m = new Notifier();
    try {
      const ac = new AbortController();
      const w = m.wait({ signal: ac.signal });
      const reason = new Error('why');
      ac.abort(reason);
      await assert.rejects(w, (e: Error) => e.name === 'AbortError' && e.cause === reason);
      await assert.rejects(m.wait({ signal: ac.signal }), { name: 'AbortError' });
      // A signal after the abort is still delivered to the next wait.
      m.signal();
      await m.wait();
    } finally {
      m.close();
    }
  });

  test('handles: plain data, from() on the owner thread gives the owner back, validation', () => {
    const n = new Notifier();
    try {
      const h = n.handle;
      assert.equal(h.type, 'uringkit:notifier');
      assert.ok(h.state instanceof SharedArrayBuffer);
      assert.deepEqual(Object.keys(h).sort(), ['id', 'index', 'ring', 'state', 'type']);
      assert.equal(JSON.stringify(n.toJSON().ring), JSON.stringify(Ring.current().handle));
      const cloned = structuredClone(h) as NotifierHandle;
      assert.equal(Notifier.from(cloned), n);
      assert.equal(n.isOwner, true);
      // A handle with an id this ring does not own is not the owner: it can signal but not wait.
      const foreign = Notifier.from({ ...h, id: 0x7fffffff });
      assert.equal(foreign.isOwner, false);
      assert.throws(() => Notifier.from({ type: 'x' } as unknown as NotifierHandle), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => Notifier.from({ ...h, index: 1 }), { code: 'ERR_INVALID_ARG_VALUE' });
    } finally {
      n.close();
    }
  });

  test('wait() is for the owner only', async () => {
    const n = new Notifier();
    try {
      const other = Notifier.from({ ...n.handle, id: 0x7ffffffe });
      await assert.rejects(other.wait(), { code: 'ERR_NOTIFIER_NOT_OWNER' });
      assert.throws(() => other.close(), { code: 'ERR_NOTIFIER_NOT_OWNER' });
    } finally {
      n.close();
    }
  });
});

after(async () => {
  await Ring.current().close();
});
