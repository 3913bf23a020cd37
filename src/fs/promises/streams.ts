/**
 * fs.ReadStream / fs.WriteStream work-alikes on the ring: real
 * stream.Readable / stream.Writable subclasses (pipeline() etc. work), with
 * node's options (start, end, highWaterMark, encoding, flags, mode, fd,
 * autoClose, emitClose, signal, flush) and events (open, ready, close, error).
 *
 * Read streams keep up to READ_AHEAD chunk reads in flight (each chunk one
 * ring read of highWaterMark bytes at its own position), so the disk or page
 * cache works while JavaScript consumes the previous chunk. Chunks are pushed
 * strictly in file order; a short read ends the read-ahead window (the
 * results after it are dropped, never pushed) and reading resumes after it.
 * The fd is closed (autoClose) only after every read or write in flight has
 * completed.
 *
 * Options this module does not implement (a custom `fs` object, or a
 * node:fs/promises FileHandle as `fd`) are handed to node:fs's own streams.
 */
import fs from 'node:fs';
import { addAbortSignal, Readable, Writable } from 'node:stream';

import { invalidArgType, outOfRange } from '../../errors.js';
import { File } from '../file.js';
import { Ring } from '../../ring/ring.js';
import { fileOfHandle, type StreamFileHandle } from './handle-files.js';
import { currentRing, plainFlags, plainMode, plainPath } from './shape.js';
import { parseOpenFlags } from '../../ops/file.js';

/** Chunk reads kept in flight by a read stream on a regular file. */
export const READ_AHEAD = 4;
/** Writes kept in flight by a write stream that knows its position. */
export const WRITE_BEHIND = 4;
const DEFAULT_HWM = 64 * 1024;

export interface StreamCommonOptions {
  flags?: string | number;
  encoding?: BufferEncoding | null;
  fd?: number | StreamFileHandle;
  mode?: number;
  autoClose?: boolean;
  emitClose?: boolean;
  start?: number;
  signal?: AbortSignal;
  highWaterMark?: number;
  /** Not supported on the ring: a stream with a custom `fs` is node:fs's own. */
  fs?: unknown;
}
export interface ReadStreamOptions extends StreamCommonOptions {
  end?: number;
}
export interface WriteStreamOptions extends StreamCommonOptions {
  flush?: boolean;
}

/** As node's streams: `signal`, when given, must be an AbortSignal (checked before the stream exists). */
function checkSignal(signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
  }
}

function checkStartEnd(start: unknown, end: unknown): [number | undefined, number] {
  if (start !== undefined) {
    if (typeof start !== 'number') throw invalidArgType('start', 'of type number', start);
    if (!Number.isInteger(start)) throw outOfRange('start', 'an integer', start);
    if (start < 0 || start > Number.MAX_SAFE_INTEGER) throw outOfRange('start', `>= 0 && <= ${Number.MAX_SAFE_INTEGER}`, start);
  }
  let e = Infinity;
  if (end !== undefined && end !== Infinity) {
    if (typeof end !== 'number') throw invalidArgType('end', 'of type number', end);
    if (!Number.isInteger(end)) throw outOfRange('end', 'an integer', end);
    if (end < 0 || end > Number.MAX_SAFE_INTEGER) throw outOfRange('end', `>= 0 && <= ${Number.MAX_SAFE_INTEGER}`, end);
    e = end;
  }
  if (start !== undefined && start > e) throw outOfRange('start', `<= "end" (here: ${e})`, start);
  return [start as number | undefined, e];
}

interface Source {
  file?: File;
  handle?: StreamFileHandle;
}

/** Resolves `fd` (number or our FileHandle) to a File; undefined: open `path` in _construct. */
function sourceOf(fd: unknown): Source {
  const handleFile = fileOfHandle(fd);
  if (handleFile !== undefined) return { handle: fd as StreamFileHandle, file: handleFile };
  if (fd === undefined || fd === null) return {};
  if (typeof fd !== 'number') throw invalidArgType('fd', 'of type number or an instance of FileHandle', fd);
  if (!Number.isInteger(fd) || fd < 0 || fd > 2 ** 31 - 1) throw outOfRange('fd', '>= 0 && <= 2147483647', fd);
  return { file: new File(fd, Ring.current()) };
}

