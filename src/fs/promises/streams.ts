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
 * Write streams at a known position coalesce the chunks that arrive while a
 * write is in flight into one write (see WriteStream.#submit). The fd is
 * closed (autoClose) only after every read or write in flight has
 * completed.
 *
 * Options this module does not implement (a custom `fs` object, or a
 * node:fs/promises FileHandle as `fd`) are handed to node:fs's own streams.
 */
import fs from 'node:fs';
import { addAbortSignal, getDefaultHighWaterMark, Readable, Writable } from 'node:stream';

import { invalidArgType, outOfRange } from '../../errors.js';
import { File } from '../file.js';
import { Ring } from '../../ring/ring.js';
import { fileOfHandle, type StreamFileHandle } from './handle-files.js';
import { currentRing, plainFlags, plainMode, plainPath } from './shape.js';
import { parseOpenFlags } from '../../ops/file.js';
import { readFile as readWholeFile } from '../whole-file.js';

/** Chunk reads kept in flight by a read stream on a regular file. */
export const READ_AHEAD = 4;
/**
 * A write stream that knows its position accepts (calls back) up to this
 * many bytes ahead of the kernel; beyond, write callbacks wait for a write
 * to complete.
 */
export const WRITE_BEHIND = 4 << 20;
const AHEAD = WRITE_BEHIND;
/** The largest single write of a positional write stream (chunks coalesced up to it; 1 MiB measured best on ext4). */
const BATCH = 1 << 20;
/** The batch buffer of a stream whose calls are below its highWaterMark. */
const SMALL_BATCH = 64 * 1024;
/** Read streams' default highWaterMark (node's fs.ReadStream: 64 KiB); write streams take node's stream default (16 KiB on Node 20, 64 KiB from Node 22). */
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
  /** The file position of the next byte accepted; -1: write at the fd's current position (serial). */
  #pos: number;
  #inflight = 0;
  #held: ((error?: Error | null) => void) | undefined;
  #error: Error | null = null;
  #idle: (() => void)[] = [];
  /** Positional mode: the batch being filled (chunks coalesced into one write), its length. */
  #batch: Buffer | undefined;
  #batchLen = 0;
  /** Positional mode: bytes accepted (callback called) whose write has not completed yet. */
  #ahead = 0;
  /** Positional mode: the held callback is called once #ahead is at most this. */
  #heldUntil = 0;
  /** Batch buffers whose writes have completed (the final CQE reaped), for reuse (at most 2). */
  #spare: Buffer[] = [];

  constructor(path: fs.PathLike | undefined, options: WriteStreamOptions = {}) {
    const [start] = checkStartEnd(options.start, undefined);
    checkSignal(options.signal);
    super({
      highWaterMark: options.highWaterMark ?? getDefaultHighWaterMark(false),
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
    this.#autoClose = options.autoClose ?? true;
    this.#flush = options.flush === true;
    // After the fields (see ReadStream).
    if (options.signal !== undefined) addAbortSignal(options.signal, this);
  }

  get pending(): boolean {
    return this.fd === null;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    const src = this.#src;
    if (src.file !== undefined && src.handle !== undefined && this.#pos === -1 && this.#autoClose) {
      // One of our FileHandles, closed by this stream at the end: nobody sees its offset afterwards,
      // so the stream may write at explicit positions from the current one (see positionOf).
      positionOf(src.file).then((pos) => {
        this.#pos = pos;
        callback();
      }, () => callback());
      return;
    }
    constructStream(this, src.file !== undefined, (file) => {
      this.#src = { file };
      // Opened here without O_APPEND: the position is 0, so writes can carry explicit positions and overlap.
      if (this.#pos === -1 && (parseOpenFlags(this.flags) & fs.constants.O_APPEND) === 0) this.#pos = 0;
      return undefined;
    }, callback);
  }

  /**
   * Takes `bufs` (one _write or _writev call). At the fd's current position
   * (pos -1: O_APPEND, a raw fd, a pipe...) they go out as one write or
   * writev, and the callback waits for it (node's pace). At a known position
   * they are copied into the batch being filled (up to BATCH bytes), which
   * is issued when full or when no write is in flight, so chunks that arrive
   * while a write is in flight go out together in one write. The callback:
   * for a call of fewer than highWaterMark bytes (write() may have returned
   * true), once everything accepted is written, as node's; for a call of
   * highWaterMark bytes or more (write() returned false whatever we do), at
   * once while fewer than AHEAD bytes are accepted and unwritten, else when
   * enough are written. So write() returns what node's returns for any
   * writer that waits for 'drain'; 'drain' may come sooner. A failed write errors the stream (the
   * callback being held gets the error, or the stream is destroyed with it);
   * nothing is issued after it. _final and _destroy wait until nothing is in
   * flight.
   */
  #submit(bufs: Buffer[], callback: (error?: Error | null) => void): void {
    if (this.#error !== null) {
      callback(this.#error);
      return;
    }
    if (this.#pos === -1) {
      this.#issue(bufs, -1);
      this.#held = callback;
      return;
    }
    let total = 0;
    for (const b of bufs) total += b.length;
    // Small writers (held to node's pace) get a small batch buffer; big ones the full BATCH.
    const size = total < this.writableHighWaterMark ? SMALL_BATCH : BATCH;
    for (const b of bufs) {
      for (let off = 0; off < b.length;) {
        this.#batch ??= this.#spare.pop() ?? Buffer.allocUnsafeSlow(size);
        const n = b.copy(this.#batch, this.#batchLen, off);
        off += n;
        this.#batchLen += n;
        this.#ahead += n;
        if (this.#batchLen === this.#batch.length) this.#issueBatch();
      }
    }
    if (total < this.writableHighWaterMark) {
      // Below the highWaterMark, write() may have said true: node's pace, so write() keeps node's return values
      // (the callback when everything accepted is written; what the stream buffers meanwhile comes as one _writev).
      this.#issueBatch();
      this.#heldUntil = 0;
      this.#held = callback;
      return;
    }
    // write() said false for this call already: calling back early changes no return value, only lets the
    // next chunk coalesce while this one is in flight.
    if (this.#inflight === 0) this.#issueBatch();
    if (this.#ahead < AHEAD) {
      callback();
    } else {
      this.#heldUntil = AHEAD - 1;
      this.#held = callback;
    }
  }

  #issueBatch(): void {
    const batch = this.#batch;
    const len = this.#batchLen;
    if (batch === undefined || len === 0 || this.#error !== null) return;
    this.#batch = undefined;
    this.#batchLen = 0;
    this.#issue([batch.subarray(0, len)], this.#pos, batch);
    this.#pos += len;
  }

  /** One write (or writev) of `data` at `pos`; `batch`: the batch buffer behind it (positional mode). */
  #issue(data: Buffer[], pos: number, batch?: Buffer): void {
    const file = this.#src.file!;
    const total = data.reduce((n, b) => n + b.byteLength, 0);
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
      if (batch !== undefined) {
        this.#ahead -= total;
        // The kernel is done with it (final CQE reaped): it serves the next batches.
        if (this.#spare.length < 2 && this.#batch === undefined) this.#batch = batch;
        else if (this.#spare.length < 2) this.#spare.push(batch);
      }
      if (err !== null) this.#error ??= err;
      const held = this.#held;
      if (held !== undefined && (err !== null || batch === undefined || this.#ahead <= this.#heldUntil)) {
        this.#held = undefined;
        held(err ?? this.#error);
      } else if (err !== null && !this.destroyed) this.destroy(err);
      // What coalesced while this write was in flight goes out now.
      if (this.#inflight === 0) this.#issueBatch();
      if (this.#inflight === 0) {
        const idle = this.#idle;
        this.#idle = [];
        for (const f of idle) f();
      }
    });
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
    this.#issueBatch();
    this.#whenIdle(() => {
      if (this.#error !== null) callback(this.#error);
      else if (!this.#flush || this.#src.file === undefined) callback();
      else this.#src.file.sync().then(() => callback(), (e: Error) => callback(e));
    });
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // Accepted data not yet issued is dropped, as node drops what it buffers when destroyed.
    this.#batch = undefined;
    this.#batchLen = 0;
    this.#spare = [];
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

/**
 * The current offset of `file` when it is a regular file not in append
 * mode (from /proc/self/fdinfo, read on the ring, and one fstat); rejects
 * otherwise (the stream then writes at the fd's position, serially).
 */
async function positionOf(file: File): Promise<number> {
  const [info, st] = await Promise.all([readWholeFile(`/proc/self/fdinfo/${file.fd}`, { encoding: 'latin1' }), file.stat()]);
  const pos = /^pos:\s*(\d+)$/m.exec(info);
  const flags = /^flags:\s*([0-7]+)$/m.exec(info);
  if (!st.isFile() || pos === null || flags === null || (parseInt(flags[1]!, 8) & fs.constants.O_APPEND) !== 0) {
    throw new Error('not positional');
  }
  return Number(pos[1]);
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
