/**
 * TaskGroup: structured concurrency for promises (in the spirit of Trio
 * nurseries and Python's asyncio.TaskGroup).
 *
 * A group owns the tasks spawned into it. `join()` waits for all of them; the
 * first failure cancels the rest through `group.signal`; every failure is
 * reported, once, by the join that sees the group finish.
 *
 * Rules (see docs/guides/task-group.md for the long form):
 *
 * - Failure vs cancellation. A task that rejects (or throws synchronously)
 *   FAILS, unless, at the moment its rejection is handled, the group's signal
 *   is already aborted and the error is either the signal's `reason` itself or
 *   an abort error (`name === 'AbortError'` or `code === 'ABORT_ERR'`): that
 *   task merely reacted to the cancellation and is counted as cancelled, not
 *   failed. An AbortError raised while the group is NOT cancelled (for example
 *   by the task's own timeout or signal) is a failure.
 * - The first failure aborts `group.signal` with an AbortError whose `cause`
 *   is that failure. `cancel(reason)` and a parent signal abort it too; none of
 *   those make `join()` reject by themselves.
 * - `join()` resolves when no task is running (tasks spawned meanwhile are
 *   waited for as well). If any failure is pending it rejects with an
 *   AggregateError of every pending failure, in the order they happened. The
 *   join that completes closes the group: `spawn` then throws
 *   ERR_TASKGROUP_CLOSED and the group stops following its parent signal.
 * - `join({ timeout })` resolves `false` when the deadline passes first; the
 *   group stays open, the tasks keep running, and failures stay pending for
 *   the next join. With `cancel: true` the deadline aborts the group instead
 *   and the join still waits for every task to settle (so it completes and
 *   closes the group), then resolves `false`, or rejects if a task failed.
 * - Failures are never dropped: each is delivered by exactly one completed
 *   join. A group that becomes unreachable while still holding undelivered
 *   failures (never joined, or abandoned after a timed-out join) reports them
 *   as an unhandled rejection of an AggregateError when it is garbage-collected.
 * - Spawning into a cancelled (but not yet closed) group is allowed: `fn` runs
 *   with the already-aborted signal, so an abort-aware task ends promptly and
 *   counts as cancelled.
 */
import { setMaxListeners } from 'node:events';
import { AbortError, invalidArgType, outOfRange } from '../errors.js';

/** Options for `new TaskGroup()`. */
export interface TaskGroupOptions {
  /** Parent signal: aborting it cancels the group (with the parent's reason). */
  signal?: AbortSignal | undefined;
}

/** Options for `group.join()`. */
export interface JoinOptions {
  /** Milliseconds to wait for the tasks; `join` then resolves `false`. 0 to 2147483647. */
  timeout?: number | undefined;
  /** When the timeout passes: cancel the group and wait for the tasks to settle (default false). */
  cancel?: boolean | undefined;
}

/** A task body: receives the group's signal. */
export type TaskFn<T = unknown> = (signal: AbortSignal) => T | PromiseLike<T>;

/** Thrown by `spawn` when the group has been joined (closed). */
export class TaskGroupClosedError extends Error {
  declare code: 'ERR_TASKGROUP_CLOSED';
  constructor() {
    super('Cannot spawn a task: the TaskGroup has been joined and is closed');
    this.name = 'Error';
    this.code = 'ERR_TASKGROUP_CLOSED';
  }
}

const MAX_TIMER_MS = 2 ** 31 - 1;

