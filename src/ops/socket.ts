/**
 * Socket operations on the ring: accept (one-shot and multishot), connect,
 * send (MSG_NOSIGNAL always; zero-copy on request), recv (one-shot and
 * multishot into a provided-buffer ring), sendmsg/recvmsg with addresses,
 * shutdown. Argument checking and result shaping; each is a Ring method.
 */
import { invalidArgType, outOfRange, SystemError } from '../errors.js';
import { DescOp } from '../backend/protocol.js';
import { MultishotIterator } from '../ring/multishot.js';
import { ringInternals, type OpExtra, type Ring } from '../ring/ring.js';
import { IORING_OP, OP } from './table.js';
import type { SyscallBackend } from '../backend/backend.js';
import { checkView, MAX_RW, splitArgs } from './args.js';
import { providedBufferRing, type ProvidedBufferRing } from '../buffer/provided-buffer-ring.js';
import { checkCallback, checkFd, checkOptions, checkUint32, type Callback, type OpOptions } from './validate.js';

export interface SendOptions extends OpOptions {
  offset?: number;
  length?: number;
  /** MSG_* flags (MSG_NOSIGNAL is always added). */
  flags?: number;
  /**
   * IORING_OP_SEND_ZC (true): the kernel sends from `data` without copying;
   * it stays pinned until the kernel's notification CQE. On `ring.send` only
   * `true` selects it; `Socket.write` also takes 'auto' (its policy: see
   * Socket.setZeroCopy).
   */
  zeroCopy?: boolean | 'auto';
}

export interface RecvOptions extends OpOptions {
  offset?: number;
  length?: number;
  flags?: number;
}

export {
  DEFAULT_POOL, providedBufferRing, type ProvidedBufferRing,
  /** @deprecated the old name (src/net still imports it): providedBufferRing. */
  providedBufferRing as bufferPool,
} from '../buffer/provided-buffer-ring.js';

/** The set-up syscalls of the ring's backend: `ringInternals().sys(ring)` (this name stays for src/net). */
export function sysOf(ring: Ring): SyscallBackend {
  return ringInternals().sys(ring);
}


function window(buf: ArrayBufferView, o: { offset?: number; length?: number } | undefined): [number, number] {
  const offset = o?.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > buf.byteLength) {
    throw outOfRange('options.offset', `an integer >= 0 && <= ${buf.byteLength}`, offset);
  }
  const length = o?.length ?? Math.min(buf.byteLength - offset, MAX_RW);
  if (!Number.isSafeInteger(length) || length < 0 || offset + length > buf.byteLength || length > MAX_RW) {
    throw outOfRange('options.length', `an integer >= 0 && <= ${Math.min(buf.byteLength - offset, MAX_RW)}`, length);
  }
  return [offset, length];
}


function flagsOf(o: { flags?: number } | undefined): number {
  const f = o?.flags ?? 0;
  checkUint32(f, 'options.flags');
  return f;
}

