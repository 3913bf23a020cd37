/**
 * Notifier: a cross-thread wake-up that rides the owner's io_uring.
 *
 * A Notifier is created on one thread (its owner) and waited on there; any
 * thread may signal it. The wake-up is an IORING_OP_MSG_RING posted by the
 * signalling thread's own ring straight into the owner ring's completion
 * queue, with a reserved tag (RESERVED_TAG + 1) and the notifier's id as the
 * value; the owner ring dispatches it to the notifier like any completion.
 *
 * Why msg_ring rather than a registered eventfd per notifier: no extra file
 * descriptor, no extra uv_poll handle and no extra syscall on the owner side:
 * the wake-up arrives on the ring the owner's event loop already polls,
 * reaped in the same batch as its I/O completions.
 *
 * Coalescing: one 32-bit word in a SharedArrayBuffer (shared by the owner and
 * every revived handle) says whether a wake-up is outstanding:
 *   0 = none, 1 = a wake-up was sent and not yet consumed, 2 = closed.
 *  - `signal()` sends a message only when it moves the word from 0 to 1
 *    (Atomics.compareExchange); otherwise the signal is absorbed by the wake-up
 *    already outstanding.
 *  - The owner consumes the wake-up when a `wait()` resolves because of it
 *    (immediately, if it had arrived before the wait), and only then stores 0.
 *  So any number of signals made between two consumptions produce exactly one
 *  message and one wake; a signal made after a consumption produces a new
 *  one. No signal is lost: a signal that finds 1 happened before the
 *  consumption of the wake-up that absorbs it (sequentially consistent
 *  atomics), so whatever the signaller wrote before signal() is visible to
 *  the owner after that `wait()` resolves. Wakes may be spurious (the state
 *  you check may already have been consumed by an earlier wake): re-check it.
 */
import { AbortError, invalidArgType, invalidArgValue } from '../errors.js';
import { Ring } from '../ops/methods.js';
import { RESERVED_TAG, ringInternals, type RingHandle } from '../ring/ring.js';

/** The reserved message tag of notifier wake-ups (value = notifier id). */
export const NOTIFY_TAG = RESERVED_TAG + 1;

const IDLE = 0;
const SENT = 1;
const CLOSED = 2;

/** A Notifier in transferable form: plain data plus a SharedArrayBuffer. Pass it with postMessage. */
export interface NotifierHandle {
  readonly type: 'uringkit:notifier';
  /** The owner's ring. */
  readonly ring: RingHandle;
  /** The notifier's id on the owner's ring. */
  readonly id: number;
  /** The coalescing state (Int32 words); `index` selects the word. */
  readonly state: SharedArrayBuffer;
  readonly index: number;
}

/** Thrown by operations on a closed notifier; rejects its pending waits. */
export class NotifierClosedError extends Error {
  declare code: 'ERR_NOTIFIER_CLOSED';
  constructor() {
    super('The notifier is closed');
    this.name = 'Error';
    this.code = 'ERR_NOTIFIER_CLOSED';
  }
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Per ring (of this thread): the notifiers it owns, by id. */
const owned = new WeakMap<Ring, { next: number; byId: Map<number, Notifier> }>();

function registry(ring: Ring): { next: number; byId: Map<number, Notifier> } {
  let r = owned.get(ring);
  if (r === undefined) {
    const reg = { next: 1, byId: new Map<number, Notifier>() };
    r = reg;
    owned.set(ring, reg);
    ringInternals().onTag(ring, NOTIFY_TAG, (value) => reg.byId.get(value)?.[kDeliver]());
  }
  return r;
}

const kDeliver = Symbol('uringkit.notifier.deliver');
const kInternal = Symbol('uringkit.notifier.internal');

/** @internal Lets Channel put a notifier's state word inside its own shared control block. */
export interface NotifierStateSlot {
  state: SharedArrayBuffer;
  index: number;
}

function checkHandle(h: unknown): NotifierHandle {
  const x = h as Partial<NotifierHandle> | null;
  if (x === null || typeof x !== 'object' || x.type !== 'uringkit:notifier' || typeof x.id !== 'number' ||
    !(x.state instanceof SharedArrayBuffer) || typeof x.index !== 'number' || x.ring === null ||
    typeof x.ring !== 'object' || typeof x.ring.id !== 'number') {
    throw invalidArgType('handle', 'a NotifierHandle (notifier.handle)', h);
  }
  if (!Number.isInteger(x.index) || x.index < 0 || (x.index + 1) * 4 > x.state.byteLength) {
    throw invalidArgValue('handle.index', x.index, 'is outside handle.state');
  }
  return x as NotifierHandle;
}

/** @internal A notifier owned by this thread whose coalescing word lives in `slot` (Channel). */
export function ownedNotifierAt(slot: NotifierStateSlot): Notifier {
  return new Notifier(undefined, kInternal, undefined, slot);
}

/** See the module comment. */
export class Notifier {
  readonly #handle: NotifierHandle;
  readonly #word: Int32Array;
  readonly #index: number;
  /** The owner's ring (undefined for a handle revived on another thread). */
  readonly #ring: Ring | undefined;
  /** A wake-up arrived and no wait() has consumed it yet. */
  #pending = false;
  #waiters: Waiter[] = [];
  #held = false;
  #closed = false;
  #sent = 0;
  #wakes = 0;

