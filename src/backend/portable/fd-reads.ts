/**
 * READ on a real fd that may wait (a pipe, FIFO, socket or terminal the
 * caller passed in, e.g. stdin). node:fs reads on a libuv pool thread, which
 * no cancel can stop; on io_uring such a read is armed on poll and a deadline
 * or an abort ends it. Here each fd is classified once (fstat, and on Linux
 * its O_NONBLOCK flag from /proc/self/fdinfo), then:
 *
 *  - regular files, block devices, character devices that are not terminals:
 *    read directly into the caller's view (not cancellable, as files.ts);
 *  - non-blocking streams: each attempt returns at once, so it reads straight
 *    into the view, not cancellable; EAGAIN means "wait": the operation waits
 *    on a retry timer (1 ms doubling to 50 ms), cancellable, as a poll would;
 *  - blocking streams: the read goes into a bounce buffer of its own (so the
 *    caller's pinned view is written only while its operation is in flight)
 *    and stays cancellable: a cancel or a deadline completes it at once and
 *    the pool read carries on alone. Bytes such an orphaned read brings in are
 *    kept for the next READ of the same open file (same fd, device, inode), so
 *    nothing is lost or reordered; one pool read per fd at a time.
 *
 * A cancel or deadline that arrives while a step is not cancellable is
 * honoured at the next point where the read would wait (Op.interrupted).
 * The class of an fd is remembered until it is closed through the ring.
 */
import fs from 'node:fs';
import tty from 'node:tty';

import { E, errnoOf, type Op } from './engine.js';

type FdClass = 'direct' | 'nonblocking' | 'blocking';

/** Longest pause between two attempts of a non-blocking read that found nothing. */
const MAX_RETRY_MS = 50;

/** One open stream file behind a blocking fd: its identity, the pool read in progress and what an orphaned read left. */
interface StreamState {
  readonly dev: number;
  readonly ino: number;
  /** The operation the running pool read fills, or undefined when it was cancelled (orphaned). */
  reader: { op: Op; view: Uint8Array } | undefined;
  busy: boolean;
  /** Bytes read by an orphaned read, not yet handed to anyone. */
  stash: Buffer | undefined;
  /** Reads waiting for the running pool read to finish. */
  readonly waiters: Array<() => void>;
}

export class FdReads {
  readonly #classes = new Map<number, FdClass>();
  readonly #streams = new Map<number, StreamState>();

  /** `fd` was closed through the ring: forget what was learnt about it. */
  closed(fd: number): void {
    this.#classes.delete(fd);
    const s = this.#streams.get(fd);
    if (s !== undefined && !s.busy && s.waiters.length === 0) this.#streams.delete(fd);
  }

  /** A READ of `view` at `position` (-1: the current position) on the real fd `op.fd`; ends in one op.complete(). */
  read(op: Op, view: Uint8Array, position: number): void {
    const pos = position === -1 ? null : position;
    const known = this.#classes.get(op.fd);
    if (known === 'direct') return direct(op, view, pos);
    if (known === 'nonblocking') return attempt(op, view, pos, 1);
    // Classifying takes two prompt pool calls: not cancellable meanwhile (Op.interrupted keeps a cancel).
    op.cancellable = false;
    classify(op.fd, (err, cls, st) => {
      if (err !== null) return op.complete(errnoOf(err));
      this.#classes.set(op.fd, cls);
      if (cls === 'direct') return direct(op, view, pos);
      if (cls === 'nonblocking') return attempt(op, view, pos, 1);
      op.cancellable = true;
      if (op.interrupted) return op.complete(-E.ECANCELED);
      let s = this.#streams.get(op.fd);
      if (s === undefined || s.dev !== st!.dev || s.ino !== st!.ino) {
        // Another open file now (the fd was closed and reused): what the old one left is not this file's.
        s = { dev: st!.dev, ino: st!.ino, reader: undefined, busy: false, stash: undefined, waiters: [] };
        this.#streams.set(op.fd, s);
      }
      this.#serve(s, op, view, pos);
    });
  }

