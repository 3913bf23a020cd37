/**
 * uringkit serve: a static file server over HTTP/1.1 on the ring.
 *
 * The server accepts connections (connection.ts: parsing, framing, deadlines)
 * and hands their requests to the responder (respond.ts: paths, cache,
 * bodies). Time comes from a coarse clock ticked by one ring timeout
 * (IORING_OP_TIMEOUT, unref'd) that also sweeps the connections for their
 * deadlines: no JS timer per request or connection.
 */
import { pino, type Logger } from 'pino';

import { TcpListener } from '../net/listener.js';
import { invalidArgType, invalidArgValue, outOfRange } from '../errors.js';
import { Ring } from '../ring/ring.js';
import { DEFAULT_ENTRIES } from './cache.js';
import { Connection, LINGER_MS, type ConnectionHost, type ConnectionLimits } from './connection.js';
import { Clock } from './http-date.js';
import type { Request } from './http.js';
import { Responder, type DotfilesPolicy, type ResponderHost } from './respond.js';

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
  /** Total bytes of small files' bodies kept in memory. Default 64 MiB; 0: bodies are read per request. */
  cacheBytes?: number;
  /**
   * Most entries (one per normalized path) in the file cache. Default 16,384;
   * 0: nothing is cached, every request resolves its path again. Metadata is
   * also bounded by bytes (8 MiB).
   */
  cacheEntries?: number;
  /**
   * Bodies above this many bytes are sent with sendFile (splice); at or
   * below it they are cached (or read) and sent from memory. Default 64 KiB.
   */
  sendFileThreshold?: number;
  /** How long a cached lookup (path → file, stat) is trusted before the file system is asked again. Default 1000 ms; 0: every request. */
  cacheTtlMs?: number;
  /** Request head size limit: beyond it, 431. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Time to receive a whole request head once its first byte arrived (then 408). Default 10 s. */
  headerTimeoutMs?: number;
  /**
   * Time to receive a whole request, head and body, once its first byte
   * arrived, however the bytes trickle in (then the connection is closed).
   * Default 30 s.
   */
  requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this. Default 5 s. */
  keepAliveTimeoutMs?: number;
  /**
   * A response that makes no progress for this long (the peer does not read)
   * is abandoned: its transfer is aborted and the connection closed. Progress
   * is counted per send, and per 256 KiB of a sendFile body. Default 60 s; 0: never.
   */
  sendTimeoutMs?: number;
  /** HTML listing of directories without index.html. Default true (else 404). */
  listing?: boolean;
  /**
   * Request paths with a segment starting with '.' ('/.env', '/.git/config',
   * '/a/.hidden/x', also when %-encoded as '%2e'): 'ignore' (default) answers
   * 404 as if they did not exist, 'deny' answers 403, 'allow' serves them.
   * Listings leave such names out unless 'allow'. The check is on the
   * request path, as serve-static's; nginx serves dotfiles unless told not to.
   */
  dotfiles?: DotfilesPolicy;
}

/** What the access log needs of a logger (pino's `info(obj, msg)`). */
export interface AccessLogger {
  info(obj: object, msg?: string): void;
  /** Server warnings (accept failures, at most one line per 10 s): pino's `warn(obj, msg)`; without it, process warnings. */
  warn?(obj: object, msg?: string): void;
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
  /** Requests answered 503 (out of file descriptors or memory). */
  unavailable: number;
  /** Accepts that failed (EMFILE, ENFILE, ...): the listener backs off and retries. */
  acceptErrors: number;
  /** Idle connections closed to free a descriptor when accept failed with EMFILE/ENFILE. */
  idleClosed: number;
}

/**
 * When accept fails for want of descriptors, up to this many idle connections
 * (see Connection.idle) are closed, oldest first, so that the next accept
 * (the listener retries every 50 ms) finds a free one.
 */
const SHED_PER_FAILURE = 32;
/** A connection that never sent a byte counts as idle this long after it was accepted. */
const SHED_GRACE_MS = 1000;

/** Accept failures are logged at most once per this many ms (with a count of those not logged). */
export const ACCEPT_WARNING_INTERVAL_MS = 10_000;

function checkMs(o: ServeOptions, name: keyof ServeOptions, def: number, min = 0): number {
  const v = o[name];
  if (v === undefined) return def;
  if (typeof v !== 'number') throw invalidArgType(`options.${name}`, 'of type number', v);
  if (!Number.isSafeInteger(v) || v < min) throw outOfRange(`options.${name}`, `an integer >= ${min}`, v);
  return v;
}

