/**
 * Socket: a connected stream socket (TCP or Unix) on a ring.
 *
 * The jobs live beside it: socket options in options.ts, the ordered write
 * queue in write-queue.ts, the one receive pump (shared by iteration,
 * chunks() and the Duplex) in receive.ts, socket-to-socket piping in
 * pipe.ts. Socket ties them to one fd and owns its lifetime: close(),
 * destroy(), and a close with a process warning when a Socket that was
 * never closed is garbage-collected.
 *
 * Writes go out in order and completely. Reads are one `recv()` at a time,
 * the async iterator, a Duplex (`stream()`) or `pipeTo()`; never two
 * receives at once (ERR_SOCKET_RECV_PENDING).
 */
import os from 'node:os';

import { invalidArgType, invalidArgValue, outOfRange, SystemError } from '../errors.js';
import type { File } from '../fs/file.js';
import { sysOf, type RecvOptions, type SendOptions } from '../ops/socket.js';
import { closeOnRing } from '../ops/sync-close.js';
import { checkOptions, type Callback, type OpOptions } from '../ops/validate.js';
import { Ring, ringInternals } from '../ring/ring.js';
import {
  AF_INET, AF_INET6, AF_UNIX, parseDestination, SocketAddress, type HostPortTarget, type UnixPathTarget,
} from './address.js';
// connect.ts takes Socket.connect from here (provideAddressConnect) and imports this module for types only.
import { connect as connectHost, provideAddressConnect } from './connect.js';
import {
  applyOptions, check, int, socketClosed, SOCK_STREAM, withAddress, type SocketOptions,
} from './options.js';
import { markSocket } from './brand.js';
import { pipeSockets, type PipeOptions, type PipeResult } from './pipe.js';
import { sendFile, type SendFileOptions } from './sendfile.js';
import { BULK_RECEIVE, ChunkIterator, provideReceiverAccess, Receiver, type ReceiveOptions } from './receive.js';
import { SocketStream, type SocketStreamOptions } from './stream.js';
import { WriteQueue } from './write-queue.js';

export * from './options.js';
export { ZERO_COPY_THRESHOLD } from './write-queue.js';
export type { WriteIncompleteError } from './write-queue.js';
export type { PipeOptions, PipeResult } from './pipe.js';

export interface ConnectOptions extends SocketOptions, OpOptions {
  ring?: Ring;
}

/** Options of chunks(): `signal`, `ref` (no `timeout`: a stream of chunks has no one deadline), the receive options. */
export interface ChunksOptions extends OpOptions, ReceiveOptions {}

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
function isLoopback(a: SocketAddress): boolean {
  if (a.family === 'ipv4') return a.address.startsWith('127.');
  if (a.family === 'ipv6') return a.address === '::1' || /^::ffff:127\./i.test(a.address);
  return true;
}

/** node's error of a write after end(). */
function writeAfterEnd(): Error & { code: 'ERR_STREAM_WRITE_AFTER_END' } {
  return Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' as const });
}

function receivePending(): Error & { code: string } {
  return Object.assign(new Error('a receive is already pending on this socket'), { code: 'ERR_SOCKET_RECV_PENDING' });
}

/** What a never-closed Socket leaves for its finalizer: enough to close the fd, nothing that keeps the Socket alive. */
interface Leftover {
  ring: Ring;
  fd: number;
}

/**
 * Sockets garbage-collected while open: the fd is closed and a warning
 * says so (as Node's FileHandle does). A closed Socket is unregistered.
 */
const leaked = new FinalizationRegistry<Leftover>((left) => {
  process.emitWarning(`Closing socket fd ${left.fd} on garbage collection: a Socket was never closed ` +
    '(call close() or destroy(), e.g. in a finally block, or use await using)', { type: 'Warning', code: 'UK_SOCKET_GC_CLOSE' });
  try {
    left.ring.closeFd(left.fd, { ref: false }, () => {});
  } catch {
    // the ring is closed: its teardown closed nothing of ours, but there is no other way left
  }
});

export class Socket {
  readonly #ring: Ring;
  #fd: number;
  readonly #family: number;
  readonly #writes: WriteQueue;
  #destroyed = false;
  /** A receive (recv, iteration, stream, pipeTo) holds the read side. */
  #reading = false;
  #closed: Promise<void> | undefined;
  /** end()'s result, once called: later writes are refused (ERR_STREAM_WRITE_AFTER_END). */
  #ended: Promise<void> | undefined;

