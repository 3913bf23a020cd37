/**
 * uringkit serve: a static file server over HTTP/1.1 on the ring.
 *
 * One connection is a small callback-driven state machine (no Promise per
 * request on the hot path): one recv into a per-connection buffer, requests
 * parsed out of it (pipelining included), responses queued and sent with one
 * send per batch, the next recv armed in the same submission. A small file's
 * whole response (head and body) is one pre-built Buffer per Date second;
 * bigger bodies go out with sendFile (splice, zero-copy) after the head.
 *
 * Time comes from a coarse clock ticked by one ring timeout (IORING_OP_TIMEOUT,
 * unref'd) that also sweeps the connections for header, keep-alive, linger
 * and send timeouts: no JS timer per request or connection.
 */
import { pino, type Logger } from 'pino';

import { sendFile } from '../net/sendfile.js';
import { TcpListener } from '../net/listener.js';
import type { Socket } from '../net/socket.js';
import { Ring } from '../ring/ring.js';
import { FileCache, readSmall, Resolver, sameFile, type FileEntry, type Target } from './files.js';
import {
  Clock, connectionHeader, errorResponse, etagMatches, head, headEnd, parseHttpDate, parseRange, parseRequest,
  type Request,
} from './http.js';
import { renderListing } from './listing.js';

export interface ServeOptions {
  /** Directory to serve. Default: the current directory. */
  root?: string;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** SO_REUSEPORT (several servers, e.g. worker threads, on one port). */
  reusePort?: boolean;
  /** Default Ring.current(). */
  ring?: Ring;
  /** Access log: true (pino to stdout), a pino-compatible logger, or false (default). */
  log?: boolean | AccessLogger;
  /** Total bytes of small files kept in memory. Default 64 MiB; 0 disables the cache. */
  cacheBytes?: number;
  /**
   * Bodies above this many bytes are sent with sendFile (splice); at or
   * below it they are cached (or read) and sent from memory. Default 64 KiB.
   */
  sendFileThreshold?: number;
  /** How long a cached lookup (path → file, stat) is trusted before the file system is asked again. Default 1000 ms; 0: every request. */
  cacheTtlMs?: number;
  /** Request head size limit: beyond it, 431. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Time to receive a whole request head once it started. Default 10 s. */
  headerTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this. Default 5 s. */
  keepAliveTimeoutMs?: number;
  /** A response that makes no progress for this long is abandoned (connection closed). Default 60 s. */
  sendTimeoutMs?: number;
  /** HTML listing of directories without index.html. Default true (else 404). */
  listing?: boolean;
}

/** What the access log needs of a logger (pino's `info(obj, msg)`). */
export interface AccessLogger {
  info(obj: object, msg?: string): void;
  flush?(cb?: (err?: Error) => void): void;
}

export interface ServerStats {
  connections: number;
  accepted: number;
  requests: number;
  cacheEntries: number;
  cacheBytes: number;
  cacheHits: number;
  cacheMisses: number;
  sendFiles: number;
}

const MSG_MORE = 0x8000;
const SHUT_WR = 1;
const INITIAL_BUFFER = 4096;
/** Output queued beyond this stops the parsing of pipelined requests until it drains. */
const OUT_HIGH_WATER = 1 << 20;
/** After a response with Connection: close, unread input is drained this long before the close (no RST). */
const LINGER_MS = 2000;

type Sync = void | Promise<void>;

class Connection {
  readonly srv: StaticServer;
  readonly sock: Socket;
  readonly fd: number;
  readonly ring: Ring;
  buf: Buffer = Buffer.allocUnsafe(INITIAL_BUFFER);
  start = 0;
  end = 0;
  /** Request-body bytes still to discard. */
  skip = 0;
  reading = false;
  sending = false;
  /** An asynchronous response is being produced; parsing waits for it. */
  busy = false;
  /** The peer shut down its side (recv returned 0). */
  eof = false;
  /** Close once the queued output is out (Connection: close, an error, shutdown). */
  closeAfter = false;
  lingering = false;
  dead = false;
  /**
   * A sendFile is in flight: its splices use the fd number, so the fd must
   * not be closed (and reused) under it; destroy() only shuts the socket
   * down then, and the transfer's end closes it.
   */
  transferring = false;
  readonly out: Buffer[] = [];
  outBytes = 0;
  sendBuf: Buffer | undefined;
  sendOff = 0;
  /** Coarse-clock ms after which the sweeper acts (0: none). */
  deadline = 0;
  /** When the current request head began arriving (0: none pending). */
  headStart = 0;
  progressAt = 0;
  remote: string | undefined;
  drainWaiters: (() => void)[] | undefined;
  readonly recvOpts = { offset: 0, length: 0 };
  readonly sendOpts = { offset: 0, length: 0 };

