/**
 * File operations on the ring: argument checking and result shaping.
 *
 * Each operation is a Ring method (added here, so the ring core knows nothing
 * about files) with a Promise form and a Node-style callback form, and the
 * common `signal` / `timeout` / `ref` options. Paths are passed to C as
 * NUL-terminated buffers pinned by the slot until the final CQE; buffers are
 * pinned the same way and bounds-checked again in C.
 */
import fs, { constants as fsc } from 'node:fs';
import path from 'node:path';

import { AbortError, invalidArgType, invalidArgValue, outOfRange } from '../errors.js';
import { DescFlag, DescOp } from '../backend/protocol.js';
import { ringInternals, type Ring } from '../ring/ring.js';
import { fixedRegionCount, fixedRegions } from '../buffer/registration.js';
import {
  checkPosition, checkSize, checkView, MAX_RW, parseMode, parseOpenFlags, splitArgs, toPathBuffer, viewBuffer, window,
} from './args.js';
import { IORING_OP, OP } from './table.js';
import { STATX_MASK, STATX_SIZE, type BigIntStats, type Stats } from './statx.js';
import { checkFd, checkOptions, checkUint32, type Callback, type OpOptions } from './validate.js';

export type PathLike = string | Buffer | URL;
export type OpenFlags = string | number;

export interface ReadOptions extends OpOptions {
  /** Where in `buffer` to start filling (bytes). Default 0. */
  offset?: number;
  /** How many bytes to read. Default: the rest of the buffer after `offset`. */
  length?: number;
  /** File position; `null`/`undefined`/-1: the current file position (which then advances). */
  position?: number | bigint | null;
}

export interface WriteOptions extends OpOptions {
  offset?: number;
  length?: number;
  position?: number | bigint | null;
  /** For string data. Default 'utf8'. */
  encoding?: BufferEncoding;
}

export interface VectorOptions extends OpOptions {
  position?: number | bigint | null;
}

export interface StatOptions extends OpOptions {
  bigint?: boolean;
  /** Default true: stat the target of a symbolic link. */
  followSymlinks?: boolean;
}

export interface MkdirOptions extends OpOptions {
  recursive?: boolean;
  mode?: number | string;
}

export interface RmdirOptions extends OpOptions {}

/**
 * What `ring.syncFileRange` does (sync_file_range(2)'s SYNC_FILE_RANGE_*
 * flags, by name). With none given: `write` (start writeback of the range).
 */
export interface SyncFileRangeOptions extends OpOptions {
  /** Wait for writeback already under way on the range before starting (SYNC_FILE_RANGE_WAIT_BEFORE). */
  waitBefore?: boolean;
  /** Start writeback of the range's dirty pages (SYNC_FILE_RANGE_WRITE). */
  write?: boolean;
  /** Wait until the range's writeback has completed (SYNC_FILE_RANGE_WAIT_AFTER). */
  waitAfter?: boolean;
}

export interface FallocateOptions extends OpOptions {
  /** fallocate(2) mode bits (FALLOC_FL_*). Default 0. */
  mode?: number;
}

export const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_REMOVEDIR = 0x200;
const AT_EMPTY_PATH = 0x1000;
const IORING_FSYNC_DATASYNC = 1;

export { checkPosition, checkView, checkWindow, parseMode, parseOpenFlags, toPathBuffer } from './args.js';

// ---- operations -----------------------------------------------------------------

type Cb<T> = Callback<T>;
type MaybeP<T> = Promise<T> | void;

export function open(this: Ring, p: PathLike, flags?: OpenFlags, mode?: number | string, a?: OpOptions | Cb<number>,
  b?: Cb<number>): MaybeP<number> {
  if (typeof flags === 'function') return open.call(this, p, undefined, undefined, flags as Cb<number>);
  if (typeof mode === 'function') return open.call(this, p, flags, undefined, mode as Cb<number>);
  const [pathBuf, shown] = toPathBuffer(p);
  const f = parseOpenFlags(flags);
  const m = parseMode(mode, 0o666);
  const [opts, cb] = splitArgs<number, OpOptions>(a, b);
  checkOptions(opts);
  return ringInternals().run<number>(this, OP.open!, DescOp.OPENAT, AT_FDCWD, f, m, opts, cb,
    { pin: pathBuf, ctx: { path: shown } });
}

