/**
 * BufferPool: 4 KiB-aligned buffers in one region registered with a ring
 * (READ_FIXED / WRITE_FIXED). `ring.registerBuffers()` and `ring.bufferPool`
 * are put on Ring by the method list (src/ops/methods.ts) from the functions here.
 *
 * Contracts:
 *  - the pool's memory is the backing store of one fixed-length ArrayBuffer
 *    (never moved by V8, freed only once no JS object refers to it); the
 *    pool keeps it referenced while it is registered (the ring's pool map
 *    holds the pool), and every operation's slot keeps its buffer referenced
 *    until the final CQE;
 *  - the pool's ArrayBuffer is untransferable for its whole life;
 *  - registration failures (RLIMIT_MEMLOCK, ENOMEM, a restricted ring, a
 *    backend without registration) never fail the caller: the pool still
 *    hands out 4 KiB-aligned buffers and operations on them use the plain
 *    READ/WRITE; the reason is logged with NODE_DEBUG=uringkit.
 */
import util from 'node:util';
import { markAsUntransferable } from 'node:worker_threads';

import { invalidArgType, invalidArgValue, outOfRange, RingClosedError } from '../errors.js';
import { Ring, ringInternals } from '../ring/ring.js';
import { backendOf, errName, fixedRegionCount, fixedRegions, type FixedRegion } from './registration.js';

const debug = util.debuglog('uringkit');
/** Buffer alignment and size granule (the C side's UK_ALIGN): suits O_DIRECT whatever the page size. */
const PAGE = 4096;
const MAX_REGION = 1 << 30; // the kernel's limit for one registered buffer

export interface BufferPoolOptions {
  /** Number of buffers. */
  count: number;
  /** Bytes per buffer; rounded up to a multiple of 4096 so that every buffer is 4 KiB-aligned. */
  size: number;
}

export interface BufferPoolStats {
  count: number;
  size: number;
  /** Buffers not acquired. */
  free: number;
  /** Whether the region is registered with the ring (false: plain READ/WRITE). */
  registered: boolean;
  /** Reads / writes issued as READ_FIXED / WRITE_FIXED. */
  fixedReads: number;
  fixedWrites: number;
}

const pools = new WeakMap<Ring, BufferPool>();

/**
 * 4 KiB-aligned buffers in one region registered with a ring. Buffers from
 * `acquire()` work with every read and write (ring.read, File.read, ...); on
 * this pool's ring they go as READ_FIXED / WRITE_FIXED, and their alignment
 * suits O_DIRECT. Create it with `ring.registerBuffers({ count, size })`.
 */
export class BufferPool {
  readonly #ring: Ring;
  readonly #memory: ArrayBuffer;
  readonly #buffers: Buffer[];
  readonly #free: number[];
  readonly #acquired: Uint8Array;
  readonly #size: number;
  /** Offset of the first buffer in #memory (its first page boundary). */
  readonly #base: number;
  #region: FixedRegion | undefined;
  #fixedReads = 0;
  #fixedWrites = 0;