  constructor(srv: StaticServer, sock: Socket) {
    this.srv = srv;
    this.sock = sock;
    this.fd = sock.fd;
    this.ring = sock.ring;
  }

  // ---- input ---------------------------------------------------------------

  arm(): void {
    if (this.reading || this.dead || this.eof) return;
    if (this.start === this.end) {
      this.start = this.end = 0;
    } else if (this.buf.length - this.end < 1024 && this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.end === this.buf.length) {
      const cap = this.srv.maxHeaderBytes + 4096;
      if (this.buf.length >= cap) return; // full of pipelined requests: resumes when they are answered
      const bigger = Buffer.allocUnsafe(Math.min(cap, this.buf.length * 2));
      this.buf.copy(bigger, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
      this.buf = bigger;
    }
    this.reading = true;
    this.recvOpts.offset = this.end;
    this.recvOpts.length = this.buf.length - this.end;
    this.ring.recv(this.fd, this.buf, this.recvOpts, this.onRecv);
  }

  readonly onRecv = (err: Error | null, n?: number): void => {
    this.reading = false;
    if (this.dead) return;
    if (err !== null) return this.destroy();
    if (n === 0) {
      this.eof = true;
      if (this.lingering || (!this.busy && !this.sending && this.start === this.end)) return this.destroy();
    } else if (this.lingering) {
      this.start = this.end = 0; // discarded
      this.arm();
      return;
    } else {
      this.end += n!;
    }
    this.pump();
  };

  /** Answers every complete request in the buffer (in order), then sends and re-arms. */
  pump(): void {
    const srv = this.srv;
    while (!this.busy && !this.closeAfter && !this.dead && this.outBytes < OUT_HIGH_WATER) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.end - this.start);
        this.skip -= n;
        this.start += n;
        if (this.skip > 0) break;
      }
      if (this.start === this.end) break;
      const he = headEnd(this.buf, this.start, this.end);
      if (he < 0) {
        if (this.end - this.start > srv.maxHeaderBytes) this.fail(431);
        else if (this.eof) this.fail(400);
        else if (this.headStart === 0) this.headStart = srv.clock.now;
        break;
      }
      if (he - this.start > srv.maxHeaderBytes) {
        this.fail(431);
        break;
      }
      const req = parseRequest(this.buf, this.start, he);
      if (typeof req === 'number') {
        this.fail(req);
        break;
      }
      this.start = he;
      this.headStart = 0;
      this.skip = req.contentLength;
      const p = srv.handle(this, req);
      if (p !== undefined) {
        this.busy = true;
        srv.track(p.then(this.onAsyncDone, this.onAsyncError));
        break;
      }
    }
    this.flush();
    if (this.dead) return;
    if (this.closeAfter) {
      if (!this.busy && !this.sending) this.beginClose();
      return;
    }
    // The peer is gone and everything is answered (e.g. after a sendFile, which queues nothing here).
    if (this.eof && !this.busy && !this.sending && this.start === this.end) return this.destroy();
    if (this.outBytes < OUT_HIGH_WATER) this.arm();
    this.setDeadline();
  }

  readonly onAsyncDone = (): void => {
    this.busy = false;
    if (!this.dead) this.pump();
  };

  readonly onAsyncError = (err: unknown): void => {
    this.busy = false;
    this.srv.onError(err);
    this.destroy();
  };

  setDeadline(): void {
    const srv = this.srv;
    if (this.busy || this.sending) this.deadline = 0;
    else if (this.headStart !== 0) this.deadline = this.headStart + srv.headerTimeoutMs;
    else this.deadline = srv.clock.now + srv.keepAliveTimeoutMs;
  }

  /** Refuses the request (and the connection) with a small error response. */
  fail(status: number): void {
    this.srv.countRequest();
    this.queue(errorResponse(status, this.srv.clock.date, 'Connection: close\r\n'));
    this.closeAfter = true;
    this.srv.logLine(this, undefined, status, 0);
  }

  // ---- output ----------------------------------------------------------------

  queue(b: Buffer): void {
    this.out.push(b);
    this.outBytes += b.length;
  }

  flush(): void {
    if (this.sending || this.out.length === 0 || this.dead) return;
    const out = this.out;
    const data = out.length === 1 ? out[0]! : Buffer.concat(out);
    out.length = 0;
    this.sending = true;
    this.progressAt = this.srv.clock.now;
    this.sendBuf = data;
    this.sendOff = 0;
    this.ring.send(this.fd, data, undefined, this.onSent);
  }

  readonly onSent = (err: Error | null, n?: number): void => {
    if (this.dead) return;
    if (err !== null) return this.destroy();
    const data = this.sendBuf!;
    this.sendOff += n!;
    this.outBytes -= n!;
    this.progressAt = this.srv.clock.now;
    if (this.sendOff < data.length) {
      this.sendOpts.offset = this.sendOff;
      this.sendOpts.length = data.length - this.sendOff;
      this.ring.send(this.fd, data, this.sendOpts, this.onSent);
      return;
    }
    this.sending = false;
    this.sendBuf = undefined;
    if (this.out.length > 0) return this.flush();
    const w = this.drainWaiters;
    if (w !== undefined) {
      this.drainWaiters = undefined;
      for (const f of w) f();
    }
    if (this.busy) return;
    if (this.closeAfter) return this.beginClose();
    if (this.eof && this.start === this.end) return this.destroy();
    if (!this.reading || this.start !== this.end) this.pump();
    else this.setDeadline();
  };

  /** Resolves when everything queued so far is sent. */
  drained(): Promise<void> {
    this.flush();
    if (!this.sending && this.out.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => (this.drainWaiters ??= []).push(resolve));
  }

  // ---- closing ----------------------------------------------------------------

  /** After the last response: half-close (FIN after the data), drain input until EOF or LINGER_MS, then close. */
  beginClose(): void {
    if (this.dead || this.lingering) return;
    if (this.eof) return this.destroy();
    this.lingering = true;
    this.deadline = this.srv.clock.now + LINGER_MS;
    this.ring.shutdown(this.fd, SHUT_WR, undefined, (err) => {
      if (err !== null) return this.destroy();
      this.start = this.end = this.reading ? this.end : 0;
      this.arm();
    });
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.deadline = 0;
    if (this.transferring) this.ring.shutdown(this.fd, 2, undefined, () => {}); // fails the splices; closed after
    else this.release();
    const w = this.drainWaiters;
    this.drainWaiters = undefined;
    if (w !== undefined) for (const f of w) f();
    this.srv.removeConnection(this);
  }

  /** Closes the socket (shutdown + close on the ring). */
  release(): void {
    this.sock.destroy();
    this.srv.track(this.sock.close());
  }

  /** Sweeper: act on an expired deadline. */
  expire(now: number): void {
    if (this.dead) return;
    if (this.sending) {
      // No progress on our own sends for too long (sendFile bounds its own steps).
      if (this.srv.sendTimeoutMs > 0 && now - this.progressAt > this.srv.sendTimeoutMs) this.destroy();
      return;
    }
    if (this.busy) return;
    if (this.deadline === 0 || now < this.deadline) return;
    if (this.lingering || this.start === this.end) return this.destroy(); // linger over, or idle keep-alive
    // A request head that did not arrive in time.
    this.queue(errorResponse(408, this.srv.clock.date, 'Connection: close\r\n'));
    this.closeAfter = true;
    this.start = this.end = this.reading ? this.end : 0;
    this.flush();
    if (!this.sending) this.beginClose();
  }

  /** Graceful shutdown: idle connections close now, busy ones after their current response. */
  shutdown(): void {
    if (this.dead) return;
    if (this.busy || this.sending) this.closeAfter = true;
    else this.destroy();
  }
}