/** RESOLVE_* flags of openat2(2) (linux/openat2.h), by name. */
export const RESOLVE = Object.freeze({
  RESOLVE_NO_XDEV: 0x01,
  RESOLVE_NO_MAGICLINKS: 0x02,
  RESOLVE_NO_SYMLINKS: 0x04,
  RESOLVE_BENEATH: 0x08,
  RESOLVE_IN_ROOT: 0x10,
});
const RESOLVE_ALL = 0x1f;
const O_TMPFILE = 0o20000000 | fsc.O_DIRECTORY;

/** How `ring.openat2` opens: struct open_how plus the directory it resolves from. */
export interface OpenHow {
  /** Open flags (Node's strings or O_* bits). Default 'r'. O_CLOEXEC is always added. */
  flags?: OpenFlags;
  /** File mode for O_CREAT / O_TMPFILE (default 0o666); refused without them, as the kernel does. */
  mode?: number | string;
  /** RESOLVE_* names (`['RESOLVE_BENEATH']`) or a numeric mask. Default: none. */
  resolve?: readonly (keyof typeof RESOLVE)[] | number;
  /** The directory `path` resolves from: an open directory fd, or AT_FDCWD (default). */
  dirfd?: number;
}

function parseResolve(r: unknown): number {
  if (r === undefined) return 0;
  if (typeof r === 'number') {
    checkUint32(r, 'how.resolve');
    if ((r & ~RESOLVE_ALL) !== 0) throw invalidArgValue('how.resolve', r, `has bits outside RESOLVE_* (0x${RESOLVE_ALL.toString(16)})`);
    return r;
  }
  if (!Array.isArray(r)) throw invalidArgType('how.resolve', 'an array of RESOLVE_* names or a number', r);
  let mask = 0;
  for (const name of r) {
    const bit = typeof name === 'string' ? (RESOLVE as Record<string, number>)[name] : undefined;
    if (bit === undefined) {
      throw invalidArgValue('how.resolve', name, `is not one of ${Object.keys(RESOLVE).join(', ')}`);
    }
    mask |= bit;
  }
  return mask;
}

/**
 * IORING_OP_OPENAT2: openat2(dirfd, path, { flags | O_CLOEXEC, mode, resolve }).
 * The kernel refuses a path that escapes under RESOLVE_BENEATH (EXDEV) or
 * crosses a symlink under RESOLVE_NO_SYMLINKS (ELOOP); resolves with the fd.
 */
export function openat2(this: Ring, p: PathLike, how?: OpenHow | Cb<number>, a?: OpOptions | Cb<number>,
  b?: Cb<number>): MaybeP<number> {
  if (typeof how === 'function') return openat2.call(this, p, undefined, undefined, how);
  if (how !== undefined && (how === null || typeof how !== 'object')) throw invalidArgType('how', 'of type object', how);
  const [pathBuf, shown] = toPathBuffer(p);
  const flags = parseOpenFlags(how?.flags);
  const creates = (flags & fsc.O_CREAT) !== 0 || (flags & O_TMPFILE) === O_TMPFILE;
  if (!creates && how?.mode !== undefined) {
    throw invalidArgValue('how.mode', how.mode, 'needs O_CREAT or O_TMPFILE in how.flags (openat2 refuses it otherwise)');
  }
  const mode = creates ? parseMode(how?.mode, 0o666) : 0;
  const resolve = parseResolve(how?.resolve);
  const dirfd = how?.dirfd ?? AT_FDCWD;
  if (dirfd !== AT_FDCWD) checkFd(dirfd, 'how.dirfd');
  const [opts, cb] = splitArgs<number, OpOptions>(a, b);
  checkOptions(opts);
  return ringInternals().run<number>(this, OP.openat2!, DescOp.OPENAT2, dirfd, flags, mode, opts, cb,
    { pin: pathBuf, arg2: resolve, ctx: { path: shown } });
}

