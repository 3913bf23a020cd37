/**
 * Shaping results and errors the way node:fs/promises does: Stats objects
 * with node's own prototypes, the "file closed" error of a closed handle,
 * and the argument shapes the ring paths accept (anything else goes to
 * node:fs/promises, so its own validation and errors apply unchanged).
 */
import fs from 'node:fs';
import { debuglog } from 'node:util';
import { fileURLToPath } from 'node:url';

import { checkAborted } from '../../errors.js';
import type { BigIntStats as UkBigIntStats, Stats as UkStats } from '../stats.js';
import { Ring } from '../../ring/ring.js';

// node:fs's own prototypes (fs.BigIntStats is not exported): results pass `instanceof fs.Stats`.
const STATS_PROTO = Object.getPrototypeOf(fs.statSync('/')) as object;
const BIGINT_STATS_PROTO = Object.getPrototypeOf(fs.statSync('/', { bigint: true })) as object;
/** Node 22+ derives atime/mtime/ctime/birthtime lazily from the *Ms fields (accessors on the prototype). */
const LAZY_DATES = hasAccessor(STATS_PROTO, 'atime');
const LAZY_BIGINT_DATES = hasAccessor(BIGINT_STATS_PROTO, 'atime');

function hasAccessor(proto: object | null, key: string): boolean {
  for (let p = proto; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    const d = Object.getOwnPropertyDescriptor(p, key);
    if (d) return d.get !== undefined;
  }
  return false;
}

const NUMERIC = ['dev', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'blksize', 'ino', 'size', 'blocks',
  'atimeMs', 'mtimeMs', 'ctimeMs', 'birthtimeMs'] as const;
const DATES = ['atime', 'mtime', 'ctime', 'birthtime'] as const;
const NANOS = ['atimeNs', 'mtimeNs', 'ctimeNs', 'birthtimeNs'] as const;

/** A uringkit Stats → an object of node's fs.Stats (or BigIntStats) class, own fields in node's order. */
export function toNodeStats(s: UkStats | UkBigIntStats): fs.Stats | fs.BigIntStats {
  const big = typeof s.size === 'bigint';
  const out = Object.create(big ? BIGINT_STATS_PROTO : STATS_PROTO) as Record<string, unknown>;
  const src = s as unknown as Record<string, unknown>;
  for (const k of NUMERIC) out[k] = src[k];
  if (big) for (const k of NANOS) out[k] = src[k];
  if (!(big ? LAZY_BIGINT_DATES : LAZY_DATES)) for (const k of DATES) out[k] = src[k];
  return out as unknown as fs.Stats | fs.BigIntStats;
}

/** What node's FileHandle methods reject with once the handle is closed (or closing). */
export function closedError(syscall: string): Error & { code: string; syscall: string } {
  const err = new Error('file closed') as Error & { code: string; syscall: string };
  err.code = 'EBADF';
  err.syscall = syscall;
  return err;
}

/**
 * The path as a string when the ring path can take it as node would (a
 * string, or a file: URL), else undefined (Buffers and anything odd go to
 * node:fs/promises, whose errors then carry exactly node's shape).
 */
