/**
 * One in-memory socket (or pipe end) of the mock, the waiters operations
 * leave on it, and the socket-level constants the mock's network model uses.
 */
import { AF_INET6, AF_UNIX, formatAddr, type SockAddr } from '../shared/sockaddr.js';


export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOL_SOCKET = 1;
export const IPPROTO_TCP = 6;
export const SO_TYPE = 3;
export const SO_ERROR = 4;
export const SO_REUSEADDR = 2;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_REUSEPORT = 15;
export const SO_ACCEPTCONN = 30;
export const SO_DOMAIN = 39;
export const SO_LINGER = 13;
export const MSG_PEEK = 0x2;
export const MSG_DONTWAIT = 0x40;

export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLRDNORM = 0x040;
export const POLLWRNORM = 0x100;
export const POLLRDHUP = 0x2000;

/** Default SO_RCVBUF / SO_SNDBUF (Linux's defaults). */
export const DEFAULT_RCVBUF = 131072;
export const DEFAULT_SNDBUF = 16384;
export const EPHEMERAL_LOW = 30000;
export const EPHEMERAL_HIGH = 60999;

export const PENDING = Symbol('pending');

/** An operation waiting on a socket. */
export interface NetWaiter {
  /** The bytes to send or the window to receive into. */
  readonly view: Uint8Array;
  readonly flags: number;
  /** recvmsg: where the sender's sockaddr goes (>= 128 bytes). */
  readonly addrOut?: Uint8Array | undefined;
  /** sendmsg: the destination. */
  readonly dest?: SockAddr | undefined;
  readonly multishot: boolean;
  /** The operation's final result. */
  finish(res: number): void;
  /** A multishot operation's intermediate result. */
  more(res: number): void;
}

export type SockType = 'stream' | 'dgram' | 'pipe';

export interface Datagram {
  data: Buffer;
  from: SockAddr | undefined;
}

export interface ConnectWaiter {
  sock: MockSocket;
  target: SockAddr;
  w: NetWaiter;
}

/** One in-memory socket (or pipe end). */
export class MockSocket {
  fd = -1;
  state: 'idle' | 'listening' | 'connected' | 'closed' = 'idle';
  readonly opts = new Map<string, number>();
  linger: [on: number, seconds: number] = [0, 0];
  local: SockAddr | undefined;
  remote: SockAddr | undefined;
  /** Registered in the address table (explicit bind, listen or an ephemeral port). */
  registered = false;
  // listener
  readonly backlog: MockSocket[] = [];
  backlogMax = 0;
  readonly acceptWaiters: NetWaiter[] = [];
  readonly connectWaiters: ConnectWaiter[] = [];
  // stream
  peer: MockSocket | undefined;
  connecting = false;
  readonly rx: Buffer[] = [];
  rxBytes = 0;
  /** The peer will send nothing more (shutdown write or close): recv returns 0 once drained. */
  eof = false;
  /** The peer reset the connection: the next recv/send fails with ECONNRESET. */
  resetPending = false;
  rdShut = false;
  wrShut = false;
  readonly recvWaiters: NetWaiter[] = [];
  readonly sendWaiters: NetWaiter[] = [];
  // dgram
  readonly dq: Datagram[] = [];
  /** pipe: 'r' or 'w'. */
  pipeEnd: 'r' | 'w' | undefined;
  pipeSize = 65536;

  constructor(readonly domain: number, readonly type: SockType) {}

  opt(level: number, name: number): number | undefined {
    return this.opts.get(`${level}:${name}`);
  }

  get rcvbuf(): number {
    if (this.type === 'pipe') return this.pipeSize;
    return Math.max(1, this.opt(SOL_SOCKET, SO_RCVBUF) ?? DEFAULT_RCVBUF);
  }

  get proto(): string {
    return this.type === 'dgram' ? 'udp' : 'tcp';
  }

  /** 'tcp', 'udp', 'unix stream', 'unix dgram', 'pipe'. */
  get kindName(): string {
    if (this.type === 'pipe') return `pipe (${this.pipeEnd === 'r' ? 'read' : 'write'} end)`;
    if (this.domain === AF_UNIX) return `unix ${this.type}`;
    return `${this.proto}${this.domain === AF_INET6 ? '6' : ''}`;
  }

  describe(): string {
    if (this.type === 'pipe') return this.kindName;
    const parts = [this.kindName, this.state];
    if (this.local !== undefined) parts.push(formatAddr(this.local));
    if (this.remote !== undefined) parts.push(`-> ${formatAddr(this.remote)}`);
    return parts.join(' ');
  }
}

export function isAny(a: SockAddr): boolean {
  return a.family !== AF_UNIX && (a.address === '0.0.0.0' || a.address === '::');
}

export function sameAddr(a: SockAddr, b: SockAddr): boolean {
  return a.family === b.family && a.address === b.address && a.port === b.port;
}

/** Where a connection to a wildcard lands: loopback. */
export function concrete(a: SockAddr): SockAddr {
  if (a.address === '0.0.0.0') return { ...a, address: '127.0.0.1' };
  if (a.address === '::') return { ...a, address: '::1' };
  return { ...a };
}

export function remove<T>(list: T[], item: T): boolean {
  const i = list.indexOf(item);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}
