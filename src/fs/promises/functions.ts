/**
 * The top-level node:fs/promises functions that run on the ring of the
 * calling thread (Ring.current()). Each takes the ring path only for
 * arguments in a shape it fully understands (string or file: URL paths,
 * node's flag strings, plain option objects...); any other call is handed to
 * node:fs/promises unchanged, so argument errors and odd inputs behave
 * exactly as node's own.
 */
import type fs from 'node:fs';
import fsp from 'node:fs/promises';

import { File } from '../file.js';
import { readOpenFile } from '../whole-file.js';
import { adoptNodeFileHandleProto, FileHandle, writeAllData, type WriteFileData } from './handle.js';
import {
  abortCheckpoint, checkAborted, currentRing, fileTooLarge, READ_FILE_MAX, optionsObject, plainFlags, plainMode, plainPath, plainSignal, thenClose,
  toNodeStats,
} from './shape.js';

type Opts = Record<string, unknown> | undefined;

/** Options accepted as an encoding string or an object; null → node decides. */
function encodingOptions(options: unknown): Opts | null {
  if (typeof options === 'string') return Buffer.isEncoding(options) ? { encoding: options } : null;
  return optionsObject(options);
}

function plainEncoding(e: unknown): boolean {
  return e === undefined || e === null || (typeof e === 'string' && Buffer.isEncoding(e));
}

export async function open(path: fs.PathLike, flags?: string | number, mode?: fs.Mode): Promise<FileHandle> {
  const p = plainPath(path);
  const f = plainFlags(flags, 'r');
  const m = plainMode(mode, 0o666);
  const ring = currentRing();
  if (p === undefined || f === undefined || m === undefined || ring === undefined) {
    return fsp.open(path, flags, mode) as unknown as Promise<FileHandle>;
  }
  const [fd] = await Promise.all([ring.open(p, f, m), adoptNodeFileHandleProto()]);
  return new FileHandle(new File(fd, ring));
}

export function stat(path: fs.PathLike, options: fs.StatOptions & { bigint: true }): Promise<fs.BigIntStats>;
export function stat(path: fs.PathLike, options?: fs.StatOptions & { bigint?: false }): Promise<fs.Stats>;
export function stat(path: fs.PathLike, options?: fs.StatOptions): Promise<fs.Stats | fs.BigIntStats>;
export async function stat(path: fs.PathLike, options?: fs.StatOptions): Promise<fs.Stats | fs.BigIntStats> {
  return statOn(path, options, true);
}

export function lstat(path: fs.PathLike, options: fs.StatOptions & { bigint: true }): Promise<fs.BigIntStats>;
export function lstat(path: fs.PathLike, options?: fs.StatOptions & { bigint?: false }): Promise<fs.Stats>;
export function lstat(path: fs.PathLike, options?: fs.StatOptions): Promise<fs.Stats | fs.BigIntStats>;
export async function lstat(path: fs.PathLike, options?: fs.StatOptions): Promise<fs.Stats | fs.BigIntStats> {
  return statOn(path, options, false);
}

async function statOn(path: fs.PathLike, options: unknown, follow: boolean): Promise<fs.Stats | fs.BigIntStats> {
  const p = plainPath(path);
  const o = optionsObject(options);
  const ring = currentRing();
  if (p === undefined || o === null || (o?.['bigint'] !== undefined && typeof o['bigint'] !== 'boolean') ||
    ring === undefined) {
    return follow ? fsp.stat(path, options as fs.StatOptions) : fsp.lstat(path, options as fs.StatOptions);
  }
  const st = await ring.statx(p, { bigint: o?.['bigint'] === true, followSymlinks: follow });
  return toNodeStats(st);
}

export async function unlink(path: fs.PathLike): Promise<void> {
  const p = plainPath(path);
  const ring = currentRing();
  if (p === undefined || ring === undefined) return fsp.unlink(path);
  await ring.unlink(p);
}

export async function rmdir(path: fs.PathLike, options?: fs.RmDirOptions): Promise<void> {
  const p = plainPath(path);
  const o = optionsObject(options);
  // Options (recursive, maxRetries...) are node's: only the plain call is a ring unlinkat.
  const ring = currentRing();
  if (p === undefined || o === null || (o !== undefined && Object.keys(o).length > 0) || ring === undefined) {
    return fsp.rmdir(path, options);
  }
  await ring.rmdir(p);
}

export async function mkdir(path: fs.PathLike, options?: fs.Mode | fs.MakeDirectoryOptions | null):
  Promise<string | undefined> {
  const p = plainPath(path);
  const o = typeof options === 'number' || typeof options === 'string' ? { mode: options } : optionsObject(options);
  const m = plainMode(o?.['mode'], 0o777);
  const ring = currentRing();
  if (p === undefined || o === null || m === undefined || (o?.['recursive'] !== undefined && o['recursive'] !== false) ||
    ring === undefined) {
    return fsp.mkdir(path, options as fs.MakeDirectoryOptions);
  }
  await ring.mkdir(p, { mode: m });
  return undefined;
}

export async function rename(oldPath: fs.PathLike, newPath: fs.PathLike): Promise<void> {
  const a = plainPath(oldPath);
  const b = plainPath(newPath);
  const ring = currentRing();
  if (a === undefined || b === undefined || ring === undefined) return fsp.rename(oldPath, newPath);
  await ring.rename(a, b);
}

export async function symlink(target: fs.PathLike, path: fs.PathLike, type?: string | null): Promise<void> {
  const a = plainPath(target);
  const b = plainPath(path);
  const typeOk = type === undefined || type === null || type === 'dir' || type === 'file' || type === 'junction';
  const ring = currentRing();
  if (a === undefined || b === undefined || !typeOk || ring === undefined) return fsp.symlink(target, path, type);
  await ring.symlink(a, b);
}

