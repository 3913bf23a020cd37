/**
 * pipeSockets(): the loop behind Socket.pipeTo. Socket → socket through two
 * reused buffers: one is received into while the other is being sent, so
 * the kernel copies each byte twice (in and out) and JavaScript never
 * copies or allocates per chunk. The buffers are never handed to anyone
 * (the memory rule is about bytes given to a user; these stay inside).
 *
 * Backpressure is exact: a receive into a buffer starts only after that
 * buffer's previous send completed, so at most 2 × chunkSize bytes are in
 * user memory and a slow destination stops the source in TCP.
 *
 * Why not splice(2) through a pipe (as sendFile)? A socket → pipe splice
 * has no non-blocking form in io_uring: each one runs on an io-wq kernel
 * thread, one per active pipe, where deadlines and fairness do not reach
 * (see issue 16 item 2). Not measured against this loop.
 */
import { AbortError, invalidArgType } from '../errors.js';
import type { OpOptions } from '../ops/validate.js';
import type { Ring } from '../ring/ring.js';
import { checkChunkSize } from './receive.js';

export interface PipeOptions {
  /** Half-close the destination when the source ends (default true). */
  end?: boolean;
  /** Size of each of the two buffers, in bytes (default 256 KiB; 1 KiB to 64 MiB). */
  chunkSize?: number;
  /** Stops the pipe: both sockets are destroyed and the promise rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface PipeResult {
  /** Bytes moved from the source to the destination. */
  bytes: number;
}

/** What the loop needs of the two sockets (Socket satisfies it). */
export interface PipeEnd {
  write(data: ArrayBufferView, options: { length: number; signal?: AbortSignal }): Promise<number>;
  shutdown(how: 'write'): Promise<void>;
  destroy(): void;
}

/** Checks `options` now (throws), then runs the pipe; `srcFd` is the source's fd, its read side already taken. */
export function pipeSockets(ring: Ring, srcFd: number, source: PipeEnd, destination: PipeEnd,
  options: PipeOptions | undefined): Promise<PipeResult> {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw invalidArgType('options', 'of type object', options);
  }
  const size = checkChunkSize(options?.chunkSize);
  const end = options?.end ?? true;
  if (typeof end !== 'boolean') throw invalidArgType('options.end', 'of type boolean', end);
  const signal = options?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
  }
  return run(ring, srcFd, source, destination, size, end, signal);
}

async function run(ring: Ring, srcFd: number, source: PipeEnd, destination: PipeEnd, size: number, end: boolean,
  signal: AbortSignal | undefined): Promise<PipeResult> {
  const bufs = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  const recvOpts: OpOptions = signal === undefined ? {} : { signal };
  let bytes = 0;
  let sending: Promise<number> | undefined;
  let i = 0;
  try {
    if (signal?.aborted) throw new AbortError('The operation was aborted', { cause: signal.reason });
    for (;;) {
      const buf = bufs[i]!;
      const n = await ring.recv(srcFd, buf, recvOpts);
      if (n === 0) break;
      if (sending !== undefined) await sending; // the other buffer is free again; one send at a time
      sending = destination.write(buf, signal === undefined ? { length: n } : { length: n, signal });
      // A send that fails while the next receive waits would go unnoticed until that receive ends: end it now.
      sending.catch(() => source.destroy());
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
    throw err;
  }
}
