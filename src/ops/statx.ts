/**
 * File status from IORING_OP_STATX, shaped like `fs.Stats` / `fs.BigIntStats`.
 */
import { constants as fsc } from 'node:fs';

/** Size of the `struct statx` buffer the kernel fills. */
export const STATX_SIZE = 256;
/** STATX_BASIC_STATS | STATX_BTIME. */
export const STATX_MASK = 0x7ff | 0x800;

abstract class StatsBase<T extends number | bigint> {
  declare dev: T;
  declare ino: T;
  declare mode: T;
  declare nlink: T;
  declare uid: T;
  declare gid: T;
  declare rdev: T;
  declare size: T;
  declare blksize: T;
  declare blocks: T;
  declare atimeMs: T;
  declare mtimeMs: T;
  declare ctimeMs: T;
  declare birthtimeMs: T;
  declare atime: Date;
  declare mtime: Date;
  declare ctime: Date;
  declare birthtime: Date;

  #type(): number {
    return Number(this.mode) & fsc.S_IFMT;
  }
  isFile(): boolean {
    return this.#type() === fsc.S_IFREG;
  }
  isDirectory(): boolean {
    return this.#type() === fsc.S_IFDIR;
  }
  isBlockDevice(): boolean {
    return this.#type() === fsc.S_IFBLK;
  }
  isCharacterDevice(): boolean {
    return this.#type() === fsc.S_IFCHR;
  }
  isSymbolicLink(): boolean {
    return this.#type() === fsc.S_IFLNK;
  }
  isFIFO(): boolean {
    return this.#type() === fsc.S_IFIFO;
  }
  isSocket(): boolean {
    return this.#type() === fsc.S_IFSOCK;
  }
}

/** Like `fs.Stats`: numbers. */
export class Stats extends StatsBase<number> {}

/** Like `fs.BigIntStats`: bigints, plus nanosecond times. */
export class BigIntStats extends StatsBase<bigint> {
  declare atimeNs: bigint;
  declare mtimeNs: bigint;
  declare ctimeNs: bigint;
  declare birthtimeNs: bigint;
}

function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0), mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** As fs.Stats: the Date is rounded to the nearest millisecond. */
function dateFromMs(ms: number): Date {
  return new Date(Math.round(ms));
}

function tsNs(b: Buffer, off: number): bigint {
  return b.readBigInt64LE(off) * 1_000_000_000n + BigInt(b.readUInt32LE(off + 8));
}

function tsMs(b: Buffer, off: number): number {
  return Number(b.readBigInt64LE(off)) * 1e3 + b.readUInt32LE(off + 8) / 1e6;
}

/** Parses a filled `struct statx`. */
export function parseStatx(b: Buffer, bigint: boolean): Stats | BigIntStats {
  const mode = b.readUInt16LE(28);
  const dev = makedev(b.readUInt32LE(136), b.readUInt32LE(140));
  const rdev = makedev(b.readUInt32LE(128), b.readUInt32LE(132));
  if (bigint) {
    const s = new BigIntStats();
    s.dev = dev;
    s.ino = b.readBigUInt64LE(32);
    s.mode = BigInt(mode);
    s.nlink = BigInt(b.readUInt32LE(16));
    s.uid = BigInt(b.readUInt32LE(20));
    s.gid = BigInt(b.readUInt32LE(24));
    s.rdev = rdev;
    s.size = b.readBigUInt64LE(40);
    s.blksize = BigInt(b.readUInt32LE(4));
    s.blocks = b.readBigUInt64LE(48);
    s.atimeNs = tsNs(b, 64);
    s.birthtimeNs = tsNs(b, 80);
    s.ctimeNs = tsNs(b, 96);
    s.mtimeNs = tsNs(b, 112);
    s.atimeMs = s.atimeNs / 1_000_000n;
    s.mtimeMs = s.mtimeNs / 1_000_000n;
    s.ctimeMs = s.ctimeNs / 1_000_000n;
    s.birthtimeMs = s.birthtimeNs / 1_000_000n;
    s.atime = dateFromMs(Number(s.atimeMs));
    s.mtime = dateFromMs(Number(s.mtimeMs));
    s.ctime = dateFromMs(Number(s.ctimeMs));
    s.birthtime = dateFromMs(Number(s.birthtimeMs));
    return s;
  }
  const s = new Stats();
  s.dev = Number(dev);
  s.ino = Number(b.readBigUInt64LE(32));
  s.mode = mode;
  s.nlink = b.readUInt32LE(16);
  s.uid = b.readUInt32LE(20);
  s.gid = b.readUInt32LE(24);
  s.rdev = Number(rdev);
  s.size = Number(b.readBigUInt64LE(40));
  s.blksize = b.readUInt32LE(4);
  s.blocks = Number(b.readBigUInt64LE(48));
  s.atimeMs = tsMs(b, 64);
  s.birthtimeMs = tsMs(b, 80);
  s.ctimeMs = tsMs(b, 96);
  s.mtimeMs = tsMs(b, 112);
  s.atime = dateFromMs(s.atimeMs);
  s.mtime = dateFromMs(s.mtimeMs);
  s.ctime = dateFromMs(s.ctimeMs);
  s.birthtime = dateFromMs(s.birthtimeMs);
  return s;
}
