/**
 * Liveness, checked in child processes: the ring keeps the event loop alive
 * exactly while a ref'd operation is in flight. A child that should exit but
 * hangs is killed at a generous deadline (and the test fails); a child that
 * exits too early misses output it would have printed (an awaited promise
 * left pending at exit also gives exit code 13).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';

import { describeChild, runModule, type ChildResult } from '../helpers/child.js';
import { makeFifo, type Fifo } from '../helpers/fifo.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

/** Skip reason for the tests that poll a FIFO (undefined on io_uring). */
const NEEDS_FIFO_POLL = skipUnlessIoUring('polls a FIFO (the portable backend refuses poll on fds it does not own: EOPNOTSUPP, docs/guides/portable.md)');

/** How long a child that should exit may take: generous for a loaded machine. */
const EXIT_DEADLINE = 20_000;
/** Sleeps that must NOT keep a child alive are far longer than EXIT_DEADLINE. */
const LONG = 600_000;

function assertExited(r: ChildResult, stdout: RegExp): void {
  assert.equal(r.killed, false, `the child did not exit within ${EXIT_DEADLINE} ms\n${describeChild(r)}`);
  assert.equal(r.signal, null, describeChild(r));
  assert.equal(r.code, 0, describeChild(r));
  assert.match(r.stdout, stdout, describeChild(r));
}

