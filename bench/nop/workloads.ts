/**
 * The nop suite's callback workload, shared by the suite (bench/nop/main.ts),
 * its hooks-overhead child (hooks-child.ts) and the instruction counter
 * (instructions.ts), so all three measure the very same code path.
 */
import type { Ring } from '../../src/index.js';

/** Operations issued per synchronous run (one flush, one io_uring_enter). */
export const BATCH = 32;

/**
 * nop-batch32-callback: `BATCH` × `ring.nop(cb)` issued in one synchronous
 * run; when all of them have called back, the next batch is issued. The
 * returned function performs `n` operations (rounded up to whole batches)
 * and resolves when the last one has called back.
 */
export function batch32Callback(ring: Ring): (n: number) => Promise<void> {
  return (n: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      let batches = Math.ceil(n / BATCH);
      let left = 0;
      const issue = (): void => {
        left = BATCH;
        for (let i = 0; i < BATCH; i++) ring.nop(cb);
      };
      const cb = (err: Error | null): void => {
        if (err) return reject(err);
        if (--left === 0) {
          if (--batches === 0) resolve();
          else issue();
        }
      };
      issue();
    });
}
