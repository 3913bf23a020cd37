/**
 * The portable backend's completion engine (src/backend/portable/engine.ts):
 * the slot-indexed table of operations in flight (it must behave as the Map it
 * replaced, also for slots outside its dense range), and the completion queue
 * (an Int32Array with head and tail indices that grows and rewinds): every
 * completion posted is delivered once, in order, however the posts and the
 * deliveries into a small output buffer interleave.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { NativeStat } from '../../src/backend/protocol.js';
import { IORING_CQE_F_MORE, Op, PortableRing, SlotOps } from '../../src/backend/portable/engine.js';
import { portableRing } from './util.js';

/** Stand-ins for operations: SlotOps only stores and returns them. */
function fakeOp(n: number): Op {
  return { n } as unknown as Op;
}

/** A PortableRing with an output buffer of `outCap` completions, outside any Ring. */
function bareRing(outCap: number, onWake: (r: PortableRing) => void = () => {}): PortableRing {
  const stage = new Int32Array(16 + 16 * 4);
  const out = new Int32Array(outCap * 4);
  const stats = new Float64Array(NativeStat.COUNT);
  const turn = new Int32Array(3);
  const r: PortableRing = new PortableRing(stage, out, stats, turn, () => onWake(r), 4, 8, 0);
  return r;
}

/** A PortableRing whose wake-ups deliver everything queued; `wakes` lists each wake-up's completions [slot, res, flags]. */
function recordingRing(): { r: PortableRing; wakes: number[][][] } {
  const wakes: number[][][] = [];
  const r = bareRing(64, (ring) => {
    const got: number[][] = [];
    for (let n = ring.deliver(); n > 0; n = ring.deliver()) {
      for (let i = 0; i < n; i++) got.push([ring.out[i * 4]!, ring.out[i * 4 + 2]!, ring.out[i * 4 + 3]!]);
    }
    wakes.push(got);
  });
  return { r, wakes };
}