// ---- registered resources (src/buffer/buffer-pool.ts and src/ops/file-table.ts set these up) ----

/** Descriptor flag bits for an fd that is an index into the ring's registered file table. */
export const FIXED_FILE = DescFlag.FIXED_FILE << 8;

/** The FILES_UPDATE descriptor's operation (file-table.ts issues it). */
export const OP_FILES_UPDATE = OP.unregisterFile!;

export function read(this: Ring, fd: number, buffer: ArrayBufferView, a?: ReadOptions | Cb<number>,
  b?: Cb<number>): MaybeP<number> {
  checkFd(fd);
  return readOn(this, fd, 0, buffer, a, b);
}

/**
 * read with the descriptor flags `fileFlag` (0, or FIXED_FILE with `fd` an
 * index into the registered file table). For File and ring.read.
 */
export function readOn(ring: Ring, fd: number, fileFlag: number, buffer: ArrayBufferView,
  a: ReadOptions | Cb<number> | undefined, b: Cb<number> | undefined): MaybeP<number> {
  const ab = viewBuffer(buffer, 'buffer');
  const [opts, cb] = splitArgs<number, ReadOptions>(a, b);
  checkOptions(opts);
  const [offset, length] = window(buffer, opts);
  const position = checkPosition(opts?.position, 'options.position');
  let desc: number = DescOp.READ;
  const region = fixedRegionCount.value === 0 ? undefined : fixedRegions.get(ab);
  if (region !== undefined && region.ring === ring) {
    desc = DescOp.READ_FIXED;
    region.reads++;
  }
  return ringInternals().run<number>(ring, OP.read!, desc | fileFlag, fd, 0, 0, opts, cb,
    { pin: buffer, position, offset, length });
}

export function write(this: Ring, fd: number, data: ArrayBufferView | string, a?: WriteOptions | Cb<number>,
  b?: Cb<number>): MaybeP<number> {
  checkFd(fd);
  return writeOn(this, fd, 0, data, a, b);
}

/** write with the descriptor flags `fileFlag` (see readOn). */
export function writeOn(ring: Ring, fd: number, fileFlag: number, data: ArrayBufferView | string,
  a: WriteOptions | Cb<number> | undefined, b: Cb<number> | undefined): MaybeP<number> {
  const [opts, cb] = splitArgs<number, WriteOptions>(a, b);
  checkOptions(opts);
  let view: ArrayBufferView;
  if (typeof data === 'string') {
    if (opts?.encoding !== undefined && !Buffer.isEncoding(opts.encoding)) {
      throw invalidArgValue('options.encoding', opts.encoding, 'is not a supported encoding');
    }
    view = Buffer.from(data, opts?.encoding ?? 'utf8');
  } else {
    checkView(data, 'data');
    view = data;
  }
  const [offset, length] = window(view, opts);
  const position = checkPosition(opts?.position, 'options.position');
  let desc: number = DescOp.WRITE;
  const region = fixedRegionCount.value === 0 ? undefined : fixedRegions.get(view.buffer);
  if (region !== undefined && region.ring === ring) {
    desc = DescOp.WRITE_FIXED;
    region.writes++;
  }
  return ringInternals().run<number>(ring, OP.write!, desc | fileFlag, fd, 0, 0, opts, cb,
    { pin: view, position, offset, length });
}

