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
import { bufferPool, sendZeroCopy, sysOf, type RecvOptions, type SendOptions } from '../ops/socket.js';
import { checkOptions, checkUint32, type Callback, type OpOptions } from '../ops/validate.js';
import { IORING_OP } from '../ring/constants.js';
import { AbortError } from '../errors.js';
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

/** Default zeroCopyThreshold: writes at least this large may use SEND_ZC (see Socket.setZeroCopy). */
export const ZERO_COPY_THRESHOLD = 64 * 1024;

/** One queued write (or ordered task such as a sendFile). */
class WriteRequest {
  done = 0;
  /** Zero-copy sends of this write whose notification has not come yet. */
  zcPending = 0;
  /** All bytes sent (or failed): settle once zcPending is 0. */
  sent = false;
  error: Error | null = null;
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

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
function isLoopback(a: SocketAddress): boolean {
  if (a.family === 'ipv4') return a.address.startsWith('127.');
  if (a.family === 'ipv6') return a.address === '::1' || /^::ffff:127\./i.test(a.address);
  return true;
}

export class Socket {
  readonly #ring: Ring;
  #fd: number;
  readonly #family: number;
  /** Write queue: #wq[#wqHead] is in flight, the rest wait in order. */
  #wq: WriteRequest[] = [];
  #wqHead = 0;
  #drainWaiters: (() => void)[] | undefined;
  /** Reused send options of plain writes (the ring reads them synchronously). */
  readonly #sendOpts: SendOptions = { offset: 0, length: 0, zeroCopy: false };
  #destroyed = false;
  #zcMode: boolean | 'auto' = 'auto';
  #zcThreshold = ZERO_COPY_THRESHOLD;
  /** Zero-copy sends awaiting their notification. */
  #zcOutstanding = 0;
  #remoteIsLocal: boolean | undefined;
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
   * Resolves with the byte count (or, given `callback`, calls it instead and
   * allocates no Promise). Never raises SIGPIPE (MSG_NOSIGNAL).
   *
   * Zero-copy: `options.zeroCopy` true sends this write with
   * IORING_OP_SEND_ZC, false with plain send; 'auto' (or absent) follows
   * the socket's policy (see setZeroCopy()). A zero-copy write resolves
   * when the kernel has taken the bytes; `data` stays pinned until the
   * kernel's notification that it no longer reads it.
   */
  write(data: ArrayBufferView | string, options?: SendOptions): Promise<number>;
  write(data: ArrayBufferView | string, options: SendOptions | undefined, callback: Callback<number>): void;
  write(data: ArrayBufferView | string, options?: SendOptions, callback?: Callback<number>): Promise<number> | void {
    const view = typeof data === 'string' ? Buffer.from(data) : data;
    if (!ArrayBuffer.isView(view)) throw invalidArgType('data', 'a string, Buffer, TypedArray or DataView', data);
    if (callback !== undefined && typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'of type object', options);
    }
    const fd = this.#open('send');
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

  /**
   * Runs `task` in this socket's write order: after every write queued
   * before, before every write queued after (sendFile uses it). close()
   * waits for it. Resolves with the task's result. A write the task issues
   * itself is queued after it: the task must not wait for that write.
   */
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
  get pendingWrites(): number {
    return this.#wq.length - this.#wqHead + this.#zcOutstanding;
  }

