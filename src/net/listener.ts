/**
 * Listeners: TcpListener and UnixListener. bind/listen are plain syscalls
 * (they never block); accepting is on the ring, one-shot (`accept()`) or
 * multishot (`for await (const socket of listener)`, Linux 5.19+; a loop of
 * one-shot accepts before that).
 *
 * Transient accept errors (EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED) do
 * not end the loop: they are reported ('acceptError' event, or a process
 * warning when nobody listens) and accepting resumes after a short back-off.
 */
import { EventEmitter } from 'node:events';
import os from 'node:os';

import { invalidArgType, outOfRange, SystemError } from '../errors.js';
import { sysOf } from '../ops/socket.js';
import { closeOnRing } from '../ops/sync-close.js';
import type { OpOptions } from '../ops/validate.js';
import { IORING_OP } from '../ring/constants.js';
import { Ring } from '../ring/ring.js';
import { AF_UNIX, SocketAddress } from './address.js';
import {
  applyOptions, check, IPPROTO_IPV6, IPV6_V6ONLY, SOCK_STREAM, SO_REUSEADDR, SO_REUSEPORT, SOL_SOCKET, type SocketOptions,
} from './options.js';
import { Socket } from './socket.js';

export interface ListenOptions {
  host?: string;
  port?: number;
  /** Unix socket path or '@abstract' name instead of host/port. */
  path?: string;
  backlog?: number;
  /** SO_REUSEADDR; default true (as Node). */
  reuseAddr?: boolean;
  /** SO_REUSEPORT: several listeners (threads) on one port. */
  reusePort?: boolean;
  ipv6Only?: boolean;
  ring?: Ring;
  /** Options applied to every accepted socket. */
  socket?: SocketOptions;
}

const TRANSIENT = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'ECONNABORTED', 'EPROTO', 'EPERM', 'EINTR']);

export class TcpListener extends EventEmitter {
  readonly #ring: Ring;
  #fd: number;
  readonly #address: SocketAddress;
  readonly #family: number;
  readonly #socketOptions: SocketOptions | undefined;
  #iterating: AbortController | undefined;
  #unref = false;

