/**
 * IoBuffer: a growable, compacting linear byte buffer for protocol parsing.
 *
 * One backing `Buffer`, a read index and a write index:
 *
 * ```
 *  0            readIndex          writeIndex            capacity
 *  | consumed   | readable()       | writable()          |
 * ```
 *
 * Reads from the kernel (recv/read) fill {@link IoBuffer.writable} and are
 * made visible with {@link IoBuffer.commit}; a parser looks at
 * {@link IoBuffer.readable} and drops what it used with
 * {@link IoBuffer.consume}.
 *
 * @module
 */
import { constants as bufferConstants } from 'node:buffer';
import { invalidArgType, outOfRange } from '../errors.js';

/**
 * Thrown (code `'ERR_IOBUFFER_PINNED'`) by {@link IoBuffer.reserve},
 * {@link IoBuffer.append} and {@link IoBuffer.compact} while the buffer is
 * pinned: they could move or write the memory an in-flight read is filling.
 */
export class IoBufferPinnedError extends Error {
  declare code: 'ERR_IOBUFFER_PINNED';
  constructor(operation: string) {
    super(`Cannot ${operation}: the IoBuffer is pinned by an in-flight operation (unpin() it first)`);
    this.name = 'Error';
    this.code = 'ERR_IOBUFFER_PINNED';
  }
}

/** Options of {@link IoBuffer}. */
export interface IoBufferOptions {
  /**
   * Largest capacity the buffer may grow to, in bytes (an integer >= 1).
   * Default: `buffer.constants.MAX_LENGTH`. Growing past it throws a
   * RangeError with code `'ERR_BUFFER_TOO_LARGE'`.
   */
  maxCapacity?: number | undefined;
}

type Coded<E extends Error> = E & { code: string };

function bufferTooLarge(needed: number, maxCapacity: number): Coded<RangeError> {
  const err = new RangeError(
    `IoBuffer would need ${needed} bytes, more than its maxCapacity of ${maxCapacity}`) as Coded<RangeError>;
  err.code = 'ERR_BUFFER_TOO_LARGE';
  return err;
}

function unknownEncoding(encoding: unknown): Coded<TypeError> {
  const err = new TypeError(`Unknown encoding: ${String(encoding)}`) as Coded<TypeError>;
  err.code = 'ERR_UNKNOWN_ENCODING';
  return err;
}

function invalidState(message: string): Coded<Error> {
  const err = new Error(`Invalid state: ${message}`) as Coded<Error>;
  err.code = 'ERR_INVALID_STATE';
  return err;
}

/** Checks `value` is an integer in [0, max]; returns it. */
function checkSize(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw outOfRange(name, `an integer >= 0 and <= ${max}`, value);
  }
  return value;
}

/** Checks a (possibly omitted) encoding; returns it or `'utf8'`. */
function checkEncoding(encoding: unknown): BufferEncoding {
  if (encoding === undefined) return 'utf8';
  if (typeof encoding !== 'string') throw invalidArgType('encoding', 'of type string', encoding);
  if (!Buffer.isEncoding(encoding)) throw unknownEncoding(encoding);
  return encoding;
}

function allocate(size: number): Buffer {
  // Not from the shared pool: the storage is this buffer's own ArrayBuffer,
  // so it can be handed to the kernel and aliasing is easy to detect.
  return Buffer.allocUnsafeSlow(size);
}

