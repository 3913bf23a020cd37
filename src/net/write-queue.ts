/**
 * WriteQueue: a Socket's writes, in order and complete. Each write waits
 * for the previous one; short sends are continued; zero-copy sends
 * (IORING_OP_SEND_ZC) settle only after the kernel's notification that it
 * no longer reads the buffer. Ordered tasks (sendFile) take their turn in
 * the same queue.
 *
 * A write that fails after part of its bytes went out (a `timeout` or an
 * abort mid-write, a send error after a short send) leaves the peer with a
 * truncated message: its error carries `bytesWritten`, and from then on the
 * queue refuses every write (queued ones and new ones) with
 * ERR_SOCKET_WRITE_INCOMPLETE, so nothing is ever sent after the gap.
 */
import os from 'node:os';

import { AbortError, invalidArgType, invalidArgValue, outOfRange, SystemError } from '../errors.js';
import { MAX_RW } from '../ops/args.js';
import { sendChecked, sendZeroCopy, type SendOptions } from '../ops/socket.js';
import { checkUint32, type Callback } from '../ops/validate.js';
import { IORING_OP } from '../ring/constants.js';
import type { OpExtra, Ring } from '../ring/ring.js';
import { AF_UNIX } from './address.js';
import { int, socketClosed } from './options.js';

/** Default zeroCopyThreshold: writes at least this large may use SEND_ZC (see Socket.setZeroCopy). */
export const ZERO_COPY_THRESHOLD = 64 * 1024;

/** The error of a write refused because an earlier write failed part-way (see WriteQueue). */
export interface WriteIncompleteError extends Error {
  code: 'ERR_SOCKET_WRITE_INCOMPLETE';
  /** Always 0: this write sent nothing (the failed write's error has its own `bytesWritten`). */
  bytesWritten: number;
  /** The error of the write that failed part-way. */
  cause: unknown;
}

function writeIncomplete(failed: Error, sent: number, total: number): WriteIncompleteError {
  return Object.assign(
    new Error(`An earlier write failed after ${sent} of ${total} bytes were sent (${(failed as { code?: string }).code ?? failed.message}); ` +
      'the byte stream is incomplete and the socket takes no more writes', { cause: failed }),
    { code: 'ERR_SOCKET_WRITE_INCOMPLETE' as const, bytesWritten: 0, cause: failed as unknown },
  );
}

/** One queued write (or ordered task such as a sendFile). */
class WriteRequest {
  done = 0;
  /** Zero-copy sends of this write whose notification has not come yet. */
  zcPending = 0;
  /** All bytes sent (or failed): settle once zcPending is 0. */
  sent = false;
  error: Error | null = null;
  /** Settled by its signal while still queued: skipped when it reaches the head. */
  dropped = false;
  /** Removes the abort listener of a queued write (set while one is attached). */
  unlisten: (() => void) | undefined;
  resolve: ((v: unknown) => void) | undefined;
  reject: ((e: unknown) => void) | undefined;
  callback: Callback<number> | undefined;
  constructor(
    readonly fd: number,
    readonly view: ArrayBufferView | undefined,
    readonly start: number,
    readonly total: number,
    readonly options: SendOptions | undefined,
    readonly task: (() => Promise<unknown>) | undefined,
  ) {}
}

/** What the queue needs of its socket. */
export interface WriteTarget {
  readonly ring: Ring;
  readonly family: number;
  /** The open fd, or -1 once closed. */
  readonly fd: number;
  /** Whether the peer is on this host (zero-copy gains nothing there); asked once. */
  peerOnThisHost(): boolean;
}