  /** Resolves once every write queued so far has settled (sent or failed). */
  drain(): Promise<void> {
    if (this.#wqHead === this.#wq.length && this.#zcOutstanding === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#drainWaiters ??= []).push(resolve));
  }

  #push(req: WriteRequest): void {
    this.#wq.push(req);
    if (this.#wq.length - this.#wqHead === 1) this.#next();
  }

  /** Starts the request at the head of the write queue (queue not empty). */
  #next(): void {
    for (;;) {
      const req = this.#wq[this.#wqHead]!;
      if (this.#destroyed) {
        this.#finish(req, new SystemError(os.constants.errno.EPIPE, req.task !== undefined ? 'sendfile' : 'send'), 0);
      } else if (req.task !== undefined) {
        let p: Promise<unknown>;
        try {
          p = req.task();
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
        sendZeroCopy(this.#ring, req.fd, req.view!, offset, length, flags, o, (err, n, more) => this.#onZc(req, err, n, more));
        return;
      }
      let opts: SendOptions;
      if (o === undefined) opts = this.#sendOpts;
      else opts = { ...o, zeroCopy: false };
      opts.offset = req.start + req.done;
      opts.length = req.total - req.done;
      this.#ring.send(req.fd, req.view!, opts, this.#onSent);
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
   * A zero-copy send's completions: the result moves the write queue on
   * (the next send may start), the notification (`more` false) releases the
   * buffer; the write settles once its last notification came, so a
   * resolved write's buffer may be reused.
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

  /**
   * Zero-copy policy for write(): 'auto' (the default) sends with
   * IORING_OP_SEND_ZC only writes of at least `threshold` bytes (default
   * 64 KiB) to a TCP peer on another host (on loopback, zero-copy measured
   * slower at every size: see docs/guides/networking.md); true: every write
   * of at least `threshold` bytes; false: never. Needs Linux 6.0.
   */
  setZeroCopy(mode: boolean | 'auto', threshold?: number): this {
    if (mode !== true && mode !== false && mode !== 'auto') throw invalidArgValue('mode', mode, "must be true, false or 'auto'");
    if (threshold !== undefined) this.#zcThreshold = int(threshold, 'threshold');
    this.#zcMode = mode;
    return this;
  }

  /** The zero-copy policy: { mode, threshold }. */
  get zeroCopy(): { mode: boolean | 'auto'; threshold: number } {
    return { mode: this.#zcMode, threshold: this.#zcThreshold };
  }

  #useZeroCopy(perWrite: boolean | 'auto' | undefined, total: number): boolean {
    if (perWrite === false || this.#family === AF_UNIX || !this.#ring.supports(IORING_OP.SEND_ZC)) return false;
    if (perWrite === true) return true; // this write asked for it: any size, any peer
    const mode = this.#zcMode;
    if (mode === false || total < this.#zcThreshold) return false;
    if (mode === true) return true;
    let remote = this.#remoteIsLocal;
    if (remote === undefined) remote = this.#remoteIsLocal = this.#peerOnThisHost();
    return !remote;
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
   * One Promise per chunk (the one next() returns); `return()` (a `break`
   * out of `for await`) stops receiving.
   */
  chunks(options?: OpOptions): AsyncGenerator<Buffer, void, undefined> {
    checkOptions(options);
    if (options?.timeout !== undefined) throw invalidArgType('options.timeout', 'undefined for a stream of chunks', options.timeout);
    // Like a generator, a closed socket or a receive already pending is reported by the first next().
    let failure: Error | undefined;
    if (this.#fd < 0) failure = new SystemError(os.constants.errno.EBADF, 'recv');
    else if (this.#reading) {
      failure = Object.assign(new Error('a receive is already pending on this socket'), { code: 'ERR_SOCKET_RECV_PENDING' });
    } else this.#reading = true;
    return new ChunkReader(this.#ring, this.#fd, options, () => {
      this.#reading = false;
    }, failure);
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
    if (n !== 0) await this.drain();
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
    const drained = this.drain();
    this.#closed = (async () => {
      await drained;
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
    // Writes not yet started fail with EPIPE (the fd number may be reused once closed).
    this.#destroyed = true;
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

/**
 * The chunk iterator of Socket.chunks(): multishot recv in its callback form
 * (one Promise per chunk: the one next() returns), re-armed after ENOBUFS or
 * when the kernel ends it, stopped past HIGH_WATER unread bytes and re-armed
 * once the reader drained them. Never two receives at once: a new multishot
 * is armed only after the previous one's final CQE.
 */
class ChunkReader implements AsyncGenerator<Buffer, void, undefined> {
  readonly #ring: Ring;
  readonly #fd: number;
  readonly #opts: OpOptions | undefined;
  #onEnd: (() => void) | undefined;
  readonly #multishot: boolean;
  #q: Buffer[] = [];
  #qHead = 0;
  #qBytes = 0;
  #resolve: ((r: IteratorResult<Buffer, void>) => void) | undefined;
  #reject: ((e: unknown) => void) | undefined;
  #op: { cancel(): void } | undefined;
  /** A receive is in the kernel (until its final CQE). */
  #armed = false;
  /** Stopped for backpressure: re-arm once drained. */
  #paused = false;
  #eof = false;
  #error: unknown;
  #finished = false;
  #ended: (() => void)[] | undefined;

  constructor(ring: Ring, fd: number, opts: OpOptions | undefined, onEnd: () => void, failure?: Error) {
    this.#ring = ring;
    this.#fd = fd;
    this.#opts = opts;
    if (failure !== undefined) {
      this.#multishot = false;
      this.#error = failure;
      return;
    }
    this.#onEnd = onEnd;
    this.#multishot = bufferPool(ring) !== null;
    if (this.#multishot) this.#arm();
  }

  #arm(): void {
    this.#armed = true;
    this.#paused = false;
    try {
      if (this.#multishot) this.#op = this.#ring.recvMultishot(this.#fd, this.#opts, this.#onData) ?? undefined;
      else {
        const buf = Buffer.allocUnsafe(64 * 1024);
        this.#ring.recv(this.#fd, buf, this.#opts, (err, n) => this.#onData(err, err ? undefined : buf.subarray(0, n), false));
      }
    } catch (e) {
      this.#onData(e as Error);
    }
  }

  readonly #onData = (err: Error | null, value?: Buffer, more?: boolean): void => {
    if (!more) {
      this.#armed = false;
      this.#op = undefined;
    }
    if (this.#finished) {
      if (!this.#armed) this.#release();
      return;
    }
    if (err !== null) {
      if ((err as { code?: string }).code === 'ENOBUFS') {
        // The pool ran dry: everything received is queued; re-arm (once drained if paused).
        if (!this.#paused || this.#qBytes <= LOW_WATER) this.#arm();
      } else if (err instanceof AbortError && this.#paused) {
        if (this.#qBytes <= LOW_WATER) this.#arm(); // (the reader drained meanwhile)
      } else {
        this.#error = err;
        this.#wake();
      }
      return;
    }
    if (value === undefined) return;
    if (value.length === 0) {
      this.#eof = true;
      this.#wake();
      return;
    }
    const r = this.#resolve;
    if (r !== undefined) {
      this.#resolve = this.#reject = undefined;
      r({ value, done: false });
    } else {
      this.#q.push(value);
      this.#qBytes += value.length;
      if (this.#qBytes > HIGH_WATER && this.#armed && !this.#paused && this.#op !== undefined) {
        this.#paused = true;
        this.#op.cancel();
      }
    }
    // The kernel ended the multishot without EOF (or a one-shot recv returned): receive again.
    if (!this.#armed && !this.#paused && (this.#multishot || this.#resolve !== undefined)) this.#arm();
  };

  /** Wakes a waiting next() with the end (EOF or error) once the queue is empty. */
  #wake(): void {
    if (this.#resolve === undefined) return;
    const resolve = this.#resolve, reject = this.#reject!;
    this.#resolve = this.#reject = undefined;
    if (this.#error !== undefined) {
      const e = this.#error;
      this.#error = undefined;
      this.#finish();
      reject(e);
    } else {
      this.#finish();
      resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<Buffer, void>> {
    if (this.#qHead < this.#q.length) {
      const value = this.#q[this.#qHead++]!;
      if (this.#qHead === this.#q.length) {
        this.#q.length = 0;
        this.#qHead = 0;
      }
      this.#qBytes -= value.length;
      if (this.#paused && !this.#armed && this.#qBytes <= LOW_WATER) this.#arm();
      return Promise.resolve({ value, done: false });
    }
    if (this.#finished) return Promise.resolve({ value: undefined, done: true });
    if (this.#error !== undefined) {
      const e = this.#error;
      this.#error = undefined;
      this.#finish();
      return Promise.reject(e);
    }
    if (this.#eof) {
      this.#finish();
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.#resolve !== undefined) return Promise.reject(new Error('next() called while a previous next() is pending'));
    return new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      if (!this.#armed && !this.#paused) this.#arm();
    });
  }

  /** Ends the iteration; receiving stops (what arrives meanwhile is dropped). Resolves once no receive is left in the kernel. */
  return(): Promise<IteratorResult<Buffer, void>> {
    const done = { value: undefined, done: true } as const;
    if (!this.#finished) {
      const r = this.#resolve;
      this.#resolve = this.#reject = undefined;
      this.#finish();
      r?.(done);
    }
    if (!this.#armed) return Promise.resolve(done);
    return new Promise((resolve) => (this.#ended ??= []).push(() => resolve(done)));
  }

  throw(e: unknown): Promise<IteratorResult<Buffer, void>> {
    return this.return().then(() => Promise.reject(e));
  }

  #finish(): void {
    this.#finished = true;
    this.#q.length = 0;
    this.#qHead = 0;
    this.#qBytes = 0;
    if (this.#armed) this.#op?.cancel();
    else this.#release();
  }

  /** No receive left in the kernel: the socket may be read again. */
  #release(): void {
    const f = this.#onEnd;
    this.#onEnd = undefined;
    f?.();
    const w = this.#ended;
    this.#ended = undefined;
    if (w !== undefined) for (const g of w) g();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/** Re-arm a receive stopped for backpressure once no more than this waits unread. */
const LOW_WATER = HIGH_WATER / 2;
