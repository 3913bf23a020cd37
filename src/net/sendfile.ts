/**
 * sendFile: zero-copy file → socket transfer on the ring, by splice(2)
 * through a pipe (IORING_OP_SPLICE file → pipe, then pipe → socket), the way
 * sendfile(2) works inside the kernel. The bytes never enter user space.
 *
 * Pipes come from a small per-ring pool (at most POOL_MAX pipes of 1 MiB
 * each are kept). A pipe goes back to the pool only after a clean transfer
 * left it empty; a pipe that saw any error (or may still hold bytes) is
 * closed and dropped, so no stale bytes can ever reach another socket.
 */
import os from 'node:os';

import { invalidArgType, invalidArgValue, outOfRange, RingClosedError, SystemError } from '../errors.js';
import { File } from '../fs/file.js';
import '../ops/file.js';
import { MAX_RW } from '../ops/args.js';
import { sysOf } from '../ops/socket.js';
import { syncCloser, type SyncClose } from '../ops/sync-close.js';
import { checkOptions, type OpOptions } from '../ops/validate.js';
import { Ring } from '../ring/ring.js';
import { isSocket } from './brand.js';
import { socketClosed } from './options.js';
// Type only: socket.ts imports this module (Socket.sendFile); this one never loads socket.ts.
import type { Socket } from './socket.js';

/** Pipe capacity asked for with F_SETPIPE_SZ (the kernel may round it, or refuse and keep 64 KiB). */
export const SENDFILE_PIPE_SIZE = 1 << 20;
/** Pipes kept per ring between transfers; more concurrent transfers open (and then close) extra pipes. */
export const SENDFILE_POOL_MAX = 16;


interface Pipe {
  readonly r: number;
  readonly w: number;
}

interface Pool {
  readonly pipes: Pipe[];
  readonly close: SyncClose;
}

const pools = new WeakMap<Ring, Pool>();

/** Pooled pipes of a ring that is garbage-collected without drainSendFilePipes() are closed then. */
const finalizer = new FinalizationRegistry<Pool>((pool) => {
  for (const p of pool.pipes.splice(0)) closePair(pool.close, p);
});

/** A lease dropped without release() or sendFile(): its pipe is closed when the lease is collected. */
const leaseFinalizer = new FinalizationRegistry<{ pipe: Pipe; close: SyncClose }>((h) => closePair(h.close, h.pipe));

function poolOf(ring: Ring): Pool {
  let pool = pools.get(ring);
  if (pool === undefined) {
    pool = { pipes: [], close: syncCloser(ring) };
    pools.set(ring, pool);
    finalizer.register(ring, pool);
  }
  return pool;
}

function closePair(close: SyncClose, p: Pipe): void {
  close(p.r);
  close(p.w);
}

/**
 * Closes a pipe of the ring's backend: through the ring (IORING_OP_CLOSE,
 * which also untracks it) while the ring is open; synchronously through the
 * backend once the ring is closing or closed (a close the closing ring
 * refused, ERR_RING_CLOSED, takes the same path).
 */
function closePipe(ring: Ring, p: Pipe): void {
  const close = poolOf(ring).close;
  if (ring.closed) return closePair(close, p);
  for (const fd of [p.r, p.w]) {
    ring.closeFd(fd, { ref: false }, (err) => {
      if ((err as { code?: string } | null)?.code === 'ERR_RING_CLOSED') close(fd);
    });
  }
}

function acquire(ring: Ring): Pipe {
  const pooled = pools.get(ring)?.pipes.pop();
  if (pooled !== undefined) return pooled;
  const r = sysOf(ring).pipe(SENDFILE_PIPE_SIZE);
  if (typeof r === 'number') throw new SystemError(r, 'pipe');
  return { r: r[0], w: r[1] };
}

/** A clean (empty) pipe goes back to the pool, or is closed when the pool is full or the ring closed. */
function release(ring: Ring, p: Pipe): void {
  if (ring.closed) return closePipe(ring, p);
  const pool = poolOf(ring);
  if (pool.pipes.length < SENDFILE_POOL_MAX) pool.pipes.push(p);
  else closePipe(ring, p);
}

/** Friend access to a lease's pipe (set by SendFilePipe's static block). */
let takeLease: (lease: SendFilePipe) => Pipe | undefined;
const leaseToken: unique symbol = Symbol('SendFilePipe');

