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
import { closeSync } from 'node:fs';
import os from 'node:os';

import { invalidArgType, outOfRange, SystemError } from '../errors.js';
import { File } from '../fs/file.js';
import '../ops/file.js';
import { sysOf } from '../ops/socket.js';
import { checkOptions, type OpOptions } from '../ops/validate.js';
import type { Ring } from '../ring/ring.js';
import { isSocket } from './brand.js';
import { socketClosed } from './options.js';
// Type only: socket.ts imports this module (Socket.sendFile); this one never loads socket.ts.
import type { Socket } from './socket.js';

/** Pipe capacity asked for with F_SETPIPE_SZ (the kernel may round it, or refuse and keep 64 KiB). */
export const SENDFILE_PIPE_SIZE = 1 << 20;
/** Pipes kept per ring between transfers; more concurrent transfers open (and then close) extra pipes. */
export const SENDFILE_POOL_MAX = 16;

const MAX_RW = 0x7ffff000; // the kernel's MAX_RW_COUNT: the most one splice moves

interface Pipe {
  readonly r: number;
  readonly w: number;
}

const pools = new WeakMap<Ring, Pipe[]>();

/** Pooled pipes of a ring that is garbage-collected without drainSendFilePipes() are closed then. */
const finalizer = new FinalizationRegistry<Pipe[]>((pool) => {
  for (const p of pool.splice(0)) closePipe(p);
});

function closePipe(p: Pipe): void {
  // Plain close(2): a pipe's close never blocks, and it must work on a ring that is already closed.
  try {
    closeSync(p.r);
  } catch {
    /* already gone */
  }
  try {
    closeSync(p.w);
  } catch {
    /* already gone */
  }
}

function acquire(ring: Ring): Pipe {
  const pooled = pools.get(ring)?.pop();
  if (pooled !== undefined) return pooled;
  const r = sysOf(ring).pipe(SENDFILE_PIPE_SIZE);
  if (typeof r === 'number') throw new SystemError(r, 'pipe');
  return { r: r[0], w: r[1] };
}

function release(ring: Ring, p: Pipe): void {
  if (ring.closed) return closePipe(p);
  let pool = pools.get(ring);
  if (pool === undefined) {
    pool = [];
    pools.set(ring, pool);
    finalizer.register(ring, pool);
  }
  if (pool.length < SENDFILE_POOL_MAX) pool.push(p);
  else closePipe(p);
}

/** How many idle pipes the ring's sendFile pool holds (for tests and diagnostics). */
export function sendFilePoolSize(ring: Ring): number {
  return pools.get(ring)?.length ?? 0;
}

/**
 * Closes the idle pipes of the ring's sendFile pool (e.g. before or after
 * ring.close(); transfers in progress keep theirs and close them at the end
 * when the ring is closed by then). Returns how many pipes were closed.
 */
export function drainSendFilePipes(ring: Ring): number {
  const pool = pools.get(ring);
  if (pool === undefined) return 0;
  const all = pool.splice(0);
  for (const p of all) closePipe(p);
  return all.length;
}

function checkCount(v: unknown, name: string): number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isSafeInteger(v) || v < 0) throw outOfRange(name, `an integer >= 0 && <= ${Number.MAX_SAFE_INTEGER}`, v);
  return v;
}

/**
 * Sends `length` bytes of `file` from `offset` (default: from 0 to the end of
 * the file, by fstat) to `socket` without copying them through user space.
 * The file's own position is not used nor moved.
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
  options?: OpOptions): Promise<number> {
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

  if (length === undefined) {
    const st = await ring.statx(fdIn, options);
    length = Math.max(0, st.size - offset);
  }
  // In the socket's write order: after every write queued earlier, before later ones.
  const total = length;
  return socket.enqueue(() => transfer(socket, ring, fdIn, offset, total, options));
}

async function transfer(socket: Socket, ring: Ring, fdIn: number, offset: number, length: number,
  options: OpOptions | undefined): Promise<number> {
  if (length === 0) return 0;
  if (socket.closed) throw socketClosed('sendfile');
  const fdOut = socket.fd;

  const pipe = acquire(ring);
  let sent = 0;
  let pos = offset;
  try {
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
    closePipe(pipe); // it may hold bytes, or be in an unknown state: never pooled
    throw err;
  }
  release(ring, pipe);
  return sent;
}