/**
 * A growable linear byte buffer that compacts instead of growing when it can.
 *
 * ## Views and when they stay valid
 *
 * {@link writable} and {@link readable} return zero-copy views (`subarray`s)
 * of the backing storage. A view is **invalidated** — it keeps pointing at
 * storage the buffer no longer uses, or at bytes that have since moved — by
 * any call that may move or replace the storage:
 *
 * - {@link reserve}, {@link append} (which reserves) and {@link compact}.
 *
 * These calls never move or replace the storage, so the memory under an
 * existing view stays the buffer's own:
 *
 * - {@link writable}, {@link readable}, {@link commit}, {@link consume},
 *   {@link clear}, {@link indexOf}, {@link toString}, {@link pin},
 *   {@link unpin} and the getters. `commit` never compacts.
 *
 * Even then, a view describes the indexes at the time it was taken:
 * `commit` advances the write index (so an older `writable()` view now
 * overlaps readable bytes), and `consume`/`clear` reset both indexes to 0
 * when nothing is left unread (so an older `writable()` view no longer starts
 * at the write index, and bytes under an older `readable()` view will be
 * overwritten by the next write). Take a fresh view after any of these.
 *
 * ## In-flight reads: pinning
 *
 * When a `writable()` view is handed to the kernel for a read, the ring pins
 * the view (keeps it and its memory alive) until the read's completion, so
 * the kernel never writes into freed memory. That alone does not protect the
 * *data*: if the IoBuffer grew or compacted meanwhile, the kernel's bytes
 * would land in abandoned or shifted storage. So the issuer of the read also
 * pins the IoBuffer: {@link pin} before submitting, {@link unpin} when the
 * read completes, then {@link commit}(bytesRead). Pins are counted. While
 * {@link pinned}:
 *
 * - {@link reserve}, {@link append} and {@link compact} throw an Error with
 *   code `'ERR_IOBUFFER_PINNED'` — always, even when no move would be
 *   needed, so misuse fails the same way whatever the sizes;
 * - {@link consume} and {@link clear} drop bytes but do not reset the indexes
 *   to 0 (the write index stays where the in-flight read is writing);
 * - {@link commit}, {@link readable}, {@link writable}, {@link indexOf} and
 *   {@link toString} work as usual.
 *
 * @example
 * ```ts
 * const buf = new IoBuffer(4096);
 * buf.reserve(1024);
 * const view = buf.writable();
 * buf.pin();
 * const n = await readInto(fd, view);   // the kernel fills `view`
 * buf.unpin();
 * buf.commit(n);
 * ```
 *
 * ## Errors
 *
 * Wrong argument types: TypeError `'ERR_INVALID_ARG_TYPE'` (unknown
 * encodings: TypeError `'ERR_UNKNOWN_ENCODING'`). Bad numbers (negative, NaN,
 * non-integer, larger than allowed): RangeError `'ERR_OUT_OF_RANGE'`. Growth
 * past `maxCapacity`: RangeError `'ERR_BUFFER_TOO_LARGE'`. A failed call
 * leaves the buffer unchanged.
 */
export class IoBuffer {
  #storage: Buffer;
  #readIndex = 0;
  #writeIndex = 0;
  #pins = 0;
  readonly #maxCapacity: number;