describe('liveness', () => {
  // A fresh FIFO per test: what one child writes must not make the next one's poll ready.
  let fifo: Fifo;
  beforeEach(() => {
    fifo = makeFifo();
  });
  afterEach(() => fifo.close());

  const openFifo = () => `
    import fs from 'node:fs';
    const fifoFd = fs.openSync(${JSON.stringify(fifo.path)}, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);`;

  test('a process whose only work was `await Ring.current().nop()` exits with code 0', async () => {
    const r = await runModule(`
      import { Ring } from __LIB__;
      await Ring.current().nop();
      console.log('done');
    `, EXIT_DEADLINE);
    assertExited(r, /^done$/m);
  });

  test('an idle ring (used, never closed) does not keep the process alive', async () => {
    const r = await runModule(`
      import { Ring } from __LIB__;
      const ring = new Ring();
      await ring.sleep(5);
      await ring.poll(0, 4 /* POLLOUT on stdin: whatever it says, it settles */, { timeout: 100 }).catch(() => {});
      await Promise.all([ring.nop(), ring.sleep(1), ring.nop({ timeout: 1000 })]);
      console.log('idle', ring.stats().inFlight);
    `, EXIT_DEADLINE);
    assertExited(r, /^idle 0$/m);
  });

  test('a pending sleep(300) (callback form) keeps the process alive until it settles', async () => {
    const r = await runModule(`
      import { Ring } from __LIB__;
      Ring.current().sleep(300, (err) => console.log('slept', err));
      console.log('issued');
    `, EXIT_DEADLINE);
    assertExited(r, /^issued\nslept null$/m);
  });

  test('a pending sleep(300) (promise form) keeps the process alive until it settles', async () => {
    const r = await runModule(`
      import { Ring } from __LIB__;
      const t0 = performance.now();
      await Ring.current().sleep(300);
      console.log('slept', performance.now() - t0 >= 295);
    `, EXIT_DEADLINE);
    assertExited(r, /^slept true$/m);
  });

  test('a pending poll keeps the process alive until the fd becomes ready', { skip: NEEDS_FIFO_POLL }, async () => {
    const r = await runModule(`
      import { Ring, POLL } from __LIB__;
      ${openFifo()}
      // An unref'd timer makes the FIFO readable: only the ring can keep the process alive until then.
      setTimeout(() => fs.writeSync(fifoFd, 'x'), 300).unref();
      const mask = await Ring.current().poll(fifoFd, POLL.IN);
      console.log('ready', mask);
    `, EXIT_DEADLINE);
    assertExited(r, /^ready 1$/m);
  });

  test('an operation with { ref: false } does not keep the process alive', { skip: NEEDS_FIFO_POLL }, async () => {
    const r = await runModule(`
      import { Ring, POLL } from __LIB__;
      ${openFifo()}
      const ring = Ring.current();
      ring.sleep(${LONG}, { ref: false }, () => console.log('BAD sleep settled'));
      ring.poll(fifoFd, POLL.IN, { ref: false }, () => console.log('BAD poll settled'));
      ring.sleep(${LONG}, { ref: false, timeout: ${LONG} }).then(() => console.log('BAD'));
      console.log('issued', ring.stats().inFlight);
    `, EXIT_DEADLINE);
    assertExited(r, /^issued 3$/m);
    assert.doesNotMatch(r.stdout, /BAD/);
  });

  test('{ ref: false } operations do not cut short a ref\'d one', async () => {
    const r = await runModule(`
      import { Ring } from __LIB__;
      const ring = Ring.current();
      ring.sleep(${LONG}, { ref: false }, () => console.log('BAD'));
      ring.sleep(300, (err) => console.log('refd settled', err));
    `, EXIT_DEADLINE);
    assertExited(r, /^refd settled null$/m);
    assert.doesNotMatch(r.stdout, /BAD/);
  });

  test('after ring.unref() pending operations do not keep the process alive', { skip: NEEDS_FIFO_POLL }, async () => {
    const r = await runModule(`
      import { Ring, POLL } from __LIB__;
      ${openFifo()}
      const ring = Ring.current();
      ring.unref();
      ring.sleep(${LONG}, () => console.log('BAD'));
      ring.poll(fifoFd, POLL.IN, () => console.log('BAD'));
      ring.nop(() => console.log('nop done'));
    `, EXIT_DEADLINE);
    assertExited(r, /^nop done$/m);
    assert.doesNotMatch(r.stdout, /BAD/);
  });

  test('ring.unref() affects operations issued before it too', async () => {
    const r = await runModule(`
      import { Ring } from __LIB__;
      const ring = new Ring();
      ring.sleep(${LONG}, () => console.log('BAD'));
      setTimeout(() => { ring.unref(); console.log('unrefd'); }, 50);
    `, EXIT_DEADLINE);
    assertExited(r, /^unrefd$/m);
    assert.doesNotMatch(r.stdout, /BAD/);
  });

  test('ring.ref() after ring.unref() keeps the process alive again', async () => {
    const r = await runModule(`
      import { Ring } from __LIB__;
      const ring = Ring.current();
      ring.unref();
      ring.sleep(300, (err) => console.log('slept', err));
      ring.ref();
    `, EXIT_DEADLINE);
    assertExited(r, /^slept null$/m);
  });

  test('a multishot poll keeps the process alive until break', { skip: NEEDS_FIFO_POLL }, async () => {
    const r = await runModule(`
      import { Ring, POLL } from __LIB__;
      ${openFifo()}
      setTimeout(() => fs.writeSync(fifoFd, 'x'), 300).unref();
      for await (const mask of Ring.current().pollMultishot(fifoFd, POLL.IN)) {
        console.log('event', mask);
        break;
      }
      console.log('after break', Ring.current().stats().inFlight);
    `, EXIT_DEADLINE);
    assertExited(r, /^event 1\nafter break [01]$/m);
  });

  test('a multishot poll iterator after .unref() does not keep the process alive', { skip: NEEDS_FIFO_POLL }, async () => {
    const r = await runModule(`
      import { Ring, POLL } from __LIB__;
      ${openFifo()}
      const it = Ring.current().pollMultishot(fifoFd, POLL.IN);
      assert(it.unref() === it);
      function assert(c) { if (!c) throw new Error('unref() must return the iterator'); }
      (async () => { for await (const m of it) console.log('BAD', m); })();
      console.log('iterating');
    `, EXIT_DEADLINE);
    assertExited(r, /^iterating$/m);
    assert.doesNotMatch(r.stdout, /BAD/);
  });

  test('a multishot poll with a callback keeps the process alive until cancel()', { skip: NEEDS_FIFO_POLL }, async () => {
    const r = await runModule(`
      import { Ring, POLL } from __LIB__;
      ${openFifo()}
      setTimeout(() => fs.writeSync(fifoFd, 'x'), 300).unref();
      const h = Ring.current().pollMultishot(fifoFd, POLL.IN, undefined, (err, mask, more) => {
        if (err) { console.log('ended', err.name); return; }
        console.log('event', mask, more);
        h.cancel();
      });
    `, EXIT_DEADLINE);
    assertExited(r, /^event 1 true\nended AbortError$/m);
  });

  test('close() with operations pending settles them and lets the process exit', { skip: NEEDS_FIFO_POLL }, async () => {
    const r = await runModule(`
      import { Ring, POLL } from __LIB__;
      ${openFifo()}
      const ring = Ring.current();
      ring.sleep(${LONG}, (err) => console.log('sleep', err && err.name));
      const p = ring.poll(fifoFd, POLL.IN).catch((e) => e.name);
      await ring.close();
      console.log('closed', await p);
    `, EXIT_DEADLINE);
    assertExited(r, /^sleep AbortError\nclosed AbortError$/m);
  });

  test('cancelAll() with operations pending lets the process exit', async () => {
    const r = await runModule(`
      import { Ring } from __LIB__;
      const ring = Ring.current();
      for (let i = 0; i < 100; i++) ring.sleep(${LONG}, () => {});
      console.log('cancelled', await ring.cancelAll());
    `, EXIT_DEADLINE);
    assertExited(r, /^cancelled 100$/m);
  });

  test('process.exit() with 1,000 ref\'d operations in flight exits cleanly', { skip: NEEDS_FIFO_POLL }, async () => {
    const r = await runModule(`
      import { Ring, POLL } from __LIB__;
      ${openFifo()}
      const ring = Ring.current();
      for (let i = 0; i < 500; i++) ring.sleep(${LONG}, () => {});
      for (let i = 0; i < 500; i++) ring.poll(fifoFd, POLL.IN, { timeout: ${LONG} }, () => {});
      await new Promise((r) => setTimeout(r, 50));
      console.log('in flight', ring.stats().inFlight);
      process.exit(0);
    `, EXIT_DEADLINE);
    assertExited(r, /^in flight 1000$/m);
    assert.equal(r.stderr, '');
  });

  test('natural exit with 1,000 unref\'d operations in flight is clean', { skip: NEEDS_FIFO_POLL }, async () => {
    const r = await runModule(`
      import { Ring, POLL } from __LIB__;
      ${openFifo()}
      const ring = new Ring({ entries: 64 });
      ring.unref();
      for (let i = 0; i < 500; i++) ring.sleep(${LONG}, () => console.log('BAD'));
      for (let i = 0; i < 500; i++) ring.poll(fifoFd, POLL.IN, () => console.log('BAD'));
      console.log('issued');
    `, EXIT_DEADLINE);
    assertExited(r, /^issued$/m);
    assert.doesNotMatch(r.stdout, /BAD/);
    assert.equal(r.stderr, '');
  });
});