/** A running static file server. */
export class StaticServer {
  readonly #ring: Ring;
  readonly #listener: TcpListener;
  readonly #clock = new Clock();
  readonly #responder: Responder;
  readonly #log: AccessLogger | undefined;
  readonly #conns = new Set<Connection>();
  /** Asynchronous work close() waits for: responses in progress, socket closes. */
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #tickAbort = new AbortController();
  readonly #tickPeriod: number;
  #closing: Promise<void> | undefined;
  #draining = false;
  #idleWaiters: (() => void)[] = [];
  readonly #acceptLoop: Promise<void>;
  readonly #errors: unknown[] = [];
  readonly #stats = { accepted: 0, requests: 0, acceptErrors: 0, idleClosed: 0 };
  #acceptWarnedAt = -Infinity;
  #acceptUnwarned = 0;
  /** What connections see of the server (not public API). */
  readonly #connHost: ConnectionHost;

  /** Binds and starts serving. Bad options throw (TypeError/RangeError with a Node-style code) before anything binds. */
  static start(options: ServeOptions = {}): StaticServer {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    return new StaticServer(options);
  }

  private constructor(o: ServeOptions) {
    const limits: ConnectionLimits = {
      maxHeaderBytes: checkMs(o, 'maxHeaderBytes', 16 * 1024, 1024),
      headerTimeoutMs: checkMs(o, 'headerTimeoutMs', 10_000, 1),
      requestTimeoutMs: checkMs(o, 'requestTimeoutMs', 30_000, 1),
      keepAliveTimeoutMs: checkMs(o, 'keepAliveTimeoutMs', 5_000, 1),
      sendTimeoutMs: checkMs(o, 'sendTimeoutMs', 60_000),
    };
    const cacheBytes = checkMs(o, 'cacheBytes', 64 * 1024 * 1024);
    const cacheEntries = checkMs(o, 'cacheEntries', DEFAULT_ENTRIES);
    const cacheTtlMs = checkMs(o, 'cacheTtlMs', 1000);
    const sendFileThreshold = checkMs(o, 'sendFileThreshold', 64 * 1024);
    const dotfiles = o.dotfiles === undefined ? 'ignore' : o.dotfiles;
    if (dotfiles !== 'ignore' && dotfiles !== 'deny' && dotfiles !== 'allow') {
      throw invalidArgValue('options.dotfiles', dotfiles, "must be 'ignore', 'deny' or 'allow'");
    }
    if (o.ring !== undefined && !(o.ring instanceof Ring)) throw invalidArgType('options.ring', 'an instance of Ring', o.ring);
    this.#ring = o.ring ?? Ring.current();
    this.#log = o.log === true ? pino({ base: undefined }) : o.log === false ? undefined : o.log;
    const clock = this.#clock;
    const server = this;
    const respHost: ResponderHost = {
      ring: this.#ring,
      clock,
      get draining() {
        return server.#draining;
      },
      log: (c, req, status, bytes) => this.#logLine(c, req, status, bytes),
      onError: (err) => this.#onError(err),
    };
    this.#responder = new Responder(respHost, {
      root: o.root ?? process.cwd(), listing: o.listing !== false, cacheBytes, cacheEntries, cacheTtlMs, sendFileThreshold,
      dotfiles,
    });
    this.#connHost = {
      clock,
      limits,
      handle: (c, req) => {
        this.#stats.requests++;
        return this.#responder.handle(c, req);
      },
      track: (p) => this.#track(p),
      onError: (err) => this.#onError(err),
      refused: (c, status) => {
        this.#stats.requests++;
        this.#logLine(c, undefined, status, 0);
      },
      removed: (c) => this.#removed(c),
    };
    this.#listener = TcpListener.bind({
      host: o.host ?? '127.0.0.1', port: o.port ?? 8080, reusePort: o.reusePort, ring: this.#ring,
      socket: { noDelay: true },
    });
    this.#listener.on('acceptError', (err: unknown) => this.#acceptFailed(err));
    const shortest = Math.min(limits.headerTimeoutMs, limits.requestTimeoutMs, limits.keepAliveTimeoutMs, LINGER_MS,
      limits.sendTimeoutMs || LINGER_MS);
    this.#tickPeriod = Math.max(20, Math.min(1000, Math.floor(shortest / 4)));
    this.#tick();
    this.#acceptLoop = this.#accept();
  }

  get ring(): Ring {
    return this.#ring;
  }

  get port(): number {
    return this.#listener.address().port;
  }

  get host(): string {
    return this.#listener.address().address;
  }

  get url(): string {
    const h = this.host;
    return `http://${h.includes(':') ? `[${h}]` : h}:${this.port}/`;
  }

  /** The served directory (its real path). */
  get root(): string {
    return this.#responder.resolver.root;
  }

  /** Errors that ended a connection unexpectedly (not client misbehaviour), for diagnostics. */
  get errors(): readonly unknown[] {
    return this.#errors;
  }

  stats(): ServerStats {
    const r = this.#responder;
    return {
      connections: this.#conns.size, ...this.#stats, ...r.stats, cacheEntries: r.cache.size, cacheBytes: r.cache.bytes,
    };
  }

  async #accept(): Promise<void> {
    try {
      for await (const s of this.#listener) {
        if (this.#draining) {
          s.destroy();
          continue;
        }
        this.#stats.accepted++;
        const c = new Connection(this.#connHost, s);
        this.#conns.add(c);
        if (this.#log !== undefined) {
          try {
            c.remote = s.remoteAddress().toString();
          } catch {
            /* the peer is already gone */
          }
        }
        c.pump();
      }
    } catch (err) {
      if (!this.#draining) this.#onError(err);
    }
  }

  /** The listener backs off and retries by itself; the log gets one line per ACCEPT_WARNING_INTERVAL_MS at most. */
  #acceptFailed(err: unknown): void {
    this.#stats.acceptErrors++;
    const now = this.#clock.now;
    const errCode = (err as { code?: string } | null)?.code;
    if (errCode === 'EMFILE' || errCode === 'ENFILE') {
      // Out of descriptors: idle connections (a Set iterates oldest first) make room for new ones,
      // so that holding many connections open does not lock other clients out.
      let shed = 0;
      for (const c of this.#conns) {
        if (shed === SHED_PER_FAILURE) break;
        if (c.idle(now, SHED_GRACE_MS)) {
          c.destroy();
          shed++;
        }
      }
      this.#stats.idleClosed += shed;
    }
    if (now - this.#acceptWarnedAt < ACCEPT_WARNING_INTERVAL_MS) {
      this.#acceptUnwarned++;
      return;
    }
    const code = (err as { code?: string } | null)?.code ?? String(err);
    const suppressed = this.#acceptUnwarned;
    this.#acceptWarnedAt = now;
    this.#acceptUnwarned = 0;
    const msg = `accept failed (${code}); retrying` + (suppressed > 0 ? ` (${suppressed} more since the last warning)` : '');
    const log = this.#log;
    if (log?.warn !== undefined) log.warn({ code, suppressed }, msg);
    else process.emitWarning(`uringkit serve: ${msg}`, { code: 'UK_ACCEPT_ERROR' });
  }

  /** The clock and the sweeper: one unref'd ring timeout at a time, aligned to the period. */
  #tick = (err?: Error | null): void => {
    const signal = this.#tickAbort.signal;
    if (signal.aborted || (err !== undefined && err !== null)) return;
    const clock = this.#clock;
    clock.update();
    const now = clock.now;
    for (const c of this.#conns) if (c.watched) c.expire(now);
    const p = this.#tickPeriod;
    this.#ring.sleep(p - (now % p) + 1, { ref: false, signal }, this.#tick);
  };

  #onError(err: unknown): void {
    if (this.#errors.length < 100) this.#errors.push(err);
  }

  #track(p: Promise<unknown>): void {
    const t = p.catch(() => {}).finally(() => this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  #removed(c: Connection): void {
    this.#conns.delete(c);
    if (this.#conns.size === 0 && this.#idleWaiters.length > 0) for (const f of this.#idleWaiters.splice(0)) f();
  }

  #logLine(c: Connection, req: Request | undefined, status: number, bytes: number): void {
    const log = this.#log;
    if (log === undefined) return;
    log.info({
      remote: c.remote, method: req?.method, url: req === undefined ? undefined : req.path + req.query,
      http: req === undefined ? undefined : `1.${req.minor}`, status, bytes,
    }, 'request');
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
    await this.#listener.close();
    await this.#acceptLoop;
    for (const c of [...this.#conns]) c.shutdown();
    if (this.#conns.size > 0) {
      const idle = new Promise<void>((r) => this.#idleWaiters.push(r));
      const ac = new AbortController();
      const timer = this.#ring.sleep(timeoutMs, { signal: ac.signal }).then(() => true, () => false);
      const timedOut = await Promise.race([idle.then(() => false), timer]);
      ac.abort();
      if (timedOut) for (const c of [...this.#conns]) c.destroy();
    }
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
    this.#tickAbort.abort();
    this.#responder.cache.clear();
    const log = this.#log;
    if (log?.flush !== undefined) await new Promise<void>((r) => log.flush!(() => r()));
  }

  /** True once close() was called. */
  get closing(): boolean {
    return this.#draining;
  }
}

export type { Logger };