  #serve(s: StreamState, op: Op, view: Uint8Array, pos: number | null): void {
    if (op.done) return;
    if (s.stash !== undefined) {
      const n = Math.min(view.length, s.stash.length);
      view.set(s.stash.subarray(0, n));
      s.stash = n < s.stash.length ? s.stash.subarray(n) : undefined;
      return op.complete(n);
    }
    if (s.busy) {
      const wake = (): void => this.#serve(s, op, view, pos);
      s.waiters.push(wake);
      op.detach = () => {
        const i = s.waiters.indexOf(wake);
        if (i >= 0) s.waiters.splice(i, 1);
      };
      return;
    }
    if (view.length === 0) return op.complete(0);
    s.busy = true;
    s.reader = { op, view };
    const bounce = Buffer.allocUnsafe(view.length);
    op.detach = () => {
      // Completed (cancelled, deadline) before the pool read: the read is orphaned.
      if (s.reader?.op === op) s.reader = undefined;
    };
    fs.read(op.fd, bounce, 0, bounce.length, pos, (err, n) => {
      s.busy = false;
      const res = err ? errnoOf(err) : n;
      const r = s.reader;
      s.reader = undefined;
      if (r !== undefined && !r.op.done) {
        if (res > 0) r.view.set(bounce.subarray(0, res));
        r.op.complete(res);
      } else if (res > 0 && pos === null) {
        s.stash = s.stash === undefined ? Buffer.from(bounce.subarray(0, res)) : Buffer.concat([s.stash, bounce.subarray(0, res)]);
      }
      for (const wake of s.waiters.splice(0)) wake();
    });
  }
}

/** A read that returns at once (no bounce, not cancellable while it runs). */
function direct(op: Op, view: Uint8Array, pos: number | null): void {
  op.cancellable = false;
  fs.read(op.fd, view, 0, view.length, pos, (err, n) => op.complete(err ? errnoOf(err) : n));
}

/** One attempt on a non-blocking fd; EAGAIN waits (cancellable) `delay` ms and tries again. */
function attempt(op: Op, view: Uint8Array, pos: number | null, delay: number): void {
  if (op.done) return;
  op.cancellable = false;
  fs.read(op.fd, view, 0, view.length, pos, (err, n) => {
    if (op.done) return; // the ring was destroyed meanwhile
    const code = err?.code;
    if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') return op.complete(err ? errnoOf(err) : n);
    if (op.interrupted) return op.complete(-E.ECANCELED);
    op.cancellable = true;
    const t = setTimeout(() => {
      op.detach = undefined;
      attempt(op, view, pos, Math.min(delay * 2, MAX_RETRY_MS));
    }, delay);
    t.unref(); // the ring keeps the loop alive while the operation is in flight (and ref'd)
    op.detach = () => clearTimeout(t);
  });
}

/** Which path a READ of `fd` takes (see the header); `st` is its fstat. */
function classify(fd: number, cb: (err: NodeJS.ErrnoException | null, cls: FdClass, st?: fs.Stats) => void): void {
  fs.fstat(fd, (err, st) => {
    if (err) return cb(err, 'direct');
    if (!(st.isSocket() || st.isFIFO() || (st.isCharacterDevice() && tty.isatty(fd)))) return cb(null, 'direct', st);
    if (process.platform !== 'linux') return cb(null, 'blocking', st);
    fs.readFile(`/proc/self/fdinfo/${fd}`, 'latin1', (e2, text) => {
      const m = e2 ? null : /^flags:\s*([0-7]+)/m.exec(text);
      const nonblocking = m !== null && (parseInt(m[1]!, 8) & fs.constants.O_NONBLOCK) !== 0;
      cb(null, nonblocking ? 'nonblocking' : 'blocking', st);
    });
  });
}
