/**
 * Child of the nop suite's hooks-overhead case: nop-batch32-callback for
 * ~`ms` milliseconds after a warm-up, printing `ns_per_op=N`. Run with and
 * without UK_NO_HOOKS=1 (which removes the diagnostics_channel checks).
 */
import { Ring } from '../../src/index.js';
import { batch32Callback } from './workloads.js';

const ms = Number(process.argv[2] ?? 400);
const ring = Ring.current();

const run = batch32Callback(ring);

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
