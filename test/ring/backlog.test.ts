/**
 * More operations than the SQ (or the CQ) can hold: the extra ones wait in the
 * backlog, CQEs overflowing the CQ are flushed back, and everything settles
 * exactly once with nothing lost.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';

import { AbortError, POLL, Ring, TimeoutError } from '../../src/index.js';
import { describeChild, runModule } from '../helpers/child.js';
import { makeFifo } from '../helpers/fifo.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { turns, waitUntil } from '../helpers/loop.js';
import { SettleLog } from '../helpers/settle.js';

const POLL_SKIP = skipUnlessIoUring('polls /dev/null and a FIFO (poll on an fd the backend did not open is refused with EOPNOTSUPP on the portable backend)');

describe('CQ far smaller than the operations in flight', () => {
  test('100,000 NOPs through entries 8 / cqEntries 16: all settle, none lost', { timeout: 120_000 }, async () => {
    const N = 100_000;
    const ring = new Ring({ entries: 8, cqEntries: 16 });
    try {
      assert.equal(ring.info.sqEntries, 8);
      assert.equal(ring.info.cqEntries, 16);
      const log = new SettleLog(N);
      // One synchronous run: all 100,000 are in flight (mostly backlogged) at once.
      for (let i = 0; i < N; i++) {
        log.issue(i, () => {
          if (i % 4 === 0) log.track(i, ring.nop());
          else ring.nop(log.cb(i));
        });
      }
      assert.equal(ring.stats().inFlight, N);
      await log.whenAll(60_000);
      await turns(2);
      log.assertExactlyOnce();
      for (let i = 0; i < N; i++) {
        const o = log.outcomes[i]!;
        if (!o.ok || o.value !== undefined) assert.fail(`#${i}: ${String(o.ok ? o.value : o.error)}`);
      }
      const s = ring.stats();
      assert.equal(s.submitted, N);
      assert.equal(s.completed, N);
      assert.equal(s.failed + s.timedOut + s.cancelled, 0);
      assert.equal(s.inFlight, 0);
      assert.equal(s.maxInFlight, N);
      assert.ok(s.backlogged > 0, `backlogged ${s.backlogged}`);
      assert.ok(s.backlogged >= N - 8, `backlogged ${s.backlogged}: all but one SQ's worth wait in the backlog`);
      assert.equal(s.sqes, N, 'one SQE per NOP');
      assert.equal(s.cqesDropped, 0);
      assert.equal(s.staleCqes, 0);
    } finally {
      await ring.close();
    }
  });

  test('20,000 asynchronous completions (sleeps, polls) overflow a 16-entry CQ without loss', { timeout: 120_000, skip: POLL_SKIP },
    async () => {
      const N = 20_000;
      const ring = new Ring({ entries: 8, cqEntries: 16 });
      const devNull = fs.openSync('/dev/null', 'r');
      try {
        const log = new SettleLog(N);
        for (let i = 0; i < N; i++) {
          log.issue(i, () => {
            switch (i % 4) {
              case 0: ring.sleep(0, log.cb(i)); break;
              case 1: log.track(i, ring.sleep(1)); break;
              case 2: ring.poll(devNull, POLL.IN, log.cb(i)); break;
              default: ring.sleep(0.5, { timeout: 60_000 }, log.cb(i)); break;
            }
          });
        }
        await log.whenAll(60_000);
        await waitUntil(() => ring.stats().inFlight === 0, 10_000);
        log.assertExactlyOnce();
        for (let i = 0; i < N; i++) {
          const o = log.outcomes[i]!;
          assert.ok(o.ok, `#${i} failed: ${o.ok ? '' : String(o.error)}`);
        }
        const s = ring.stats();
        assert.equal(s.completed, N);
        assert.equal(s.inFlight, 0);
        assert.equal(s.cqesDropped, 0);
        assert.equal(s.staleCqes, 0);
      } finally {
        await ring.close();
        fs.closeSync(devNull);
      }
    });
});

describe('SQ-full backlog', () => {
  for (const flush of ['microtask', 'immediate'] as const) {
    test(`entries 4, flush '${flush}': 1,000 mixed operations issued in one run all complete`, { timeout: 60_000, skip: POLL_SKIP },
      async () => {
        const N = 1_000;
        const ring = new Ring({ entries: 4, flush });
        const fifo = makeFifo();
        const devNull = fs.openSync('/dev/null', 'r');
        const toClose: number[] = [];
        for (let i = 0; i < 25; i++) toClose.push(fs.openSync('/dev/null', 'r'));
        try {
          assert.equal(ring.info.sqEntries, 4);
          const log = new SettleLog(N);
          const kinds: string[] = [];
          const reasons: unknown[] = [];
          let closeIdx = 0;
          // All issued in one synchronous run.
          for (let i = 0; i < N; i++) {
            log.issue(i, () => {
              const cb = log.cb(i);
              switch (i % 8) {
                case 0: kinds[i] = 'nop'; ring.nop(cb); break;
                case 1: kinds[i] = 'sleep'; log.track(i, ring.sleep(i % 3)); break;
                case 2: kinds[i] = 'sleepDeadline'; ring.sleep(0, { timeout: 60_000 }, cb); break;
                case 3: kinds[i] = 'pollReady'; log.track(i, ring.poll(devNull, POLL.IN)); break;
                case 4: kinds[i] = 'pollTimeout'; ring.poll(fifo.fd, POLL.IN, { timeout: 1 }, cb); break;
                case 5: {
                  kinds[i] = 'pollAborted';
                  const ac = new AbortController();
                  reasons[i] = new Error(`abort ${i}`);
                  log.track(i, ring.poll(fifo.fd, POLL.IN, { signal: ac.signal }));
                  // Aborted while still in the backlog (same synchronous run).
                  ac.abort(reasons[i]);
                  break;
                }
                case 6:
                  if (closeIdx < toClose.length) {
                    kinds[i] = 'closeFd';
                    ring.closeFd(toClose[closeIdx++]!, cb);
                  } else {
                    kinds[i] = 'nop';
                    log.track(i, ring.nop());
                  }
                  break;
                default: kinds[i] = 'nopDeadline'; ring.nop({ timeout: 60_000 }, cb); break;
              }
            });
          }
          const s0 = ring.stats();
          assert.equal(s0.inFlight, N);
          assert.ok(s0.backlogged >= N - 4, `backlogged ${s0.backlogged} right after issue`);
          await log.whenAll(60_000);
          await waitUntil(() => ring.stats().inFlight === 0, 10_000);
          log.assertExactlyOnce();
          const bad: string[] = [];
          for (let i = 0; i < N; i++) {
            const o = log.outcomes[i]!;
            const k = kinds[i]!;
            if (k === 'pollTimeout') {
              if (o.ok || !(o.error instanceof TimeoutError)) bad.push(`#${i} ${k}: ${String(o.ok ? o.value : o.error)}`);
            } else if (k === 'pollAborted') {
              if (o.ok || !(o.error instanceof AbortError) || (o.error as Error).cause !== reasons[i]) {
                bad.push(`#${i} ${k}: ${String(o.ok ? o.value : o.error)}`);
              }
            } else if (!o.ok) bad.push(`#${i} ${k}: ${String(o.error)}`);
            else if (k === 'pollReady' && ((o.value as number) & POLL.IN) === 0) bad.push(`#${i} ${k}: ${String(o.value)}`);
            else if (k !== 'pollReady' && o.value !== undefined) bad.push(`#${i} ${k}: ${String(o.value)}`);
          }
          assert.deepEqual(bad.slice(0, 10), []);
          // The fds handed to closeFd are closed.
          for (const fd of toClose) assert.throws(() => fs.fstatSync(fd), { code: 'EBADF' });
          toClose.length = 0;
          const s = ring.stats();
          assert.equal(s.inFlight, 0);
          assert.equal(s.submitted, N);
          assert.equal(s.completed + s.failed + s.timedOut + s.cancelled, N);
          assert.equal(s.failed, 0);
          assert.equal(s.cqesDropped, 0);
          assert.equal(s.staleCqes, 0);
          // And the ring keeps working afterwards.
          await ring.nop();
          await ring.sleep(1, { timeout: 60_000 });
        } finally {
          await ring.close();
          fs.closeSync(devNull);
          for (const fd of toClose) fs.closeSync(fd);
          fifo.close();
        }
      });
  }

  test('entries 2: operations with a deadline (two SQEs each) never split across enters', { timeout: 60_000 },
    async () => {
      const N = 500;
      const ring = new Ring({ entries: 2 });
      try {
        const log = new SettleLog(N);
        for (let i = 0; i < N; i++) {
          log.issue(i, () => {
            if (i & 1) ring.nop({ timeout: 60_000 }, log.cb(i));
            else log.track(i, ring.sleep(i % 2, { timeout: 60_000 }));
          });
        }
        await log.whenAll(30_000);
        await waitUntil(() => ring.stats().inFlight === 0, 10_000);
        log.assertExactlyOnce();
        for (let i = 0; i < N; i++) assert.ok(log.outcomes[i]!.ok, `#${i}`);
        assert.equal(ring.stats().sqes, 2 * N);
      } finally {
        await ring.close();
      }
    });

  test('entries 1 gets a 2-entry SQ (an operation and its linked timeout): a deadline completes', { timeout: 60_000 }, async () => {
    // Run in a child: if the two-SQE pair can never fit, the ring spins forever.
    const r = await runModule(`
      import { Ring } from __LIB__;
      const ring = new Ring({ entries: 1 });
      const watchdog = setTimeout(() => {
        console.log('HUNG', JSON.stringify(ring.stats()));
        process.exit(3);
      }, 8000);
      await ring.nop();
      await ring.nop({ timeout: 1000 });
      await ring.sleep(1, { timeout: 10000 });
      await ring.close();
      clearTimeout(watchdog);
      console.log('ok', ring.info.sqEntries);
    `, 30_000);
    assert.equal(r.killed, false, describeChild(r));
    assert.equal(r.code, 0, `new Ring({ entries: 1 }).nop({ timeout }) never settled\n${describeChild(r)}`);
    // The ring never has fewer than 2 SQ entries: a linked pair must fit in one submission.
    assert.match(r.stdout, /^ok 2\b/m);
  });
});
