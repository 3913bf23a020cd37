/**
 * File: an open file descriptor bound to a ring, with fs-like methods. The
 * whole-file helpers (readFile / writeFile / copyFile) are in whole-file.ts.
 *
 * Every method is one ring operation (or a loop of them for readAll /
 * writeAll), so it takes the common `signal` / `timeout` options and never
 * touches libuv's thread pool.
 */
import os from 'node:os';

import { invalidArgType, invalidArgValue, outOfRange, SystemError } from '../errors.js';
import {
  checkPosition, checkView, FIXED_FILE, parseMode, parseOpenFlags, readOn, simpleFd, toPathBuffer,
  vectored, writeOn, type FallocateOptions, type OpenFlags, type PathLike, type ReadOptions, type StatOptions,
  type VectorOptions, type WriteOptions,
} from '../ops/file.js';
import { checkSize, MAX_RW } from '../ops/args.js';
import { DescOp } from '../backend/protocol.js';
import { installFile, removeFile } from './registered.js';
import { closeOnRing } from '../ops/sync-close.js';
import { checkOptions, type OpOptions } from '../ops/validate.js';
import { Ring } from '../ops/methods.js';
import { OP } from '../ops/table.js';
import type { BigIntStats, Stats } from './stats.js';

export interface FileOpenOptions extends OpOptions {
  /** The ring to use; default Ring.current(). */
  ring?: Ring;
  /**
   * Put the fd in the ring's registered file table (IOSQE_FIXED_FILE): the
   * kernel skips the fd lookup and reference counting on every operation.
   * 'auto' (default): register when the ring has a table with room, else use
   * the plain fd (NODE_DEBUG=uringkit says why). true: register or fail (the
   * open rejects, the fd closed, with ENFILE when the table is full). false: never.
   */
  register?: 'auto' | boolean;
}

function checkRegister(v: unknown): 'auto' | boolean {
  if (v === undefined) return 'auto';
  if (v !== 'auto' && typeof v !== 'boolean') throw invalidArgValue('options.register', v, "must be 'auto', true or false");
  return v;
}

/** An open file. Close it (or `await using`): the fd is not closed by GC. */
export class File {
  readonly #ring: Ring;
  #fd: number;
  /**
   * The target every operation names, chosen once at open: the file's index
   * in the ring's registered file table with #fileFlag = FIXED_FILE, or the
   * fd itself with 0. (No per-method registered/plain branch.)
   */
  #opFd: number;
  #fileFlag = 0;

  /**
   * Opens `path` (Node flag strings: 'r', 'r+', 'w', 'wx', 'a', ... or O_*
   * numbers; O_CLOEXEC always). Bad arguments throw synchronously.
   */
  static open(path: PathLike, flags: OpenFlags = 'r', mode: number | string = 0o666,
    options?: FileOpenOptions): Promise<File> {
    const ring = ringOf(options);
    toPathBuffer(path);
    parseOpenFlags(flags);
    parseMode(mode, 0o666);
    checkOptions(options);
    const register = checkRegister(options?.register);
    return (ring.open(path, flags, mode, options) as Promise<number>).then((fd) => {
      try {
        return new File(fd, ring, { register });
      } catch (e) {
        return (ring.closeFd(fd) as Promise<void>).then(() => Promise.reject(e), () => Promise.reject(e));
      }
    });
  }

  /** Wraps an fd that is already open (it will be closed by close()). Not registered unless `register` says so. */
  constructor(fd: number, ring: Ring = Ring.current(), options?: { register?: 'auto' | boolean }) {
    if (!Number.isInteger(fd) || fd < 0) throw outOfRange('fd', '>= 0', fd);
    if (!(ring instanceof Ring)) throw invalidArgType('ring', 'an instance of Ring', ring);
    const register = options?.register === undefined ? false : checkRegister(options.register);
    this.#fd = fd;
    this.#opFd = fd;
    this.#ring = ring;
    if (register !== false) {
      const i = installFile(ring, fd);
      if (i >= 0) {
        this.#opFd = i;
        this.#fileFlag = FIXED_FILE;
      } else if (register === true) throw new SystemError(i, 'io_uring_register (registering the file)');
    }
  }

