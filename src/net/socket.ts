/**
 * Socket: a connected stream socket (TCP or Unix) on a ring.
 *
 * Writes go out in order and completely: each write waits for the previous
 * one, and short sends are continued. Reads are either one `recv()` at a time
 * or the async iterator (multishot recv into the ring's provided buffers,
 * with backpressure); never two receives at once.
 */
import os from 'node:os';

import { invalidArgType, invalidArgValue, outOfRange, SystemError } from '../errors.js';
import { bufferPool, sysOf, type RecvOptions, type SendOptions } from '../ops/socket.js';
import type { OpOptions } from '../ops/validate.js';
import { MultishotIterator } from '../ring/multishot.js';
import { Ring } from '../ring/ring.js';
import { AF_INET, AF_INET6, AF_UNIX, SocketAddress } from './address.js';
import { socketStream, type SocketStream, type SocketStreamOptions } from './stream.js';

export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_KEEPALIVE = 9;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_REUSEPORT = 15;
export const SO_ERROR = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_IPV6 = 41;
export const TCP_NODELAY = 1;
export const TCP_KEEPIDLE = 4;
export const TCP_KEEPINTVL = 5;
export const TCP_KEEPCNT = 6;
export const IPV6_V6ONLY = 26;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;

export interface SocketOptions {
  noDelay?: boolean;
  keepAlive?: boolean | { idle?: number; interval?: number; count?: number };
  sendBuffer?: number;
  recvBuffer?: number;
  /** SO_LINGER seconds (0: reset on close); false disables. */
  linger?: number | false;
}

export interface ConnectOptions extends SocketOptions, OpOptions {
  ring?: Ring;
}

/** Throws a SystemError for a negative errno from a syscall helper. */
export function check(ret: number, syscall: string, address?: SocketAddress): number {
  if (ret < 0) {
    throw new SystemError(ret, syscall, address ? { address: address.address, port: address.family === 'unix' ? undefined : address.port } : undefined);
  }
  return ret;
}

/** Applies SocketOptions to an fd. */
export function applyOptions(ring: Ring, fd: number, o: SocketOptions | undefined, family: number): void {
  if (o === undefined) return;
  const sys = sysOf(ring);
  const tcp = family !== AF_UNIX;
  if (o.noDelay !== undefined && tcp) check(sys.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, o.noDelay ? 1 : 0), 'setsockopt');
  if (o.keepAlive !== undefined) {
    const ka = o.keepAlive;
    check(sys.setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, ka === false ? 0 : 1), 'setsockopt');
    if (typeof ka === 'object' && tcp) {
      if (ka.idle !== undefined) check(sys.setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, secs(ka.idle, 'keepAlive.idle')), 'setsockopt');
      if (ka.interval !== undefined) {
        check(sys.setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, secs(ka.interval, 'keepAlive.interval')), 'setsockopt');
      }
      if (ka.count !== undefined) check(sys.setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, int(ka.count, 'keepAlive.count')), 'setsockopt');
    }
  }
  if (o.sendBuffer !== undefined) check(sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, int(o.sendBuffer, 'sendBuffer')), 'setsockopt');
  if (o.recvBuffer !== undefined) check(sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int(o.recvBuffer, 'recvBuffer')), 'setsockopt');
  if (o.linger !== undefined) {
    check(sys.setlinger(fd, o.linger === false ? 0 : 1, o.linger === false ? 0 : int(o.linger, 'linger')), 'setsockopt');
  }
}

function int(v: unknown, name: string): number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw outOfRange(name, '>= 0 && <= 2147483647', v);
  return v;
}

/** Seconds for TCP keep-alive, given in milliseconds as Node does. */
function secs(ms: unknown, name: string): number {
  return Math.max(1, Math.round(int(ms, name) / 1000));
}

const HIGH_WATER = 1 << 20;

export class Socket {
  readonly #ring: Ring;
  #fd: number;
  readonly #family: number;
  #writeTail: Promise<unknown> | undefined;
  #pendingWrites = 0;
  #reading = false;
  #closed: Promise<void> | undefined;

  /** Connects to `address` ('host:port' parsed by SocketAddress, or a SocketAddress). Use connect() for names. */
  static async connect(address: SocketAddress | string, options?: ConnectOptions): Promise<Socket> {
    const addr = typeof address === 'string' ? SocketAddress.parse(address) : address;
    if (!(addr instanceof SocketAddress)) throw invalidArgType('address', 'a SocketAddress or string', address);
    const ring = options?.ring ?? Ring.current();
    const sys = sysOf(ring);
    const fd = check(sys.socket(addr.domain, SOCK_STREAM, 0), 'socket');
    try {
      applyOptions(ring, fd, options, addr.domain);
      const [sa, len] = addr.toSockaddr(sys);
      try {
        await ring.connect(fd, sa, len, options);
      } catch (err) {
        const e = err as SystemError;
        if (e instanceof SystemError && e.address === undefined) {
          e.address = addr.address;
          if (addr.family !== 'unix') e.port = addr.port;
          e.message += ` ${addr.toString()}`;
        }
        throw err;
      }
      return new Socket(fd, ring, addr.domain);
    } catch (err) {
      ring.closeFd(fd, { ref: false }, () => {});
      throw err;
    }
  }