/** Whether node:fs must build this stream (what the ring version does not model). */
function delegated(options: StreamCommonOptions | undefined): boolean {
  if (currentRing() === undefined) return true;
  if (options === undefined) return false;
  return options.fs !== undefined || (options.fd !== undefined && typeof options.fd === 'object' &&
    fileOfHandle(options.fd) === undefined);
}

/** What both stream kinds resolve from their arguments: the source, the path, flags and mode (node's checks). */
function streamTarget(path: fs.PathLike | undefined, options: StreamCommonOptions, defFlags: string):
  { src: Source; path: string | Buffer | undefined; flags: string | number; mode: number } {
  const src = sourceOf(options.fd);
  const p = src.file !== undefined ? undefined : (path instanceof URL ? plainPath(path) : path);
  const flags = plainFlags(options.flags, defFlags);
  if (flags === undefined) throw invalidArgType('flags', 'a flag string or number', options.flags);
  const mode = plainMode(options.mode, 0o666);
  if (mode === undefined) throw invalidArgType('mode', 'of type number or an octal string', options.mode);
  if (src.file === undefined && typeof p !== 'string' && !Buffer.isBuffer(p)) {
    throw invalidArgType('path', 'of type string or an instance of Buffer or URL', path);
  }
  return { src, path: p, flags, mode };
}

/** Opens a stream's path on the calling thread's ring. */
function openFile(path: string | Buffer | undefined, flags: string | number, mode: number): Promise<File> {
  const ring = Ring.current();
  return ring.open(path as string | Buffer, flags, mode).then((fd) => new File(fd, ring));
}

/**
 * _construct of both stream kinds: unless the stream was given its file,
 * opens the path on the ring, sets `fd`, runs `opened` (which takes the
 * file), then emits 'open' and 'ready' as node's streams do.
 */
function constructStream(stream: NodeJS.EventEmitter & { fd: number | null; path: string | Buffer | undefined;
  flags: string | number; mode: number }, given: boolean, opened: (file: File) => Promise<void> | undefined,
  callback: (error?: Error | null) => void): void {
  if (given) {
    callback();
    return;
  }
  openFile(stream.path, stream.flags, stream.mode).then((file) => {
    stream.fd = file.fd;
    return opened(file);
  }).then(() => {
    stream.emit('open', stream.fd);
    stream.emit('ready');
    callback();
  }, (err: Error) => callback(err));
}

/** _destroy's end for both stream kinds (called once nothing is in flight): close the source if autoClose. */
function closeStream(stream: { fd: number | null }, src: Source, autoClose: boolean, err: Error | null,
  callback: (error?: Error | null) => void): void {
  if (!autoClose) {
    callback(err);
    return;
  }
  closeSource(src, (closeErr) => {
    stream.fd = null;
    callback(err ?? closeErr ?? null);
  });
}

function closeSource(src: Source, done: (err?: Error | null) => void): void {
  if (src.handle !== undefined) {
    src.handle.close().then(() => done(null), (e: Error) => done(e));
  } else if (src.file !== undefined && src.file.fd >= 0) {
    src.file.close().then(() => done(null), (e: Error) => done(e));
  } else done(null);
}

interface Pending {
  buf: Buffer;
  pos: number;
  len: number;
  done: boolean;
  stale: boolean;
  n: number;
  err: Error | null;
}

export class ReadStream extends Readable {
  /** The path as given (undefined when built from an fd). */
  readonly path: string | Buffer | undefined;
  fd: number | null;
  readonly flags: string | number;
  readonly mode: number;
  readonly start: number | undefined;
  readonly end: number;
  bytesRead = 0;
  #src: Source;
  readonly #autoClose: boolean;
  #pos: number;
  #positional: boolean;
  #queue: Pending[] = [];
  #outstanding = 0;
  #eof = false;
  #wanting = false;
  #afterIo: (() => void) | undefined;

