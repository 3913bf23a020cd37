/**
 * Bad arguments to every public function throw synchronously (TypeError /
 * RangeError with Node-style codes), in the promise and the callback form,
 * and submit nothing: no counter moves, no SQE is built, no callback runs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { Ring, type RingOptions } from '../../src/index.js';
import { fdSnapshot, fdsOpenedSince } from '../helpers/fds.js';
import { assertThrowsCoded, type Expect } from '../helpers/fs-util.js';
import { turns } from '../helpers/loop.js';

const TYPE: Expect = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };
const RANGE: Expect = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' };
/** A value of the right type that is not one of the allowed values. */
const VALUE: Expect = { name: 'TypeError', code: /^ERR_INVALID_ARG_(TYPE|VALUE)$/ };

// Loosely typed views of the API, to pass what TypeScript would refuse.
type AnyFn = (...args: unknown[]) => unknown;
const RingCtor = Ring as unknown as new (...args: unknown[]) => Ring;


const BAD_MS: [string, unknown, Expect][] = [
  ['a string', '5', TYPE],
  ['NaN', NaN, RANGE],
  ['-1', -1, RANGE],
  ['-Infinity', -Infinity, RANGE],
  ['Infinity', Infinity, RANGE],
  ['2**53', 2 ** 53, RANGE],
  ['an object', {}, TYPE],
  ['a bigint', 5n, TYPE],
  ['null', null, TYPE],
];

const BAD_FD: [string, unknown, Expect][] = [
  ['a string', '3', TYPE],
  ['undefined', undefined, TYPE],
  ['null', null, TYPE],
  ['an object', {}, TYPE],
  ['a bigint', 3n, TYPE],
  ['-1', -1, RANGE],
  ['1.5', 1.5, RANGE],
  ['NaN', NaN, RANGE],
  ['Infinity', Infinity, RANGE],
  ['2**31', 2 ** 31, RANGE],
  ['2**53', 2 ** 53, RANGE],
];

const BAD_EVENTS: [string, unknown, Expect][] = [
  ['undefined', undefined, TYPE],
  ['a string', '1', TYPE],
  ['-1', -1, RANGE],
  ['1.5', 1.5, RANGE],
  ['NaN', NaN, RANGE],
  ['2**32', 2 ** 32, RANGE],
];

const BAD_OPTIONS: [string, unknown, Expect][] = [
  ['options: a string', 'x', TYPE],
  ['options: a number', 5, TYPE],
  ['options: true', true, TYPE],
  ['signal: a plain object', { signal: {} }, TYPE],
  ['signal: a string', { signal: 'abort' }, TYPE],
  ['signal: an EventTarget', { signal: new EventTarget() }, TYPE],
  ['signal: an AbortController', { signal: new AbortController() }, TYPE],
  ['ref: 1', { ref: 1 }, TYPE],
  ['ref: "false"', { ref: 'false' }, TYPE],
  ['ref: null', { ref: null }, TYPE],
  ...BAD_MS.map(([l, v, e]): [string, unknown, Expect] => [`timeout: ${l}`, { timeout: v }, e]),
];

const BAD_CALLBACKS: [string, unknown][] = [
  ['a string', 'cb'],
  ['an object', {}],
  ['a number', 1],
  ['null', null],
  ['true', true],
];

