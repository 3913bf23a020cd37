/**
 * Receiver: the one receive pump of a Socket, shared by async iteration,
 * `chunks()` and the Duplex of `socket.stream()`. Never two receives in the
 * kernel at once: a new one is armed only after the previous one's final CQE.
 *
 * Two ways to receive, chosen per moment:
 * - multishot recv into the ring's provided buffers (Linux 6.0+), each
 *   chunk copied out into a fresh Buffer and the provided buffer handed back
 *   to the kernel. No memory is committed to an idle connection.
 * - one-shot recv straight into a fresh Buffer of the receiver's own
 *   (no copy), sized adaptively: it starts at 64 KiB and doubles while
 *   receives fill it, up to `chunkSize` (default 256 KiB). A receive that
 *   fills less than a quarter is copied out into a right-sized Buffer and
 *   the big one is kept for the next receive.
 * A connection starts on multishot, each arm limited to MULTISHOT_LIMIT
 * bytes where the kernel can (6.17+); a full provided buffer (or a dry pool,
 * ENOBUFS) means bulk data: the multishot is stopped and one-shot receives
 * follow; four one-shot receives in a row that come back small return to
 * multishot (and to the first size, dropping the big buffer).
 * Without buffer rings, or with `multishot: false`, only one-shot receives.
 *
 * Memory rule: a Buffer handed to the reader is never again given to the
 * kernel (only a buffer whose bytes were copied out is reused).
 *
 * Backpressure: past `highWater` unread bytes (default 1 MiB) receiving
 * stops in the kernel (unread data stays in the socket buffer and TCP slows
 * the peer down); it resumes when the reader has taken all but
 * `highWater / 2`. `pause()` stops it the same way on request.
 */
import { AbortError, invalidArgType, outOfRange } from '../errors.js';
import { bufferPool, recvMultishotLimited } from '../ops/socket.js';
import type { OpOptions } from '../ops/validate.js';
import type { Ring } from '../ring/ring.js';

export interface ReceiveOptions {
  /** Use multishot recv where the kernel has buffer rings (default true). */
  multishot?: boolean;
  /** Largest chunk of a one-shot receive, in bytes (default 256 KiB; 1 KiB to 64 MiB). */
  chunkSize?: number;
}

export const DEFAULT_CHUNK_SIZE = 256 * 1024;
const FIRST_CHUNK = 64 * 1024;
const HIGH_WATER = 1 << 20;
/** One-shot receives in a row that fill less than a quarter of their buffer before multishot resumes. */
const SMALL_READS = 4;
/**
 * Bytes one arm of the multishot may take (IORING_RECV_MSHOT_LIM, Linux
 * 6.17+): without a limit the kernel fills every free buffer of the ring's
 * shared pool from a fast sender before the first CQE is seen (6 MiB of
 * 16 KiB copies measured for one bulk connection, and the pool dry for
 * every other socket of the thread). After the limit the multishot ends with its last
 * buffer and is armed again, or bulk one-shot receives follow.
 */
const MULTISHOT_LIMIT = 64 * 1024;
/** Rings whose kernel refused the multishot limit (before 6.17): their multishots are armed without one. */
const noMultishotLimit = new WeakSet<Ring>();

/**
 * A `Socket.recv()` of at least this many bytes is bulk data: it keeps the
 * ring's bulk busy poll on (RingOptions.bulkBusyPollUs). The receive pump's
 * chunks do not: they are fresh memory, which keeps the garbage
 * collector's helper threads busy, and on a receiver pinned to one CPU a
 * spin took their time (iteration 0.73x and 0.83x as fast with it, in two
 * runs).
 */
export const BULK_RECEIVE = 64 * 1024;

/** Checks a `chunkSize` option (undefined: the default). */
export function checkChunkSize(v: unknown, name = 'options.chunkSize'): number {
  if (v === undefined) return DEFAULT_CHUNK_SIZE;
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v) || v < 1024 || v > 64 << 20) throw outOfRange(name, 'an integer >= 1024 && <= 67108864', v);
  return v;
}

/** What stream.ts gets from a Socket without importing it (no module cycle). */
export type ReceiverAccess = (socket: unknown, opts: OpOptions, options: ReceiveOptions) => Receiver | Error | undefined;
let receiverAccess: ReceiverAccess | undefined;

/** @internal Installed once by the Socket class (its static block). */
export function provideReceiverAccess(f: ReceiverAccess): void {
  receiverAccess ??= f;
}

/**
 * @internal Takes the read side of `socket` for a receive pump: a Receiver,
 * the Error that refuses it (closed, a receive pending), or undefined when
 * `socket` is not a Socket.
 */
