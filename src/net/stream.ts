/**
 * socketStream(): a Node `stream.Duplex` over a uringkit Socket, close enough
 * to `net.Socket` that node:http (server and client), node:tls
 * (`new tls.TLSSocket(duplex)`, `tls.connect({ socket })`) and
 * `stream.pipeline` work over it.
 *
 * The stream owns the socket: do not read from or write to it directly
 * afterwards. Reading starts at the first `_read()` (a 'data' listener,
 * `read()`, `pipe()`), not at creation.
 *
 * Reading: the socket's one receive pump (receive.ts: multishot recv into
 * the ring's provided buffers, one-shot receives into big buffers while bulk
 * data flows; one-shot only with `multishot: false`). Data is received only
 * while the readable side wants it: when `push()` returns false the pump is
 * paused in the kernel (what it already received is kept and delivered
 * first), so unread data stays in the kernel's socket buffer and TCP flow
 * control slows the peer down. It resumes on the next `_read()`.
 *
 * Writing: `_write`/`_writev` complete when `Socket.write` resolves (the bytes
 * are in the kernel), so `write()` returns false past `writableHighWaterMark`
 * and 'drain' follows once the peer reads. `end()` half-closes
 * (shutdown(SHUT_WR)). `destroy(err)` shuts down and closes the socket at
 * once; 'error' (when err is given) then 'close', emitted after the fd is closed.
 *
 * `allowHalfOpen` defaults to true (the Duplex default; `net.Socket`'s is
 * false): when the peer ends its side, 'end' is emitted and the stream stays
 * writable until you call `end()`. Layers on top (node:tls, node:http) rely on
 * that: TLS may still have records to send after the peer's FIN, and an
 * automatic end() would cut them off. Pass false for net.Socket's behaviour
 * (the writable side is ended after the peer's end, once queued writes are out).
 */
import { Duplex, type DuplexOptions } from 'node:stream';

import { invalidArgType, outOfRange } from '../errors.js';
import { AF_UNIX, type SocketAddress } from './address.js';
import { openReceiver, Receiver } from './receive.js';
// Type only: socket.ts imports this module (Socket.stream()); this one never loads socket.ts.
import type { Socket } from './socket.js';

export interface SocketStreamOptions {
  /** Keep the writable side open after the peer ended its side. Default true (false: end it, as net.Socket). */
  allowHalfOpen?: boolean;
  highWaterMark?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** Destroys the stream (with an AbortError) when aborted. */
  signal?: AbortSignal;
  /** Idle timeout in ms, as `setTimeout(ms)`: 'timeout' is emitted; the stream is not closed. */
  timeout?: number;
  /**
   * Use multishot recv where the kernel supports it (default true). false:
   * one recv at a time into the stream's own buffers.
   */
  multishot?: boolean;
  /** Largest chunk of a one-shot receive, in bytes (default 256 KiB). */
  chunkSize?: number;
}
/** Writev: consecutive chunks smaller than this are coalesced into one send. */
const COALESCE = 64 * 1024;

interface AddressInfo {
  address: string;
  family: string;
  port: number;
}

function info(a: SocketAddress): AddressInfo | undefined {
  if (a.family === 'unix') return undefined;
  return { address: a.address, family: a.family === 'ipv4' ? 'IPv4' : 'IPv6', port: a.port };
}

/**
 * A `stream.Duplex` owning a uringkit Socket. Created by socketStream(); do
 * not read from or write to the Socket directly afterwards.
 */
export class SocketStream extends Duplex {
  readonly #socket: Socket;
  readonly #rx: Receiver;
  #pumping = false;
  #timeoutMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #peer: AddressInfo | undefined;
  #local: AddressInfo | undefined;
  #bytesRead = 0;
  #bytesWritten = 0;

  /** Always false: the socket is connected before it is wrapped (node:http reads this). */
  readonly connecting = false;
  readonly pending = false;

