/**
 * From a request path to a file under the served root, safely; and the
 * in-memory cache of small files.
 *
 * Safety: the path is %-decoded (malformed escapes and NUL are refused),
 * split on '/', '.' segments are dropped and any '..' segment is refused
 * (never "resolved"). The result is resolved with realpath(3), so symbolic
 * links are followed, and the real path must be the root or below it;
 * anything else is refused (403), whatever link led there.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';

import { contentType } from 'mime-types';

import { File } from '../fs/file.js';
import type { Stats } from '../fs/stats.js';
import type { Ring } from '../ring/ring.js';
import { httpDate } from './http.js';

/**
 * Decodes and normalizes a raw request path ('/a/%62/./c/'). Returns the
 * decoded path (starting with '/', a trailing '/' kept), or the status to
 * refuse it with: 400 (bad %-escape, invalid UTF-8, NUL), 403 ('..').
 */
export function decodePath(raw: string): string | 400 | 403 {
  // Fast path: nothing to decode or normalize.
  let plain = true;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 37 /* % */ || c >= 128 || (c === 47 && (raw.charCodeAt(i + 1) === 47 || raw.charCodeAt(i + 1) === 46))) {
      plain = false;
      break;
    }
  }
  if (plain) return raw;
  let s = raw;
  // Raw bytes >= 0x80 arrived as latin1 characters: they are UTF-8 bytes.
  if (/[\u0080-\u00ff]/.test(s)) {
    const b = Buffer.from(s, 'latin1');
    s = b.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(b)) return 400;
  }
  if (s.includes('%')) {
    try {
      s = decodeURIComponent(s);
    } catch {
      return 400;
    }
  }
  if (s.includes('\u0000')) return 400;
  const out: string[] = [];
  for (const seg of s.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return 403;
    out.push(seg);
  }
  const trailing = s.endsWith('/') || s.endsWith('/.') ? '/' : '';
  return out.length === 0 ? '/' : `/${out.join('/')}${trailing}`;
}

/** Encodes a decoded path for a Location header or a link (each segment %-encoded). */
export function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

/** A regular file the server can send: its validators, pre-formatted headers and (when small) its bytes. */
export interface FileEntry {
  /** The raw request path this entry answers (the cache key). */
  readonly key: string;
  readonly realPath: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly etag: string;
  /** Last-Modified value and its time in ms (whole seconds). */
  readonly lastModified: string;
  readonly lastModifiedMs: number;
  readonly contentType: string;
  /**
   * "Content-Type: ...\r\nLast-Modified: ...\r\nETag: ...\r\nAccept-Ranges: bytes\r\n":
   * the header lines every 200/206 for this file carries.
   */
  readonly fixed: string;
  /** The file's bytes when cached (a view into `resp`), else undefined. */
  body: Buffer | undefined;
  /**
   * The whole HTTP/1.1 keep-alive 200 response (head + body) for the clock's
   * current second (`respSecond`); rebuilt (never modified in place: it may be
   * in flight) when the Date changes.
   */
  resp: Buffer | undefined;
  respSecond: number;
  headLen: number;
  /** Coarse-clock time until which the entry is used without looking at the file system again. */
  validUntil: number;
}

export function makeEntry(key: string, realPath: string, st: Stats): FileEntry {
  const mtimeMs = st.mtimeMs;
  const lastModifiedMs = Math.floor(mtimeMs / 1000) * 1000;
  const lastModified = httpDate(lastModifiedMs);
  const etag = `"${st.ino.toString(36)}-${st.size.toString(36)}-${Math.round(mtimeMs * 1000).toString(36)}"`;
  const type = contentType(path.extname(realPath)) || 'application/octet-stream';
  return {
    key, realPath, size: st.size, mtimeMs, ino: st.ino, etag, lastModified, lastModifiedMs, contentType: type,
    fixed: `Content-Type: ${type}\r\nLast-Modified: ${lastModified}\r\nETag: ${etag}\r\nAccept-Ranges: bytes\r\n`,
    body: undefined, resp: undefined, respSecond: -1, headLen: 0, validUntil: 0,
  };
}

/** True when `e` still describes the file `st` (same inode, size and mtime). */
export function sameFile(e: FileEntry, realPath: string, st: { ino: number; size: number; mtimeMs: number }): boolean {
  return e.realPath === realPath && e.ino === st.ino && e.size === st.size && e.mtimeMs === st.mtimeMs;
}

