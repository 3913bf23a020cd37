/**
 * Sockets of the portable backend: node:net objects behind the backend's
 * own handles. A socket gets a virtual fd (>= 2^30, never a real fd number:
 * Linux hands out the lowest free fd, bounded far below by RLIMIT_NOFILE) that
 * maps to a handle here; Ring, Socket and TcpListener use the number as they
 * use a kernel fd.
 *
 *  - socket/bind/setsockopt record what the kernel would hold; listen binds
 *    and listens synchronously on libuv's own TCP / Pipe handles (so bind
 *    errors and the ephemeral port are known at once, as with the syscalls);
 *  - CONNECT, ACCEPT (one-shot and multishot), SEND, RECV, SHUTDOWN, CLOSE map
 *    to net.Socket; libuv reads into one shared buffer (net.Socket's `onread`:
 *    no Readable stream, no Buffer per read) and each read's bytes are copied
 *    at once into a waiting multishot recv's provided buffers, else into the
 *    handle's inbox; the socket is paused while more than INBOX_HIGH bytes wait
 *    unread (resumed by recv);
 *  - a SEND completes as send(2) on a non-blocking socket: with what the
 *    kernel took now (a non-blocking write on libuv's fd), or, without room,
 *    after waiting while holding no byte (see StreamHandle.send), so a cancel
 *    really ends it; SO_SNDBUF / SO_RCVBUF go to the kernel through the
 *    addon's setsockopt where it loads;
 *  - pipe() makes an in-memory pipe (virtual fds too), used by sendFile's
 *    splice path: SPLICE moves file → pipe by fs.read and pipe → socket by write;
 *  - POLL works on these handles (readiness is known here); on real fds it is
 *    refused with EOPNOTSUPP.
 *
 * Every net object is unref'd: the loop is kept alive by the ring (only while
 * operations are in flight), as on io_uring.
 */
import fs from 'node:fs';
import net from 'node:net';

import type { SyscallBackend } from '../backend.js';
import { nativeBinding } from '../uring/binding.js';
import { AF_INET, AF_INET6, AF_UNIX, decodeSockaddr, encodeSockaddr } from '../shared/sockaddr.js';
import { DescOp } from '../protocol.js';
import { E, errnoOf, IORING_CQE_BUFFER_SHIFT, IORING_CQE_F_BUFFER, type BufRing, type Op } from './engine.js';
import { DgramHandle } from './datagrams.js';
import { Handle, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, uvBinding, uvErrno } from './handle.js';

/** The first virtual fd. */
export const FD_BASE = 0x40000000;
/** How long a closed socket may wait for libuv to write the one byte it still holds (see StreamHandle.send). */
const CLOSE_FLUSH_MS = 10_000;
/** Bytes received and not yet read past which the socket is paused. */
export const INBOX_HIGH = 1 << 20;
/**
 * What libuv reads every socket's bytes into (net.Socket's `onread`): one per
 * thread, as reads and their callbacks never interleave; each read's bytes
 * are copied out in its callback.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/**
 * A multishot recv waiting on a stream handle: its op, the provided-buffer
 * ring it fills, its flags, and the bytes it may still take (its total limit,
 * IORING_RECV_MSHOT_LIM; Infinity without one).
 */
interface MultiRecv {
  op: Op;
  ring: BufRing;
  flags: number;
  left: number;
}

const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_TYPE_MASK = 0xf;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_ERROR = 4;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_KEEPALIVE = 9;
const SO_REUSEPORT = 15;
const SO_TYPE = 3;
const SO_LINGER = 13;
const IPPROTO_TCP = 6;
const IPPROTO_IPV6 = 41;
const TCP_NODELAY = 1;
const TCP_KEEPIDLE = 4;
const TCP_KEEPINTVL = 5;
const TCP_KEEPCNT = 6;
const IPV6_V6ONLY = 26;
const MSG_PEEK = 2;
const SHUT_RD = 0;
const SHUT_WR = 1;
interface UvHandle {
  close(cb?: () => void): void;
  unref(): void;
  listen(backlog: number): number;
  onconnection: ((status: number, client: unknown) => void) | null;
  getsockname?(out: Record<string, unknown>): number;
}

interface TcpBinding {
  TCP: new (type: number) => UvHandle & { bind(a: string, p: number): number; bind6(a: string, p: number, f: number): number };
  constants: { SERVER: number; UV_TCP_IPV6ONLY: number; UV_TCP_REUSEPORT?: number };
}
interface PipeBinding {
  Pipe: new (type: number) => UvHandle & { bind(path: string): number };
  constants: { SERVER: number };
}

