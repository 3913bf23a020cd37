/**
 * Settlement accounting: how many times each operation settled (callback
 * invoked, promise fulfilled or rejected), and with what.
 */
import assert from 'node:assert/strict';

export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class SettleLog {
  readonly counts: Int32Array;
  readonly outcomes: (Outcome | undefined)[];
  /** Operations whose callback ran synchronously inside the issuing call. */
  readonly syncCalls: number[] = [];
  #settled = 0;
  #issuing = -1;
  #waiters: (() => void)[] = [];

  constructor(readonly size: number) {
    this.counts = new Int32Array(size);
    this.outcomes = new Array<Outcome | undefined>(size);
  }

  /** Number of distinct operations settled at least once. */
  get settled(): number {
    return this.#settled;
  }

  #record(i: number, outcome: Outcome): void {
    if (this.#issuing === i) this.syncCalls.push(i);
    if (this.counts[i]!++ === 0) {
      this.outcomes[i] = outcome;
      if (++this.#settled === this.size) for (const w of this.#waiters.splice(0)) w();
    }
  }

  /** Runs `issue` (which starts operation i), noting callbacks invoked synchronously. */
  issue<T>(i: number, issue: () => T): T {
    this.#issuing = i;
    try {
      return issue();
    } finally {
      this.#issuing = -1;
    }
  }

  /** A Node-style callback recording operation i. */
  cb(i: number): (err: Error | null, value?: unknown) => void {
    return (err, value) => {
      if (err) this.#record(i, { ok: false, error: err });
      else this.#record(i, { ok: true, value });
    };
  }

  /** Records the settlement of promise i. */
  track(i: number, p: Promise<unknown>): void {
    p.then(
      (value) => this.#record(i, { ok: true, value }),
      (error: unknown) => this.#record(i, { ok: false, error }),
    );
  }

  /** Resolves when every operation has settled; rejects after `deadlineMs` naming the missing ones. */
  whenAll(deadlineMs: number): Promise<void> {
    if (this.#settled === this.size) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const missing: number[] = [];
        for (let i = 0; i < this.size && missing.length < 20; i++) if (this.counts[i] === 0) missing.push(i);
        reject(new Error(`${this.size - this.#settled} of ${this.size} operations never settled ` +
          `within ${deadlineMs} ms (first: ${missing.join(', ')})`));
      }, deadlineMs);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Every operation settled exactly once, and none synchronously. */
  assertExactlyOnce(): void {
    const twice: number[] = [];
    const never: number[] = [];
    for (let i = 0; i < this.size; i++) {
      if (this.counts[i]! > 1) twice.push(i);
      else if (this.counts[i] === 0) never.push(i);
    }
    assert.deepEqual({ settledTwiceOrMore: twice.slice(0, 20), neverSettled: never.slice(0, 20) },
      { settledTwiceOrMore: [], neverSettled: [] });
    assert.deepEqual(this.syncCalls.slice(0, 20), [], 'callbacks must never run synchronously inside the call');
  }
}
