/**
 * In-memory sockets and pipes for the mock backend.
 *
 * Every socket lives in the mock's fd table (kind 'socket' or 'pipe'), so
 * leak accounting covers them as it covers files. Addresses are in memory
 * only: bind/listen register a socket under (protocol, family, address,
 * port) or a Unix path; connect finds the listener and queues a connection
 * on its accept backlog; a connected pair moves bytes through in-memory
 * queues bounded by the receiver's SO_RCVBUF (a send larger than the free
 * space is a short send; a send into a full buffer waits for the reader).
 * Datagram sockets keep a queue of datagrams with their sender's address.
 *
 * Operations that cannot complete yet return PENDING with a waiter; the
 * waiter's finish()/more() is called later (from another operation, a
 * close, or mock.closeFd) and goes through the backend's normal completion
 * path. Simplifications (documented in docs/guides/testing-with-mock.md):
 * no dual-stack (an IPv6 wildcard listener does not take IPv4 connections),
 * any IP address may be bound, getsockopt returns what setsockopt stored
 * (no doubling of buffer sizes), a Unix path is free again once its socket
 * is closed (no file is created in mock.fs).
 */
import { AddressTable } from './addresses.js';
import { E } from '../shared/errno.js';
import { AF_INET, AF_INET6, AF_UNIX, canonicalIP, type SockAddr } from '../shared/sockaddr.js';
import {
  concrete, DEFAULT_RCVBUF, isAny, DEFAULT_SNDBUF, IPPROTO_TCP, MockSocket, MSG_DONTWAIT, MSG_PEEK, PENDING, POLLERR, POLLHUP,
  POLLIN, POLLOUT, POLLRDHUP, POLLRDNORM, POLLWRNORM, remove, sameAddr, SO_ACCEPTCONN, SO_DOMAIN, SO_ERROR, SO_LINGER,
  SO_RCVBUF, SO_SNDBUF, SO_TYPE, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, type NetWaiter,
} from './socket.js';

/** Hooks into the backend. */
export interface NetHost {
  /** Allocates an fd for a socket (accept, socket(), pipe()). */
  openFd(sock: MockSocket, origin: string): number;
  /** The socket's readiness may have changed. */
  changed(sock: MockSocket): void;
}

export class MockNet {
  readonly #addrs = new AddressTable();

  constructor(readonly host: NetHost) {}

