/** io_uring_enter calls per operation, measured around a sampler's calls. */
import type { Sampler } from './report.js';

interface HasStats {
  stats(): { enters: number; completed: number; submitted: number };
}

/**
 * Wraps a sampler: counts the ring's io_uring_enter calls per operation
 * (`per`: completed operations by default, or submitted ones) over every
 * measured call.
 */
export function countEnters(ring: HasStats, s: Sampler, per: 'completed' | 'submitted' = 'completed'):
  { sampler: Sampler; perOp: () => number } {
  let enters = 0;
  let ops = 0;
  return {
    sampler: async () => {
      const a = ring.stats();
      const v = await s();
      const b = ring.stats();
      enters += b.enters - a.enters;
      ops += b[per] - a[per];
      return v;
    },
    perOp: () => (ops > 0 ? enters / ops : NaN),
  };
}