  constructor(path: fs.PathLike | undefined, options: ReadStreamOptions = {}) {
    const [start, end] = checkStartEnd(options.start, options.end);
    checkSignal(options.signal);
    const hwm = options.highWaterMark ?? DEFAULT_HWM;
    super({
      highWaterMark: hwm,
      ...(options.encoding != null ? { encoding: options.encoding } : {}),
      emitClose: options.emitClose ?? true,
      autoDestroy: true,
    });
    const t = streamTarget(path, options, 'r');
    this.#src = t.src;
    this.fd = t.src.file?.fd ?? null;
    this.path = t.path;
    this.flags = t.flags;
    this.mode = t.mode;
    this.start = start;
    this.end = end;
    this.#autoClose = options.autoClose ?? true;
    this.#pos = start ?? -1;
    this.#positional = start !== undefined;
    // Not in super()'s options: an already-aborted signal destroys the stream at once, and _destroy needs the fields.
    if (options.signal !== undefined) addAbortSignal(options.signal, this);
  }

  /** True until the file is open. */
  get pending(): boolean {
    return this.fd === null;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    constructStream(this, this.#src.file !== undefined, (file) => {
      this.#src = { file };
      if (this.#positional) return undefined;
      // A regular file we opened ourselves: positioned reads from 0 (the
      // same bytes as reads at the current position) so reads can overlap.
      return file.stat().then((st) => {
        if (st.isFile()) {
          this.#positional = true;
          this.#pos = 0;
        }
      });
    }, callback);
  }

  override _read(): void {
    this.#wanting = true;
    this.#pump();
  }

  #pump(): void {
    const file = this.#src.file;
    if (file === undefined) return;
    const depth = this.#positional ? READ_AHEAD : 1;
    while (this.#wanting && !this.#eof && !this.destroyed && this.#queue.length < depth) {
      const pos = this.#positional ? this.#pos : -1;
      const left = this.end === Infinity ? Infinity
        : this.#positional ? this.end - this.#pos + 1 : this.end - this.bytesRead - this.#queued() + 1;
      if (left <= 0) {
        if (this.#queue.length === 0) {
          this.#eof = true;
          this.push(null);
        }
        return;
      }
      const len = Math.min(this.readableHighWaterMark, left);
      const entry: Pending = { buf: Buffer.allocUnsafe(len), pos, len, done: false, stale: false, n: 0, err: null };
      this.#queue.push(entry);
      this.#outstanding++;
      if (this.#positional) this.#pos += len;
      try {
        file.ring.read(file.fd, entry.buf, { position: pos }, (err, n) => this.#completed(entry, err, n ?? 0));
      } catch (e) {
        this.#completed(entry, e as Error, 0);
      }
    }
  }

  /** Bytes requested by live entries (for `end` on a non-positional stream). */
  #queued(): number {
    let s = 0;
    for (const e of this.#queue) s += e.len;
    return s;
  }

  #completed(entry: Pending, err: Error | null, n: number): void {
    this.#outstanding--;
    entry.done = true;
    entry.err = err;
    entry.n = n;
    if (this.#outstanding === 0 && this.#afterIo !== undefined) {
      const f = this.#afterIo;
      this.#afterIo = undefined;
      f();
      return;
    }
    if (entry.stale || this.destroyed) return;
    while (this.#queue.length > 0 && this.#queue[0]!.done) {
      const e = this.#queue.shift()!;
      if (e.err !== null) {
        this.destroy(e.err);
        return;
      }
      if (e.n === 0) {
        this.#dropQueue();
        this.#eof = true;
        this.push(null);
        return;
      }
      this.bytesRead += e.n;
      let chunk = e.buf;
      if (e.n < e.len) {
        // Short: what was read ahead lies past this point and is dropped; reading resumes here.
        if (this.#positional) {
          this.#dropQueue();
          this.#pos = e.pos + e.n;
        }
        chunk = e.n < e.len >> 1 ? Buffer.from(e.buf.subarray(0, e.n)) : e.buf.subarray(0, e.n);
      }
      if (!this.push(chunk)) this.#wanting = false;
    }
    this.#pump();
  }