export function openReceiver(socket: unknown, opts: OpOptions, options: ReceiveOptions): Receiver | Error | undefined {
  return receiverAccess?.(socket, opts, options);
}

/** A pending read() (`iter` false: resolves Buffer | null) or next() (`iter` true: resolves an IteratorResult). */
type Waiter = { resolve: (v: Buffer | null | IteratorResult<Buffer, void>) => void; reject: (e: unknown) => void; iter: boolean };

/** The end of an iteration (a fresh object each time: callers may keep or change it). */
const done = (): IteratorResult<Buffer, void> => ({ value: undefined, done: true });

export class Receiver {
  readonly #ring: Ring;
  readonly #fd: number;
  /** Options of every receive: signal and ref (never a timeout). */
  readonly #opts: OpOptions;
  readonly #maxChunk: number;
  /** Counts arms: a handle returned after a nested re-arm is stale. */
  #gen = 0;
  /** The provided-buffer size, or 0 when multishot is not used. */
  #poolSize: number;
  #size: number;
  #spare: Buffer | undefined;
  #q: Buffer[] = [];
  #qHead = 0;
  #qBytes = 0;
  #waiter: Waiter | undefined;
  /** The armed multishot's handle. */
  #op: { cancel(): void } | undefined;
  /**
   * The canceller of one-shot receives (close() ends the armed one; the
   * user's signal is forwarded to it). Reused until it fires.
   */
  #ctl: AbortController | undefined;
  /** Consecutive one-shot receives that came back small: a few in a row return to multishot. */
  #small = 0;
  /** Options of one-shot receives: `ref` and the canceller's signal. */
  readonly #oneShotOpts: OpOptions = {};
  /** A receive is in the kernel (until its final CQE). */
  #armed = false;
  /** We cancelled the armed multishot (to pause or to switch): its AbortError is ours. */
  #stopping = false;
  /** Receiving stopped for backpressure: resumed once drained to the low-water mark. */
  #held = false;
  /** Bulk data: one-shot receives into own buffers. */
  #bulk = false;
  #eof = false;
  #error: unknown;
  #finished = false;
  #onEnd: (() => void) | undefined;
  #ended: (() => void)[] | undefined;

