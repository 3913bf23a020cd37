/**
 * Cancellation of file operations: an in-flight read aborted through its
 * AbortSignal or ended by its timeout, opens aborted at varied moments (no fd
 * ever leaks: an open that completed despite the abort is closed before its
 * promise rejects), and nothing left in flight afterwards.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';

import { AbortError, Ring, SystemError, TimeoutError } from '../../src/index.js';
import { FORMS, call, fdSnapshot, fdsOpenedSince, fdsPointingAt, rejection, tmpDir, type Form, type TmpDir } from '../helpers/fs-util.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { delay, nextTurn, waitUntil } from '../helpers/loop.js';

const ring = Ring.current();

let tmp: TmpDir;
let fifo: string;
before(() => {
  tmp = tmpDir('uringkit-abort-');
  fifo = tmp.file('fifo');
  execFileSync('mkfifo', [fifo]);
});
after(() => tmp.remove());

function assertAbort(e: unknown, reason: unknown, label: string): void {
  assert.ok(e instanceof AbortError, `${label}: an AbortError (${String(e)})`);
  assert.equal(e.name, 'AbortError', label);
  assert.equal(e.code, 'ABORT_ERR', label);
  assert.equal((e as Error & { cause?: unknown }).cause, reason, `${label}: cause is the signal's reason`);
}

async function quiet(): Promise<void> {
  assert.ok(await waitUntil(() => ring.stats().inFlight === 0, 10_000), `inFlight ${ring.stats().inFlight}`);
}

type When = 'sync' | 'microtask' | 'nextTick' | 'immediate' | 'timer';
const WHENS: readonly When[] = ['sync', 'microtask', 'nextTick', 'immediate', 'timer'];

function abortAt(when: When, ac: AbortController, reason: unknown): void {
  const abort = () => ac.abort(reason);
  switch (when) {
    case 'sync': abort(); break;
    case 'microtask': queueMicrotask(abort); break;
    case 'nextTick': process.nextTick(abort); break;
    case 'immediate': setImmediate(abort); break;
    case 'timer': setTimeout(abort, 5); break;
  }
}

const FIFO_SKIP = skipUnlessIoUring('needs an abortable FIFO read/open (the portable backend blocks a libuv pool thread, documented as not abortable)');

describe('aborting an in-flight read (FIFO that never has data)', { skip: FIFO_SKIP }, () => {
  let fd = -1;
  before(async () => {
    // O_RDWR: the FIFO always has a writer, so a read waits for data, never sees EOF.
    fd = await ring.open(fifo, fs.constants.O_RDWR);
  });
  after(() => {
    if (fd >= 0) fs.closeSync(fd);
  });

  for (const form of FORMS) {
    for (const when of WHENS) {
      test(`AbortSignal fired ${when === 'sync' ? 'synchronously after the call' : `from a ${when}`}: AbortError, cause = reason (${form})`, async () => {
        const ac = new AbortController();
        const reason = new Error(`reason ${form} ${when}`);
        const before = ring.stats();
        const p = call<number>(form, ring, 'read', fd, Buffer.alloc(16), { signal: ac.signal });
        abortAt(when, ac, reason);
        assertAbort(await rejection(p), reason, 'read');
        await quiet();
        assert.equal(ring.stats().cancelled - before.cancelled, 1, 'counted as cancelled');
        // The FIFO still works and the aborted read consumed nothing.
        fs.writeSync(fd, 'after');
        const buf = Buffer.alloc(16);
        assert.equal(await ring.read(fd, buf), 5);
        assert.equal(buf.subarray(0, 5).toString(), 'after');
      });
    }

    test(`abort() without a reason: cause is the signal's DOMException (${form})`, async () => {
      const ac = new AbortController();
      const p = call<number>(form, ring, 'read', fd, Buffer.alloc(16), { signal: ac.signal });
      await nextTurn();
      ac.abort();
      const e = await rejection(p);
      assertAbort(e, ac.signal.reason, 'read');
      assert.equal((ac.signal.reason as Error).name, 'AbortError');
      await quiet();
    });

    test(`an already-aborted signal: AbortError, nothing submitted (${form})`, async () => {
      const ac = new AbortController();
      const reason = { why: 'early' };
      ac.abort(reason);
      const before = ring.stats().submitted;
      const p = call<number>(form, ring, 'read', fd, Buffer.alloc(16), { signal: ac.signal });
      assert.equal(ring.stats().submitted, before, 'not submitted');
      assertAbort(await rejection(p), reason, 'read');
      assert.equal(ring.stats().submitted, before);
      await quiet();
    });

    test(`timeout: rejects with ETIMEDOUT, syscall read (${form})`, async () => {
      const before = ring.stats();
      const e = await rejection(call<number>(form, ring, 'read', fd, Buffer.alloc(16), { timeout: 20 }));
      assert.ok(e instanceof SystemError && e instanceof TimeoutError, String(e));
      assert.equal(e.code, 'ETIMEDOUT');
      assert.equal(e.errno, -os.constants.errno.ETIMEDOUT);
      assert.equal(e.syscall, 'read');
      assert.match(e.message, /^ETIMEDOUT: .*20 ms.*, read$/);
      await quiet();
      assert.equal(ring.stats().timedOut - before.timedOut, 1);
      // Nothing consumed.
      fs.writeSync(fd, 'x');
      const buf = Buffer.alloc(4);
      assert.equal(await ring.read(fd, buf, { timeout: 60_000 }), 1);
      assert.equal(buf[0], 0x78);
    });

    test(`readv and an aborted signal shared by several reads (${form})`, async () => {
      const ac = new AbortController();
      const reason = new Error('shared');
      const ps = [
        call<number>(form, ring, 'readv', fd, [Buffer.alloc(4), Buffer.alloc(4)], { signal: ac.signal }),
        call<number>(form, ring, 'read', fd, Buffer.alloc(4), { signal: ac.signal }),
        call<number>(form, ring, 'read', fd, Buffer.alloc(4), { signal: ac.signal, timeout: 60_000 }),
      ];
      await nextTurn();
      assert.ok(ring.stats().inFlight >= 3);
      ac.abort(reason);
      for (const p of ps) assertAbort(await rejection(p), reason, 'shared');
      await quiet();
    });
  }

  test('inFlight is back to 0 and the signal listeners are removed', async () => {
    await quiet();
    assert.equal(ring.stats().inFlight, 0);
    // A signal used by many completed reads keeps no listener (no MaxListeners warning, no retention).
    const ac = new AbortController();
    setMaxListeners(5, ac.signal);
    let warned = false;
    const onWarning = (w: Error) => {
      if (w.name === 'MaxListenersExceededWarning') warned = true;
    };
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 50; i++) {
        fs.writeSync(fd, 'y');
        assert.equal(await ring.read(fd, Buffer.alloc(1), { signal: ac.signal }), 1);
      }
      await delay(10);
      assert.equal(warned, false, 'listeners accumulated on the signal');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('aborted and timed-out opens leak no fd', () => {
  // O_CREAT makes the kernel run the open in its worker pool (io-wq), where
  // opening a FIFO for writing blocks until a reader appears.
  const FIFO_WRITE = fs.constants.O_WRONLY | fs.constants.O_CREAT;

  for (const form of FORMS) {
    test(`open blocked in the kernel (FIFO waiting for a reader), aborted: AbortError, no fd (${form})`, { skip: FIFO_SKIP }, async () => {
      const base = fdSnapshot();
      const ac = new AbortController();
      const reason = new Error('stop waiting');
      const p = call<number>(form, ring, 'open', fifo, FIFO_WRITE, 0o644, { signal: ac.signal });
      await delay(20); // let the worker start waiting (an abort while queued is the easy case)
      ac.abort(reason);
      const e = await rejection(p);
      assertAbort(e, reason, 'open fifo');
      await quiet();
      assert.deepEqual(fdsOpenedSince(base), []);
    });

    test(`open blocked in the kernel (FIFO waiting for a reader), timeout: ETIMEDOUT with path (${form})`, { skip: FIFO_SKIP }, async () => {
      const base = fdSnapshot();
      const p = call<number>(form, ring, 'open', fifo, FIFO_WRITE, 0o644, { timeout: 20 });
      // Safety net: if the deadline never fires, unblock the open with a reader after a
      // generous bound so that the test fails instead of hanging.
      let rescued = false;
      let reader = -1;
      const net = setTimeout(() => {
        rescued = true;
        reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      }, 5_000);
      const outcome = await p.then((fd) => {
        fs.closeSync(fd);
        return 'resolved';
      }, (err: unknown) => err);
      clearTimeout(net);
      if (reader >= 0) fs.closeSync(reader);
      assert.equal(rescued, false, 'the 20 ms deadline did not end the open: it was still waiting after 5 s');
      const e = outcome as Error & { code?: unknown; syscall?: unknown; path?: unknown };
      assert.ok(e instanceof TimeoutError, String(outcome));
      assert.equal(e.code, 'ETIMEDOUT');
      assert.equal(e.syscall, 'open');
      assert.equal(e.path, fifo);
      assert.ok(e.message.startsWith('ETIMEDOUT: ') && e.message.endsWith(`, open '${fifo}'`), e.message);
      await quiet();
      assert.deepEqual(fdsOpenedSince(base), []);
    });
  }

  test('an open that completed despite the abort is closed before its promise rejects', async () => {
    // Each open names its own file: when its AbortError arrives, no fd may point at that file.
    const N = 200;
    const files = Array.from({ length: N }, (_, i) => tmp.file(`own-${i}`));
    for (const f of files) fs.writeFileSync(f, '');
    const base = fdSnapshot();
    const before = ring.stats();
    const leaks: string[] = [];
    const outcomes = await Promise.all(files.map((f, i) => {
      const ac = new AbortController();
      const form: Form = i % 2 === 0 ? 'promise' : 'callback';
      const p = call<number>(form, ring, 'open', f, 'r', undefined, { signal: ac.signal });
      ac.abort(f); // synchronously: the open is staged, the cancel follows it in the same submission
      return p.then(
        (fd) => {
          fs.closeSync(fd);
          return 'resolved';
        },
        (e: unknown) => {
          assertAbort(e, f, f);
          const open = fdsPointingAt(f);
          if (open.length !== 0) leaks.push(`${f}: fds ${open.join(',')}`);
          return 'aborted';
        },
      );
    }));
    assert.deepEqual(leaks, [], 'fds still open when the AbortError was delivered');
    assert.deepEqual(outcomes, new Array(N).fill('aborted'), 'an abort requested before completion always wins');
    await quiet();
    assert.deepEqual(fdsOpenedSince(base), []);
    // The ring closed the fds itself (one close each, counted as submitted): the
    // path under test really ran (the opens completed before the cancel).
    const closes = ring.stats().submitted - before.submitted - N;
    assert.ok(closes >= 1, `the opens completed despite the abort ${closes} times`);
  });

  test('1,000 opens aborted at varied moments: the fd count is back to baseline exactly', async () => {
    const N = 1000;
    for (let i = 0; i < 50; i++) fs.writeFileSync(tmp.file(`w-${i}`), 'w');
    await quiet();
    const base = fdSnapshot();
    const before = ring.stats();
    const tally = new Map<string, number>();
    const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);
    const pending: Promise<void>[] = [];
    const { O_RDWR, O_CREAT, O_TRUNC, O_EXCL, O_WRONLY } = fs.constants;
    for (let i = 0; i < N; i++) {
      const when = WHENS[i % WHENS.length]!;
      // 'r' opens of existing files complete inline; O_CREAT ones run in the
      // kernel's workers (truncating existing files, or creating new ones).
      const kind = Math.floor(i / WHENS.length) % 3;
      const target = kind === 2 ? tmp.file(`new-${i}`) : tmp.file(`w-${i % 50}`);
      const flags = kind === 0 ? 'r' : kind === 1 ? O_RDWR | O_CREAT | O_TRUNC : O_WRONLY | O_CREAT | O_EXCL;
      const ac = new AbortController();
      const reason = { i };
      const form: Form = i % 2 === 0 ? 'promise' : 'callback';
      const p = call<number>(form, ring, 'open', target, flags, 0o644, { signal: ac.signal });
      abortAt(when, ac, reason);
      pending.push(p.then(
        (fd) => {
          fs.closeSync(fd);
          count(`resolved:${when}`);
          if (when === 'sync') throw new Error(`open ${i}: resolved despite a synchronous abort`);
        },
        (e: unknown) => {
          assertAbort(e, reason, `open ${i}`);
          count(`aborted:${when}`);
        },
      ));
      if (i % 100 === 99) await nextTurn();
    }
    const settled = await Promise.allSettled(pending);
    await quiet();
    assert.deepEqual(fdsOpenedSince(base), [], `fds leaked (outcomes: ${JSON.stringify([...tally])})`);
    const wrong = settled.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} opens settled wrongly`);
    const st = ring.stats();
    assert.equal(st.inFlight, 0);
    assert.equal(st.failed - before.failed, 0, 'no open failed for another reason');
    assert.equal(tally.get('aborted:sync'), N / WHENS.length);
  });
});
