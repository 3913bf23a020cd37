/**
 * From a request path to a file under the served root, safely.
 *
 * The path is %-decoded (malformed escapes and NUL are refused), split on
 * '/', '.' segments are dropped and any '..' segment is refused (never
 * "resolved"). The result is resolved with realpath(3), so symbolic links are
 * followed, and the real path must be the root or below it; anything else is
 * refused (403), whatever link led there.
 *
 * No name is trusted between that check and the bytes sent (a symbolic link
 * may be swapped in between, for the file or any directory above it):
 * - resolving opens the real path with O_NOFOLLOW and asks the kernel where
 *   the open descriptor really is (/proc/self/fd/N): it must be inside the
 *   root, else the request is refused. The entry keeps the file's identity
 *   (st_dev, st_ino from fstat on that descriptor).
 * - later opens of a cached entry (O_NOFOLLOW again) fstat the descriptor and
 *   compare device, inode and type with the entry: any difference means the
 *   name now leads elsewhere, and the caller resolves afresh (or refuses).
 * - size, mtime and the validators sent always come from that fstat.
 */
import { constants as fsc, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';

import { contentType } from 'mime-types';

import { File } from '../fs/file.js';
import type { Stats } from '../fs/stats.js';
import type { Ring } from '../ring/ring.js';
import { httpDate } from './http-date.js';

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
  /** The normalized request path this entry answers (the cache key; see decodePath). */
  readonly key: string;
  readonly realPath: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** The file's identity when it was validated inside the root. */
  readonly dev: number;
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
    key, realPath, size: st.size, mtimeMs, dev: st.dev, ino: st.ino, etag, lastModified, lastModifiedMs, contentType: type,
    fixed: `Content-Type: ${type}\r\nLast-Modified: ${lastModified}\r\nETag: ${etag}\r\nAccept-Ranges: bytes\r\n`,
    body: undefined, resp: undefined, respSecond: -1, headLen: 0, validUntil: 0,
  };
}

/** True when `e` still describes the file `st` at `realPath` (same identity, size and mtime). */
export function sameFile(e: FileEntry, realPath: string, st: Stats): boolean {
  return e.realPath === realPath && e.dev === st.dev && e.ino === st.ino && e.size === st.size && e.mtimeMs === st.mtimeMs;
}

/** Where a request path leads. */
export type Target =
  | { kind: 'file'; entry: FileEntry }
  | { kind: 'redirect'; location: string }
  | { kind: 'listing'; dir: string; urlPath: string }
  | { kind: 'error'; status: ErrorStatus };

/** 503: out of file descriptors (EMFILE, ENFILE) or memory; the client may retry. */
export type ErrorStatus = 400 | 403 | 404 | 503;

/** A refusal. */
export type Refusal = { kind: 'error'; status: ErrorStatus };

/** A resolution that found a file: its entry and the verified open File (the caller closes it). */
export type Resolved = Exclude<Target, { kind: 'file' }> | { kind: 'file'; entry: FileEntry; file: File };

const NOT_FOUND = { kind: 'error', status: 404 } as const;
const FORBIDDEN = { kind: 'error', status: 403 } as const;
const UNAVAILABLE = { kind: 'error', status: 503 } as const;

/** Opening never follows a final symbolic link, never blocks on a FIFO, never makes a terminal ours. */
const OPEN_FLAGS = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY;

/** Errors that mean "out of a resource", not "no such file": answered 503, never 404. */
export function isResourceError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE' || code === 'ENOMEM' || code === 'ENOBUFS';
}

/**
 * Where the kernel says the descriptor is (the magic link /proc/self/fd/N):
 * its real path now, whatever names led to it. undefined without /proc.
 */
