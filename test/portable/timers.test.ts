/**
 * Timers of the portable backend: sleeps and deadlines beyond Node's
 * 2^31-1 ms timer limit do not fire early (a plain setTimeout would fire
 * after 1 ms), and a far deadline on a short operation leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Ring } from '../../src/index.js';

const ring = new Ring({ backend: 'portable' });
after(() => ring.close());

test('a sleep of 2^32 ms is still pending after 50 ms; its deadline ends it with ETIMEDOUT', async () => {
  const t0 = performance.now();
  await assert.rejects(ring.sleep(2 ** 32, { timeout: 50 }), { code: 'ETIMEDOUT' });
  assert.ok(performance.now() - t0 >= 45, 'the deadline, not the sleep, ended it');
  const ac = new AbortController();
  const p = ring.sleep(2 ** 33, { signal: ac.signal });
  await ring.sleep(30);
  ac.abort();
  await assert.rejects(p, { name: 'AbortError' });
});

test('a deadline of 2^32 ms on a nop: the nop resolves, the deadline is removed', async () => {
  await ring.nop({ timeout: 2 ** 32 });
  await ring.sleep(1, { timeout: 2 ** 32 + 5 });
  assert.equal(ring.stats().inFlight, 0);
});
