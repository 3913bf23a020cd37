/**
 * The mock backend's in-memory file system: inodes (regular files,
 * directories, symbolic links), path resolution with Linux's errno rules,
 * and `struct statx` filling. No permission model: every operation runs as
 * if by root (as on most CI containers), so EACCES/EPERM for modes never
 * happen.
 *
 * `sys*` methods are the system-call models used by the backend (they return
 * a result or a negative errno); the rest are synchronous helpers for test
 * setup and assertions (they throw Node-style errors).
 */
import { constants as fsc } from 'node:fs';
import path from 'node:path';
import util from 'node:util';

import { E } from '../shared/errno.js';
import { Statx } from './statx.js';
import { Inode, type InodeType } from './inode.js';

/** A Node-style error for the synchronous mock.fs helpers (ENOENT, EISDIR ...). */
function fsError(errno: number, syscall: string, filePath: string): Error {
  const neg = errno > 0 ? -errno : errno;
  const entry = util.getSystemErrorMap().get(neg);
  const code = entry?.[0] ?? 'UNKNOWN';
  const err = new Error(`${code}: ${entry?.[1] ?? 'unknown error'}, ${syscall} '${filePath}' (mock fs)`) as Error & {
    code: string; errno: number; syscall: string; path: string;
  };
  err.code = code;
  err.errno = neg;
  err.syscall = syscall;
  err.path = filePath;
  return err;
}

export { Inode, type InodeType } from './inode.js';

/** What a lookup found: the directory holding the final component, its name, and the node (if any). */
interface Lookup {
  parent: Inode;
  name: string;
  node: Inode | undefined;
  /** The path ended with '/'. */
  slash: boolean;
}

/** What `mock.fs.stat()` returns. */
export interface MockFsStat {
  type: InodeType;
  size: number;
  /** S_IFMT bits | permission bits, as fs.Stats#mode. */
  mode: number;
  nlink: number;
  ino: number;
  mtimeMs: number;
}

export interface MockFsOptions {
  /** Directory relative paths resolve against; created on construction. Default process.cwd(). */
  cwd?: string;
  /** umask applied to modes given to open(O_CREAT)/mkdir through the ring. Default 0o022. */
  umask?: number;
  /** Owner reported by stat. Default 0 (root). */
  uid?: number;
  gid?: number;
  /** Writes that would grow a file beyond this fail with EFBIG (memory guard). Default 1 GiB. */
  maxFileSize?: number;
}

const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
const MAX_SYMLINKS = 40;
/** Mock device number (major 0, minor 0x4d 'M'). */
const DEV_MINOR = 0x4d;

export class MockFs {
  readonly #root: Inode;
  readonly #cwd: string;
  #cwdNode: Inode;
  readonly #umask: number;
  readonly #uid: number;
  readonly #gid: number;
  readonly #maxFileSize: number;
  readonly #nowMs: () => number;
  #nextIno = 1;