export class WriteQueue {
  readonly #target: WriteTarget;
  /** #wq[#wqHead] is in flight, the rest wait in order. */
  #wq: WriteRequest[] = [];
  #wqHead = 0;
  #drainWaiters: (() => void)[] | undefined;
  /** Reused send options of plain writes (the ring reads them synchronously). */
  readonly #sendOpts: SendOptions = { offset: 0, length: 0, zeroCopy: false };
  /** Reused memory description of a plain write's send (the ring copies it into the slot at once). */
  readonly #extra: OpExtra = { pin: undefined, offset: 0, length: 0 };
  #destroyed = false;
  /** Set once a write failed part-way: every later write fails with it. */
  #broken: WriteIncompleteError | undefined;
  #zcMode: boolean | 'auto' = 'auto';
  #zcThreshold = ZERO_COPY_THRESHOLD;
  /** Zero-copy sends awaiting their notification. */
  #zcOutstanding = 0;
  #remoteIsLocal: boolean | undefined;

  constructor(target: WriteTarget) {
    this.#target = target;
  }

  /** The error every write now fails with, once a write failed part-way. */
  get incomplete(): WriteIncompleteError | undefined {
    return this.#broken;
  }

  /** Checks the arguments of Socket.write and queues it (see Socket.write). */
  write(data: ArrayBufferView | string, options?: SendOptions, callback?: Callback<number>): Promise<number> | void {
    const view = typeof data === 'string' ? Buffer.from(data) : data;
    if (!ArrayBuffer.isView(view)) throw invalidArgType('data', 'a string, Buffer, TypedArray or DataView', data);
    if (callback !== undefined && typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'of type object', options);
    }
    const fd = this.#target.fd;
    if (fd < 0) throw socketClosed('send');
    if (this.#broken !== undefined) throw this.#broken;
    let start = 0;
    let total = view.byteLength;
    if (options !== undefined) {
      start = options.offset ?? 0;
      if (!Number.isSafeInteger(start) || start < 0 || start > view.byteLength) {
        throw outOfRange('options.offset', `an integer >= 0 && <= ${view.byteLength}`, start);
      }
      total = options.length ?? view.byteLength - start;
      if (!Number.isSafeInteger(total) || total < 0 || start + total > view.byteLength) {
        throw outOfRange('options.length', `an integer >= 0 && <= ${view.byteLength - start}`, total);
      }
      const zc = options.zeroCopy;
      if (zc !== undefined && zc !== true && zc !== false && zc !== 'auto') {
        throw invalidArgValue('options.zeroCopy', zc, "must be true, false or 'auto'");
      }
    }
    const req = new WriteRequest(fd, view, start, total, options, undefined);
    if (callback !== undefined) {
      req.callback = callback;
      this.#push(req);
      return;
    }
    return new Promise<number>((resolve, reject) => {
      req.resolve = resolve as (v: unknown) => void;
      req.reject = reject;
      this.#push(req);
    });
  }

