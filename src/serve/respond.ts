/**
 * The request handler of the static file server: from a parsed request to
 * the bytes queued on its connection (or a Promise while the file system is
 * asked). It owns the path resolver and the file cache; the connection owns
 * the socket and the framing.
 *
 * Bytes that leave the server always match the headers sent with them: a
 * cached body is a snapshot taken with its metadata; anything else is read
 * or spliced from a descriptor whose fstat gave the Content-Length (see
 * files.ts for why a name is never trusted twice).
 */
import type { File } from '../fs/file.js';
import { reserveSendFilePipe, sendFile, type SendFilePipe } from '../net/sendfile.js';
import type { Ring } from '../ring/ring.js';
import { DEFAULT_META_BYTES, FileCache } from './cache.js';
import type { Connection } from './connection.js';
import {
  decodePath, isResourceError, makeEntry, openEntry, readWhole, Resolver, type FileEntry, type Resolved, type Target,
} from './files.js';
import { parseHttpDate, type Clock } from './http-date.js';
import { connectionHeader, errorResponse, etagMatches, head, parseRange, type Request } from './http.js';
import { renderListing } from './listing.js';

export type Sync = void | Promise<void>;

/** What the handler needs from its server (kept private by the server). */
export interface ResponderHost {
  readonly ring: Ring;
  readonly clock: Clock;
  /** True once the server shuts down: every response closes its connection. */
  readonly draining: boolean;
  log(c: Connection, req: Request | undefined, status: number, bytes: number): void;
  onError(err: unknown): void;
}

export interface ResponderOptions {
  root: string;
  listing: boolean;
  cacheBytes: number;
  cacheEntries: number;
  cacheTtlMs: number;
  sendFileThreshold: number;
  /** Request paths with a segment starting with '.': 'ignore' (404), 'deny' (403) or 'allow' (served). */
  dotfiles: DotfilesPolicy;
}

/** What the server does with a request path that has a segment starting with '.' (see ServeOptions.dotfiles). */
export type DotfilesPolicy = 'ignore' | 'deny' | 'allow';

/**
 * True when the normalized path (decodePath's result: decoded, '.' dropped,
 * '..' refused) has a segment starting with '.': '/.env', '/.git/config',
 * '/a/.hidden/x'. Every segment follows a '/', so that is '/.' anywhere.
 */
export function hasDotSegment(key: string): boolean {
  return key.includes('/.');
}

const MSG_MORE = 0x8000;
/**
 * A big body is spliced in steps of this many bytes; the connection's send
 * progress is recorded after each, so a peer that stops reading is noticed
 * by the send deadline (see Connection.expire) while a slow one is not.
 */
export const SEND_STEP = 256 * 1024;

/** Errors of a transfer that mean the peer went away (or we cut it off): not worth recording. */
const PEER_GONE = new Set(['EPIPE', 'ECONNRESET', 'EBADF', 'ECANCELED', 'ABORT_ERR', 'ETIMEDOUT']);

export class Responder {
  readonly resolver: Resolver;
  readonly cache: FileCache;
  readonly stats = { cacheHits: 0, cacheMisses: 0, sendFiles: 0, unavailable: 0 };
  readonly #host: ResponderHost;
  readonly #o: ResponderOptions;
  /** Lookups in progress, by normalized path: concurrent requests for one path share one. */
  readonly #pending = new Map<string, Promise<Target>>();

  constructor(host: ResponderHost, o: ResponderOptions) {
    this.#host = host;
    this.#o = o;
    this.resolver = new Resolver(o.root, host.ring, o.listing);
    this.cache = new FileCache({ maxBodyBytes: o.cacheBytes, maxEntries: o.cacheEntries, maxMetaBytes: DEFAULT_META_BYTES });
  }

  /** Answers one request: synchronously (queued on the connection) or with a Promise. */
  handle(c: Connection, req: Request): Sync {
    const host = this.#host;
    const method = req.method;
    const isHead = method === 'HEAD';
    if (method !== 'GET' && !isHead) {
      c.closeAfter = true; // its body (if any) is not read
      return this.#error(c, req, 405, false, 'Allow: GET, HEAD\r\n');
    }
    if (req.transferEncoding) {
      c.closeAfter = true;
      return this.#error(c, req, 400, isHead);
    }
    if (!req.keepAlive || host.draining) c.closeAfter = true;
    const key = decodePath(req.path);
    if (typeof key === 'number') {
      if (key === 400) c.closeAfter = true;
      return this.#error(c, req, key, isHead);
    }
    // Before the cache and the file system: a refused dotfile is never looked up, so its
    // existence does not show (404 as for a missing file, or 403 for 'deny').
    if (this.#o.dotfiles !== 'allow' && hasDotSegment(key)) {
      return this.#error(c, req, this.#o.dotfiles === 'deny' ? 403 : 404, isHead);
    }
    const e = this.cache.get(key);
    if (e !== undefined && e.validUntil > host.clock.now) {
      this.stats.cacheHits++;
      return this.#sendEntry(c, req, e, isHead, false);
    }
    this.stats.cacheMisses++;
    return this.#slow(c, req, key, isHead);
  }