/** readv / writev (desc may carry FIXED_FILE). */
export function vectored(ring: Ring, op: number, desc: number, fd: number, buffers: readonly ArrayBufferView[],
  a: VectorOptions | Cb<number> | undefined, b: Cb<number> | undefined): MaybeP<number> {
  checkFd(fd);
  if (!Array.isArray(buffers)) throw invalidArgType('buffers', 'an Array of ArrayBufferView', buffers);
  if (buffers.length === 0 || buffers.length > 1024) throw outOfRange('buffers.length', '>= 1 && <= 1024', buffers.length);
  for (let i = 0; i < buffers.length; i++) checkView(buffers[i], `buffers[${i}]`);
  const [opts, cb] = splitArgs<number, VectorOptions>(a, b);
  checkOptions(opts);
  const position = checkPosition(opts?.position, 'options.position');
  // A private copy: the caller may mutate their array while the kernel reads ours.
  return ringInternals().run<number>(ring, op, desc, fd, 0, 0, opts, cb, { pin: buffers.slice(), position });
}

export function simpleFd(ring: Ring, op: number, desc: number, fd: number, arg0: number, a: OpOptions | Cb<void> | undefined,
  b: Cb<void> | undefined, extra?: { position?: number; offset?: number }): MaybeP<void> {
  checkFd(fd);
  const [opts, cb] = splitArgs<void, OpOptions>(a, b);
  checkOptions(opts);
  return ringInternals().run<void>(ring, op, desc, fd, arg0, 0, opts, cb, extra ?? {});
}

export function statx(this: Ring, target: PathLike | number, a?: StatOptions | Cb<Stats | BigIntStats>,
  b?: Cb<Stats | BigIntStats>): MaybeP<Stats | BigIntStats> {
  const [opts, cb] = splitArgs<Stats | BigIntStats, StatOptions>(a, b);
  checkOptions(opts);
  if (opts?.bigint !== undefined && typeof opts.bigint !== 'boolean') {
    throw invalidArgType('options.bigint', 'of type boolean', opts.bigint);
  }
  if (opts?.followSymlinks !== undefined && typeof opts.followSymlinks !== 'boolean') {
    throw invalidArgType('options.followSymlinks', 'of type boolean', opts.followSymlinks);
  }
  const out = Buffer.alloc(STATX_SIZE);
  const bigint = opts?.bigint === true;
  if (typeof target === 'number') {
    checkFd(target, 'fd');
    return ringInternals().run(this, OP.fstat!, DescOp.STATX, target, AT_EMPTY_PATH, STATX_MASK, opts, cb,
      { pin: [Buffer.from([0]), out, bigint] });
  }
  const [pathBuf, shown] = toPathBuffer(target);
  const follow = opts?.followSymlinks !== false;
  return ringInternals().run(this, follow ? OP.statx! : OP.lstat!, DescOp.STATX, AT_FDCWD,
    follow ? 0 : AT_SYMLINK_NOFOLLOW, STATX_MASK, opts, cb, { pin: [pathBuf, out, bigint], ctx: { path: shown } });
}

function pathOp(ring: Ring, op: number, desc: DescOp, p: PathLike, arg0: number, arg1: number,
  a: OpOptions | Cb<void> | undefined, b: Cb<void> | undefined): MaybeP<void> {
  const [pathBuf, shown] = toPathBuffer(p);
  const [opts, cb] = splitArgs<void, OpOptions>(a, b);
  checkOptions(opts);
  return ringInternals().run<void>(ring, op, desc, AT_FDCWD, arg0, arg1, opts, cb, { pin: pathBuf, ctx: { path: shown } });
}

function twoPathOp(ring: Ring, op: number, desc: DescOp, p1: PathLike, p2: PathLike, fd: number, arg0: number,
  arg1: number, a: OpOptions | Cb<void> | undefined, b: Cb<void> | undefined, names: [string, string]): MaybeP<void> {
  const [b1, s1] = toPathBuffer(p1, names[0]);
  const [b2, s2] = toPathBuffer(p2, names[1]);
  const [opts, cb] = splitArgs<void, OpOptions>(a, b);
  checkOptions(opts);
  return ringInternals().run<void>(ring, op, desc, fd, arg0, arg1, opts, cb,
    { pin: [b1, b2], ctx: { path: s1, dest: s2 } });
}