  /** Runs `task` in write order (see Socket.enqueue). */
  enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (typeof task !== 'function') throw invalidArgType('task', 'a function', task);
    return new Promise<T>((resolve, reject) => {
      const req = new WriteRequest(-1, undefined, 0, 0, undefined, task as () => Promise<unknown>);
      req.resolve = resolve as (v: unknown) => void;
      req.reject = reject;
      this.#push(req);
    });
  }

  /** Writes still queued or in flight (zero-copy sends until their notification). */
  get pending(): number {
    return this.#wq.length - this.#wqHead + this.#zcOutstanding;
  }

  /** Resolves once every write queued so far has settled (sent or failed). */
  drain(): Promise<void> {
    if (this.#wqHead === this.#wq.length && this.#zcOutstanding === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#drainWaiters ??= []).push(resolve));
  }

  /** The socket is being destroyed: writes not yet started fail with EPIPE (the fd number may be reused once closed). */
  destroy(): void {
    this.#destroyed = true;
  }

  #push(req: WriteRequest): void {
    this.#wq.push(req);
    if (this.#wq.length - this.#wqHead === 1) this.#next();
    else this.#watchQueued(req);
  }

  /**
   * A write waiting behind others whose signal fires is settled at once
   * with an AbortError (`bytesWritten` 0) and never sent; once it is at the
   * head, the send itself carries the signal.
   */
  #watchQueued(req: WriteRequest): void {
    const signal = req.options?.signal;
    if (signal === undefined || signal.aborted) return;
    const onAbort = (): void => {
      req.unlisten = undefined;
      req.dropped = true;
      const e = Object.assign(new AbortError('The operation was aborted', { cause: signal.reason }), { bytesWritten: 0 });
      this.#finish(req, e, 0);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    req.unlisten = () => signal.removeEventListener('abort', onAbort);
  }

  /** Starts the request at the head of the queue (queue not empty). */
  #next(): void {
    for (;;) {
      const req = this.#wq[this.#wqHead]!;
      if (req.unlisten !== undefined) {
        req.unlisten();
        req.unlisten = undefined;
      }
      if (req.dropped) {
        // settled by its signal while queued
      } else if (this.#broken !== undefined) {
        this.#finish(req, this.#broken, 0);
      } else if (this.#destroyed) {
        this.#finish(req, new SystemError(os.constants.errno.EPIPE, req.task !== undefined ? 'sendfile' : 'send'), 0);
      } else if (req.task !== undefined) {
        let p: Promise<unknown>;
        try {
          p = Promise.resolve(req.task()); // a task that returns a plain value settles with it
        } catch (e) {
          p = Promise.reject(e);
        }
        p.then((v) => this.#taskDone(req, null, v), (e: unknown) => this.#taskDone(req, e, undefined));
        return;
      } else if (req.total === 0) {
        this.#finish(req, null, 0);
      } else {
        this.#sendStep(req);
        return;
      }
      if (!this.#advance()) return;
    }
  }

  #taskDone(req: WriteRequest, err: unknown, v: unknown): void {
    if (err !== null) req.reject!(err);
    else req.resolve!(v);
    if (this.#advance()) this.#next();
  }

  #sendStep(req: WriteRequest): void {
    const o = req.options;
    let zc = false;
    try {
      // Zero-copy (not with a per-write deadline: that is a plain send's).
      if (o?.timeout === undefined && this.#useZeroCopy(o?.zeroCopy, req.total)) {
        const offset = req.start + req.done;
        const length = req.total - req.done;
        const flags = o?.flags ?? 0;
        checkUint32(flags, 'options.flags');
        req.zcPending++;
        this.#zcOutstanding++;
        zc = true;
        sendZeroCopy(this.#target.ring, req.fd, req.view!, offset, length, flags, o, (err, n, more) => this.#onZc(req, err, n, more));
        return;
      }
      if (o === undefined && req.total - req.done <= MAX_RW) {
        // A write without options: the send ring.send(fd, view, { offset, length }) would issue (its
        // arguments were checked by write(); a larger window goes through ring.send, which refuses it).
        const x = this.#extra;
        x.pin = req.view;
        x.offset = req.start + req.done;
        x.length = req.total - req.done;
        try {
          sendChecked(this.#target.ring, req.fd, x, this.#onSent);
        } finally {
          x.pin = undefined;
        }
        return;
      }
      let opts: SendOptions;
      if (o === undefined) opts = this.#sendOpts;
      else opts = { ...o, zeroCopy: false };
      opts.offset = req.start + req.done;
      opts.length = req.total - req.done;
      this.#target.ring.send(req.fd, req.view!, opts, this.#onSent);
    } catch (e) {
      if (zc) {
        // Refused before submission (bad options): no notification will come.
        req.zcPending--;
        this.#zcOutstanding--;
      }
      this.#onSent(e as Error);
    }
  }

  /**
   * A zero-copy send's completions: the result moves the queue on (the next
   * send may start), the notification (`more` false) releases the buffer;
   * the write settles once its last notification came, so a resolved
   * write's buffer may be reused.
   */
  #onZc(req: WriteRequest, err: Error | null, n: number | undefined, more: boolean | undefined): void {
    if (more === true) {
      this.#onSent(err, n);
      return;
    }
    // The notification (or a send the kernel refused outright).
    req.zcPending--;
    this.#zcOutstanding--;
    if (err !== null && !(err instanceof AbortError && req.sent)) {
      if (!req.sent) {
        this.#onSent(err);
        return;
      }
      req.error ??= err;
    }
    if (req.sent && req.zcPending === 0) this.#settle(req);
    if (this.#zcOutstanding === 0 && this.#wqHead === this.#wq.length) this.#drained();
  }

  readonly #onSent = (err: Error | null, n?: number): void => {
    const req = this.#wq[this.#wqHead]!;
    if (err === null) {
      req.done += n!;
      if (req.done < req.total) {
        // destroy() shut the socket down and closes its fd: never send on that fd number again.
        if (this.#destroyed) err = new SystemError(os.constants.errno.EPIPE, 'send');
        else {
          this.#sendStep(req);
          return;
        }
      }
    }
    if (err !== null) {
      (err as Error & { bytesWritten?: number }).bytesWritten = req.done;
      // Part of this write went out and the connection lives on (a deadline or an abort stopped it):
      // the peer has a truncated message; nothing may follow it. (After a connection error the
      // kernel refuses later sends by itself, with that error.)
      const code = (err as { code?: string }).code;
      if (req.done > 0 && this.#broken === undefined && (code === 'ETIMEDOUT' || code === 'ABORT_ERR' || code === 'ECANCELED')) {
        this.#broken = writeIncomplete(err, req.done, req.total);
      }
    }
    this.#finish(req, err, req.done);
    if (this.#advance()) this.#next();
  };

  /** The write's bytes are all sent (or it failed): settle now, or after its zero-copy notifications. */
  #finish(req: WriteRequest, err: Error | null, n: number): void {
    req.sent = true;
    req.error ??= err;
    req.done = n;
    if (req.zcPending === 0) this.#settle(req);
  }

  #settle(req: WriteRequest): void {
    const err = req.error;
    const n = req.done;
    const cb = req.callback;
    if (cb !== undefined) {
      try {
        if (err !== null) cb(err);
        else cb(null, n);
      } catch (e) {
        process.nextTick(() => {
          throw e;
        });
      }
    } else if (err !== null) req.reject!(err);
    else req.resolve!(n);
  }

  /** Drops the head request; returns whether another one waits. */
  #advance(): boolean {
    const wq = this.#wq;
    wq[this.#wqHead++] = undefined as unknown as WriteRequest;
    if (this.#wqHead < wq.length) {
      if (this.#wqHead >= 1024) {
        wq.splice(0, this.#wqHead);
        this.#wqHead = 0;
      }
      return true;
    }
    wq.length = 0;
    this.#wqHead = 0;
    if (this.#zcOutstanding === 0) this.#drained();
    return false;
  }

  #drained(): void {
    const w = this.#drainWaiters;
    if (w !== undefined) {
      this.#drainWaiters = undefined;
      for (const f of w) f();
    }
  }

  /** See Socket.setZeroCopy. */
  setZeroCopy(mode: boolean | 'auto', threshold?: number): void {
    if (mode !== true && mode !== false && mode !== 'auto') throw invalidArgValue('mode', mode, "must be true, false or 'auto'");
    if (threshold !== undefined) this.#zcThreshold = int(threshold, 'threshold');
    this.#zcMode = mode;
  }

  get zeroCopy(): { mode: boolean | 'auto'; threshold: number } {
    return { mode: this.#zcMode, threshold: this.#zcThreshold };
  }

  #useZeroCopy(perWrite: boolean | 'auto' | undefined, total: number): boolean {
    if (perWrite === false) return false;
    const mode = this.#zcMode;
    // The policy first (no ring query for the small writes it rules out).
    if (perWrite !== true && (mode === false || total < this.#zcThreshold)) return false;
    const t = this.#target;
    if (t.family === AF_UNIX || !t.ring.supports(IORING_OP.SEND_ZC)) return false;
    if (perWrite === true) return true; // this write asked for it: any size, any peer
    if (mode === true) return true;
    let local = this.#remoteIsLocal;
    if (local === undefined) local = this.#remoteIsLocal = t.peerOnThisHost();
    return !local;
  }
}
