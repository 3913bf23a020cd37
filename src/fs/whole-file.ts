/**
 * Whole-file helpers on the ring: readFile, writeFile, copyFile.
 *
 * Each is a short chain of ring operations on one File (open, I/O, close),
 * so they take the common `signal` / `timeout` options and run unchanged on
 * every backend (the mock included). The fd is always closed before the
 * returned promise settles, whatever the outcome.
 */
import fs, { constants as fsc } from 'node:fs';

import { invalidArgType } from '../errors.js';
import { parseMode, parseOpenFlags, toPathBuffer, type OpenFlags, type PathLike } from '../ops/file.js';
import { checkOptions } from '../ops/validate.js';
import { ringInternals } from '../ring/ring.js';
import { checkEncoding, File, ringOf, toView, type FileOpenOptions } from './file.js';

export { File } from './file.js';
export type { FileOpenOptions } from './file.js';

export interface ReadFileOptions extends FileOpenOptions {
  encoding?: BufferEncoding;
  flag?: OpenFlags;
}

export interface WriteFileOptions extends FileOpenOptions {
  encoding?: BufferEncoding;
  mode?: number | string;
  flag?: OpenFlags;
}

/** The helpers do a few large operations per fd: registering it costs more than it saves, unless asked. */
function helperOpen<T extends FileOpenOptions>(options: T | undefined): T {
  return { ...options, register: options?.register ?? false } as T;
}

/** First read of readFile: files up to this size need no statx. */
const FIRST_READ = 64 * 1024;
/** Free FIRST_READ scratch buffers of this thread's readOpenFile calls (at most SCRATCH_MAX kept). */
const SCRATCH: Buffer[] = [];
const SCRATCH_MAX = 8;
/** Reads a whole file (any size, including files whose stat size is 0, as in /proc). Bad arguments throw. */
export function readFile(path: PathLike, options: ReadFileOptions & { encoding: BufferEncoding }): Promise<string>;
export function readFile(path: PathLike, options?: ReadFileOptions): Promise<Buffer>;
export function readFile(path: PathLike, options?: ReadFileOptions | BufferEncoding): Promise<Buffer | string> {
  const opts: ReadFileOptions | undefined = typeof options === 'string' ? { encoding: options } : options;
  ringOf(opts);
  const encoding = checkEncoding(opts?.encoding, 'options.encoding');
  toPathBuffer(path);
  parseOpenFlags(opts?.flag ?? 'r');
  checkOptions(opts);
  return readFileAsync(path, opts, encoding);
}

async function readFileAsync(path: PathLike, options: ReadFileOptions | undefined,
  encoding: BufferEncoding | undefined): Promise<Buffer | string> {
  const file = await File.open(path, options?.flag ?? 'r', 0o666, helperOpen(options));
  try {
    const out = await readOpenFile(file, options);
    return encoding ? out.toString(encoding) : out;
  } finally {
    await file.close();
  }
}

/**
 * The whole of an open file, with positioned reads from 0. No statx for
 * files that fit the first 64 KiB read (statx always runs on an io-wq
 * thread, a page-cache read completes inline): the first read, then one
 * more that returns 0 at the end. A file that fills the first read is sized
 * with statx; a regular file is read up to that size (node:fs's rule),
 * anything else (size 0: /proc, devices) until a read returns 0. The result
 * is trimmed to its length when that saves more than 4 KiB. With
 * `tooLarge`, a regular file over `max` bytes fails with its error once
 * sized (uringkit/fs: node's ERR_FS_FILE_TOO_LARGE over 2 GiB - 1).
 */
export async function readOpenFile(file: File, options: ReadFileOptions | undefined,
  tooLarge?: { max: number; error: (size: number) => Error }): Promise<Buffer> {
  // The first reads go to a reused scratch buffer (no 64 KiB allocation per file); the result is copied out
  // at its exact size. A scratch buffer returns to the pool only after its reads completed without error (an
  // aborted read may still be the kernel's until its final CQE: that buffer is dropped, never reused).
  const scratch = SCRATCH.pop() ?? Buffer.allocUnsafeSlow(FIRST_READ);
  let buf = scratch;
  let len = 0;
  /** -1: not asked yet; -2: not a regular file with a size. */
  let size = -1;
  for (;;) {
    if (len === buf.length) {
      if (size === -1) {
        const st = await file.stat(options);
        size = st.isFile() && st.size > 0 ? st.size : -2;
        if (tooLarge !== undefined && size > tooLarge.max) throw tooLarge.error(size);
      }
      if (size >= 0 && len >= size) break;
      const bigger = Buffer.allocUnsafe(size > len ? size : buf.length * 2);
      buf.copy(bigger, 0, 0, len);
      if (buf === scratch && SCRATCH.length < SCRATCH_MAX) SCRATCH.push(scratch);
      buf = bigger;
    }
    const n = await file.read(buf, options === undefined ? { offset: len, length: buf.length - len, position: len }
      : { ...options, offset: len, length: buf.length - len, position: len });
    if (n === 0) break;
    len += n;
  }
  if (buf === scratch) {
    const exact = Buffer.allocUnsafeSlow(len);
    scratch.copy(exact, 0, 0, len);
    if (SCRATCH.length < SCRATCH_MAX) SCRATCH.push(scratch);
    return exact;
  }
  if (len === buf.length) return buf;
  if (buf.length - len <= 4096) return buf.subarray(0, len);
  const exact = Buffer.allocUnsafeSlow(len);
  buf.copy(exact, 0, 0, len);
  return exact;
}

