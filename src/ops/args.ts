/**
 * Argument checking shared by the operation families: paths, flags and
 * modes, views and windows into them, positions and sizes, and the
 * promise-or-callback split (one copy for every family).
 */
import { constants as fsc } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { markAsUntransferable } from 'node:worker_threads';

import { invalidArgType, invalidArgValue, outOfRange } from '../errors.js';
import { callbackArg, checkUint32, isDetached, type Callback } from './validate.js';

export const MAX_POSITION = Number.MAX_SAFE_INTEGER;
export const MAX_RW = 0x7ffff000; // the kernel's MAX_RW_COUNT

/** Node's flag strings (fs.open). */
export function parseOpenFlags(flags: unknown): number {
  if (flags === undefined || flags === null) return fsc.O_RDONLY;
  if (typeof flags === 'number') {
    checkUint32(flags, 'flags');
    return flags;
  }
  if (typeof flags !== 'string') throw invalidArgType('flags', 'of type string or number', flags);
  const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_SYNC } = fsc;
  switch (flags) {
    case 'r': return O_RDONLY;
    case 'rs': case 'sr': return O_RDONLY | O_SYNC;
    case 'r+': return O_RDWR;
    case 'rs+': case 'sr+': return O_RDWR | O_SYNC;
    case 'w': return O_TRUNC | O_CREAT | O_WRONLY;
    case 'wx': case 'xw': return O_TRUNC | O_CREAT | O_WRONLY | O_EXCL;
    case 'w+': return O_TRUNC | O_CREAT | O_RDWR;
    case 'wx+': case 'xw+': return O_TRUNC | O_CREAT | O_RDWR | O_EXCL;
    case 'a': return O_APPEND | O_CREAT | O_WRONLY;
    case 'ax': case 'xa': return O_APPEND | O_CREAT | O_WRONLY | O_EXCL;
    case 'as': case 'sa': return O_APPEND | O_CREAT | O_WRONLY | O_SYNC;
    case 'a+': return O_APPEND | O_CREAT | O_RDWR;
    case 'ax+': case 'xa+': return O_APPEND | O_CREAT | O_RDWR | O_EXCL;
    case 'as+': case 'sa+': return O_APPEND | O_CREAT | O_RDWR | O_SYNC;
    default: throw invalidArgValue('flags', flags, 'is invalid');
  }
}

export function parseMode(mode: unknown, def: number): number {
  if (mode === undefined || mode === null) return def;
  if (typeof mode === 'string') {
    if (!/^[0-7]+$/.test(mode)) throw invalidArgValue('mode', mode, 'must be a 32-bit unsigned integer or an octal string');
    mode = parseInt(mode, 8);
  }
  if (typeof mode !== 'number') throw invalidArgType('mode', 'of type number or string', mode);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw outOfRange('mode', '>= 0 && <= 4095', mode);
  return mode;
}

/** Path → NUL-terminated Buffer, plus the printable path for errors. */
export function toPathBuffer(p: unknown, name = 'path'): [Buffer, string] {
  let s: string;
  if (typeof p === 'string') s = p;
  else if (p instanceof URL) {
    if (p.protocol !== 'file:') throw invalidArgType(name, 'a file URL', p);
    s = fileURLToPath(p);
  } else if (p instanceof Uint8Array) {
    if (isDetached(p.buffer)) throw invalidArgValue(name, p, 'is a view of a detached ArrayBuffer');
    if (p.includes(0)) throw invalidArgValue(name, p, 'must be a string, Uint8Array, or URL without null bytes');
    const b = Buffer.allocUnsafe(p.length + 1);
    b.set(p);
    b[p.length] = 0;
    return [b, Buffer.from(p).toString()];
  } else throw invalidArgType(name, 'of type string or an instance of Buffer or URL', p);
  if (s.includes('\u0000')) throw invalidArgValue(name, s, 'must be a string, Uint8Array, or URL without null bytes');
  return [Buffer.from(`${s}\u0000`, 'utf8'), s];
}

