/**
 * Operation semantics: nop, sleep, poll, pollMultishot, closeFd, cancelAll,
 * close, deadlines and abort, in the promise and the callback form.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { afterEach, beforeEach, describe, test } from 'node:test';

import { AbortError, POLL, Ring, SystemError, TimeoutError } from '../../src/index.js';
import { describeChild, runModule } from '../helpers/child.js';
import { makeFifo, type Fifo } from '../helpers/fifo.js';
import { turns, waitUntil } from '../helpers/loop.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

/** Skip reason for the tests that poll a FIFO (undefined on io_uring). */
const NEEDS_FIFO_POLL = skipUnlessIoUring('polls a FIFO (the portable backend refuses poll on fds it does not own: EOPNOTSUPP, docs/guides/portable.md)');

const E = os.constants.errno;

/** Settles a promise into a plain record (for asserting on rejections). */
function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error & Record<string, unknown> }> {
  return p.then((value) => ({ ok: true as const, value }), (error: Error & Record<string, unknown>) => ({ ok: false as const, error }));
}

/** Wraps a callback-form call: resolves with [err, value, ...] and notes a synchronous call. */
function viaCallback<A extends unknown[]>(issue: (cb: (...args: A) => void) => void): Promise<A> {
  let sync = true;
  return new Promise<A>((resolve, reject) => {
    issue((...args: A) => {
      if (sync) reject(new Error('callback invoked synchronously'));
      else resolve(args);
    });
    sync = false;
  });
}

/** Whether a promise is still pending after a few loop turns. */
async function isPending(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  await turns(3);
  return !settled;
}

