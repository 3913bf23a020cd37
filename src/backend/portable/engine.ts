/**
 * The portable backend's completion engine: one PortableRing per Ring, the
 * in-flight operation table, the completion queue JavaScript reaps, linked
 * and separate deadline timers, cancellation and liveness.
 *
 * Completion rules (the same as io_uring's, which Ring relies on):
 *  - exactly one final CQE per operation (multishot ones post F_MORE CQEs
 *    before it);
 *  - one LINK_TIMEOUT CQE per operation staged with a linked deadline:
 *    -ETIME when it fired (the operation then ends with -ECANCELED), -ECANCELED
 *    when the operation ended first, -EALREADY when the operation could not
 *    be stopped (work already running in libuv's thread pool);
 *  - a separate deadline timer (DescFlag.SEPARATE_TIMER) posts -ETIME when it
 *    fires and -ECANCELED when a kind-1 CANCEL removes it;
 *  - one CQE per CANCEL: 0 (cancelled), -ENOENT (not found), -EALREADY
 *    (running, cannot be stopped).
 *
 * Completions posted while the backend is inside flush() are returned by that
 * flush; others are delivered by one microtask per batch that calls Ring's
 * onWake (never re-entrantly: Ring's drive is synchronous). A multishot
 * operation's intermediate CQEs (F_MORE: received data, accepted connections,
 * poll events) are handed over once per event-loop turn, from one
 * setImmediate after the I/O callbacks of that turn (the check phase of the
 * same loop iteration): fifty sockets readable at once are one dispatch, not
 * fifty. Any other completion hands over everything queued at once, in order.
 */
import os from 'node:os';

import { NativeStat } from '../protocol.js';
import { Cqe, Kind, stageF64 } from '../protocol.js';

export const E = os.constants.errno;
export const IORING_CQE_F_MORE = 1 << 1;
export const IORING_CQE_F_BUFFER = 1 << 0;
export const IORING_CQE_F_NOTIF = 1 << 3;
export const IORING_CQE_BUFFER_SHIFT = 16;
const RESOLVED = Promise.resolve();

/** Node/libuv error → negative Linux-style errno (by name: libuv's numbers differ off Linux). */
export function errnoOf(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const n = (E as Record<string, number | undefined>)[code];
    if (typeof n === 'number') return -n;
  }
  const errno = (err as { errno?: unknown } | null)?.errno;
  if (typeof errno === 'number' && errno < 0) return errno;
  return -E.EIO;
}

/** The longest delay one Node timer takes (longer ones would fire after 1 ms). */
const MAX_TIMER_MS = 0x7fffffff;

/**
 * An unref'd timer for any finite delay: delays past Node's 2^31-1 ms limit
 * are reached in steps. Returns the function that cancels it.
 */
export function timer(ms: number, fn: () => void): () => void {
  let t: NodeJS.Timeout;
  const arm = (left: number): void => {
    if (left > MAX_TIMER_MS) t = setTimeout(() => arm(left - MAX_TIMER_MS), MAX_TIMER_MS);
    else t = setTimeout(fn, left);
    t.unref();
  };
  arm(ms);
  return () => clearTimeout(t);
}

/** One operation in flight. */
export class Op {
  done = false;
  /** Whether a cancel (or a linked deadline) can still stop it. */
  cancellable = true;
  /** A cancel or linked deadline came while it was not cancellable: honoured where it would next wait (fd-reads.ts). */
  interrupted = false;
  /** 0: no deadline, 1: linked timeout, 2: separate timer. */
  link = 0;
  /** Cancels the linked deadline's timer. */
  linkTimer: (() => void) | undefined = undefined;
  /** Stops whatever the operation waits on (a timer, a socket queue); called once, on completion. */
  detach: (() => void) | undefined = undefined;

  constructor(readonly r: PortableRing, readonly slot: number, readonly hi: number, readonly code: number,
    readonly fd: number, readonly multishot: boolean) {}

  /** The final CQE (idempotent), with `flags` (a limited multishot recv's last buffer). */
  complete(res: number, linkRes = -E.ECANCELED, flags = 0): void {
    if (this.done) return;
    this.done = true;
    const r = this.r;
    if (r.pending.get(this.slot) === this) r.pending.delete(this.slot);
    const d = this.detach;
    if (d !== undefined) {
      this.detach = undefined;
      d();
    }
    if (r.destroyed) return;
    r.post(this.slot, this.hi, res, flags);
    if (this.link === 1) {
      this.linkTimer?.();
      this.linkTimer = undefined;
      r.post(this.slot, (this.hi & ~3) | Kind.LINK_TIMEOUT, linkRes, 0);
    }
    r.wake();
  }

