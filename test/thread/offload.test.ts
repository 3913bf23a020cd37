/**
 * offload / OffloadPool (piscina underneath): results, named exports, errors,
 * abort (queued and running), TaskGroup cancellation.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { AbortError, TaskGroup } from '../../src/index.js';
import { createOffloadPool, offload } from '../../src/thread/index.js';
import { FIXTURES, within } from './helpers.js';

const TASK = new URL('offload-task.js', FIXTURES);

async function started(flag: SharedArrayBuffer): Promise<void> {
  const f = new Int32Array(flag);
  await within((async () => {
    while (Atomics.load(f, 0) === 0) await new Promise((r) => setTimeout(r, 5));
  })(), 60_000, 'the task starting');
}

describe('offload', () => {
  const pool = createOffloadPool({ filename: TASK, maxThreads: 1 });
  after(async () => {
    await pool.destroy();
  });

  test('offload() runs the default export (or a named one) on another thread', { timeout: 60_000 }, async () => {
    assert.equal(await offload<number>({ filename: TASK, args: { n: 1000 } }), 499500);
    assert.deepEqual(await offload({ filename: TASK, name: 'where' }), { isMainThread: false });
    assert.equal(await pool.run<number>({ n: 10 }), 45);
    await assert.rejects(pool.run({ message: 'bad input' }, { name: 'fail' }), { name: 'TypeError', message: 'bad input' });
  });

  test('aborting a running task rejects with AbortError (cause = reason) and the pool keeps working',
    { timeout: 120_000 }, async () => {
      const flag = new SharedArrayBuffer(8);
      const ac = new AbortController();
      const p = pool.run({ flag, maxMs: 60_000 }, { name: 'spin', signal: ac.signal });
      await started(flag);
      const reason = new Error('no longer needed');
      ac.abort(reason);
      await assert.rejects(within(p, 30_000, 'the aborted task'), (e: Error) => {
        assert.ok(e instanceof AbortError);
        assert.equal((e as AbortError).code, 'ABORT_ERR');
        assert.equal(e.cause, reason);
        return true;
      });
      assert.equal(Atomics.load(new Int32Array(flag), 1), 0, 'the task was not released: it was terminated');
      assert.equal(await pool.run<number>({ n: 4 }), 6, 'a new thread serves the next task');
    });

  test('aborting a queued task removes it; an already-aborted signal rejects at once', { timeout: 120_000 },
    async () => {
      const flag = new SharedArrayBuffer(8);
      const running = pool.run({ flag, maxMs: 60_000 }, { name: 'spin' });
      await started(flag);
      const ac = new AbortController();
      const queued = pool.run({ n: 1 }, { signal: ac.signal });
      assert.equal(pool.queueSize, 1);
      ac.abort();
      await assert.rejects(queued, { name: 'AbortError', code: 'ABORT_ERR' });
      Atomics.store(new Int32Array(flag), 1, 1);
      assert.equal(await running, 'released');
      await assert.rejects(pool.run({ n: 1 }, { signal: AbortSignal.abort() }), AbortError);
      await assert.rejects(offload({ filename: TASK }, { signal: AbortSignal.abort() }), AbortError);
    });

  test('in a TaskGroup: cancelling the group aborts the offloaded task, counted as cancelled', { timeout: 120_000 },
    async () => {
      const flag = new SharedArrayBuffer(8);
      const group = new TaskGroup();
      const task = group.spawn((signal) => offload({ filename: TASK, name: 'spin', args: { flag, maxMs: 60_000 } }, { signal }));
      await started(flag);
      group.cancel();
      await within(group.join(), 30_000, 'join');
      assert.equal(group.cancelledTasks, 1);
      assert.equal(group.failed, 0);
      await assert.rejects(task, AbortError);
    });

  test('validation', () => {
    assert.throws(() => offload(null as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => offload({ filename: 42 as unknown as string }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => offload({ filename: TASK }, { signal: 'x' as unknown as AbortSignal }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => createOffloadPool({ maxThreads: 0 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => pool.run({}, { name: 5 as unknown as string }), { code: 'ERR_INVALID_ARG_TYPE' });
  });
});