  /** Whether the fd is in the ring's registered file table. */
  get registered(): boolean {
    return this.#fileFlag !== 0;
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
    this.#open();
    return readOn(this.#ring, this.#opFd, this.#fileFlag, buffer, options, undefined) as Promise<number>;
  }

  /** One write; resolves with bytes written (may be short). */
  write(data: ArrayBufferView | string, options?: WriteOptions): Promise<number> {
    this.#open();
    return writeOn(this.#ring, this.#opFd, this.#fileFlag, data, options, undefined) as Promise<number>;
  }

  readv(buffers: readonly ArrayBufferView[], options?: VectorOptions): Promise<number> {
    this.#open();
    return vectored(this.#ring, OP.readv!, DescOp.READV | this.#fileFlag, this.#opFd, buffers, options,
      undefined) as Promise<number>;
  }

  writev(buffers: readonly ArrayBufferView[], options?: VectorOptions): Promise<number> {
    this.#open();
    return vectored(this.#ring, OP.writev!, DescOp.WRITEV | this.#fileFlag, this.#opFd, buffers, options,
      undefined) as Promise<number>;
  }

  /**
   * Reads until `length` bytes (default: the rest of the buffer) are in or the
   * file ends; continues short reads. Resolves with the bytes read.
   */
  readAll(buffer: ArrayBufferView, options?: ReadOptions): Promise<number> {
    checkView(buffer);
    checkOptions(options);
    const [start, want] = wholeWindow(buffer, options);
    const pos = checkPosition(options?.position, 'options.position');
    this.#open();
    return this.#loop(readOn, true, buffer, start, want, pos, options);
  }

  /** Writes all of `data`, continuing short writes. Resolves with the byte count. */
  writeAll(data: ArrayBufferView | string, options?: WriteOptions): Promise<number> {
    checkOptions(options);
    const view = toView(data, options?.encoding);
    const [start, want] = wholeWindow(view, options);
    const pos = checkPosition(options?.position, 'options.position');
    this.#open();
    return this.#loop(writeOn, false, view, start, want, pos, options);
  }

  /**
   * The loop of readAll and writeAll (arguments checked by them): one
   * operation at a time over view[start, start + want), each starting where
   * the previous one ended (at file position `pos` + done, or the file's own
   * position when `pos` is -1), until `want` bytes have moved, a read moves 0
   * bytes (`stopAtZero`: the end of the file; resolves with the count so far),
   * or an operation fails (rejects with its error; nothing more is issued).
   * A write that moves 0 bytes is issued again, as fs.promises' writeFile does.
   * Each operation asks for at most MAX_RW bytes (the kernel's limit of one
   * read or write), so a view over 2 GiB moves whole in several operations.
   * Each operation takes `options`' signal, timeout and ref.
   *
   * One Promise for the whole loop: the operations use the callback form, so
   * there is no Promise, async frame or microtask hop per operation. Settles
   * exactly once: one operation is in flight at a time, and the next is issued
   * only from the previous one's callback. A File closed between two
   * operations rejects with EBADF, as any method of a closed File does.
   */
  #loop(issue: typeof readOn | typeof writeOn, stopAtZero: boolean, view: ArrayBufferView, start: number, want: number, pos: number,
    options: OpOptions | undefined): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (want === 0) {
        resolve(0);
        return;
      }
      let done = 0;
      // One options object for every operation: each reads it synchronously when issued.
      const o: ReadOptions & WriteOptions = {
        signal: options?.signal, timeout: options?.timeout, ref: options?.ref, offset: start,
        length: Math.min(want, MAX_RW), position: pos,
      };
      const next = (err: Error | null, n?: number): void => {
        if (err !== null) {
          reject(err);
          return;
        }
        done += n!;
        if (done >= want || (n === 0 && stopAtZero)) {
          resolve(done);
          return;
        }
        try {
          o.offset = start + done;
          o.length = Math.min(want - done, MAX_RW);
          if (pos !== -1) o.position = pos + done;
          issue(this.#ring, this.#opFdOrThrow(), this.#fileFlag, view, o, next);
        } catch (e) {
          reject(e);
        }
      };
      issue(this.#ring, this.#opFd, this.#fileFlag, view, o, next);
    });
  }