/** Received bytes not yet read, end-of-stream, a pending error, and the recvs waiting. */
class Inbox {
  chunks: Buffer[] = [];
  bytes = 0;
  eof = false;
  error = 0;
  readonly readers: { op: Op; view: Uint8Array; peek: boolean }[] = [];

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  /** Copies up to view.length bytes out (consuming them unless peek). */
  take(view: Uint8Array, peek: boolean): number {
    let n = 0;
    let i = 0;
    while (n < view.length && i < this.chunks.length) {
      const c = this.chunks[i]!;
      const k = Math.min(c.length, view.length - n);
      view.set(c.subarray(0, k), n);
      n += k;
      if (peek) {
        i++;
        continue;
      }
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    if (!peek) this.bytes -= n;
    return n;
  }
}

let nativeSys: SyscallBackend | null | undefined;

/**
 * The addon's setsockopt where it loads (Linux, io_uring blocked or not
 * chosen): it sets what Node has no API for (SO_SNDBUF / SO_RCVBUF on TCP and
 * Unix sockets) on libuv's own fd; null where the addon cannot load.
 */
function nativeSockopt(): SyscallBackend | null {
  if (nativeSys === undefined) {
    try {
      nativeSys = nativeBinding().sys ?? null;
    } catch {
      nativeSys = null;
    }
  }
  return nativeSys;
}

/** The kernel fd under a libuv handle (net.Socket's _handle, a TCP wrap), or -1. */
function fdOf(handle: unknown): number {
  const fd = (handle as { fd?: unknown } | null | undefined)?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
}

/**
 * Copies src[from, from + k) to the start of dst: a plain loop for the small
 * messages (no view object, cheaper than Buffer#copy's checks), a typed-array
 * copy for the rest.
 */
function copyBytes(src: Uint8Array, from: number, dst: Uint8Array, k: number): void {
  if (k <= 256) {
    for (let i = 0; i < k; i++) dst[i] = src[from + i]!;
  } else {
    dst.set(new Uint8Array(src.buffer, src.byteOffset + from, k));
  }
}

/** write(2) on a non-blocking fd, again after EINTR (a signal, no progress); throws the other errors. */
function writeRetrying(fd: number, view: Uint8Array): number {
  for (let i = 0; ; i++) {
    try {
      return fs.writeSync(fd, view, 0, view.length, null);
    } catch (err) {
      if (i >= 8 || errnoOf(err) !== -E.EINTR) throw err;
    }
  }
}

/** A send's final CQE(s): SEND_ZC posts its result and its notification together. */
function finishSend(op: Op, res: number, zc: boolean): void {
  if (zc) op.completeZc(res);
  else op.complete(res);
}

/** Options recorded by setsockopt, applied when the net.Socket exists. */
interface StreamOptions {
  noDelay?: boolean;
  keepAlive?: boolean;
  keepIdle?: number;
  reuseAddr?: boolean;
  reusePort?: boolean;
  v6Only?: boolean;
  sndbuf?: number;
  rcvbuf?: number;
}

/** A stream socket (TCP or Unix): new, connecting, connected, or listening. */
class StreamHandle extends Handle {
  readonly kindName = 'stream socket';
  sock: net.Socket | undefined;
  connecting: Op | undefined;
  bound: { address: string; port: number } | undefined;
  readonly opts: StreamOptions = {};
  /** setsockopt values as the kernel would report them. */
  readonly optValues = new Map<string, number>();
  /** SO_LINGER seconds, -1 when off; 0 makes close() reset the connection (RST). */
  linger = -1;
  /** Unix sockets: the path connected to (getpeername). */
  peerPath = '';
  readonly inbox = new Inbox();
  paused = false;
  writeEnded = false;
  readShut = false;
  /** A listener: the libuv server handle and accepted connections not yet taken. */
  server: UvHandle | undefined;
  readonly backlog: net.Socket[] = [];
  readonly acceptors: Op[] = [];
  /** Sockname of a listener. */
  local: { address: string; port: number } | undefined;

  constructor(readonly domain: number) {
    super();
  }

  readiness(): number {
    if (this.server !== undefined) return this.backlog.length > 0 ? POLLIN : 0;
    const ib = this.inbox;
    let m = 0;
    if (ib.bytes > 0 || ib.eof || this.readShut) m |= POLLIN;
    if (ib.eof) m |= POLLRDHUP;
    if (ib.error !== 0) m |= POLLERR;
    if (this.sock !== undefined && this.connecting === undefined && !this.writeEnded && !this.#probe &&
      this.#sendq.length === 0) m |= POLLOUT;
    if (ib.eof && this.writeEnded) m |= POLLHUP;
    return m;
  }

  /**
   * net.Socket's `onread` option for this handle's socket: libuv reads into
   * READ_BUFFER and calls back synchronously (no Readable stream, no Buffer
   * allocated per read); the bytes are copied out at once (see #onRead).
   */
  readOptions(): { buffer: Buffer; callback: (n: number, buf: Buffer) => boolean } {
    return { buffer: READ_BUFFER, callback: (n: number, buf: Buffer) => this.#onRead(n, buf) };
  }

  /**
   * Received bytes (`n` of them at the start of `buf`, which libuv reuses for
   * the next read), copied out before returning: straight into provided
   * buffers when a multishot recv waits, or into the memory of waiting
   * one-shot recvs, when nothing is queued before them; the rest into the
   * inbox (a Buffer of its own).
   */
  #onRead(n: number, buf: Buffer): boolean {
    const ib = this.inbox;
    const m = this.#multi;
    let from = 0;
    if (m !== undefined && ib.bytes === 0) {
      while (from < n && this.#multi === m) {
        const bid = this.#takeProvided(m);
        if (bid === undefined) break; // the rest waits in the inbox
        const view = m.ring.view(bid);
        const k = Math.min(view.length, n - from, m.left);
        copyBytes(buf, from, view, k);
        from += k;
        this.#postProvided(m, bid, k);
      }
    }
    if (this.#multi === undefined && ib.bytes === 0) {
      // One-shot recvs waiting, nothing queued before them: straight into their memory, in order
      // (as #feed would hand them the inbox; a MSG_PEEK recv takes the inbox path).
      const rs = ib.readers;
      while (from < n && rs.length > 0 && !rs[0]!.peek) {
        const w = rs.shift()!;
        const k = Math.min(w.view.length, n - from);
        copyBytes(buf, from, w.view, k);
        from += k;
        w.op.complete(k);
      }
    }
    if (from < n) {
      const chunk = Buffer.allocUnsafe(n - from);
      copyBytes(buf, from, chunk, n - from);
      this.#received(chunk);
    } else this.changed();
    return true;
  }

  /** Bytes received into a Buffer of their own (the inbox keeps it). */
  #received(chunk: Buffer): void {
    const ib = this.inbox;
    ib.push(chunk);
    this.#feed();
    if (ib.bytes > this.inboxHigh && !this.paused) {
      this.paused = true;
      this.sock?.pause();
    }
    this.changed();
  }