async function mkdirRecursive(ring: Ring, target: string, mode: number, opts: OpOptions | undefined):
  Promise<string | undefined> {
  // Paths keep the form they were given (relative stays relative), as fs.mkdir.
  const mkdirOne = (dir: string): Promise<string | undefined> =>
    ring.mkdir(dir, { ...opts, mode, recursive: false }) as Promise<string | undefined>;
  const missing: string[] = [];
  let cur = target;
  let first: string | undefined;
  // Walk up until a directory exists or could be created.
  for (;;) {
    try {
      await mkdirOne(cur);
      first = cur;
      break;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'EEXIST') {
        const st = await (ring.statx(cur, opts) as Promise<Stats>);
        if (!st.isDirectory()) throw err;
        if (cur === target) return undefined;
        break;
      }
      if (code !== 'ENOENT' || path.dirname(cur) === cur) throw err;
      missing.push(cur);
      cur = path.dirname(cur);
    }
  }
  // Create downwards; a directory that appeared meanwhile (a concurrent
  // mkdir) is not ours: the first one this call created is reported.
  for (let i = missing.length - 1; i >= 0; i--) {
    const dir = missing[i]!;
    try {
      await mkdirOne(dir);
      first ??= dir;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      const st = await (ring.statx(dir, opts) as Promise<Stats>);
      if (!st.isDirectory()) throw err;
    }
  }
  return first;
}

export function mkdir(this: Ring, p: PathLike, a?: MkdirOptions | number | Cb<string | undefined>,
  b?: Cb<string | undefined>): MaybeP<string | undefined> {
  if (typeof a === 'number' || typeof a === 'string') a = { mode: a };
  const [opts, cb] = splitArgs<string | undefined, MkdirOptions>(a, b);
  checkOptions(opts);
  const mode = parseMode(opts?.mode, 0o777);
  if (opts?.recursive !== undefined && typeof opts.recursive !== 'boolean') {
    throw invalidArgType('options.recursive', 'of type boolean', opts.recursive);
  }
  if (opts?.recursive === true) {
    const [, shown] = toPathBuffer(p);
    const { signal, timeout, ref } = opts;
    const common: OpOptions = { signal, timeout, ref };
    const pr = mkdirRecursive(this, shown, mode, common);
    if (cb === undefined) return pr;
    pr.then((first) => cb(null, first), (e: Error) => cb(e));
    return;
  }
  return pathOp(this, OP.mkdir!, DescOp.MKDIRAT, p, 0, mode, opts, cb as Cb<void> | undefined) as MaybeP<undefined>;
}

export function ftruncate(this: Ring, fd: number, len?: number | OpOptions | Cb<void>, a?: OpOptions | Cb<void>,
  b?: Cb<void>): MaybeP<void> {
  if (typeof len === 'function' || (typeof len === 'object' && len !== null)) {
    return ftruncate.call(this, fd, 0, len as OpOptions | Cb<void>, a as Cb<void> | undefined);
  }
  checkFd(fd);
  const length = len === undefined ? 0 : checkSize(len, 'len');
  if (this.supports(IORING_OP.FTRUNCATE)) {
    return simpleFd(this, OP.ftruncate!, DescOp.FTRUNCATE, fd, 0, a, b, { position: length });
  }
  // Kernels before 6.9 have no IORING_OP_FTRUNCATE: libuv's thread pool, never the JS thread.
  const [opts, cb] = splitArgs<void, OpOptions>(a, b);
  checkOptions(opts);
  const run = (done: (e: Error | null) => void): void => {
    if (opts?.signal?.aborted) {
      process.nextTick(done, new AbortError(undefined, { cause: opts.signal.reason }));
      return;
    }
    fs.ftruncate(fd, length, (e) => done(e));
  };
  if (cb !== undefined) {
    run((e) => cb(e));
    return;
  }
  return new Promise<void>((resolve, reject) => run((e) => (e ? reject(e) : resolve())));
}

// ---- Ring method types (src/ops/methods.ts attaches the functions) ---------------------------------------------------------------

