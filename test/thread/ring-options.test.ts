/**
 * Ring options for threads: attachWq (IORING_SETUP_ATTACH_WQ) and busyPollUs.
 * Nothing here asserts speed; busy-poll tests check behaviour and accounting.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { Ring, type RingHandle } from '../../src/index.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { Peer, within } from './helpers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'uk-ring-options-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('RingOptions.attachWq', { skip: skipUnlessIoUring('attachWq attaches io_uring io-wq pools (IORING_SETUP_ATTACH_WQ)') }, () => {
  test('a ring attached to a live ring (Ring or handle) runs io-wq work: write, fsync, statx', async () => {
    const main = new Ring();
    try {
      for (const target of [main, main.handle]) {
        const r = new Ring({ attachWq: target });
        try {
          assert.ok(r.info.flags.includes('ATTACH_WQ'), r.info.flags.join('|'));
          assert.ok((r.info.setupFlags & 0x20) !== 0, 'IORING_SETUP_ATTACH_WQ in the setup flags');
          const file = path.join(dir, `attached-${typeof target}-${target instanceof Ring}`);
          const fd = await r.open(file, 'w');
          assert.equal(await r.write(fd, new Uint8Array(4096)), 4096);
          await r.fsync(fd);
          await r.closeFd(fd);
          assert.equal((await r.statx(file)).size, 4096);
        } finally {
          await r.close();
        }
      }
      assert.ok(!main.info.flags.includes('ATTACH_WQ'));
    } finally {
      await main.close();
    }
  });

  test('bad arguments are rejected before anything reaches the kernel', () => {
    const bad: [unknown, string][] = [
      [null, 'ERR_INVALID_ARG_TYPE'], [1, 'ERR_INVALID_ARG_TYPE'], ['ring', 'ERR_INVALID_ARG_TYPE'],
      [{}, 'ERR_INVALID_ARG_TYPE'], [{ id: '1' }, 'ERR_INVALID_ARG_TYPE'],
      [{ id: 0, pid: process.pid, threadId: 0 }, 'ERR_INVALID_ARG_VALUE'],
      [{ id: 1.5, pid: process.pid, threadId: 0 }, 'ERR_INVALID_ARG_VALUE'],
      [{ id: 2 ** 33, pid: process.pid, threadId: 0 }, 'ERR_INVALID_ARG_VALUE'],
      [{ id: 5, pid: process.pid + 1, threadId: 0 }, 'ERR_INVALID_ARG_VALUE'],
    ];
    for (const [attachWq, code] of bad) {
      assert.throws(() => new Ring({ attachWq: attachWq as RingHandle }), { code }, JSON.stringify(attachWq));
    }
  });

  test('attaching to a closed ring (by Ring or by handle) or an unknown id is ERR_RING_CLOSED', async () => {
    const t = new Ring();
    const h = t.handle;
    await t.close();
    assert.throws(() => new Ring({ attachWq: t }), { code: 'ERR_RING_CLOSED' });
    assert.throws(() => new Ring({ attachWq: h }), { code: 'ERR_RING_CLOSED', message: /ATTACH_WQ.*closed/ });
    // An id no live ring has (ids are random 32-bit; retry on the unlikely clash).
    let id = 0x7fffffff;
    while (true) {
      try {
        new Ring({ attachWq: { id, pid: process.pid, threadId: 0 } }).close();
        id--;
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'ERR_RING_CLOSED');
        break;
      }
    }
  });

  test("a worker's ring attaches to the main thread's ring by handle", { timeout: 60_000 }, async () => {
    const main = Ring.current();
    const peer = new Peer();
    try {
      const r = await within(peer.call({ cmd: 'attach-io', target: main.handle, dir }), 30_000, 'attach-io');
      assert.deepEqual(r['flags'], true);
      assert.equal(r['size'], 12345);
    } finally {
      await peer.close();
    }
  });
});

describe('RingOptions.busyPollUs', { skip: skipUnlessIoUring('busyPollUs spins on the io_uring completion queue') }, () => {
  test('validated: integer 0..1000000, option and property', async () => {
    for (const v of [-1, 1.5, 1_000_001, NaN]) {
      assert.throws(() => new Ring({ busyPollUs: v }), { code: 'ERR_OUT_OF_RANGE' }, String(v));
    }
    assert.throws(() => new Ring({ busyPollUs: '5' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' });
    const r = new Ring({ busyPollUs: 50 });
    assert.equal(r.busyPollUs, 50);
    r.busyPollUs = 0;
    assert.equal(r.busyPollUs, 0);
    assert.throws(() => (r.busyPollUs = -5), { code: 'ERR_OUT_OF_RANGE' });
    await r.close();
    assert.throws(() => (r.busyPollUs = 5), { code: 'ERR_RING_CLOSED' });
  });

  test('never spins with nothing in flight; spins while a message consumer waits and then delivers', { timeout: 60_000 },
    async () => {
      const ring = new Ring({ busyPollUs: 200 });
      try {
        // Nothing in flight: loop turns (timers) must not start a busy poll.
        for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
        assert.equal(ring.busyPollStats().spins, 0);
        // Operations complete normally with busy poll on.
        for (let i = 0; i < 50; i++) await ring.nop();
        await ring.sleep(5);
        const it = ring.messages();
        const peer = new Peer();
        try {
          const sender = peer.call({ cmd: 'send-seq', target: ring.handle, n: 2000, tag: 3, endTag: 4, inFlight: 1 });
          let expected = 0;
          for (;;) {
            const m = await it.next();
            assert.equal(m.done, false);
            if (m.value.tag === 4) break;
            assert.equal(m.value.value, expected++);
          }
          assert.equal(expected, 2000);
          await sender;
        } finally {
          await it.return!();
          await peer.close();
        }
        const s = ring.busyPollStats();
        assert.ok(s.spins > 0, 'the waiting consumer spun before sleeping');
        assert.ok(s.hits <= s.spins);
      } finally {
        await ring.close();
      }
    });

  test('a pending timer bounds the spin: timers still run while the ring busy polls', async () => {
    const ring = new Ring({ busyPollUs: 1_000_000 });
    try {
      // An operation that will not complete for 30 ms: the loop must still run
      // timers on time-ish (the spin never passes the next timer) and finish.
      const slow = ring.sleep(30);
      let ticks = 0;
      const iv = setInterval(() => ticks++, 1);
      await slow;
      clearInterval(iv);
      assert.ok(ticks > 0, 'timers ran while the ring spun');
    } finally {
      await ring.close();
    }
  });
});