  /**
   * Starts receiving at once. `onEnd` is called once no receive is left in
   * the kernel after close() or the end of the stream was read.
   */
  constructor(ring: Ring, fd: number, opts: OpOptions, options: ReceiveOptions, onEnd: () => void) {
    this.#ring = ring;
    this.#fd = fd;
    this.#opts = opts;
    this.#maxChunk = checkChunkSize(options.chunkSize);
    this.#size = Math.min(FIRST_CHUNK, this.#maxChunk);
    const pool = options.multishot === false ? null : bufferPool(ring);
    this.#poolSize = pool === null ? 0 : pool.size;
    this.#onEnd = onEnd;
    const user = opts.signal;
    if (user !== undefined) {
      // One-shot receives carry our canceller's signal; the user's abort reaches them through it.
      const onAbort = (): void => this.#ctl?.abort(user.reason);
      user.addEventListener('abort', onAbort, { once: true });
      const prev = this.#onEnd;
      this.#onEnd = () => {
        user.removeEventListener('abort', onAbort);
        prev();
      };
    }
  }

  /** True while multishot receives are in use (false: one recv at a time). */
  get multishot(): boolean {
    return this.#poolSize > 0;
  }

  /** Unread bytes queued here. */
  get buffered(): number {
    return this.#qBytes;
  }

  /** The next chunk (never empty); null at the end of the stream. One read() or next() at a time. */
  read(): Promise<Buffer | null> {
    return this.#read(false) as Promise<Buffer | null>;
  }

  /**
   * read() as an iterator step: the chunk (or the end) in an IteratorResult,
   * resolved directly (no second promise per chunk to wrap it).
   */
  next(): Promise<IteratorResult<Buffer, void>> {
    return this.#read(true) as Promise<IteratorResult<Buffer, void>>;
  }

  #read(iter: boolean): Promise<Buffer | null | IteratorResult<Buffer, void>> {
    if (this.#qHead < this.#q.length) {
      const value = this.#take();
      return Promise.resolve(iter ? { value, done: false } : value);
    }
    if (this.#error !== undefined) {
      const e = this.#error;
      this.#error = undefined;
      this.#finish();
      return Promise.reject(e);
    }
    if (this.#eof || this.#finished) {
      this.#finish();
      return Promise.resolve(iter ? done() : null);
    }
    if (this.#waiter !== undefined) {
      return Promise.reject(Object.assign(new Error('next() called while a previous next() is pending'), { code: 'ERR_SOCKET_RECV_PENDING' }));
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject, iter };
      this.#held = false;
      if (!this.#armed) this.#arm();
    });
  }

  #take(): Buffer {
    const value = this.#q[this.#qHead]!;
    this.#q[this.#qHead++] = undefined as unknown as Buffer;
    if (this.#qHead === this.#q.length) {
      this.#q.length = 0;
      this.#qHead = 0;
    }
    this.#qBytes -= value.length;
    if (this.#held && !this.#armed && this.#qBytes <= HIGH_WATER / 2 && !this.#eof && !this.#finished) {
      this.#held = false;
      this.#arm();
    }
    return value;
  }

  /** Stops receiving in the kernel until the next read() finds the queue drained (what arrived is kept). */
  pause(): void {
    if (this.#finished || this.#eof) return;
    this.#held = true;
    this.#stop();
  }

  /** Cancels the armed multishot, if any (a one-shot receive is left to complete). */
  #stop(): void {
    if (this.#armed && this.#op !== undefined && !this.#stopping) {
      this.#stopping = true;
      this.#op.cancel();
    }
  }

  #arm(): void {
    this.#armed = true;
    this.#stopping = false;
    const gen = ++this.#gen;
    try {
      if (this.#poolSize > 0 && !this.#bulk) {
        this.#limited = !noMultishotLimit.has(this.#ring);
        const op = recvMultishotLimited(this.#ring, this.#fd, this.#opts, this.#limited ? MULTISHOT_LIMIT : 0, this.#onChunk);
        if (op !== null) {
          // A callback that already ran (a completion reaped inline) may have ended it or armed another one.
          if (this.#armed && this.#gen === gen) this.#op = op;
          return;
        }
        this.#poolSize = 0; // no buffer rings after all
      }
      if (this.#opts.signal?.aborted) throw new AbortError('The operation was aborted', { cause: this.#opts.signal.reason });
      const buf = this.#spare ?? Buffer.allocUnsafe(this.#size);
      this.#spare = undefined;
      let ctl = this.#ctl;
      if (ctl === undefined || ctl.signal.aborted) ctl = this.#ctl = new AbortController();
      const o = this.#oneShotOpts;
      o.signal = ctl.signal;
      o.ref = this.#opts.ref ?? true;
      this.#recvBuf = buf;
      this.#ring.recv(this.#fd, buf, o, this.#onRecvDone);
    } catch (e) {
      this.#armed = false;
      this.#fail(e);
    }
  }

  /** The armed multishot carries a byte limit (MULTISHOT_LIMIT). */
  #limited = false;

  /** The buffer of the one-shot receive in the kernel (one at a time). */
  #recvBuf: Buffer | undefined;

  /** The callback of every one-shot receive (made once: no closure per receive). */
  readonly #onRecvDone = (err: Error | null, n?: number): void => {
    const buf = this.#recvBuf!;
    this.#recvBuf = undefined;
    this.#onRecv(buf, err, n);
  };

  /** A one-shot receive completed into `buf`. */
  #onRecv(buf: Buffer, err: Error | null, n?: number): void {
    this.#armed = false;
    if (this.#finished) {
      this.#release();
      return;
    }
    if (err !== null) {
      this.#fail(err);
      return;
    }
    let chunk: Buffer;
    if (n === 0) {
      this.#end();
      return;
    }
    if (n! >= buf.length / 4) this.#small = 0;
    if (n! >= buf.length) {
      chunk = buf;
      if (this.#size < this.#maxChunk) this.#size = Math.min(this.#size * 2, this.#maxChunk);
    } else if (n! < buf.length / 4) {
      // Small: copy out and keep the big buffer (it was never handed out).
      chunk = Buffer.allocUnsafe(n!);
      buf.copy(chunk, 0, 0, n);
      if (buf.length === this.#size) this.#spare = buf;
      if (++this.#small >= SMALL_READS) {
        // Traffic is light again: back to multishot where there is one (no memory committed while
        // idle), and to the first size; the big buffer is let go.
        this.#small = 0;
        this.#bulk = false;
        this.#size = Math.min(FIRST_CHUNK, this.#maxChunk);
        this.#spare = undefined;
      }
    } else {
      chunk = buf.subarray(0, n);
    }
    this.#deliver(chunk);
    this.#rearm();
  }

  /** A multishot CQE: `chunk` is a fresh Buffer (empty at end of stream). */
  readonly #onChunk = (err: Error | null, chunk?: Buffer, more?: boolean): void => {
    if (!more) {
      this.#armed = false;
      this.#op = undefined;
    }
    if (this.#finished) {
      if (!this.#armed) this.#release();
      return;
    }
    if (err !== null) {
      const code = (err as { code?: string }).code;
      if (code === 'EINVAL' && this.#limited) {
        // A kernel before 6.17: no limit for this ring's multishots from now on.
        noMultishotLimit.add(this.#ring);
        this.#rearm();
      } else if (code === 'ENOBUFS') {
        // The pool ran dry (everything received is queued): bulk data, continue with own buffers.
        this.#bulk = true;
        this.#rearm();
      } else if (err instanceof AbortError && this.#stopping) {
        this.#stopping = false;
        this.#rearm(); // paused or switched to one-shot receives
      } else {
        this.#fail(err);
      }
      return;
    }
    if (chunk === undefined) return;
    if (chunk.length === 0) {
      this.#end();
      return;
    }
    this.#deliver(chunk);
    if (chunk.length >= this.#poolSize && !this.#bulk) {
      // A full provided buffer: more is waiting. Switch to one-shot receives into big buffers.
      this.#bulk = true;
      this.#stop();
    }
    if (!this.#armed) this.#rearm(); // the kernel ended the multishot without EOF
  };

  /** Arms the next receive unless stopped: held, finished, ended, or one is still in the kernel. */
  #rearm(): void {
    if (this.#armed || this.#held || this.#finished || this.#eof || this.#error !== undefined) return;
    this.#arm();
  }

  #deliver(chunk: Buffer): void {
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      w.resolve(w.iter ? { value: chunk, done: false } : chunk);
      return;
    }
    this.#q.push(chunk);
    this.#qBytes += chunk.length;
    if (this.#qBytes > HIGH_WATER) {
      this.#held = true;
      this.#stop();
    }
  }

  #end(): void {
    this.#eof = true;
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      this.#finish();
      w.resolve(w.iter ? done() : null);
    }
  }

  #fail(err: unknown): void {
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      this.#finish();
      w.reject(err);
    } else {
      this.#error = err;
    }
  }

  /**
   * Ends receiving: a pending read() resolves null, queued data is dropped,
   * the receive in the kernel is cancelled. Resolves once none is left there.
   */
  close(): Promise<void> {
    if (!this.#finished) {
      const w = this.#waiter;
      this.#waiter = undefined;
      this.#finish();
      w?.resolve(w.iter ? done() : null);
    }
    if (!this.#armed) return Promise.resolve();
    return new Promise((resolve) => (this.#ended ??= []).push(resolve));
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#q.length = 0;
    this.#qHead = 0;
    this.#qBytes = 0;
    this.#spare = undefined;
    if (this.#armed) {
      this.#op?.cancel();
      this.#ctl?.abort();
    } else this.#release();
  }

  /** No receive left in the kernel: the socket may be read again. */
  #release(): void {
    const f = this.#onEnd;
    this.#onEnd = undefined;
    f?.();
    const w = this.#ended;
    this.#ended = undefined;
    if (w !== undefined) for (const g of w) g();
  }

  ref(): void {
    this.#opts.ref = true;
  }

  unref(): void {
    this.#opts.ref = false;
  }
}

/** The async iterator of Socket.chunks() and `for await (const chunk of socket)`: one Promise per chunk (Receiver.next()). */
export class ChunkIterator implements AsyncGenerator<Buffer, void, undefined> {
  readonly #rx: Receiver | undefined;
  #failure: unknown;

  /** `failure` (a closed socket, a receive already pending) is reported by the first next(), as a generator would. */
  constructor(rx: Receiver | undefined, failure?: unknown) {
    this.#rx = rx;
    this.#failure = failure;
  }

  next(): Promise<IteratorResult<Buffer, void>> {
    if (this.#rx === undefined) {
      const e = this.#failure;
      if (e === undefined) return Promise.resolve({ value: undefined, done: true });
      this.#failure = undefined;
      return Promise.reject(e);
    }
    return this.#rx.next();
  }

  /** Ends the iteration; receiving stops (what arrives meanwhile is dropped). Resolves once no receive is left in the kernel. */
  async return(): Promise<IteratorResult<Buffer, void>> {
    this.#failure = undefined;
    await this.#rx?.close();
    return { value: undefined, done: true };
  }

  throw(e: unknown): Promise<IteratorResult<Buffer, void>> {
    return this.return().then(() => Promise.reject(e));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}
