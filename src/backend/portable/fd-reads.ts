/**
 * READ on a real fd that may wait without end (a pipe, FIFO, socket or
 * terminal the caller passed in, e.g. stdin): node:fs reads it on a libuv
 * pool thread, which no cancel can stop. On io_uring such a read is armed on
 * poll and a deadline or an abort ends it; here:
 *
 *  - the read goes into a bounce buffer of its own, so the caller's pinned
 *    view is written only while its operation is still in flight;
 *  - the operation stays cancellable: a cancel or a linked deadline completes
 *    it at once (-ECANCELED), and the pool read carries on alone;
 *  - bytes such an orphaned read brings in are kept for the next READ of the
 *    same open file (same fd, device and inode), so nothing is lost or
 *    reordered; one pool read per fd at a time (later reads wait for it).
 *
 * Regular files, block devices and character devices that are not terminals
 * never wait: they take the direct path (no bounce, not cancellable, as
 * files.ts). Which path an fd takes is learnt with one fstat and remembered
 * until the fd is closed through the ring (a stale hint only changes the
 * path, never the result: both paths read the same bytes).
 */
import fs from 'node:fs';
import tty from 'node:tty';

import { errnoOf, type Op } from './engine.js';

/** One open stream file behind an fd: its identity, the pool read in progress and what an orphaned read left. */
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
  /** fds known not to wait (regular files and the like): a hint, cleared when the fd is closed through the ring. */
  readonly #direct = new Set<number>();
  readonly #streams = new Map<number, StreamState>();

  /** `fd` was closed through the ring: forget what was learnt about it. */
  closed(fd: number): void {
    this.#direct.delete(fd);
    const s = this.#streams.get(fd);
    if (s !== undefined && !s.busy && s.waiters.length === 0) this.#streams.delete(fd);
  }

  /** A READ of `view` at `position` (-1: the current position) on the real fd `op.fd`; ends in one op.complete(). */
  read(op: Op, view: Uint8Array, position: number): void {
    const pos = position === -1 ? null : position;
    if (this.#direct.has(op.fd)) return direct(op, view, pos);
    fs.fstat(op.fd, (err, st) => {
      if (op.done) return; // cancelled before anything was read
      if (err) return op.complete(errnoOf(err));
      if (!(st.isSocket() || st.isFIFO() || (st.isCharacterDevice() && tty.isatty(op.fd)))) {
        this.#direct.add(op.fd);
        return direct(op, view, pos);
      }
      let s = this.#streams.get(op.fd);
      if (s === undefined || s.dev !== st.dev || s.ino !== st.ino) {
        // Another open file now (the fd was closed and reused): what the old one left is not this file's.
        s = { dev: st.dev, ino: st.ino, reader: undefined, busy: false, stash: undefined, waiters: [] };
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
      } else if (res > 0) {
        s.stash = s.stash === undefined ? Buffer.from(bounce.subarray(0, res)) : Buffer.concat([s.stash, bounce.subarray(0, res)]);
      }
      for (const wake of s.waiters.splice(0)) wake();
    });
  }
}

function direct(op: Op, view: Uint8Array, pos: number | null): void {
  op.cancellable = false;
  fs.read(op.fd, view, 0, view.length, pos, (err, n) => op.complete(err ? errnoOf(err) : n));
}