declare module '../ring/ring.js' {
  interface Ring {
    /** Accepts one connection; resolves with the new fd (O_CLOEXEC). */
    accept(fd: number, options?: OpOptions): Promise<number>;
    accept(fd: number, options: OpOptions | undefined, callback: Callback<number>): void;
    /** Multishot accept (Linux 5.19+): yields new fds until `return()`; fds left unconsumed are closed. */
    acceptMultishot(fd: number, options?: OpOptions): MultishotIterator<number>;
    /** connect(2) to a sockaddr built by SocketAddress (bytes, length). */
    connect(fd: number, sockaddr: Buffer, length: number, options?: OpOptions): Promise<void>;
    connect(fd: number, sockaddr: Buffer, length: number, options: OpOptions | undefined, callback: Callback<void>): void;
    /** send(2) on a socket (MSG_NOSIGNAL always). The ring-to-ring message is `ring.sendMessage`. */
    send(fd: number, data: ArrayBufferView, options?: SendOptions): Promise<number>;
    send(fd: number, data: ArrayBufferView, options: SendOptions | undefined, callback: Callback<number>): void;
    recv(fd: number, buffer: ArrayBufferView, options?: RecvOptions): Promise<number>;
    recv(fd: number, buffer: ArrayBufferView, options: RecvOptions | undefined, callback: Callback<number>): void;
    /**
     * Multishot recv into the ring's provided-buffer pool: yields Buffers (an
     * empty Buffer at end of stream, then ends). Ends with ENOBUFS when the
     * pool ran dry (re-arm), and stops by itself when about 1 MiB waits unread
     * (it then ends once drained: re-arm). Null when the kernel lacks buffer rings.
     */
    recvMultishot(fd: number, options?: RecvOptions): MultishotIterator<Buffer> | null;
    /**
     * The callback form: `callback(null, chunk, more)` for each chunk (`more`
     * false on the final CQE; an empty chunk is the end of stream), or
     * `callback(err)` once (ENOBUFS: re-arm). No Promise per chunk. Returns a
     * handle whose cancel() stops it (the final callback is an AbortError), or
     * null when the kernel lacks buffer rings.
     */
    recvMultishot(fd: number, options: RecvOptions | undefined,
      callback: (err: Error | null, chunk?: Buffer, more?: boolean) => void): { cancel(): void } | null;
    sendmsg(fd: number, data: ArrayBufferView, sockaddr: Buffer | null, sockaddrLength: number,
      options?: SendOptions): Promise<number>;
    /** recvmsg into `buffer`; the sender's sockaddr is written into `sockaddrOut` (>= 128 bytes). */
    recvmsg(fd: number, buffer: ArrayBufferView, sockaddrOut: Buffer, options?: RecvOptions): Promise<number>;
    /** shutdown(2): 0 = read, 1 = write, 2 = both. */
    shutdown(fd: number, how: number, options?: OpOptions): Promise<void>;
    shutdown(fd: number, how: number, options: OpOptions | undefined, callback: Callback<void>): void;
  }
}

export function accept(this: Ring, fd: number, a?: OpOptions | Callback<number>, b?: Callback<number>) {
  checkFd(fd);
  const [opts, cb] = splitArgs<number, OpOptions>(a, b);
  checkOptions(opts);
  return ringInternals().run<number>(this, OP.accept!, DescOp.ACCEPT, fd, 0, 0, opts, cb, {});
}

export function acceptMultishot(this: Ring, fd: number, options?: OpOptions) {
  checkFd(fd);
  const opts = checkOptions(options);
  const ring = this;
  const it = new MultishotIterator<number>((lost) => {
    if (lost >= 0) ring.closeFd(lost, { ref: false }, () => {});
  });
  ringInternals().multishot(this, OP.acceptMultishot!, DescOp.ACCEPT, fd, 0, 1, opts, it, undefined, {});
  return it;
}

export function connect(this: Ring, fd: number, sockaddr: Buffer, length: number,
  a?: OpOptions | Callback<void>, b?: Callback<void>) {
  checkFd(fd);
  if (!Buffer.isBuffer(sockaddr)) throw invalidArgType('sockaddr', 'a Buffer (from SocketAddress)', sockaddr);
  checkUint32(length, 'length');
  if (length < 2 || length > sockaddr.length) throw outOfRange('length', `>= 2 && <= ${sockaddr.length}`, length);
  const [opts, cb] = splitArgs<void, OpOptions>(a, b);
  checkOptions(opts);
  return ringInternals().run<void>(this, OP.connect!, DescOp.CONNECT, fd, length, 0, opts, cb, { pin: sockaddr });
}