/**
 * A pipe taken for one sendFile ahead of time (reserveSendFilePipe): pass it
 * as `sendFile(..., { pipe })`, which consumes it, or give it back with
 * release(). A lease is used once.
 */
export class SendFilePipe {
  readonly #ring: Ring;
  #pipe: Pipe | undefined;

  /** @internal Made by reserveSendFilePipe() only (a lease of arbitrary fds would let sendFile close them). */
  constructor(token: typeof leaseToken, ring: Ring, pipe: Pipe) {
    if (token !== leaseToken) throw new TypeError('Illegal constructor: use reserveSendFilePipe(ring)');
    this.#ring = ring;
    this.#pipe = pipe;
    leaseFinalizer.register(this, { pipe, close: poolOf(ring).close }, this);
  }

  /** The ring whose backend made the pipe (sendFile on a socket of another ring refuses the lease). */
  get ring(): Ring {
    return this.#ring;
  }

  /** False once sendFile took the pipe or release() gave it back. */
  get held(): boolean {
    return this.#pipe !== undefined;
  }

  /** Gives the unused pipe back to the pool (idempotent; no effect once sendFile took it). */
  release(): void {
    const p = this.#take();
    if (p !== undefined) release(this.#ring, p);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  /** @internal Takes the pipe out of the lease (undefined when it was already taken or released). */
  #take(): Pipe | undefined {
    const p = this.#pipe;
    this.#pipe = undefined;
    if (p !== undefined) leaseFinalizer.unregister(this);
    return p;
  }

  static {
    takeLease = (lease) => lease.#take();
  }
}


/**
 * Takes a pipe for one sendFile now (from the ring's pool, or a new one):
 * throws the SystemError of pipe(2) — EMFILE, ENFILE — synchronously, so a
 * server learns that it cannot send a file before it writes anything (the
 * response head included). Pass the lease as `sendFile(..., { pipe })`, or
 * call `lease.release()` when the transfer does not happen.
 */
export function reserveSendFilePipe(ring: Ring): SendFilePipe {
  if (!(ring instanceof Ring)) throw invalidArgType('ring', 'an instance of Ring', ring);
  if (ring.closed) throw new RingClosedError('reserveSendFilePipe');
  return new SendFilePipe(leaseToken, ring, acquire(ring));
}

/** How many idle pipes the ring's sendFile pool holds (for tests and diagnostics). */
export function sendFilePoolSize(ring: Ring): number {
  return pools.get(ring)?.pipes.length ?? 0;
}

/**
 * Closes the idle pipes of the ring's sendFile pool (e.g. before or after
 * ring.close(); transfers in progress keep theirs and close them at the end
 * when the ring is closed by then). They are closed before it returns,
 * synchronously through the ring's backend (never by node:fs on a number
 * that is not a real fd of the process). Returns how many pipes were closed.
 */
export function drainSendFilePipes(ring: Ring): number {
  const pool = pools.get(ring);
  if (pool === undefined) return 0;
  const all = pool.pipes.splice(0);
  for (const p of all) closePair(pool.close, p);
  return all.length;
}

function checkCount(v: unknown, name: string): number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isSafeInteger(v) || v < 0) throw outOfRange(name, `an integer >= 0 && <= ${Number.MAX_SAFE_INTEGER}`, v);
  return v;
}

/** sendFile's options: those of every operation, and a pipe reserved ahead (reserveSendFilePipe). */
export interface SendFileOptions extends OpOptions {
  /** The pipe to use (consumed: the lease is spent whether the transfer succeeds or not). */
  pipe?: SendFilePipe;
}

/**
 * Sends `length` bytes of `file` from `offset` (default: from 0 to the end of
 * the file, by fstat) to `socket` without copying them through user space.
 * The file's own position is not used nor moved.
 *
 * The pipe is taken when sendFile is called, before anything is queued: when
 * pipe(2) fails (EMFILE, ENFILE) sendFile rejects with that SystemError and
 * nothing was written to the socket. `options.pipe` passes a pipe taken
 * earlier with reserveSendFilePipe() (to learn of EMFILE before writing a
 * response head); sendFile consumes it, also when it rejects.
 *
 * Bytes written to the socket before the call go out first (sendFile waits
 * for the socket's queued writes). Resolves with the bytes sent: `length`, or
 * fewer only when the file ended first (as sendfile(2)). Rejects on any
 * error, the peer closing included; how many bytes reached the socket before
 * an error is then unknown, so the connection should be closed.
 *
 * `options.signal` aborts the transfer; `options.timeout` bounds each splice
 * step (one pipe's worth of bytes), not the whole transfer.
 */