export function plainPath(p: unknown): string | undefined {
  if (typeof p === 'string') return p.includes('\u0000') ? undefined : p;
  if (p instanceof URL && p.protocol === 'file:') {
    try {
      const s = fileURLToPath(p);
      return s.includes('\u0000') ? undefined : s;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Node's flag strings and O_* numbers that the ring path accepts as they are; anything else → undefined. */
export function plainFlags(flags: unknown, def: string): string | number | undefined {
  if (flags === undefined || flags === null) return def;
  if (typeof flags === 'number') return Number.isInteger(flags) && flags >= 0 && flags <= 0xffffffff ? flags : undefined;
  return typeof flags === 'string' && FLAG_STRINGS.has(flags) ? flags : undefined;
}

const FLAG_STRINGS = new Set(['r', 'rs', 'sr', 'r+', 'rs+', 'sr+', 'w', 'wx', 'xw', 'w+', 'wx+', 'xw+', 'a', 'ax', 'xa',
  'as', 'sa', 'a+', 'ax+', 'xa+', 'as+', 'sa+']);

/** A mode node accepts (integer or octal string); undefined for anything that node must judge. */
export function plainMode(mode: unknown, def: number): number | undefined {
  if (mode === undefined || mode === null) return def;
  if (typeof mode === 'number') return Number.isInteger(mode) && mode >= 0 && mode <= 0xffffffff ? mode & 0o7777 : undefined;
  if (typeof mode === 'string' && /^[0-7]+$/.test(mode)) {
    const m = parseInt(mode, 8);
    return m <= 0xffffffff ? m & 0o7777 : undefined;
  }
  return undefined;
}

/** Options as node takes them: undefined, a plain object, or (where allowed) an encoding string. */
export function optionsObject(o: unknown): Record<string, unknown> | undefined | null {
  if (o === undefined || o === null) return undefined;
  if (typeof o === 'object' && !Array.isArray(o)) return o as Record<string, unknown>;
  return null;
}

/** A valid AbortSignal or undefined; `null` for anything else (node must judge it). */
export function plainSignal(s: unknown): AbortSignal | undefined | null {
  if (s === undefined) return undefined;
  return s instanceof AbortSignal ? s : null;
}

/** node:fs/promises' abort check and error: the library's own (src/errors.ts). */
export { abortError, checkAborted } from '../../errors.js';

/**
 * One of node:fs/promises' abort check points (after an open or fstat,
 * before each read or write of readFile / writeFile). Node reaches each one
 * after a thread-pool round trip, i.e. at least one event-loop turn later,
 * so an abort from a process.nextTick or setImmediate callback queued in the
 * calling turn is seen there. A ring operation can complete inline, inside
 * the same microtask drain. So this first waits one setImmediate (the
 * nextTick queue and that turn's immediates run before it; taken only when a
 * signal is given: no cost otherwise), then throws node's AbortError if the
 * signal has fired.
 */
export async function abortCheckpoint(signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    setImmediate(resolve);
  });
  checkAborted(signal);
}

/**
 * What node:fs/promises rejects with when an operation on a file it opened
 * fails and closing that file fails too (node's aggregateTwoErrors): an
 * AggregateError of [opError, closeError] with opError's message and code.
 */
export function opAndCloseError(opError: unknown, closeError: unknown): unknown {
  if (opError === closeError) return opError;
  const outer = opError as { message?: unknown; code?: unknown; errors?: unknown };
  if (Array.isArray(outer.errors)) {
    outer.errors.push(closeError);
    return opError;
  }
  const err = new AggregateError([opError, closeError], String(outer.message ?? '')) as AggregateError & { code?: unknown };
  err.code = outer.code;
  return err;
}

/**
 * Runs `op` on a file opened for it, then closes the file, as node's
 * handleFdClose: the op's result after a successful close; the close error
 * when only the close fails; opAndCloseError() when both fail.
 */
export async function thenClose<T>(file: { close(): Promise<void> }, op: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await op();
  } catch (opError) {
    try {
      await file.close();
    } catch (closeError) {
      throw opAndCloseError(opError, closeError);
    }
    throw opError;
  }
  await file.close();
  return result;
}

/** node:fs/promises' readFile limit (its kIoMaxLength): a larger regular file fails with fileTooLarge(). */
export const READ_FILE_MAX = 2 ** 31 - 1;

/** node's ERR_FS_FILE_TOO_LARGE, for readFile of a regular file over READ_FILE_MAX bytes. */
export function fileTooLarge(size: number): RangeError & { code: string } {
  const err = new RangeError(`File size (${size}) is greater than 2 GiB`) as RangeError & { code: string };
  err.code = 'ERR_FS_FILE_TOO_LARGE';
  return err;
}

/** What node's FileHandle methods reject with when called on anything but a FileHandle. */
export function notAFileHandle(): Error & { code: string } {
  const err = new Error('handle must be an instance of FileHandle') as Error & { code: string };
  err.code = 'ERR_INTERNAL_ASSERTION';
  return err;
}


const debug = debuglog('uringkit');
let unavailable = false;

/**
 * The calling thread's ring, or undefined when io_uring cannot be used in
 * this process (seccomp, sysctl, memlock...): every call then goes to
 * node:fs/promises, said once under NODE_DEBUG=uringkit.
 */
export function currentRing(): Ring | undefined {
  if (unavailable) return undefined;
  try {
    return Ring.current();
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_IO_URING_UNAVAILABLE') throw e;
    unavailable = true;
    debug('uringkit/fs: %s; every call goes to node:fs/promises', (e as Error).message);
    return undefined;
  }
}


/** The running Node's major version: node:fs/promises' argument rules changed in 21 and 24. */
export const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
