/**
 * pipeSockets(): the loop behind Socket.pipeTo. Two ways to move the bytes:
 *
 * - splice (the default on the io_uring backend): socket → pipe → socket
 *   with IORING_OP_SPLICE through a pipe of the pair's own (F_SETPIPE_SZ
 *   `chunkSize`, default 1 MiB). On TCP the pipe takes references to the
 *   received pages and the send takes them over: no byte is copied by the
 *   CPU in the proxy (measured on loopback, 64 MiB: ~470 µs of proxy CPU per
 *   MiB against ~1000 for the buffer loop below and ~1200 for a node:net
 *   pipe() proxy; see docs/guides/networking.md).
 *   io_uring runs a splice on a socket on an io-wq kernel thread, where a
 *   splice that waits holds the thread. So no splice here ever waits: each
 *   fill of the pipe first waits for the source to be readable
 *   (IORING_OP_POLL_ADD, no thread held) and is SPLICE_F_NONBLOCK (it moves
 *   what the socket holds, never waits for more); each drain runs with
 *   O_NONBLOCK set on the destination's file for its length (restored
 *   after; it runs as a task in the destination's write order, so nothing
 *   else of ours writes meanwhile), so a full send buffer returns EAGAIN
 *   and the drain waits for POLLOUT instead. (Without the addon's
 *   setNonBlocking, an older build, a drain into a full send buffer waits
 *   in the kernel as sendFile's does, until the peer reads or either socket
 *   is destroyed.)
 * - copy: two reused buffers, one received into while the other is sent
 *   (kernel copies each byte twice, in and out; JavaScript never copies or
 *   allocates per chunk). Used on the portable backend, without
 *   IORING_OP_SPLICE, when pipe(2) fails (EMFILE...), or on request.
 *
 * Backpressure is exact in both: the next fill (receive) starts only after
 * the destination took the previous one, so at most one pipe (splice) or
 * 2 × chunkSize bytes (copy) are held by the pair and a slow destination
 * stops the source in TCP. Each drain runs in the destination's write order
 * (Socket.enqueue), after writes queued before it.
 *
 * While the loop waits for the destination and no receive is pending on
 * the source, a reset of the source would go unnoticed until the
 * destination moves (never, if it stalled): so each such wait that really
 * waits (a drain waiting for POLLOUT, a send still in flight) also watches
 * the source with a poll for POLLERR (SourceWatch), and a socket error ends
 * the pipe with that error.
 */
import os from 'node:os';

import { checkAborted, invalidArgType, invalidArgValue, SystemError } from '../errors.js';
import { POLL } from '../ops/poll.js';
import { sysOf } from '../ops/socket.js';
import { closeOnRing } from '../ops/sync-close.js';
import type { OpOptions } from '../ops/validate.js';
import { ringInternals, type Ring } from '../ring/ring.js';
import { checkChunkSize } from './receive.js';
import { SO_ERROR, SOL_SOCKET, socketClosed } from './options.js';

export interface PipeOptions {
  /** Half-close the destination when the source ends (default true). */
  end?: boolean;
  /**
   * Bytes held per step, 1 KiB to 64 MiB: the pipe's size with splice
   * (default 1 MiB; the kernel rounds it to a power of two pages and keeps
   * 64 KiB when fs.pipe-max-size refuses more), each of the two buffers'
   * size with copy (default 256 KiB).
   */
  chunkSize?: number;
  /**
   * 'auto' (default): splice where the ring can (io_uring backend with
   * IORING_OP_SPLICE and a pipe to be had), else copy. 'splice': splice or
   * reject (ERR_INVALID_ARG_VALUE on a ring without it). 'copy': the buffer
   * loop.
   */
  mode?: 'auto' | 'splice' | 'copy';
  /** Stops the pipe: both sockets are destroyed and the promise rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface PipeResult {
  /** Bytes moved from the source to the destination. */
  bytes: number;
}

/** What the loop needs of the two sockets (Socket satisfies it). */
export interface PipeEnd {
  /** The fd, or -1 once closed. */
  readonly fd: number;
  readonly ring: Ring;
  write(data: ArrayBufferView, options: { length: number; signal?: AbortSignal }): Promise<number>;
  /** Runs `task` in the socket's write order (after the writes queued before). */
  enqueue<T>(task: () => Promise<T>): Promise<T>;
  shutdown(how: 'write'): Promise<void>;
  destroy(): void;
}

/** Default pipe size of the splice path: measured against 256 KiB (~25% less proxy CPU per byte). */
export const SPLICE_CHUNK_SIZE = 1 << 20;