  /** @internal */
  constructor(nowMs: () => number, options: MockFsOptions = {}) {
    this.#nowMs = nowMs;
    this.#umask = options.umask ?? 0o022;
    this.#uid = options.uid ?? 0;
    this.#gid = options.gid ?? 0;
    this.#maxFileSize = options.maxFileSize ?? 2 ** 30;
    this.#root = this.#newNode('directory', 0o755);
    this.#root.parent = this.#root;
    this.#cwd = path.posix.resolve('/', options.cwd ?? process.cwd());
    this.mkdir('/tmp');
    this.mkdir(this.#cwd);
    this.#cwdNode = this.#mustLookup(this.#cwd, true, 'chdir').node!;
  }

  /** The directory relative paths are resolved against. */
  get cwd(): string {
    return this.#cwd;
  }

  // ---- helpers for tests (synchronous, throwing) -------------------------------------------

  /** Creates or replaces a file (and any missing parent directories). */
  writeFile(p: string, data: string | Uint8Array, options: { mode?: number } = {}): void {
    this.mkdir(path.posix.dirname(this.#abs(p)));
    const r = this.#lookup(p, true);
    if (typeof r === 'number') throw fsError(r, 'open', p);
    let node = r.node;
    if (node === undefined) {
      node = this.#newNode('file', options.mode ?? 0o644);
      this.#link(r.parent, r.name, node);
    } else if (node.type !== 'file') throw fsError(E.EISDIR, 'open', p);
    else if (options.mode !== undefined) node.perm = options.mode;
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    node.data = new Uint8Array(bytes);
    node.size = bytes.length;
    this.#touch(node, true);
  }

  /** Appends to a file (created if missing). */
  appendFile(p: string, data: string | Uint8Array): void {
    if (!this.exists(p)) return this.writeFile(p, data);
    const node = this.#mustLookup(p, true, 'open').node!;
    if (node.type !== 'file') throw fsError(E.EISDIR, 'open', p);
    this.sysWrite(node, [typeof data === 'string' ? Buffer.from(data) : data], node.size);
  }

  /** A file's bytes (or text with an encoding). */
  readFile(p: string): Buffer;
  readFile(p: string, encoding: BufferEncoding): string;
  readFile(p: string, encoding?: BufferEncoding): Buffer | string {
    const node = this.#mustLookup(p, true, 'open').node!;
    if (node.type !== 'file') throw fsError(E.EISDIR, 'read', p);
    const out = Buffer.alloc(node.size);
    out.set(node.data.subarray(0, Math.min(node.size, node.data.length)));
    return encoding ? out.toString(encoding) : out;
  }

  /** Creates a directory and its missing parents (no error if it exists). */
  mkdir(p: string, options: { mode?: number } = {}): void {
    let cur = this.#root;
    for (const c of this.#abs(p).split('/').filter((x) => x !== '')) {
      const child = this.#lookup(c, true, cur);
      if (typeof child === 'number') throw fsError(child, 'mkdir', p);
      if (child.node === undefined) {
        const d = this.#newNode('directory', options.mode ?? 0o755);
        this.#link(cur, c, d);
        cur = d;
      } else if (child.node.type !== 'directory') throw fsError(E.ENOTDIR, 'mkdir', p);
      else cur = child.node;
    }
  }

  /** Creates a symbolic link at `p` pointing to `target`. */
  symlink(target: string, p: string): void {
    const e = this.sysSymlink(target, p);
    if (e < 0) throw fsError(e, 'symlink', p);
  }

  /** A symbolic link's target. */
  readlink(p: string): string {
    const node = this.#mustLookup(p, false, 'readlink').node!;
    if (node.type !== 'symlink') throw fsError(E.EINVAL, 'readlink', p);
    return node.target;
  }

  /** Whether `p` exists (following symbolic links, as fs.existsSync). */
  exists(p: string): boolean {
    const r = this.#lookup(p, true);
    return typeof r !== 'number' && r.node !== undefined;
  }

  stat(p: string): MockFsStat {
    return this.#statOf(this.#mustLookup(p, true, 'stat').node!);
  }

  lstat(p: string): MockFsStat {
    return this.#statOf(this.#mustLookup(p, false, 'lstat').node!);
  }

  /** Names in a directory, sorted. */
  readdir(p: string): string[] {
    const node = this.#mustLookup(p, true, 'scandir').node!;
    if (node.type !== 'directory') throw fsError(E.ENOTDIR, 'scandir', p);
    return [...node.entries.keys()].sort();
  }

  /** Removes a file, link or (with `recursive`, non-empty) directory. */
  rm(p: string, options: { recursive?: boolean; force?: boolean } = {}): void {
    const r = this.#lookup(p, false);
    if (typeof r === 'number' || r.node === undefined) {
      if (options.force) return;
      throw fsError(typeof r === 'number' ? r : E.ENOENT, 'rm', p);
    }
    if (r.node === this.#root) throw fsError(E.EBUSY, 'rm', p);
    if (r.node.type === 'directory' && r.node.entries.size > 0 && !options.recursive) {
      throw fsError(E.ENOTEMPTY, 'rm', p);
    }
    this.#unlinkEntry(r.parent, r.name, r.node);
  }

  /**
   * Every path under `dir` (default '/'), sorted: directories end with '/',
   * symbolic links are shown as 'path -> target'.
   */
  list(dir = '/'): string[] {
    const start = this.#mustLookup(dir, true, 'scandir').node!;
    const out: string[] = [];
    const base = this.#abs(dir);
    const walk = (node: Inode, prefix: string): void => {
      for (const [name, child] of [...node.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const p = prefix === '/' ? `/${name}` : `${prefix}/${name}`;
        if (child.type === 'directory') {
          out.push(`${p}/`);
          walk(child, p);
        } else if (child.type === 'symlink') out.push(`${p} -> ${child.target}`);
        else out.push(p);
      }
    };
    if (start.type === 'directory') walk(start, base);
    return out;
  }

  // ---- system-call models (used by the backend) ---------------------------------------------

  /** @internal The absolute, normalised form of a path (for messages and fd listings). */
  display(p: string): string {
    return this.#abs(p);
  }

  /** @internal openat(AT_FDCWD, p, flags, mode): the inode or -errno. */
  sysOpen(p: string, flags: number, mode: number): Inode | number {
    const acc = flags & 3;
    const creat = (flags & fsc.O_CREAT) !== 0;
    const excl = (flags & fsc.O_EXCL) !== 0;
    const nofollow = (flags & fsc.O_NOFOLLOW) !== 0;
    if (acc === 3) return -E.EINVAL;
    const r = this.#lookup(p, !(creat && excl) && !nofollow);
    if (typeof r === 'number') return r;
    let node = r.node;
    if (node !== undefined) {
      if (creat && excl) return -E.EEXIST;
      if (node.type === 'symlink') return -E.ELOOP;
      if (node.type === 'directory') {
        if (acc !== fsc.O_RDONLY || creat) return -E.EISDIR;
      } else if ((flags & fsc.O_DIRECTORY) !== 0) return -E.ENOTDIR;
      if ((flags & fsc.O_TRUNC) !== 0 && node.type === 'file' && node.size !== 0) {
        this.#setSize(node, 0);
        this.#touch(node, true);
      }
      return node;
    }
    if (!creat) return -E.ENOENT;
    if (r.slash) return -E.EISDIR;
    node = this.#newNode('file', mode & ~this.#umask & 0o7777);
    this.#link(r.parent, r.name, node);
    return node;
  }

  /** @internal Reads into the views at `pos`; returns the byte count. */
  sysRead(node: Inode, views: Uint8Array[], pos: number): number {
    let done = 0;
    for (const v of views) {
      if (pos >= node.size) break;
      const n = Math.min(v.length, node.size - pos);
      const have = Math.max(0, Math.min(n, node.data.length - pos));
      if (have > 0) v.set(node.data.subarray(pos, pos + have));
      if (have < n) v.fill(0, have, n);
      pos += n;
      done += n;
      if (n < v.length) break;
    }
    return done;
  }

  /** @internal Writes the views at `pos`; returns the byte count or -EFBIG. */
  sysWrite(node: Inode, views: Uint8Array[], pos: number): number {
    let total = 0;
    for (const v of views) total += v.length;
    if (total === 0) return 0;
    if (pos + total > this.#maxFileSize) return -E.EFBIG;
    this.#reserve(node, pos + total);
    for (const v of views) {
      node.data.set(v, pos);
      pos += v.length;
    }
    if (pos > node.size) node.size = pos;
    this.#touch(node, true);
    return total;
  }

  /** @internal ftruncate. */
  sysTruncate(node: Inode, len: number): number {
    if (len > this.#maxFileSize) return -E.EFBIG;
    this.#setSize(node, len);
    this.#touch(node, true);
    return 0;
  }

  /** @internal fallocate (mode 0, FALLOC_FL_KEEP_SIZE 1, FALLOC_FL_PUNCH_HOLE 2 | KEEP_SIZE, ZERO_RANGE 0x10). */
  sysFallocate(node: Inode, mode: number, offset: number, len: number): number {
    if (len <= 0) return -E.EINVAL;
    const end = offset + len;
    if (end > this.#maxFileSize) return -E.EFBIG;
    const keep = (mode & 1) !== 0;
    if ((mode & 2) !== 0) {
      if (!keep) return -E.EOPNOTSUPP;
      const stop = Math.min(end, node.data.length);
      if (offset < stop) node.data.fill(0, offset, stop);
    } else if ((mode & 0x10) !== 0) {
      const stop = Math.min(end, node.data.length);
      if (offset < stop) node.data.fill(0, offset, stop);
      if (!keep && end > node.size) node.size = end;
    } else if (mode !== 0 && mode !== 1) {
      return -E.EOPNOTSUPP;
    } else if (!keep && end > node.size) {
      node.size = end;
    }
    this.#touch(node, true);
    return 0;
  }

  /** @internal The inode at `p` (stat / lstat), or -errno. */
  sysLookup(p: string, follow: boolean): Inode | number {
    const r = this.#lookup(p, follow);
    if (typeof r === 'number') return r;
    return r.node ?? -E.ENOENT;
  }

  /** @internal unlinkat (rmdir with `dir`). */
  sysUnlink(p: string, dir: boolean): number {
    const r = this.#lookup(p, false);
    if (typeof r === 'number') return r;
    const node = r.node;
    if (node === undefined) return -E.ENOENT;
    if (dir) {
      if (r.name === '.') return -E.EINVAL;
      if (r.name === '..') return -E.ENOTEMPTY;
      if (node.type !== 'directory') return -E.ENOTDIR;
      if (node === this.#root) return -E.EBUSY;
      if (node.entries.size > 0) return -E.ENOTEMPTY;
    } else if (node.type === 'directory') {
      return -E.EISDIR;
    }
    this.#unlinkEntry(r.parent, r.name, node);
    return 0;
  }

  /** @internal mkdirat. */
  sysMkdir(p: string, mode: number): number {
    const r = this.#lookup(p, false);
    if (typeof r === 'number') return r;
    if (r.node !== undefined) return -E.EEXIST;
    this.#link(r.parent, r.name, this.#newNode('directory', mode & ~this.#umask & 0o7777));
    return 0;
  }

  /** @internal renameat2. */
  sysRename(from: string, to: string, flags: number): number {
    if ((flags & RENAME_EXCHANGE) !== 0) return -E.EINVAL;
    const a = this.#lookup(from, false);
    if (typeof a === 'number') return a;
    if (a.node === undefined) return -E.ENOENT;
    const b = this.#lookup(to, false);
    if (typeof b === 'number') return b;
    if (a.name === '.' || a.name === '..' || b.name === '.' || b.name === '..') return -E.EBUSY;
    if ((flags & RENAME_NOREPLACE) !== 0 && b.node !== undefined) return -E.EEXIST;
    const node = a.node;
    if (b.node === node) return 0;
    if (node.type === 'directory') {
      if (b.node !== undefined && b.node.type !== 'directory') return -E.ENOTDIR;
      if (b.node !== undefined && b.node.entries.size > 0) return -E.ENOTEMPTY;
      for (let d = b.parent; ; d = d.parent!) {
        if (d === node) return -E.EINVAL; // into its own subtree
        if (d === this.#root) break;
      }
    } else if (b.node !== undefined && b.node.type === 'directory') {
      return -E.EISDIR;
    }
    if (b.node !== undefined) this.#unlinkEntry(b.parent, b.name, b.node);
    a.parent.entries.delete(a.name);
    b.parent.entries.set(b.name, node);
    if (node.type === 'directory') {
      a.parent.nlink--;
      b.parent.nlink++;
      node.parent = b.parent;
    }
    const now = this.#nowNs();
    a.parent.mtimeNs = a.parent.ctimeNs = now;
    b.parent.mtimeNs = b.parent.ctimeNs = now;
    node.ctimeNs = now;
    return 0;
  }

  /** @internal symlinkat. */
  sysSymlink(target: string, p: string): number {
    if (target === '') return -E.ENOENT;
    const r = this.#lookup(p, false);
    if (typeof r === 'number') return r;
    if (r.node !== undefined) return -E.EEXIST;
    const node = this.#newNode('symlink', 0o777);
    node.target = target;
    this.#link(r.parent, r.name, node);
    return 0;
  }

  /** @internal linkat (no AT_SYMLINK_FOLLOW: links a symbolic link itself). */
  sysLink(from: string, to: string): number {
    const a = this.#lookup(from, false);
    if (typeof a === 'number') return a;
    if (a.node === undefined) return -E.ENOENT;
    if (a.node.type === 'directory') return -E.EPERM;
    const b = this.#lookup(to, false);
    if (typeof b === 'number') return b;
    if (b.node !== undefined) return -E.EEXIST;
    if (b.slash) return -E.ENOENT;
    b.parent.entries.set(b.name, a.node);
    a.node.nlink++;
    const now = this.#nowNs();
    a.node.ctimeNs = now;
    b.parent.mtimeNs = b.parent.ctimeNs = now;
    return 0;
  }

  /** @internal Fills a `struct statx` (little-endian) for `node`. */
  fillStatx(node: Inode, out: Uint8Array): void {
    const b = Buffer.from(out.buffer, out.byteOffset, Math.min(out.byteLength, Statx.BYTES));
    b.fill(0);
    const size = node.statSize;
    b.writeUInt32LE(0xfff, Statx.MASK); // STATX_BASIC_STATS | STATX_BTIME
    b.writeUInt32LE(4096, Statx.BLKSIZE);
    b.writeUInt32LE(node.nlink, Statx.NLINK);
    b.writeUInt32LE(node.uid, Statx.UID);
    b.writeUInt32LE(node.gid, Statx.GID);
    b.writeUInt16LE(node.mode, Statx.MODE);
    b.writeBigUInt64LE(BigInt(node.ino), Statx.INO);
    b.writeBigUInt64LE(BigInt(size), Statx.SIZE);
    const stored = node.type === 'file' ? Math.min(node.size, node.data.length) : node.type === 'directory' ? 4096 : 0;
    b.writeBigUInt64LE(BigInt(Math.ceil(stored / 4096) * 8), Statx.BLOCKS); // 512-byte blocks
    const ts = (off: number, ns: bigint): void => {
      b.writeBigInt64LE(ns / 1_000_000_000n, off + Statx.TV_SEC);
      b.writeUInt32LE(Number(ns % 1_000_000_000n), off + Statx.TV_NSEC);
    };
    ts(Statx.ATIME, node.atimeNs);
    ts(Statx.BTIME, node.btimeNs);
    ts(Statx.CTIME, node.ctimeNs);
    ts(Statx.MTIME, node.mtimeNs);
    b.writeUInt32LE(0, Statx.DEV_MAJOR);
    b.writeUInt32LE(DEV_MINOR, Statx.DEV_MINOR);
  }

  // ---- internals ----------------------------------------------------------------------------------

  #abs(p: string): string {
    return path.posix.resolve(this.#cwd, p);
  }

  #nowNs(): bigint {
    return BigInt(Math.round(this.#nowMs() * 1000)) * 1000n;
  }

  #newNode(type: InodeType, perm: number): Inode {
    return new Inode(this.#nextIno++, type, perm, this.#uid, this.#gid, this.#nowNs());
  }

  #link(dir: Inode, name: string, node: Inode): void {
    dir.entries.set(name, node);
    if (node.type === 'directory') {
      node.parent = dir;
      dir.nlink++;
    }
    const now = this.#nowNs();
    dir.mtimeNs = dir.ctimeNs = now;
  }

  #unlinkEntry(dir: Inode, name: string, node: Inode): void {
    dir.entries.delete(name);
    if (node.type === 'directory') {
      dir.nlink--;
      node.nlink = 0;
      // Recursive removal (rm helper): the subtree goes with it.
      node.entries.clear();
    } else {
      node.nlink--;
    }
    const now = this.#nowNs();
    dir.mtimeNs = dir.ctimeNs = now;
    node.ctimeNs = now;
  }

  #touch(node: Inode, modified: boolean): void {
    const now = this.#nowNs();
    if (modified) node.mtimeNs = now;
    node.ctimeNs = now;
  }

  #reserve(node: Inode, end: number): void {
    if (end <= node.data.length) return;
    const cap = Math.max(end, Math.min(node.data.length * 2, this.#maxFileSize), 64);
    const next = new Uint8Array(cap);
    next.set(node.data.subarray(0, Math.min(node.size, node.data.length)));
    node.data = next;
  }

  #setSize(node: Inode, len: number): void {
    if (len < node.size && len < node.data.length) node.data.fill(0, len, Math.min(node.size, node.data.length));
    node.size = len;
  }

  #statOf(node: Inode): MockFsStat {
    return {
      type: node.type, size: node.statSize, mode: node.mode, nlink: node.nlink, ino: node.ino,
      mtimeMs: Number(node.mtimeNs / 1000n) / 1000,
    };
  }

  #mustLookup(p: string, follow: boolean, syscall: string): Lookup {
    const r = this.#lookup(p, follow);
    if (typeof r === 'number') throw fsError(r, syscall, p);
    if (r.node === undefined) throw fsError(E.ENOENT, syscall, p);
    return r;
  }

  #lookup(p: string, follow: boolean, base?: Inode): Lookup | number {
    return this.#walk(base ?? this.#cwdNode ?? this.#root, p, follow, { n: 0 });
  }

  #walk(start: Inode, p: string, follow: boolean, links: { n: number }): Lookup | number {
    if (p === '') return -E.ENOENT;
    let cur = p.startsWith('/') ? this.#root : start;
    const slash = p.length > 1 && p.endsWith('/');
    const comps = p.split('/').filter((c) => c !== '');
    if (comps.length === 0) return { parent: cur, name: '.', node: cur, slash };
    for (let i = 0; i < comps.length; i++) {
      const c = comps[i]!;
      const last = i === comps.length - 1;
      if (cur.type !== 'directory') return -E.ENOTDIR;
      if (c === '.' || c === '..') {
        const next = c === '.' ? cur : cur.parent!;
        if (last) return { parent: next.parent!, name: c, node: next, slash };
        cur = next;
        continue;
      }
      if (Buffer.byteLength(c) > 255) return -E.ENAMETOOLONG;
      const child = cur.entries.get(c);
      if (last) {
        if (child !== undefined && child.type === 'symlink' && (follow || slash)) {
          if (++links.n > MAX_SYMLINKS) return -E.ELOOP;
          const r = this.#walk(cur, child.target, true, links);
          if (typeof r === 'number') return r;
          if (slash && r.node !== undefined && r.node.type !== 'directory') return -E.ENOTDIR;
          return { ...r, slash: slash || r.slash };
        }
        if (slash && child !== undefined && child.type !== 'directory') return -E.ENOTDIR;
        return { parent: cur, name: c, node: child, slash };
      }
      if (child === undefined) return -E.ENOENT;
      if (child.type === 'symlink') {
        if (++links.n > MAX_SYMLINKS) return -E.ELOOP;
        const r = this.#walk(cur, child.target, true, links);
        if (typeof r === 'number') return r;
        if (r.node === undefined) return -E.ENOENT;
        if (r.node.type !== 'directory') return -E.ENOTDIR;
        cur = r.node;
      } else if (child.type !== 'directory') {
        return -E.ENOTDIR;
      } else {
        cur = child;
      }
    }
    return -E.ENOENT; // unreachable
  }
}