  /**
   * @param initialCapacity Bytes allocated up front (an integer in
   *   [0, maxCapacity]). Default 4096.
   * @param options See {@link IoBufferOptions}.
   */
  constructor(initialCapacity: number = 4096, options?: IoBufferOptions) {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'of type object', options);
    }
    const limit = bufferConstants.MAX_LENGTH;
    let maxCapacity = limit;
    if (options?.maxCapacity !== undefined) {
      maxCapacity = checkSize('options.maxCapacity', options.maxCapacity, limit);
      if (maxCapacity < 1) throw outOfRange('options.maxCapacity', `an integer >= 1 and <= ${limit}`, maxCapacity);
    }
    this.#maxCapacity = maxCapacity;
    this.#storage = allocate(checkSize('initialCapacity', initialCapacity, maxCapacity));
  }

  /** Number of readable (committed, not yet consumed) bytes. */
  get length(): number {
    return this.#writeIndex - this.#readIndex;
  }

  /** Size of the backing storage in bytes. */
  get capacity(): number {
    return this.#storage.length;
  }

  /** Largest capacity this buffer may grow to. */
  get maxCapacity(): number {
    return this.#maxCapacity;
  }

  /** Offset of the first readable byte in the backing storage (diagnostics). */
  get readIndex(): number {
    return this.#readIndex;
  }

  /** Offset of the first free byte in the backing storage (diagnostics). */
  get writeIndex(): number {
    return this.#writeIndex;
  }

  /** Whether at least one {@link pin} is outstanding. */
  get pinned(): boolean {
    return this.#pins > 0;
  }

  /** Number of outstanding pins. */
  get pinCount(): number {
    return this.#pins;
  }

  /**
   * The free space after the write index: where a read should put its bytes,
   * then {@link commit} how many it wrote. Zero-copy; see the class notes on
   * when the view stays valid. Empty when the buffer is full: call
   * {@link reserve} first.
   */
  writable(): Buffer {
    return this.#storage.subarray(this.#writeIndex);
  }

  /**
   * Marks `n` bytes written into {@link writable} as readable. Never moves
   * storage; allowed while pinned.
   * @throws RangeError `'ERR_OUT_OF_RANGE'` if `n` is not an integer in
   *   [0, writable().length].
   */
  commit(n: number): void {
    this.#writeIndex += checkSize('n', n, this.#storage.length - this.#writeIndex);
  }

  /** The unread bytes. Zero-copy; see the class notes on view validity. */
  readable(): Buffer {
    return this.#storage.subarray(this.#readIndex, this.#writeIndex);
  }

  /**
   * Drops `n` bytes from the front of the readable bytes. When none are left
   * (and the buffer is not pinned) both indexes reset to 0. Never moves
   * storage.
   * @throws RangeError `'ERR_OUT_OF_RANGE'` if `n` is not an integer in
   *   [0, length].
   */
  consume(n: number): void {
    this.#readIndex += checkSize('n', n, this.length);
    this.#resetIfEmpty();
  }

  /**
   * Drops all readable bytes; the indexes reset to 0 unless pinned. Keeps
   * the storage (capacity unchanged).
   */
  clear(): void {
    this.#readIndex = this.#writeIndex;
    this.#resetIfEmpty();
  }

  /**
   * Guarantees `writable().length >= n`. If there is not enough free space
   * after the write index, the unread bytes are moved to the front
   * (compaction) when that frees enough room and they fill at most half of
   * the capacity (or the buffer cannot grow any more); otherwise the storage
   * is replaced by one of double the capacity (doubled again as needed,
   * capped at maxCapacity) holding the unread bytes at its front.
   * Invalidates views.
   * @throws TypeError `'ERR_INVALID_ARG_TYPE'` / RangeError
   *   `'ERR_OUT_OF_RANGE'` for a bad `n`; RangeError `'ERR_BUFFER_TOO_LARGE'`
   *   if `length + n > maxCapacity`; Error `'ERR_IOBUFFER_PINNED'` if pinned.
   */
  reserve(n: number): void {
    checkSize('n', n, Number.MAX_SAFE_INTEGER);
    if (this.#pins > 0) throw new IoBufferPinnedError('reserve');
    this.#reserve(n);
  }

  /**
   * Copies `bytes` (or the encoded string) after the readable bytes,
   * reserving room first. Invalidates views. A view of this buffer's own
   * storage may be appended (it is copied before anything moves).
   * @param encoding For strings only; default `'utf8'`.
   * @throws TypeError `'ERR_INVALID_ARG_TYPE'` if `bytes` is neither a
   *   Uint8Array nor a string; TypeError `'ERR_UNKNOWN_ENCODING'`;
   *   RangeError `'ERR_BUFFER_TOO_LARGE'`; Error `'ERR_IOBUFFER_PINNED'`.
   */
  append(bytes: Uint8Array | string, encoding?: BufferEncoding): void {
    if (typeof bytes === 'string') {
      const enc = checkEncoding(encoding);
      if (this.#pins > 0) throw new IoBufferPinnedError('append');
      const size = Buffer.byteLength(bytes, enc);
      this.#reserve(size);
      this.#writeIndex += this.#storage.write(bytes, this.#writeIndex, size, enc);
      return;
    }
    if (!(bytes instanceof Uint8Array)) throw invalidArgType('bytes', 'of type string or an instance of Uint8Array', bytes);
    if (this.#pins > 0) throw new IoBufferPinnedError('append');
    if (bytes.byteLength === 0) return;
    // A view of our own storage would move under us on compaction.
    const src = bytes.buffer === this.#storage.buffer ? Uint8Array.prototype.slice.call(bytes) : bytes;
    this.#reserve(src.byteLength);
    this.#storage.set(src, this.#writeIndex);
    this.#writeIndex += src.byteLength;
  }

  /**
   * Moves the unread bytes to the front of the storage now (capacity
   * unchanged). Usually unnecessary: {@link reserve} compacts when it pays.
   * Invalidates views.
   * @throws Error `'ERR_IOBUFFER_PINNED'` if pinned.
   */
  compact(): void {
    if (this.#pins > 0) throw new IoBufferPinnedError('compact');
    this.#compact();
  }

  /**
   * Marks the buffer as being filled by an in-flight operation. Counted:
   * each pin() needs one {@link unpin}. See the class notes.
   */
  pin(): void {
    this.#pins++;
  }

  /**
   * Releases one {@link pin}. Does not reset or move anything (the caller
   * usually commits the completed read next).
   * @throws Error `'ERR_INVALID_STATE'` if the buffer is not pinned.
   */
  unpin(): void {
    if (this.#pins === 0) throw invalidState('unpin() called on an IoBuffer that is not pinned');
    this.#pins--;
  }

  /**
   * Position of `value` in the readable bytes, at or after `fromOffset`
   * (relative to the first readable byte), or -1. `value` is a byte (an
   * integer 0-255), a byte sequence or a string (encoded with `encoding`,
   * default `'utf8'`), e.g. `indexOf('\r\n')`. An empty sequence is found at
   * `fromOffset` if `fromOffset <= length`.
   * @throws TypeError `'ERR_INVALID_ARG_TYPE'`; RangeError
   *   `'ERR_OUT_OF_RANGE'` for a byte outside 0-255 or a negative or
   *   non-integer `fromOffset`; TypeError `'ERR_UNKNOWN_ENCODING'`.
   */
  indexOf(value: number | Uint8Array | string, fromOffset: number = 0, encoding?: BufferEncoding): number {
    checkSize('fromOffset', fromOffset, Number.MAX_SAFE_INTEGER);
    const view = this.readable();
    if (typeof value === 'number') {
      checkSize('value', value, 255);
      return view.indexOf(value, fromOffset);
    }
    let needle: Uint8Array;
    if (typeof value === 'string') {
      const enc = checkEncoding(encoding);
      needle = value.length === 0 ? new Uint8Array(0) : Buffer.from(value, enc);
    } else if (value instanceof Uint8Array) {
      needle = value;
    } else {
      throw invalidArgType('value', 'of type number or string or an instance of Uint8Array', value);
    }
    if (fromOffset > view.length) return -1;
    if (needle.byteLength === 0) return fromOffset;
    return view.indexOf(needle, fromOffset);
  }

  /**
   * Decodes the readable bytes (without consuming them).
   * @param encoding Default `'utf8'`.
   * @throws TypeError `'ERR_INVALID_ARG_TYPE'` / `'ERR_UNKNOWN_ENCODING'`.
   */
  toString(encoding?: BufferEncoding): string {
    return this.#storage.toString(checkEncoding(encoding), this.#readIndex, this.#writeIndex);
  }

  #resetIfEmpty(): void {
    if (this.#readIndex === this.#writeIndex && this.#pins === 0) {
      this.#readIndex = 0;
      this.#writeIndex = 0;
    }
  }

  #compact(): void {
    const r = this.#readIndex;
    if (r === 0) return;
    const w = this.#writeIndex;
    if (w > r) this.#storage.copyWithin(0, r, w);
    this.#readIndex = 0;
    this.#writeIndex = w - r;
  }

  /** reserve() without argument or pin checks. */
  #reserve(n: number): void {
    const capacity = this.#storage.length;
    if (capacity - this.#writeIndex >= n) return;
    const length = this.length;
    const needed = length + n;
    const max = this.#maxCapacity;
    if (needed > max) throw bufferTooLarge(needed, max);
    if (needed <= capacity && (length <= capacity / 2 || capacity >= max)) {
      this.#compact();
      return;
    }
    let next = Math.max(capacity, 1) * 2;
    while (next < needed) next *= 2;
    if (next > max) next = max;
    const storage = allocate(next);
    this.#storage.copy(storage, 0, this.#readIndex, this.#writeIndex);
    this.#storage = storage;
    this.#readIndex = 0;
    this.#writeIndex = length;
  }
}
