/**
 * Exactly-once settlement when aborts and deadlines race completions: every
 * operation settles once (resolve, AbortError or ETIMEDOUT: the kernel's
 * outcome wins), none twice, none missing, and the ring ends with nothing in
 * flight and consistent counters.
 */
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import { describe, test } from 'node:test';

import { AbortError, POLL, Ring, TimeoutError, type RingStats } from '../../src/index.js';
import { makeFifo } from '../helpers/fifo.js';
import { delay, nextTurn, turns, waitUntil } from '../helpers/loop.js';
import { SettleLog, type Outcome } from '../helpers/settle.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

/** Skip reason for the tests that poll a FIFO (undefined on io_uring). */
const NEEDS_FIFO_POLL = skipUnlessIoUring('polls a FIFO (the portable backend refuses poll on fds it does not own: EOPNOTSUPP, docs/guides/portable.md)');

const N = 10_000;
const BATCH = 500;

type Kind = 'nop' | 'sleep0' | 'sleep1' | 'pollReady' | 'pollNever';
const KINDS: readonly Kind[] = ['nop', 'sleep0', 'sleep1', 'pollReady', 'pollNever'];

type When = 'before' | 'sync' | 'microtask' | 'nextTick' | 'immediate' | 'timer' | 'fromCallback' | 'never';
const WHENS: readonly When[] = ['before', 'sync', 'microtask', 'nextTick', 'immediate', 'timer', 'fromCallback', 'never'];

function delta(a: RingStats, b: RingStats): Record<keyof RingStats, number> {
  const out = {} as Record<keyof RingStats, number>;
  for (const k of Object.keys(b) as (keyof RingStats)[]) out[k] = b[k] - a[k];
  return out;
}

/** Lets stray (double) settlements arrive before counting, and the ring release everything. */
async function quiesce(ring: Ring): Promise<void> {
  await turns(3);
  await delay(30);
  await turns(3);
  await waitUntil(() => ring.stats().inFlight === 0, 10_000);
}

function isAbortWithCause(e: unknown, reason: unknown): boolean {
  return e instanceof AbortError && e.name === 'AbortError' && e.code === 'ABORT_ERR' &&
    (e as Error & { cause?: unknown }).cause === reason;
}

