/**
 * File: an open file descriptor bound to a ring, with fs-like methods, and
 * the readFile / writeFile / copyFile helpers.
 *
 * Every method is one ring operation (or a loop of them for readAll /
 * writeAll), so it takes the common `signal` / `timeout` options and never
 * touches libuv's thread pool.
 */
import { constants as fsc } from 'node:fs';

import os from 'node:os';

import { invalidArgType, outOfRange, SystemError } from '../errors.js';
import '../ops/file.js';
import {
  checkPosition, checkView, parseMode, parseOpenFlags, type FallocateOptions, type OpenFlags, type PathLike,
  type ReadOptions, type StatOptions, type VectorOptions, type WriteOptions,
} from '../ops/file.js';
import type { OpOptions } from '../ops/validate.js';
import { Ring } from '../ring/ring.js';
import type { BigIntStats, Stats } from './stats.js';

export interface FileOpenOptions extends OpOptions {
  /** The ring to use; default Ring.current(). */
  ring?: Ring;
}

/** An open file. Close it (or `await using`): the fd is not closed by GC. */
export class File {
  readonly #ring: Ring;
  #fd: number;

  /** Opens `path` (Node flag strings: 'r', 'r+', 'w', 'wx', 'a', ... or O_* numbers; O_CLOEXEC always). */
  static async open(path: PathLike, flags: OpenFlags = 'r', mode: number | string = 0o666,
    options?: FileOpenOptions): Promise<File> {
    const ring = options?.ring ?? Ring.current();
    if (!(ring instanceof Ring)) throw invalidArgType('options.ring', 'an instance of Ring', ring);
    const fd = await ring.open(path, flags, mode, options);
    return new File(fd, ring);
  }

  /** Wraps an fd that is already open (it will be closed by close()). */
  constructor(fd: number, ring: Ring = Ring.current()) {
    if (!Number.isInteger(fd) || fd < 0) throw outOfRange('fd', '>= 0', fd);
    this.#fd = fd;
    this.#ring = ring;
  }

  /** The descriptor; -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  get ring(): Ring {
    return this.#ring;
  }

  #open(): number {
    if (this.#fd < 0) throw new SystemError(os.constants.errno.EBADF, 'file operation (the File is closed)');
    return this.#fd;
  }

  /** One read; resolves with bytes read (0 at end of file; may be short). */
  read(buffer: ArrayBufferView, options?: ReadOptions): Promise<number> {
    return this.#ring.read(this.#open(), buffer, options);
  }

  /** One write; resolves with bytes written (may be short). */
  write(data: ArrayBufferView | string, options?: WriteOptions): Promise<number> {
    return this.#ring.write(this.#open(), data, options);
  }

  readv(buffers: readonly ArrayBufferView[], options?: VectorOptions): Promise<number> {
    return this.#ring.readv(this.#open(), buffers, options);
  }

  writev(buffers: readonly ArrayBufferView[], options?: VectorOptions): Promise<number> {
    return this.#ring.writev(this.#open(), buffers, options);
  }