  #dropQueue(): void {
    for (const e of this.#queue) e.stale = true;
    this.#queue = [];
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const finish = (): void => closeStream(this, this.#src, this.#autoClose, err, callback);
    this.#dropQueue();
    if (this.#outstanding > 0) this.#afterIo = finish;
    else finish();
  }

  /** node's ReadStream.close(cb): destroy, cb on 'close'. */
  close(callback?: (err?: Error | null) => void): void {
    if (typeof callback === 'function') this.once('close', () => callback(null));
    this.destroy();
  }
}

export class WriteStream extends Writable {
  readonly path: string | Buffer | undefined;
  fd: number | null;
  readonly flags: string | number;
  readonly mode: number;
  readonly start: number | undefined;
  bytesWritten = 0;
  #src: Source;
  readonly #autoClose: boolean;
  readonly #flush: boolean;
  #pos: number;
  /** Writes allowed in flight: WRITE_BEHIND at a known position, else 1. */
  #depth = 1;
  #inflight = 0;
  #held: ((error?: Error | null) => void) | undefined;
  #error: Error | null = null;
  #idle: (() => void)[] = [];
  /** Copy buffers whose writes have completed, for reuse (at most WRITE_BEHIND). */
  #spare: Buffer[] = [];

  constructor(path: fs.PathLike | undefined, options: WriteStreamOptions = {}) {
    const [start] = checkStartEnd(options.start, undefined);
    checkSignal(options.signal);
    super({
      highWaterMark: options.highWaterMark ?? 16 * 1024,
      defaultEncoding: options.encoding ?? 'utf8',
      emitClose: options.emitClose ?? true,
      autoDestroy: true,
      decodeStrings: true,
    });
    if (options.flush !== undefined && typeof options.flush !== 'boolean') {
      throw invalidArgType('options.flush', 'of type boolean', options.flush);
    }
    const t = streamTarget(path, options, 'w');
    this.#src = t.src;
    this.fd = t.src.file?.fd ?? null;
    this.path = t.path;
    this.flags = t.flags;
    this.mode = t.mode;
    this.start = start;
    this.#pos = start ?? -1;
    if (start !== undefined) this.#depth = WRITE_BEHIND;
    this.#autoClose = options.autoClose ?? true;
    this.#flush = options.flush === true;
    // After the fields (see ReadStream).
    if (options.signal !== undefined) addAbortSignal(options.signal, this);
  }

  get pending(): boolean {
    return this.fd === null;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    constructStream(this, this.#src.file !== undefined, (file) => {
      this.#src = { file };
      // Opened here without O_APPEND: the position is 0, so writes can carry explicit positions and overlap.
      if (this.#pos === -1 && (parseOpenFlags(this.flags) & fs.constants.O_APPEND) === 0) {
        this.#pos = 0;
        this.#depth = WRITE_BEHIND;
      }
      return undefined;
    }, callback);
  }

  /**
   * Issues one write of `bufs` at the stream's position. With a known
   * position (depth > 1) the chunks are copied and the callback is called at
   * once while fewer than WRITE_BEHIND writes are in flight, so the next chunk
   * is issued before this one completes (the kernel sends buffered writes of
   * ext4 to io-wq: a queue keeps its worker busy instead of waking it per
   * chunk). A failed write errors the stream; _final and _destroy wait until
   * nothing is in flight.
   */
  #submit(bufs: Buffer[], callback: (error?: Error | null) => void): void {
    const file = this.#src.file!;
    const early = this.#depth > 1 && this.#inflight + 1 < this.#depth;
    // Copied whenever more than one write may be in flight: a held callback is released by whichever
    // write completes first, so no caller buffer may stay in use after its callback.
    const copies: Buffer[] = [];
    const data = this.#depth > 1 ? bufs.map((b) => this.#copy(b, copies)) : bufs;
    const pos = this.#pos;
    const total = data.reduce((n, b) => n + b.byteLength, 0);
    if (this.#pos !== -1) this.#pos += total;
    this.#inflight++;
    let p: Promise<number>;
    try {
      p = data.length === 1 ? file.writeAll(data[0]!, { position: pos }) : writeBuffers(file, data, pos);
    } catch (e) {
      p = Promise.reject(e as Error);
    }
    p.then((n) => {
      this.bytesWritten += n;
      return null;
    }, (e: Error) => e).then((err) => {
      this.#inflight--;
      // The kernel is done with the copies (final CQE reaped): they serve the next chunks.
      for (const c of copies) if (this.#spare.length < WRITE_BEHIND) this.#spare.push(c);
      if (err !== null) this.#error ??= err;
      const held = this.#held;
      this.#held = undefined;
      if (held !== undefined) held(err ?? this.#error);
      else if (err !== null && !this.destroyed) this.destroy(err);
      if (this.#inflight === 0) {
        const idle = this.#idle;
        this.#idle = [];
        for (const f of idle) f();
      }
    });
    if (early) callback();
    else this.#held = callback;
  }

  /** A private copy of `b` in a reused buffer (at least 64 KiB) when one is big enough; `held` records the buffer. */
  #copy(b: Buffer, held: Buffer[]): Buffer {
    let i = this.#spare.findIndex((x) => x.length >= b.length);
    const buf = i >= 0 ? this.#spare.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(Math.max(b.length, 64 * 1024));
    i = b.copy(buf);
    held.push(buf);
    return buf.subarray(0, i);
  }

  #whenIdle(f: () => void): void {
    if (this.#inflight === 0) f();
    else this.#idle.push(f);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#submit([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    const bufs = chunks.map((c) => c.chunk).filter((b) => b.byteLength > 0);
    if (bufs.length === 0) {
      callback();
      return;
    }
    this.#submit(bufs, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#whenIdle(() => {
      if (this.#error !== null) callback(this.#error);
      else if (!this.#flush || this.#src.file === undefined) callback();
      else this.#src.file.sync().then(() => callback(), (e: Error) => callback(e));
    });
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#whenIdle(() => closeStream(this, this.#src, this.#autoClose, err, callback));
  }

  /** node's WriteStream.close(cb): end, then cb on 'close'. */
  close(callback?: (err?: Error | null) => void): void {
    if (typeof callback === 'function') {
      if (this.closed) {
        process.nextTick(callback);
        return;
      }
      this.once('close', () => callback(null));
    }
    if (!this.writableEnded) this.end();
    else if (!this.destroyed) this.destroy();
  }
}

export function createReadStream(path: fs.PathLike | undefined, options?: ReadStreamOptions | BufferEncoding): ReadStream {
  const o: ReadStreamOptions | undefined = typeof options === 'string' ? { encoding: options } : options ?? undefined;
  if (delegated(o)) return fs.createReadStream(path as fs.PathLike, o as never) as unknown as ReadStream;
  return new ReadStream(path, o);
}

export function createWriteStream(path: fs.PathLike | undefined, options?: WriteStreamOptions | BufferEncoding):
  WriteStream {
  const o: WriteStreamOptions | undefined = typeof options === 'string' ? { encoding: options } : options ?? undefined;
  if (delegated(o)) return fs.createWriteStream(path as fs.PathLike, o as never) as unknown as WriteStream;
  return new WriteStream(path, o);
}

/** writev of `bufs` at `pos` (-1: current position), 1024 iovecs per call, short writes continued. */
async function writeBuffers(f: File, bufs: Buffer[], pos: number): Promise<number> {
  let done = 0;
  for (let i = 0; i < bufs.length; i += 1024) {
    const batch = bufs.slice(i, i + 1024);
    const want = batch.reduce((s, b) => s + b.byteLength, 0);
    const n = await f.writev(batch, { position: pos });
    done += n;
    if (pos !== -1) pos += n;
    if (n < want) {
      // Short: everything from here on goes as one buffer, continued until written.
      const rest = Buffer.concat(bufs.slice(i)).subarray(n);
      done += await f.writeAll(rest, { position: pos });
      break;
    }
  }
  return done;
}