  /** The operation target, or EBADF when the File was closed. */
  #opFdOrThrow(): number {
    this.#open();
    return this.#opFd;
  }

  stat(options: StatOptions & { bigint: true }): Promise<BigIntStats>;
  stat(options?: StatOptions): Promise<Stats>;
  stat(options?: StatOptions): Promise<Stats | BigIntStats> {
    return this.#ring.statx(this.#open(), options);
  }

  sync(options?: OpOptions): Promise<void> {
    this.#open();
    return simpleFd(this.#ring, OP.fsync!, DescOp.FSYNC | this.#fileFlag, this.#opFd, 0, options,
      undefined) as Promise<void>;
  }

  datasync(options?: OpOptions): Promise<void> {
    this.#open();
    return simpleFd(this.#ring, OP.fdatasync!, DescOp.FSYNC | this.#fileFlag, this.#opFd, 1, options,
      undefined) as Promise<void>;
  }

  truncate(length = 0, options?: OpOptions): Promise<void> {
    return this.#ring.ftruncate(this.#open(), length, options);
  }

  allocate(offset: number, length: number, options?: FallocateOptions): Promise<void> {
    return this.#ring.fallocate(this.#open(), offset, length, options);
  }

  /**
   * Closes the descriptor (IORING_OP_CLOSE). A registered fd leaves the
   * ring's file table first, in submission order with the close. Idempotent.
   * On a ring that is already closed, the fd is closed synchronously (the
   * ring's file table went with the ring).
   */
  async close(): Promise<void> {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    const i = this.#fileFlag !== 0 ? this.#opFd : -1;
    this.#fileFlag = 0;
    this.#opFd = -1;
    if (i < 0) {
      await closeOnRing(this.#ring, fd);
      return;
    }
    const removed = removeFile(this.#ring, i);
    try {
      await closeOnRing(this.#ring, fd);
    } finally {
      await removed;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * offset and length of the window readAll / writeAll move: checkWindow's
 * rules without its cap of one operation (MAX_RW), since the loop splits.
 */
function wholeWindow(view: ArrayBufferView, o: { offset?: number; length?: number } | undefined): [number, number] {
  const offset = o?.offset === undefined ? 0 : checkSize(o.offset, 'options.offset', view.byteLength);
  const rest = view.byteLength - offset;
  return [offset, o?.length === undefined ? rest : checkSize(o.length, 'options.length', rest)];
}

/** The ring of `options` (default Ring.current()); throws on a bad `options` or `options.ring`. */
export function ringOf(options: FileOpenOptions | undefined): Ring {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw invalidArgType('options', 'of type object', options);
  }
  const ring = options?.ring ?? Ring.current();
  if (!(ring instanceof Ring)) throw invalidArgType('options.ring', 'an instance of Ring', ring);
  return ring;
}

export function checkEncoding(encoding: unknown, name: string): BufferEncoding | undefined {
  if (encoding === undefined || encoding === null) return undefined;
  if (typeof encoding !== 'string' || !Buffer.isEncoding(encoding)) {
    throw invalidArgValue(name, encoding, 'is not a supported encoding');
  }
  return encoding;
}

export function toView(data: unknown, encoding: unknown): ArrayBufferView {
  if (typeof data === 'string') return Buffer.from(data, checkEncoding(encoding, 'options.encoding') ?? 'utf8');
  checkView(data, 'data');
  return data;
}