/** Writes a whole file (created or truncated by default). Bad arguments throw before the file is touched. */
export function writeFile(path: PathLike, data: ArrayBufferView | string, options?: WriteFileOptions): Promise<void> {
  ringOf(options);
  const view = toView(data, options?.encoding);
  toPathBuffer(path);
  const flags = parseOpenFlags(options?.flag ?? 'w');
  const mode = parseMode(options?.mode, 0o666);
  checkOptions(options);
  return writeFileAsync(path, view, flags, mode, options);
}

/**
 * The data goes in as few writes as the kernel allows (one per 2 GiB less
 * a page; writeAll continues short ones): node:fs cuts it in 512 KiB pieces,
 * each a thread-pool round trip.
 */
async function writeFileAsync(path: PathLike, view: ArrayBufferView, flags: number, mode: number,
  options: WriteFileOptions | undefined): Promise<void> {
  const file = await File.open(path, flags, mode, helperOpen(options));
  try {
    await file.writeAll(view, { ...options, encoding: undefined, position: (flags & fsc.O_APPEND) !== 0 ? null : 0 });
  } finally {
    await file.close();
  }
}

/** copyFile: chunk size and how many chunks are in flight (reads and writes overlap). */
const COPY_CHUNK = 1 << 20;
const COPY_DEPTH = 4;
/**
 * From this size on (on the io_uring backend, without signal/timeout) the
 * data is copied inside the kernel: copy_file_range through libuv's
 * copyfile, no user-space buffer. Smaller copies stay on the ring (no
 * thread-pool hop).
 */
export const COPY_IN_KERNEL_MIN = 8 << 20;

/** How copyFile picks its path (for reports). */
export const copyFileStrategy = `copyFile: opens on the ring; then ${COPY_IN_KERNEL_MIN >> 20} MiB and more on the ` +
  'io_uring backend without signal/timeout: copy_file_range through libuv (in-kernel copy), otherwise 1 MiB ring ' +
  `reads and writes, ${COPY_DEPTH} chunks in flight`;

/**
 * Copies `src` to `dest` (created or truncated; with `exclusive`, fails if
 * dest exists); the destination gets the source's mode. Bad arguments throw
 * before anything is opened.
 *
 * Both files are opened on the ring (so open errors have one shape: syscall
 * 'open', the path that failed). Then the data: a file of COPY_IN_KERNEL_MIN
 * or more, on the io_uring backend, without `signal` / `timeout`, is copied
 * by the kernel (copy_file_range through libuv's copyfile on the two paths,
 * after our fds are closed; its rare errors are node:fs's, syscall
 * 'copyfile'); anything else moves through 1 MiB buffers on the ring, four
 * chunks in flight (cancellable between chunks).
 */
export function copyFile(src: PathLike, dest: PathLike, options?: FileOpenOptions & { exclusive?: boolean }):
  Promise<void> {
  ringOf(options);
  toPathBuffer(src, 'src');
  toPathBuffer(dest, 'dest');
  checkOptions(options);
  if (options?.exclusive !== undefined && typeof options.exclusive !== 'boolean') {
    throw invalidArgType('options.exclusive', 'of type boolean', options.exclusive);
  }
  return copyFileAsync(src, dest, options);
}

async function copyFileAsync(src: PathLike, dest: PathLike, options?: FileOpenOptions & { exclusive?: boolean }):
  Promise<void> {
  const input = await File.open(src, 'r', 0o666, helperOpen(options));
  let inKernel = false;
  try {
    const st = await input.stat(options);
    const output = await File.open(dest, options?.exclusive ? 'wx' : 'w', st.mode & 0o7777, helperOpen(options));
    try {
      inKernel = st.isFile() && st.size >= COPY_IN_KERNEL_MIN && options?.signal === undefined &&
        options?.timeout === undefined && ringInternals().kernelBacked(input.ring);
      if (!inKernel) await copyChunks(input, output, options);
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
  if (inKernel) {
    // dest exists now (created, or truncated, with src's mode): a plain copy onto it.
    await new Promise<void>((resolve, reject) => {
      fs.copyFile(src, dest, (err) => (err ? reject(err) : resolve()));
    });
  }
}

/**
 * COPY_DEPTH workers, each owning one buffer, claim chunk positions in
 * order: read the chunk fully, write it fully at the same position. A short
 * read marks the end; positions past it are not claimed. Every worker is
 * awaited (its buffer stays referenced by its pending operation until then).
 */
async function copyChunks(input: File, output: File, options: FileOpenOptions | undefined): Promise<void> {
  let next = 0;
  let end = Infinity;
  let failed = false;
  const worker = async (): Promise<void> => {
    const buf = Buffer.allocUnsafe(COPY_CHUNK);
    while (!failed) {
      const pos = next;
      if (pos >= end) return;
      next += COPY_CHUNK;
      const n = await input.readAll(buf, { ...options, position: pos });
      if (n < COPY_CHUNK) end = Math.min(end, pos + n);
      if (n > 0) await output.writeAll(buf, { ...options, length: n, position: pos });
    }
  };
  const results = await Promise.allSettled(Array.from({ length: COPY_DEPTH }, () => worker().catch((e: unknown) => {
    failed = true;
    throw e;
  })));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
