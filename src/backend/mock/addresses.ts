/**
 * The mock's address table: which in-memory socket holds which (protocol,
 * family, address, port) or Unix path, with Linux's rules for conflicts
 * (SO_REUSEADDR, SO_REUSEPORT, wildcards), ephemeral ports, and lookup of
 * the socket a connection or datagram goes to (exact address first, then
 * the wildcard; round robin among SO_REUSEPORT listeners).
 */
import { E } from '../shared/errno.js';
import { AF_UNIX, canonicalIP, type SockAddr } from '../shared/sockaddr.js';
import {
  concrete, EPHEMERAL_HIGH, EPHEMERAL_LOW, isAny, SO_REUSEADDR, SO_REUSEPORT, SOL_SOCKET, type MockSocket,
} from './socket.js';

export class AddressTable {
  /** IP sockets holding a port (bound, listening or ephemeral for a connection). */
  readonly #bound = new Set<MockSocket>();
  readonly #unix = new Map<string, MockSocket>();
  readonly #nextPort = new Map<string, number>();
  readonly #rr = new Map<string, number>();

  /** Every socket holding an address (listeners among them). */
  holders(): MockSocket[] {
    return [...this.#bound, ...this.#unix.values()];
  }

  /** Whether a socket is bound to this Unix path. */
  hasUnix(path: string): boolean {
    return this.#unix.has(path);
  }

  /** Frees whatever address `s` holds (close). */
  release(s: MockSocket): void {
    if (!s.registered) return;
    this.#bound.delete(s);
    if (s.local !== undefined && s.local.family === AF_UNIX && this.#unix.get(s.local.address) === s) {
      this.#unix.delete(s.local.address);
    }
    s.registered = false;
  }

  bind(s: MockSocket, a: SockAddr): number {
    if (s.type === 'pipe') return -E.ENOTSOCK;
    if (s.state === 'closed') return -E.EBADF;
    if (s.local !== undefined) return -E.EINVAL;
    if (a.family !== s.domain) return s.domain === AF_UNIX ? -E.EINVAL : -E.EAFNOSUPPORT;
    if (a.family === AF_UNIX) {
      if (a.address === '') return -E.EINVAL;
      if (this.#unix.has(a.address)) return -E.EADDRINUSE;
      this.#unix.set(a.address, s);
      s.local = { ...a };
      s.registered = true;
      return 0;
    }
    const address = canonicalIP(a.family, a.address);
    if (address === undefined) return -E.EINVAL;
    const want: SockAddr = { ...a, address };
    if (want.port === 0) {
      const port = this.#ephemeral(s, want);
      if (port < 0) return port;
      want.port = port;
    } else if (this.conflict(s, want, false)) {
      return -E.EADDRINUSE;
    }
    s.local = want;
    s.registered = true;
    this.#bound.add(s);
    return 0;
  }

  #reuse(s: MockSocket, name: number): boolean {
    return (s.opt(SOL_SOCKET, name) ?? 0) !== 0;
  }

  /** Whether `s` may not hold `a` (bind: `listening` false; listen: true). */
  conflict(s: MockSocket, a: SockAddr, listening: boolean): boolean {
    for (const o of this.#bound) {
      if (o === s || o.proto !== s.proto || o.local === undefined) continue;
      const l = o.local;
      if (l.family !== a.family || l.port !== a.port) continue;
      if (!(l.address === a.address || isAny(l) || isAny(a))) continue;
      if (this.#reuse(s, SO_REUSEPORT) && this.#reuse(o, SO_REUSEPORT)) continue;
      if (listening ? o.state !== 'listening'
        : this.#reuse(s, SO_REUSEADDR) && this.#reuse(o, SO_REUSEADDR) && o.state !== 'listening') continue;
      return true;
    }
    return false;
  }

  #ephemeral(s: MockSocket, a: SockAddr): number {
    const key = `${s.proto}${a.family}`;
    let port = this.#nextPort.get(key) ?? EPHEMERAL_LOW;
    for (let i = 0; i <= EPHEMERAL_HIGH - EPHEMERAL_LOW; i++) {
      if (port > EPHEMERAL_HIGH) port = EPHEMERAL_LOW;
      let used = false;
      for (const o of this.#bound) {
        if (o.proto === s.proto && o.local !== undefined && o.local.family === a.family && o.local.port === port) {
          used = true;
          break;
        }
      }
      if (!used) {
        this.#nextPort.set(key, port + 1);
        return port;
      }
      port++;
    }
    return -E.EADDRINUSE;
  }

  /** A bound socket at `a` (exact address first, then the wildcard); round robin among SO_REUSEPORT peers. */
  lookup(proto: string, a: SockAddr, listening: boolean): MockSocket | undefined {
    if (a.family === AF_UNIX) {
      const s = this.#unix.get(a.address);
      if (s === undefined || s.proto !== proto) return undefined;
      if (listening && s.state !== 'listening') return undefined;
      return s;
    }
    const exact: MockSocket[] = [];
    const wild: MockSocket[] = [];
    for (const o of this.#bound) {
      const l = o.local!;
      if (o.proto !== proto || l.family !== a.family || l.port !== a.port) continue;
      if (listening && o.state !== 'listening') continue;
      if (!listening && o.type !== 'dgram') continue;
      if (l.address === a.address) exact.push(o);
      else if (isAny(l)) wild.push(o);
    }
    const list = exact.length > 0 ? exact : wild;
    if (list.length <= 1) return list[0];
    const key = `${proto}${a.family}:${a.port}`;
    const n = this.#rr.get(key) ?? 0;
    this.#rr.set(key, n + 1);
    return list[n % list.length];
  }

  /** Gives an unbound IP socket an ephemeral port on `toward`'s address (what the connection uses). */
  autobind(s: MockSocket, toward: SockAddr): number {
    if (s.domain === AF_UNIX) return 0;
    if (s.local !== undefined && !isAny(s.local)) return 0;
    const address = concrete(toward).address;
    if (s.local !== undefined) {
      s.local = { ...s.local, address };
      return 0;
    }
    const a: SockAddr = { family: s.domain, address, port: 0, flowinfo: 0, scopeId: 0 };
    const port = this.#ephemeral(s, a);
    if (port < 0) return port;
    a.port = port;
    s.local = a;
    s.registered = true;
    this.#bound.add(s);
    return 0;
  }
}
