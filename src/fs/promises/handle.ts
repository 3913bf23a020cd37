/**
 * FileHandle: node:fs/promises' FileHandle over a uringkit File.
 *
 * Contracts (as node's FileHandle):
 * - every method rejects with Error('file closed') { code: 'EBADF', syscall }
 *   once close() has been called and the descriptor released;
 * - close() emits 'close' synchronously, waits for operations in flight on
 *   the handle, then closes the fd; a second close() returns the same promise;
 * - a handle that becomes unreachable while open is closed on garbage
 *   collection with node's two warnings.
 * Reads, writes, readv/writev, stat, sync, datasync, truncate and close are
 * ring operations; chmod, chown and utimes use node:fs on the fd.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import readline from 'node:readline';
import { ReadableStream } from 'node:stream/web';
import { promisify } from 'node:util';

import os from 'node:os';

import { invalidArgType, invalidArgValue, outOfRange, SystemError } from '../../errors.js';
import type { File } from '../file.js';
import { registerHandleFile } from './handle-files.js';
import {
  abortCheckpoint, checkAborted, closedError, fileTooLarge, NODE_MAJOR, notAFileHandle, READ_FILE_MAX, toNodeStats,
} from './shape.js';
import { createReadStream, createWriteStream, type ReadStream, type ReadStreamOptions, type WriteStream,
  type WriteStreamOptions } from './streams.js';

const fchmod = promisify(fs.fchmod);
/** node:fs's read with a bigint position (the promisified overloads do not type it). */
const fsRead = promisify(fs.read) as unknown as (fd: number, buffer: NodeJS.ArrayBufferView, offset: number, length: number,
  position: bigint) => Promise<{ bytesRead: number }>;
const fchown = promisify(fs.fchown);
const futimes = promisify(fs.futimes);

/** Node's default buffer for `read()` without one. */
const DEFAULT_READ = 16384;
/** The kernel's limit on iovecs per readv/writev. */
const IOV_MAX = 1024;

export interface ReadResult<T extends NodeJS.ArrayBufferView> {
  bytesRead: number;
  buffer: T;
}
export interface WriteResult<T> {
  bytesWritten: number;
  buffer: T;
}
export interface ReadOptionsLike<T extends NodeJS.ArrayBufferView = Buffer> {
  buffer?: T;
  offset?: number | null;
  length?: number | null;
  position?: number | bigint | null;
}
export interface HandleReadFileOptions {
  encoding?: BufferEncoding | null;
  signal?: AbortSignal;
}
export interface HandleWriteFileOptions {
  encoding?: BufferEncoding | null;
  signal?: AbortSignal;
}
export type WriteFileData = string | NodeJS.ArrayBufferView | Iterable<string | NodeJS.ArrayBufferView>
  | AsyncIterable<string | NodeJS.ArrayBufferView>;

const finalizer = new FinalizationRegistry<number>((fd) => {
  process.emitWarning(`Closing file descriptor ${fd} on garbage collection`);
  process.emitWarning('Closing a FileHandle object on garbage collection is deprecated. Please close FileHandle ' +
    'objects explicitly using FileHandle.prototype.close(). In the future, an error will be thrown if a file ' +
    'descriptor is closed during garbage collection.', 'DeprecationWarning', 'DEP0137');
  fs.close(fd, () => undefined);
});

let nodeProto: Promise<void> | undefined;

/**
 * Makes our FileHandle pass `instanceof` node's own FileHandle class (not
 * exported by Node: its prototype is taken from one handle of node:fs/promises
 * on /dev/null, once per thread), so node's APIs that take a FileHandle take
 * ours: node:fs's createReadStream / createWriteStream with `{ fd: handle }`
 * drive it through its public read/write/writev/sync/close and its 'close'
 * event. Every public method of node's class is overridden here; node's
 * private bookkeeping (kRef/kUnref on a field we do not have) is inert.
 * Without /dev/null the chain is left as it is (our handle is then not
 * accepted by node:fs's streams). Resolves once done; never rejects.
 */
export function adoptNodeFileHandleProto(): Promise<void> {
  nodeProto ??= fsp.open('/dev/null', 'r').then(async (h) => {
    const proto = Object.getPrototypeOf(h) as object;
    await h.close();
    if (typeof (proto as { on?: unknown }).on === 'function') Object.setPrototypeOf(FileHandle.prototype, proto);
  }).catch(() => undefined);
  return nodeProto;
}