declare module '../ring/ring.js' {
  interface Ring {
    /** openat(AT_FDCWD, path, flags | O_CLOEXEC, mode): resolves with the new fd. */
    open(path: PathLike, flags?: OpenFlags, mode?: number | string, options?: OpOptions): Promise<number>;
    open(path: PathLike, flags: OpenFlags | undefined, mode: number | string | undefined,
      options: OpOptions | undefined, callback: Callback<number>): void;
    open(path: PathLike, callback: Callback<number>): void;
    open(path: PathLike, flags: OpenFlags, callback: Callback<number>): void;
    /**
     * IORING_OP_OPENAT2 (Linux 5.6+): opens `path` relative to `how.dirfd`
     * with RESOLVE_* restrictions; resolves with the new fd (O_CLOEXEC).
     */
    openat2(path: PathLike, how?: OpenHow, options?: OpOptions): Promise<number>;
    openat2(path: PathLike, how: OpenHow | undefined, options: OpOptions | undefined, callback: Callback<number>): void;
    openat2(path: PathLike, callback: Callback<number>): void;
    /** Reads into `buffer`; resolves with the number of bytes read (0 at end of file). */
    read(fd: number, buffer: ArrayBufferView, options?: ReadOptions): Promise<number>;
    read(fd: number, buffer: ArrayBufferView, callback: Callback<number>): void;
    read(fd: number, buffer: ArrayBufferView, options: ReadOptions | undefined, callback: Callback<number>): void;
    /** Writes `data`; resolves with the number of bytes written (may be short). */
    write(fd: number, data: ArrayBufferView | string, options?: WriteOptions): Promise<number>;
    write(fd: number, data: ArrayBufferView | string, callback: Callback<number>): void;
    write(fd: number, data: ArrayBufferView | string, options: WriteOptions | undefined, callback: Callback<number>): void;
    readv(fd: number, buffers: readonly ArrayBufferView[], options?: VectorOptions): Promise<number>;
    readv(fd: number, buffers: readonly ArrayBufferView[], options: VectorOptions | undefined,
      callback: Callback<number>): void;
    writev(fd: number, buffers: readonly ArrayBufferView[], options?: VectorOptions): Promise<number>;
    writev(fd: number, buffers: readonly ArrayBufferView[], options: VectorOptions | undefined,
      callback: Callback<number>): void;
    fsync(fd: number, options?: OpOptions): Promise<void>;
    fsync(fd: number, options: OpOptions | undefined, callback: Callback<void>): void;
    fdatasync(fd: number, options?: OpOptions): Promise<void>;
    fdatasync(fd: number, options: OpOptions | undefined, callback: Callback<void>): void;
    fallocate(fd: number, offset: number, length: number, options?: FallocateOptions): Promise<void>;
    fallocate(fd: number, offset: number, length: number, options: FallocateOptions | undefined,
      callback: Callback<void>): void;
    /** posix_fadvise (POSIX_FADV_* advice). */
    /**
     * IORING_OP_SYNC_FILE_RANGE (Linux 5.2+): sync_file_range(2) on
     * [offset, offset + length) of `fd` (length 0: to the end of the file;
     * at most 2^32 - 1 bytes per call). Not a durability guarantee (no
     * metadata, no disk cache flush): use fdatasync for that. On the
     * portable backend it is an fdatasync of the whole file.
     */
    syncFileRange(fd: number, offset: number, length: number, options?: SyncFileRangeOptions): Promise<void>;
    syncFileRange(fd: number, offset: number, length: number, options: SyncFileRangeOptions | undefined,
      callback: Callback<void>): void;
    fadvise(fd: number, offset: number, length: number, advice: number, options?: OpOptions): Promise<void>;
    fadvise(fd: number, offset: number, length: number, advice: number, options: OpOptions | undefined,
      callback: Callback<void>): void;
    /** IORING_OP_FTRUNCATE (Linux 6.9+), else libuv's thread pool. */
    ftruncate(fd: number, len?: number, options?: OpOptions): Promise<void>;
    ftruncate(fd: number, len: number | undefined, options: OpOptions | undefined, callback: Callback<void>): void;
    /** statx: a path (following symlinks unless `followSymlinks: false`) or an fd. */
    statx(target: PathLike | number, options: StatOptions & { bigint: true }): Promise<BigIntStats>;
    statx(target: PathLike | number, options?: StatOptions): Promise<Stats>;
    statx(target: PathLike | number, options: StatOptions | undefined, callback: Callback<Stats | BigIntStats>): void;
    unlink(path: PathLike, options?: OpOptions): Promise<void>;
    unlink(path: PathLike, options: OpOptions | undefined, callback: Callback<void>): void;
    rmdir(path: PathLike, options?: RmdirOptions): Promise<void>;
    rmdir(path: PathLike, options: RmdirOptions | undefined, callback: Callback<void>): void;
    /** As fs.mkdir: with `recursive`, resolves with the first directory created (or undefined). */
    mkdir(path: PathLike, options?: MkdirOptions | number): Promise<string | undefined>;
    mkdir(path: PathLike, options: MkdirOptions | number | undefined, callback: Callback<string | undefined>): void;
    rename(oldPath: PathLike, newPath: PathLike, options?: OpOptions): Promise<void>;
    rename(oldPath: PathLike, newPath: PathLike, options: OpOptions | undefined, callback: Callback<void>): void;
    symlink(target: PathLike, path: PathLike, options?: OpOptions): Promise<void>;
    symlink(target: PathLike, path: PathLike, options: OpOptions | undefined, callback: Callback<void>): void;
    link(existingPath: PathLike, newPath: PathLike, options?: OpOptions): Promise<void>;
    link(existingPath: PathLike, newPath: PathLike, options: OpOptions | undefined, callback: Callback<void>): void;
    /** splice(2) between two fds (one a pipe); offsets -1/null for pipes. Resolves with bytes moved. */
    splice(fdIn: number, offIn: number | null, fdOut: number, offOut: number | null, length: number,
      options?: OpOptions & { flags?: number }): Promise<number>;
    splice(fdIn: number, offIn: number | null, fdOut: number, offOut: number | null, length: number,
      options: (OpOptions & { flags?: number }) | undefined, callback: Callback<number>): void;
  }
}