  #touch(...socks: (MockSocket | undefined)[]): void {
    for (const s of socks) if (s !== undefined && s.fd >= 0) this.host.changed(s);
  }

  /** Poll readiness of a socket. */
  readiness(s: MockSocket): number {
    let m = 0;
    if (s.state === 'listening') return s.backlog.length > 0 ? POLLIN | POLLRDNORM : 0;
    if (s.type === 'dgram') {
      if (s.dq.length > 0 || s.rdShut) m |= POLLIN | POLLRDNORM;
      if (!s.wrShut) m |= POLLOUT | POLLWRNORM;
      return m;
    }
    if (s.state !== 'connected') return s.type === 'stream' ? POLLOUT | POLLHUP : 0;
    if (s.rxBytes > 0 || s.eof || s.rdShut || s.resetPending) m |= POLLIN | POLLRDNORM;
    if (s.eof) m |= POLLRDHUP;
    if (s.resetPending) m |= POLLERR;
    const p = s.peer;
    if (s.pipeEnd !== 'r') {
      if (p === undefined || p.state === 'closed' || s.wrShut) m |= POLLOUT | POLLWRNORM | (s.pipeEnd === 'w' ? POLLERR : 0);
      else if (p.rcvbuf - p.rxBytes > 0) m |= POLLOUT | POLLWRNORM;
    }
    if ((s.eof && (s.wrShut || s.pipeEnd !== undefined)) || s.resetPending) m |= POLLHUP;
    return m;
  }

  // ---- set-up syscalls ---------------------------------------------------------------------

  socket(domain: number, type: number): MockSocket | number {
    if (domain !== AF_INET && domain !== AF_INET6 && domain !== AF_UNIX) return -E.EAFNOSUPPORT;
    const t = type & 0xf;
    if (t !== SOCK_STREAM && t !== SOCK_DGRAM) return -E.EINVAL;
    return new MockSocket(domain, t === SOCK_STREAM ? 'stream' : 'dgram');
  }

  pipe(size: number): [MockSocket, MockSocket] {
    const r = new MockSocket(AF_UNIX, 'pipe');
    const w = new MockSocket(AF_UNIX, 'pipe');
    r.pipeEnd = 'r';
    w.pipeEnd = 'w';
    if (Number.isInteger(size) && size > 0) r.pipeSize = size;
    r.peer = w;
    w.peer = r;
    r.state = w.state = 'connected';
    r.wrShut = true;
    w.rdShut = true;
    return [r, w];
  }

  setsockopt(s: MockSocket, level: number, name: number, value: number): number {
    if (s.type === 'pipe') return -E.ENOTSOCK;
    if (level === IPPROTO_TCP && (s.domain === AF_UNIX || s.type !== 'stream')) return -E.EOPNOTSUPP;
    s.opts.set(`${level}:${name}`, value | 0);
    if (level === SOL_SOCKET && name === SO_RCVBUF) {
      this.#pumpSends(s.peer);
      this.#touch(s, s.peer);
    }
    return 0;
  }

  getsockopt(s: MockSocket, level: number, name: number): [number, boolean] {
    if (s.type === 'pipe') return [-E.ENOTSOCK, false];
    const v = s.opt(level, name);
    if (v !== undefined) return [v, true];
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO_TYPE: return [s.type === 'dgram' ? SOCK_DGRAM : SOCK_STREAM, true];
        case SO_ERROR: return [0, true];
        case SO_RCVBUF: return [DEFAULT_RCVBUF, true];
        case SO_SNDBUF: return [DEFAULT_SNDBUF, true];
        case SO_ACCEPTCONN: return [s.state === 'listening' ? 1 : 0, true];
        case SO_DOMAIN: return [s.domain, true];
        case SO_LINGER: return [s.linger[0], true];
        default: break;
      }
    }
    if (level === IPPROTO_TCP && (s.domain === AF_UNIX || s.type !== 'stream')) return [-E.EOPNOTSUPP, false];
    return [0, true];
  }

  setlinger(s: MockSocket, on: number, seconds: number): number {
    if (s.type === 'pipe') return -E.ENOTSOCK;
    s.linger = [on ? 1 : 0, seconds | 0];
    return 0;
  }

  sockname(s: MockSocket, peer: boolean): SockAddr | number {
    if (s.type === 'pipe') return -E.ENOTSOCK;
    if (peer) {
      if (s.remote === undefined || (s.type === 'stream' && s.state !== 'connected')) return -E.ENOTCONN;
      return s.remote;
    }
    if (s.local !== undefined) return s.local;
    if (s.domain === AF_UNIX) return { family: AF_UNIX, address: '', port: 0, flowinfo: 0, scopeId: 0 };
    return { family: s.domain, address: s.domain === AF_INET ? '0.0.0.0' : '::', port: 0, flowinfo: 0, scopeId: 0 };
  }

  bind(s: MockSocket, a: SockAddr): number {
    return this.#addrs.bind(s, a);
  }

  listen(s: MockSocket, backlog: number): number {
    if (s.type === 'pipe') return -E.ENOTSOCK;
    if (s.type !== 'stream') return -E.EOPNOTSUPP;
    if (s.state === 'connected') return -E.EINVAL;
    if (s.local === undefined) {
      if (s.domain === AF_UNIX) return -E.EINVAL; // Linux autobinds to an abstract name; not modelled
      const any: SockAddr = { family: s.domain, address: s.domain === AF_INET ? '0.0.0.0' : '::', port: 0, flowinfo: 0, scopeId: 0 };
      const r = this.bind(s, any);
      if (r < 0) return r;
    } else if (s.domain !== AF_UNIX && s.state !== 'listening' && this.#addrs.conflict(s, s.local, true)) {
      return -E.EADDRINUSE;
    }
    s.state = 'listening';
    s.backlogMax = Math.max(0, Math.min(backlog | 0, 65535)) + 1;
    this.#admitConnects(s);
    return 0;
  }

  // ---- ring operations -----------------------------------------------------------------------

  accept(s: MockSocket, w: NetWaiter): number | typeof PENDING {
    if (s.type !== 'stream') return s.type === 'pipe' ? -E.ENOTSOCK : -E.EOPNOTSUPP;
    if (s.state !== 'listening') return -E.EINVAL;
    if (s.acceptWaiters.length === 0) {
      if (!w.multishot) {
        const fd = this.#acceptOne(s);
        if (fd !== undefined) return fd;
      } else {
        for (let fd = this.#acceptOne(s); fd !== undefined; fd = this.#acceptOne(s)) w.more(fd);
      }
    }
    s.acceptWaiters.push(w);
    return PENDING;
  }

  #acceptOne(l: MockSocket): number | undefined {
    const c = l.backlog.shift();
    if (c === undefined) return undefined;
    const fd = this.host.openFd(c, `accept on fd ${l.fd}`);
    this.#admitConnects(l);
    this.#touch(l, c);
    return fd;
  }

  #wakeAccepts(l: MockSocket): void {
    while (l.acceptWaiters.length > 0 && l.backlog.length > 0) {
      const w = l.acceptWaiters[0]!;
      const fd = this.#acceptOne(l)!;
      if (w.multishot) w.more(fd);
      else {
        l.acceptWaiters.shift();
        w.finish(fd);
      }
    }
  }

  /** Waiting connects enter the backlog while it has room. */
  #admitConnects(l: MockSocket): void {
    while (l.state === 'listening' && l.connectWaiters.length > 0 && l.backlog.length < l.backlogMax) {
      const c = l.connectWaiters.shift()!;
      c.sock.connecting = false;
      const r = this.#establish(c.sock, l, c.target);
      c.w.finish(r);
    }
  }

  connect(s: MockSocket, target: SockAddr, w: NetWaiter): number | typeof PENDING {
    if (s.type === 'pipe') return -E.ENOTSOCK;
    if (s.state === 'closed') return -E.EBADF;
    if (target.family !== s.domain) return -E.EAFNOSUPPORT;
    let t = target;
    if (t.family !== AF_UNIX) {
      const address = canonicalIP(t.family, t.address);
      if (address === undefined) return -E.EINVAL;
      t = concrete({ ...t, address });
    }
    if (s.type === 'dgram') {
      const r = this.#addrs.autobind(s, t);
      if (r < 0) return r;
      s.remote = t;
      return 0;
    }
    if (s.state === 'connected') return -E.EISCONN;
    if (s.state === 'listening') return -E.EINVAL;
    if (s.connecting) return -E.EALREADY;
    const l = this.#addrs.lookup('tcp', t, true);
    if (l === undefined) {
      return t.family === AF_UNIX && !this.#addrs.hasUnix(t.address) ? -E.ENOENT : -E.ECONNREFUSED;
    }
    if (l.backlog.length >= l.backlogMax) {
      s.connecting = true;
      l.connectWaiters.push({ sock: s, target: t, w });
      return PENDING;
    }
    return this.#establish(s, l, t);
  }

  /** Forgets a waiter (its operation was cancelled or timed out). */
  forget(s: MockSocket, w: NetWaiter): void {
    if (remove(s.recvWaiters, w) || remove(s.sendWaiters, w) || remove(s.acceptWaiters, w)) return;
    // A connect waits on the listener's queue.
    for (const l of this.#addrs.holders()) {
      const i = l.connectWaiters.findIndex((c) => c.w === w);
      if (i >= 0) {
        l.connectWaiters.splice(i, 1);
        s.connecting = false;
        return;
      }
    }
  }

  #establish(s: MockSocket, l: MockSocket, target: SockAddr): number {
    const r = this.#addrs.autobind(s, target);
    if (r < 0) return r;
    const c = new MockSocket(s.domain, 'stream');
    for (const [k, v] of l.opts) c.opts.set(k, v);
    c.linger = [...l.linger];
    c.local = l.domain === AF_UNIX ? { ...l.local! } : { ...target, port: l.local!.port };
    c.remote = s.local !== undefined ? { ...s.local }
      : { family: AF_UNIX, address: '', port: 0, flowinfo: 0, scopeId: 0 };
    s.remote = { ...c.local };
    s.peer = c;
    c.peer = s;
    s.state = c.state = 'connected';
    l.backlog.push(c);
    this.#wakeAccepts(l);
    this.#touch(s, l);
    return 0;
  }

  /** send/write/sendmsg. `dest` only for sendmsg with an address. */
  send(s: MockSocket, w: NetWaiter): number | typeof PENDING {
    if (s.type === 'dgram') return this.#sendDgram(s, w);
    return this.#nowOrWait(s.sendWaiters, w, () => this.#trySend(s, w));
  }

  /**
   * A send or receive in arrival order: behind earlier waiters it waits;
   * otherwise `attempt()` answers now, or it waits (EAGAIN under MSG_DONTWAIT).
   */
  #nowOrWait(waiters: NetWaiter[], w: NetWaiter, attempt: () => number | undefined): number | typeof PENDING {
    if (waiters.length === 0) {
      const r = attempt();
      if (r !== undefined) return r;
      if ((w.flags & MSG_DONTWAIT) !== 0) return -E.EAGAIN;
    }
    waiters.push(w);
    return PENDING;
  }

  /** A send's result now, or undefined to wait for room. */
  #trySend(s: MockSocket, w: NetWaiter): number | undefined {
    if (s.pipeEnd === 'r') return -E.EBADF;
    if (s.state !== 'connected') return s.state === 'closed' ? -E.EBADF : -E.ENOTCONN;
    if (s.resetPending) {
      s.resetPending = false;
      this.#touch(s);
      return -E.ECONNRESET;
    }
    const p = s.peer;
    if (s.wrShut || p === undefined || p.state === 'closed') return -E.EPIPE;
    const len = w.view.length;
    if (len === 0) return 0;
    if (p.rdShut && p.type !== 'pipe') return len; // the peer's SHUT_RD: accepted and dropped
    const free = p.rcvbuf - p.rxBytes;
    if (free <= 0) return undefined;
    const n = Math.min(len, free);
    p.rx.push(Buffer.from(w.view.subarray(0, n)));
    p.rxBytes += n;
    this.#wakeRecvs(p);
    this.#touch(s, p);
    return n;
  }

  #pumpSends(s: MockSocket | undefined): void {
    if (s === undefined) return;
    while (s.sendWaiters.length > 0) {
      const w = s.sendWaiters[0]!;
      const r = this.#trySend(s, w);
      if (r === undefined) return;
      s.sendWaiters.shift();
      w.finish(r);
    }
  }

  recv(s: MockSocket, w: NetWaiter): number | typeof PENDING {
    if (s.state === 'listening') return -E.ENOTCONN;
    return this.#nowOrWait(s.recvWaiters, w,
      () => (s.type === 'dgram' ? this.#tryRecvDgram(s, w) : this.#tryRecv(s, w)));
  }

  #tryRecv(s: MockSocket, w: NetWaiter): number | undefined {
    if (s.pipeEnd === 'w') return -E.EBADF;
    if (s.state === 'closed') return -E.EBADF;
    const want = w.view.length;
    if (s.rxBytes > 0 && want > 0) {
      const peek = (w.flags & MSG_PEEK) !== 0;
      let done = 0;
      let i = 0;
      while (done < want && i < s.rx.length) {
        const chunk = s.rx[i]!;
        const n = Math.min(chunk.length, want - done);
        w.view.set(chunk.subarray(0, n), done);
        done += n;
        if (peek) i++;
        else if (n === chunk.length) s.rx.shift();
        else s.rx[0] = chunk.subarray(n);
      }
      if (!peek) {
        s.rxBytes -= done;
        this.#pumpSends(s.peer);
        this.#touch(s, s.peer);
      }
      return done;
    }
    if (s.resetPending) {
      s.resetPending = false;
      this.#touch(s);
      return -E.ECONNRESET;
    }
    if (s.rdShut || s.eof) return 0;
    if (s.state !== 'connected') return -E.ENOTCONN;
    if (want === 0) return 0;
    return undefined;
  }

  #wakeRecvs(s: MockSocket): void {
    while (s.recvWaiters.length > 0) {
      const w = s.recvWaiters[0]!;
      const r = s.type === 'dgram' ? this.#tryRecvDgram(s, w) : this.#tryRecv(s, w);
      if (r === undefined) return;
      s.recvWaiters.shift();
      w.finish(r);
    }
  }

  #sendDgram(s: MockSocket, w: NetWaiter): number {
    if (s.state === 'closed') return -E.EBADF;
    if (s.wrShut) return -E.EPIPE;
    let dest = w.dest ?? s.remote;
    if (dest === undefined) return -E.EDESTADDRREQ;
    if (dest.family !== s.domain) return -E.EAFNOSUPPORT;
    if (dest.family !== AF_UNIX) {
      const address = canonicalIP(dest.family, dest.address);
      if (address === undefined) return -E.EINVAL;
      dest = concrete({ ...dest, address });
    }
    const r = this.#addrs.autobind(s, dest);
    if (r < 0) return r;
    const len = w.view.length;
    const t = this.#addrs.lookup('udp', dest, false);
    if (t === undefined) {
      if (dest.family === AF_UNIX) return this.#addrs.hasUnix(dest.address) ? -E.ECONNREFUSED : -E.ENOENT;
      return len; // UDP: nobody bound there, the datagram is lost
    }
    let from: SockAddr | undefined = s.local;
    if (from !== undefined && isAny(from)) from = { ...from, address: dest.address };
    // A connected datagram socket only takes datagrams from its peer.
    if (t.remote !== undefined && (from === undefined || !sameAddr(t.remote, from))) return len;
    if (t.rdShut) return len;
    let queued = 0;
    for (const d of t.dq) queued += d.data.length;
    if (queued + len > t.rcvbuf) return len; // the receive buffer is full: dropped, as UDP does
    t.dq.push({ data: Buffer.from(w.view), from: from !== undefined ? { ...from } : undefined });
    this.#wakeRecvs(t);
    this.#touch(t);
    return len;
  }

  #tryRecvDgram(s: MockSocket, w: NetWaiter): number | undefined {
    if (s.state === 'closed') return -E.EBADF;
    const d = s.dq[0];
    if (d !== undefined) {
      if ((w.flags & MSG_PEEK) === 0) s.dq.shift();
      const n = Math.min(d.data.length, w.view.length);
      w.view.set(d.data.subarray(0, n));
      if (w.addrOut !== undefined) {
        w.addrOut.fill(0, 0, 128);
        const from = d.from ?? { family: AF_UNIX, address: '', port: 0, flowinfo: 0, scopeId: 0 };
        this.writeAddr(from, w.addrOut);
      }
      this.#touch(s);
      return n;
    }
    if (s.rdShut) return 0;
    return undefined;
  }

  /** Set by the backend: writes an address's sockaddr bytes into `out`. */
  writeAddr: (a: SockAddr, out: Uint8Array) => void = () => {};

  shutdown(s: MockSocket, how: number): number {
    if (s.type === 'pipe') return -E.ENOTSOCK;
    if (s.state === 'closed') return -E.EBADF;
    const rd = how === 0 || how === 2;
    const wr = how === 1 || how === 2;
    if (s.state === 'listening') {
      if (rd) this.#stopListening(s, -E.EINVAL);
      return 0;
    }
    if (s.type === 'dgram') {
      if (rd) {
        s.rdShut = true;
        this.#wakeRecvs(s);
      }
      if (wr) s.wrShut = true;
      this.#touch(s);
      return s.remote === undefined ? -E.ENOTCONN : 0;
    }
    if (s.state !== 'connected') return -E.ENOTCONN;
    if (rd && !s.rdShut) {
      s.rdShut = true;
      this.#wakeRecvs(s);
    }
    if (wr && !s.wrShut) {
      s.wrShut = true;
      for (const w of s.sendWaiters.splice(0)) w.finish(-E.EPIPE);
      const p = s.peer;
      if (p !== undefined && p.state !== 'closed') {
        p.eof = true;
        this.#wakeRecvs(p);
      }
    }
    this.#touch(s, s.peer);
    return 0;
  }

  /** A listener stops: queued connections are reset, waiting accepts end with `acceptRes`. */
  #stopListening(l: MockSocket, acceptRes: number): void {
    l.state = 'idle';
    for (const c of l.backlog.splice(0)) this.#teardown(c, true);
    for (const w of l.acceptWaiters.splice(0)) w.finish(acceptRes);
    for (const c of l.connectWaiters.splice(0)) {
      c.sock.connecting = false;
      c.w.finish(-E.ECONNREFUSED);
    }
    this.#touch(l);
  }

  /** close(2). */
  close(s: MockSocket): void {
    if (s.state === 'closed') return;
    if (s.state === 'listening') this.#stopListening(s, -E.EBADF);
    const rst = s.type === 'stream' && ((s.linger[0] !== 0 && s.linger[1] === 0) || s.rxBytes > 0);
    this.#teardown(s, rst);
  }

  #teardown(s: MockSocket, rst: boolean): void {
    const wasConnected = s.state === 'connected';
    s.state = 'closed';
    this.#addrs.release(s);
    for (const w of s.recvWaiters.splice(0)) w.finish(-E.EBADF);
    for (const w of s.sendWaiters.splice(0)) w.finish(-E.EBADF);
    for (const w of s.acceptWaiters.splice(0)) w.finish(-E.EBADF);
    if (s.connecting) {
      for (const l of this.#addrs.holders()) {
        for (const c of l.connectWaiters.filter((x) => x.sock === s)) {
          remove(l.connectWaiters, c);
          c.w.finish(-E.EBADF);
        }
      }
      s.connecting = false;
    }
    s.rx.length = 0;
    s.rxBytes = 0;
    s.dq.length = 0;
    const p = s.peer;
    if (wasConnected && p !== undefined && p.state !== 'closed') {
      if (rst) {
        p.rx.length = 0;
        p.rxBytes = 0;
        p.resetPending = true;
        p.eof = true;
      } else {
        p.eof = true;
      }
      this.#wakeRecvs(p);
      // The peer's blocked sends can never complete now.
      for (const w of p.sendWaiters.splice(0)) {
        if (p.resetPending) {
          p.resetPending = false;
          w.finish(-E.ECONNRESET);
        } else w.finish(-E.EPIPE);
      }
      this.#touch(p);
    }
  }

  /**
   * A connection reset seen by `s` (an injected ECONNRESET): `s` reads EOF
   * and its sends fail with EPIPE from now on; its peer gets ECONNRESET.
   */
  reset(s: MockSocket): void {
    if (s.type !== 'stream' || s.state !== 'connected') return;
    s.rx.length = 0;
    s.rxBytes = 0;
    s.eof = true;
    s.wrShut = true;
    this.#wakeRecvs(s);
    for (const w of s.sendWaiters.splice(0)) w.finish(-E.EPIPE);
    const p = s.peer;
    if (p !== undefined && p.state === 'connected' && !p.eof) {
      p.rx.length = 0;
      p.rxBytes = 0;
      p.resetPending = true;
      p.eof = true;
      p.wrShut = true;
      this.#wakeRecvs(p);
      for (const w of p.sendWaiters.splice(0)) {
        if (p.resetPending) {
          p.resetPending = false;
          w.finish(-E.ECONNRESET);
        } else w.finish(-E.EPIPE);
      }
    }
    this.#touch(s, p);
  }

  /** What describe()/leak reports say about a socket. */
  label(s: MockSocket): string {
    return s.describe();
  }
}
