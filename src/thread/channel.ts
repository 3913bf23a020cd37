/**
 * Channel: a byte stream between two threads over a SharedArrayBuffer ring
 * buffer (single producer, single consumer), with wake-ups that ride the
 * rings (a Notifier on each side: "data available" owned by the reader,
 * "space available" owned by the writer).
 *
 * Layout of the shared buffer (Int32 words, then the data):
 *   line 0 (reader writes): HEAD, R_WAIT, R_CLOSED, R_CLAIM, R_RING, R_ID, R_TID
 *   line 1 (writer writes): TAIL, W_WAIT, W_CLOSED, W_CLAIM, W_RING, W_ID, W_TID
 *   line 2: the two notifiers' coalescing words, CAPACITY
 *   DATA_OFFSET..: `capacity` bytes (a power of two)
 * HEAD and TAIL are free-running 32-bit positions (the ring index is
 * `pos & (capacity - 1)`); `TAIL - HEAD` (mod 2^32) is the bytes buffered.
 * Data bytes are plain stores, published by the Atomics.store of TAIL (read
 * side: Atomics.load of TAIL, then plain loads), and freed by the Atomics.store
 * of HEAD.
 *
 * No lost wake-up: a side that is about to sleep first stores its WAIT word,
 * then re-checks the positions; the other side first stores its position,
 * then loads the WAIT word and signals when it is set (all sequentially
 * consistent, so at least one of the two sees the other). Wakes are
 * coalesced by the Notifier, and may be spurious (the loops re-check).
 *
 * An end is claimed by the first Channel object (on whichever thread) that
 * reads or writes; the claim publishes that thread's ring and notifier in the
 * buffer so the other side can wake it.
 */
import { threadId } from 'node:worker_threads';

import { AbortError, invalidArgType, outOfRange } from '../errors.js';
import { Notifier, NotifierClosedError, ownedNotifierAt, type NotifierHandle } from './notifier.js';

const HEAD = 0;
const R_WAIT = 1;
const R_CLOSED = 2;
const R_CLAIM = 3;
const R_RING = 4;
const R_ID = 5;
const R_TID = 6;
const TAIL = 16;
const W_WAIT = 17;
const W_CLOSED = 18;
const W_CLAIM = 19;
const W_RING = 20;
const W_ID = 21;
const W_TID = 22;
const R_NOTIFY = 32;
const W_NOTIFY = 33;
const CAPACITY = 34;
const DATA_OFFSET = 192;

const MIN_CAPACITY = 16;
const MAX_CAPACITY = 2 ** 30;
const DEFAULT_CAPACITY = 256 * 1024;

/** The transferable form of a Channel: pass it with postMessage, revive with `Channel.from()`. */
export interface ChannelHandle {
  readonly type: 'uringkit:channel';
  readonly buffer: SharedArrayBuffer;
}

export interface ChannelOptions {
  /** Ring buffer size in bytes, a power of two (16 B .. 1 GiB). Default 256 KiB. */
  capacity?: number;
}

/** Write to a channel whose reader has gone, or to a closed channel. */
export class ChannelClosedError extends Error {
  declare code: 'ERR_CHANNEL_CLOSED';
  constructor(message = 'The channel is closed') {
    super(message);
    this.name = 'Error';
    this.code = 'ERR_CHANNEL_CLOSED';
  }
}

function endTaken(end: string): Error {
  return Object.assign(new Error(`The ${end} end of this channel is already claimed by another Channel object ` +
    '(one reader and one writer)'), { code: 'ERR_CHANNEL_END_TAKEN' });
}

type Role = 'none' | 'reader' | 'writer';

export class Channel implements AsyncIterable<Buffer> {
  readonly #sab: SharedArrayBuffer;
  readonly #ctrl: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #cap: number;
  readonly #mask: number;
  #role: Role = 'none';
  /** This side's notifier (reader: data available; writer: space available). */
  #own: Notifier | undefined;
  /** The other side's notifier, once it has claimed its end. */
  #peer: Notifier | undefined;
  /** Local copy of this side's position. */
  #pos = 0;
  #tail: Promise<unknown> = Promise.resolve();
  #ended = false;