export function send(this: Ring, fd: number, data: ArrayBufferView, a?: SendOptions | Callback<number>,
  b?: Callback<number>) {
  checkFd(fd);
  checkView(data, 'data');
  const [opts, cb] = splitArgs<number, SendOptions>(a, b);
  checkOptions(opts);
  const [offset, length] = window(data, opts);
  const zc = opts?.zeroCopy === true && this.supports(IORING_OP.SEND_ZC);
  return ringInternals().run<number>(this, zc ? OP.sendZc! : OP.send!, zc ? DescOp.SEND_ZC : DescOp.SEND, fd,
    flagsOf(opts), 0, opts, cb, { pin: data, offset, length });
}

/**
 * @internal The send `ring.send(fd, data, { offset, length }, callback)`
 * issues, for a caller that checked those arguments (the Socket write
 * queue: no second check per send). `mem` is { pin: data, offset, length };
 * the ring copies it into the operation's slot at once, so the caller may
 * reuse the object.
 */
export function sendChecked(ring: Ring, fd: number, mem: OpExtra, callback: Callback<number>): void {
  ringInternals().run<number>(ring, OP.send!, DescOp.SEND, fd, 0, 0, undefined, callback, mem);
}

/**
 * @internal IORING_OP_SEND_ZC reporting both of its completions:
 * `callback(null, bytes, true)` when the kernel took the bytes (or
 * `callback(err, undefined, true)` if the send failed), then
 * `callback(null, 0, false)` on the notification: the kernel no longer reads
 * `data` (the slot pins it until then). A send the kernel refused outright
 * ends with `callback(err, undefined, false)`. Arguments are checked by the caller.
 */
export function sendZeroCopy(ring: Ring, fd: number, data: ArrayBufferView, offset: number, length: number, flags: number,
  opts: OpOptions | undefined, callback: (err: Error | null, n?: number, more?: boolean) => void): void {
  checkOptions(opts); // as every operation: nothing half-issued on a bad signal or timeout
  ringInternals().multishot<number>(ring, OP.sendZcNotify!, DescOp.SEND_ZC, fd, flags, 0, opts, undefined,
    (err, n, more) => {
      if (err === null && more === true && n! < 0) callback(new SystemError(n!, 'send'), undefined, true);
      else callback(err, n, more);
    }, { pin: data, offset, length });
}

export function recv(this: Ring, fd: number, buffer: ArrayBufferView, a?: RecvOptions | Callback<number>,
  b?: Callback<number>) {
  checkFd(fd);
  checkView(buffer);
  const [opts, cb] = splitArgs<number, RecvOptions>(a, b);
  checkOptions(opts);
  const [offset, length] = window(buffer, opts);
  return ringInternals().run<number>(this, OP.recv!, DescOp.RECV, fd, flagsOf(opts), 0, opts, cb,
    { pin: buffer, offset, length });
}

export function recvMultishot(this: Ring, fd: number, options?: RecvOptions,
  callback?: (err: Error | null, chunk?: Buffer, more?: boolean) => void) {
  checkFd(fd);
  if (callback !== undefined) checkCallback(callback);
  const opts = checkOptions(options) as RecvOptions | undefined;
  if (opts?.timeout !== undefined) throw invalidArgType('options.timeout', 'undefined for a multishot operation', opts.timeout);
  const pool = providedBufferRing(this);
  if (pool === null) return null;
  // Backpressure at the source: past ~1 MiB unread the multishot is stopped
  // (the kernel keeps the rest in the socket buffer) until the reader drains.
  if (callback !== undefined) return armRecvMulti(this, pool, fd, flagsOf(opts), opts, undefined, callback);
  const it = new MultishotIterator<Buffer>(undefined, Math.max(1, Math.floor((1 << 20) / pool.size)));
  armRecvMulti(this, pool, fd, flagsOf(opts), opts, it, undefined);
  return it;
}