  constructor(socket: Socket, options: SocketStreamOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    if (options.multishot !== undefined && typeof options.multishot !== 'boolean') {
      throw invalidArgType('options.multishot', 'of type boolean', options.multishot);
    }
    // Takes the socket's read side (checks that it is a Socket, open, and not being read).
    const rx = openReceiver(socket, { ref: true }, { multishot: options.multishot, chunkSize: options.chunkSize });
    if (rx === undefined) throw invalidArgType('socket', 'an instance of Socket', socket);
    if (!(rx instanceof Receiver)) throw rx;
    const o: DuplexOptions = {
      allowHalfOpen: options.allowHalfOpen ?? true,
      emitClose: true,
      autoDestroy: true,
      decodeStrings: true,
    };
    if (options.highWaterMark !== undefined) o.highWaterMark = options.highWaterMark;
    if (options.readableHighWaterMark !== undefined) o.readableHighWaterMark = options.readableHighWaterMark;
    if (options.writableHighWaterMark !== undefined) o.writableHighWaterMark = options.writableHighWaterMark;
    if (options.signal !== undefined) o.signal = options.signal;
    super(o);
    this.#socket = socket;
    this.#rx = rx;
    try {
      this.#peer = info(socket.remoteAddress());
    } catch {
      // the peer may already be gone (ENOTCONN); remoteAddress stays undefined
    }
    if (options.timeout !== undefined) this.setTimeout(options.timeout);
  }

  /** The underlying uringkit Socket. */
  get uringSocket(): Socket {
    return this.#socket;
  }

  // ---- reading ---------------------------------------------------------------