/** An operation in flight on `r` (as the backend's submit makes one). */
function inFlight(r: PortableRing, slot: number, multishot: boolean): Op {
  const op = new Op(r, slot, slot << 2, 0, -1, multishot);
  r.pending.set(slot, op);
  return op;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('portable engine: SlotOps (operations in flight, by slot)', () => {
  test('get / set / delete / size / values / clear behave as a Map, dense and sparse slots alike', () => {
    const t = new SlotOps();
    const m = new Map<number, Op>();
    // Dense slots out of order, a gap, negative and past-the-dense-range slots (kept in a Map).
    const slots = [3, 0, 7, 1, -1, SlotOps.DENSE, SlotOps.DENSE + 5, 2, 1000];
    slots.forEach((s, i) => {
      const op = fakeOp(i);
      assert.equal(t.set(s, op), t, 'set returns the table');
      m.set(s, op);
    });
    const check = (): void => {
      assert.equal(t.size, m.size);
      for (const s of [...slots, 4, 5, 6, 999, 1001, -2, SlotOps.DENSE + 1]) assert.equal(t.get(s), m.get(s), `slot ${s}`);
      assert.deepEqual(new Set(t.values()), new Set(m.values()));
    };
    check();
    // Replacing an entry does not count it twice.
    const again = fakeOp(100);
    t.set(7, again);
    m.set(7, again);
    check();
    for (const s of [7, -1, SlotOps.DENSE, 4, 1001, SlotOps.DENSE + 1]) assert.equal(t.delete(s), m.delete(s), `delete ${s}`);
    check();
    assert.equal(t.delete(7), false, 'deleted twice: false the second time');
    t.clear();
    m.clear();
    check();
    assert.equal(t.size, 0);
    t.set(5, fakeOp(5));
    assert.equal(t.size, 1, 'usable after clear');
    assert.equal(t.get(5), [...t.values()][0]);
  });
});

describe('portable engine: the completion queue', () => {
  test('completions are delivered once each, in order, across growth, rewinds and partial deliveries', () => {
    const outCap = 5;
    const r = bareRing(outCap);
    try {
      let nextPosted = 0;
      let nextSeen = 0;
      const drain = (max: number): void => {
        for (let k = 0; k < max; k++) {
          const n = r.deliver();
          assert.ok(n <= outCap, 'never more than the output buffer holds');
          if (n === 0) return;
          for (let i = 0; i < n; i++) {
            const o = i * 4;
            assert.deepEqual([r.out[o], r.out[o + 1], r.out[o + 2], r.out[o + 3]],
              [nextSeen, nextSeen * 2, -nextSeen | 0, nextSeen & 0xff], `completion ${nextSeen}`);
            nextSeen++;
          }
        }
      };
      // Bursts of posts (up to 700 at once: several doublings of the queue) between partial drains.
      const bursts = [1, 3, 70, 0, 700, 2, 64, 65, 300, 1, 129];
      for (const b of bursts) {
        for (let i = 0; i < b; i++, nextPosted++) r.post(nextPosted, nextPosted * 2, -nextPosted, nextPosted & 0xff);
        assert.equal(r.queued, nextPosted - nextSeen);
        drain(7);
      }
      drain(Infinity);
      assert.equal(nextSeen, nextPosted, 'every completion posted was delivered');
      assert.equal(r.queued, 0);
      assert.equal(r.deliver(), 0, 'nothing left');
      // Full to the last word with most of it already delivered: the unread rest moves to the front.
      const cap = r.ready.length;
      const fill = cap / 4;
      for (let i = 0; i < fill; i++, nextPosted++) r.post(nextPosted, nextPosted * 2, -nextPosted, nextPosted & 0xff);
      drain(Math.floor((fill - 3) / outCap));
      assert.ok(r.queued > 0 && r.queued <= fill / 2 - 1, `${r.queued} left unread`);
      for (let i = 0; i < 3; i++, nextPosted++) r.post(nextPosted, nextPosted * 2, -nextPosted, nextPosted & 0xff);
      assert.equal(r.ready.length, cap, 'compacted, not grown');
      drain(Infinity);
      assert.equal(nextSeen, nextPosted);
      // Emptied, the queue rewinds: a long steady stream does not grow it.
      for (let i = 0; i < 10_000; i++, nextPosted++) {
        r.post(nextPosted, nextPosted * 2, -nextPosted, nextPosted & 0xff);
        drain(1);
      }
      assert.equal(nextSeen, nextPosted);
      assert.equal(r.ready.length, cap, 'no growth for one completion at a time');
    } finally {
      r.destroy();
    }
  });
});

describe('portable engine: when completions are handed to Ring', () => {
  test('multishot CQEs posted during one turn are handed over together, once, in the same loop iteration', async () => {
    const { r, wakes } = recordingRing();
    try {
      const a = inFlight(r, 1, true);
      const b = inFlight(r, 2, true);
      a.more(10);
      b.more(20);
      a.more(11);
      assert.equal(wakes.length, 0, 'not handed over from inside the I/O callback');
      await turn();
      assert.deepEqual(wakes, [[[1, 10, IORING_CQE_F_MORE], [2, 20, IORING_CQE_F_MORE], [1, 11, IORING_CQE_F_MORE]]]);
      await turn();
      assert.equal(wakes.length, 1, 'no second, empty hand-over');
      a.complete(0);
      assert.deepEqual(wakes[1], [[1, 0, 0]], 'a final CQE is handed over at once');
      b.complete(0);
      assert.equal(wakes.length, 3);
    } finally {
      r.destroy();
    }
  });

  test('a final CQE hands over the multishot CQEs queued before it, in order; the batch then finds nothing', async () => {
    const { r, wakes } = recordingRing();
    try {
      const m = inFlight(r, 3, true);
      const s = inFlight(r, 4, false);
      m.more(1);
      m.more(2);
      s.complete(-5);
      assert.deepEqual(wakes, [[[3, 1, IORING_CQE_F_MORE], [3, 2, IORING_CQE_F_MORE], [4, -5, 0]]]);
      await turn();
      assert.equal(wakes.length, 1);
      m.more(3);
      m.complete(0);
      assert.deepEqual(wakes[1], [[3, 3, IORING_CQE_F_MORE], [3, 0, 0]]);
    } finally {
      r.destroy();
    }
  });

  test('a ring destroyed with a batch pending hands nothing over', async () => {
    const { r, wakes } = recordingRing();
    inFlight(r, 5, true).more(1);
    r.destroy();
    await turn();
    await turn();
    assert.deepEqual(wakes, []);
  });
});

describe('portable engine: many operations in flight on a Ring', () => {
  const { ring } = portableRing();

  test('1000 NOPs issued in one synchronous run each settle exactly once', async () => {
    const settled = new Uint8Array(1000);
    let errors = 0;
    await new Promise<void>((resolve) => {
      let left = settled.length;
      for (let i = 0; i < settled.length; i++) {
        ring.nop((err) => {
          if (err) errors++;
          settled[i]! += 1;
          if (--left === 0) resolve();
        });
      }
    });
    assert.equal(errors, 0);
    assert.ok(settled.every((n) => n === 1), 'each callback ran once');
  });

  test('awaited NOPs in sequence and in parallel batches all resolve', async () => {
    for (let i = 0; i < 500; i++) assert.equal(await ring.nop(), undefined);
    for (let b = 0; b < 20; b++) {
      const r = await Promise.all(Array.from({ length: 100 }, () => ring.nop()));
      assert.equal(r.length, 100);
    }
  });
});

describe('an operation whose Node API throws instead of calling back', () => {
  test('completes with the thrown errno (EIO without one) instead of staying in flight', async () => {
    const { default: fs } = await import('node:fs');
    const { Ring } = await import('../../src/index.js');
    const ring = new Ring({ backend: 'portable' });
    const open = fs.open;
    /** The op's outcome, or 'hung' (it would stay in flight) after 10 s. */
    const outcome = (p: Promise<unknown>): Promise<{ code?: string } | 'hung' | undefined> => Promise.race([
      p.then(() => undefined, (e: unknown) => e as { code?: string }),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref()),
    ]);
    try {
      (fs as { open: unknown }).open = () => {
        throw Object.assign(new Error('EMFILE: too many open files'), { errno: -24, code: 'EMFILE' });
      };
      const e1 = await outcome(ring.open('/dev/null'));
      assert.equal(e1 === 'hung' ? e1 : e1?.code, 'EMFILE');
      (fs as { open: unknown }).open = () => {
        throw new TypeError('an argument Node refuses');
      };
      const e2 = await outcome(ring.open('/dev/null'));
      assert.equal(e2 === 'hung' ? e2 : e2?.code, 'EIO');
      assert.equal(ring.stats().inFlight, 0, 'nothing left in flight');
    } finally {
      (fs as { open: unknown }).open = open;
      await ring.close();
    }
  });
});
