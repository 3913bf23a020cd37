/**
 * The async iterator of a multishot operation (poll, later accept and recv).
 * Values arrive from the ring's completion dispatch; `return()` (a `break`
 * out of `for await`) cancels the operation in the kernel. The slot, and all
 * it pins, stays alive until the operation's final CQE.
 */
export interface MultishotControl {
  cancel(): void;
  setRef(on: boolean): void;
}

export class MultishotIterator<T> implements AsyncIterableIterator<T> {
  #queue: T[] = [];
  #head = 0;
  #resolve: ((r: IteratorResult<T>) => void) | undefined;
  #reject: ((e: unknown) => void) | undefined;
  #error: Error | undefined;
  #done = false;
  #control: MultishotControl | undefined;
  readonly #onDrop: ((value: T) => void) | undefined;
  readonly #highWaterMark: number;

  /**
   * @param onDrop called for every value still queued (or arriving) after the
   *   iteration was stopped, e.g. to close accepted fds nobody will take.
   * @param highWaterMark when more values than this wait unread, the
   *   operation is stopped (see stop()): the consumer drains, then re-arms.
   */
  constructor(onDrop?: (value: T) => void, highWaterMark = Infinity) {
    this.#onDrop = onDrop;
    this.#highWaterMark = highWaterMark;
  }

  /** @internal */
  attach(control: MultishotControl): void {
    this.#control = control;
  }

  /** @internal A value from a CQE. */
  push(value: T): void {
    if (this.#done) {
      this.#onDrop?.(value);
      return;
    }
    const resolve = this.#resolve;
    if (resolve) {
      this.#resolve = this.#reject = undefined;
      resolve({ value, done: false });
    } else {
      this.#queue.push(value);
      if (this.#queue.length - this.#head > this.#highWaterMark) this.stop();
    }
  }

  /** @internal The final CQE: ends the iteration, with an error or not. */
  end(error?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#control = undefined;
    if (error) this.#error = error;
    const resolve = this.#resolve, reject = this.#reject;
    this.#resolve = this.#reject = undefined;
    if (resolve && this.#head === this.#queue.length) {
      if (error) reject!(error);
      else resolve({ value: undefined, done: true });
      this.#error = undefined;
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head++]!;
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0;
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#error) {
      const e = this.#error;
      this.#error = undefined;
      return Promise.reject(e);
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    if (this.#resolve) return Promise.reject(new Error('next() called while a previous next() is pending'));
    return new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Stops the operation (cancelled in the kernel) and ends the iteration. */
  return(): Promise<IteratorResult<T>> {
    const control = this.#control;
    if (this.#onDrop !== undefined) {
      for (let i = this.#head; i < this.#queue.length; i++) this.#onDrop(this.#queue[i]!);
    }
    this.#queue.length = 0;
    this.#head = 0;
    this.#error = undefined;
    if (!this.#done) {
      this.#done = true;
      this.#control = undefined;
      const resolve = this.#resolve;
      this.#resolve = this.#reject = undefined;
      control?.cancel();
      resolve?.({ value: undefined, done: true });
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Values received and not yet taken. */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Stops the operation (cancelled in the kernel) but keeps what was already
   * received: next() delivers the queued values, then ends. For backpressure.
   */
  stop(): void {
    const control = this.#control;
    this.#control = undefined;
    control?.cancel();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** This operation stops keeping the event loop alive (as `server.unref()`). */
  unref(): this {
    this.#control?.setRef(false);
    return this;
  }

  ref(): this {
    this.#control?.setRef(true);
    return this;
  }
}
