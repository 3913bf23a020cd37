/**
 * The mock backend's clock: drives TIMEOUT operations (ring.sleep), linked
 * timeouts (the `timeout` option) and delayed completions.
 *
 * 'virtual' (the default): time stands still until the test moves it with
 * advance() / tick() / next(), or until `autoAdvance` jumps to the next timer
 * when nothing else is runnable. 'real': timers are real (unref'd) timers.
 */
import { performance } from 'node:perf_hooks';

/** A scheduled callback. */
export interface MockTimer {
  /** Clock time (ms) at which it fires. */
  readonly due: number;
  cancel(): void;
}

export interface MockClock {
  readonly mode: 'virtual' | 'real';
  /** Milliseconds since the mock was created (virtual: starts at 0 and moves only when told to). */
  now(): number;
  /** Wall-clock time in ms since the epoch (file times): `epoch + now()` for a virtual clock. */
  wallTime(): number;
  /**
   * Moves virtual time forward by `ms`, firing every timer that falls due, in
   * order (each sees now() equal to its due time). Operations issued earlier
   * in the same synchronous run are submitted first, so
   * `const p = ring.sleep(10); mock.clock.advance(10); await p` works.
   * Completions are delivered on the next event-loop turns; `await` the
   * operations, or use tick() for code that reacts to one timer by starting
   * another.
   */
  advance(ms: number): void;
  /**
   * advance() that lets the event loop run after each timer fires, so that
   * operations issued by the code reacting to one timer (a retry loop, a
   * chain of sleeps) are scheduled, and fire, within the same `ms`.
   */
  tick(ms: number): Promise<void>;
  /** Jumps to the next timer and fires it (and any due at the same time); false if there is none. */
  next(): boolean;
  /** Number of pending timers. */
  pending(): number;
  /** Due time of the earliest pending timer, or undefined. */
  nextDue(): number | undefined;
}

interface VTimer extends MockTimer {
  readonly seq: number;
  fn: (() => void) | undefined;
}

const MAX_REAL_DELAY = 0x7fffffff;

/** @internal The clock implementation with the backend's scheduling hooks. */
export class MockClockImpl implements MockClock {
  readonly mode: 'virtual' | 'real';
  readonly #epoch: number;
  readonly #start = performance.now();
  #now = 0;
  #seq = 0;
  /** Virtual timers sorted by (due, seq). */
  #timers: VTimer[] = [];
  /** Real timers (for pending()). */
  #real = new Set<MockTimer>();
  /** Called whenever a timer is scheduled (autoAdvance). */
  onSchedule: (() => void) | undefined;
  /** Submits what rings have staged, so that operations issued just before advance() count (set by the backend). */
  sync: () => void = () => {};
  /** Resolves once the mock has delivered what is ready and the loop has run (set by the backend). */
  settle: () => Promise<void> = () => Promise.resolve();

  constructor(mode: 'virtual' | 'real', epoch: number) {
    this.mode = mode;
    this.#epoch = epoch;
  }

  now(): number {
    return this.mode === 'virtual' ? this.#now : performance.now() - this.#start;
  }

  wallTime(): number {
    return this.mode === 'virtual' ? this.#epoch + this.#now : Date.now();
  }

  #requireVirtual(what: string): void {
    if (this.mode !== 'virtual') throw new Error(`clock.${what}() needs a virtual clock (new MockBackend({ clock: 'virtual' }))`);
  }

  #checkMs(ms: number): void {
    if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
      throw new RangeError(`clock: ms must be a finite number >= 0, received ${String(ms)}`);
    }
  }

  advance(ms: number): void {
    this.#requireVirtual('advance');
    this.#checkMs(ms);
    this.sync();
    const target = this.#now + ms;
    for (;;) {
      const t = this.#timers[0];
      if (t === undefined || t.due > target) break;
      this.#fireFirst();
    }
    this.#now = target;
  }

  async tick(ms: number): Promise<void> {
    this.#requireVirtual('tick');
    this.#checkMs(ms);
    const target = this.#now + ms;
    await this.settle();
    for (;;) {
      const t = this.#timers[0];
      if (t === undefined || t.due > target) break;
      const due = t.due;
      while (this.#timers[0] !== undefined && this.#timers[0].due === due) this.#fireFirst();
      await this.settle();
    }
    this.#now = Math.max(this.#now, target);
    await this.settle();
  }

  next(): boolean {
    this.#requireVirtual('next');
    this.sync();
    const t = this.#timers[0];
    if (t === undefined) return false;
    const due = t.due;
    while (this.#timers[0] !== undefined && this.#timers[0].due === due) this.#fireFirst();
    return true;
  }

  pending(): number {
    return this.mode === 'virtual' ? this.#timers.length : this.#real.size;
  }

  nextDue(): number | undefined {
    if (this.mode === 'virtual') return this.#timers[0]?.due;
    let min: number | undefined;
    for (const t of this.#real) if (min === undefined || t.due < min) min = t.due;
    return min;
  }

  #fireFirst(): void {
    const t = this.#timers.shift()!;
    if (t.due > this.#now) this.#now = t.due;
    const fn = t.fn;
    t.fn = undefined;
    fn?.();
  }

  /** @internal Runs `fn` after `ms` of clock time. */
  schedule(ms: number, fn: () => void): MockTimer {
    if (!(ms >= 0)) ms = 0;
    if (this.mode === 'real') return this.#scheduleReal(ms, fn);
    const t: VTimer = {
      due: this.#now + ms,
      seq: this.#seq++,
      fn,
      cancel: () => {
        if (t.fn === undefined) return;
        t.fn = undefined;
        const i = this.#timers.indexOf(t);
        if (i >= 0) this.#timers.splice(i, 1);
      },
    };
    // Binary search for the insertion point (after every timer due at or before t.due).
    let lo = 0, hi = this.#timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#timers[mid]!.due <= t.due) lo = mid + 1;
      else hi = mid;
    }
    this.#timers.splice(lo, 0, t);
    this.onSchedule?.();
    return t;
  }

  #scheduleReal(ms: number, fn: () => void): MockTimer {
    const due = this.now() + ms;
    let handle: NodeJS.Timeout | undefined;
    const timer: MockTimer = {
      due,
      cancel: () => {
        if (handle !== undefined) clearTimeout(handle);
        handle = undefined;
        this.#real.delete(timer);
      },
    };
    const arm = (): void => {
      const left = due - this.now();
      if (left > MAX_REAL_DELAY) {
        handle = setTimeout(arm, MAX_REAL_DELAY);
      } else {
        handle = setTimeout(() => {
          handle = undefined;
          this.#real.delete(timer);
          fn();
        }, Math.max(0, left));
      }
      // Liveness is the ring's business (its keep-alive handle), as with io_uring.
      handle.unref();
    };
    this.#real.add(timer);
    arm();
    return timer;
  }

  /** @internal Cancels every timer (destroy). */
  clearAll(): void {
    for (const t of this.#timers) t.fn = undefined;
    this.#timers.length = 0;
    for (const t of [...this.#real]) t.cancel();
  }
}