type AnyCb = Cb<never>;

export function readv(this: Ring, fd: number, bufs: readonly ArrayBufferView[], a?: VectorOptions | Cb<number>,
  b?: Cb<number>) {
  return vectored(this, OP.readv!, DescOp.READV, fd, bufs, a, b);
}
export function writev(this: Ring, fd: number, bufs: readonly ArrayBufferView[], a?: VectorOptions | Cb<number>,
  b?: Cb<number>) {
  return vectored(this, OP.writev!, DescOp.WRITEV, fd, bufs, a, b);
}
export function fsync(this: Ring, fd: number, a?: OpOptions | Cb<void>, b?: Cb<void>) {
  return simpleFd(this, OP.fsync!, DescOp.FSYNC, fd, 0, a, b);
}
export function fdatasync(this: Ring, fd: number, a?: OpOptions | Cb<void>, b?: Cb<void>) {
  return simpleFd(this, OP.fdatasync!, DescOp.FSYNC, fd, IORING_FSYNC_DATASYNC, a, b);
}
export function fallocate(this: Ring, fd: number, offset: number, length: number,
  a?: FallocateOptions | Cb<void>, b?: Cb<void>) {
  const off = checkSize(offset, 'offset');
  const len = checkSize(length, 'length');
  const mode = typeof a === 'object' && a?.mode !== undefined ? a.mode : 0;
  checkUint32(mode, 'options.mode');
  return simpleFd(this, OP.fallocate!, DescOp.FALLOCATE, fd, mode, a, b, { position: off, offset: len });
}
const SYNC_FILE_RANGE_WAIT_BEFORE = 1;
const SYNC_FILE_RANGE_WRITE = 2;
const SYNC_FILE_RANGE_WAIT_AFTER = 4;
export function syncFileRange(this: Ring, fd: number, offset: number, length: number,
  a?: SyncFileRangeOptions | Cb<void>, b?: Cb<void>) {
  const off = checkSize(offset, 'offset');
  const len = checkSize(length, 'length', 0xffffffff);
  let flags = 0;
  if (typeof a === 'object' && a !== null) {
    const bits: [keyof SyncFileRangeOptions, number][] = [
      ['waitBefore', SYNC_FILE_RANGE_WAIT_BEFORE], ['write', SYNC_FILE_RANGE_WRITE], ['waitAfter', SYNC_FILE_RANGE_WAIT_AFTER],
    ];
    for (const [key, bit] of bits) {
      const v = a[key];
      if (v !== undefined && typeof v !== 'boolean') throw invalidArgType(`options.${key}`, 'of type boolean', v);
      if (v === true) flags |= bit;
    }
    if (a.waitBefore === undefined && a.write === undefined && a.waitAfter === undefined) flags = SYNC_FILE_RANGE_WRITE;
  } else flags = SYNC_FILE_RANGE_WRITE;
  return simpleFd(this, OP.syncFileRange!, DescOp.SYNC_FILE_RANGE, fd, flags, a, b, { position: off, offset: len });
}
export function fadvise(this: Ring, fd: number, offset: number, length: number, advice: number,
  a?: OpOptions | Cb<void>, b?: Cb<void>) {
  const off = checkSize(offset, 'offset');
  const len = checkSize(length, 'length', 0xffffffff);
  checkUint32(advice, 'advice');
  if (advice > 5) throw outOfRange('advice', '0..5 (POSIX_FADV_*)', advice);
  return simpleFd(this, OP.fadvise!, DescOp.FADVISE, fd, advice, a, b, { position: off, offset: len });
}
export function unlink(this: Ring, p: PathLike, a?: OpOptions | Cb<void>, b?: Cb<void>) {
  return pathOp(this, OP.unlink!, DescOp.UNLINKAT, p, 0, 0, a, b);
}
export function rmdir(this: Ring, p: PathLike, a?: OpOptions | Cb<void>, b?: Cb<void>) {
  return pathOp(this, OP.rmdir!, DescOp.UNLINKAT, p, AT_REMOVEDIR, 0, a, b);
}
export function rename(this: Ring, o: PathLike, n: PathLike, a?: OpOptions | Cb<void>, b?: Cb<void>) {
  return twoPathOp(this, OP.rename!, DescOp.RENAMEAT, o, n, AT_FDCWD, AT_FDCWD, 0, a, b, ['oldPath', 'newPath']);
}
export function symlink(this: Ring, t: PathLike, p: PathLike, a?: OpOptions | Cb<void>, b?: Cb<void>) {
  return twoPathOp(this, OP.symlink!, DescOp.SYMLINKAT, t, p, AT_FDCWD, 0, 0, a, b, ['target', 'path']);
}
export function link(this: Ring, o: PathLike, n: PathLike, a?: OpOptions | Cb<void>, b?: Cb<void>) {
  return twoPathOp(this, OP.link!, DescOp.LINKAT, o, n, AT_FDCWD, AT_FDCWD, 0, a, b, ['existingPath', 'newPath']);
}
export function splice(this: Ring, fdIn: number, offIn: number | null, fdOut: number, offOut: number | null,
  length: number, a?: (OpOptions & { flags?: number }) | AnyCb, b?: Cb<number>) {
  checkFd(fdIn, 'fdIn');
  checkFd(fdOut, 'fdOut');
  const inPos = checkPosition(offIn, 'offIn');
  const outPos = checkPosition(offOut, 'offOut');
  const len = checkSize(length, 'length', MAX_RW);
  const [opts, cb] = splitArgs<number, OpOptions & { flags?: number }>(a as OpOptions | Cb<number> | undefined, b);
  checkOptions(opts);
  const flags = opts?.flags ?? 0;
  checkUint32(flags, 'options.flags');
  return ringInternals().run<number>(this, OP.splice!, DescOp.SPLICE, fdIn, fdOut, flags, opts, cb,
    { position: inPos, offset: outPos, length: len });
}