  /** Binds and listens. `{ host = '127.0.0.1', port = 0, backlog = 511, reuseAddr = true, reusePort = false }`. */
  static override bind(options: ListenOptions = {}): TcpListener {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    const ring = options.ring ?? Ring.current();
    let addr: SocketAddress;
    if (options.path !== undefined) {
      addr = SocketAddress.unix(options.path);
    } else {
      const host = options.host ?? '127.0.0.1';
      if (typeof host !== 'string') throw invalidArgType('options.host', 'of type string', host);
      addr = new SocketAddress({ address: host === 'localhost' ? '127.0.0.1' : host, port: options.port ?? 0 });
    }
    const backlog = options.backlog ?? 511;
    if (!Number.isInteger(backlog) || backlog < 0 || backlog > 65535) throw outOfRange('options.backlog', '>= 0 && <= 65535', backlog);
    const sys = sysOf(ring);
    const fd = check(sys.socket(addr.domain, SOCK_STREAM, 0), 'socket');
    try {
      if (addr.family !== 'unix') {
        if (options.reuseAddr !== false) check(sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1), 'setsockopt');
        if (options.reusePort) check(sys.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1), 'setsockopt');
        if (addr.family === 'ipv6' && options.ipv6Only !== undefined) {
          check(sys.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, options.ipv6Only ? 1 : 0), 'setsockopt');
        }
      }
      const [sa, len] = addr.toSockaddr(sys);
      check(sys.bind(fd, sa, len), 'bind', addr);
      check(sys.listen(fd, backlog), 'listen', addr);
    } catch (err) {
      ring.closeFd(fd, { ref: false }, () => {});
      throw err;
    }
    return new TcpListener(fd, ring, addr, options.socket);
  }

  private constructor(fd: number, ring: Ring, bound: SocketAddress, socketOptions?: SocketOptions) {
    super();
    this.#fd = fd;
    this.#ring = ring;
    this.#family = bound.domain;
    this.#socketOptions = socketOptions;
    const sys = sysOf(ring);
    const name = sys.sockname(fd, false);
    this.#address = typeof name === 'number' || bound.family === 'unix' ? bound : SocketAddress.fromSockaddr(sys, name);
  }

  get fd(): number {
    return this.#fd;
  }

  /** The bound address (with the port the kernel chose for port 0). */
  address(): SocketAddress {
    return this.#address;
  }

  #wrap(fd: number): Socket {
    const s = new Socket(fd, this.#ring, this.#family);
    if (this.#socketOptions) {
      try {
        applyOptions(this.#ring, fd, this.#socketOptions, this.#family);
      } catch {
        // options are best effort on accepted sockets (e.g. a peer already gone)
      }
    }
    return s;
  }

  /** Accepts one connection. */
  async accept(options?: OpOptions): Promise<Socket> {
    if (this.#fd < 0) throw new SystemError(os.constants.errno.EBADF, 'accept');
    const fd = await this.#ring.accept(this.#fd, options);
    return this.#wrap(fd);
  }

  /**
   * Accepts connections until close() or `signal` aborts. Transient errors
   * are reported and retried; others end the iteration by throwing.
   */
  async *connections(options?: { signal?: AbortSignal }): AsyncGenerator<Socket, void, undefined> {
    const ac = new AbortController();
    this.#iterating = ac;
    const signal = options?.signal ? AbortSignal.any([options.signal, ac.signal]) : ac.signal;
    const multishot = this.#ring.supports(IORING_OP.SEND_ZC); // multishot accept: 5.19; SEND_ZC: 6.0
    try {
      while (!signal.aborted && this.#fd >= 0) {
        try {
          if (multishot) {
            const it = this.#ring.acceptMultishot(this.#fd, { signal, ref: !this.#unref });
            try {
              for await (const fd of it) yield this.#wrap(fd);
            } finally {
              await it.return();
            }
            if (signal.aborted || this.#fd < 0) return;
          } else {
            yield this.#wrap(await this.#ring.accept(this.#fd, { signal, ref: !this.#unref }));
          }
        } catch (err) {
          if (signal.aborted || this.#fd < 0) return;
          const code = (err as { code?: string }).code ?? '';
          if (!TRANSIENT.has(code)) throw err;
          if (this.listenerCount('acceptError') > 0) this.emit('acceptError', err);
          else process.emitWarning(`uringkit: accept failed (${code}); retrying`, { code: 'UK_ACCEPT_ERROR' });
          await this.#ring.sleep(code === 'EMFILE' || code === 'ENFILE' ? 50 : 5, { signal }).catch(() => {});
        }
      }
    } finally {
      if (this.#iterating === ac) this.#iterating = undefined;
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<Socket, void, undefined> {
    return this.connections();
  }

  /** The accept loop stops keeping the process alive (as net.Server#unref). */
  unref(): this {
    this.#unref = true;
    return this;
  }

  ref(): this {
    this.#unref = false;
    return this;
  }

  #closing: Promise<void> | undefined;

  /** Stops accepting and closes the listening socket. Idempotent: every call resolves when it is closed. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    const fd = this.#fd;
    this.#fd = -1;
    this.#iterating?.abort();
    this.#closing = (async () => {
      if (this.#address.family === 'unix' && !this.#address.abstract) {
        await this.#ring.unlink(this.#address.address).catch(() => {});
      }
      await this.#ring.shutdown(fd, 2).catch(() => {});
      await closeOnRing(this.#ring, fd);
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Unix-domain stream listener: `UnixListener.bind('/run/app.sock')` or '@abstract'. */
export const UnixListener = {
  bind(path: string, options: Omit<ListenOptions, 'path' | 'host' | 'port'> = {}): TcpListener {
    return TcpListener.bind({ ...options, path });
  },
};

export { AF_UNIX };