function checkInteger(v: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v)) throw outOfRange(name, 'an integer', v);
  if (v < min || v > max) throw outOfRange(name, `>= ${min} && <= ${max}`, v);
  return v;
}

/**
 * FileHandle.read's position as the running Node takes it: from Node 21
 * (nodejs/node#42835) a safe integer >= -1 or a bigint, else an error; before,
 * anything but a safe integer, and any negative one, meant the current
 * position. -1 = the current position.
 */
function readPosition(p: unknown, length: number): number | bigint {
  if (p === null || p === undefined) return -1;
  if (NODE_MAJOR < 21) return typeof p === 'number' && Number.isSafeInteger(p) && p >= 0 ? p : -1;
  if (typeof p === 'bigint') {
    const max = 2n ** 63n - 1n - BigInt(length);
    if (!(p >= -1n && p <= max)) throw outOfRange('position', `>= -1 && <= ${max}`, p);
    return p;
  }
  if (typeof p !== 'number') throw invalidArgType('position', 'of type bigint or integer', p);
  return checkInteger(p, 'position', -1);
}

/** A write position (write, readv, writev): a number (truncated; negative = current), anything else = current. */
function writePosition(p: unknown): number {
  if (typeof p !== 'number' || !(p >= 0)) return -1;
  return Math.min(Math.trunc(p), Number.MAX_SAFE_INTEGER);
}

function isView(v: unknown): v is NodeJS.ArrayBufferView {
  return ArrayBuffer.isView(v);
}

function checkBufferArray(buffers: unknown): readonly NodeJS.ArrayBufferView[] {
  if (!Array.isArray(buffers) || !buffers.every(isView)) {
    throw invalidArgType('buffers', 'an ArrayBufferView[]', buffers);
  }
  return buffers as NodeJS.ArrayBufferView[];
}

export class FileHandle extends EventEmitter {
  #file: File;
  #fd: number;
  #refs = 1;
  #closePromise: Promise<void> | undefined;
  #closeSettle: ((err?: unknown) => void) | undefined;
  #locked = false;

