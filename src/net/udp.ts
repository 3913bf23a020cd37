/**
 * UdpSocket: datagrams over UDP (IPv4/IPv6) or Unix datagram sockets, with
 * addresses in and out (sendmsg/recvmsg on the ring).
 */
import os from 'node:os';

import { invalidArgType, outOfRange, SystemError } from '../errors.js';
import { sysOf, type RecvOptions, type SendOptions } from '../ops/socket.js';
import { closeOnRing } from '../ops/sync-close.js';
import type { OpOptions } from '../ops/validate.js';
import { Ring } from '../ring/ring.js';
import { SocketAddress, type AddressFamily } from './address.js';
import {
  applyOptions, check, IPPROTO_IPV6, IPV6_V6ONLY, SOCK_DGRAM, SO_REUSEADDR, SO_REUSEPORT, SOL_SOCKET,
  type SocketOptions,
} from './options.js';

export interface UdpBindOptions {
  /** Address to bind: 'host:port', '[::1]:0', a Unix path, or a SocketAddress. Default '127.0.0.1:0'. */
  address?: SocketAddress | string;
  /** Family when no address is given. */
  family?: AddressFamily;
  reuseAddr?: boolean;
  reusePort?: boolean;
  ipv6Only?: boolean;
  ring?: Ring;
  sendBuffer?: number;
  recvBuffer?: number;
}

export interface Datagram {
  data: Buffer;
  from: SocketAddress;
}

export class UdpSocket {
  readonly #ring: Ring;
  #fd: number;
  readonly #family: AddressFamily;
  #connected: SocketAddress | undefined;

  /** Creates a datagram socket bound to `options.address` (default an ephemeral 127.0.0.1 port). */
  static bind(options: UdpBindOptions = {}): UdpSocket {
    const ring = options.ring ?? Ring.current();
    const addr = options.address === undefined
      ? (options.family === 'ipv6' ? SocketAddress.ipv6('::1') : SocketAddress.ipv4('127.0.0.1'))
      : typeof options.address === 'string' ? SocketAddress.parse(options.address) : options.address;
    if (!(addr instanceof SocketAddress)) throw invalidArgType('options.address', 'a SocketAddress or string', addr);
    const sys = sysOf(ring);
    const fd = check(sys.socket(addr.domain, SOCK_DGRAM, 0), 'socket');
    try {
      if (addr.family !== 'unix') {
        if (options.reuseAddr) check(sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1), 'setsockopt');
        if (options.reusePort) check(sys.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1), 'setsockopt');
        if (addr.family === 'ipv6' && options.ipv6Only !== undefined) {
          check(sys.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, options.ipv6Only ? 1 : 0), 'setsockopt');
        }
      }
      const so: SocketOptions = {};
      if (options.sendBuffer !== undefined) so.sendBuffer = options.sendBuffer;
      if (options.recvBuffer !== undefined) so.recvBuffer = options.recvBuffer;
      applyOptions(ring, fd, so, addr.domain);
      const [sa, len] = addr.toSockaddr(sys);
      check(sys.bind(fd, sa, len), 'bind', addr);
    } catch (err) {
      ring.closeFd(fd, { ref: false }, () => {});
      throw err;
    }
    return new UdpSocket(fd, ring, addr.family);
  }

  private constructor(fd: number, ring: Ring, family: AddressFamily) {
    this.#fd = fd;
    this.#ring = ring;
    this.#family = family;
  }

  get fd(): number {
    return this.#fd;
  }

  get family(): AddressFamily {
    return this.#family;
  }

  #open(syscall: string): number {
    if (this.#fd < 0) throw new SystemError(os.constants.errno.EBADF, syscall);
    return this.#fd;
  }

  address(): SocketAddress {
    const sys = sysOf(this.#ring);
    const r = sys.sockname(this.#open('getsockname'), false);
    if (typeof r === 'number') throw new SystemError(r, 'getsockname');
    return SocketAddress.fromSockaddr(sys, r);
  }

  /** Fixes the default destination (connect(2) on a datagram socket). */
  async connect(to: SocketAddress | string, options?: OpOptions): Promise<void> {
    const addr = typeof to === 'string' ? SocketAddress.parse(to) : to;
    if (!(addr instanceof SocketAddress)) throw invalidArgType('to', 'a SocketAddress or string', to);
    const [sa, len] = addr.toSockaddr(sysOf(this.#ring));
    await this.#ring.connect(this.#open('connect'), sa, len, options);
    this.#connected = addr;
  }

  /** Sends one datagram to `to` (or to the connected peer when omitted). Resolves with the bytes sent. */
  send(data: ArrayBufferView | string, to?: SocketAddress | string, options?: SendOptions): Promise<number> {
    const view = typeof data === 'string' ? Buffer.from(data) : data;
    const fd = this.#open('sendmsg');
    if (to === undefined) {
      if (this.#connected === undefined) throw invalidArgType('to', 'a SocketAddress (the socket is not connected)', to);
      return this.#ring.sendmsg(fd, view, null, 0, options);
    }
    const addr = typeof to === 'string' ? SocketAddress.parse(to) : to;
    if (!(addr instanceof SocketAddress)) throw invalidArgType('to', 'a SocketAddress or string', to);
    const [sa, len] = addr.toSockaddr(sysOf(this.#ring));
    return this.#ring.sendmsg(fd, view, sa, len, options);
  }

  /** Receives one datagram (up to `maxSize` bytes, default 64 KiB) with its sender's address. */
  async receive(maxSize = 65536, options?: RecvOptions): Promise<Datagram> {
    if (typeof maxSize !== 'number') throw invalidArgType('maxSize', 'of type number', maxSize);
    if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > 0x7ffff000) {
      throw outOfRange('maxSize', 'an integer >= 1 && <= 2147479552', maxSize);
    }
    const buf = Buffer.allocUnsafe(maxSize);
    const from = Buffer.alloc(132);
    const n = await this.#ring.recvmsg(this.#open('recvmsg'), buf, from, options);
    if (this.#fd < 0) {
      // close() shut the socket down under this receive: no datagram arrived.
      throw Object.assign(new Error('the socket was closed'), { code: 'ERR_SOCKET_CLOSED' });
    }
    const sys = sysOf(this.#ring);
    let addr: SocketAddress;
    try {
      addr = SocketAddress.fromSockaddr(sys, from);
    } catch {
      addr = Object.assign(Object.create(SocketAddress.prototype) as SocketAddress,
        { family: this.#family, address: '', port: 0, flowlabel: 0, scopeId: 0 });
    }
    return { data: buf.subarray(0, n), from: addr };
  }

  /** Yields datagrams until close() or `signal`. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Datagram, void, undefined> {
    while (this.#fd >= 0) {
      try {
        yield await this.receive();
      } catch (err) {
        if (this.#fd < 0) return;
        throw err;
      }
    }
  }

  async close(): Promise<void> {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    await this.#ring.shutdown(fd, 2).catch(() => {});
    await closeOnRing(this.#ring, fd);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