function whereIs(fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

/**
 * Opens `realPath` with O_NOFOLLOW; when the name does not lead to an
 * openable file now, the status to refuse it with: 403 when permission is
 * denied (EACCES, EPERM: it exists but is not ours to read, as nginx answers),
 * else 404. Resource errors throw.
 */
async function openNoFollow(ring: Ring, realPath: string, extra = 0): Promise<File | 403 | 404> {
  try {
    return await File.open(realPath, OPEN_FLAGS | extra, 0, { ring });
  } catch (err) {
    if (isResourceError(err)) throw err;
    const code = (err as { code?: unknown }).code;
    return code === 'EACCES' || code === 'EPERM' ? 403 : 404;
  }
}

/**
 * Opens a cached entry's file again and checks it is the same file (device,
 * inode, a regular file): 'changed' when the name now leads to something
 * else (swapped, replaced, gone, a directory). Resource errors (EMFILE...)
 * throw. The caller closes the File.
 */
export async function openEntry(ring: Ring, e: FileEntry): Promise<{ file: File; st: Stats } | 'changed'> {
  const f = await openNoFollow(ring, e.realPath);
  if (typeof f === 'number') return 'changed';
  try {
    const st = await f.stat() as Stats;
    if (st.dev === e.dev && st.ino === e.ino && st.isFile()) return { file: f, st };
  } catch (err) {
    await f.close().catch(() => {});
    throw err;
  }
  await f.close();
  return 'changed';
}

/** Resolves decoded paths under one real root directory, with realpath, a containment check and a verified open. */
export class Resolver {
  readonly root: string;
  readonly #ring: Ring;
  readonly #listing: boolean;

  constructor(root: string, ring: Ring, listing: boolean) {
    this.root = realpathSync.native(root);
    this.#ring = ring;
    this.#listing = listing;
  }

  /** True when `real` (a real path) is the root or inside it. */
  contains(real: string): boolean {
    const r = this.root;
    if (r === '/') return true;
    return real === r || (real.startsWith(r) && real.charCodeAt(r.length) === 47);
  }

  /** realpath + containment: the real path, or the refusal. */
  #real(fsPath: string): string | Refusal {
    let real: string;
    try {
      real = realpathSync.native(fsPath);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EACCES' ? FORBIDDEN : NOT_FOUND;
    }
    return this.contains(real) ? real : FORBIDDEN;
  }

  /**
   * Opens `real` (a contained real path) without following links and checks
   * where the descriptor really is: a swap of the file or of a directory above
   * it between realpath and open is refused (403), never served. Without
   * /proc, the name is looked up again instead (lstat identity and realpath
   * must agree with the descriptor): a narrower window, documented.
   */
  async #openInside(real: string, extra = 0): Promise<{ file: File; st: Stats } | Refusal> {
    const f = await openNoFollow(this.#ring, real, extra);
    if (typeof f === 'number') return f === 403 ? FORBIDDEN : NOT_FOUND;
    let ok = false;
    try {
      const st = await f.stat() as Stats;
      const where = whereIs(f.fd);
      if (where !== undefined) ok = this.contains(where);
      else {
        const again = this.#real(real);
        const lst = await this.#ring.statx(real, { followSymlinks: false }).catch(() => undefined);
        ok = again === real && lst !== undefined && lst.dev === st.dev && lst.ino === st.ino;
      }
      if (ok) return { file: f, st };
      return FORBIDDEN;
    } finally {
      if (!ok) await f.close().catch(() => {});
    }
  }

  /**
   * Resolves a normalized request path (decodePath's result). A `file`
   * carries a fresh entry (no body) and the verified open File, which the
   * caller must close.
   */
  async resolve(rel: string, query: string): Promise<Resolved> {
    try {
      const real = this.#real(this.root === '/' ? rel : this.root + rel);
      if (typeof real !== 'string') return real;
      const opened = await this.#openInside(real);
      if (!('file' in opened)) return opened;
      const { file, st } = opened;
      if (st.isFile()) return { kind: 'file', entry: makeEntry(rel, real, st), file };
      await file.close();
      if (!st.isDirectory()) return NOT_FOUND;
      if (!rel.endsWith('/')) return { kind: 'redirect', location: `${encodePath(rel)}/${query}` };
      const idx = this.#real(path.join(real, 'index.html'));
      if (typeof idx === 'string') {
        const io = await this.#openInside(idx);
        if ('file' in io) {
          if (io.st.isFile()) return { kind: 'file', entry: makeEntry(rel, idx, io.st), file: io.file };
          await io.file.close();
        } else if (io.status === 403) return io; // an index.html we may not read: not a listing instead
      }
      return this.#listing ? { kind: 'listing', dir: real, urlPath: rel } : NOT_FOUND;
    } catch (err) {
      if (isResourceError(err)) return UNAVAILABLE;
      throw err;
    }
  }

  /**
   * Opens a listing's directory, verified inside the root as files are:
   * `path` names the open directory (/proc/self/fd/N) so reading it cannot
   * be redirected by a swap; close() when done. A Target on refusal.
   */
  async openDir(dir: string): Promise<{ path: string; close(): Promise<void> } | Refusal> {
    try {
      const o = await this.#openInside(dir, fsc.O_DIRECTORY);
      if (!('file' in o)) return o;
      const f = o.file;
      return { path: whereIs(f.fd) === undefined ? dir : `/proc/self/fd/${f.fd}`, close: () => f.close() };
    } catch (err) {
      if (isResourceError(err)) return UNAVAILABLE;
      throw err;
    }
  }
}

/**
 * Reads `size` bytes (fstat's size, just taken on the same descriptor) of an
 * open file from position 0: the bytes, or undefined when fewer came (the
 * file shrank while read).
 */
export async function readWhole(f: File, size: number): Promise<Buffer | undefined> {
  const buf = Buffer.allocUnsafe(size);
  const n = size === 0 ? 0 : await f.readAll(buf, { position: 0 });
  return n === size ? buf : undefined;
}
