/**
 * Socket options and the socket layer's shared error helpers: the
 * SOL_SOCKET / IPPROTO_TCP constants, SocketOptions and applyOptions() (one
 * place that turns an options object into setsockopt calls; a new socket
 * option is added here), Node-style system errors for socket syscalls, and
 * the error of an operation on a closed Socket.
 */
import os from 'node:os';

import { invalidArgType, outOfRange, SystemError } from '../errors.js';
import { sysOf } from '../ops/socket.js';
import type { Ring } from '../ring/ring.js';
import { AF_UNIX, type SocketAddress } from './address.js';

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

/**
 * Gives a SystemError of a socket syscall Node's wording for network
 * errors: `connect ECONNREFUSED 127.0.0.1:1` (syscall, code, address), with
 * `address` and `port` set. Returns `err` (changed in place when it is a
 * SystemError without an address).
 */
export function withAddress<E>(err: E, address: SocketAddress): E {
  if (err instanceof SystemError && err.address === undefined) {
    err.address = address.address;
    if (address.family !== 'unix') err.port = address.port;
    err.message = `${err.syscall} ${err.code} ${address.toString()}`;
  }
  return err;
}

/** Throws a SystemError (Node's network wording when `address` is given) for a negative errno. */
export function check(ret: number, syscall: string, address?: SocketAddress): number {
  if (ret < 0) {
    const e = new SystemError(ret, syscall);
    throw address === undefined ? e : withAddress(e, address);
  }
  return ret;
}

/**
 * The error of an operation on a Socket that was closed (close() or
 * destroy() called): code 'ERR_SOCKET_CLOSED' as Node's, with `errno`
 * (EBADF) and `syscall` of the operation that was refused.
 */
export function socketClosed(syscall: string): Error & { code: 'ERR_SOCKET_CLOSED'; errno: number; syscall: string } {
  return Object.assign(new Error(`Socket is closed (${syscall})`), {
    code: 'ERR_SOCKET_CLOSED' as const, errno: -os.constants.errno.EBADF, syscall,
  });
}

/** Applies SocketOptions to an fd (checked before the first setsockopt). */
export function applyOptions(ring: Ring, fd: number, o: SocketOptions | undefined, family: number): void {
  if (o === undefined) return;
  if (o === null || typeof o !== 'object') throw invalidArgType('options', 'of type object', o);
  const sys = sysOf(ring);
  const tcp = family !== AF_UNIX;
  if (o.noDelay !== undefined && tcp) check(sys.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, o.noDelay ? 1 : 0), 'setsockopt');
  if (o.keepAlive !== undefined) {
    const ka = o.keepAlive;
    if (ka === null) throw invalidArgType('keepAlive', 'of type boolean or object', ka);
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

/** A non-negative int32 argument. */
export function int(v: unknown, name: string): number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw outOfRange(name, '>= 0 && <= 2147483647', v);
  return v;
}

/** Seconds for TCP keep-alive, given in milliseconds as Node does. */
function secs(ms: unknown, name: string): number {
  return Math.max(1, Math.round(int(ms, name) / 1000));
}