/**
 * File entries (metadata for every file served, bytes for small ones),
 * bounded in entries and in total cached bytes. Eviction is in insertion
 * order, and an entry is re-inserted (made youngest) each time it is
 * revalidated, so it approximates least-recently-used without touching the
 * map on every hit.
 */
export class FileCache {
  readonly #map = new Map<string, FileEntry>();
  #bytes = 0;

  constructor(readonly maxBytes: number, readonly maxEntries = 16384) {}

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): FileEntry | undefined {
    return this.#map.get(key);
  }

  #cost(e: FileEntry): number {
    return e.body?.length ?? 0;
  }

  /** Whether a body of `size` bytes may be cached at all. */
  fits(size: number): boolean {
    return this.maxBytes > 0 && size <= this.maxBytes;
  }

  set(e: FileEntry): void {
    this.delete(e.key);
    const cost = this.#cost(e);
    for (const [k] of this.#map) {
      if (this.#bytes + cost <= this.maxBytes && this.#map.size < this.maxEntries) break;
      this.delete(k);
    }
    this.#map.set(e.key, e);
    this.#bytes += cost;
  }

  /** Makes `e` the youngest entry (after a revalidation). */
  touch(e: FileEntry): void {
    if (this.#map.get(e.key) !== e) return;
    this.#map.delete(e.key);
    this.#map.set(e.key, e);
  }

  delete(key: string): void {
    const old = this.#map.get(key);
    if (old === undefined) return;
    this.#map.delete(key);
    this.#bytes -= this.#cost(old);
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }
}

/** Where a request path leads. */
export type Target =
  | { kind: 'file'; entry: FileEntry }
  | { kind: 'redirect'; location: string }
  | { kind: 'listing'; dir: string; urlPath: string }
  | { kind: 'error'; status: 400 | 403 | 404 };

const NOT_FOUND: Target = { kind: 'error', status: 404 };
const FORBIDDEN: Target = { kind: 'error', status: 403 };

/** Resolves decoded paths under one real root directory, with realpath and a containment check. */
export class Resolver {
  readonly root: string;

  constructor(root: string, readonly ring: Ring, readonly listing: boolean) {
    this.root = realpathSync.native(root);
  }

  /** True when `real` (a realpath) is the root or inside it. */
  contains(real: string): boolean {
    const r = this.root;
    if (r === '/') return true;
    return real === r || (real.startsWith(r) && real.charCodeAt(r.length) === 47);
  }

  /** realpath + containment: the real path, or the refusal. */
  #real(fsPath: string): string | Target {
    let real: string;
    try {
      real = realpathSync.native(fsPath);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EACCES' ? FORBIDDEN : NOT_FOUND;
    }
    return this.contains(real) ? real : FORBIDDEN;
  }

  async #stat(real: string): Promise<Stats | undefined> {
    try {
      return await this.ring.statx(real);
    } catch {
      return undefined;
    }
  }

  /**
   * Resolves a raw request path. `file` targets carry a fresh entry (no body;
   * the caller reuses a cached one when `sameFile`).
   */
  async resolve(raw: string, query: string): Promise<Target> {
    const rel = decodePath(raw);
    if (typeof rel === 'number') return { kind: 'error', status: rel };
    const real = this.#real(this.root === '/' ? rel : this.root + rel);
    if (typeof real !== 'string') return real;
    const st = await this.#stat(real);
    if (st === undefined) return NOT_FOUND;
    if (st.isDirectory()) {
      if (!rel.endsWith('/')) return { kind: 'redirect', location: `${encodePath(rel)}/${query}` };
      const idx = this.#real(path.join(real, 'index.html'));
      if (typeof idx === 'string') {
        const ist = await this.#stat(idx);
        if (ist !== undefined && ist.isFile()) return { kind: 'file', entry: makeEntry(raw, idx, ist) };
      }
      return this.listing ? { kind: 'listing', dir: real, urlPath: rel } : NOT_FOUND;
    }
    if (!st.isFile()) return NOT_FOUND;
    return { kind: 'file', entry: makeEntry(raw, real, st) };
  }
}

/** Reads a whole small file through the ring; undefined when it did not read back at `size` bytes. */
export async function readSmall(ring: Ring, realPath: string, size: number): Promise<Buffer | undefined> {
  const f = await File.open(realPath, 'r', 0o666, { ring });
  try {
    const buf = Buffer.allocUnsafe(size);
    const n = size === 0 ? 0 : await f.readAll(buf, { position: 0 });
    return n === size ? buf : undefined;
  } finally {
    await f.close();
  }
}
