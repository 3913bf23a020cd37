/**
 * Ring-to-ring messages on the portable backend (BroadcastChannel per ring):
 * across worker threads, in order, with reserved-tag wake-ups left to
 * Notifier/Channel; a closed target is ERR_RING_CLOSED; and liveness: a ring
 * keeps a process alive exactly while ref'd operations are in flight.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { Ring } from '../../src/index.js';
import { describeChild } from '../helpers/child.js';
import { runWithEnv } from './util.js';

const ring = new Ring({ backend: 'portable' });
after(() => ring.close());

const LIB = new URL('../../src/index.js', import.meta.url).href;

describe('portable backend: ring messages', () => {
  test('a worker thread sends 500 messages to this ring; they arrive in order', async () => {
    const w = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.lib).then(async ({ Ring }) => {
        const r = new Ring({ backend: 'portable' });
        for (let i = 0; i < 500; i++) await r.sendMessage(workerData.target, { tag: 7, value: i });
        parentPort.postMessage({ backend: r.info.backend, handle: r.handle });
        await r.close();
      });
    `, { eval: true, workerData: { lib: LIB, target: ring.handle } });
    // Listened for before iterating: the worker may post it (and exit) while the loop below runs.
    const infoP = new Promise<{ backend: string; handle: { id: number } }>((resolve) => w.once('message', resolve));
    const exited = new Promise((r) => w.once('exit', r));
    const got: number[] = [];
    for await (const m of ring.messages()) {
      assert.equal(m.tag, 7);
      got.push(m.value);
      if (got.length === 500) break;
    }
    assert.deepEqual(got, Array.from({ length: 500 }, (_, i) => i));
    const info = await infoP;
    assert.equal(info.backend, 'portable');
    await exited;
    // The worker's ring is closed (and its thread gone): sending to it is ERR_RING_CLOSED.
    await assert.rejects(ring.sendMessage(info.handle as never, { tag: 1, value: 1 }), { code: 'ERR_RING_CLOSED' });
  });

  test('messages to this ring from itself, queued while nobody iterates', async () => {
    // Same-thread sends are delivered at once (as the kernel posts the CQE before the send's own completion).
    for (let i = 0; i < 5; i++) await ring.sendMessage(ring.handle, { tag: 1, value: -1 - i });
    assert.equal(ring.messageStats().queued, 5);
    const it = ring.messages({ batch: true });
    const first = await it.next();
    assert.deepEqual(first.value, [0, 1, 2, 3, 4].map((i) => ({ tag: 1, value: -1 - i })));
    await it.return!();
  });
});

describe('portable backend: liveness', () => {
  test('a pending sleep keeps the process alive until it settles; ref: false and unref() do not', async () => {
    const r = await runWithEnv(`
      import { Ring } from __LIB__;
      const r = new Ring({ backend: 'portable' });
      r.sleep(150, () => console.log('slept'));
      r.sleep(600_000, { ref: false }, () => console.log('never'));
      const u = new Ring({ backend: 'portable' }).unref();
      u.sleep(600_000, () => console.log('never either'));
    `, {}, 20_000);
    assert.equal(r.killed, false, describeChild(r));
    assert.equal(r.code, 0, describeChild(r));
    assert.equal(r.stdout.trim(), 'slept');
  });

  test('a waiting message consumer keeps the process alive; a message ends it', async () => {
    const r = await runWithEnv(`
      import { Ring } from __LIB__;
      import { Worker } from 'node:worker_threads';
      const r = new Ring({ backend: 'portable' });
      new Worker("import('node:worker_threads').then(({ workerData }) => import(workerData.lib).then(async ({ Ring }) => {" +
        "await new Promise((res) => setTimeout(res, 100)); const w = new Ring({ backend: 'portable' });" +
        "await w.sendMessage(workerData.h, { tag: 3, value: 42 }); await w.close(); }));",
        { eval: true, workerData: { lib: __LIB__, h: r.handle } });
      for await (const m of r.messages()) { console.log(m.tag, m.value); break; }
    `, {}, 20_000);
    assert.equal(r.killed, false, describeChild(r));
    assert.equal(r.stdout.trim(), '3 42', describeChild(r));
  });
});