  /** Wires a connected net.Socket (connect or accept, made with readOptions()) to this handle. */
  attach(sock: net.Socket): void {
    this.sock = sock;
    this.#fdAttached = fdOf((sock as unknown as { _handle?: unknown })._handle);
    sock.unref();
    const ib = this.inbox;
    // Only where the runtime ignores `onread` does data come as 'data' events.
    sock.on('data', (chunk: Buffer) => this.#received(chunk));
    sock.on('end', () => {
      this.#readRest();
      ib.eof = true;
      this.#feed();
      this.changed();
    });
    sock.on('error', (err) => {
      if (ib.error === 0) ib.error = errnoOf(err);
      this.#feed();
      this.#runSends(errnoOf(err));
      this.changed();
    });
    sock.on('close', () => {
      ib.eof = true;
      this.#feed();
      this.#runSends();
      this.changed();
    });
    this.applyOptions();
  }

  /**
   * At libuv's end-of-stream: the bytes and the error still in the kernel.
   * libuv reports a reset (RST) that arrives while a read was partial as
   * end-of-stream (its POLLHUP shortcut), leaving the bytes still queued and
   * the error (ECONNRESET) unread, where recv(2) returns them: they are read
   * here from the fd with non-blocking reads (bounded by the socket's receive
   * buffer). After a real FIN the first read returns 0.
   */
  #readRest(): void {
    const fd = this.#rawFd();
    if (fd < 0) return;
    const ib = this.inbox;
    for (;;) {
      const buf = Buffer.allocUnsafe(65536);
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        const e = errnoOf(err);
        if (e !== -E.EAGAIN && e !== -E.EWOULDBLOCK && ib.error === 0) ib.error = e;
        return;
      }
      if (n === 0) return;
      ib.push(n === buf.length ? buf : buf.subarray(0, n));
    }
  }

  applyOptions(): void {
    this.applyBuffers();
    const s = this.sock;
    if (s === undefined) return;
    if (this.opts.noDelay !== undefined) s.setNoDelay(this.opts.noDelay);
    if (this.opts.keepAlive !== undefined) s.setKeepAlive(this.opts.keepAlive, (this.opts.keepIdle ?? 0) * 1000);
  }