describe('operations', () => {
  let ring: Ring;
  let fifo: Fifo;
  beforeEach(() => {
    ring = new Ring({ entries: 32 });
    fifo = makeFifo();
  });
  afterEach(async () => {
    await ring.close();
    fifo.close();
  });

  test('info and stats describe the ring', { skip: skipUnlessIoUring("asserts the io_uring ring's fd and setup info") }, async () => {
    const info = ring.info;
    assert.equal(info.sqEntries, 32);
    assert.equal(info.cqEntries, 128, 'cqEntries defaults to 4 × entries');
    assert.ok(Number.isInteger(info.fd) && info.fd > 2);
    assert.ok(Array.isArray(info.flags));
    assert.equal(typeof info.setupFlags, 'number');
    assert.equal(typeof info.features, 'number');
    info.flags.push('MUTATED');
    (info as { fd: number }).fd = -1;
    assert.ok(!ring.info.flags.includes('MUTATED'), 'info is a copy');
    assert.notEqual(ring.info.fd, -1);
    const link = fs.readlinkSync(`/proc/self/fd/${ring.info.fd}`);
    assert.equal(link, 'anon_inode:[io_uring]');
    const s = ring.stats();
    for (const k of ['submitted', 'completed', 'failed', 'timedOut', 'cancelled', 'inFlight', 'maxInFlight', 'enters',
      'reapBatches', 'backlogged', 'cqOverflows', 'sqes', 'cqesDropped', 'staleCqes'] as const) {
      assert.equal(s[k], 0, `fresh ring: stats.${k}`);
    }
    await ring.nop();
    const s2 = ring.stats();
    assert.equal(s2.submitted, 1);
    assert.equal(s2.completed, 1);
    assert.equal(s2.sqes, 1);
    assert.equal(s2.enters, 1, 'one NOP, one enter');
  });

  test('nop: promise and callback forms; one enter for a synchronous burst', async () => {
    assert.equal(await ring.nop(), undefined);
    const [err] = await viaCallback<[Error | null]>((cb) => ring.nop(cb));
    assert.equal(err, null);
    const [err2] = await viaCallback<[Error | null]>((cb) => ring.nop({ timeout: 1000 }, cb));
    assert.equal(err2, null);
    const enters0 = ring.stats().enters;
    await Promise.all(Array.from({ length: 20 }, () => ring.nop()));
    assert.equal(ring.stats().enters - enters0, 1, 'ops issued in one synchronous run share one io_uring_enter');
  });

  test('sleep: resolves (never early), callback form, fractional ms', async () => {
    const t0 = performance.now();
    await ring.sleep(50);
    assert.ok(performance.now() - t0 >= 45, 'sleep(50) did not resolve early');
    const [err, value] = await viaCallback<[Error | null, unknown]>((cb) => ring.sleep(1, cb));
    assert.equal(err, null);
    assert.equal(value, undefined);
    assert.equal(await ring.sleep(0.5), undefined);
    assert.equal(await ring.sleep(0), undefined);
    const [err2] = await viaCallback<[Error | null]>((cb) => ring.sleep(1, { timeout: 60_000 }, cb));
    assert.equal(err2, null);
    const s = ring.stats();
    assert.equal(s.completed, 5);
    assert.equal(s.failed + s.timedOut, 0, 'a sleep ending with -ETIME is a success');
  });

  test('poll: pending until the FIFO is written, then resolves with POLLIN', { skip: NEEDS_FIFO_POLL }, async () => {
    const p = ring.poll(fifo.fd, POLL.IN);
    const cbResult = viaCallback<[Error | null, number | undefined]>((cb) => ring.poll(fifo.fd, POLL.IN, cb));
    assert.equal(await isPending(p), true, 'not readable yet');
    assert.equal(await isPending(cbResult), true);
    fifo.write('hello');
    const mask = await p;
    assert.equal(mask & POLL.IN, POLL.IN);
    const [err, mask2] = await cbResult;
    assert.equal(err, null);
    assert.equal((mask2 ?? 0) & POLL.IN, POLL.IN);
    // Still readable: an immediate second poll; writability is ready too.
    assert.equal((await ring.poll(fifo.fd, POLL.IN | POLL.OUT)) & (POLL.IN | POLL.OUT), POLL.IN | POLL.OUT);
    fifo.drain();
    assert.equal(await isPending(ring.poll(fifo.fd, POLL.IN, { timeout: 60_000 })), true, 'drained: not readable');
    assert.equal(await ring.cancelAll(), 1);
  });

  test('poll on a closed fd rejects with SystemError EBADF', async () => {
    const fd = fs.openSync('/dev/null', 'r');
    fs.closeSync(fd);
    const r = await outcome(ring.poll(fd, POLL.IN));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.ok(r.error instanceof SystemError);
      assert.equal(r.error.code, 'EBADF');
      assert.equal(r.error.errno, -E.EBADF);
      assert.equal(r.error.syscall, 'poll');
    }
    assert.equal(ring.stats().failed, 1);
  });

  test('pollMultishot: yields several events; break cancels; nothing left in flight', { skip: NEEDS_FIFO_POLL }, async () => {
    const it = ring.pollMultishot(fifo.fd, POLL.IN);
    const masks: number[] = [];
    const consumer = (async () => {
      for await (const mask of it) {
        masks.push(mask);
        if (masks.length === 3) break;
      }
    })();
    for (let i = 0; i < 3; i++) {
      const n = masks.length;
      await turns(2);
      fifo.write();
      assert.ok(await waitUntil(() => masks.length > n, 10_000), `event ${i + 1} not delivered`);
    }
    await consumer;
    assert.deepEqual(masks.map((m) => m & POLL.IN), [POLL.IN, POLL.IN, POLL.IN]);
    assert.ok(await waitUntil(() => ring.stats().inFlight === 0, 10_000), 'the multishot poll was released');
    assert.equal(ring.stats().cancelled, 1, 'break cancelled the poll in the kernel');
    assert.deepEqual(await it.next(), { value: undefined, done: true }, 'iteration stays done');
    // More writes deliver nothing.
    fifo.write();
    await turns(3);
    assert.equal(masks.length, 3);
  });

  test('pollMultishot with a callback: (null, mask, true) per event, cancel() ends it', { skip: NEEDS_FIFO_POLL }, async () => {
    const events: [Error | null, number | undefined, boolean | undefined][] = [];
    let sync = true;
    const h = ring.pollMultishot(fifo.fd, POLL.IN, undefined, (err, mask, more) => {
      assert.equal(sync, false, 'never called synchronously');
      events.push([err, mask, more]);
    });
    sync = false;
    assert.equal(typeof h.cancel, 'function');
    fifo.write();
    assert.ok(await waitUntil(() => events.length === 1, 10_000));
    await turns(2);
    fifo.write();
    assert.ok(await waitUntil(() => events.length === 2, 10_000));
    for (const [err, mask, more] of events) {
      assert.equal(err, null);
      assert.equal((mask ?? 0) & POLL.IN, POLL.IN);
      assert.equal(more, true);
    }
    h.cancel();
    h.cancel(); // idempotent
    assert.ok(await waitUntil(() => events.length === 3, 10_000));
    const [err] = events[2]!;
    assert.ok(err instanceof AbortError, `final callback: ${String(err)}`);
    await turns(3);
    assert.equal(events.length, 3, 'nothing after the final callback');
    assert.ok(await waitUntil(() => ring.stats().inFlight === 0, 10_000));
  });

  test('pollMultishot: an abort signal ends the iteration; a pre-aborted one submits nothing', { skip: NEEDS_FIFO_POLL }, async () => {
    const ac = new AbortController();
    const it = ring.pollMultishot(fifo.fd, POLL.IN, { signal: ac.signal });
    let n = 0;
    const done = (async () => {
      try {
        for await (const _ of it) n++;
        return { error: undefined };
      } catch (e) {
        return { error: e as Error };
      }
    })();
    fifo.write();
    assert.ok(await waitUntil(() => n === 1, 10_000));
    ac.abort(new Error('stop'));
    const r = await done;
    assert.equal(n, 1);
    if (r.error !== undefined) assert.ok(r.error instanceof AbortError, String(r.error));
    assert.ok(await waitUntil(() => ring.stats().inFlight === 0, 10_000));

    const submitted = ring.stats().submitted;
    const it2 = ring.pollMultishot(fifo.fd, POLL.IN, { signal: AbortSignal.abort() });
    const first = await outcome(it2.next());
    if (first.ok) assert.equal(first.value.done, true);
    else assert.ok(first.error instanceof AbortError);
    assert.equal(ring.stats().submitted, submitted, 'a pre-aborted multishot is never submitted');
  });

  test('closeFd: closes an fd; closing it again rejects with EBADF (negative errno, syscall close)', async () => {
    const fd = fs.openSync('/dev/null', 'r');
    assert.equal(await ring.closeFd(fd), undefined);
    assert.throws(() => fs.fstatSync(fd), { code: 'EBADF' });
    const r = await outcome(ring.closeFd(fd));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.ok(r.error instanceof SystemError);
      assert.ok(r.error instanceof Error);
      assert.equal(r.error.code, 'EBADF');
      assert.equal(r.error.errno, -E.EBADF);
      assert.ok((r.error.errno as number) < 0);
      assert.equal(r.error.syscall, 'close');
      assert.match(r.error.message, /^EBADF: .*, close$/);
    }
    // Callback form.
    const fd2 = fs.openSync('/dev/null', 'r');
    const [err] = await viaCallback<[Error | null]>((cb) => ring.closeFd(fd2, cb));
    assert.equal(err, null);
    assert.throws(() => fs.fstatSync(fd2), { code: 'EBADF' });
    const [err2] = await viaCallback<[Error & { code?: string } | null]>((cb) => ring.closeFd(fd2, {}, cb));
    assert.equal(err2?.code, 'EBADF');
    assert.equal(ring.stats().failed, 2);
  });

  test('timeout: an operation past its deadline rejects with ETIMEDOUT', { skip: NEEDS_FIFO_POLL }, async () => {
    const r = await outcome(ring.sleep(60_000, { timeout: 10 }));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.ok(r.error instanceof TimeoutError);
      assert.ok(r.error instanceof SystemError);
      assert.equal(r.error.code, 'ETIMEDOUT');
      assert.equal(r.error.errno, -E.ETIMEDOUT);
      assert.equal(r.error.syscall, 'timeout');
    }
    const [err] = await viaCallback<[Error & { code?: string; syscall?: string } | null]>(
      (cb) => ring.poll(fifo.fd, POLL.IN, { timeout: 5 }, cb));
    assert.equal(err?.code, 'ETIMEDOUT');
    assert.equal(err?.syscall, 'poll');
    assert.equal(ring.stats().timedOut, 2);
    // A deadline that is not reached changes nothing.
    fifo.write();
    assert.equal((await ring.poll(fifo.fd, POLL.IN, { timeout: 60_000 })) & POLL.IN, POLL.IN);
    assert.ok(await waitUntil(() => ring.stats().inFlight === 0, 10_000));
  });

  test('abort: AbortError with cause = signal.reason, both forms', { skip: NEEDS_FIFO_POLL }, async () => {
    const ac = new AbortController();
    const reason = { why: 'custom reason' };
    const p = outcome(ring.sleep(60_000, { signal: ac.signal }));
    const cbP = viaCallback<[Error | null]>((cb) => ring.poll(fifo.fd, POLL.IN, { signal: ac.signal }, cb));
    await turns(2);
    ac.abort(reason);
    const r = await p;
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.ok(r.error instanceof AbortError);
      assert.equal(r.error.name, 'AbortError');
      assert.equal(r.error.code, 'ABORT_ERR');
      assert.equal(r.error.cause, reason);
    }
    const [err] = await cbP;
    assert.ok(err instanceof AbortError);
    assert.equal(err.cause, reason);
    // The default reason (a DOMException) is passed through as well.
    const ac2 = new AbortController();
    const p2 = outcome(ring.sleep(60_000, { signal: ac2.signal }));
    ac2.abort();
    const r2 = await p2;
    assert.ok(!r2.ok && r2.error.cause === ac2.signal.reason);
    assert.equal((ac2.signal.reason as Error).name, 'AbortError');
    assert.equal(ring.stats().cancelled, 3);
  });

  test('an already-aborted signal rejects without submitting (asynchronously, both forms)', async () => {
    await ring.nop();
    const before = ring.stats();
    const reason = new Error('already');
    const signal = AbortSignal.abort(reason);
    const promises: Promise<unknown>[] = [ring.nop({ signal }), ring.sleep(1, { signal }), ring.poll(fifo.fd, POLL.IN, { signal }),
      ring.closeFd(fifo.fd, { signal })];
    const cbs = [
      viaCallback<[Error | null]>((cb) => ring.nop({ signal }, cb)),
      viaCallback<[Error | null]>((cb) => ring.sleep(1, { signal }, cb)),
      viaCallback<[Error | null]>((cb) => ring.poll(fifo.fd, POLL.IN, { signal }, cb)),
      viaCallback<[Error | null]>((cb) => ring.closeFd(fifo.fd, { signal }, cb)),
    ];
    for (const p of promises) {
      const r = await outcome(p);
      assert.ok(!r.ok && r.error instanceof AbortError && r.error.cause === reason, String(!r.ok && r.error));
    }
    for (const c of cbs) {
      const [err] = await c;
      assert.ok(err instanceof AbortError && err.cause === reason, String(err));
    }
    await turns(2);
    const after = ring.stats();
    assert.equal(after.submitted, before.submitted);
    assert.equal(after.sqes, before.sqes);
    assert.equal(after.enters, before.enters);
    assert.equal(after.inFlight, 0);
    fs.fstatSync(fifo.fd); // closeFd was not performed
  });

  test('cancelAll: cancels pending operations and resolves with how many', { skip: NEEDS_FIFO_POLL }, async () => {
    assert.equal(await ring.cancelAll(), 0, 'nothing in flight');
    const sleeps = Array.from({ length: 5 }, () => outcome(ring.sleep(600_000)));
    const poll = outcome(ring.poll(fifo.fd, POLL.IN));
    await turns(2);
    const n = await ring.cancelAll();
    assert.equal(n, 6);
    for (const r of [...(await Promise.all(sleeps)), await poll]) {
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.ok(r.error instanceof AbortError);
        assert.ok(r.error.cause instanceof Error, 'cause names cancelAll');
      }
    }
    assert.equal(ring.stats().inFlight, 0, 'cancelAll resolves once everything has settled');
    // Callback form; an operation that completes first is not counted.
    const pending = outcome(ring.sleep(600_000));
    const done = ring.nop();
    const [err, count] = await viaCallback<[Error | null, number | undefined]>((cb) => ring.cancelAll(cb));
    assert.equal(err, null);
    assert.equal(count, 1);
    assert.equal(await done, undefined);
    assert.equal((await pending).ok, false);
    // The ring still works.
    await ring.sleep(1);
  });

  test('close(): settles pending operations, then later ones reject with ERR_RING_CLOSED', { skip: NEEDS_FIFO_POLL }, async () => {
    const r = new Ring({ entries: 8 });
    const settled: string[] = [];
    const sleep = outcome(r.sleep(600_000)).then((o) => (settled.push('sleep'), o));
    const poll = outcome(r.poll(fifo.fd, POLL.IN, { timeout: 600_000 })).then((o) => (settled.push('poll'), o));
    const cbDone = viaCallback<[Error | null]>((cb) => r.sleep(600_000, cb)).then((a) => (settled.push('cb'), a));
    const it = r.pollMultishot(fifo.fd, POLL.IN);
    const iter = (async () => {
      for await (const _ of it) void _;
      settled.push('iter');
    })();
    await turns(2);
    assert.equal(r.closed, false);
    const closing = r.close();
    assert.equal(r.closed, true);
    assert.equal(r.close(), closing, 'close() is idempotent');
    await closing;
    await iter;
    await turns(1);
    assert.deepEqual(settled.sort(), ['cb', 'iter', 'poll', 'sleep'], 'everything settled by the time close() resolved');
    for (const o of [await sleep, await poll]) {
      assert.equal(o.ok, false);
      if (!o.ok) {
        assert.ok(o.error instanceof AbortError);
        assert.equal((o.error.cause as { code?: string }).code, 'ERR_RING_CLOSED');
      }
    }
    const [cbErr] = await cbDone;
    assert.ok(cbErr instanceof AbortError);
    assert.equal(r.stats().inFlight, 0);

    const submitted = r.stats().submitted;
    const late: Promise<unknown>[] = [r.nop(), r.sleep(1), r.poll(fifo.fd, POLL.IN), r.closeFd(fifo.fd)];
    for (const p of late) {
      const o = await outcome(p);
      assert.ok(!o.ok && o.error.code === 'ERR_RING_CLOSED', String(!o.ok && o.error));
    }
    const [err] = await viaCallback<[Error & { code?: string } | null]>((cb) => r.nop(cb));
    assert.equal(err?.code, 'ERR_RING_CLOSED');
    const m = await outcome(r.pollMultishot(fifo.fd, POLL.IN).next());
    assert.ok(!m.ok && m.error.code === 'ERR_RING_CLOSED', 'a multishot on a closed ring reports ERR_RING_CLOSED');
    assert.equal(await r.cancelAll(), 0);
    assert.equal(r.stats().submitted, submitted, 'nothing submitted after close()');
    fs.fstatSync(fifo.fd);
  });

  test('Ring.current() replaces a closed current ring', async () => {
    const a = Ring.current();
    assert.equal(Ring.current(), a);
    await a.nop();
    await a.close();
    const b = Ring.current();
    assert.notEqual(b, a);
    await b.nop();
    await b.close();
  });

  test('await using closes the ring at the end of the block', async () => {
    let outer: Ring;
    let pending: Promise<unknown>;
    {
      await using r = new Ring({ entries: 4 });
      outer = r;
      pending = outcome(r.sleep(600_000));
      await r.nop();
    }
    assert.equal(outer.closed, true);
    const o = (await pending) as { ok: boolean; error?: Error };
    assert.ok(!o.ok && o.error instanceof AbortError);
    assert.equal(outer.stats().inFlight, 0);
  });

  test('a throwing callback surfaces as an uncaught exception; the ring keeps working', async () => {
    const r = await runModule(`
      import { Ring } from __LIB__;
      const ring = Ring.current();
      process.on('uncaughtException', (e) => {
        console.log('uncaught', e.message);
        ring.nop((err) => console.log('after', err));
      });
      ring.nop(() => { throw new Error('boom'); });
    `, 20_000);
    assert.equal(r.code, 0, describeChild(r));
    assert.match(r.stdout, /^uncaught boom\nafter null$/m, describeChild(r));
  });
});
