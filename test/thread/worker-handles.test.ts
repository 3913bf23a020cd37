/**
 * startWorkers gives the parent each worker's ring handle (`workers.handles[i]`,
 * `workers.workers[i].ring`): the parent messages every worker's ring
 * directly and gets an answer, without a side channel. Also: the workers'
 * rings take `ring.maxIoWorkers` and `ring.entries`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Ring, startWorkers, type RingMessage } from '../../src/index.js';
import { ioUringSkipReason } from '../helpers/io-uring-probe.js';
import { deadline } from '../helpers/net-util.js';

const FIXTURE = new URL('./fixtures/ring-echo.js', import.meta.url);

describe('startWorkers: ring handles per worker', () => {
  test('the parent sends to each worker\'s ring and each answers', async () => {
    const ring = Ring.current();
    const count = 3;
    const workers = startWorkers({ module: FIXTURE, count, pin: false, ring: { maxIoWorkers: { unbounded: 4 }, entries: 8, bulkBusyPollUs: 7 } });
    try {
      const got: RingMessage[] = [];
      const it = ring.messages();
      const collect = async (n: number): Promise<void> => {
        while (got.length < n) {
          const r = await it.next();
          assert.equal(r.done, false);
          got.push(r.value);
        }
      };
      await deadline(workers.ready(), 60_000, 'workers ready');
      const handles = workers.handles;
      assert.equal(handles.length, count);
      for (let i = 0; i < count; i++) {
        const h = handles[i];
        assert.ok(h !== null, `worker ${i} has a ring handle`);
        assert.deepEqual(workers.workers[i]!.ring, h);
        assert.equal(h.pid, process.pid);
        assert.equal(h.threadId, workers.workers[i]!.threadId);
      }
      assert.equal(new Set(handles.map((h) => h!.id)).size, count, 'distinct rings');
      for (let i = 0; i < count; i++) await ring.sendMessage(handles[i]!, { tag: 7, value: i + 1 });
      await deadline(collect(4 * count), 60_000, 'answers');
      await it.return?.();
      const caps = got.filter((m) => m.tag === 1).map((m) => m.value);
      // io-wq worker caps exist only on io_uring; the portable backend reports -1 (none).
      if (ioUringSkipReason() === undefined) assert.deepEqual(caps, [4, 4, 4], 'each worker ring has maxIoWorkers.unbounded = 4');
      else assert.deepEqual(caps, [-1, -1, -1], 'no io-wq worker caps on the portable backend');
      assert.deepEqual(got.filter((m) => m.tag === 2).map((m) => m.value), [8, 8, 8], 'each worker ring has 8 SQ entries');
      assert.deepEqual(got.filter((m) => m.tag === 3).map((m) => m.value), [7, 7, 7], 'each worker ring has bulkBusyPollUs 7');
      const answers = got.filter((m) => m.tag === 7).map((m) => m.value).sort((a, b) => a - b);
      assert.deepEqual(answers, [10, 21, 32], 'worker i answered value (i + 1) * 10 + i');
    } finally {
      await workers.stop();
    }
    await workers.join();
  });

  test('startWorkers validates ring.maxIoWorkers, ring.entries and ring.bulkBusyPollUs before starting anything', () => {
    assert.throws(() => startWorkers({ module: FIXTURE, count: 1, ring: { bulkBusyPollUs: -1 } }),
      { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
    assert.throws(() => startWorkers({ module: FIXTURE, count: 1, ring: { bulkBusyPollUs: '5' as unknown as number } }),
      { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => startWorkers({ module: FIXTURE, count: 1, ring: { maxIoWorkers: { unbounded: 0 } } }),
      { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
    assert.throws(() => startWorkers({ module: FIXTURE, count: 1, ring: { maxIoWorkers: 'x' as unknown as object } }),
      { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => startWorkers({ module: FIXTURE, count: 1, ring: { entries: 0 } }),
      { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
    assert.throws(() => startWorkers({ module: FIXTURE, count: 1, ring: { entries: '8' as unknown as number } }),
      { code: 'ERR_INVALID_ARG_TYPE' });
  });
});
