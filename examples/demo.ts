/**
 * The main demo (`npm start`): what the ring does, in one screen.
 * Issues NOPs in batches, sleeps on the ring, shows a deadline and an abort,
 * and prints the ring's stats.
 */
import { Ring } from '../src/index.js';

const ring = Ring.current();
console.log(`uringkit ring: ${ring.info.sqEntries} SQ entries, flags ${ring.info.flags.join(' | ')}`);

// 1. Batching: everything issued in one synchronous run goes in one io_uring_enter.
const before = ring.stats().enters;
await Promise.all(Array.from({ length: 32 }, () => ring.nop()));
console.log(`32 NOPs completed with ${ring.stats().enters - before} io_uring_enter call(s)`);

// 2. Throughput of the callback form.
const N = 320_000;
const t0 = process.hrtime.bigint();
await new Promise<void>((resolve) => {
  let done = 0;
  const onDone = (): void => {
    if (++done === N) resolve();
    else if (done % 32 === 0) batch();
  };
  const batch = (): void => {
    for (let i = 0; i < 32; i++) ring.nop(onDone);
  };
  batch();
});
const ns = Number(process.hrtime.bigint() - t0) / N;
console.log(`${N.toLocaleString()} NOPs, ${ns.toFixed(0)} ns each (callback form, batches of 32)`);

// 3. Timers on the ring: no JS timer per operation.
const t1 = performance.now();
await ring.sleep(25);
console.log(`ring.sleep(25) woke after ${(performance.now() - t1).toFixed(1)} ms`);

// 4. Deadlines and cancellation.
try {
  await ring.sleep(10_000, { timeout: 20 });
} catch (err) {
  console.log(`deadline: ${(err as Error).message}`);
}
const ac = new AbortController();
setTimeout(() => ac.abort(new Error('user pressed stop')), 10);
try {
  await ring.sleep(10_000, { signal: ac.signal });
} catch (err) {
  const e = err as Error & { code: string; cause: Error };
  console.log(`abort: ${e.name} (${e.code}), cause: ${e.cause.message}`);
}

const s = ring.stats();
console.log(`stats: submitted ${s.submitted}, completed ${s.completed}, timedOut ${s.timedOut}, ` +
  `cancelled ${s.cancelled}, enters ${s.enters}, inFlight ${s.inFlight}`);
await ring.close();
