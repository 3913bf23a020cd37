/**
 * File operations of the portable backend on real fds, through node:fs's
 * callback API (libuv's thread pool): one fs call per record, its callback
 * posts the CQE. A file operation handed to libuv cannot be stopped: it is
 * marked uncancellable (a cancel or a linked deadline answers -EALREADY, as
 * io_uring does for work already running), so the pinned memory is never
 * written after the operation settled.
 */
import fs from 'node:fs';

import { DescOp, Rec } from '../protocol.js';
import { E, errnoOf, type Op } from './engine.js';

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_REMOVEDIR = 0x200;
const AT_EMPTY_PATH = 0x1000;
const FALLOC_FL_KEEP_SIZE = 1;

/** The NUL-terminated path in a pinned view (bytes before the NUL), or undefined. */
export function pathOf(pin: unknown): Buffer | undefined {
  if (!ArrayBuffer.isView(pin)) return undefined;
  const bytes = Buffer.from(pin.buffer, pin.byteOffset, pin.byteLength);
  const nul = bytes.indexOf(0);
  if (nul < 0) return undefined;
  return bytes.subarray(0, nul);
}

function isOffset(d: number, allowCurrent: boolean): boolean {
  if (allowCurrent && d === -1) return true;
  return d >= 0 && d <= Number.MAX_SAFE_INTEGER && Math.floor(d) === d;
}

/**
 * A view's bytes at [offset, offset + length), or undefined when outside the
 * view (C's EFAULT check); the same memory, never a copy. The whole of a
 * Uint8Array (a Buffer included) is the pin itself: no object per operation.
 * Otherwise a Buffer over the window, which node:net's write() takes as it
 * is (a plain Uint8Array would be wrapped in one more object there).
 */
export function windowOf(pin: unknown, offset: number, length: number): Uint8Array | undefined {
  if (!ArrayBuffer.isView(pin) || !isOffset(offset, false) || offset + length > pin.byteLength) return undefined;
  if (offset === 0 && length === pin.byteLength && pin instanceof Uint8Array) return pin;
  return Buffer.from(pin.buffer, pin.byteOffset + offset, length);
}

/** windowOf over the record's own OFFSET and LENGTH words (the read/write/send/recv window). */
export function recordWindow(pin: unknown, stage: Int32Array, f64: Float64Array, base: number): Uint8Array | undefined {
  return windowOf(pin, f64[(base + Rec.OFFSET) >> 1]!, stage[base + Rec.LENGTH]! >>> 0);
}

/** Writes fs.BigIntStats into the `struct statx` layout parseStatx reads (src/fs/stats.ts). */
export function fillStatx(s: fs.BigIntStats, out: Uint8Array): void {
  const b = Buffer.from(out.buffer, out.byteOffset, 256);
  b.fill(0);
  b.writeUInt32LE(0xfff, 0); // STATX_BASIC_STATS | STATX_BTIME
  b.writeUInt32LE(Number(s.blksize), 4);
  b.writeUInt32LE(Number(s.nlink), 16);
  b.writeUInt32LE(Number(s.uid), 20);
  b.writeUInt32LE(Number(s.gid), 24);
  b.writeUInt16LE(Number(s.mode) & 0xffff, 28);
  b.writeBigUInt64LE(s.ino, 32);
  b.writeBigUInt64LE(s.size, 40);
  b.writeBigUInt64LE(s.blocks, 48);
  const ts = (off: number, ns: bigint): void => {
    let sec = ns / 1_000_000_000n;
    let nsec = ns % 1_000_000_000n;
    if (nsec < 0n) {
      nsec += 1_000_000_000n;
      sec -= 1n;
    }
    b.writeBigInt64LE(sec, off);
    b.writeUInt32LE(Number(nsec), off + 8);
  };
  ts(64, s.atimeNs);
  ts(80, s.birthtimeNs);
  ts(96, s.ctimeNs);
  ts(112, s.mtimeNs);
  const dev = (d: bigint, off: number): void => {
    // glibc's gnu_dev_major / gnu_dev_minor (the inverse of makedev in src/fs/stats.ts).
    const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
    const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
    b.writeUInt32LE(Number(major), off);
    b.writeUInt32LE(Number(minor), off + 4);
  };
  dev(s.rdev, 128);
  dev(s.dev, 136);
}