  /** A multishot operation's intermediate CQE (IORING_CQE_F_MORE, plus `flags`). */
  more(res: number, flags = 0): void {
    if (this.done || this.r.destroyed) return;
    this.r.post(this.slot, this.hi, res, IORING_CQE_F_MORE | flags);
    this.r.wakeSoon();
  }

  /**
   * A zero-copy send's two CQEs: the result (F_MORE), then the notification
   * (F_NOTIF) that ends it. Both at once: the bytes were handed to the kernel.
   */
  completeZc(res: number): void {
    if (this.done) return;
    this.more(res);
    this.done = true;
    const r = this.r;
    if (r.pending.get(this.slot) === this) r.pending.delete(this.slot);
    if (r.destroyed) return;
    r.post(this.slot, this.hi, 0, IORING_CQE_F_NOTIF);
    if (this.link === 1) {
      this.linkTimer?.();
      this.linkTimer = undefined;
      r.post(this.slot, (this.hi & ~3) | Kind.LINK_TIMEOUT, -E.ECANCELED, 0);
    }
    r.wake();
  }
}

/**
 * A provided-buffer ring (IORING_REGISTER_PBUF_RING emulated): `count`
 * buffers of `size` bytes in `memory`; a multishot recv fills a free one and
 * names it in its CQE; PBUF_RECYCLE hands it back.
 */
export class BufRing {
  /** Free buffer ids, a stack (the most recently recycled, still cache-warm, is used next). */
  readonly free: number[] = [];
  /** isFree[bid] === 1 while `bid` is in `free` (recycling checks it in O(1), not by scanning `free`). */
  readonly #isFree: Uint8Array;

  constructor(readonly memory: Uint8Array, readonly size: number, readonly count: number) {
    this.#isFree = new Uint8Array(count).fill(1);
    this.#views = new Array<Uint8Array | undefined>(count).fill(undefined);
    for (let i = count - 1; i >= 0; i--) this.free.push(i);
  }

  /** Takes a free buffer; undefined when none is free. */
  take(): number | undefined {
    const bid = this.free.pop();
    if (bid !== undefined) this.#isFree[bid] = 0;
    return bid;
  }

  /** Hands `bid` back (PBUF_RECYCLE); ids out of range or already free are ignored. */
  recycle(bid: number): void {
    if (bid >= 0 && bid < this.count && this.#isFree[bid] === 0) {
      this.#isFree[bid] = 1;
      this.free.push(bid);
    }
  }

  /** Buffer `bid`'s bytes (one view per buffer, made on first use and kept: the memory never moves). */
  view(bid: number): Uint8Array {
    return (this.#views[bid] ??= this.memory.subarray(bid * this.size, (bid + 1) * this.size));
  }

  readonly #views: (Uint8Array | undefined)[];
}

/**
 * The operations in flight of one ring, by slot: a Map's get/set/delete
 * over an array indexed by slot (Ring's slots are small dense integers), so
 * the per-operation bookkeeping costs no hashing. A slot outside
 * [0, SlotOps.DENSE) is kept in a Map.
 */
export class SlotOps {
  static readonly DENSE = 1 << 20;
  readonly #dense: (Op | undefined)[] = [];
  #sparse: Map<number, Op> | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(slot: number): Op | undefined {
    if (slot >= 0 && slot < SlotOps.DENSE) return slot < this.#dense.length ? this.#dense[slot] : undefined;
    return this.#sparse?.get(slot);
  }