  /** @internal Use ring.registerBuffers(). */
  constructor(ring: Ring, options: BufferPoolOptions) {
    if (!(ring instanceof Ring)) throw invalidArgType('ring', 'an instance of Ring', ring);
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    const { count, size } = options;
    if (typeof count !== 'number') throw invalidArgType('options.count', 'of type number', count);
    if (typeof size !== 'number') throw invalidArgType('options.size', 'of type number', size);
    if (!Number.isInteger(count) || count < 1 || count > 65536) throw outOfRange('options.count', '>= 1 && <= 65536', count);
    if (!Number.isInteger(size) || size < 1 || size > MAX_REGION) {
      throw outOfRange('options.size', `>= 1 && <= ${MAX_REGION}`, size);
    }
    const stride = Math.ceil(size / PAGE) * PAGE;
    if (stride * count > MAX_REGION) {
      throw outOfRange('options.count * options.size', `<= ${MAX_REGION} (1 GiB, one registered region)`, stride * count);
    }
    this.#ring = ring;
    this.#size = stride;
    const [backend, h] = backendOf(ring);
    const total = stride * count;
    // 4 KiB more than needed: the buffers start at the first 4 KiB boundary
    // (V8 never moves an ArrayBuffer's backing store).
    const memory = new ArrayBuffer(total + PAGE);
    markAsUntransferable(memory);
    let base = 0;
    let why = '';
    if (backend.alignOffset !== undefined) {
      base = backend.alignOffset(memory);
      if (base < 0) {
        why = `aligning failed: ${errName(base)}`;
        base = 0;
      }
    } else why = 'the backend has no registered buffers (buffers not page-aligned)';
    this.#memory = memory;
    this.#base = base;
    this.#buffers = [];
    this.#free = [];
    this.#acquired = new Uint8Array(count);
    for (let i = count - 1; i >= 0; i--) this.#free.push(i);
    for (let i = 0; i < count; i++) this.#buffers.push(Buffer.from(memory, base + i * stride, stride));
    if (why !== '') debug('buffer pool: %s; using plain reads and writes', why);
    else if (h !== undefined && backend.registerBuffers !== undefined) {
      if (pools.has(ring)) {
        debug('buffer pool: the ring already has a registered pool; this one uses plain reads and writes');
      } else {
        const r = backend.registerBuffers(h, memory, base, total);
        if (r === 0) {
          this.#region = { ring, reads: 0, writes: 0 };
          fixedRegions.set(memory, this.#region);
          fixedRegionCount.value++;
          pools.set(ring, this);
        } else {
          debug('buffer pool: IORING_REGISTER_BUFFERS (%d bytes) failed: %s; using plain READ/WRITE', stride * count,
            errName(r));
        }
      }
    }
  }

  /** Bytes per buffer (a multiple of 4096). */
  get size(): number {
    return this.#size;
  }

  get count(): number {
    return this.#buffers.length;
  }

  /** Whether the buffers are registered (operations on them go READ_FIXED/WRITE_FIXED). */
  get registered(): boolean {
    return this.#region !== undefined;
  }

  get ring(): Ring {
    return this.#ring;
  }

  /** A free buffer (`size` bytes, 4 KiB-aligned), or undefined when all are acquired. */
  acquire(): Buffer | undefined {
    const i = this.#free.pop();
    if (i === undefined) return undefined;
    this.#acquired[i] = 1;
    return this.#buffers[i]!;
  }

  /** Returns a buffer from acquire(). Release it only once no operation uses it any more. */
  release(buffer: Buffer): void {
    const i = this.#indexOf(buffer);
    if (i < 0 || this.#acquired[i] !== 1) {
      throw invalidArgValue('buffer', buffer, 'is not a buffer acquired from this pool (or was released already)');
    }
    this.#acquired[i] = 0;
    this.#free.push(i);
  }

  #indexOf(buffer: unknown): number {
    if (!(buffer instanceof Uint8Array) || buffer.buffer !== this.#memory) return -1;
    const i = (buffer.byteOffset - this.#base) / this.#size;
    return Number.isInteger(i) && this.#buffers[i] === buffer ? i : -1;
  }

  stats(): BufferPoolStats {
    const r = this.#region;
    return {
      count: this.#buffers.length,
      size: this.#size,
      free: this.#free.length,
      registered: r !== undefined,
      fixedReads: this.#fixedReads + (r?.reads ?? 0),
      fixedWrites: this.#fixedWrites + (r?.writes ?? 0),
    };
  }

  /**
   * Unregisters the region (buffers stay usable, with plain READ/WRITE).
   * Fixed operations in flight are unaffected: the kernel keeps the pages
   * pinned for them. Idempotent.
   */
  unregister(): void {
    const r = this.#region;
    if (r === undefined) return;
    this.#region = undefined;
    this.#fixedReads += r.reads;
    this.#fixedWrites += r.writes;
    fixedRegions.delete(this.#memory);
    fixedRegionCount.value--;
    if (pools.get(this.#ring) === this) pools.delete(this.#ring);
    const [backend, h] = backendOf(this.#ring);
    if (h !== undefined && backend.unregisterBuffers !== undefined) {
      const res = backend.unregisterBuffers(h);
      if (res < 0) debug('buffer pool: IORING_UNREGISTER_BUFFERS failed: %s', errName(res));
    }
  }
}

/** `ring.registerBuffers(options)` (the method list puts it on Ring). */
export function registerBuffers(this: Ring, options: BufferPoolOptions): BufferPool {
  if (ringInternals().handle(this) === undefined) throw new RingClosedError('registerBuffers');
  return new BufferPool(this, options);
}

/** `ring.bufferPool` (a getter the method list puts on Ring): the registered pool, if any. */
export function bufferPoolOf(this: Ring): BufferPool | undefined {
  return pools.get(this);
}

declare module '../ring/ring.js' {
  interface Ring {
    /**
     * A pool of `count` 4 KiB-aligned buffers of `size` bytes, registered with
     * this ring (READ_FIXED/WRITE_FIXED). One pool per ring is registered;
     * when registration fails (RLIMIT_MEMLOCK, ENOMEM) the pool still works,
     * with plain reads and writes (NODE_DEBUG=uringkit says why).
     */
    registerBuffers(options: BufferPoolOptions): BufferPool;
    /** The registered buffer pool, if any. */
    readonly bufferPool: BufferPool | undefined;
  }
}