  /** Wraps a connected stream socket fd (accepted or connected); close() closes it. */
  constructor(fd: number, ring: Ring = Ring.current(), family = AF_INET) {
    if (!Number.isInteger(fd) || fd < 0) throw outOfRange('fd', '>= 0', fd);
    this.#fd = fd;
    this.#ring = ring;
    this.#family = family;
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

  #open(syscall: string): number {
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
    const r = sys.sockname(this.#open(peer ? 'getpeername' : 'getsockname'), peer);
    if (typeof r === 'number') throw new SystemError(r, peer ? 'getpeername' : 'getsockname');
    return SocketAddress.fromSockaddr(sys, r);
  }

  /**
   * Sends all of `data`, after every earlier write, continuing short sends.
   * Resolves with the byte count. Never raises SIGPIPE (MSG_NOSIGNAL).
   */
  write(data: ArrayBufferView | string, options?: SendOptions): Promise<number> {
    const view = typeof data === 'string' ? Buffer.from(data) : data;
    if (!ArrayBuffer.isView(view)) throw invalidArgType('data', 'a string, Buffer, TypedArray or DataView', data);
    const fd = this.#open('send');
    const start = options?.offset ?? 0;
    const total = options?.length ?? view.byteLength - start;
    if (!Number.isSafeInteger(start) || start < 0 || start > view.byteLength) {
      throw outOfRange('options.offset', `an integer >= 0 && <= ${view.byteLength}`, start);
    }
    if (!Number.isSafeInteger(total) || total < 0 || start + total > view.byteLength) {
      throw outOfRange('options.length', `an integer >= 0 && <= ${view.byteLength - start}`, total);
    }
    return this.enqueue(() => this.#sendAll(fd, view, start, total, options));
  }

  /**
   * Runs `task` in this socket's write order: after every write queued
   * before, before every write queued after (sendFile uses it). close()
   * waits for it. Resolves with the task's result.
   */
  enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (typeof task !== 'function') throw invalidArgType('task', 'a function', task);
    this.#pendingWrites++;
    const prev = this.#writeTail;
    const p = prev === undefined ? task() : prev.then(task, task);
    const tail: Promise<unknown> = p.then(() => this.#writeDone(tail), () => this.#writeDone(tail));
    this.#writeTail = tail;
    return p;
  }

  #writeDone(tail: Promise<unknown>): void {
    if (--this.#pendingWrites === 0 && this.#writeTail === tail) this.#writeTail = undefined;
  }

  /** Writes still queued or in flight. */
  get pendingWrites(): number {
    return this.#pendingWrites;
  }

  /** The send loop, on the callback form (no Promise per partial send). */
  #sendAll(fd: number, view: ArrayBufferView, start: number, total: number, options?: SendOptions): Promise<number> {
    if (total === 0) return Promise.resolve(0);
    return new Promise<number>((resolve, reject) => {
      let done = 0;
      const step = (err: Error | null, n?: number): void => {
        if (err) {
          reject(err);
          return;
        }
        done += n!;
        if (done >= total) resolve(done);
        else this.#ring.send(fd, view, { ...options, offset: start + done, length: total - done }, step);
      };
      this.#ring.send(fd, view, options === undefined ? { offset: start, length: total }
        : { ...options, offset: start, length: total }, step);
    });
  }