export function checkView(buf: unknown, name = 'buffer'): asserts buf is ArrayBufferView {
  viewBuffer(buf, name);
}

/** The ArrayBuffer last checked and marked by viewBuffer (fixed-length, untransferable: both permanent). */
let lastMarked: ArrayBufferLike | undefined;

/** checkView, returning the view's ArrayBuffer. */
export function viewBuffer(buf: unknown, name: string): ArrayBufferLike {
  if (!ArrayBuffer.isView(buf)) throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', buf);
  const ab = buf.buffer as ArrayBuffer & { resizable?: boolean; growable?: boolean; detached?: boolean };
  if (ab === lastMarked) {
    if (ab.byteLength === 0 && isDetached(ab)) throw invalidArgValue(name, buf, 'is a view of a detached ArrayBuffer');
    return ab;
  }
  if (ab.resizable === true || ab.growable === true) {
    throw invalidArgType(name, 'a view of a fixed-length ArrayBuffer (resizable buffers can move under the kernel)', buf);
  }
  if (isDetached(ab)) throw invalidArgValue(name, buf, 'is a view of a detached ArrayBuffer');
  // The kernel may write into this memory until the operation's last CQE:
  // it must not move to another owner (who could free it) meanwhile. Node
  // refuses to transfer an untransferable ArrayBuffer (postMessage on every
  // version; also structuredClone and transfer() from Node 22). Node's own
  // pooled Buffers are untransferable already.
  if (!(ab instanceof SharedArrayBuffer)) markAsUntransferable(ab);
  lastMarked = ab;
  return ab;
}

/** A file position: non-negative safe integer or bigint, or null/undefined/-1 for the current position. */
export function checkPosition(pos: unknown, name = 'position'): number {
  if (pos === undefined || pos === null) return -1;
  if (typeof pos === 'bigint') {
    if (pos === -1n) return -1;
    if (pos < 0n || pos > BigInt(MAX_POSITION)) throw outOfRange(name, `>= 0 && <= ${MAX_POSITION}`, pos);
    return Number(pos);
  }
  if (typeof pos !== 'number') throw invalidArgType(name, 'of type number or bigint', pos);
  if (pos === -1) return -1;
  if (!Number.isSafeInteger(pos) || pos < 0) throw outOfRange(name, `an integer >= 0 && <= ${MAX_POSITION}`, pos);
  return pos;
}

export function checkSize(v: unknown, name: string, max = MAX_POSITION): number {
  if (typeof v === 'bigint') v = Number(v);
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw outOfRange(name, `an integer >= 0 && <= ${max}`, v);
  return v;
}

/** Validates offset/length of a window into a view; returns [offset, length]. */
export function checkWindow(buf: ArrayBufferView, o: { offset?: number; length?: number } | undefined): [number, number] {
  return window(buf, o);
}

export function window(buf: ArrayBufferView, o: { offset?: number; length?: number } | undefined): [number, number] {
  const offset = o?.offset === undefined ? 0 : checkSize(o.offset, 'options.offset', buf.byteLength);
  const length = o?.length === undefined
    ? Math.min(buf.byteLength - offset, MAX_RW)
    : checkSize(o.length, 'options.length', MAX_RW);
  if (offset + length > buf.byteLength) {
    throw outOfRange('options.length', `<= ${buf.byteLength - offset} (the buffer's size after offset)`, length);
  }
  return [offset, length];
}

export function splitArgs<T, O>(a: O | Callback<T> | undefined, b: Callback<T> | undefined):
  [O | undefined, Callback<T> | undefined] {
  const cb = callbackArg(a, b);
  if (typeof a === 'function') return [undefined, cb];
  if (a !== undefined && a !== null && typeof a !== 'object') throw invalidArgType('options', 'of type object', a);
  return [(a ?? undefined) as O | undefined, cb];
}