export async function sendFile(socket: Socket, file: File | number, offset = 0, length?: number,
  options?: SendFileOptions): Promise<number> {
  // A lease is spent by every call that gets it, even one that rejects on its arguments.
  const lease = options !== null && typeof options === 'object' ? options.pipe : undefined;
  let pipe = lease instanceof SendFilePipe ? takeLease(lease) : undefined;
  try {
    if (lease !== undefined && !(lease instanceof SendFilePipe)) {
      throw invalidArgType('options.pipe', 'a SendFilePipe (reserveSendFilePipe())', lease);
    }
    if (lease !== undefined && pipe === undefined) {
      throw invalidArgValue('options.pipe', lease, 'is a lease already used or released');
    }
    if (!isSocket(socket)) throw invalidArgType('socket', 'an instance of Socket', socket);
    let fdIn: number;
    if (file instanceof File) fdIn = file.fd;
    else if (typeof file === 'number') fdIn = file;
    else throw invalidArgType('file', 'a File or a file descriptor', file);
    if (!Number.isInteger(fdIn) || fdIn < 0 || fdIn > 0x7fffffff) {
      if (file instanceof File) throw new SystemError(os.constants.errno.EBADF, 'sendfile (the File is closed)');
      throw outOfRange('file', '>= 0 && <= 2147483647', fdIn);
    }
    checkCount(offset, 'offset');
    if (length !== undefined) checkCount(length, 'length');
    checkOptions(options);
    const ring = socket.ring;
    if (lease !== undefined && lease.ring !== ring) {
      throw invalidArgValue('options.pipe', lease, "was reserved on another ring than the socket's");
    }
    if (socket.closed) throw socketClosed('sendfile');
    const opts = lease === undefined ? options : withoutPipe(options!);
    // Take the pipe now: EMFILE/ENFILE reject before anything is queued on the socket.
    pipe ??= acquire(ring);

    if (length === undefined) {
      const st = await ring.statx(fdIn, opts);
      length = Math.max(0, st.size - offset);
    }
    // In the socket's write order: after every write queued earlier, before later ones.
    const total = length;
    const p = pipe;
    pipe = undefined; // the task owns it from here
    return await socket.enqueue(() => transfer(socket, ring, p, fdIn, offset, total, opts));
  } finally {
    // Not handed to a transfer (bad arguments, statx failed): it is clean, back to the pool.
    if (pipe !== undefined) release(lease !== undefined ? lease.ring : socket.ring, pipe);
  }
}

function withoutPipe(options: SendFileOptions): OpOptions {
  const { pipe: _pipe, ...rest } = options;
  return rest;
}

/** Runs in the socket's write order with `pipe` (owned: pooled again after a clean transfer, else closed). */
async function transfer(socket: Socket, ring: Ring, pipe: Pipe, fdIn: number, offset: number, length: number,
  options: OpOptions | undefined): Promise<number> {
  let sent = 0;
  let pos = offset;
  try {
    if (length === 0) {
      release(ring, pipe);
      return 0;
    }
    if (socket.closed) throw socketClosed('sendfile');
    const fdOut = socket.fd;
    while (sent < length) {
      // Fill the (empty) pipe from the file: one splice, as much as the pipe takes.
      const inPipe = await ring.splice(fdIn, pos, pipe.w, null, Math.min(length - sent, SENDFILE_PIPE_SIZE, MAX_RW),
        options);
      if (inPipe === 0) break; // end of file before `length`
      pos += inPipe;
      // Drain it into the socket, continuing partial splices.
      let left = inPipe;
      while (left > 0) {
        const n = await ring.splice(pipe.r, null, fdOut, null, left, options);
        if (n === 0) throw new SystemError(os.constants.errno.EPIPE, 'splice');
        left -= n;
        sent += n;
      }
    }
  } catch (err) {
    closePipe(ring, pipe); // it may hold bytes, or be in an unknown state: never pooled
    throw err;
  }
  release(ring, pipe);
  return sent;
}