  static {
    // connect() (connect.ts) connects each address it resolves through this.
    provideAddressConnect((address, options) => Socket.connect(address, options));
    // The Duplex of stream() (stream.ts) opens the receive pump through this, never through a public method.
    provideReceiverAccess((s: unknown, opts: OpOptions, options: ReceiveOptions): Receiver | Error | undefined => {
      if (!(s instanceof Socket)) return undefined;
      return s.#receiver(opts, options, 'recv');
    });
  }

  /**
   * Connects to `address`, given as:
   * - a SocketAddress (`listener.address()`, `SocketAddress.ipv4(...)`);
   * - an address string: '127.0.0.1:8080', '[::1]:8080', '/run/app.sock',
   *   'unix:rel.sock', '@abstract' (parsed by SocketAddress.parse);
   * - node:net's objects: `{ host, port }` (host default 'localhost'; port an
   *   integer 0..65535 or a string holding one, checked as Node does) or
   *   `{ path }` (a Unix socket).
   * An IP address is connected to at once. A host name (`{ host: 'localhost',
   * port }`) is resolved and its addresses raced by connect() (see
   * connect.ts), with these options and the object's `family`.
   * Bad input throws before any I/O: ERR_INVALID_ARG_TYPE naming the forms,
   * ERR_SOCKET_BAD_PORT, ERR_MISSING_ARGS, ERR_INVALID_ARG_VALUE.
   */
  static async connect(address: SocketAddress | string | HostPortTarget | UnixPathTarget, options?: ConnectOptions):
    Promise<Socket> {
    const dest = parseDestination(address, 'address');
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'of type object', options);
    }
    checkOptions(options);
    if (!('address' in dest)) {
      const family = (address as HostPortTarget).family;
      return connectHost(dest.host, dest.port, family === undefined ? { ...options } : { ...options, family });
    }
    const addr = dest.address;
    const ring = options?.ring ?? Ring.current();
    if (!(ring instanceof Ring)) throw invalidArgType('options.ring', 'an instance of Ring', ring);
    const sys = sysOf(ring);
    const fd = check(sys.socket(addr.domain, SOCK_STREAM, 0), 'socket');
    try {
      applyOptions(ring, fd, options, addr.domain);
      const [sa, len] = addr.toSockaddr(sys);
      try {
        await ring.connect(fd, sa, len, options);
      } catch (err) {
        throw withAddress(err, addr);
      }
      return new Socket(fd, ring, addr.domain);
    } catch (err) {
      ring.closeFd(fd, { ref: false }, () => {});
      throw err;
    }
  }

  /** Wraps a connected stream socket fd (accepted or connected); close() closes it. */
  constructor(fd: number, ring: Ring = Ring.current(), family = AF_INET) {
    if (typeof fd !== 'number') throw invalidArgType('fd', 'of type number', fd);
    if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw outOfRange('fd', 'an integer >= 0 && <= 2147483647', fd);
    if (!(ring instanceof Ring)) throw invalidArgType('ring', 'an instance of Ring', ring);
    if (family !== AF_INET && family !== AF_INET6 && family !== AF_UNIX) {
      throw invalidArgValue('family', family, 'must be AF_INET, AF_INET6 or AF_UNIX');
    }
    this.#fd = fd;
    this.#ring = ring;
    this.#family = family;
    const self = this;
    this.#writes = new WriteQueue({
      ring,
      family,
      get fd() {
        return self.#fd;
      },
      peerOnThisHost: () => this.#peerOnThisHost(),
    });
    leaked.register(this, { ring, fd }, this);
    markSocket(this);
  }

  get fd(): number {
    return this.#fd;
  }

  get ring(): Ring {
    return this.#ring;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** The address family (AF_INET, AF_INET6, AF_UNIX). */
  get family(): number {
    return this.#family;
  }

  /** The fd for a syscall helper (getsockname, setsockopt): EBADF once closed, as the syscall would say. */
  #sysFd(syscall: string): number {
    if (this.#fd < 0) throw new SystemError(os.constants.errno.EBADF, syscall);
    return this.#fd;
  }

  localAddress(): SocketAddress {
    return this.#name(false);
  }

  remoteAddress(): SocketAddress {
    return this.#name(true);
  }

  #name(peer: boolean): SocketAddress {
    const sys = sysOf(this.#ring);
    const r = sys.sockname(this.#sysFd(peer ? 'getpeername' : 'getsockname'), peer);
    if (typeof r === 'number') throw new SystemError(r, peer ? 'getpeername' : 'getsockname');
    return SocketAddress.fromSockaddr(sys, r);
  }

  /** Whether the peer is on this host (loopback, or our own address): zero-copy gains nothing there. */
  #peerOnThisHost(): boolean {
    try {
      const peer = this.remoteAddress();
      return isLoopback(peer) || peer.address === this.localAddress().address;
    } catch {
      return true;
    }
  }

  // ---- writing ---------------------------------------------------------------

  /**
   * Sends all of `data`, after every earlier write, continuing short sends.
   * Resolves with the byte count (or, given `callback`, calls it instead and
   * allocates no Promise). Never raises SIGPIPE (MSG_NOSIGNAL).
   *
   * Zero-copy: `options.zeroCopy` true sends this write with
   * IORING_OP_SEND_ZC, false with plain send; 'auto' (or absent) follows
   * the socket's policy (see setZeroCopy()). A zero-copy write resolves
   * when the kernel has taken the bytes; `data` stays pinned until the
   * kernel's notification that it no longer reads it.
   *
   * Errors: a failed write's error carries `bytesWritten`. When some of its
   * bytes went out (a `timeout` or abort mid-write), the peer holds a
   * truncated message: every later write (queued or new) then fails with
   * ERR_SOCKET_WRITE_INCOMPLETE. On a closed Socket: ERR_SOCKET_CLOSED.
   */
  write(data: ArrayBufferView | string, options?: SendOptions): Promise<number>;
  write(data: ArrayBufferView | string, options: SendOptions | undefined, callback: Callback<number>): void;
  write(data: ArrayBufferView | string, options?: SendOptions, callback?: Callback<number>): Promise<number> | void {
    if (this.#ended !== undefined && this.#fd >= 0) throw writeAfterEnd();
    return this.#writes.write(data, options, callback);
  }

  /**
   * node's `socket.end([data[, encoding]][, callback])`: writes `data` (if given; a string is
   * UTF-8 unless `encoding` says otherwise; `options` in its place are write()'s) after
   * every earlier write, then shuts down the write side (shutdown(SHUT_WR):
   * the peer reads EOF once it has every byte). Resolves when the shutdown
   * is done, or calls `callback(err)` instead. The read side stays open:
   * the peer's answer can still be read; close() (or destroy()) releases
   * the fd, as ever. Differences from node's net.Socket: it returns a
   * Promise (with a callback: nothing), not the socket; the socket is not
   * closed when the peer ends too (node's allowHalfOpen: false); a write
   * after end() throws ERR_STREAM_WRITE_AFTER_END (node emits it).
   * A second end() without data returns the first one's result; with data
   * it throws ERR_STREAM_WRITE_AFTER_END. On a closed socket:
   * ERR_SOCKET_CLOSED. Bad arguments throw synchronously, as write() does.
   * A failed write of `data` rejects with its error and the write side is
   * not shut down (close() or destroy() the socket).
   */
  end(callback?: Callback<void>): Promise<void>;
  end(data: ArrayBufferView | string | null | undefined, options?: SendOptions): Promise<void>;
  end(data: ArrayBufferView | string | null | undefined, callback: Callback<void>): void;
  end(data: ArrayBufferView | string | null | undefined, options: SendOptions | BufferEncoding | undefined,
    callback: Callback<void>): void;
  end(data: string, encoding: BufferEncoding): Promise<void>;
  end(a?: ArrayBufferView | string | null | Callback<void>, b?: SendOptions | BufferEncoding | Callback<void>,
    c?: Callback<void>):
    Promise<void> | void {
    let data: ArrayBufferView | string | null | undefined;
    let options: SendOptions | undefined;
    let callback: Callback<void> | undefined;
    if (typeof a === 'function') callback = a;
    else {
      data = a;
      if (typeof b === 'function') callback = b;
      else if (typeof b === 'string') {
        // node's end(data, encoding[, callback])
        if (!Buffer.isEncoding(b)) throw invalidArgValue('encoding', b, 'is not a Buffer encoding');
        if (typeof data === 'string') data = Buffer.from(data, b);
        callback = c;
      } else {
        options = b;
        callback = c;
      }
    }
    if (callback !== undefined && typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
    const hasData = data !== undefined && data !== null;
    if (hasData && typeof data !== 'string' && !ArrayBuffer.isView(data)) {
      throw invalidArgType('data', 'a string, Buffer, TypedArray or DataView', data);
    }
    if (this.#fd < 0) throw socketClosed('end');
    let ended = this.#ended;
    if (ended !== undefined) {
      if (hasData) throw writeAfterEnd();
    } else {
      const written = hasData ? this.#writes.write(data!, options) : undefined;
      // The caller's to handle, as write()'s: an ignored failure is an unhandled rejection, never silent.
      ended = this.#ended = (async () => {
        if (written !== undefined) await written;
        await this.shutdown('write');
      })();
    }
    if (callback === undefined) return ended;
    const cb = callback;
    ended.then(() => cb(null), (err: unknown) => cb(err as Error));
  }

  /** Whether end() was called. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /**
   * Runs `task` in this socket's write order: after every write queued
   * before, before every write queued after (sendFile uses it). close()
   * waits for it. Resolves with the task's result. A write the task issues
   * itself is queued after it: the task must not wait for that write.
   */
  enqueue<T>(task: () => Promise<T>): Promise<T> {
    return this.#writes.enqueue(task);
  }

  /** Writes still queued or in flight (zero-copy sends until their notification). */
  get pendingWrites(): number {
    return this.#writes.pending;
  }

  /** Resolves once every write queued so far has settled (sent or failed). */
  drain(): Promise<void> {
    return this.#writes.drain();
  }

  /**
   * Zero-copy policy for write(): 'auto' (the default) sends with
   * IORING_OP_SEND_ZC only writes of at least `threshold` bytes (default
   * 64 KiB) to a TCP peer on another host (on loopback, zero-copy measured
   * slower at every size: see docs/guides/networking.md); true: every write
   * of at least `threshold` bytes; false: never. Needs Linux 6.0.
   */
  setZeroCopy(mode: boolean | 'auto', threshold?: number): this {
    this.#writes.setZeroCopy(mode, threshold);
    return this;
  }

  /** The zero-copy policy: { mode, threshold }. */
  get zeroCopy(): { mode: boolean | 'auto'; threshold: number } {
    return this.#writes.zeroCopy;
  }

  /** Zero-copy: `length` bytes of `file` from `offset`, in write order (see sendFile in sendfile.ts). */
  sendFile(file: File | number, offset?: number, length?: number, options?: SendFileOptions): Promise<number> {
    return sendFile(this, file, offset, length, options);
  }

  // ---- reading ---------------------------------------------------------------

  /** Takes the read side for a receive pump (the caller reports the error). */
  #receiver(opts: OpOptions, options: ReceiveOptions, syscall: string): Receiver | Error {
    if (this.#fd < 0) return socketClosed(syscall);
    if (this.#reading) return receivePending();
    this.#reading = true;
    try {
      return new Receiver(this.#ring, this.#fd, opts, options, () => {
        this.#reading = false;
      });
    } catch (e) {
      this.#reading = false;
      throw e;
    }
  }

  /**
   * One receive straight into `buffer` (the caller's memory: no copy, no
   * allocation; the fastest way to take bulk data). Resolves with the byte
   * count, 0 when the peer closed its side.
   */
  async recv(buffer: ArrayBufferView, options?: RecvOptions): Promise<number> {
    if (this.#fd < 0) throw socketClosed('recv');
    if (this.#reading) throw receivePending();
    this.#reading = true;
    try {
      const n = await this.#ring.recv(this.#fd, buffer, options);
      if (n >= BULK_RECEIVE) ringInternals().bulkReceived(this.#ring);
      return n;
    } finally {
      this.#reading = false;
    }
  }

  /**
   * Yields received chunks (fresh Buffers the caller owns) until the peer
   * closes (then ends). See receive.ts for how: multishot recv into the
   * ring's provided buffers, one-shot receives into chunks of up to
   * `options.chunkSize` bytes (default 256 KiB) while bulk data flows;
   * receiving stops in the kernel while more than 1 MiB waits unread.
   * One Promise per chunk (the one next() returns); `return()` (a `break`
   * out of `for await`) stops receiving.
   */
  chunks(options?: ChunksOptions): AsyncGenerator<Buffer, void, undefined> {
    const o = checkOptions(options) as ChunksOptions | undefined;
    if (o?.timeout !== undefined) throw invalidArgType('options.timeout', 'undefined for a stream of chunks', o.timeout);
    if (o?.multishot !== undefined && typeof o.multishot !== 'boolean') {
      throw invalidArgType('options.multishot', 'of type boolean', o.multishot);
    }
    const opts: OpOptions = {};
    if (o?.signal !== undefined) opts.signal = o.signal;
    if (o?.ref !== undefined) opts.ref = o.ref;
    const rx = this.#receiver(opts, { chunkSize: o?.chunkSize, multishot: o?.multishot }, 'recv');
    // Like a generator, a closed socket or a receive already pending is reported by the first next().
    return rx instanceof Receiver ? new ChunkIterator(rx) : new ChunkIterator(undefined, rx);
  }

  [Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    return this.chunks();
  }

  /**
   * A Node Duplex over this socket (node:http, node:tls, stream.pipeline).
   * The stream owns the socket from then on (see SocketStream).
   */
  stream(options?: SocketStreamOptions): SocketStream {
    return new SocketStream(this, options);
  }

  /**
   * Moves everything this socket receives to `destination` until this
   * socket's peer ends its side, then half-closes `destination` (unless
   * `end: false`). Bytes go kernel → reused buffer → kernel (two buffers of
   * `chunkSize`, one being received while the other is sent): no Buffer is
   * allocated per chunk and the pair never holds more than those two, so a
   * slow destination slows the source down through TCP. Resolves with the
   * byte count; on an error or abort on either side both sockets are
   * destroyed and the promise rejects with that error.
   */
  pipeTo(destination: Socket, options?: PipeOptions): Promise<PipeResult> {
    if (!(destination instanceof Socket)) return Promise.reject(invalidArgType('destination', 'an instance of Socket', destination));
    if (destination === this) return Promise.reject(invalidArgValue('destination', destination, 'must not be the source socket'));
    if (this.#fd < 0) return Promise.reject(socketClosed('recv'));
    if (destination.#fd < 0) return Promise.reject(socketClosed('send'));
    if (this.#reading) return Promise.reject(receivePending());
    let run: Promise<PipeResult>;
    try {
      run = pipeSockets(this.#ring, this.#fd, this, destination, options);
    } catch (e) {
      return Promise.reject(e);
    }
    this.#reading = true;
    const release = (): void => {
      this.#reading = false;
    };
    return run.finally(release);
  }

  // ---- options ---------------------------------------------------------------

  /** shutdown(2): 'write' (default: half-close, the peer reads EOF), 'read' or 'both'. */
  async shutdown(how: 'read' | 'write' | 'both' = 'write', options?: OpOptions): Promise<void> {
    const n = how === 'read' ? 0 : how === 'write' ? 1 : how === 'both' ? 2 : -1;
    if (n < 0) throw invalidArgValue('how', how, "must be 'read', 'write' or 'both'");
    if (this.#fd < 0) throw socketClosed('shutdown');
    const fd = this.#fd;
    if (n !== 0) await this.drain();
    await this.#ring.shutdown(fd, n, options);
  }

  setNoDelay(on = true): this {
    applyOptions(this.#ring, this.#sysFd('setsockopt'), { noDelay: on }, this.#family);
    return this;
  }

  setKeepAlive(on: boolean | { idle?: number; interval?: number; count?: number } = true): this {
    applyOptions(this.#ring, this.#sysFd('setsockopt'), { keepAlive: on }, this.#family);
    return this;
  }

  setOptions(options: SocketOptions): this {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    applyOptions(this.#ring, this.#sysFd('setsockopt'), options, this.#family);
    return this;
  }

  /** Generic integer setsockopt. */
  setOption(level: number, name: number, value: number): this {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidArgType('value', 'an integer', value);
    check(sysOf(this.#ring).setsockopt(this.#sysFd('setsockopt'), int(level, 'level'), int(name, 'name'), value | 0),
      'setsockopt');
    return this;
  }

  /** Generic integer getsockopt. */
  getOption(level: number, name: number): number {
    const [v, ok] = sysOf(this.#ring).getsockopt(this.#sysFd('getsockopt'), int(level, 'level'), int(name, 'name'));
    if (!ok) throw new SystemError(v, 'getsockopt');
    return v;
  }

  // ---- closing ---------------------------------------------------------------

  /**
   * Closes the socket after queued writes: shutdown(SHUT_RD), which ends
   * pending receives, then IORING_OP_CLOSE. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    const fd = this.#fd;
    this.#fd = -1;
    leaked.unregister(this);
    const drained = this.drain();
    this.#closed = (async () => {
      await drained;
      if (fd < 0) return;
      // A pending receive holds the socket open in the kernel: shut down the
      // read side (pending receives end with 0; nothing is sent to the peer),
      // then close the fd (FIN, or RST with linger 0).
      await this.#ring.shutdown(fd, 0).catch(() => {});
      await closeOnRing(this.#ring, fd);
    })();
    return this.#closed;
  }

  /**
   * Closes at once: shutdown(SHUT_RDWR) ends pending receives and sends,
   * then the fd is closed. Queued writes fail (EPIPE).
   */
  destroy(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    leaked.unregister(this);
    this.#destroyed = true;
    this.#writes.destroy();
    const ring = this.#ring;
    this.#closed = ring.shutdown(fd, 2).catch(() => {}).then(() => closeOnRing(ring, fd)).catch(() => {});
  }

  /** Whether destroy() was called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export { AF_INET, AF_INET6, AF_UNIX };