  /** A new channel; hand `channel.handle` to the other thread. */
  constructor(options?: ChannelOptions);
  /** @internal */
  constructor(options: ChannelOptions | undefined, revive: SharedArrayBuffer);
  constructor(options?: ChannelOptions, revive?: SharedArrayBuffer) {
    if (revive !== undefined) {
      this.#sab = revive;
      this.#ctrl = new Int32Array(revive, 0, DATA_OFFSET / 4);
      this.#cap = Atomics.load(this.#ctrl, CAPACITY);
    } else {
      if (options !== undefined && (options === null || typeof options !== 'object')) {
        throw invalidArgType('options', 'of type object', options);
      }
      const cap = options?.capacity ?? DEFAULT_CAPACITY;
      if (typeof cap !== 'number' || !Number.isInteger(cap) || cap < MIN_CAPACITY || cap > MAX_CAPACITY ||
        (cap & (cap - 1)) !== 0) {
        throw outOfRange('options.capacity', `a power of two >= ${MIN_CAPACITY} && <= ${MAX_CAPACITY}`, cap);
      }
      this.#sab = new SharedArrayBuffer(DATA_OFFSET + cap);
      this.#ctrl = new Int32Array(this.#sab, 0, DATA_OFFSET / 4);
      this.#cap = cap;
      Atomics.store(this.#ctrl, CAPACITY, cap);
    }
    this.#mask = this.#cap - 1;
    this.#bytes = new Uint8Array(this.#sab, DATA_OFFSET, this.#cap);
  }

  /** Revives a handle made on another thread (or this one). */
  static from(handle: ChannelHandle): Channel {
    const h = handle as Partial<ChannelHandle> | null;
    if (h === null || typeof h !== 'object' || h.type !== 'uringkit:channel' || !(h.buffer instanceof SharedArrayBuffer) ||
      h.buffer.byteLength < DATA_OFFSET + MIN_CAPACITY) {
      throw invalidArgType('handle', 'a ChannelHandle (channel.handle)', handle);
    }
    const cap = Atomics.load(new Int32Array(h.buffer, 0, DATA_OFFSET / 4), CAPACITY);
    if (h.buffer.byteLength !== DATA_OFFSET + cap) throw invalidArgType('handle', 'a ChannelHandle (channel.handle)', handle);
    return new Channel(undefined, h.buffer);
  }

  /** The transferable form. */
  get handle(): ChannelHandle {
    return { type: 'uringkit:channel', buffer: this.#sab };
  }

  toJSON(): ChannelHandle {
    return this.handle;
  }

  get capacity(): number {
    return this.#cap;
  }

  /** Bytes written and not yet read. */
  get buffered(): number {
    return (Atomics.load(this.#ctrl, TAIL) - Atomics.load(this.#ctrl, HEAD)) >>> 0;
  }

  /** Which end this object has claimed ('none' until its first read or write). */
  get role(): Role {
    return this.#role;
  }

  // ---- claiming ------------------------------------------------------------

  #claim(role: 'reader' | 'writer'): void {
    if (this.#role === role) return;
    if (this.#role !== 'none') {
      throw Object.assign(new Error(`This Channel object is the ${this.#role}; it cannot also be the ${role}`),
        { code: 'ERR_CHANNEL_END_TAKEN' });
    }
    const c = this.#ctrl;
    const [claim, ringW, idW, tidW, word] = role === 'reader'
      ? [R_CLAIM, R_RING, R_ID, R_TID, R_NOTIFY] : [W_CLAIM, W_RING, W_ID, W_TID, W_NOTIFY];
    if (Atomics.compareExchange(c, claim, 0, 1) !== 0) throw endTaken(role);
    // The notifier's coalescing word lives in the channel's buffer.
    const n = ownedNotifierAt({ state: this.#sab, index: word });
    const h = n.handle;
    Atomics.store(c, idW, h.id);
    Atomics.store(c, tidW, threadId);
    Atomics.store(c, ringW, h.ring.id | 0); // last: publishes the claim
    this.#own = n;
    this.#role = role;
    this.#pos = Atomics.load(c, role === 'reader' ? HEAD : TAIL) >>> 0;
  }

  /** Wakes the other side (`target`) if it sleeps or is about to. */
  #wake(target: 'reader' | 'writer'): void {
    const c = this.#ctrl;
    if (Atomics.load(c, target === 'writer' ? W_WAIT : R_WAIT) !== 1) return;
    let peer = this.#peer;
    if (peer === undefined) {
      const [ringW, idW, tidW, word] = target === 'writer'
        ? [W_RING, W_ID, W_TID, W_NOTIFY] : [R_RING, R_ID, R_TID, R_NOTIFY];
      const ring = Atomics.load(c, ringW) >>> 0;
      if (ring === 0) return; // not claimed yet: it checks the positions before it ever sleeps
      const handle: NotifierHandle = {
        type: 'uringkit:notifier',
        ring: { id: ring, pid: process.pid, threadId: Atomics.load(c, tidW) },
        id: Atomics.load(c, idW),
        state: this.#sab,
        index: word,
      };
      peer = Notifier.from(handle);
      this.#peer = peer;
    }
    peer.signal();
  }

  // ---- writing ---------------------------------------------------------------

  /**
   * Copies `data` into the channel, waiting for space as needed (writes are
   * queued in call order). Resolves when every byte is in the buffer (not when
   * it has been read). Rejects with ERR_CHANNEL_CLOSED when the reader has
   * gone or this side closed; with an AbortError when `signal` aborts (some of
   * the bytes may have been written).
   */
  write(data: ArrayBufferView | string, options?: { signal?: AbortSignal }): Promise<void> {
    const view = typeof data === 'string' ? Buffer.from(data) : data;
    if (!ArrayBuffer.isView(view)) throw invalidArgType('data', 'a string, Buffer, TypedArray or DataView', data);
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
    }
    this.#claim('writer');
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    const p = this.#tail.then(() => this.#writeAll(bytes, signal));
    this.#tail = p.catch(() => {});
    return p;
  }

  async #writeAll(src: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const c = this.#ctrl;
    const cap = this.#cap;
    const buf = this.#bytes;
    let off = 0;
    while (off < src.length) {
      if (this.#ended || Atomics.load(c, W_CLOSED) !== 0) throw new ChannelClosedError('write after close()');
      if (Atomics.load(c, R_CLOSED) !== 0) throw new ChannelClosedError('The channel reader has closed');
      if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
      const tail = this.#pos;
      const free = cap - ((tail - Atomics.load(c, HEAD)) >>> 0);
      if (free === 0) {
        Atomics.store(c, W_WAIT, 1);
        if (cap - ((tail - Atomics.load(c, HEAD)) >>> 0) === 0 && Atomics.load(c, R_CLOSED) === 0) {
          try {
            await this.#own!.wait(signal !== undefined ? { signal } : undefined);
          } finally {
            Atomics.store(c, W_WAIT, 0);
          }
        } else {
          Atomics.store(c, W_WAIT, 0);
        }
        continue;
      }
      const n = Math.min(free, src.length - off);
      const at = tail & this.#mask;
      const first = Math.min(n, cap - at);
      buf.set(src.subarray(off, off + first), at);
      if (n > first) buf.set(src.subarray(off + first, off + n), 0);
      this.#pos = (tail + n) >>> 0;
      Atomics.store(c, TAIL, this.#pos | 0);
      off += n;
      this.#wake('reader');
    }
  }

  // ---- reading ---------------------------------------------------------------

  /**
   * The next chunk (at most `maxBytes`, default the capacity): whatever is
   * buffered, waiting if nothing is. Resolves `null` at the end: the writer
   * closed and everything was read. Reads are queued in call order.
   */
  read(options?: { maxBytes?: number; signal?: AbortSignal }): Promise<Buffer | null> {
    const max = options?.maxBytes ?? this.#cap;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw outOfRange('options.maxBytes', '>= 1', max);
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
    }
    this.#claim('reader');
    const p = this.#tail.then(() => this.#readSome(max, signal));
    this.#tail = p.catch(() => {});
    return p;
  }

  async #readSome(max: number, signal: AbortSignal | undefined): Promise<Buffer | null> {
    const c = this.#ctrl;
    const buf = this.#bytes;
    for (;;) {
      if (this.#ended) return null;
      if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
      const head = this.#pos;
      // W_CLOSED before TAIL: the writer stores TAIL before W_CLOSED, so a
      // TAIL read after seeing W_CLOSED is final.
      const closed = Atomics.load(c, W_CLOSED) !== 0;
      const avail = (Atomics.load(c, TAIL) - head) >>> 0;
      if (avail > 0) {
        const n = Math.min(avail, max);
        const out = Buffer.allocUnsafe(n);
        const at = head & this.#mask;
        const first = Math.min(n, this.#cap - at);
        out.set(buf.subarray(at, at + first), 0);
        if (n > first) out.set(buf.subarray(0, n - first), first);
        this.#pos = (head + n) >>> 0;
        Atomics.store(c, HEAD, this.#pos | 0);
        this.#wake('writer');
        return out;
      }
      if (closed) {
        this.#finish();
        return null;
      }
      Atomics.store(c, R_WAIT, 1);
      if (Atomics.load(c, TAIL) >>> 0 === head && Atomics.load(c, W_CLOSED) === 0) {
        try {
          await this.#own!.wait(signal !== undefined ? { signal } : undefined);
        } catch (err) {
          // close() on this reader while it waited: the read ends.
          if (this.#ended && err instanceof NotifierClosedError) return null;
          throw err;
        } finally {
          Atomics.store(c, R_WAIT, 0);
        }
      } else {
        Atomics.store(c, R_WAIT, 0);
      }
    }
  }

  /** Yields chunks until the writer closes and everything was read. Leaving early closes the reader end. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    let done = false;
    try {
      for (;;) {
        const chunk = await this.read();
        if (chunk === null) {
          done = true;
          return;
        }
        yield chunk;
      }
    } finally {
      if (!done) this.close();
    }
  }

  // ---- closing -----------------------------------------------------------------

  /**
   * On the writer: ends the stream after the writes already queued; the
   * reader gets the remaining bytes, then `null` (done). Resolves when the end
   * is marked. An object that has claimed no end claims the writer's (throws
   * ERR_CHANNEL_END_TAKEN when another object is the writer).
   * On the reader: stops reading; the writer's pending and later writes
   * reject with ERR_CHANNEL_CLOSED.
   * Idempotent.
   */
  close(): Promise<void> {
    const c = this.#ctrl;
    // Only the writer may end the stream: an object that has not claimed an
    // end claims the writer's (ERR_CHANNEL_END_TAKEN if another object has).
    if (this.#role === 'none' && Atomics.load(c, W_CLOSED) === 0) this.#claim('writer');
    if (this.#role === 'reader') {
      if (!this.#ended) {
        Atomics.store(c, R_CLOSED, 1);
        this.#ended = true;
        this.#wake('writer');
        this.#own?.close();
      }
      return Promise.resolve();
    }
    const p = this.#tail.then(() => {
      if (Atomics.load(c, W_CLOSED) !== 0) return;
      Atomics.store(c, W_CLOSED, 1);
      // The reader may be about to sleep: wake it like a write would.
      this.#wake('reader');
      this.#own?.close();
    });
    this.#tail = p.catch(() => {});
    return p;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#own?.close();
  }
}