/** A running static file server. */
export class StaticServer {
  readonly ring: Ring;
  readonly listener: TcpListener;
  readonly resolver: Resolver;
  readonly cache: FileCache;
  readonly clock = new Clock();
  readonly maxHeaderBytes: number;
  readonly headerTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly sendTimeoutMs: number;
  readonly sendFileThreshold: number;
  readonly cacheTtlMs: number;
  readonly log: AccessLogger | undefined;
  readonly #conns = new Set<Connection>();
  readonly #pending = new Map<string, Promise<Target>>();
  /** Asynchronous work close() waits for: responses in progress, socket closes. */
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #tickAbort = new AbortController();
  readonly #tickPeriod: number;
  #closing: Promise<void> | undefined;
  #draining = false;
  #idleWaiters: (() => void)[] = [];
  readonly #acceptLoop: Promise<void>;
  readonly #errors: unknown[] = [];
  readonly #stats = { accepted: 0, requests: 0, cacheHits: 0, cacheMisses: 0, sendFiles: 0 };

  /** Binds and starts serving. */
  static start(options: ServeOptions = {}): StaticServer {
    return new StaticServer(options);
  }

  private constructor(o: ServeOptions) {
    this.ring = o.ring ?? Ring.current();
    this.resolver = new Resolver(o.root ?? process.cwd(), this.ring, o.listing !== false);
    this.cache = new FileCache(o.cacheBytes ?? 64 * 1024 * 1024);
    this.maxHeaderBytes = o.maxHeaderBytes ?? 16 * 1024;
    this.headerTimeoutMs = o.headerTimeoutMs ?? 10_000;
    this.keepAliveTimeoutMs = o.keepAliveTimeoutMs ?? 5_000;
    this.sendTimeoutMs = o.sendTimeoutMs ?? 60_000;
    this.sendFileThreshold = o.sendFileThreshold ?? 64 * 1024;
    this.cacheTtlMs = o.cacheTtlMs ?? 1000;
    this.log = o.log === true ? pino({ base: undefined }) : o.log === false ? undefined : o.log;
    this.listener = TcpListener.bind({
      host: o.host ?? '127.0.0.1', port: o.port ?? 8080, reusePort: o.reusePort, ring: this.ring,
      socket: { noDelay: true },
    });
    const shortest = Math.min(this.headerTimeoutMs, this.keepAliveTimeoutMs, LINGER_MS);
    this.#tickPeriod = Math.max(20, Math.min(1000, Math.floor(shortest / 4)));
    this.#tick();
    this.#acceptLoop = this.#accept();
  }