/** Arms a multishot recv into `pool`: chunks to `it` or `callback`; `limit` > 0 ends it after that many bytes. */
function armRecvMulti(ring: Ring, pool: ProvidedBufferRing, fd: number, flags: number, opts: OpOptions | undefined,
  it: MultishotIterator<Buffer> | undefined, callback: ((err: Error | null, chunk?: Buffer, more?: boolean) => void) | undefined,
  limit = 0): { cancel(): void } {
  return ringInternals().multishot<Buffer>(ring, OP.recvMultishot!, DescOp.RECV_MULTI, fd, flags, pool.bgid, opts, it,
    callback, { pin: [ring, pool], arg2: limit });
}

/**
 * @internal The Receiver's multishot recv (net/receive.ts): a callback
 * multishot that ends, with its last buffer, after `limit` bytes
 * (IORING_RECV_MSHOT_LIM, Linux 6.17+), so one bulk connection takes at most
 * `limit` bytes of the ring's shared provided buffers per arm instead of all
 * of them before its first CQE is seen. Kernels before 6.17 fail it at once
 * with EINVAL (the field was file_index, which recv refused when non-zero):
 * the caller then arms it again with `limit` 0, no limit. Returns null
 * without buffer rings. Arguments are the Receiver's own (checked there).
 */
export function recvMultishotLimited(ring: Ring, fd: number, opts: OpOptions, limit: number,
  callback: (err: Error | null, chunk?: Buffer, more?: boolean) => void): { cancel(): void } | null {
  const pool = providedBufferRing(ring);
  return pool === null ? null : armRecvMulti(ring, pool, fd, 0, opts, undefined, callback, limit);
}

export function sendmsg(this: Ring, fd: number, data: ArrayBufferView, sockaddr: Buffer | null,
  sockaddrLength: number, a?: SendOptions | Callback<number>, b?: Callback<number>) {
  checkFd(fd);
  checkView(data, 'data');
  if (sockaddr !== null && !Buffer.isBuffer(sockaddr)) throw invalidArgType('sockaddr', 'a Buffer or null', sockaddr);
  if (sockaddr !== null) {
    checkUint32(sockaddrLength, 'sockaddrLength');
    if (sockaddrLength < 2 || sockaddrLength > sockaddr.length) {
      throw outOfRange('sockaddrLength', `>= 2 && <= ${sockaddr.length}`, sockaddrLength);
    }
  }
  const [opts, cb] = splitArgs<number, SendOptions>(a, b);
  checkOptions(opts);
  const [offset, length] = window(data, opts);
  return ringInternals().run<number>(this, OP.sendmsg!, DescOp.SENDMSG, fd, flagsOf(opts),
    sockaddr === null ? 0 : sockaddrLength, opts, cb, { pin: [data, sockaddr], offset, length });
}

export function recvmsg(this: Ring, fd: number, buffer: ArrayBufferView, sockaddrOut: Buffer,
  a?: RecvOptions | Callback<number>, b?: Callback<number>) {
  checkFd(fd);
  checkView(buffer);
  if (!Buffer.isBuffer(sockaddrOut) || sockaddrOut.length < 128) {
    throw invalidArgType('sockaddrOut', 'a Buffer of at least 128 bytes', sockaddrOut);
  }
  const [opts, cb] = splitArgs<number, RecvOptions>(a, b);
  checkOptions(opts);
  const [offset, length] = window(buffer, opts);
  return ringInternals().run<number>(this, OP.recvmsg!, DescOp.RECVMSG, fd, flagsOf(opts), 0, opts, cb,
    { pin: [buffer, sockaddrOut], offset, length });
}

export function shutdown(this: Ring, fd: number, how: number, a?: OpOptions | Callback<void>,
  b?: Callback<void>) {
  checkFd(fd);
  checkUint32(how, 'how');
  if (how > 2) throw outOfRange('how', '0 (read), 1 (write) or 2 (both)', how);
  const [opts, cb] = splitArgs<void, OpOptions>(a, b);
  checkOptions(opts);
  return ringInternals().run<void>(this, OP.shutdown!, DescOp.SHUTDOWN, fd, how, 0, opts, cb, {});
}