describe('argument validation', () => {
  let ring: Ring;
  let fd: number;
  let calls = 0;
  const spy = () => {
    calls++;
  };
  let pending: Promise<unknown>;
  const pendingAc = new AbortController();

  before(async () => {
    ring = new Ring();
    fd = fs.openSync('/dev/null', 'r');
    await ring.nop();
    // One operation stays in flight throughout: nothing below may cancel or disturb it.
    pending = ring.sleep(600_000, { signal: pendingAc.signal }).catch((e: Error) => e.name);
  });
  after(async () => {
    pendingAc.abort();
    assert.equal(await pending, 'AbortError');
    await ring.close();
    fs.closeSync(fd);
  });

  /** Runs the bad calls and checks that none of them submitted or settled anything. */
  async function expectNothingSubmitted(cases: [string, () => unknown, Expect][]): Promise<void> {
    await turns(1);
    const s0 = ring.stats();
    const calls0 = calls;
    for (const [label, fn, expect] of cases) assertThrowsCoded(fn, expect, label);
    await turns(3);
    const s1 = ring.stats();
    assert.equal(s1.submitted, s0.submitted, 'stats.submitted unchanged');
    assert.equal(s1.sqes, s0.sqes, 'no SQE built');
    assert.equal(s1.enters, s0.enters, 'no io_uring_enter');
    assert.equal(s1.inFlight, s0.inFlight);
    assert.equal(s1.cancelled, s0.cancelled);
    assert.equal(calls, calls0, 'no callback of a rejected call ever runs');
  }

  test('new Ring(options)', () => {
    const before = fdSnapshot();
    const cases: [string, unknown, Expect][] = [
      ['options: null', null, TYPE],
      ['options: a string', 'x', TYPE],
      ['options: a number', 8, TYPE],
      ['entries: a string', { entries: '8' }, TYPE],
      ['entries: an object', { entries: {} }, TYPE],
      ['entries: 0', { entries: 0 }, RANGE],
      ['entries: -1', { entries: -1 }, RANGE],
      ['entries: 1.5', { entries: 1.5 }, RANGE],
      ['entries: NaN', { entries: NaN }, RANGE],
      ['entries: Infinity', { entries: Infinity }, RANGE],
      ['entries: 2**53', { entries: 2 ** 53 }, RANGE],
      ['entries: 32769', { entries: 32769 }, RANGE],
      ['cqEntries: a string', { cqEntries: '64' }, TYPE],
      ['cqEntries < entries', { entries: 64, cqEntries: 32 }, RANGE],
      ['cqEntries: -1', { cqEntries: -1 }, RANGE],
      ['cqEntries: NaN', { cqEntries: NaN }, RANGE],
      ['cqEntries: 1.5', { entries: 1, cqEntries: 1.5 }, RANGE],
      ['cqEntries: 2**53', { cqEntries: 2 ** 53 }, RANGE],
      ['budget: 0', { budget: 0 }, RANGE],
      ['budget: -1', { budget: -1 }, RANGE],
      ['budget: 1.5', { budget: 1.5 }, RANGE],
      ['budget: NaN', { budget: NaN }, RANGE],
      ['budget: Infinity', { budget: Infinity }, RANGE],
      ['budget: a string', { budget: '10' }, TYPE],
      ['flush: unknown policy', { flush: 'sometimes' }, VALUE],
      ['flush: a number', { flush: 1 }, VALUE],
      ['flush: true', { flush: true }, VALUE],
    ];
    for (const [label, opts, expect] of cases) assertThrowsCoded(() => new RingCtor(opts), expect, `new Ring(${label})`);
    assert.deepEqual(fdsOpenedSince(before).filter((fd) => fd.endsWith('[io_uring]')), [],
      'a rejected constructor call creates no io_uring instance');
    // Sanity: the boundaries themselves are accepted.
    const ok: RingOptions[] = [{}, { entries: 32768, cqEntries: 131072 }, { entries: 2, cqEntries: 2 }, { budget: 1 },
      { flush: 'immediate' }, { flush: 'microtask' }];
    for (const o of ok) void new Ring(o).close();
  });

  test('nop(options?, callback?)', async () => {
    const nop = ring.nop.bind(ring) as AnyFn;
    const cases: [string, () => unknown, Expect][] = [];
    for (const [l, o, e] of BAD_OPTIONS) {
      cases.push([`nop(${l})`, () => nop(o), e], [`nop(${l}, cb)`, () => nop(o, spy), e]);
    }
    for (const [l, cb] of BAD_CALLBACKS) {
      cases.push([`nop({}, ${l})`, () => nop({}, cb), TYPE], [`nop(undefined, ${l})`, () => nop(undefined, cb), TYPE]);
    }
    await expectNothingSubmitted(cases);
  });

  test('sleep(ms, options?, callback?)', async () => {
    const sleep = ring.sleep.bind(ring) as AnyFn;
    const cases: [string, () => unknown, Expect][] = [['sleep()', () => sleep(), TYPE]];
    for (const [l, v, e] of BAD_MS) {
      cases.push([`sleep(${l})`, () => sleep(v), e], [`sleep(${l}, cb)`, () => sleep(v, spy), e],
        [`sleep(${l}, {}, cb)`, () => sleep(v, {}, spy), e]);
    }
    for (const [l, o, e] of BAD_OPTIONS) {
      cases.push([`sleep(1, ${l})`, () => sleep(1, o), e], [`sleep(1, ${l}, cb)`, () => sleep(1, o, spy), e]);
    }
    for (const [l, cb] of BAD_CALLBACKS) cases.push([`sleep(1, {}, ${l})`, () => sleep(1, {}, cb), TYPE]);
    await expectNothingSubmitted(cases);
  });

  test('poll(fd, events, options?, callback?)', async () => {
    const poll = ring.poll.bind(ring) as AnyFn;
    const cases: [string, () => unknown, Expect][] = [];
    for (const [l, v, e] of BAD_FD) {
      cases.push([`poll(${l}, IN)`, () => poll(v, 1), e], [`poll(${l}, IN, cb)`, () => poll(v, 1, spy), e]);
    }
    for (const [l, v, e] of BAD_EVENTS) {
      cases.push([`poll(fd, ${l})`, () => poll(fd, v), e], [`poll(fd, ${l}, cb)`, () => poll(fd, v, spy), e]);
    }
    for (const [l, o, e] of BAD_OPTIONS) {
      cases.push([`poll(fd, IN, ${l})`, () => poll(fd, 1, o), e], [`poll(fd, IN, ${l}, cb)`, () => poll(fd, 1, o, spy), e]);
    }
    for (const [l, cb] of BAD_CALLBACKS) cases.push([`poll(fd, IN, {}, ${l})`, () => poll(fd, 1, {}, cb), TYPE]);
    await expectNothingSubmitted(cases);
  });

  test('pollMultishot(fd, events, options?, callback?)', async () => {
    const pm = ring.pollMultishot.bind(ring) as AnyFn;
    const cases: [string, () => unknown, Expect][] = [];
    for (const [l, v, e] of BAD_FD) {
      cases.push([`pollMultishot(${l}, IN)`, () => pm(v, 1), e],
        [`pollMultishot(${l}, IN, undefined, cb)`, () => pm(v, 1, undefined, spy), e]);
    }
    for (const [l, v, e] of BAD_EVENTS) cases.push([`pollMultishot(fd, ${l})`, () => pm(fd, v), e]);
    for (const [l, o, e] of BAD_OPTIONS) {
      if (l.startsWith('timeout')) continue; // covered below: any timeout is refused
      cases.push([`pollMultishot(fd, IN, ${l})`, () => pm(fd, 1, o), e],
        [`pollMultishot(fd, IN, ${l}, cb)`, () => pm(fd, 1, o, spy), e]);
    }
    // A deadline makes no sense for a multishot operation: refused, even a valid number.
    cases.push(['pollMultishot(fd, IN, { timeout: 100 })', () => pm(fd, 1, { timeout: 100 }), VALUE]);
    cases.push(['pollMultishot(fd, IN, { timeout: 100 }, cb)', () => pm(fd, 1, { timeout: 100 }, spy), VALUE]);
    for (const [l, cb] of BAD_CALLBACKS) cases.push([`pollMultishot(fd, IN, {}, ${l})`, () => pm(fd, 1, {}, cb), TYPE]);
    await expectNothingSubmitted(cases);
  });

  test('closeFd(fd, options?, callback?)', async () => {
    const closeFd = ring.closeFd.bind(ring) as AnyFn;
    const cases: [string, () => unknown, Expect][] = [];
    for (const [l, v, e] of BAD_FD) {
      cases.push([`closeFd(${l})`, () => closeFd(v), e], [`closeFd(${l}, cb)`, () => closeFd(v, spy), e]);
    }
    // Valid fd, bad options or callback: the fd must stay open.
    for (const [l, o, e] of BAD_OPTIONS) {
      cases.push([`closeFd(fd, ${l})`, () => closeFd(fd, o), e], [`closeFd(fd, ${l}, cb)`, () => closeFd(fd, o, spy), e]);
    }
    for (const [l, cb] of BAD_CALLBACKS) cases.push([`closeFd(fd, {}, ${l})`, () => closeFd(fd, {}, cb), TYPE]);
    await expectNothingSubmitted(cases);
    fs.fstatSync(fd); // still open
  });

  test('cancelAll(callback?)', async () => {
    const cancelAll = ring.cancelAll.bind(ring) as AnyFn;
    const cases: [string, () => unknown, Expect][] = BAD_CALLBACKS.map(([l, cb]) => [`cancelAll(${l})`,
      () => cancelAll(cb), TYPE]);
    await expectNothingSubmitted(cases);
    // The pending sleep was not cancelled.
    const still = await Promise.race([pending, new Promise((r) => setImmediate(() => r('pending')))]);
    assert.equal(still, 'pending');
  });

  test('argument errors win over a closed ring and an aborted signal', async () => {
    const aborted = AbortSignal.abort();
    const sleep = ring.sleep.bind(ring) as AnyFn;
    await expectNothingSubmitted([
      ['sleep(-1, { signal: aborted })', () => sleep(-1, { signal: aborted }), RANGE],
      ['sleep(1, { signal: aborted, timeout: NaN })', () => sleep(1, { signal: aborted, timeout: NaN }), RANGE],
    ]);
    const closed = new Ring({ entries: 2 });
    await closed.close();
    const c = closed as unknown as Record<string, AnyFn>;
    assertThrowsCoded(() => c.sleep!.call(closed, 'x'), TYPE, 'closed.sleep("x")');
    assertThrowsCoded(() => c.poll!.call(closed, -1, 1), RANGE, 'closed.poll(-1)');
    assertThrowsCoded(() => c.nop!.call(closed, {}, 'cb'), TYPE, 'closed.nop({}, "cb")');
  });
});