describe('exactly-once settlement', () => {
  test(`${N} abort races: each operation settles exactly once`, { skip: NEEDS_FIFO_POLL, timeout: 120_000 }, async () => {
    const ring = new Ring();
    const fifo = makeFifo();
    const devNull = fs.openSync('/dev/null', 'r');
    const log = new SettleLog(N);
    const kinds: Kind[] = [];
    const whens: When[] = [];
    const reasons: object[] = [];
    let preAborted = 0;
    const before = ring.stats();
    try {
      for (let base = 0; base < N; base += BATCH) {
        // One synchronous run per batch: everything below is submitted by one flush.
        for (let i = base; i < base + BATCH; i++) {
          const kind = KINDS[i % KINDS.length]!;
          let when = WHENS[Math.floor(i / KINDS.length) % WHENS.length]!;
          // A never-ready poll must be aborted at some point, or it would never settle.
          if (kind === 'pollNever' && when === 'never') when = 'immediate';
          kinds[i] = kind;
          whens[i] = when;
          const reason = { reasonOf: i };
          reasons[i] = reason;
          const ac = new AbortController();
          const abort = () => ac.abort(reason);
          if (when === 'before') {
            abort();
            preAborted++;
          }
          const opts = { signal: ac.signal };
          const useCallback = (i & 1) === 0;
          log.issue(i, () => {
            const cb = log.cb(i);
            switch (kind) {
              case 'nop':
                if (useCallback) ring.nop(opts, cb);
                else log.track(i, ring.nop(opts));
                break;
              case 'sleep0':
              case 'sleep1': {
                // 0, or 0.1 .. 2 ms: around the time the asynchronous aborts arrive.
                const ms = kind === 'sleep0' ? 0 : 0.1 * (1 + (i % 20));
                if (useCallback) ring.sleep(ms, opts, cb);
                else log.track(i, ring.sleep(ms, opts));
                break;
              }
              case 'pollReady':
              case 'pollNever': {
                const fd = kind === 'pollReady' ? devNull : fifo.fd;
                if (useCallback) ring.poll(fd, POLL.IN, opts, cb);
                else log.track(i, ring.poll(fd, POLL.IN, opts));
                break;
              }
            }
          });
          switch (when) {
            case 'sync': abort(); break;
            case 'microtask': queueMicrotask(abort); break;
            case 'nextTick': process.nextTick(abort); break;
            case 'immediate': setImmediate(abort); break;
            case 'timer': setTimeout(abort, i % 3); break;
            case 'fromCallback': ring.nop(() => abort()); break;
            default: break;
          }
        }
        // Let part of the batch complete before the next one, sometimes not.
        if ((base / BATCH) % 2 === 0) await nextTurn();
      }
      await log.whenAll(60_000);
      await quiesce(ring);
      log.assertExactlyOnce();

      let resolved = 0;
      let aborted = 0;
      const bad: string[] = [];
      for (let i = 0; i < N; i++) {
        const o = log.outcomes[i] as Outcome;
        const kind = kinds[i]!;
        const when = whens[i]!;
        if (o.ok) {
          resolved++;
          if (when === 'before') bad.push(`#${i} ${kind}/${when}: resolved although the signal was aborted before issue`);
          else if (kind === 'pollNever') bad.push(`#${i} ${kind}/${when}: a never-ready poll resolved with ${String(o.value)}`);
          else if (kind === 'pollReady' && (typeof o.value !== 'number' || (o.value & POLL.IN) === 0)) {
            bad.push(`#${i} ${kind}/${when}: resolved with ${String(o.value)}, want a mask with POLLIN`);
          } else if (kind !== 'pollReady' && o.value !== undefined) {
            bad.push(`#${i} ${kind}/${when}: resolved with ${String(o.value)}, want undefined`);
          }
        } else {
          aborted++;
          if (!isAbortWithCause(o.error, reasons[i])) {
            bad.push(`#${i} ${kind}/${when}: rejected with ${String(o.error)} (cause ${
              String((o.error as { cause?: unknown }).cause)}), want AbortError with cause = signal.reason`);
          } else if (when === 'never') bad.push(`#${i} ${kind}/${when}: aborted without an abort`);
        }
      }
      assert.deepEqual(bad.slice(0, 10), []);
      assert.equal(resolved + aborted, N);
      if (process.env.UK_DEBUG) {
        const dist: Record<string, [number, number]> = {};
        for (let i = 0; i < N; i++) {
          const k = `${kinds[i]}/${whens[i]}`;
          dist[k] ??= [0, 0];
          dist[k][log.outcomes[i]!.ok ? 0 : 1]++;
        }
        console.log(dist);
      }

      const d = delta(before, ring.stats());
      assert.equal(d.inFlight, 0, 'nothing left in flight');
      // 'fromCallback' aborts each use one extra nop.
      const helperNops = whens.filter((w) => w === 'fromCallback').length;
      assert.equal(d.submitted, N - preAborted + helperNops, 'pre-aborted operations are never submitted');
      assert.equal(d.completed, resolved + helperNops, 'completed counts every resolved operation');
      assert.equal(d.failed, 0);
      assert.equal(d.timedOut, 0);
      assert.equal(d.completed + d.failed + d.timedOut + d.cancelled, d.submitted,
        'every submitted operation is counted in exactly one outcome counter');
      assert.equal(d.staleCqes, 0);
      assert.equal(d.cqesDropped, 0);
    } finally {
      await ring.close();
      fs.closeSync(devNull);
      fifo.close();
    }
  });

  test(`${N} deadline races: each operation resolves or rejects with ETIMEDOUT exactly once`, { skip: NEEDS_FIFO_POLL, timeout: 120_000 },
    async () => {
      const ring = new Ring();
      const fifo = makeFifo();
      const devNull = fs.openSync('/dev/null', 'r');
      const log = new SettleLog(N);
      const kinds: string[] = [];
      const before = ring.stats();
      const STEPS = [0, 0.25, 0.5, 1, 1.5, 2];
      try {
        for (let base = 0; base < N; base += BATCH) {
          for (let i = base; i < base + BATCH; i++) {
            const useCallback = (i & 1) === 0;
            const cb = log.cb(i);
            const pick = i % 10;
            log.issue(i, () => {
              if (pick < 4) {
                // sleep(x) against a deadline y, x ≈ y: either outcome, exactly once.
                kinds[i] = 'sleep';
                const x = STEPS[i % STEPS.length]!;
                const y = STEPS[Math.floor(i / STEPS.length) % STEPS.length]!;
                if (useCallback) ring.sleep(x, { timeout: y }, cb);
                else log.track(i, ring.sleep(x, { timeout: y }));
              } else if (pick < 6) {
                // A poll that can never be ready: must time out.
                kinds[i] = 'pollNever';
                const t = [0, 0.1, 0.5, 1, 2][i % 5]!;
                if (useCallback) ring.poll(fifo.fd, POLL.IN, { timeout: t }, cb);
                else log.track(i, ring.poll(fifo.fd, POLL.IN, { timeout: t }));
              } else if (pick < 8) {
                kinds[i] = 'pollReady';
                const t = [0, 0.01, 0.1, 1][i % 4]!;
                if (useCallback) ring.poll(devNull, POLL.IN, { timeout: t }, cb);
                else log.track(i, ring.poll(devNull, POLL.IN, { timeout: t }));
              } else {
                kinds[i] = 'nop';
                const t = [0, 0.01, 1][i % 3]!;
                if (useCallback) ring.nop({ timeout: t }, cb);
                else log.track(i, ring.nop({ timeout: t }));
              }
            });
          }
          if ((base / BATCH) % 2 === 0) await nextTurn();
        }
        await log.whenAll(60_000);
        await quiesce(ring);
        log.assertExactlyOnce();

        let resolved = 0;
        let timedOut = 0;
        const bad: string[] = [];
        for (let i = 0; i < N; i++) {
          const o = log.outcomes[i] as Outcome;
          const kind = kinds[i]!;
          if (o.ok) {
            resolved++;
            if (kind === 'pollNever') bad.push(`#${i} ${kind}: resolved`);
            else if (kind === 'pollReady' && (typeof o.value !== 'number' || (o.value & POLL.IN) === 0)) {
              bad.push(`#${i} ${kind}: resolved with ${String(o.value)}`);
            }
          } else {
            timedOut++;
            const e = o.error as TimeoutError;
            const syscall = kind === 'sleep' ? 'timeout' : kind === 'nop' ? 'nop' : 'poll';
            if (!(e instanceof TimeoutError) || e.code !== 'ETIMEDOUT' || e.errno >= 0 || e.syscall !== syscall) {
              bad.push(`#${i} ${kind}: rejected with ${String(e)} code=${e?.code} errno=${e?.errno} ` +
                `syscall=${e?.syscall}, want ETIMEDOUT (negative errno, syscall ${syscall})`);
            }
          }
        }
        assert.deepEqual(bad.slice(0, 10), []);
        const d = delta(before, ring.stats());
        assert.equal(d.inFlight, 0);
        assert.equal(d.submitted, N);
        assert.equal(d.completed, resolved);
        assert.equal(d.timedOut, timedOut);
        assert.equal(d.failed, 0);
        assert.equal(d.cancelled, 0);
        assert.equal(d.staleCqes, 0);
        assert.equal(d.cqesDropped, 0);
        // Every operation carried a linked timeout: two SQEs each.
        assert.equal(d.sqes, 2 * N);
      } finally {
        await ring.close();
        fs.closeSync(devNull);
        fifo.close();
      }
    });

  test('abort and deadline racing each other and the completion: one outcome each', { timeout: 120_000 }, async () => {
    const M = 4_000;
    const ring = new Ring({ entries: 64 });
    const log = new SettleLog(M);
    const reasons: object[] = [];
    try {
      for (let i = 0; i < M; i++) {
        const ac = new AbortController();
        const reason = { reasonOf: i };
        reasons[i] = reason;
        const opts = { signal: ac.signal, timeout: (i % 4) * 0.5 };
        log.issue(i, () => {
          if (i & 1) ring.sleep((i % 3) * 0.5, opts, log.cb(i));
          else log.track(i, ring.sleep((i % 3) * 0.5, opts));
        });
        const abort = () => ac.abort(reason);
        switch (i % 4) {
          case 0: abort(); break;
          case 1: queueMicrotask(abort); break;
          case 2: setImmediate(abort); break;
          default: setTimeout(abort, 1); break;
        }
        if (i % 1000 === 999) await nextTurn();
      }
      await log.whenAll(60_000);
      await quiesce(ring);
      log.assertExactlyOnce();
      const bad: string[] = [];
      for (let i = 0; i < M; i++) {
        const o = log.outcomes[i]!;
        if (o.ok) continue;
        const e = o.error as { code?: string };
        if (!(isAbortWithCause(o.error, reasons[i]) || (e instanceof TimeoutError && e.code === 'ETIMEDOUT'))) {
          bad.push(`#${i}: ${String(o.error)}`);
        }
      }
      assert.deepEqual(bad.slice(0, 10), []);
      assert.equal(ring.stats().inFlight, 0);
    } finally {
      await ring.close();
    }
  });

  test('one signal shared by many operations aborts all of them once', { skip: NEEDS_FIFO_POLL, timeout: 60_000 }, async () => {
    const M = 2_000;
    const ring = new Ring();
    const fifo = makeFifo();
    const log = new SettleLog(M);
    try {
      const ac = new AbortController();
      setMaxListeners(0, ac.signal);
      const reason = new Error('shared');
      for (let i = 0; i < M; i++) {
        log.issue(i, () => {
          if (i & 1) ring.poll(fifo.fd, POLL.IN, { signal: ac.signal }, log.cb(i));
          else log.track(i, ring.sleep(60_000, { signal: ac.signal }));
        });
      }
      await nextTurn();
      assert.equal(log.settled, 0, 'nothing settles before the abort');
      ac.abort(reason);
      ac.abort(new Error('second abort is a no-op'));
      await log.whenAll(30_000);
      await quiesce(ring);
      log.assertExactlyOnce();
      for (let i = 0; i < M; i++) {
        const o = log.outcomes[i]!;
        assert.ok(!o.ok && isAbortWithCause(o.error, reason), `#${i}: ${String(o.ok ? o.value : o.error)}`);
      }
      const s = ring.stats();
      assert.equal(s.inFlight, 0);
      assert.equal(s.cancelled, M);
    } finally {
      await ring.close();
      fifo.close();
    }
  });
  test('operations issued from completion callbacks (the slot table grows mid-dispatch) are all released',
    { timeout: 60_000 }, async () => {
      // A fresh ring starts with a small slot table; callbacks dispatched from one
      // batch of CQEs issue enough operations to make it grow while the rest of
      // the batch is still being dispatched.
      const ring = new Ring();
      const FIRST = 10;
      const INNER = [100, 1000, 5000];
      const total = FIRST + INNER.reduce((a, b) => a + b, 0);
      const log = new SettleLog(total);
      let next = FIRST;
      for (let i = 0; i < FIRST; i++) {
        log.issue(i, () => ring.nop((err) => {
          log.cb(i)(err);
          const n = INNER[i];
          if (n === undefined) return;
          for (let k = 0; k < n; k++) {
            const j = next++;
            log.issue(j, () => (k & 1 ? ring.nop(log.cb(j)) : ring.sleep(0, log.cb(j))));
          }
        }));
      }
      await log.whenAll(30_000);
      await turns(2);
      log.assertExactlyOnce();
      for (let i = 0; i < total; i++) assert.ok(log.outcomes[i]!.ok, `#${i}`);
      const released = await waitUntil(() => ring.stats().inFlight === 0, 10_000);
      if (!released) {
        // Do not close(): it would wait for the leaked slots forever (and keep this process alive).
        assert.fail(`${ring.stats().inFlight} of ${total} settled operations were never released ` +
          `(stats.inFlight stuck; close() would never resolve): ${JSON.stringify(ring.stats())}`);
      }
      assert.equal(ring.stats().completed, total);
      assert.equal(await ring.cancelAll(), 0);
      await ring.close();
    });
});