  /** @internal Use open() (uringkit/fs): wraps an open File; the handle owns its fd from now on. */
  constructor(file: File) {
    super();
    this.#file = file;
    this.#fd = file.fd;
    registerHandleFile(this, file);
    finalizer.register(this, this.#fd, this);
  }

  /** The descriptor; -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  /** Throws node's ERR_INTERNAL_ASSERTION when a method is called on anything but a FileHandle (`this` unbound). */
  static #own(h: unknown): void {
    if (typeof h !== 'object' || h === null || !(#file in h)) throw notAFileHandle();
  }

  /**
   * Runs `fn` with handle `h` referenced (close() waits for it); rejects as
   * node's when closed, or when `h` is not a FileHandle (a method called
   * with another `this`).
   */
  static async #run<T>(h: FileHandle, syscall: string, fn: (file: File) => Promise<T>): Promise<T> {
    FileHandle.#own(h);
    if (h.#fd === -1) throw closedError(syscall);
    h.#refs++;
    try {
      return await fn(h.#file);
    } finally {
      h.#unref();
    }
  }

  #unref(): void {
    if (--this.#refs === 0) {
      this.#fd = -1;
      finalizer.unregister(this);
      const settle = this.#closeSettle;
      this.#closeSettle = undefined;
      this.#file.close().then(() => settle?.(), (e: unknown) => settle?.(e ?? new Error('close failed')));
    }
  }

  close(): Promise<void> {
    if (this.#fd === -1 && this.#closePromise === undefined) return Promise.resolve();
    if (this.#closePromise !== undefined) return this.#closePromise;
    const p = new Promise<void>((resolve, reject) => {
      this.#closeSettle = (err?: unknown) => (err === undefined ? resolve() : reject(err));
    }).finally(() => {
      this.#closePromise = undefined;
    });
    this.#closePromise = p;
    this.#unref();
    this.emit('close');
    return p;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  read<T extends NodeJS.ArrayBufferView = Buffer>(buffer: T, offset?: number | null, length?: number | null,
    position?: number | bigint | null): Promise<ReadResult<T>>;
  read<T extends NodeJS.ArrayBufferView = Buffer>(buffer: T, options?: ReadOptionsLike<T>): Promise<ReadResult<T>>;
  read<T extends NodeJS.ArrayBufferView = Buffer>(options?: ReadOptionsLike<T>): Promise<ReadResult<T>>;
  async read(bufferOrOptions?: unknown, offsetOrOptions?: unknown, lengthArg?: unknown,
    positionArg?: unknown): Promise<ReadResult<NodeJS.ArrayBufferView>> {
    FileHandle.#own(this);
    if (this.#fd === -1) throw closedError('read');
    let buffer: unknown = bufferOrOptions;
    let offset: unknown = offsetOrOptions;
    let length: unknown = lengthArg;
    let position: unknown = positionArg;
    if (!isView(buffer)) {
      if (bufferOrOptions !== undefined && bufferOrOptions !== null && typeof bufferOrOptions !== 'object') {
        throw invalidArgType('options', 'of type object', bufferOrOptions);
      }
      const o = (bufferOrOptions ?? {}) as ReadOptionsLike<NodeJS.ArrayBufferView>;
      buffer = o.buffer ?? Buffer.alloc(DEFAULT_READ);
      if (!isView(buffer)) throw invalidArgType('buffer', 'an instance of Buffer, TypedArray, or DataView', buffer);
      offset = o.offset ?? 0;
      length = o.length ?? buffer.byteLength - (offset as number);
      position = o.position ?? null;
    }
    const buf = buffer as NodeJS.ArrayBufferView;
    if (offset !== null && typeof offset === 'object') {
      const o = offset as ReadOptionsLike<NodeJS.ArrayBufferView>;
      offset = o.offset ?? 0;
      length = o.length ?? buf.byteLength - (offset as number);
      position = o.position ?? null;
    }
    const off = offset === null || offset === undefined ? 0 : checkInteger(offset, 'offset', 0);
    const len = (length ?? buf.byteLength - off) as number;
    // Node 24 validates the position before the zero-length early return (nodejs/node#62674).
    let pos: number | bigint = NODE_MAJOR >= 24 ? readPosition(position, len) : -1;
    if (len === 0) return { __proto__: null, bytesRead: 0, buffer: buf } as ReadResult<NodeJS.ArrayBufferView>;
    if (buf.byteLength === 0) throw invalidArgValue('buffer', buf, 'is empty and cannot be written');
    if (off < 0) throw outOfRange('offset', '>= 0', off);
    if (len < 0) throw outOfRange('length', '>= 0', len);
    if (off + len > buf.byteLength) throw outOfRange('length', `<= ${buf.byteLength - off}`, len);
    if (NODE_MAJOR < 24) pos = readPosition(position, len);
    const bytesRead = await FileHandle.#run(this, 'read', (f) => typeof pos === 'bigint' && pos > BigInt(Number.MAX_SAFE_INTEGER)
      // Past 2^53 (a bigint up to 2^63-1): no ring operation takes it; node:fs's read on the fd gives node's result.
      ? fsRead(f.fd, buf, off, len, pos).then((r) => r.bytesRead)
      : f.read(buf, { offset: off, length: len, position: typeof pos === 'bigint' ? Number(pos) : pos }));
    return { __proto__: null, bytesRead, buffer: buf } as ReadResult<NodeJS.ArrayBufferView>;
  }

  write<T extends NodeJS.ArrayBufferView>(buffer: T, offset?: number | null, length?: number | null,
    position?: number | null): Promise<WriteResult<T>>;
  write<T extends NodeJS.ArrayBufferView>(buffer: T, options?: { offset?: number; length?: number;
    position?: number | null }): Promise<WriteResult<T>>;
  write(data: string, position?: number | null, encoding?: BufferEncoding | null): Promise<WriteResult<string>>;
  async write(data: unknown, offsetOrOptions?: unknown, lengthArg?: unknown,
    positionArg?: unknown): Promise<WriteResult<unknown>> {
    FileHandle.#own(this);
    if (this.#fd === -1) throw closedError('write');
    if ((data as { byteLength?: unknown } | null | undefined)?.byteLength === 0) {
      return { __proto__: null, bytesWritten: 0, buffer: data } as WriteResult<unknown>;
    }
    if (isView(data)) {
      let offset = offsetOrOptions;
      let length = lengthArg;
      let position = positionArg;
      if (typeof offset === 'object') {
        const o = (offset ?? {}) as { offset?: number; length?: number; position?: number | null };
        offset = o.offset ?? 0;
        length = o.length ?? data.byteLength - (offset as number);
        position = o.position ?? null;
      }
      const off = offset === null || offset === undefined ? 0 : checkInteger(offset, 'offset', 0);
      const len = typeof length === 'number' ? length : data.byteLength - off;
      const pos = writePosition(position);
      if (off > data.byteLength) throw outOfRange('offset', `<= ${data.byteLength}`, off);
      if (len > data.byteLength - off) throw outOfRange('length', `<= ${data.byteLength - off}`, len);
      if (len < 0) throw outOfRange('length', '>= 0', len);
      checkInteger(len, 'length', 0, 2 ** 31 - 1);
      const bytesWritten = await FileHandle.#run(this, 'write', (f) => f.write(data, { offset: off, length: len, position: pos }));
      return { __proto__: null, bytesWritten, buffer: data } as WriteResult<unknown>;
    }
    if (typeof data !== 'string') {
      throw invalidArgType('buffer', 'of type string or an instance of Buffer, TypedArray, or DataView', data);
    }
    // As node: an unknown encoding writes utf8; hex must have an even length.
    const encoding = typeof lengthArg === 'string' && Buffer.isEncoding(lengthArg) ? lengthArg : 'utf8';
    if (encoding.toLowerCase() === 'hex' && data.length % 2 !== 0) {
      throw invalidArgValue('encoding', lengthArg, `is invalid for data of length ${data.length}`);
    }
    const pos = writePosition(offsetOrOptions);
    const bytes = Buffer.from(data, encoding);
    const bytesWritten = await FileHandle.#run(this, 'write', (f) => f.write(bytes, { position: pos }));
    return { __proto__: null, bytesWritten, buffer: data } as WriteResult<unknown>;
  }

  async readv<T extends readonly NodeJS.ArrayBufferView[]>(buffers: T, position?: number | null):
    Promise<{ bytesRead: number; buffers: T }> {
    FileHandle.#own(this);
    if (this.#fd === -1) throw closedError('readv');
    checkBufferArray(buffers);
    // As node's: readv(2) with no buffers fails.
    if (buffers.length === 0) throw new SystemError(os.constants.errno.EINVAL, 'read');
    const pos = writePosition(position);
    const bytesRead = await FileHandle.#run(this, 'readv', (f) => vectorLoop(buffers, pos, (batch, o) => f.readv(batch, o)));
    return { __proto__: null, bytesRead, buffers } as unknown as { bytesRead: number; buffers: T };
  }

  async writev<T extends readonly NodeJS.ArrayBufferView[]>(buffers: T, position?: number | null):
    Promise<{ bytesWritten: number; buffers: T }> {
    FileHandle.#own(this);
    if (this.#fd === -1) throw closedError('writev');
    checkBufferArray(buffers);
    if (buffers.length === 0) return { __proto__: null, bytesWritten: 0, buffers } as unknown as { bytesWritten: number; buffers: T };
    const pos = writePosition(position);
    const bytesWritten = await FileHandle.#run(this, 'writev', (f) => vectorLoop(buffers, pos, (batch, o) => f.writev(batch, o)));
    return { __proto__: null, bytesWritten, buffers } as unknown as { bytesWritten: number; buffers: T };
  }

  stat(options: { bigint: true }): Promise<fs.BigIntStats>;
  stat(options?: { bigint?: false }): Promise<fs.Stats>;
  stat(options?: { bigint?: boolean }): Promise<fs.Stats | fs.BigIntStats>;
  async stat(options?: { bigint?: boolean }): Promise<fs.Stats | fs.BigIntStats> {
    const bigint = options?.bigint === true;
    return FileHandle.#run(this, 'fstat', async (f) => toNodeStats(await f.stat({ bigint })));
  }

  async truncate(len = 0): Promise<void> {
    FileHandle.#own(this);
    if (this.#fd === -1) throw closedError('ftruncate');
    checkInteger(len, 'len', Number.MIN_SAFE_INTEGER);
    const n = Math.max(0, len);
    await FileHandle.#run(this, 'ftruncate', (f) => f.truncate(n));
  }

  async sync(): Promise<void> {
    return FileHandle.#run(this, 'fsync', (f) => f.sync());
  }

  async datasync(): Promise<void> {
    return FileHandle.#run(this, 'fdatasync', (f) => f.datasync());
  }

  async chmod(mode: fs.Mode): Promise<void> {
    return FileHandle.#run(this, 'fchmod', (f) => fchmod(f.fd, mode));
  }

  async chown(uid: number, gid: number): Promise<void> {
    return FileHandle.#run(this, 'fchown', (f) => fchown(f.fd, uid, gid));
  }

  async utimes(atime: fs.TimeLike, mtime: fs.TimeLike): Promise<void> {
    return FileHandle.#run(this, 'futimes', (f) => futimes(f.fd, atime, mtime));
  }

  readFile(options: { encoding: BufferEncoding; signal?: AbortSignal } | BufferEncoding): Promise<string>;
  readFile(options?: { encoding?: null; signal?: AbortSignal } | null): Promise<Buffer>;
  readFile(options?: HandleReadFileOptions | BufferEncoding | null): Promise<string | Buffer>;
  async readFile(options?: HandleReadFileOptions | BufferEncoding | null): Promise<string | Buffer> {
    const o: HandleReadFileOptions = typeof options === 'string' ? { encoding: options } : options ?? {};
    return FileHandle.#run(this, 'readFile', (f) => readFromCurrent(f, o));
  }

  /** Writes at the current file position (the end for a handle opened in append mode). */
  async writeFile(data: WriteFileData, options?: HandleWriteFileOptions | BufferEncoding | null): Promise<void> {
    const o: HandleWriteFileOptions = typeof options === 'string' ? { encoding: options } : options ?? {};
    return FileHandle.#run(this, 'writeFile', (f) => writeAllData(f, data, o, -1));
  }

  async appendFile(data: WriteFileData, options?: HandleWriteFileOptions | BufferEncoding | null): Promise<void> {
    const o: HandleWriteFileOptions = typeof options === 'string' ? { encoding: options } : options ?? {};
    return FileHandle.#run(this, 'writeFile', (f) => writeAllData(f, data, o, -1));
  }

  readLines(options?: ReadStreamOptions): readline.Interface {
    return readline.createInterface({ input: this.createReadStream(options), crlfDelay: Infinity });
  }

  createReadStream(options?: ReadStreamOptions): ReadStream {
    return createReadStream(undefined, { ...options, fd: this });
  }

  createWriteStream(options?: WriteStreamOptions): WriteStream {
    return createWriteStream(undefined, { ...options, fd: this });
  }

  /**
   * A web ReadableStream ('bytes') of the rest of the file from the current
   * position, one 64 KiB ring read per pull. The handle stays open (node 20's
   * contract) unless `autoClose` is set; it is locked from then on (a second
   * readableWebStream() throws ERR_INVALID_STATE, as node's).
   */
  readableWebStream(options: { type?: 'bytes'; autoClose?: boolean } = {}): ReadableStream<Uint8Array> {
    if (this.#fd === -1) throw invalidState('The FileHandle is closed');
    if (this.#closePromise !== undefined) throw invalidState('The FileHandle is closing');
    if (this.#locked) throw invalidState('The FileHandle is locked');
    this.#locked = true;
    // Node 24 (verified there) warns that any other type still gives a byte stream.
    if (NODE_MAJOR >= 24 && options.type !== undefined && options.type !== 'bytes') {
      process.emitWarning('A non-"bytes" options.type has no effect. A byte-oriented steam is always created.',
        'ExperimentalWarning');
    }
    // As node's: the handle stays locked once a web stream was taken (one per handle), even after it ends.
    const unlock = (): void => {
      if (options.autoClose === true) void this.close().catch(() => undefined);
    };
    const onClose = (): void => {
      try {
        controller?.close();
      } catch {
        // closed or errored already
      }
    };
    let controller: ReadableByteStreamController | undefined;
    this.once('close', onClose);
    return new ReadableStream({
      type: 'bytes',
      start: (c) => {
        controller = c;
      },
      pull: async (c) => {
        const buf = Buffer.allocUnsafe(64 * 1024);
        const { bytesRead } = await this.read(buf, 0, buf.length, null);
        if (bytesRead === 0) {
          this.off('close', onClose);
          c.close();
          c.byobRequest?.respond(0);
          unlock();
          return;
        }
        // A copy: the read buffer was pinned for the kernel (untransferable), and a byte stream transfers what it gets.
        c.enqueue(new Uint8Array(buf.subarray(0, bytesRead)));
      },
      cancel: () => {
        this.off('close', onClose);
        unlock();
      },
    });
  }
}

/**
 * readv/writev of `buffers` in IOV_MAX batches (empty buffers skipped) from
 * `pos` (-1: current position); stops at the first short transfer, whose
 * count is included, as one readv(2)/writev(2) would.
 */
async function vectorLoop(buffers: readonly NodeJS.ArrayBufferView[], pos: number,
  op: (batch: NodeJS.ArrayBufferView[], o: { position: number }) => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < buffers.length; i += IOV_MAX) {
    const batch = buffers.slice(i, i + IOV_MAX).filter((b) => b.byteLength > 0);
    if (batch.length === 0) continue;
    const want = batch.reduce((n, b) => n + b.byteLength, 0);
    const n = await op(batch, { position: pos });
    total += n;
    if (pos !== -1) pos += n;
    if (n < want) break;
  }
  return total;
}

function invalidState(message: string): Error & { code: string } {
  const err = new Error(`Invalid state: ${message}`) as Error & { code: string };
  err.code = 'ERR_INVALID_STATE';
  return err;
}

/** The rest of the file from the current position (node's FileHandle.readFile contract). */
async function readFromCurrent(f: File, o: HandleReadFileOptions): Promise<string | Buffer> {
  const encoding = o.encoding ?? undefined;
  if (encoding !== undefined && !Buffer.isEncoding(encoding)) {
    throw invalidArgValue('encoding', encoding, 'is invalid encoding');
  }
  checkAborted(o.signal);
  const st = await f.stat();
  const regular = st.isFile() && st.size > 0;
  if (regular && st.size > READ_FILE_MAX) throw fileTooLarge(st.size);
  let buf = Buffer.allocUnsafe(regular ? st.size : 64 * 1024);
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      if (regular) break;
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
    // Node's check point before each read (the first one also follows its fstat).
    if (o.signal !== undefined) await abortCheckpoint(o.signal);
    const n = await f.read(buf, { offset: len, length: buf.length - len, position: -1 });
    if (n === 0) break;
    len += n;
  }
  const out = buf.subarray(0, len);
  return encoding !== undefined ? out.toString(encoding) : out;
}

function isIterable(v: unknown): v is Iterable<unknown> | AsyncIterable<unknown> {
  return v !== null && typeof v === 'object' &&
    (typeof (v as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function');
}

/**
 * Writes `data` (string, view, or a sync/async iterable of them) through `f`
 * from `position` (-1: the current position, advancing), continuing short
 * writes; the signal is checked before each chunk, as node:fs does.
 */
export async function writeAllData(f: File, data: unknown, o: HandleWriteFileOptions, position: number): Promise<void> {
  const encoding = o.encoding ?? 'utf8';
  if (!Buffer.isEncoding(encoding)) throw invalidArgValue('encoding', encoding, 'is invalid encoding');
  let pos = position;
  const put = async (chunk: unknown): Promise<void> => {
    // Node's check point before each write.
    if (o.signal !== undefined) await abortCheckpoint(o.signal);
    const view = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    if (!isView(view)) {
      throw invalidArgType('data', 'of type string or an instance of Buffer, TypedArray, or DataView', chunk);
    }
    if (view.byteLength === 0) return;
    const n = await f.writeAll(view, { position: pos });
    if (pos !== -1) pos += n;
  };
  if (typeof data === 'string' || isView(data)) {
    await put(data);
    return;
  }
  if (!isIterable(data)) {
    throw invalidArgType('data', 'of type string or an instance of Buffer, TypedArray, or DataView', data);
  }
  // Node's check point at the start (after the open's round trip), even for an iterable that yields nothing.
  if (o.signal !== undefined) await abortCheckpoint(o.signal);
  for await (const chunk of data as AsyncIterable<unknown>) await put(chunk);
}