const SPLICE_F_MOVE = 1;
const SPLICE_F_NONBLOCK = 2;
const EAGAIN = os.constants.errno.EAGAIN;
const EPIPE = os.constants.errno.EPIPE;

/** Whether `ring` can splice between sockets: the io_uring backend with IORING_OP_SPLICE and POLL_ADD. */
export function canSplice(ring: Ring): boolean {
  return ringInternals().kernelBacked(ring) && !ring.closed && ring.supports('splice') && ring.supports('poll');
}

/** Checks `options` now (throws), then runs the pipe; `srcFd` is the source's fd, its read side already taken. */
export function pipeSockets(ring: Ring, srcFd: number, source: PipeEnd, destination: PipeEnd,
  options: PipeOptions | undefined): Promise<PipeResult> {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw invalidArgType('options', 'of type object', options);
  }
  const end = options?.end ?? true;
  if (typeof end !== 'boolean') throw invalidArgType('options.end', 'of type boolean', end);
  const signal = options?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
  }
  const mode = options?.mode ?? 'auto';
  if (mode !== 'auto' && mode !== 'splice' && mode !== 'copy') {
    throw invalidArgValue('options.mode', mode, "must be 'auto', 'splice' or 'copy'");
  }
  const chunk = options?.chunkSize;
  // Splice only on one ring: the destination's fd is used on the source's ring.
  const splice = mode !== 'copy' && destination.ring === ring && canSplice(ring);
  if (mode === 'splice' && !splice) {
    throw invalidArgValue('options.mode', mode, destination.ring !== ring
      ? 'needs both sockets on one ring' : 'is not available on this ring (io_uring backend with IORING_OP_SPLICE)');
  }
  if (splice) {
    const size = chunk === undefined ? SPLICE_CHUNK_SIZE : checkChunkSize(chunk);
    const p = sysOf(ring).pipe(size);
    if (typeof p !== 'number') return runSplice(ring, srcFd, destination, p, size, end, signal, source);
    if (mode === 'splice') throw new SystemError(p, 'pipe');
    // No pipe to be had (EMFILE, ENFILE): the buffer loop needs no fd.
  }
  return runCopy(ring, srcFd, source, destination, checkChunkSize(chunk), end, signal);
}

/**
 * Watches the source while the pipe waits for the destination with no
 * receive pending (see the header): during(wait) awaits `wait` while a poll
 * for POLLERR (io_uring also reports POLLHUP and POLLRDHUP) watches the
 * source. If the source has a socket error meanwhile (SO_ERROR, e.g.
 * ECONNRESET after a reset), that error becomes `failure` (a SystemError of
 * `syscall`) and both sockets are destroyed, which ends `wait`; during()
 * then throws it. A wake-up without an error (the peer's FIN) ends the
 * watch. during() settles only after its poll completed.
 */
class SourceWatch {
  readonly #ring: Ring;
  readonly #srcFd: number;
  readonly #source: PipeEnd;
  readonly #destination: PipeEnd;
  readonly #syscall: string;
  #failure: SystemError | undefined;

  constructor(ring: Ring, srcFd: number, source: PipeEnd, destination: PipeEnd, syscall: string) {
    this.#ring = ring;
    this.#srcFd = srcFd;
    this.#source = source;
    this.#destination = destination;
    this.#syscall = syscall;
  }

  /** The source's error seen during a wait, if any: the pipe's outcome. */
  get failure(): SystemError | undefined {
    return this.#failure;
  }