  set(slot: number, op: Op): this {
    if (slot >= 0 && slot < SlotOps.DENSE) {
      const d = this.#dense;
      // Grown one slot at a time from the end (Ring's slots are dense), so the array stays packed.
      while (d.length < slot) d.push(undefined);
      if (d[slot] === undefined) this.#size++;
      d[slot] = op;
    } else {
      const m = (this.#sparse ??= new Map());
      if (!m.has(slot)) this.#size++;
      m.set(slot, op);
    }
    return this;
  }

  delete(slot: number): boolean {
    if (slot >= 0 && slot < SlotOps.DENSE) {
      const d = this.#dense;
      if (slot >= d.length || d[slot] === undefined) return false;
      d[slot] = undefined;
      this.#size--;
      return true;
    }
    if (this.#sparse?.delete(slot) !== true) return false;
    this.#size--;
    return true;
  }

  *values(): IterableIterator<Op> {
    for (const op of this.#dense) if (op !== undefined) yield op;
    if (this.#sparse !== undefined) yield* this.#sparse.values();
  }

  clear(): void {
    this.#dense.fill(undefined);
    this.#sparse?.clear();
    this.#size = 0;
  }
}

/** A ring created on the portable backend (the handle Ring holds). */
export class PortableRing {
  readonly outCap: number;
  /** The stage's float64 view (deadlines, offsets), made once rather than per flush. */
  readonly stageF64: Float64Array;
  readonly stageCap: number;
  /**
   * Completions posted, not yet copied out: flat [slot, hi, res, flags] words
   * in ready[readyHead, readyTail). Grows by doubling; never truncated (no
   * array-length writes on the hot path), the indices rewind when it empties.
   */
  ready = new Int32Array(256);
  readyHead = 0;
  readyTail = 0;
  /** Operations in flight, by slot. */
  readonly pending = new SlotOps();
  /** Armed separate deadline timers, by slot: they outlive their operation. */
  readonly timers = new Map<number, { hi: number; cancel: () => void }>();
  flushing = false;
  destroyed = false;
  #wakeQueued = false;
  /** Keeps the event loop alive while Ring wants it (turn[1]); ref'd only then. */
  readonly #keepalive: NodeJS.Timeout;
  /** Provided-buffer rings (registerBufRing), by group id. */
  readonly bufRings = new Map<number, BufRing>();
  /** Ring-to-ring message id (0: not registered). */
  id = 0;
  detachMessages: (() => void) | undefined;

  constructor(readonly stage: Int32Array, readonly out: Int32Array, readonly stats: Float64Array,
    readonly turn: Int32Array, readonly onWake: () => void, readonly sqEntries: number,
    readonly cqEntries: number, readonly setupFlags: number) {
    this.stageF64 = stageF64(stage);
    this.outCap = Math.floor(out.length / Cqe.WORDS);
    this.stageCap = Math.floor((stage.length - 16) / 16);
    // The un-ref is lazy (as the addon's uv_prepare hook): checked here and after each wake.
    this.#keepalive = setInterval(() => this.checkRef(), 50);
    this.#keepalive.unref();
  }

  get queued(): number {
    return (this.readyTail - this.readyHead) >> 2;
  }

  /** Queues a completion; the caller then calls wake() (once for a batch). */
  post(slot: number, hi: number, res: number, flags: number): void {
    let t = this.readyTail;
    let ready = this.ready;
    if (t + 4 > ready.length) {
      // Full: move the unread words to the front, doubling when more than half is unread.
      const h = this.readyHead;
      const live = t - h;
      const next = live + 4 > ready.length >> 1 ? new Int32Array(ready.length * 2) : ready;
      if (next === ready) ready.copyWithin(0, h, t);
      else next.set(ready.subarray(h, t));
      this.ready = ready = next;
      this.readyHead = 0;
      t = live;
    }
    ready[t] = slot;
    ready[t + 1] = hi;
    ready[t + 2] = res;
    ready[t + 3] = flags;
    this.readyTail = t + 4;
  }

  /**
   * Hands queued completions to Ring: nothing inside flush() (the flush
   * returns them), directly from an I/O callback (Ring dispatches inside
   * the callback's scope; microtasks run after it), or from a microtask when
   * Ring is dispatching this ring's completions right now (never re-entrant).
   */
  wake(): void {
    if (this.flushing || this.queued === 0) return;
    if (this.#waking) {
      if (!this.#wakeQueued) {
        this.#wakeQueued = true;
        void RESOLVED.then(this.#wakeLater);
      }
      return;
    }
    this.#wakeNow();
  }

  /** The pending once-per-turn hand-over of wakeSoon(). */
  #soon: NodeJS.Immediate | undefined;

  /**
   * wake(), batched: the completions queued during this loop iteration's I/O
   * callbacks are handed to Ring together, from the check phase of the same
   * iteration (before any timer of the next one). Inside flush() or while
   * Ring dispatches, as wake().
   */
  wakeSoon(): void {
    if (this.flushing || this.#waking) return this.wake();
    if (this.#soon === undefined && !this.destroyed) this.#soon = setImmediate(this.#wakeSoonNow);
  }

  readonly #wakeSoonNow = (): void => {
    this.#soon = undefined;
    this.wake();
  };

  #waking = false;

  readonly #wakeLater = (): void => {
    this.#wakeQueued = false;
    if (!this.#waking && this.queued > 0) this.#wakeNow(false);
  };

  #wakeNow(retry = true): void {
    if (this.destroyed) return;
    // A wake from I/O is a new event-loop callback: count it as a turn for Ring's fairness budget.
    this.turn[0] = (this.turn[0]! + 1) | 0;
    this.#waking = true;
    try {
      this.onWake();
    } finally {
      this.#waking = false;
    }
    // Ring was already dispatching (its own flush turn) and left these: once more, after it.
    // (Past its fairness budget Ring schedules its own later turn, whose flush returns them.)
    if (retry && this.queued > 0 && !this.#wakeQueued) {
      this.#wakeQueued = true;
      void RESOLVED.then(this.#wakeLater);
    }
    this.checkRef();
  }

  /** Copies ready completions into `out`; returns how many. */
  deliver(): number {
    const avail = this.queued;
    const n = avail < this.outCap ? avail : this.outCap;
    if (n > 0) {
      const out = this.out;
      const ready = this.ready;
      let h = this.readyHead;
      const words = n << 2;
      for (let k = 0; k < words; k++) out[k] = ready[h++]!;
      if (h === this.readyTail) {
        this.readyHead = 0;
        this.readyTail = 0;
      } else {
        this.readyHead = h;
      }
      this.stats[NativeStat.REAP_BATCHES]! += 1;
    }
    return n;
  }

  setRef(on: boolean): void {
    this.turn[2] = on ? 1 : 0;
    if (on) this.#keepalive.ref();
    else this.#keepalive.unref();
  }

  checkRef(): void {
    if (this.turn[2] === 1 && this.turn[1] === 0) this.setRef(false);
  }

  /** Arms a linked (1) or separate (2) deadline for `op`. */
  arm(op: Op, kind: number, ms: number): void {
    op.link = kind;
    if (kind === 2) {
      const slot = op.slot;
      const hi = op.hi;
      this.timers.set(slot, { hi, cancel: timer(ms, () => this.#separateFired(slot, hi)) });
      return;
    }
    op.linkTimer = timer(ms, () => {
      op.linkTimer = undefined;
      if (op.done) return;
      if (!op.cancellable) {
        // The deadline could not stop it: say so; the operation completes on its own.
        op.interrupted = true;
        op.link = 0;
        this.post(op.slot, (op.hi & ~3) | Kind.LINK_TIMEOUT, -E.EALREADY, 0);
        this.wake();
        return;
      }
      op.complete(-E.ECANCELED, -E.ETIME);
    });
  }

  #separateFired(slot: number, hi: number): void {
    const t = this.timers.get(slot);
    if (t === undefined || t.hi !== hi) return;
    this.timers.delete(slot);
    this.post(slot, (hi & ~3) | Kind.LINK_TIMEOUT, -E.ETIME, 0);
    this.wake();
  }

  /** ASYNC_CANCEL aimed at (targetSlot, targetHi); posts the cancel's own CQE. */
  cancel(slot: number, hi: number, targetSlot: number, targetHi: number): void {
    let res: number;
    if ((targetHi & 3) === Kind.LINK_TIMEOUT) {
      const t = this.timers.get(targetSlot);
      if (t !== undefined && ((t.hi & ~3) | Kind.LINK_TIMEOUT) === targetHi) {
        t.cancel();
        this.timers.delete(targetSlot);
        this.post(targetSlot, targetHi, -E.ECANCELED, 0);
        res = 0;
      } else res = -E.ENOENT;
    } else {
      const op = this.pending.get(targetSlot);
      if (op === undefined || op.hi !== targetHi || op.done) res = -E.ENOENT;
      else if (!op.cancellable) {
        op.interrupted = true;
        res = -E.EALREADY;
      }
      else {
        op.complete(-E.ECANCELED);
        res = 0;
      }
    }
    this.post(slot, (hi & ~3) | Kind.CANCEL, res, 0);
    this.wake();
  }

  destroy(): void {
    this.destroyed = true;
    clearInterval(this.#keepalive);
    if (this.#soon !== undefined) clearImmediate(this.#soon);
    this.#soon = undefined;
    this.turn[2] = 0;
    for (const op of [...this.pending.values()]) {
      op.done = true;
      op.linkTimer?.();
      const d = op.detach;
      op.detach = undefined;
      d?.();
    }
    this.pending.clear();
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
    this.detachMessages?.();
  }
}