  get port(): number {
    return this.listener.address().port;
  }

  get host(): string {
    return this.listener.address().address;
  }

  get url(): string {
    const h = this.host;
    return `http://${h.includes(':') ? `[${h}]` : h}:${this.port}/`;
  }

  get root(): string {
    return this.resolver.root;
  }

  /** Errors that ended a connection unexpectedly (not client misbehaviour), for diagnostics. */
  get errors(): readonly unknown[] {
    return this.#errors;
  }

  stats(): ServerStats {
    return {
      connections: this.#conns.size, ...this.#stats, cacheEntries: this.cache.size, cacheBytes: this.cache.bytes,
    };
  }

  async #accept(): Promise<void> {
    try {
      for await (const s of this.listener) {
        if (this.#draining) {
          s.destroy();
          continue;
        }
        this.#stats.accepted++;
        const c = new Connection(this, s);
        this.#conns.add(c);
        if (this.log !== undefined) {
          try {
            c.remote = s.remoteAddress().toString();
          } catch {
            /* the peer is already gone */
          }
        }
        c.progressAt = this.clock.now;
        c.pump();
      }
    } catch (err) {
      if (!this.#draining) this.onError(err);
    }
  }

  /** The clock and the sweeper: one unref'd ring timeout at a time, aligned to the period. */
  #tick = (err?: Error | null): void => {
    const signal = this.#tickAbort.signal;
    if (signal.aborted || (err !== undefined && err !== null)) return;
    const clock = this.clock;
    clock.update();
    const now = clock.now;
    for (const c of this.#conns) if (c.deadline !== 0 || c.sending || c.busy) c.expire(now);
    const p = this.#tickPeriod;
    this.ring.sleep(p - (now % p) + 1, { ref: false, signal }, this.#tick);
  };

  onError(err: unknown): void {
    if (this.#errors.length < 100) this.#errors.push(err);
  }

  track(p: Promise<unknown>): void {
    const t = p.catch(() => {}).finally(() => this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  countRequest(): void {
    this.#stats.requests++;
  }

  removeConnection(c: Connection): void {
    this.#conns.delete(c);
    if (this.#conns.size === 0 && this.#idleWaiters.length > 0) for (const f of this.#idleWaiters.splice(0)) f();
  }

  logLine(c: Connection, req: Request | undefined, status: number, bytes: number): void {
    const log = this.log;
    if (log === undefined) return;
    log.info({
      remote: c.remote, method: req?.method, url: req === undefined ? undefined : req.path + req.query,
      http: req === undefined ? undefined : `1.${req.minor}`, status, bytes,
    }, 'request');
  }

  // ---- requests ----------------------------------------------------------------

  /** Answers one request: synchronously (queued on the connection) or with a Promise. */
  handle(c: Connection, req: Request): Sync {
    this.#stats.requests++;
    const method = req.method;
    const isHead = method === 'HEAD';
    if (method !== 'GET' && !isHead) {
      c.closeAfter = true; // its body (if any) is not read
      c.queue(errorResponse(405, this.clock.date, 'Connection: close\r\n', 'Allow: GET, HEAD\r\n'));
      this.logLine(c, req, 405, 0);
      return;
    }
    if (req.transferEncoding) {
      c.closeAfter = true;
      c.queue(errorResponse(400, this.clock.date, 'Connection: close\r\n', '', isHead));
      this.logLine(c, req, 400, 0);
      return;
    }
    if (!req.keepAlive || this.#draining) c.closeAfter = true;
    const e = this.cache.get(req.path);
    if (e !== undefined && e.validUntil > this.clock.now) {
      this.#stats.cacheHits++;
      return this.#sendEntry(c, req, e, isHead);
    }
    this.#stats.cacheMisses++;
    return this.#slow(c, req, isHead);
  }

  #conn(c: Connection, req: Request): string {
    return connectionHeader(req.minor, !c.closeAfter);
  }

  async #slow(c: Connection, req: Request, isHead: boolean): Promise<void> {
    const t = await this.#lookup(req.path, req.query);
    if (c.dead) return;
    switch (t.kind) {
      case 'file':
        return this.#sendEntry(c, req, t.entry, isHead);
      case 'redirect': {
        const loc = t.location.replace(/[^\x21-\x7e]/g, encodeURIComponent);
        c.queue(errorResponse(301, this.clock.date, this.#conn(c, req), `Location: ${loc}\r\n`, isHead));
        this.logLine(c, req, 301, 0);
        return;
      }
      case 'listing': {
        let html: string;
        try {
          html = await renderListing(this.ring, t.dir, t.urlPath, (real) => this.resolver.contains(real));
        } catch {
          c.queue(errorResponse(404, this.clock.date, this.#conn(c, req), '', isHead));
          this.logLine(c, req, 404, 0);
          return;
        }
        if (c.dead) return;
        const body = Buffer.from(html, 'utf8');
        const h = head(200, this.clock.date, 'Content-Type: text/html; charset=utf-8\r\n' +
          `Content-Length: ${body.length}\r\nCache-Control: no-cache\r\n${this.#conn(c, req)}`);
        c.queue(isHead ? Buffer.from(h, 'latin1') : Buffer.concat([Buffer.from(h, 'latin1'), body]));
        this.logLine(c, req, 200, isHead ? 0 : body.length);
        return;
      }
      case 'error':
        if (t.status === 400) c.closeAfter = true;
        c.queue(errorResponse(t.status, this.clock.date, this.#conn(c, req), '', isHead));
        this.logLine(c, req, t.status, 0);
    }
  }

  /** Resolves a raw path to a target, reusing (and revalidating) cached entries; one lookup per path at a time. */
  #lookup(raw: string, query: string): Promise<Target> {
    let p = this.#pending.get(raw);
    if (p === undefined) {
      p = this.#resolve(raw, query).finally(() => this.#pending.delete(raw));
      this.#pending.set(raw, p);
    }
    return p;
  }

  async #resolve(raw: string, query: string): Promise<Target> {
    const t = await this.resolver.resolve(raw, query);
    const old = this.cache.get(raw);
    if (t.kind !== 'file') {
      if (old !== undefined) this.cache.delete(raw);
      return t;
    }
    const validUntil = this.clock.now + this.cacheTtlMs;
    if (old !== undefined && sameFile(old, t.entry.realPath, t.entry)) {
      old.validUntil = validUntil;
      this.cache.touch(old);
      return { kind: 'file', entry: old };
    }
    // A new entry: its metadata is cached in any case, its bytes when small enough and they fit.
    const e = t.entry;
    if (e.size <= this.sendFileThreshold && this.cache.fits(e.size)) {
      try {
        e.body = await readSmall(this.ring, e.realPath, e.size); // undefined: it changed while read
      } catch {
        if (old !== undefined) this.cache.delete(raw);
        return { kind: 'error', status: 404 };
      }
    }
    e.validUntil = e.body !== undefined || e.size > this.sendFileThreshold || !this.cache.fits(e.size) ? validUntil : 0;
    this.cache.set(e);
    return t;
  }

  /** Conditional requests, ranges, then the body from the cache, a read, or sendFile. */
  #sendEntry(c: Connection, req: Request, e: FileEntry, isHead: boolean): Sync {
    const date = this.clock.date;
    // 304: If-None-Match wins over If-Modified-Since.
    if (req.ifNoneMatch !== undefined ? etagMatches(req.ifNoneMatch, e.etag)
      : req.ifModifiedSince !== undefined && e.lastModifiedMs <= parseHttpDate(req.ifModifiedSince)) {
      c.queue(Buffer.from(head(304, date, `Last-Modified: ${e.lastModified}\r\nETag: ${e.etag}\r\n${this.#conn(c, req)}`),
        'latin1'));
      this.logLine(c, req, 304, 0);
      return;
    }
    let start = 0;
    let len = e.size;
    let status = 200;
    if (req.range !== undefined && (req.ifRange === undefined || this.#ifRangeOk(req.ifRange, e))) {
      const r = parseRange(req.range, e.size);
      if (r === 'unsatisfiable') {
        c.queue(errorResponse(416, date, this.#conn(c, req), `Content-Range: bytes */${e.size}\r\n`, isHead));
        this.logLine(c, req, 416, 0);
        return;
      }
      if (r !== 'none') {
        status = 206;
        start = r.start;
        len = r.end - r.start + 1;
      }
    }
    const body = e.body;
    if (status === 200 && body !== undefined && req.minor === 1 && !c.closeAfter) {
      // The hot path: one pre-built Buffer for head + body.
      let resp = e.resp;
      if (resp === undefined || e.respSecond !== this.clock.second) resp = this.#rebuild(e, body);
      c.queue(isHead ? resp.subarray(0, e.headLen) : resp);
      this.logLine(c, req, 200, isHead ? 0 : e.size);
      return;
    }
    const lines = `${e.fixed}Content-Length: ${len}\r\n` +
      (status === 206 ? `Content-Range: bytes ${start}-${start + len - 1}/${e.size}\r\n` : '') + this.#conn(c, req);
    const h = Buffer.from(head(status, date, lines), 'latin1');
    if (isHead || len === 0) {
      c.queue(h);
      this.logLine(c, req, status, 0);
      return;
    }
    if (body !== undefined) {
      c.queue(Buffer.concat([h, body.subarray(start, start + len)]));
      this.logLine(c, req, status, len);
      return;
    }
    if (e.size > this.sendFileThreshold) return this.#sendFileBody(c, req, e, h, status, start, len);
    return this.#readBody(c, req, e, h, status, start, len);
  }

  #ifRangeOk(v: string, e: FileEntry): boolean {
    if (v.startsWith('W/')) return false;
    if (v.startsWith('"')) return v === e.etag;
    return parseHttpDate(v) === e.lastModifiedMs;
  }

  #rebuild(e: FileEntry, body: Buffer): Buffer {
    const h = head(200, this.clock.date, `${e.fixed}Content-Length: ${e.size}\r\n`);
    const resp = Buffer.allocUnsafe(h.length + body.length);
    resp.write(h, 0, 'latin1');
    body.copy(resp, h.length);
    e.resp = resp;
    e.headLen = h.length;
    e.respSecond = this.clock.second;
    e.body = resp.subarray(h.length);
    return resp;
  }

  /** A small file not in the cache: read it (one ring read), then head + body in one send. */
  async #readBody(c: Connection, req: Request, e: FileEntry, h: Buffer, status: number, start: number, len: number):
    Promise<void> {
    let body: Buffer | undefined;
    try {
      body = await readSmall(this.ring, e.realPath, e.size);
    } catch {
      body = undefined;
    }
    if (c.dead) return;
    if (body === undefined) {
      // Gone or changed under us: forget it; the client can retry.
      this.cache.delete(e.key);
      c.closeAfter = true;
      c.queue(errorResponse(404, this.clock.date, 'Connection: close\r\n'));
      this.logLine(c, req, 404, 0);
      return;
    }
    c.queue(Buffer.concat([h, body.subarray(start, start + len)]));
    this.logLine(c, req, status, len);
  }

  /** A big body: the head (MSG_MORE, so it leaves with the first bytes), then sendFile. */
  async #sendFileBody(c: Connection, req: Request, e: FileEntry, h: Buffer, status: number, start: number,
    len: number): Promise<void> {
    let fd: number;
    try {
      fd = await this.ring.open(e.realPath, 'r');
    } catch {
      this.cache.delete(e.key);
      if (c.dead) return;
      c.queue(errorResponse(404, this.clock.date, this.#conn(c, req)));
      this.logLine(c, req, 404, 0);
      return;
    }
    try {
      await c.drained();
      if (c.dead) return;
      c.transferring = true;
      this.#stats.sendFiles++;
      await c.sock.write(h, { flags: MSG_MORE });
      c.progressAt = this.clock.now;
      const timeout = this.sendTimeoutMs > 0 ? this.sendTimeoutMs : undefined;
      const sent = await sendFile(c.sock, fd, start, len, { timeout });
      c.progressAt = this.clock.now;
      this.logLine(c, req, status, sent);
      if (sent !== len) c.destroy(); // the file shrank: the framing is broken, end the connection
    } catch (err) {
      if (!c.dead) c.destroy();
      const code = (err as { code?: string }).code;
      if (code !== 'EPIPE' && code !== 'ECONNRESET' && code !== 'EBADF' && code !== 'ECANCELED') this.onError(err);
    } finally {
      if (c.transferring) {
        c.transferring = false;
        if (c.dead) c.release();
      }
      await this.ring.closeFd(fd).catch(() => {});
    }
  }

  // ---- shutdown -----------------------------------------------------------------------

  /**
   * Graceful shutdown: stops accepting, closes idle connections, lets
   * responses in progress finish (then closes those connections), and
   * resolves when every connection is closed. After `timeoutMs` (default
   * 30 s) the remaining connections are destroyed.
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#close(options.timeoutMs ?? 30_000);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#draining = true;
    await this.listener.close();
    await this.#acceptLoop;
    for (const c of [...this.#conns]) c.shutdown();
    if (this.#conns.size > 0) {
      const idle = new Promise<void>((r) => this.#idleWaiters.push(r));
      const ac = new AbortController();
      const timer = this.ring.sleep(timeoutMs, { signal: ac.signal }).then(() => true, () => false);
      const timedOut = await Promise.race([idle.then(() => false), timer]);
      ac.abort();
      if (timedOut) for (const c of [...this.#conns]) c.destroy();
    }
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
    this.#tickAbort.abort();
    this.cache.clear();
    const log = this.log;
    if (log?.flush !== undefined) await new Promise<void>((r) => log.flush!(() => r()));
  }

  /** True once close() was called. */
  get closing(): boolean {
    return this.#draining;
  }
}

export type { Logger };