  /**
   * Reads until `length` bytes (default: the rest of the buffer) are in or the
   * file ends; continues short reads. Resolves with the bytes read.
   */
  async readAll(buffer: ArrayBufferView, options?: ReadOptions): Promise<number> {
    checkView(buffer);
    const start = options?.offset ?? 0;
    const want = options?.length ?? buffer.byteLength - start;
    let pos = checkPosition(options?.position, 'options.position');
    let done = 0;
    while (done < want) {
      const n = await this.#ring.read(this.#open(), buffer, {
        ...options, offset: start + done, length: want - done, position: pos,
      });
      if (n === 0) break;
      done += n;
      if (pos !== -1) pos += n;
    }
    return done;
  }

  /** Writes all of `data`, continuing short writes. Resolves with the byte count. */
  async writeAll(data: ArrayBufferView | string, options?: WriteOptions): Promise<number> {
    const view = typeof data === 'string' ? Buffer.from(data, options?.encoding ?? 'utf8') : data;
    checkView(view, 'data');
    const start = options?.offset ?? 0;
    const want = options?.length ?? view.byteLength - start;
    let pos = checkPosition(options?.position, 'options.position');
    let done = 0;
    while (done < want) {
      const n = await this.#ring.write(this.#open(), view, {
        ...options, offset: start + done, length: want - done, position: pos,
      });
      done += n;
      if (pos !== -1) pos += n;
    }
    return done;
  }

  stat(options: StatOptions & { bigint: true }): Promise<BigIntStats>;
  stat(options?: StatOptions): Promise<Stats>;
  stat(options?: StatOptions): Promise<Stats | BigIntStats> {
    return this.#ring.statx(this.#open(), options);
  }

  sync(options?: OpOptions): Promise<void> {
    return this.#ring.fsync(this.#open(), options);
  }

  datasync(options?: OpOptions): Promise<void> {
    return this.#ring.fdatasync(this.#open(), options);
  }

  truncate(length = 0, options?: OpOptions): Promise<void> {
    return this.#ring.ftruncate(this.#open(), length, options);
  }

  allocate(offset: number, length: number, options?: FallocateOptions): Promise<void> {
    return this.#ring.fallocate(this.#open(), offset, length, options);
  }

  /** Closes the descriptor (IORING_OP_CLOSE). Idempotent. */
  async close(): Promise<void> {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    await this.#ring.closeFd(fd);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export interface ReadFileOptions extends FileOpenOptions {
  encoding?: BufferEncoding;
  flag?: OpenFlags;
}

/** Reads a whole file (any size, including files whose stat size is 0, as in /proc). */
export async function readFile(path: PathLike, options: ReadFileOptions & { encoding: BufferEncoding }): Promise<string>;
export async function readFile(path: PathLike, options?: ReadFileOptions): Promise<Buffer>;
export async function readFile(path: PathLike, options?: ReadFileOptions): Promise<Buffer | string> {
  if (typeof options === 'string') options = { encoding: options };
  const file = await File.open(path, options?.flag ?? 'r', 0o666, options);
  try {
    const st = await file.stat(options);
    let size = st.size > 0 ? st.size : 64 * 1024;
    let buf = Buffer.allocUnsafe(size);
    let len = 0;
    for (;;) {
      const n = await file.read(buf, { ...options, offset: len, length: buf.length - len, position: len });
      if (n === 0) break;
      len += n;
      if (len === buf.length) {
        size *= 2;
        const bigger = Buffer.allocUnsafe(size);
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
    }
    const out = len === buf.length ? buf : buf.subarray(0, len);
    return options?.encoding ? out.toString(options.encoding) : out;
  } finally {
    await file.close();
  }
}

export interface WriteFileOptions extends FileOpenOptions {
  encoding?: BufferEncoding;
  mode?: number | string;
  flag?: OpenFlags;
}

/** Writes a whole file (created or truncated by default). */
export async function writeFile(path: PathLike, data: ArrayBufferView | string, options?: WriteFileOptions):
  Promise<void> {
  const flags = parseOpenFlags(options?.flag ?? 'w');
  const file = await File.open(path, flags, parseMode(options?.mode, 0o666), options);
  try {
    await file.writeAll(data, { ...options, position: (flags & fsc.O_APPEND) !== 0 ? null : 0 });
  } finally {
    await file.close();
  }
}

/**
 * Copies `src` to `dest` (created or truncated; with `exclusive`, fails if
 * dest exists). Data moves through 1 MiB buffers with reads and writes
 * overlapped (two in flight); the destination gets the source's mode.
 */
export async function copyFile(src: PathLike, dest: PathLike,
  options?: FileOpenOptions & { exclusive?: boolean }): Promise<void> {
  const input = await File.open(src, 'r', 0o666, options);
  try {
    const st = await input.stat(options);
    const output = await File.open(dest, options?.exclusive ? 'wx' : 'w', st.mode & 0o7777, options);
    try {
      const CHUNK = 1 << 20;
      const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
      let pos = 0;
      let pendingWrite: Promise<number> | undefined;
      for (let i = 0; ; i ^= 1) {
        const n = await input.readAll(bufs[i]!, { ...options, position: pos });
        if (pendingWrite) await pendingWrite;
        if (n === 0) break;
        pendingWrite = output.writeAll(bufs[i]!, { ...options, length: n, position: pos });
        pos += n;
        if (n < CHUNK) break;
      }
      if (pendingWrite) await pendingWrite;
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}