/** The callback of an fs call whose success completes `op` with 0 (made only where one is needed). */
function doneOf(op: Op): (err: NodeJS.ErrnoException | null) => void {
  return (err) => op.complete(err ? errnoOf(err) : 0);
}

/** Starts a file operation on `op`; every path ends in exactly one op.complete(). */
export function startFileOp(op: Op, stage: Int32Array, f64: Float64Array, base: number, pin: unknown): void {
  const arg0 = stage[base + Rec.ARG0]!;
  const arg1 = stage[base + Rec.ARG1]!;
  const fd = op.fd;
  switch (op.code) {
    case DescOp.READ:
    case DescOp.WRITE:
    case DescOp.READ_FIXED:
    case DescOp.WRITE_FIXED: {
      const position = f64[(base + Rec.POSITION) >> 1]!;
      const view = recordWindow(pin, stage, f64, base);
      if (view === undefined) return op.complete(-E.EFAULT);
      if (!isOffset(position, true)) return op.complete(-E.EINVAL);
      op.cancellable = false;
      const pos = position === -1 ? null : position;
      if (op.code === DescOp.READ || op.code === DescOp.READ_FIXED) {
        fs.read(fd, view, 0, view.length, pos, (err, n) => op.complete(err ? errnoOf(err) : n));
      } else {
        fs.write(fd, view, 0, view.length, pos, (err, n) => op.complete(err ? errnoOf(err) : n));
      }
      return;
    }
    case DescOp.READV:
    case DescOp.WRITEV: {
      const position = f64[(base + Rec.POSITION) >> 1]!;
      if (!Array.isArray(pin) || pin.length === 0 || pin.length > 1024) return op.complete(-E.EINVAL);
      const views: Uint8Array[] = [];
      for (const v of pin as unknown[]) {
        if (!ArrayBuffer.isView(v)) return op.complete(-E.EINVAL);
        views.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      }
      if (!isOffset(position, true)) return op.complete(-E.EINVAL);
      op.cancellable = false;
      const pos = position === -1 ? null : position;
      if (op.code === DescOp.READV) fs.readv(fd, views, pos, (err, n) => op.complete(err ? errnoOf(err) : n));
      else fs.writev(fd, views, pos, (err, n) => op.complete(err ? errnoOf(err) : n));
      return;
    }
    case DescOp.FSYNC:
      op.cancellable = false;
      if ((arg0 & 1) !== 0) fs.fdatasync(fd, doneOf(op));
      else fs.fsync(fd, doneOf(op));
      return;
    case DescOp.SYNC_FILE_RANGE:
      // node:fs has no sync_file_range: fdatasync of the whole file covers the range (and more).
      if ((arg0 & ~7) !== 0 || !isOffset(f64[(base + Rec.POSITION) >> 1]!, false)) return op.complete(-E.EINVAL);
      op.cancellable = false;
      // sync_file_range(2) refuses pipes and sockets with ESPIPE (fdatasync would say EINVAL).
      fs.fstat(fd, (err, st) => {
        if (err) op.complete(errnoOf(err));
        else if (st.isFIFO() || st.isSocket()) op.complete(-E.ESPIPE);
        else fs.fdatasync(fd, doneOf(op));
      });
      return;
    case DescOp.FTRUNCATE: {
      const length = f64[(base + Rec.POSITION) >> 1]!;
      if (!isOffset(length, false)) return op.complete(-E.EINVAL);
      op.cancellable = false;
      fs.ftruncate(fd, length, doneOf(op));
      return;
    }
    case DescOp.FADVISE: {
      // Advice only: accepted with no effect once the fd is known to be open.
      op.cancellable = false;
      fs.fstat(fd, (err, st) => {
        if (err) return op.complete(errnoOf(err));
        op.complete(st.isFIFO() || st.isSocket() ? -E.ESPIPE : 0);
      });
      return;
    }
    case DescOp.FALLOCATE: {
      // Emulated: mode 0 extends the file to offset + length (ftruncate), KEEP_SIZE only checks the fd;
      // punching holes, collapsing or zeroing ranges needs fallocate(2): EOPNOTSUPP.
      const off = f64[(base + Rec.POSITION) >> 1]!;
      const len = f64[(base + Rec.OFFSET) >> 1]!;
      if (!isOffset(off, false) || !isOffset(len, false) || len === 0) return op.complete(-E.EINVAL);
      if (arg0 !== 0 && arg0 !== FALLOC_FL_KEEP_SIZE) return op.complete(-E.EOPNOTSUPP);
      // Past the largest size Node can ftruncate to: EFBIG, as vfs_fallocate answers beyond s_maxbytes.
      if (off + len > Number.MAX_SAFE_INTEGER) return op.complete(-E.EFBIG);
      op.cancellable = false;
      fs.fstat(fd, (err, st) => {
        if (err) return op.complete(errnoOf(err));
        if (!st.isFile()) return op.complete(st.isDirectory() ? -E.EISDIR : -E.ENODEV);
        if (arg0 === FALLOC_FL_KEEP_SIZE || st.size >= off + len) return op.complete(0);
        fs.ftruncate(fd, off + len, doneOf(op));
      });
      return;
    }
    case DescOp.OPENAT: {
      const p = pathOf(pin);
      if (p === undefined) return op.complete(-E.EINVAL);
      if (fd !== AT_FDCWD && p[0] !== 0x2f) return op.complete(-E.EOPNOTSUPP);
      op.cancellable = false;
      fs.open(p, arg0, arg1, (err, newFd) => op.complete(err ? errnoOf(err) : newFd));
      return;
    }
    case DescOp.STATX: {
      if (!Array.isArray(pin)) return op.complete(-E.EINVAL);
      const p = pathOf(pin[0]);
      const out: unknown = pin[1];
      if (p === undefined || !ArrayBuffer.isView(out) || out.byteLength < 256) return op.complete(-E.EINVAL);
      const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      const fill = (err: NodeJS.ErrnoException | null, s?: fs.BigIntStats): void => {
        if (err) return op.complete(errnoOf(err));
        fillStatx(s!, bytes);
        op.complete(0);
      };
      op.cancellable = false;
      if ((arg0 & AT_EMPTY_PATH) !== 0 && p.length === 0) fs.fstat(fd, { bigint: true }, fill);
      else if (fd !== AT_FDCWD && p[0] !== 0x2f) op.complete(-E.EOPNOTSUPP);
      else if ((arg0 & AT_SYMLINK_NOFOLLOW) !== 0) fs.lstat(p, { bigint: true }, fill);
      else fs.stat(p, { bigint: true }, fill);
      return;
    }
    case DescOp.UNLINKAT:
    case DescOp.MKDIRAT: {
      const p = pathOf(pin);
      if (p === undefined) return op.complete(-E.EINVAL);
      if (fd !== AT_FDCWD && p[0] !== 0x2f) return op.complete(-E.EOPNOTSUPP);
      op.cancellable = false;
      if (op.code === DescOp.MKDIRAT) fs.mkdir(p, { mode: arg1 }, (err) => op.complete(err ? errnoOf(err) : 0));
      else if ((arg0 & AT_REMOVEDIR) !== 0) fs.rmdir(p, doneOf(op));
      else fs.unlink(p, doneOf(op));
      return;
    }
    case DescOp.RENAMEAT:
    case DescOp.SYMLINKAT:
    case DescOp.LINKAT: {
      if (!Array.isArray(pin)) return op.complete(-E.EINVAL);
      const p1 = pathOf(pin[0]);
      const p2 = pathOf(pin[1]);
      if (p1 === undefined || p2 === undefined) return op.complete(-E.EINVAL);
      // renameat2 flags (NOREPLACE, EXCHANGE) and linkat flags need the syscalls themselves.
      if (op.code !== DescOp.SYMLINKAT && arg1 !== 0) return op.complete(-E.EINVAL);
      op.cancellable = false;
      if (op.code === DescOp.RENAMEAT) fs.rename(p1, p2, doneOf(op));
      else if (op.code === DescOp.SYMLINKAT) fs.symlink(p1, p2, doneOf(op));
      else fs.link(p1, p2, doneOf(op));
      return;
    }
    case DescOp.CLOSE:
      op.cancellable = false;
      fs.close(fd, doneOf(op));
      return;
    default:
      op.complete(-E.EINVAL);
  }
}