  override _read(): void {
    if (!this.#pumping) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (!this.destroyed) {
        const chunk = await this.#rx.read();
        if (this.destroyed) return;
        if (chunk === null) {
          this.push(null);
          return;
        }
        this.#bytesRead += chunk.length;
        this.#timer?.refresh();
        if (!this.push(chunk)) {
          // Backpressure: stop receiving in the kernel; keep what already arrived.
          this.#rx.pause();
          return;
        }
      }
    } catch (err) {
      if (!this.destroyed) this.destroy(err as Error);
    } finally {
      this.#pumping = false;
    }
  }

  // ---- writing ---------------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#send([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], cb: (err?: Error | null) => void): void {
    const out: Buffer[] = [];
    let small: Buffer[] = [];
    let smallBytes = 0;
    const flush = (): void => {
      if (small.length === 1) out.push(small[0]!);
      else if (small.length > 1) out.push(Buffer.concat(small, smallBytes));
      small = [];
      smallBytes = 0;
    };
    for (const { chunk } of chunks) {
      if (chunk.length >= COALESCE) {
        flush();
        out.push(chunk);
      } else {
        if (smallBytes + chunk.length > COALESCE) flush();
        small.push(chunk);
        smallBytes += chunk.length;
      }
    }
    flush();
    this.#send(out, cb);
  }

  #send(bufs: Buffer[], cb: (err?: Error | null) => void): void {
    this.#timer?.refresh();
    // Socket.write queues in order; all are issued now (callback form: no
    // Promise per chunk), `cb` runs once all have settled, with the first error.
    let left = bufs.length;
    let failure: Error | null = null;
    const done = (err: Error | null, n?: number): void => {
      if (err !== null) failure ??= err;
      else this.#bytesWritten += n!;
      if (--left > 0) return;
      if (failure !== null) cb(failure);
      else {
        this.#timer?.refresh();
        cb();
      }
    };
    let i = 0;
    try {
      for (; i < bufs.length; i++) this.#socket.write(bufs[i]!, undefined, done);
    } catch (err) {
      // Nothing issued from here on: settle once the issued ones have.
      failure ??= err as Error;
      left -= bufs.length - i - 1;
      done(failure);
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#socket.closed) {
      cb();
      return;
    }
    this.#socket.shutdown('write').then(() => cb(), (err: { code?: string }) => {
      // As net.Socket: the peer already gone is not an error of end().
      cb(err.code === 'ENOTCONN' ? null : err as Error);
    });
  }

  // ---- closing ---------------------------------------------------------------

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    void this.#rx.close();
    const sock = this.#socket;
    // A clean end (both sides finished, nothing in flight) closes; anything else shuts down first.
    if (!(err === null && this.readableEnded && this.writableFinished)) sock.destroy();
    sock.close().then(() => cb(err), () => cb(err));
  }

  /** Ends the writable side, then destroys (as net.Socket#destroySoon). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  // ---- net.Socket compatibility ----------------------------------------------

  /** Emits 'timeout' after `ms` without reads or writes (0 disables), as net.Socket. */
  setTimeout(ms: number, callback?: () => void): this {
    if (typeof ms !== 'number') throw invalidArgType('msecs', 'of type number', ms);
    if (!(ms >= 0) || !Number.isFinite(ms)) throw outOfRange('msecs', 'a non-negative finite number', ms);
    if (callback !== undefined && typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#timeoutMs = ms;
    if (ms === 0) {
      if (callback) this.removeListener('timeout', callback);
      return this;
    }
    if (callback) this.once('timeout', callback);
    if (!this.destroyed) {
      // Kept after it fires: activity refresh()es it again, as net.Socket's.
      this.#timer = setTimeout(() => {
        if (!this.destroyed) this.emit('timeout');
      }, ms);
      this.#timer.unref();
    }
    return this;
  }

  /** The idle timeout set by setTimeout() (0: none). */
  get timeout(): number {
    return this.#timeoutMs;
  }

  /** TCP_NODELAY (net.Socket signature). Ignored on a closed socket and on Unix sockets. */
  setNoDelay(noDelay = true): this {
    if (!this.#socket.closed && this.#socket.family !== AF_UNIX) {
      try {
        this.#socket.setNoDelay(Boolean(noDelay));
      } catch {
        // as net.Socket: setsockopt failures are not reported
      }
    }
    return this;
  }

  /** SO_KEEPALIVE with an initial delay in ms (net.Socket signature). */
  setKeepAlive(enable = false, initialDelay = 0): this {
    if (!this.#socket.closed) {
      try {
        this.#socket.setKeepAlive(enable && initialDelay > 0 ? { idle: Math.max(1000, initialDelay) } : Boolean(enable));
      } catch {
        // as net.Socket
      }
    }
    return this;
  }

  /** Pending and future receives stop keeping the event loop alive (as net.Socket#unref). */
  unref(): this {
    this.#rx.unref();
    return this;
  }

  ref(): this {
    this.#rx.ref();
    return this;
  }

  get remoteAddress(): string | undefined {
    return this.#peer?.address;
  }

  get remotePort(): number | undefined {
    return this.#peer?.port;
  }

  get remoteFamily(): string | undefined {
    return this.#peer?.family;
  }

  #localInfo(): AddressInfo | undefined {
    if (this.#local === undefined && !this.#socket.closed) {
      try {
        this.#local = info(this.#socket.localAddress());
      } catch {
        // closed or reset
      }
    }
    return this.#local;
  }

  get localAddress(): string | undefined {
    return this.#localInfo()?.address;
  }

  get localPort(): number | undefined {
    return this.#localInfo()?.port;
  }

  get localFamily(): string | undefined {
    return this.#localInfo()?.family;
  }

  /** As net.Socket#address(): the local address, port and family ({} when unknown). */
  address(): AddressInfo | Record<string, never> {
    return this.#localInfo() ?? {};
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes the kernel accepted (writes still queued are not counted). */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** 'open', 'readOnly', 'writeOnly' or 'closed', as net.Socket. */
  get readyState(): 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  /** True if multishot receives are in use (false: one recv at a time). */
  get multishot(): boolean {
    return this.#rx.multishot;
  }
}

/** Wraps a connected uringkit Socket in a `stream.Duplex` (see SocketStream). */
export function socketStream(socket: Socket, options?: SocketStreamOptions): SocketStream {
  return new SocketStream(socket, options);
}