export async function link(existingPath: fs.PathLike, newPath: fs.PathLike): Promise<void> {
  const a = plainPath(existingPath);
  const b = plainPath(newPath);
  const ring = currentRing();
  if (a === undefined || b === undefined || ring === undefined) return fsp.link(existingPath, newPath);
  await ring.link(a, b);
}

/** As node's: open 'r+', ftruncate (a negative length is 0), close. */
export async function truncate(path: fs.PathLike, len?: number): Promise<void> {
  const p = plainPath(path);
  const ring = currentRing();
  if (p === undefined || (len !== undefined && !Number.isSafeInteger(len)) || ring === undefined) {
    return fsp.truncate(path, len);
  }
  const file = new File(await ring.open(p, 'r+'), ring);
  await thenClose(file, () => file.truncate(Math.max(0, len ?? 0)));
}

type ReadFileOpts = { encoding?: BufferEncoding | null; flag?: string | number; signal?: AbortSignal } | BufferEncoding | null;

export function readFile(path: fs.PathLike | FileHandle, options?: { encoding?: null; flag?: string | number;
  signal?: AbortSignal } | null): Promise<Buffer>;
export function readFile(path: fs.PathLike | FileHandle, options: { encoding: BufferEncoding; flag?: string | number;
  signal?: AbortSignal } | BufferEncoding): Promise<string>;
export function readFile(path: fs.PathLike | FileHandle, options?: ReadFileOpts): Promise<string | Buffer>;
export async function readFile(path: fs.PathLike | FileHandle, options?: ReadFileOpts): Promise<string | Buffer> {
  const o = encodingOptions(options);
  const signal = plainSignal(o?.['signal']);
  if (path instanceof FileHandle && o !== null && signal !== null && plainEncoding(o?.['encoding'])) {
    return path.readFile(o as { encoding?: BufferEncoding; signal?: AbortSignal });
  }
  const p = plainPath(path);
  const flag = plainFlags(o?.['flag'], 'r');
  const ring = currentRing();
  if (p === undefined || o === null || signal === null || flag === undefined || !plainEncoding(o?.['encoding']) ||
    ring === undefined) {
    return fsp.readFile(path as fs.PathLike, options as never);
  }
  checkAborted(signal);
  const file = new File(await ring.open(p, flag), ring);
  const out = await thenClose(file, async () => {
    // Node's check point after its fstat (see abortCheckpoint).
    if (signal !== undefined) await abortCheckpoint(signal);
    return readOpenFile(file, signal === undefined ? undefined : { signal }, { max: READ_FILE_MAX, error: fileTooLarge });
  });
  const encoding = o?.['encoding'] as BufferEncoding | null | undefined;
  return encoding ? out.toString(encoding) : out;
}

type WriteFileOpts = { encoding?: BufferEncoding | null; mode?: fs.Mode; flag?: string | number; signal?: AbortSignal;
  flush?: boolean } | BufferEncoding | null;

function isWritableData(d: unknown): boolean {
  if (typeof d === 'string' || ArrayBuffer.isView(d)) return true;
  return d !== null && typeof d === 'object' && (typeof (d as Iterable<unknown>)[Symbol.iterator] === 'function' ||
    typeof (d as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function');
}

export async function writeFile(file: fs.PathLike | FileHandle, data: WriteFileData, options?: WriteFileOpts):
  Promise<void> {
  return writeOrAppend(file, data, options, 'w');
}

export async function appendFile(path: fs.PathLike | FileHandle, data: string | Uint8Array, options?: WriteFileOpts):
  Promise<void> {
  return writeOrAppend(path, data, options, 'a');
}

async function writeOrAppend(target: fs.PathLike | FileHandle, data: unknown, options: unknown,
  defFlag: 'w' | 'a'): Promise<void> {
  const o = encodingOptions(options);
  const signal = plainSignal(o?.['signal']);
  const flush = o?.['flush'];
  const plain = o !== null && signal !== null && plainEncoding(o?.['encoding']) && isWritableData(data) &&
    (flush === undefined || flush === null || typeof flush === 'boolean');
  const node = (): Promise<void> => defFlag === 'w' ? fsp.writeFile(target as fs.PathLike, data as string, options as never)
    : fsp.appendFile(target as fs.PathLike, data as string, options as never);
  const wopts = { encoding: (o?.['encoding'] ?? 'utf8') as BufferEncoding, ...(signal ? { signal } : {}) };
  if (target instanceof FileHandle) {
    if (!plain || defFlag === 'a' && typeof data !== 'string' && !ArrayBuffer.isView(data)) return node();
    return defFlag === 'w' ? target.writeFile(data as WriteFileData, wopts) : target.appendFile(data as WriteFileData, wopts);
  }
  const p = plainPath(target);
  const flag = plainFlags(o?.['flag'], defFlag);
  const mode = plainMode(o?.['mode'], 0o666);
  // appendFile takes strings and buffers only; node judges anything else.
  const dataOk = defFlag === 'w' || typeof data === 'string' || ArrayBuffer.isView(data);
  const ring = currentRing();
  if (!plain || !dataOk || p === undefined || flag === undefined || mode === undefined || ring === undefined) return node();
  checkAborted(signal);
  const file = new File(await ring.open(p, flag, mode), ring);
  await thenClose(file, async () => {
    // At the current position, as node's (the end with O_APPEND).
    await writeAllData(file, data, wopts, -1);
    if (flush === true) await file.sync();
  });
}