  #conn(c: Connection, req: Request): string {
    return connectionHeader(req.minor, !c.closeAfter);
  }

  #error(c: Connection, req: Request, status: number, isHead: boolean, extra = ''): void {
    if (status === 503) {
      // Out of descriptors: say so (never 404), and give one back by closing this connection.
      this.stats.unavailable++;
      c.closeAfter = true;
      extra += 'Retry-After: 1\r\n';
    }
    c.queue(errorResponse(status, this.#host.clock.date, this.#conn(c, req), extra, isHead));
    this.#host.log(c, req, status, 0);
  }

  async #slow(c: Connection, req: Request, key: string, isHead: boolean): Promise<void> {
    const t = await this.#lookup(key);
    if (!c.dead) return this.#answer(c, req, t, isHead, false);
  }

  #answer(c: Connection, req: Request, t: Target, isHead: boolean, retried: boolean): Sync {
    switch (t.kind) {
      case 'file':
        return this.#sendEntry(c, req, t.entry, isHead, retried);
      case 'redirect': {
        const loc = (t.location + req.query).replace(/[^\x21-\x7e]/g, encodeURIComponent);
        return this.#error(c, req, 301, isHead, `Location: ${loc}\r\n`);
      }
      case 'listing':
        return this.#listing(c, req, t.dir, t.urlPath, isHead);
      case 'error':
        if (t.status === 400) c.closeAfter = true;
        return this.#error(c, req, t.status, isHead);
    }
  }

  async #listing(c: Connection, req: Request, dir: string, urlPath: string, isHead: boolean): Promise<void> {
    const d = await this.resolver.openDir(dir);
    if (!('path' in d)) {
      if (!c.dead) this.#answer(c, req, d, isHead, true);
      return;
    }
    let html: string;
    try {
      html = await renderListing(this.#host.ring, d.path, urlPath, (real) => this.resolver.contains(real),
        this.#o.dotfiles === 'allow');
    } catch (err) {
      if (!c.dead) this.#error(c, req, isResourceError(err) ? 503 : 404, isHead);
      return;
    } finally {
      await d.close().catch(() => {});
    }
    if (c.dead) return;
    const body = Buffer.from(html, 'utf8');
    const h = head(200, this.#host.clock.date, 'Content-Type: text/html; charset=utf-8\r\n' +
      `Content-Length: ${body.length}\r\nCache-Control: no-cache\r\n${this.#conn(c, req)}`);
    c.queue(isHead ? Buffer.from(h, 'latin1') : Buffer.concat([Buffer.from(h, 'latin1'), body]));
    this.#host.log(c, req, 200, isHead ? 0 : body.length);
  }

  /** Resolves a normalized path to a target, reusing (and revalidating) cached entries; one lookup per path at a time. */
  #lookup(key: string): Promise<Target> {
    let p = this.#pending.get(key);
    if (p === undefined) {
      p = this.#resolve(key).finally(() => this.#pending.delete(key));
      this.#pending.set(key, p);
    }
    return p;
  }

  async #resolve(key: string): Promise<Target> {
    let r: Resolved;
    try {
      r = await this.resolver.resolve(key, '');
    } catch (err) {
      if (isResourceError(err)) return { kind: 'error', status: 503 };
      throw err;
    }
    if (r.kind !== 'file') {
      this.cache.delete(key);
      return r;
    }
    const { entry: e, file } = r;
    try {
      const validUntil = this.#host.clock.now + this.#o.cacheTtlMs;
      const old = this.cache.get(key);
      if (old !== undefined && old.realPath === e.realPath && old.dev === e.dev && old.ino === e.ino &&
        old.size === e.size && old.mtimeMs === e.mtimeMs) {
        old.validUntil = validUntil;
        this.cache.touch(old);
        return { kind: 'file', entry: old };
      }
      // A new entry: its metadata is cached in any case, its bytes (read from the verified descriptor) when small.
      if (e.size <= this.#o.sendFileThreshold && this.cache.fits(e.size)) {
        e.body = await readWhole(file, e.size); // undefined: it changed while read
      }
      e.validUntil = e.body !== undefined || e.size > this.#o.sendFileThreshold || !this.cache.fits(e.size)
        ? validUntil : 0;
      this.cache.set(e);
      return { kind: 'file', entry: e };
    } catch (err) {
      if (isResourceError(err)) return { kind: 'error', status: 503 };
      throw err;
    } finally {
      await file.close().catch(() => {});
    }
  }

  /** 304: If-None-Match wins over If-Modified-Since; a date in the future is not a date (RFC 9110 13.1.3). */
  #notModified(req: Request, e: FileEntry): boolean {
    if (req.ifNoneMatch !== undefined) return etagMatches(req.ifNoneMatch, e.etag);
    if (req.ifModifiedSince === undefined) return false;
    const now = this.#host.clock.now;
    const t = parseHttpDate(req.ifModifiedSince, now);
    return t <= now && e.lastModifiedMs <= t;
  }

  #send304(c: Connection, req: Request, e: FileEntry): void {
    const lines = `Last-Modified: ${e.lastModified}\r\nETag: ${e.etag}\r\n${this.#conn(c, req)}`;
    c.queue(Buffer.from(head(304, this.#host.clock.date, lines), 'latin1'));
    this.#host.log(c, req, 304, 0);
  }

  /** The byte range to send: [start, start + len) with its status, or undefined when a 416 was queued. */
  #range(c: Connection, req: Request, e: FileEntry, isHead: boolean):
    { status: number; start: number; len: number } | undefined {
    if (req.range !== undefined && (req.ifRange === undefined || this.#ifRangeOk(req.ifRange, e))) {
      const r = parseRange(req.range, e.size);
      if (r === 'unsatisfiable') {
        this.#error(c, req, 416, isHead, `Content-Range: bytes */${e.size}\r\n`);
        return undefined;
      }
      if (r !== 'none') return { status: 206, start: r.start, len: r.end - r.start + 1 };
    }
    return { status: 200, start: 0, len: e.size };
  }

  #head(c: Connection, req: Request, e: FileEntry, status: number, start: number, len: number): Buffer {
    const lines = `${e.fixed}Content-Length: ${len}\r\n` +
      (status === 206 ? `Content-Range: bytes ${start}-${start + len - 1}/${e.size}\r\n` : '') + this.#conn(c, req);
    return Buffer.from(head(status, this.#host.clock.date, lines), 'latin1');
  }

  /** Conditional requests, ranges, then the body from the cache, or from the file (read or sendFile). */
  #sendEntry(c: Connection, req: Request, e: FileEntry, isHead: boolean, retried: boolean): Sync {
    const clock = this.#host.clock;
    if (this.#notModified(req, e)) return this.#send304(c, req, e);
    const body = e.body;
    if (body !== undefined || isHead) {
      const r = this.#range(c, req, e, isHead);
      if (r === undefined) return;
      if (r.status === 200 && body !== undefined && req.minor === 1 && !c.closeAfter) {
        // The hot path: one pre-built Buffer for head + body.
        let resp = e.resp;
        if (resp === undefined || e.respSecond !== clock.second) resp = this.#rebuild(e, body);
        c.queue(isHead ? resp.subarray(0, e.headLen) : resp);
        this.#host.log(c, req, 200, isHead ? 0 : e.size);
        return;
      }
      const h = this.#head(c, req, e, r.status, r.start, r.len);
      c.queue(h);
      if (!isHead && r.len > 0) c.queue(body!.subarray(r.start, r.start + r.len)); // a view: no copy per request
      this.#host.log(c, req, r.status, isHead ? 0 : r.len);
      return;
    }
    return this.#fromFile(c, req, e, retried);
  }

  #rebuild(e: FileEntry, body: Buffer): Buffer {
    const clock = this.#host.clock;
    const h = head(200, clock.date, `${e.fixed}Content-Length: ${e.size}\r\n`);
    const resp = Buffer.allocUnsafe(h.length + body.length);
    resp.write(h, 0, 'latin1');
    body.copy(resp, h.length);
    e.resp = resp;
    e.headLen = h.length;
    e.respSecond = clock.second;
    e.body = resp.subarray(h.length);
    return resp;
  }

  #ifRangeOk(v: string, e: FileEntry): boolean {
    if (v.startsWith('W/')) return false;
    if (v.startsWith('"')) return v === e.etag;
    return parseHttpDate(v, this.#host.clock.now) === e.lastModifiedMs;
  }

  /**
   * A body not in memory: open the entry's file again (identity checked),
   * take size and validators from that descriptor, then read it (small) or
   * splice it (big). A name that now leads elsewhere is resolved once more
   * from scratch; twice changed is 404.
   */
  async #fromFile(c: Connection, req: Request, e: FileEntry, retried: boolean): Promise<void> {
    const isHead = false;
    let o: Awaited<ReturnType<typeof openEntry>>;
    try {
      o = await openEntry(this.#host.ring, e);
    } catch (err) {
      if (!isResourceError(err)) throw err;
      if (!c.dead) this.#error(c, req, 503, isHead);
      return;
    }
    if (o === 'changed') {
      this.cache.delete(e.key, e);
      if (c.dead) return;
      if (retried) return this.#error(c, req, 404, isHead);
      const t = await this.#lookup(e.key);
      if (!c.dead) return this.#answer(c, req, t, isHead, true);
      return;
    }
    const { file, st } = o;
    try {
      if (st.size !== e.size || st.mtimeMs !== e.mtimeMs) {
        // Changed in place (same inode) since it was cached: what we send is described by this fstat.
        const fresh = makeEntry(e.key, e.realPath, st);
        fresh.validUntil = this.#host.clock.now + this.#o.cacheTtlMs;
        if (this.cache.get(e.key) === e) this.cache.set(fresh);
        e = fresh;
        if (this.#notModified(req, e)) {
          if (!c.dead) this.#send304(c, req, e);
          return;
        }
      }
      if (c.dead) return;
      const r = this.#range(c, req, e, isHead);
      if (r === undefined) return;
      const h = this.#head(c, req, e, r.status, r.start, r.len);
      if (r.len === 0) {
        c.queue(h);
        this.#host.log(c, req, r.status, 0);
        return;
      }
      if (e.size > this.#o.sendFileThreshold) return await this.#splice(c, req, file, h, r.status, r.start, r.len);
      const body = await readWhole(file, e.size);
      if (c.dead) return;
      // Shrank between fstat and read: it is being rewritten; the client may retry.
      if (body === undefined) return this.#error(c, req, 503, isHead);
      c.queue(h);
      c.queue(body.subarray(r.start, r.start + r.len));
      this.#host.log(c, req, r.status, r.len);
    } catch (err) {
      if (!isResourceError(err)) throw err;
      if (!c.dead) this.#error(c, req, 503, isHead);
    } finally {
      await file.close().catch(() => {});
    }
  }

  /**
   * A big body: the head (MSG_MORE, so it leaves with the first bytes), then
   * sendFile in SEND_STEP steps, each recorded as progress. The connection's
   * transfer signal aborts it (send deadline, shutdown). Fewer bytes than
   * promised (the file shrank) or any failure ends the connection: a short
   * body is never followed by another response.
   *
   * The first step's pipe is reserved before the head is written: when no
   * pipe can be made (EMFILE, ENFILE) the answer is a whole 503 with
   * Retry-After, never a head followed by something else. Later steps take
   * the pipe the previous step gave back to the ring's pool; should another
   * transfer have taken it and no new one can be made, that step's bytes go
   * through user space (read, then send) so the body is still complete.
   */
  async #splice(c: Connection, req: Request, file: File, h: Buffer, status: number,
    start: number, len: number): Promise<void> {
    await c.drained();
    if (c.dead) return;
    let lease: SendFilePipe | undefined;
    try {
      lease = reserveSendFilePipe(this.#host.ring);
    } catch (err) {
      if (!isResourceError(err)) throw err;
      return this.#error(c, req, 503, false); // nothing of this response was written yet
    }
    const signal = c.beginTransfer();
    this.stats.sendFiles++;
    let sent = 0;
    try {
      await c.sock.write(h, { flags: MSG_MORE, signal });
      c.progress();
      let copyBuf: Buffer | undefined;
      while (sent < len) {
        const step = Math.min(SEND_STEP, len - sent);
        let n: number;
        try {
          const pipe = lease;
          lease = undefined; // spent by this sendFile, whatever it does
          n = await sendFile(c.sock, file, start + sent, step, pipe === undefined ? { signal } : { signal, pipe });
        } catch (err) {
          // No pipe to splice through for a later step (out of descriptors): sendFile failed before
          // moving a byte of this step, so the body goes on through user space (read, then send)
          // instead of being cut after its head.
          if (!isResourceError(err) || (err as { syscall?: unknown }).syscall !== 'pipe') throw err;
          copyBuf ??= Buffer.allocUnsafe(SEND_STEP);
          n = await file.readAll(copyBuf.subarray(0, step), { position: start + sent });
          if (n > 0) await c.sock.write(copyBuf.subarray(0, n), { signal });
        }
        sent += n;
        c.progress();
        if (n < step) break; // end of file: it shrank
      }
      this.#host.log(c, req, status, sent);
      if (sent !== len) c.destroy();
    } catch (err) {
      if (!c.dead) c.destroy();
      const code = (err as { code?: string }).code;
      if (code === undefined || !PEER_GONE.has(code)) {
        if (!isResourceError(err)) this.#host.onError(err);
      }
    } finally {
      lease?.release(); // the head's write failed: the reserved pipe goes back unused
      c.endTransfer();
    }
  }
}
