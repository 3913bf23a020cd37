/**
 * Conformance, ring operations: the same bodies against io_uring and the
 * MockBackend (see backends.ts).
 *
 * Known differences between the backends (also in
 * docs/guides/testing-with-mock.md), none of which these bodies depend on:
 *  - time: io_uring sleeps in real time; the mock fixture runs a virtual
 *    clock with autoAdvance, so `sleep(20)` takes no real time and
 *    `fixture.now()` reads the virtual clock;
 *  - ring.info: the mock reports fd -1 and the setup flags it was asked for;
 *  - stats: the mock counts one `enter` per flush with records and one
 *    `reapBatch` per delivery; io_uring's counts depend on the kernel
 *    (deferred completions, overflow flushes);
 *  - ordering: the mock completes file operations inside the submitting
 *    flush, io_uring may complete them later (io-wq), so completion order of
 *    concurrent operations can differ;
 *  - "never ready" fds: a FIFO for io_uring, `mock.openPollable()` for the mock.
 */
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { AbortError, POLL, type Ring, TimeoutError } from '../../src/index.js';
import { backends, describeBackend, outcome, shape } from './backends.js';

for (const b of backends()) {
  describeBackend(b, 'ring operations', () => {
    let ring: Ring;
    beforeEach(() => {
      ring = b.makeRing();
    });

    test('nop: promise and callback forms', async () => {
      assert.equal(await ring.nop(), undefined);
      const [err, value] = await new Promise<[Error | null, unknown]>((resolve) => {
        ring.nop((e, v) => resolve([e, v]));
      });
      assert.equal(err, null);
      assert.equal(value, undefined);
      const s = ring.stats();
      assert.equal(s.submitted, 2);
      assert.equal(s.completed, 2);
      assert.equal(s.inFlight, 0);
    });

    test('sleep: resolves after the time has passed', async () => {
      const t0 = b.now();
      await ring.sleep(20);
      assert.ok(b.now() - t0 >= 19, `slept ${b.now() - t0} ms`);
      await ring.sleep(0);
    });

    test('timeout option: ETIMEDOUT for what does not finish in time, nothing for what does', async () => {
      const idle = b.idleFd();
      const [s, p] = await Promise.all([
        outcome(ring.sleep(60_000, { timeout: 20 })),
        outcome(ring.poll(idle.fd, POLL.IN, { timeout: 20 })),
      ]);
      assert.ok(!s.ok && s.error instanceof TimeoutError);
      assert.deepEqual(shape(s.error), { name: 'Error', code: 'ETIMEDOUT', errno: -110, syscall: 'timeout' });
      assert.match(s.error.message, /^ETIMEDOUT: operation timed out after 20 ms, timeout/);
      assert.ok(!p.ok && p.error instanceof TimeoutError);
      assert.equal(p.error.syscall, 'poll');
      await ring.nop({ timeout: 1000 });
      await ring.sleep(5, { timeout: 1000 });
      const st = ring.stats();
      assert.equal(st.timedOut, 2);
      assert.equal(st.inFlight, 0);
    });

    test('poll: resolves with the ready mask once the fd is readable', async () => {
      const idle = b.idleFd();
      const p = ring.poll(idle.fd, POLL.IN);
      await ring.nop();
      idle.makeReadable();
      assert.equal((await p) & POLL.IN, POLL.IN);
    });

    test('abort: AbortError with the reason as cause; an aborted signal submits nothing', async () => {
      const idle = b.idleFd();
      const ac = new AbortController();
      const p = outcome(ring.poll(idle.fd, POLL.IN, { signal: ac.signal }));
      await ring.nop();
      const reason = new Error('enough');
      ac.abort(reason);
      const o = await p;
      assert.ok(!o.ok && o.error instanceof AbortError);
      assert.equal(o.error.code, 'ABORT_ERR');
      assert.equal(o.error.cause, reason);
      const before = ring.stats().submitted;
      const q = await outcome(ring.sleep(10, { signal: AbortSignal.abort() }));
      assert.ok(!q.ok && q.error instanceof AbortError);
      assert.equal(ring.stats().submitted, before);
      assert.equal(ring.stats().cancelled, 1, 'the early settlement is not counted');
    });

    test('cancelAll: cancels what is in flight and counts it', async () => {
      const idle = b.idleFd();
      const ops = [
        outcome(ring.poll(idle.fd, POLL.IN)), outcome(ring.poll(idle.fd, POLL.IN)),
        outcome(ring.sleep(60_000)), outcome(ring.poll(idle.fd, POLL.IN, { timeout: 60_000 })),
      ];
      await ring.nop();
      assert.equal(await ring.cancelAll(), 4);
      for (const o of await Promise.all(ops)) {
        assert.ok(!o.ok && o.error instanceof AbortError);
        assert.match((o.error.cause as Error).message, /cancelAll/);
      }
      assert.equal(await ring.cancelAll(), 0);
      assert.equal(ring.stats().inFlight, 0);
    });

    test('close(): settles what is in flight, then refuses new operations', async () => {
      const idle = b.idleFd();
      const p = outcome(ring.poll(idle.fd, POLL.IN));
      const s = outcome(ring.sleep(60_000));
      await ring.nop();
      const closing = ring.close();
      assert.equal(ring.close(), closing, 'idempotent');
      assert.equal(ring.closed, true);
      await closing;
      for (const o of await Promise.all([p, s])) {
        assert.ok(!o.ok && o.error instanceof AbortError);
        assert.equal((o.error.cause as { code?: string }).code, 'ERR_RING_CLOSED');
      }
      const after = await outcome(ring.nop());
      assert.ok(!after.ok);
      assert.equal(after.error.code, 'ERR_RING_CLOSED');
    });

    test('closeFd: closes, then EBADF', async () => {
      const dir = b.dir();
      b.writeFile(`${dir}/f`, 'x');
      const fd = await ring.open(`${dir}/f`);
      await ring.closeFd(fd);
      const o = await outcome(ring.closeFd(2 ** 30));
      assert.ok(!o.ok);
      assert.deepEqual(shape(o.error), { name: 'Error', code: 'EBADF', errno: -9, syscall: 'close' });
    });
  });
}