  async during<T>(wait: Promise<T>): Promise<T> {
    const stop = new AbortController();
    const watch = this.#ring.poll(this.#srcFd, POLL.ERR, { signal: stop.signal }).then(() => {
      // Only while the fd is still the source's: once destroyed, its number may be another file's.
      if (this.#source.fd !== this.#srcFd) return;
      const [v, ok] = sysOf(this.#ring).getsockopt(this.#srcFd, SOL_SOCKET, SO_ERROR);
      if (!ok || v === 0) return;
      this.#failure ??= new SystemError(v, this.#syscall);
      this.#source.destroy();
      this.#destination.destroy();
    }, () => {});
    let result: T;
    try {
      result = await wait;
    } finally {
      stop.abort();
      await watch;
    }
    if (this.#failure !== undefined) throw this.#failure;
    return result;
  }
}

/**
 * The splice loop. `pipe` is the pair's own [read, write] pipe (closed at
 * the end, whatever happened: it may hold bytes after an error).
 */
async function runSplice(ring: Ring, srcFd: number, destination: PipeEnd, pipe: [number, number], size: number,
  end: boolean, signal: AbortSignal | undefined, source: PipeEnd): Promise<PipeResult> {
  const [pr, pw] = pipe;
  const opts: OpOptions & { flags: number } = { flags: SPLICE_F_NONBLOCK | SPLICE_F_MOVE };
  const pollOpts: OpOptions = {};
  if (signal !== undefined) opts.signal = pollOpts.signal = signal;
  let bytes = 0;
  let left = 0;
  const watch = new SourceWatch(ring, srcFd, source, destination, 'splice');
  const sys = sysOf(ring);
  const setNonBlocking = sys.setNonBlocking?.bind(sys);
  /** Whether the current drain started (it starts at once unless writes queued before it wait). */
  let started = false;
  /** Drains `left` bytes of the pipe into the destination (a task in its write order). */
  const drain = async (): Promise<void> => {
    started = true;
    const fdOut = destination.fd;
    if (fdOut < 0) throw socketClosed('send');
    // O_NONBLOCK for this drain only (a sendFile queued after it splices into a blocking socket as it expects).
    const was = setNonBlocking?.(fdOut, true) ?? 1;
    try {
      while (left > 0) {
        let n: number;
        try {
          n = await ring.splice(pr, null, fdOut, null, left, opts);
        } catch (e) {
          if ((e as { errno?: number }).errno !== -EAGAIN) throw e;
          // No room: wait for it without holding a kernel thread, watching the source meanwhile.
          await watch.during(ring.poll(fdOut, POLL.OUT, pollOpts));
          continue;
        }
        if (n === 0) throw new SystemError(-EPIPE, 'splice');
        left -= n;
        bytes += n;
      }
    } finally {
      // Only while the fd is still the destination's: once destroyed, its number may already be another file's.
      if (was === 0 && destination.fd === fdOut) setNonBlocking?.(fdOut, false);
    }
  };
  try {
    checkAborted(signal);
    for (;;) {
      // Readable (data, end or error) first: the splice then never waits for data on an io-wq thread.
      await ring.poll(srcFd, POLL.IN, pollOpts);
      let n: number;
      try {
        n = await ring.splice(srcFd, null, pw, null, size, opts);
      } catch (e) {
        if ((e as { errno?: number }).errno === -EAGAIN) continue; // nothing after all: poll again
        throw e;
      }
      if (n === 0) break;
      left = n;
      started = false;
      const drained = destination.enqueue(drain);
      // A drain that started waits only for POLLOUT (watched there); one queued behind writes, or one
      // whose splice may block (no setNonBlocking), is watched as a whole. (A watch per fill would cost
      // a poll and its cancel each time: measured ~40% more proxy CPU per MiB.)
      await (started && setNonBlocking !== undefined ? drained : watch.during(drained));
    }
    if (end) await destination.shutdown('write');
    return { bytes };
  } catch (err) {
    source.destroy();
    destination.destroy();
    throw watch.failure ?? err;
  } finally {
    void closeOnRing(ring, pr).catch(() => {});
    void closeOnRing(ring, pw).catch(() => {});
  }
}

async function runCopy(ring: Ring, srcFd: number, source: PipeEnd, destination: PipeEnd, size: number, end: boolean,
  signal: AbortSignal | undefined): Promise<PipeResult> {
  const bufs = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  const recvOpts: OpOptions = signal === undefined ? {} : { signal };
  let bytes = 0;
  let sending: Promise<number> | undefined;
  /** Whether `sending` settled: only a send still in flight is waited for with a watch on the source. */
  let sent = false;
  let i = 0;
  const watch = new SourceWatch(ring, srcFd, source, destination, 'recv');
  try {
    checkAborted(signal);
    for (;;) {
      const buf = bufs[i]!;
      const n = await ring.recv(srcFd, buf, recvOpts);
      if (n === 0) break;
      // The other buffer is free again once its send completed; one send at a time. No receive is pending meanwhile.
      if (sending !== undefined) await (sent ? sending : watch.during(sending));
      sent = false;
      sending = destination.write(buf, signal === undefined ? { length: n } : { length: n, signal });
      sending.then(() => {
        sent = true;
      }, () => {
        sent = true;
        // A send that fails while the next receive waits would go unnoticed until that receive ends: end it now.
        source.destroy();
      });
      bytes += n;
      i ^= 1;
    }
    if (sending !== undefined) await sending;
    if (end) await destination.shutdown('write');
    return { bytes };
  } catch (err) {
    source.destroy();
    destination.destroy();
    // A send still in flight holds a buffer: settle it before the buffers may go (it fails once destroyed).
    if (sending !== undefined) await sending.catch(() => {});
    throw watch.failure ?? err;
  }
}
