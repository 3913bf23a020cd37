/**
 * Fairness: a chain of inline completions (NOPs complete during the enter
 * that submits them) must not starve timers, immediates or other I/O; the
 * ring yields to the loop after `budget` completions per turn.
 *
 * Bounds are operation counts, not times: a chain that runs millions of
 * operations without the loop ever getting a turn is starving it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Ring } from '../../src/index.js';

/** A chain of this many operations without the timer firing is starvation. */
const STARVATION_LIMIT = 5_000_000;
/** The same, for variants of the first test (far beyond any budget). */
const SHORT_LIMIT = 1_000_000;

describe('fairness of inline completion chains', () => {
  test('an `await ring.nop()` loop does not starve a setTimeout', { timeout: 120_000 }, async () => {
    const ring = new Ring();
    try {
      let fired = false;
      const timer = setTimeout(() => (fired = true), 5);
      let ops = 0;
      while (!fired && ops < STARVATION_LIMIT) {
        await ring.nop();
        ops++;
      }
      clearTimeout(timer);
      assert.ok(fired, `setTimeout(5) never fired during ${ops} awaited NOPs: the promise chain starves the loop`);
    } finally {
      await ring.close();
    }
  });

  test('an `await ring.nop()` loop does not starve setImmediate', { timeout: 120_000 }, async () => {
    const ring = new Ring({ budget: 256 });
    try {
      let fired = false;
      setImmediate(() => (fired = true));
      let ops = 0;
      while (!fired && ops < SHORT_LIMIT) {
        await ring.nop();
        ops++;
      }
      assert.ok(fired, `setImmediate never ran during ${ops} awaited NOPs`);
    } finally {
      await ring.close();
    }
  });

  test('a callback chain of NOPs does not starve a setTimeout', { timeout: 120_000 }, async () => {
    const ring = new Ring();
    try {
      let fired = false;
      setTimeout(() => (fired = true), 5);
      const ops = await new Promise<number>((resolve, reject) => {
        let n = 0;
        const next = (err: Error | null) => {
          if (err) return reject(err);
          if (fired || ++n >= STARVATION_LIMIT) return resolve(n);
          ring.nop(next);
        };
        ring.nop(next);
      });
      assert.ok(fired, `setTimeout(5) never fired during a chain of ${ops} NOPs`);
    } finally {
      await ring.close();
    }
  });

  test('a callback chain yields to the loop at least every `budget` completions', { timeout: 120_000 }, async () => {
    const BUDGET = 64;
    const ring = new Ring({ budget: BUDGET });
    try {
      // Count NOP completions between consecutive loop turns (setImmediate ticks).
      const perTurn: number[] = [];
      let current = 0;
      let stop = false;
      const tick = () => {
        perTurn.push(current);
        current = 0;
        if (!stop) setImmediate(tick);
      };
      setImmediate(tick);
      const TOTAL = 50_000;
      await new Promise<void>((resolve, reject) => {
        let n = 0;
        const next = (err: Error | null) => {
          if (err) return reject(err);
          current++;
          if (++n >= TOTAL) return resolve();
          ring.nop(next);
        };
        ring.nop(next);
      });
      stop = true;
      const max = Math.max(...perTurn, current);
      assert.ok(perTurn.length > TOTAL / (4 * BUDGET), `only ${perTurn.length} loop turns for ${TOTAL} completions`);
      assert.ok(max <= 2 * BUDGET, `${max} completions dispatched within one loop turn (budget ${BUDGET})`);
    } finally {
      await ring.close();
    }
  });

  test("with flush: 'immediate' an awaited NOP loop lets timers run", { timeout: 120_000 }, async () => {
    const ring = new Ring({ flush: 'immediate' });
    try {
      let fired = false;
      setTimeout(() => (fired = true), 5);
      let ops = 0;
      while (!fired && ops < STARVATION_LIMIT) {
        await ring.nop();
        ops++;
      }
      assert.ok(fired, `setTimeout(5) never fired during ${ops} awaited NOPs`);
    } finally {
      await ring.close();
    }
  });

  test('timers fire while many independent promise chains run', { timeout: 120_000 }, async () => {
    const ring = new Ring();
    try {
      let fired = false;
      setTimeout(() => (fired = true), 5);
      let ops = 0;
      const chains = Array.from({ length: 16 }, async () => {
        while (!fired && ops < SHORT_LIMIT) {
          await ring.nop();
          ops++;
        }
      });
      await Promise.all(chains);
      assert.ok(fired, `setTimeout(5) never fired during ${ops} NOPs in 16 concurrent chains`);
    } finally {
      await ring.close();
    }
  });
});