interface Waiter {
  resolve: (value: boolean) => void;
  reject: (err: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The deadline passed and `cancel: true` aborted the group: resolve false on completion. */
  timedOut: boolean;
}

/** Undelivered failures of a group, kept apart from it for the GC backstop. */
interface Pending {
  failures: unknown[];
}

function failureError(failures: unknown[], what: string): AggregateError {
  const n = failures.length;
  return new AggregateError(failures, `TaskGroup: ${n} task${n === 1 ? '' : 's'} failed${what}`);
}

/**
 * Groups that become unreachable with failures nobody joined: raise them the
 * way Node raises a rejected promise nobody handled.
 */
const orphans = new FinalizationRegistry<Pending>((pending) => {
  if (pending.failures.length === 0) return;
  const err = failureError(pending.failures.splice(0), ' and the group was garbage-collected without join()');
  void Promise.reject(err);
});

function isAbortLike(err: unknown): boolean {
  if (err === null || (typeof err !== 'object' && typeof err !== 'function')) return false;
  const e = err as { name?: unknown; code?: unknown };
  return e.name === 'AbortError' || e.code === 'ABORT_ERR';
}

export class TaskGroup implements AsyncDisposable {
  readonly #controller = new AbortController();
  readonly #pending: Pending = { failures: [] };
  #waiters: Waiter[] = [];
  #parent: AbortSignal | undefined;
  #onParentAbort: (() => void) | undefined;
  #closed = false;
  #running = 0;
  #spawned = 0;
  #settled = 0;
  #failed = 0;
  #cancelledTasks = 0;

