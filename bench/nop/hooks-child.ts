/**
 * Child of the nop suite's hooks-overhead case: nop-batch32-callback for
 * ~`ms` milliseconds after a warm-up, printing `ns_per_op=N`. Run with and
 * without UK_NO_HOOKS=1 (which removes the diagnostics_channel checks).
 */
import { Ring } from '../../src/index.js';

const ms = Number(process.argv[2] ?? 400);
const ring = Ring.current();

function run(n: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let batches = Math.ceil(n / 32);
    let left = 0;
    const cb = (err: Error | null): void => {
      if (err) return reject(err);
      if (--left === 0) {
        if (--batches === 0) resolve();
        else issue();
      }
    };
    const issue = (): void => {
      left = 32;
      for (let i = 0; i < 32; i++) ring.nop(cb);
    };
    issue();
  });
}

await run(200_000);
let n = 320_000;
let t0 = process.hrtime.bigint();
await run(n);
let dt = Number(process.hrtime.bigint() - t0);
n = Math.max(32_000, Math.round((n * ms * 1e6) / dt / 32) * 32);
t0 = process.hrtime.bigint();
await run(n);
dt = Number(process.hrtime.bigint() - t0);
console.log(`ns_per_op=${(dt / n).toFixed(3)}`);
await ring.close();