  /**
   * SO_SNDBUF / SO_RCVBUF on the kernel socket (the connection, or the bound
   * listener, whose accepted connections inherit them), through the addon;
   * recorded only where it cannot load. Returns 0 or the setsockopt errno.
   */
  applyBuffers(): number {
    const { sndbuf, rcvbuf } = this.opts;
    if (sndbuf === undefined && rcvbuf === undefined) return 0;
    const fd = this.sock !== undefined ? this.#rawFd() : fdOf(this.boundHandle ?? this.server);
    const sys = fd >= 0 ? nativeSockopt() : null;
    if (sys === null) return 0;
    let err = 0;
    if (sndbuf !== undefined) err = sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, sndbuf);
    if (rcvbuf !== undefined && err === 0) err = sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf);
    return err;
  }

  /** Unread bytes past which the socket is paused: SO_RCVBUF's size when set (as the kernel's buffer would bound them), else INBOX_HIGH. */
  get inboxHigh(): number {
    const r = this.opts.rcvbuf;
    return r !== undefined && r < INBOX_HIGH ? Math.max(r, 1024) : INBOX_HIGH;
  }

  /** A multishot recv into a provided-buffer ring (at most one per socket, as Socket arms it). */
  #multi: MultiRecv | undefined;

  /** `limit`: end after that many bytes (0: no limit), as Linux 6.17's IORING_RECV_MSHOT_LIM. */
  recvMultishot(op: Op, ring: BufRing, flags: number, limit = 0): void {
    if (this.server !== undefined || (this.sock === undefined && !this.readShut)) return op.complete(-E.ENOTCONN);
    if (this.#multi !== undefined) return op.complete(-E.EBUSY);
    const m = { op, ring, flags, left: limit > 0 ? limit : Infinity };
    this.#multi = m;
    op.detach = () => {
      if (this.#multi === m) this.#multi = undefined;
    };
    this.#feed();
  }

  /** The next provided buffer for the multishot recv `m`, or undefined: the pool is dry and `m` ended (ENOBUFS). */
  #takeProvided(m: MultiRecv): number | undefined {
    const bid = m.ring.take();
    if (bid === undefined) {
      this.#multi = undefined;
      m.op.complete(-E.ENOBUFS);
    }
    return bid;
  }

  /**
   * `k` bytes are in provided buffer `bid`: an F_MORE CQE, or the final one
   * (still carrying the buffer) once the multishot's byte limit is reached.
   */
  #postProvided(m: MultiRecv, bid: number, k: number): void {
    const flags = IORING_CQE_F_BUFFER | (bid << IORING_CQE_BUFFER_SHIFT);
    m.left -= k;
    if (m.left > 0) return m.op.more(k, flags);
    this.#multi = undefined;
    m.op.complete(k, undefined, flags);
  }

  /** Fills provided buffers from the inbox: one F_MORE CQE per buffer; ENOBUFS, EOF, the error or the byte limit end it. */
  #feedMulti(): void {
    const m = this.#multi!;
    const ib = this.inbox;
    while (ib.bytes > 0) {
      const bid = this.#takeProvided(m);
      if (bid === undefined) return;
      const view = m.ring.view(bid);
      const n = ib.take(m.left < view.length ? view.subarray(0, m.left) : view, false);
      this.#postProvided(m, bid, n);
      if (this.#multi !== m) return;
    }
    if (ib.error !== 0 || ib.eof || this.readShut) {
      this.#multi = undefined;
      m.op.complete(ib.error !== 0 ? ib.error : 0);
    }
  }

  /** Hands waiting bytes (or EOF / the error) to waiting recvs, in order. */
  #feed(): void {
    const ib = this.inbox;
    if (this.#multi !== undefined) this.#feedMulti();
    while (ib.readers.length > 0 && (ib.bytes > 0 || ib.eof || ib.error !== 0 || this.readShut)) {
      const w = ib.readers.shift()!;
      if (ib.bytes > 0) w.op.complete(ib.take(w.view, w.peek));
      else if (ib.error !== 0) w.op.complete(ib.error);
      else w.op.complete(0);
    }
    this.maybeResume();
  }

  maybeResume(): void {
    if (this.paused && this.inbox.bytes <= this.inboxHigh >> 1) {
      this.paused = false;
      this.sock?.resume();
    }
  }

  recv(op: Op, view: Uint8Array, flags: number): void {
    const ib = this.inbox;
    if (this.server !== undefined || (this.sock === undefined && !this.readShut)) return op.complete(-E.ENOTCONN);
    if (ib.readers.length === 0) {
      if (ib.bytes > 0) {
        const n = ib.take(view, (flags & MSG_PEEK) !== 0);
        this.maybeResume();
        return op.complete(n);
      }
      if (ib.error !== 0) return op.complete(ib.error);
      if (ib.eof || this.readShut) return op.complete(0);
    }
    if (view.length === 0) return op.complete(0);
    const w = { op, view, peek: (flags & MSG_PEEK) !== 0 };
    ib.readers.push(w);
    op.detach = () => {
      const i = ib.readers.indexOf(w);
      if (i >= 0) ib.readers.splice(i, 1);
    };
  }

  /**
   * SEND, as the kernel's send(2) on a non-blocking socket completes it: with
   * the bytes the socket buffer took now (a short count when it took part),
   * or, when it has no room, not before it has. A send that waits holds no
   * byte anywhere, so a cancel or a linked deadline really ends it (-ECANCELED)
   * and nothing of it is sent later.
   *
   * How, where libuv exposes the socket's fd (every Unix): a non-blocking
   * write(2) on that fd (fs.writeSync: it never blocks, O_NONBLOCK is libuv's)
   * while libuv's own write queue is empty. On EAGAIN one byte (a copy) goes
   * to libuv, which writes it once the kernel has room (libuv's POLLOUT wait,
   * the only one Node offers); that byte counts as taken (the send completes
   * with 1), as if the socket buffer were one byte larger. Later sends wait,
   * cancellable and holding nothing, until libuv's callback says it went.
   * Where there is no fd (Windows), see #sendBuffered.
   */
  readonly #sendq: { op: Op; view: Uint8Array; zc: boolean; whole: boolean }[] = [];
  /** The one byte handed to libuv is not written yet: sends wait behind it. */
  #probe = false;

  /**
   * Whether sends and the end-of-stream read-back use the socket's fd where
   * libuv exposes it (true). False takes the path of runtimes without one
   * (Windows) everywhere: for the tests of that path.
   */
  static rawFdAccess = true;

  /**
   * The kernel fd of the attached socket, read once at attach(): libuv's
   * handle keeps it until the socket is destroyed (destroy() closes it
   * synchronously), so #rawFd() uses it only while the socket is not destroyed.
   */
  #fdAttached = -1;

  /** The socket's kernel fd, or -1 (none, closed, or not offered by this runtime). */
  #rawFd(): number {
    if (!StreamHandle.rawFdAccess) return -1;
    const s = this.sock;
    if (s === undefined) return -1;
    if (this.#fdAttached >= 0 && !s.destroyed) return this.#fdAttached;
    return fdOf((s as unknown as { _handle?: unknown })._handle);
  }

  /** Why a send cannot go now (negative errno), or 0. */
  #sendError(): number {
    const s = this.sock;
    if (s === undefined || this.connecting !== undefined) return -E.ENOTCONN;
    if (this.writeEnded || s.destroyed) return -E.EPIPE;
    return this.inbox.error;
  }

  /** SEND (and SEND_ZC when `zc`: both CQEs at once, the bytes are the kernel's by then). */
  send(op: Op, view: Uint8Array, zc = false): void {
    const res = this.#sendError();
    if (res !== 0 || view.length === 0) return finishSend(op, res, zc);
    // A SPLICE (pipe → socket) already took its bytes out of the pipe: it sends them all.
    const whole = op.code === DescOp.SPLICE;
    if (this.#sendq.length > 0 || this.#probe) return this.#waitSend(op, view, zc, whole);
    this.#sendNow(op, view, zc, whole);
  }

  #waitSend(op: Op, view: Uint8Array, zc: boolean, whole: boolean): void {
    const w = { op, view, zc, whole };
    this.#sendq.push(w);
    op.detach = () => {
      const i = this.#sendq.indexOf(w);
      if (i >= 0) this.#sendq.splice(i, 1);
    };
  }

  /**
   * One non-blocking write(2) of `view`; libuv's write queue is empty. A
   * `whole` send hands what the kernel did not take to libuv (#sendBuffered).
   */
  #sendNow(op: Op, view: Uint8Array, zc: boolean, whole: boolean): void {
    const fd = this.#rawFd();
    if (fd < 0) return this.#sendBuffered(op, view, zc, 0);
    let n: number;
    try {
      n = writeRetrying(fd, view);
    } catch (err) {
      const errno = errnoOf(err);
      if (errno !== -E.EAGAIN && errno !== -E.EWOULDBLOCK) return finishSend(op, errno, zc);
      if (whole) return this.#sendBuffered(op, view, zc, 0);
      this.#probe = true;
      this.sock!.write(Buffer.from(view.subarray(0, 1)), this.#onProbe);
      n = 1;
    }
    if (whole && n < view.length) return this.#sendBuffered(op, view, zc, n);
    finishSend(op, n, zc);
  }

  readonly #onProbe = (err?: Error | null): void => {
    this.#probe = false;
    this.#runSends(err != null ? errnoOf(err) : 0);
    this.changed();
  };

  /**
   * Starts the waiting sends in order; once the socket cannot send, fails them
   * all: with `failWith` when given (the connection's error, which the kernel
   * reports to the sends it wakes), else as a new send would fail (EPIPE).
   */
  #runSends(failWith = 0): void {
    const q = this.#sendq;
    while (q.length > 0) {
      const res = failWith !== 0 && failWith !== -E.ECANCELED ? failWith : this.#sendError();
      if (res === 0 && this.#probe) return;
      const w = q.shift()!;
      w.op.detach = undefined;
      if (res !== 0) finishSend(w.op, res, w.zc);
      else this.#sendNow(w.op, w.view, w.zc, w.whole);
    }
  }

  /**
   * Where the socket's fd is not exposed (Windows), and for the rest of a
   * `whole` send: net.Socket.write of view[from..], the send completing with
   * view.length in libuv's write callback, one in libuv at a time. Bytes libuv
   * holds cannot be taken back: cancelling such a send (a deadline, an abort)
   * destroys the connection (later sends fail with EPIPE, recvs end with
   * ECONNABORTED after the bytes already received), so nothing is sent after
   * the gap.
   */
  #sendBuffered(op: Op, view: Uint8Array, zc: boolean, from: number): void {
    const s = this.sock!;
    const n = view.length;
    let written = false;
    this.#probe = true; // later sends wait for this one's callback
    s.write(from === 0 ? view : view.subarray(from), (err?: Error | null) => {
      written = true;
      this.#probe = false;
      // Node calls back without an error for writes it dropped because the socket was destroyed.
      let res = n;
      if (err != null) res = errnoOf(err) === -E.ECANCELED ? this.#lostWrite(s) : errnoOf(err);
      else if (s.destroyed && (s.errored !== null || this.destroying)) res = this.#lostWrite(s);
      finishSend(op, res, zc);
      this.#runSends(res < 0 ? res : 0);
      this.changed();
    });
    op.detach = () => {
      if (written) return;
      this.inbox.error = -E.ECONNABORTED;
      this.destroying = true;
      s.destroy();
    };
  }

  /**
   * close(2) while libuv still holds bytes (the one byte of a send that found
   * no room, reported sent; or the rest of a splice's chunk): the kernel sends
   * what its buffer holds after close (then FIN), so libuv gets to write them
   * (end(): FIN after them) before the socket is destroyed; a peer that never
   * reads holds them CLOSE_FLUSH_MS at most (the socket is unref'd meanwhile:
   * it keeps no process alive).
   */
  #flushThenDestroy(s: net.Socket): void {
    const t = setTimeout(() => s.destroy(), CLOSE_FLUSH_MS);
    t.unref();
    const done = (): void => {
      clearTimeout(t);
      s.destroy();
    };
    s.once('finish', done);
    s.once('close', done);
    if (!this.writeEnded) {
      this.writeEnded = true;
      s.end();
    }
  }

  /** The error of a write libuv dropped because the connection went. */
  #lostWrite(s: net.Socket): number {
    return s.errored ? errnoOf(s.errored) : this.inbox.error !== 0 ? this.inbox.error : -E.EPIPE;
  }

  /** close() has destroyed the socket: writes still pending were dropped. */
  destroying = false;

  shutdown(op: Op, how: number): void {
    const s = this.sock;
    if (s === undefined || this.connecting !== undefined) return op.complete(-E.ENOTCONN);
    if (how !== SHUT_RD) {
      if (!this.writeEnded) {
        this.writeEnded = true;
        s.end();
      }
    }
    if (how !== SHUT_WR) {
      this.readShut = true;
      this.#feed();
    }
    this.changed();
    op.complete(0);
  }

  connect(op: Op, address: string, port: number): void {
    if (this.server !== undefined) return op.complete(-E.EINVAL);
    if (this.connecting !== undefined) return op.complete(-E.EALREADY);
    if (this.sock !== undefined) return op.complete(-E.EISCONN);
    if (this.boundHandle !== undefined) {
      // The port was held by the bound handle; connect from it now.
      this.boundHandle.close();
      this.boundHandle = undefined;
    }
    const sock = new net.Socket({ allowHalfOpen: true, onread: this.readOptions() } as net.SocketConstructorOpts);
    this.connecting = op;
    const onError = (err: Error): void => {
      if (this.connecting !== op) return;
      this.connecting = undefined;
      sock.destroy();
      op.complete(errnoOf(err));
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      if (this.connecting !== op) return;
      this.connecting = undefined;
      sock.removeListener('error', onError);
      this.attach(sock);
      op.complete(0);
      this.changed();
    });
    op.detach = () => {
      // Cancelled or timed out while connecting: the socket returns to its unconnected state.
      if (this.connecting === op) {
        this.connecting = undefined;
        sock.destroy();
      }
    };
    if (this.domain === AF_UNIX) {
      this.peerPath = address;
      sock.connect({ path: address.startsWith('@') ? `\0${address.slice(1)}` : address });
    } else {
      const o: net.TcpSocketConnectOpts = { host: address, port, family: this.domain === AF_INET6 ? 6 : 4 };
      if (this.bound !== undefined) {
        o.localAddress = this.bound.address;
        if (this.bound.port !== 0) o.localPort = this.bound.port;
      }
      sock.connect(o);
    }
    sock.unref();
  }

  /**
   * bind(2) for TCP: binds a libuv TCP handle at once (so EADDRINUSE and the
   * port are known now); listen() listens on it, connect() releases it and
   * connects from the same address and port.
   */
  bindTcp(address: string, port: number): number {
    const tb = uvBinding<TcpBinding>('tcp_wrap');
    if (tb === undefined) {
      this.bound = { address, port };
      return 0;
    }
    const th = new tb.TCP(tb.constants.SERVER);
    // SO_REUSEPORT: libuv's UV_TCP_REUSEPORT (Node 22.12+); setsockopt refuses it where absent.
    const reuse = this.opts.reusePort === true ? tb.constants.UV_TCP_REUSEPORT ?? 0 : 0;
    let err = this.domain === AF_INET6
      ? th.bind6(address, port, (this.opts.v6Only === true ? tb.constants.UV_TCP_IPV6ONLY : 0) | reuse)
      : (th.bind as (a: string, p: number, f: number) => number)(address, port, reuse);
    const out: Record<string, unknown> = {};
    if (err === 0) err = th.getsockname!(out);
    if (err !== 0) {
      th.close();
      return uvErrno(err);
    }
    th.unref();
    this.bound = { address, port: Number(out.port) };
    this.boundHandle = th;
    this.applyBuffers();
    return 0;
  }

  boundHandle: (UvHandle & { bind6?: unknown }) | undefined;

  listen(backlog: number): number {
    if (this.sock !== undefined || this.connecting !== undefined) return -E.EINVAL;
    if (this.server !== undefined) return 0;
    if (this.domain !== AF_UNIX && this.bound === undefined) {
      const err = this.bindTcp(this.domain === AF_INET6 ? '::' : '0.0.0.0', 0);
      if (err !== 0) return err;
    }
    const b = this.bound ?? { address: '', port: 0 };
    let h: UvHandle;
    if (this.domain === AF_UNIX) {
      const pb = uvBinding<PipeBinding>('pipe_wrap');
      if (pb === undefined || this.bound === undefined) return -E.EOPNOTSUPP;
      const ph = new pb.Pipe(pb.constants.SERVER);
      const p = b.address.startsWith('@') ? `\0${b.address.slice(1)}` : b.address;
      let err = ph.bind(p);
      if (err === 0) err = ph.listen(Math.max(1, backlog));
      if (err !== 0) {
        ph.close();
        return uvErrno(err);
      }
      h = ph;
      this.local = b;
    } else {
      const th = this.boundHandle;
      if (th === undefined) return -E.EOPNOTSUPP;
      const err = th.listen(Math.max(1, backlog));
      if (err !== 0) return uvErrno(err);
      this.boundHandle = undefined;
      h = th;
      this.local = b;
    }
    h.onconnection = (status, client) => {
      if (status !== 0 || client === undefined) return;
      // Bytes may arrive before accept: buffer them as the kernel would (the inbox applies backpressure).
      const pre = new StreamHandle(this.domain);
      const sock = new net.Socket({ handle: client, allowHalfOpen: true, onread: pre.readOptions() } as net.SocketConstructorOpts);
      sock.unref();
      if (this.domain === AF_UNIX) pre.local = this.local;
      // The kernel's accepted socket inherits the listener's buffer sizes: so do the records.
      for (const name of [SO_SNDBUF, SO_RCVBUF]) {
        const v = this.optValues.get(optKey(SOL_SOCKET, name));
        if (v !== undefined) pre.optValues.set(optKey(SOL_SOCKET, name), v);
      }
      pre.opts.sndbuf = this.opts.sndbuf;
      pre.opts.rcvbuf = this.opts.rcvbuf;
      pre.attach(sock);
      this.#queueConnection(pre);
    };
    h.unref();
    this.server = h;
    this.changed();
    return 0;
  }

  readonly #accepted: StreamHandle[] = [];

  #queueConnection(conn: StreamHandle): void {
    this.#accepted.push(conn);
    this.backlog.push(conn.sock!);
    this.serveAcceptors();
    this.changed();
  }

  serveAcceptors(): void {
    while (this.acceptors.length > 0 && this.#accepted.length > 0) {
      const op = this.acceptors[0]!;
      const conn = this.#accepted.shift()!;
      this.backlog.shift();
      const fd = this.table!.add(conn);
      if (op.multishot) op.more(fd);
      else {
        this.acceptors.shift();
        op.complete(fd);
      }
    }
  }

  table: HandleTable | undefined;

  accept(op: Op): void {
    if (this.server === undefined) return op.complete(-E.EINVAL);
    this.acceptors.push(op);
    op.detach = () => {
      const i = this.acceptors.indexOf(op);
      if (i >= 0) this.acceptors.splice(i, 1);
    };
    this.serveAcceptors();
  }

  close(): void {
    this.boundHandle?.close();
    this.boundHandle = undefined;
    if (this.server !== undefined) {
      this.server.onconnection = null;
      this.server.close();
      this.server = undefined;
      for (const c of this.#accepted.splice(0)) c.close();
      this.backlog.length = 0;
      for (const op of this.acceptors.splice(0)) op.complete(-E.ECANCELED);
    }
    const s = this.sock;
    if (s !== undefined) {
      this.destroying = true;
      if (this.linger === 0 && !s.destroyed && typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
      else if (this.#probe && !s.destroyed && this.#rawFd() >= 0) this.#flushThenDestroy(s);
      else s.destroy();
    }
    this.connecting?.complete(-E.ECANCELED);
    for (const w of this.#sendq.splice(0)) finishSend(w.op, -E.ECANCELED, w.zc);
    this.inbox.eof = true;
    for (const w of this.inbox.readers.splice(0)) w.op.complete(-E.ECANCELED);
    const pollers = [...this.pollers];
    this.pollers.clear();
    for (const p of pollers) p.fail(-E.ECANCELED);
  }
}

/** One end of an in-memory pipe (pipe()): read end holds the inbox, write end feeds it. */
class PipeEnd extends Handle {
  readonly kindName = 'pipe';
  peer: PipeEnd | undefined;
  readonly inbox = new Inbox();
  closed = false;

  constructor(readonly reader: boolean, readonly capacity: number) {
    super();
  }

  readiness(): number {
    if (this.reader) {
      let m = this.inbox.bytes > 0 ? POLLIN : 0;
      if (this.peer === undefined || this.peer.closed) m |= POLLHUP;
      return m;
    }
    const r = this.peer;
    if (r === undefined || r.closed) return POLLERR;
    return r.inbox.bytes < this.capacity ? POLLOUT : 0;
  }

  /** Bytes the pipe can still take. */
  room(): number {
    const r = this.peer;
    return r === undefined || r.closed ? 0 : Math.max(0, this.capacity - r.inbox.bytes);
  }

  write(bytes: Uint8Array): number {
    const r = this.peer;
    if (r === undefined || r.closed) return -E.EPIPE;
    const n = Math.min(bytes.length, this.room());
    if (n === 0) return 0;
    r.inbox.push(Buffer.from(bytes.subarray(0, n)));
    r.feed();
    r.changed();
    return n;
  }

  feed(): void {
    const ib = this.inbox;
    while (ib.readers.length > 0 && (ib.bytes > 0 || this.peer === undefined || this.peer.closed)) {
      const w = ib.readers.shift()!;
      w.op.complete(ib.bytes > 0 ? ib.take(w.view, w.peek) : 0);
    }
    this.peer?.changed();
  }

  recv(op: Op, view: Uint8Array): void {
    if (!this.reader) return op.complete(-E.EBADF);
    const ib = this.inbox;
    if (ib.bytes > 0 || this.peer === undefined || this.peer.closed) {
      const n = ib.take(view, false);
      this.peer?.changed();
      return op.complete(n);
    }
    const w = { op, view, peek: false };
    ib.readers.push(w);
    op.detach = () => {
      const i = ib.readers.indexOf(w);
      if (i >= 0) ib.readers.splice(i, 1);
    };
  }

  close(): void {
    this.closed = true;
    for (const w of this.inbox.readers.splice(0)) w.op.complete(-E.ECANCELED);
    const pollers = [...this.pollers];
    this.pollers.clear();
    for (const p of pollers) p.fail(-E.ECANCELED);
    const peer = this.peer;
    this.peer = undefined;
    if (peer !== undefined) {
      if (peer.reader) peer.feed();
      peer.changed();
    }
  }
}

/** Virtual fd → handle. */
export class HandleTable {
  readonly #map = new Map<number, Handle>();
  #next = FD_BASE;

  add(h: Handle): number {
    while (this.#map.has(this.#next)) this.#next = this.#next >= 0x7ffffffe ? FD_BASE : this.#next + 1;
    const fd = this.#next++;
    h.fd = fd;
    if (h instanceof StreamHandle) h.table = this;
    this.#map.set(fd, h);
    return fd;
  }

  get(fd: number): Handle | undefined {
    return this.#map.get(fd);
  }

  /** Unmaps and releases; false when `fd` is not a handle of this table. */
  close(fd: number): boolean {
    const h = this.#map.get(fd);
    if (h === undefined) return false;
    this.#map.delete(fd);
    h.close();
    return true;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Open virtual fds (for leak checks). */
  list(): { fd: number; kind: string }[] {
    return [...this.#map].map(([fd, h]) => ({ fd, kind: h.kindName }));
  }

  static isVirtual(fd: number): boolean {
    return fd >= FD_BASE;
  }
}

function sysctl(name: string): number | undefined {
  try {
    const v = Number(fs.readFileSync(`/proc/sys/${name}`, 'utf8').trim().split(/\s+/)[0]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function sysctlMiddle(name: string, fallback: number): number {
  try {
    const v = Number(fs.readFileSync(`/proc/sys/${name}`, 'utf8').trim().split(/\s+/)[1]);
    return Number.isFinite(v) ? v : fallback;
  } catch {
    return fallback;
  }
}

function optKey(level: number, name: number): string {
  return `${level}:${name}`;
}

/** The options a stream socket takes, with what the kernel reports before they are set. */
const OPTION_DEFAULTS: Record<string, () => number> = {
  [optKey(SOL_SOCKET, SO_REUSEADDR)]: () => 0,
  [optKey(SOL_SOCKET, SO_REUSEPORT)]: () => 0,
  [optKey(SOL_SOCKET, SO_KEEPALIVE)]: () => 0,
  [optKey(SOL_SOCKET, SO_SNDBUF)]: () => sysctlMiddle('net/ipv4/tcp_wmem', 16384),
  [optKey(SOL_SOCKET, SO_RCVBUF)]: () => sysctlMiddle('net/ipv4/tcp_rmem', 131072),
  [optKey(IPPROTO_TCP, TCP_NODELAY)]: () => 0,
  [optKey(IPPROTO_TCP, TCP_KEEPIDLE)]: () => sysctl('net/ipv4/tcp_keepalive_time') ?? 7200,
  [optKey(IPPROTO_TCP, TCP_KEEPINTVL)]: () => sysctl('net/ipv4/tcp_keepalive_intvl') ?? 75,
  [optKey(IPPROTO_TCP, TCP_KEEPCNT)]: () => sysctl('net/ipv4/tcp_keepalive_probes') ?? 9,
  [optKey(IPPROTO_IPV6, IPV6_V6ONLY)]: () => 0,
};

function int(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** The SyscallBackend over the handle table. */
export function makeSys(table: HandleTable): SyscallBackend {
  const stream = (fd: number): StreamHandle | number => {
    const h = table.get(fd);
    if (h === undefined) return HandleTable.isVirtual(fd) ? -E.EBADF : -E.ENOTSOCK;
    return h instanceof StreamHandle ? h : -E.ENOTSOCK;
  };
  return {
    socket: (domain, type) => {
      if (!int(domain) || !int(type)) return -E.EINVAL;
      if (domain !== AF_INET && domain !== AF_INET6 && domain !== AF_UNIX) return -E.EAFNOSUPPORT;
      const t = type & SOCK_TYPE_MASK;
      if (t === SOCK_DGRAM) {
        // UDP over libuv's UDP handle; Unix datagram sockets have no Node API.
        if (domain === AF_UNIX || !DgramHandle.supported()) return -E.EPROTONOSUPPORT;
        return table.add(new DgramHandle(domain));
      }
      if (t !== SOCK_STREAM) return -E.EPROTONOSUPPORT;
      return table.add(new StreamHandle(domain));
    },
    bind: (fd, sockaddr, len) => {
      if (!ArrayBuffer.isView(sockaddr) || !int(len)) return -E.EINVAL;
      const a = decodeSockaddr(new Uint8Array(sockaddr.buffer, sockaddr.byteOffset, sockaddr.byteLength), len);
      const d = table.get(fd);
      if (d instanceof DgramHandle) {
        if (typeof a === 'number') return a;
        return a[0] !== d.domain ? -E.EINVAL : d.bind(a[1], a[2]);
      }
      const s = stream(fd);
      if (typeof s === 'number') return s;
      if (typeof a === 'number') return a;
      if (a[0] !== s.domain) return -E.EINVAL;
      if (s.bound !== undefined || s.server !== undefined) return -E.EINVAL;
      if (a[0] !== AF_UNIX) return s.bindTcp(a[1], a[2]);
      if (!a[1].startsWith('@') && fs.existsSync(a[1])) return -E.EADDRINUSE;
      s.bound = { address: a[1], port: a[2] };
      return 0;
    },
    listen: (fd, backlog) => {
      const s = stream(fd);
      return typeof s === 'number' ? s : s.listen(backlog);
    },
    setsockopt: (fd, level, name, value) => {
      const d = table.get(fd);
      if (d instanceof DgramHandle) {
        if (level === SOL_SOCKET && name === SO_REUSEADDR) d.reuseAddr = value !== 0;
        else if (level === IPPROTO_IPV6 && name === IPV6_V6ONLY) d.v6Only = value !== 0;
        else if (level === SOL_SOCKET && name === SO_REUSEPORT && value !== 0) return -E.ENOPROTOOPT;
        else if (level === SOL_SOCKET && name === SO_SNDBUF) d.sndbuf = value;
        else if (level === SOL_SOCKET && name === SO_RCVBUF) d.rcvbuf = value;
        else if (!(level === SOL_SOCKET && name === SO_REUSEPORT)) return -E.ENOPROTOOPT;
        d.applyBuffers();
        return 0;
      }
      const s = stream(fd);
      if (typeof s === 'number') return s;
      if (!int(level) || !int(name) || !int(value)) return -E.EINVAL;
      const key = optKey(level, name);
      if (!(key in OPTION_DEFAULTS)) return -E.ENOPROTOOPT;
      const on = value !== 0;
      if (level === SOL_SOCKET && name === SO_REUSEPORT) {
        // Only libuv's UV_TCP_REUSEPORT can set it (Node 22.12+); elsewhere refused.
        if (on && uvBinding<TcpBinding>('tcp_wrap')?.constants.UV_TCP_REUSEPORT === undefined) return -E.ENOPROTOOPT;
        s.opts.reusePort = on;
      }
      if (level === SOL_SOCKET && (name === SO_SNDBUF || name === SO_RCVBUF)) {
        // As Linux: the size is doubled (bookkeeping overhead), capped by the sysctl maximum.
        const max = sysctl(name === SO_SNDBUF ? 'net/core/wmem_max' : 'net/core/rmem_max') ?? value;
        if (name === SO_SNDBUF) s.opts.sndbuf = value;
        else s.opts.rcvbuf = value;
        const err = s.applyBuffers();
        if (err !== 0) return err;
        s.optValues.set(key, 2 * Math.min(value, max));
        return 0;
      }
      s.optValues.set(key, value);
      if (level === SOL_SOCKET && name === SO_KEEPALIVE) s.opts.keepAlive = on;
      else if (level === IPPROTO_TCP && name === TCP_NODELAY) s.opts.noDelay = on;
      else if (level === IPPROTO_TCP && name === TCP_KEEPIDLE) s.opts.keepIdle = value;
      else if (level === IPPROTO_IPV6 && name === IPV6_V6ONLY) s.opts.v6Only = on;
      s.applyOptions();
      return 0;
    },
    setlinger: (fd, on, seconds) => {
      const s = stream(fd);
      if (typeof s === 'number') return s;
      s.linger = on !== 0 ? seconds : -1;
      return 0;
    },
    getsockopt: (fd, level, name) => {
      if (table.get(fd) instanceof DgramHandle) {
        return level === SOL_SOCKET && name === SO_TYPE ? [SOCK_DGRAM, true] : [-E.ENOPROTOOPT, false];
      }
      const s = stream(fd);
      if (typeof s === 'number') return [s, false];
      if (level === SOL_SOCKET && name === SO_ERROR) return [s.inbox.error < 0 ? -s.inbox.error : 0, true];
      if (level === SOL_SOCKET && name === SO_TYPE) return [SOCK_STREAM, true];
      if (level === SOL_SOCKET && name === SO_LINGER) return [s.linger >= 0 ? 1 : 0, true];
      const key = optKey(level, name);
      const dflt = OPTION_DEFAULTS[key];
      if (dflt === undefined) return [-E.ENOPROTOOPT, false];
      return [s.optValues.get(key) ?? dflt(), true];
    },
    sockname: (fd, peer) => {
      const d = table.get(fd);
      if (d instanceof DgramHandle) {
        const a = peer ? d.peer : d.local;
        if (a === undefined) return -E.ENOTCONN;
        const r = encodeSockaddr(d.domain, a.address === '' ? (d.domain === AF_INET6 ? '::' : '0.0.0.0') : a.address,
          a.port, 0, 0);
        return typeof r === 'number' ? r : r.subarray(0, 128);
      }
      const s = stream(fd);
      if (typeof s === 'number') return s;
      let address: string;
      let port: number;
      if (peer) {
        if (s.sock === undefined || s.connecting !== undefined) return -E.ENOTCONN;
        if (s.domain === AF_UNIX) {
          address = s.peerPath;
          port = 0;
        } else {
          if (s.sock.remoteAddress === undefined) return -E.ENOTCONN;
          address = s.sock.remoteAddress;
          port = s.sock.remotePort ?? 0;
        }
      } else if (s.local !== undefined) {
        ({ address, port } = s.local);
      } else if (s.sock !== undefined && s.domain !== AF_UNIX && s.sock.localAddress !== undefined) {
        address = s.sock.localAddress;
        port = s.sock.localPort ?? 0;
      } else if (s.bound !== undefined) {
        ({ address, port } = s.bound);
      } else {
        address = s.domain === AF_UNIX ? '' : s.domain === AF_INET6 ? '::' : '0.0.0.0';
        port = 0;
      }
      const r = encodeSockaddr(s.domain, address.startsWith('::ffff:') && s.domain === AF_INET
        ? address.slice(7) : address, port, 0, 0);
      return typeof r === 'number' ? r : r.subarray(0, 128);
    },
    sockaddrEncode: encodeSockaddr,
    sockaddrDecode: decodeSockaddr,
    pipe: (size) => {
      const cap = int(size) && size > 0 ? Math.min(size, 1 << 20) : 65536;
      const r = new PipeEnd(true, cap);
      const w = new PipeEnd(false, cap);
      r.peer = w;
      w.peer = r;
      return [table.add(r), table.add(w)];
    },
    setAffinity: () => -E.ENOSYS,
    close: (fd) => (table.close(fd) ? 0 : -E.EBADF),
  };
}

export { StreamHandle, PipeEnd };