  constructor(options?: TaskGroupOptions) {
    if (options !== undefined && options !== null && typeof options !== 'object') {
      throw invalidArgType('options', 'of type object', options);
    }
    const parent = options?.signal;
    if (parent !== undefined && !(parent instanceof AbortSignal)) {
      throw invalidArgType('options.signal', 'an instance of AbortSignal', parent);
    }
    if (parent !== undefined) {
      if (parent.aborted) {
        this.#controller.abort(parent.reason);
      } else {
        // The listener holds the controller, not the group, so a long-lived
        // parent does not keep an abandoned child group reachable.
        const controller = this.#controller;
        const onAbort = (): void => {
          if (!controller.signal.aborted) controller.abort(parent.reason);
        };
        parent.addEventListener('abort', onAbort, { once: true });
        this.#parent = parent;
        this.#onParentAbort = onAbort;
      }
    }
    // Every task may listen on the shared signal: thousands of listeners are expected, not a leak.
    setMaxListeners(0, this.#controller.signal);
    orphans.register(this, this.#pending, this);
  }

  /** Aborted when the group is cancelled: first failure, `cancel()`, parent abort or `join({ timeout, cancel: true })`. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Tasks currently running. */
  get size(): number {
    return this.#running;
  }

  /** Tasks spawned so far. */
  get spawned(): number {
    return this.#spawned;
  }

  /** Tasks that have settled (fulfilled, failed or cancelled). */
  get settled(): number {
    return this.#settled;
  }

  /** Tasks that failed (see the failure rule above). */
  get failed(): number {
    return this.#failed;
  }

  /** Tasks that rejected because the group was cancelled (not failures). */
  get cancelledTasks(): number {
    return this.#cancelledTasks;
  }

  /** `group.signal.aborted`. */
  get cancelled(): boolean {
    return this.#controller.signal.aborted;
  }

  /** A join completed: `spawn` throws ERR_TASKGROUP_CLOSED. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs `fn(group.signal)` now and tracks it. Returns the task's promise,
   * already handled: ignoring it never causes an unhandled rejection (the
   * failure is reported by `join()`). A synchronous throw is a failure too,
   * reported the same way (spawn itself does not throw it).
   */
  spawn<T>(fn: TaskFn<T>): Promise<T> {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    if (this.#closed) throw new TaskGroupClosedError();
    return this.#start(fn);
  }

  /** `spawn` for each function (all are checked before any runs); returns their promises in order. */
  spawnAll<const F extends readonly TaskFn[]>(...fns: F): { -readonly [K in keyof F]: Promise<Awaited<ReturnType<F[K]>>> } {
    for (let i = 0; i < fns.length; i++) {
      if (typeof fns[i] !== 'function') throw invalidArgType(`fns[${i}]`, 'of type function', fns[i]);
    }
    if (this.#closed) throw new TaskGroupClosedError();
    const out: Promise<unknown>[] = [];
    for (const fn of fns) out.push(this.#start(fn));
    return out as { -readonly [K in keyof F]: Promise<Awaited<ReturnType<F[K]>>> };
  }

  /** Aborts `group.signal` (default reason: an AbortError). Running tasks are not awaited here; use `join()`. */
  cancel(reason?: unknown): void {
    if (this.#controller.signal.aborted) return;
    this.#controller.abort(reason !== undefined ? reason : new AbortError('The task group was cancelled'));
  }

  /**
   * Waits until no task is running, including tasks spawned while waiting,
   * then closes the group. Rejects with an AggregateError of every failure not
   * yet delivered; resolves otherwise (cancellation alone is not an error).
   *
   * With `timeout`: resolves `true` when the tasks finished in time, `false`
   * when the deadline passed first (tasks keep running, group stays open), or,
   * with `cancel: true`, aborts the group at the deadline, waits for every
   * task to settle and resolves `false` (rejects if some task failed).
   * The deadline is a plain (ref'd) timer: like any pending timer it keeps
   * the process alive until it fires or the join completes.
   */
  join(): Promise<void>;
  join(options: JoinOptions): Promise<boolean>;
  join(options?: JoinOptions): Promise<boolean | void> {
    const withOptions = options !== undefined;
    if (withOptions && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'of type object', options);
    }
    const timeout = options?.timeout;
    const cancel = options?.cancel;
    if (timeout !== undefined) {
      if (typeof timeout !== 'number') throw invalidArgType('options.timeout', 'of type number', timeout);
      if (!(timeout >= 0 && timeout <= MAX_TIMER_MS)) {
        throw outOfRange('options.timeout', `>= 0 && <= ${MAX_TIMER_MS}`, timeout);
      }
    }
    if (cancel !== undefined && typeof cancel !== 'boolean') {
      throw invalidArgType('options.cancel', 'of type boolean', cancel);
    }
    const done = new Promise<boolean>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined, timedOut: false };
      this.#waiters.push(waiter);
      if (this.#running === 0) {
        this.#complete();
        return;
      }
      if (timeout !== undefined) {
        waiter.timer = setTimeout(() => {
          waiter.timer = undefined;
          if (cancel === true) {
            waiter.timedOut = true;
            if (!this.#controller.signal.aborted) {
              this.#controller.abort(new AbortError(`The task group join timed out after ${timeout} ms`));
            }
          } else {
            this.#waiters = this.#waiters.filter((w) => w !== waiter);
            resolve(false);
          }
        }, timeout);
      }
    });
    return withOptions ? done : done.then(() => undefined);
  }

  /** `await using group = new TaskGroup()`: at scope exit, `join()` (see the guide for exceptions in the scope). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.join();
  }

  #start<T>(fn: TaskFn<T>): Promise<T> {
    this.#running++;
    this.#spawned++;
    let task: Promise<T>;
    try {
      task = Promise.resolve(fn(this.#controller.signal));
    } catch (err) {
      task = Promise.reject(err);
    }
    task.then(() => this.#settle(false, undefined), (err: unknown) => this.#settle(true, err));
    return task;
  }

  #settle(rejected: boolean, err: unknown): void {
    this.#running--;
    this.#settled++;
    if (rejected) {
      const signal = this.#controller.signal;
      if (signal.aborted && (err === signal.reason || isAbortLike(err))) {
        this.#cancelledTasks++;
      } else {
        this.#failed++;
        this.#pending.failures.push(err);
        if (!signal.aborted) {
          this.#controller.abort(new AbortError('The task group was cancelled because a task failed', { cause: err }));
        }
      }
    }
    if (this.#running === 0) this.#complete();
  }

  /** No task is running: settle every waiting join and close the group (if someone is joining). */
  #complete(): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    this.#waiters = [];
    this.#closed = true;
    if (this.#parent !== undefined) {
      this.#parent.removeEventListener('abort', this.#onParentAbort!);
      this.#parent = undefined;
      this.#onParentAbort = undefined;
    }
    orphans.unregister(this);
    const failures = this.#pending.failures.splice(0);
    const error = failures.length > 0 ? failureError(failures, '') : undefined;
    for (const w of waiters) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      if (error !== undefined) w.reject(error);
      else w.resolve(!w.timedOut);
    }
  }
}
