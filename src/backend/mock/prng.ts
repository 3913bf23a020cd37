/**
 * A small seeded PRNG (mulberry32): the only source of randomness in the mock
 * backend, so that a seed replays every fault decision exactly.
 */

/** Returns a seed from `URINGKIT_MOCK_SEED` or a fresh random one. */
export function defaultSeed(): number {
  const env = process.env.URINGKIT_MOCK_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (Number.isInteger(n) && n >= 0 && n <= 0xffffffff) return n;
  }
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}

export class Prng {
  #state: number;
  /** Number of values drawn so far. */
  draws = 0;

  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.draws++;
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max] (inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
}
