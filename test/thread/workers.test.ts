/**
 * startWorkers: context, pinning, stats, stop/join, failures.
 * Bounds (within) only catch hangs; nothing asserts speed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { Ring } from '../../src/index.js';
import { allowedCpus, startWorkers } from '../../src/thread/index.js';
import type { Data } from './fixtures/worker-main.js';
import { ioUringSkipReason, skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { FIXTURES, within } from './helpers.js';

const MODULE = new URL('worker-main.js', FIXTURES);
const WORDS = 8;

function results(count: number): { sab: SharedArrayBuffer; word: (i: number, w: number) => number } {
  const sab = new SharedArrayBuffer(count * WORDS * 4);
  const view = new Int32Array(sab);
  return { sab, word: (i, w) => Atomics.load(view, i * WORDS + w) };
}

after(async () => {
  await Ring.current().close();
});

describe('startWorkers', () => {
  test('runs the module in each worker with its context; stop() aborts their signals; join() resolves',
    { timeout: 120_000 }, async () => {
      const ring = Ring.current();
      const count = 3;
      const r = results(count);
      const data: Data = { mode: 'report', results: r.sab };
      const w = startWorkers({ module: MODULE, count, pin: false, data });
      assert.equal(w.workers.length, count);
      assert.deepEqual(w.workers.map((x) => x.index), [0, 1, 2]);
      assert.equal(new Set(w.workers.map((x) => x.threadId)).size, count);
      assert.ok(w.workers.every((x) => x.cpu === null));
      await within(w.ready(), 60_000, 'ready');
      // Each worker sends { tag: 1, value: index } to the parent's ring.
      const it = ring.messages();
      const seen: number[] = [];
      for (let i = 0; i < count; i++) {
        const m = await within(it.next(), 60_000, 'a worker message');
        assert.equal(m.value.tag, 1);
        seen.push(m.value.value);
      }
      await it.return!();
      assert.deepEqual(seen.sort(), [0, 1, 2]);
      const stats = await within(w.stats(), 60_000, 'stats');
      assert.equal(stats.length, count);
      for (const s of stats) {
        assert.ok(s.stats !== null, `worker ${s.index} stats`);
        assert.ok(s.stats.completed >= 11, `worker ${s.index}: ${s.stats.completed} completed (10 nops + 1 send)`);
      }
      for (let i = 0; i < count; i++) {
        assert.equal(r.word(i, 0), 1);
        assert.equal(r.word(i, 3), count, 'ctx.count');
        assert.equal(r.word(i, 5), 1, 'ctx.ring is the worker\'s Ring.current()');
        assert.equal(r.word(i, 6), 10, 'a fresh ring per worker');
      }
      assert.equal(w.running, count);
      const res = await within(w.stop(), 60_000, 'stop');
      assert.deepEqual(res, { terminated: [] });
      for (let i = 0; i < count; i++) assert.equal(r.word(i, 4), 1, `worker ${i} saw its signal abort`);
      assert.equal(w.running, 0);
      await w.join(); // worker 0 rejected with the stop reason: not a failure
      assert.deepEqual(await w.stats(), w.workers.map((x) => ({ ...x, stats: null })));
    });

  test('pinning: each worker runs on exactly the CPU it reports (read from /proc/thread-self/status)',
    { skip: skipUnlessIoUring("CPU pinning needs the native addon's setAffinity (the portable backend refuses it with ENOSYS, docs/guides/portable.md)"), timeout: 120_000 }, async () => {
      const allowed = allowedCpus();
      const count = Math.max(2, os.availableParallelism());
      const r = results(count);
      const w = startWorkers({ module: MODULE, count, data: { mode: 'crash', results: r.sab } satisfies Data });
      try {
        await within(w.ready(), 60_000, 'ready');
        await within((async () => {
          while (w.workers.some((x) => r.word(x.index, 6) !== 10)) await new Promise((res) => setTimeout(res, 10));
        })(), 60_000, 'workers running');
        for (const info of w.workers) {
          assert.equal(info.cpu, allowed[info.index % allowed.length], `worker ${info.index} planned CPU`);
          assert.equal(r.word(info.index, 1), info.cpu, `worker ${info.index}: Cpus_allowed_list is exactly its CPU`);
        }
      } finally {
        await w.stop();
      }
      await w.join();

      // pin: false leaves the inherited mask alone.
      const r2 = results(1);
      const u = startWorkers({ module: MODULE, count: 1, pin: false, data: { mode: 'crash', results: r2.sab } satisfies Data });
      try {
        await within((async () => {
          while (r2.word(0, 6) !== 10) await new Promise((res) => setTimeout(res, 10));
        })(), 60_000, 'worker running');
        assert.equal(r2.word(0, 2), allowed.length);
      } finally {
        await u.stop();
      }
      await u.join();
    });

  test('a worker that throws surfaces in join(); the others are stopped', { timeout: 120_000 }, async () => {
    const r = results(3);
    const w = startWorkers({ module: MODULE, count: 3, pin: false, data: { mode: 'crash', results: r.sab, failing: [1] } satisfies Data });
    await assert.rejects(within(w.join(), 60_000, 'join'), (e: Error) => {
      assert.equal(e.message, 'boom 1');
      return true;
    });
    assert.equal(w.running, 0);
    assert.equal(r.word(0, 4), 1, 'worker 0 was stopped because worker 1 failed');
    assert.equal(r.word(2, 4), 1, 'worker 2 was stopped because worker 1 failed');
  });

  test('several failures: join() rejects with an AggregateError of all of them', { timeout: 120_000 }, async () => {
    const r = results(3);
    const w = startWorkers({
      module: MODULE, count: 3, pin: false, cancelOnError: false,
      data: { mode: 'crash', results: r.sab, failing: [0, 2] } satisfies Data,
    });
    // cancelOnError: false: worker 1 keeps running until stopped.
    await within((async () => {
      while (w.running > 1) await new Promise((res) => setTimeout(res, 10));
    })(), 60_000, 'the failing workers exiting');
    assert.equal(r.word(1, 4), 0, 'worker 1 was not stopped');
    await w.stop();
    await assert.rejects(w.join(), (e: AggregateError) => {
      assert.ok(e instanceof AggregateError);
      assert.deepEqual(e.errors.map((x: Error) => x.message).sort(), ['boom 0', 'boom 2']);
      return true;
    });
  });

  test('an uncaught exception in a worker (a timer callback) surfaces in join()', { timeout: 120_000 }, async () => {
    const r = results(2);
    const w = startWorkers({ module: MODULE, count: 2, pin: false, data: { mode: 'crash-async', results: r.sab, failing: [0] } satisfies Data });
    await assert.rejects(within(w.join(), 60_000, 'join'), { name: 'RangeError', message: 'async boom 0' });
  });

  test('a worker that exits with a non-zero code surfaces in join()', { timeout: 120_000 }, async () => {
    const r = results(2);
    const w = startWorkers({ module: MODULE, count: 2, pin: false, data: { mode: 'exit-code', results: r.sab, failing: [1] } satisfies Data });
    await assert.rejects(within(w.join(), 60_000, 'join'), { message: 'worker 1 exited with code 3', exitCode: 3 });
  });

  test('a module without a default export surfaces in join()', { timeout: 120_000 }, async () => {
    const w = startWorkers({ module: new URL('no-default.js', FIXTURES), count: 1, pin: false });
    await assert.rejects(within(w.join(), 60_000, 'join'), { name: 'TypeError', message: /no default export function/ });
  });

  test('stop({ timeoutMs }) ends every worker within a bound, terminating the ones that ignore their signal',
    { timeout: 120_000 }, async () => {
      const r = results(2);
      const stubborn = startWorkers({ module: MODULE, count: 2, pin: false, data: { mode: 'stubborn', results: r.sab } satisfies Data });
      const r2 = results(1);
      const busy = startWorkers({ module: MODULE, count: 1, pin: false, data: { mode: 'busy', results: r2.sab } satisfies Data });
      await within(Promise.all([stubborn.ready(), busy.ready()]), 60_000, 'ready');
      await within((async () => {
        while (r.word(0, 6) !== 10 || r.word(1, 6) !== 10 || r2.word(0, 6) !== 10) {
          await new Promise((res) => setTimeout(res, 10));
        }
      })(), 60_000, 'workers running');
      const [a, b] = await within(Promise.all([
        stubborn.stop({ timeoutMs: 500 }),
        busy.stop({ reason: new Error('bye'), timeoutMs: 500 }),
      ]), 10_000, 'stop with timeoutMs 500');
      assert.deepEqual(a.terminated.sort(), [0, 1]);
      assert.deepEqual(b.terminated, [0]);
      assert.equal(stubborn.running + busy.running, 0);
      await stubborn.join(); // terminated by stop(): not failures
      await busy.join();
    });

  test('the parent signal stops the workers; the options are validated', { timeout: 120_000 }, async () => {
    const ac = new AbortController();
    const r = results(2);
    const w = startWorkers({ module: MODULE, count: 2, pin: false, signal: ac.signal, data: { mode: 'crash', results: r.sab } satisfies Data });
    await within(w.ready(), 60_000, 'ready');
    ac.abort(new Error('parent says stop'));
    await within(w.join(), 60_000, 'join');
    assert.equal(w.running, 0);

    assert.throws(() => startWorkers({ module: MODULE, count: 0 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => startWorkers({ module: 42 as unknown as string }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => startWorkers({ module: MODULE, pin: 'yes' as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  test('ring.attachWq and ring.busyPollUs: every worker ring is set up attached (IORING_SETUP_ATTACH_WQ), busy polls, and runs io-wq work',
    { timeout: 120_000, skip: ioUringSkipReason() }, async () => {
      const count = 2;
      const r = results(count);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'uk-attach-'));
      try {
        const w = startWorkers({
          module: MODULE, count, pin: false, ring: { attachWq: true, busyPollUs: 25 },
          data: { mode: 'attach', results: r.sab, path: path.join(dir, 'f') } satisfies Data,
        });
        await within(w.join(), 60_000, 'join');
        for (let i = 0; i < count; i++) {
          assert.equal(r.word(i, 7), 1, `worker ${i}: ATTACH_WQ in its ring's flags`);
          assert.equal(r.word(i, 4), 1000 + i, `worker ${i}: size after write + fsync`);
          assert.equal(r.word(i, 6), 25, `worker ${i}: busyPollUs`);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

  test('ring options are validated before any worker starts', () => {
    for (const ring of [null, 1, 'x']) {
      assert.throws(() => startWorkers({ module: MODULE, count: 1, ring: ring as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    assert.throws(() => startWorkers({ module: MODULE, count: 1, ring: { attachWq: 'yes' as never } }),
      { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => startWorkers({ module: MODULE, count: 1, ring: { busyPollUs: -1 } }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => startWorkers({ module: MODULE, count: 1, ring: { busyPollUs: 1.5 } }), { code: 'ERR_OUT_OF_RANGE' });
  });

  test('ring.attachWq to a parent ring closed before the workers start: the workers fail with ERR_RING_CLOSED',
    { timeout: 120_000, skip: ioUringSkipReason() }, async () => {
      const r = results(1);
      const w = startWorkers({ module: MODULE, count: 1, pin: false, ring: { attachWq: true },
        data: { mode: 'report', results: r.sab } satisfies Data });
      // The handle was taken synchronously; the worker creates its ring later.
      await Ring.current().close();
      await assert.rejects(within(w.join(), 60_000, 'join'), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_RING_CLOSED', String(e));
        assert.match(e.message, /ATTACH_WQ/);
        return true;
      });
      assert.equal(r.word(0, 0), 0, 'the module never ran');
    });
});