  /**
   * Creates a notifier owned by this thread (its `Ring.current()`, or
   * `options.ring`). Only the owner may `wait()`.
   */
  constructor(options?: { ring?: Ring });
  /** @internal */
  constructor(options: { ring?: Ring } | undefined, internal: typeof kInternal, revive?: NotifierHandle,
    slot?: NotifierStateSlot);
  constructor(options?: { ring?: Ring }, internal?: typeof kInternal, revive?: NotifierHandle,
    slot?: NotifierStateSlot) {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'of type object', options);
    }
    if (internal === kInternal && revive !== undefined) {
      this.#handle = revive;
      this.#ring = undefined;
    } else {
      const ring = options?.ring ?? Ring.current();
      if (!(ring instanceof Ring)) throw invalidArgType('options.ring', 'a Ring', ring);
      const reg = registry(ring);
      const id = reg.next++;
      const state = internal === kInternal && slot !== undefined ? slot.state : new SharedArrayBuffer(4);
      const index = internal === kInternal && slot !== undefined ? slot.index : 0;
      this.#handle = Object.freeze({ type: 'uringkit:notifier', ring: ring.handle, id, state, index });
      this.#ring = ring;
      reg.byId.set(id, this);
      Atomics.store(new Int32Array(state), index, IDLE);
    }
    this.#word = new Int32Array(this.#handle.state);
    this.#index = this.#handle.index;
  }

  /** Revives a handle made on another thread: the result can `signal()` (not `wait()`). */
  static from(handle: NotifierHandle): Notifier {
    const h = checkHandle(handle);
    // On the owner's own thread, from() gives back the owner object (a cloned
    // handle carries another SharedArrayBuffer object over the same memory).
    const own = owned.get(Ring.current())?.byId.get(h.id);
    if (own !== undefined && own.#handle.ring.id === h.ring.id && own.#handle.index === h.index) return own;
    return new Notifier(undefined, kInternal, h);
  }

  /** The transferable form (plain data + a SharedArrayBuffer); pass it with postMessage. */
  get handle(): NotifierHandle {
    return this.#handle;
  }

  /** Same as `handle` (so a Notifier inside JSON-like data is sent as its handle). */
  toJSON(): NotifierHandle {
    return this.#handle;
  }

  /** True on the thread that created it (the one that may wait). */
  get isOwner(): boolean {
    return this.#ring !== undefined;
  }

  /** Closed by the owner (signals are ignored; waits reject). */
  get closed(): boolean {
    return this.#closed || Atomics.load(this.#word, this.#index) === CLOSED;
  }

  /** Owner only: a wake-up has arrived that no wait() has consumed yet. */
  get pending(): boolean {
    return this.#pending;
  }

  /** Counters: wake-up messages this object sent; wakes its owner delivered (owner only). */
  stats(): { sent: number; wakes: number } {
    return { sent: this.#sent, wakes: this.#wakes };
  }

  /**
   * Wakes the owner's `wait()` (now, or the next one). Callable from any
   * thread; coalesced (see the module comment). Returns true when this call
   * sent a wake-up message, false when it was absorbed by one outstanding or
   * the notifier is closed.
   */
  signal(): boolean {
    const word = this.#word;
    if (Atomics.compareExchange(word, this.#index, IDLE, SENT) !== IDLE) return false;
    this.#sent++;
    if (this.#ring !== undefined) {
      // The owner itself: no message, deliver on a microtask (still asynchronous).
      queueMicrotask(() => this[kDeliver]());
      return true;
    }
    const h = this.#handle;
    ringInternals().sendTag(Ring.current(), h.ring, NOTIFY_TAG, h.id).catch((err: unknown) => {
      if ((err as { code?: string }).code === 'ERR_RING_CLOSED') return; // the owner is gone
      // Not delivered: re-arm so that a later signal tries again, and say so.
      Atomics.compareExchange(word, this.#index, SENT, IDLE);
      process.emitWarning(`uringkit: a Notifier wake-up could not be delivered: ${(err as Error).message}`,
        { code: 'UK_NOTIFY_FAILED' });
    });
    return true;
  }

  /**
   * Owner only: resolves at the next wake (at once if a wake-up already
   * arrived unconsumed). Several concurrent waits are all released by one
   * wake. While a wait is pending the event loop is kept alive. `signal`
   * aborts the wait (AbortError).
   */
  wait(options?: { signal?: AbortSignal }): Promise<void> {
    const ring = this.#ring;
    if (ring === undefined) {
      return Promise.reject(Object.assign(new Error('Only the thread that created a Notifier can wait() on it'),
        { code: 'ERR_NOTIFIER_NOT_OWNER' }));
    }
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'of type object', options);
    }
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
    }
    if (this.#closed) return Promise.reject(new NotifierClosedError());
    if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
    if (this.#pending) {
      this.#consume();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        w.onAbort = () => {
          const i = this.#waiters.indexOf(w);
          if (i < 0) return;
          this.#waiters.splice(i, 1);
          this.#updateHold();
          reject(new AbortError(undefined, { cause: signal.reason }));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.#waiters.push(w);
      this.#updateHold();
    });
  }

  /**
   * Owner only: stops the notifier. Pending and later waits reject with
   * ERR_NOTIFIER_CLOSED; signals from any thread become no-ops. Idempotent.
   */
  close(): void {
    if (this.#ring === undefined) throw Object.assign(new Error('Only the thread that created a Notifier can close it'),
      { code: 'ERR_NOTIFIER_NOT_OWNER' });
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#word, this.#index, CLOSED);
    owned.get(this.#ring)?.byId.delete(this.#handle.id);
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#updateHold();
    for (const w of waiters) {
      if (w.onAbort !== undefined) w.signal!.removeEventListener('abort', w.onAbort);
      w.reject(new NotifierClosedError());
    }
  }

  [Symbol.dispose](): void {
    if (this.#ring !== undefined) this.close();
  }

  /** A wake-up message arrived (owner thread). */
  [kDeliver](): void {
    if (this.#closed) return;
    this.#pending = true;
    if (this.#waiters.length > 0) this.#consume();
  }

  /** Consumes the outstanding wake-up: re-arms signalling, then releases every waiter. */
  #consume(): void {
    this.#pending = false;
    this.#wakes++;
    Atomics.compareExchange(this.#word, this.#index, SENT, IDLE);
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    this.#waiters = [];
    this.#updateHold();
    for (const w of waiters) {
      if (w.onAbort !== undefined) w.signal!.removeEventListener('abort', w.onAbort);
      w.resolve();
    }
  }

  #updateHold(): void {
    const want = this.#waiters.length > 0;
    if (want === this.#held) return;
    this.#held = want;
    ringInternals().hold(this.#ring!, want);
  }
}