  /** One receive into `buffer`; resolves with bytes (0 = the peer closed its side). */
  async recv(buffer: ArrayBufferView, options?: RecvOptions): Promise<number> {
    const fd = this.#open('recv');
    if (this.#reading) throw Object.assign(new Error('a receive is already pending on this socket'), { code: 'ERR_SOCKET_RECV_PENDING' });
    this.#reading = true;
    try {
      return await this.#ring.recv(fd, buffer, options);
    } finally {
      this.#reading = false;
    }
  }

  /**
   * Yields received chunks until the peer closes (then ends). Uses multishot
   * recv into the ring's provided buffers where the kernel has them (6.0+),
   * re-armed after ENOBUFS, paused when more than 1 MiB waits unread.
   */
  async *chunks(options?: OpOptions): AsyncGenerator<Buffer, void, undefined> {
    const fd = this.#open('recv');
    if (this.#reading) throw Object.assign(new Error('a receive is already pending on this socket'), { code: 'ERR_SOCKET_RECV_PENDING' });
    this.#reading = true;
    try {
      if (bufferPool(this.#ring) === null) {
        for (;;) {
          const buf = Buffer.allocUnsafe(64 * 1024);
          const n = await this.#ring.recv(fd, buf, options);
          if (n === 0) return;
          yield buf.subarray(0, n);
        }
      }
      for (;;) {
        const it = this.#ring.recvMultishot(fd, options) as MultishotIterator<Buffer>;
        let rearm = false;
        try {
          for (;;) {
            let r: IteratorResult<Buffer>;
            try {
              r = await it.next();
            } catch (err) {
              // The pool ran dry: everything received is already queued; re-arm.
              if ((err as { code?: string }).code === 'ENOBUFS') {
                rearm = true;
                break;
              }
              throw err;
            }
            if (r.done) {
              rearm = true; // ended without EOF (e.g. kernel stopped the multishot): re-arm
              break;
            }
            if (r.value.length === 0) return;
            // Backpressure: the iterator stops receiving by itself past ~1 MiB
            // unread (the kernel keeps the rest); it ends once drained and is re-armed.
            yield r.value;
          }
        } finally {
          if (!rearm) await it.return();
        }
      }
    } finally {
      this.#reading = false;
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    return this.chunks();
  }

  /** A Node Duplex over this socket (node:http, node:tls, stream.pipeline). */
  stream(options?: SocketStreamOptions): SocketStream {
    return socketStream(this, options);
  }

  /** shutdown(2): 'write' (default: half-close, the peer reads EOF), 'read' or 'both'. */
  async shutdown(how: 'read' | 'write' | 'both' = 'write', options?: OpOptions): Promise<void> {
    const n = how === 'read' ? 0 : how === 'write' ? 1 : how === 'both' ? 2 : -1;
    if (n < 0) throw invalidArgValue('how', how, "must be 'read', 'write' or 'both'");
    const fd = this.#open('shutdown');
    if (n !== 0 && this.#writeTail !== undefined) await this.#writeTail.catch(() => {});
    await this.#ring.shutdown(fd, n, options);
  }

  setNoDelay(on = true): this {
    applyOptions(this.#ring, this.#open('setsockopt'), { noDelay: on }, this.#family);
    return this;
  }

  setKeepAlive(on: boolean | { idle?: number; interval?: number; count?: number } = true): this {
    applyOptions(this.#ring, this.#open('setsockopt'), { keepAlive: on }, this.#family);
    return this;
  }

  setOptions(options: SocketOptions): this {
    applyOptions(this.#ring, this.#open('setsockopt'), options, this.#family);
    return this;
  }

  /** Generic integer setsockopt. */
  setOption(level: number, name: number, value: number): this {
    check(sysOf(this.#ring).setsockopt(this.#open('setsockopt'), int(level, 'level'), int(name, 'name'), value | 0),
      'setsockopt');
    return this;
  }

  /** Generic integer getsockopt. */
  getOption(level: number, name: number): number {
    const [v, ok] = sysOf(this.#ring).getsockopt(this.#open('getsockopt'), int(level, 'level'), int(name, 'name'));
    if (!ok) throw new SystemError(v, 'getsockopt');
    return v;
  }

  /**
   * Closes the socket after queued writes: shutdown(SHUT_RD), which ends
   * pending receives, then IORING_OP_CLOSE. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    const fd = this.#fd;
    this.#fd = -1;
    const tail = this.#writeTail;
    this.#closed = (async () => {
      if (tail !== undefined) await tail.catch(() => {});
      if (fd < 0) return;
      // A pending receive holds the socket open in the kernel: shut down the
      // read side (pending receives end with 0; nothing is sent to the peer),
      // then close the fd (FIN, or RST with linger 0).
      await this.#ring.shutdown(fd, 0).catch(() => {});
      await this.#ring.closeFd(fd);
    })();
    return this.#closed;
  }

  /**
   * Closes at once: shutdown(SHUT_RDWR) ends pending receives and sends,
   * then the fd is closed. Queued writes fail.
   */
  destroy(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    const ring = this.#ring;
    this.#closed = ring.shutdown(fd, 2).catch(() => {}).then(() => ring.closeFd(fd)).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The address family (AF_INET, AF_INET6, AF_UNIX). */
  get family(): number {
    return this.#family;
  }

  static readonly HIGH_WATER = HIGH_WATER;
}

export { AF_INET, AF_INET6, AF_UNIX };
