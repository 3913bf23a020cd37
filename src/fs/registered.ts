/**
 * Registered resources: a pool of 4 KiB-aligned buffers registered with the
 * ring (READ_FIXED / WRITE_FIXED), and the ring's registered file table
 * (IOSQE_FIXED_FILE) that File uses.
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
 *    READ/WRITE; the reason is logged with NODE_DEBUG=uringkit;
 *  - a file table index is cleared (FILES_UPDATE to -1) in SQ order before
 *    its file is closed, and reused only after that update's CQE, so an
 *    operation staged for one file can never reach another.
 */
import os from 'node:os';
import util from 'node:util';
import { markAsUntransferable } from 'node:worker_threads';

import { invalidArgType, invalidArgValue, outOfRange, RingClosedError } from '../errors.js';
import type { Backend, BackendHandle } from '../backend/backend.js';
import { DescOp } from '../backend/protocol.js';
import { Ring } from '../ops/methods.js';
import { ringInternals } from '../ring/ring.js';
import { fixedRegionCount, fixedRegions, OP_FILES_UPDATE, type FixedRegion } from '../ops/file.js';

const debug = util.debuglog('uringkit');
const { errno: E } = os.constants;
/** Buffer alignment and size granule (the C side's UK_ALIGN): suits O_DIRECT whatever the page size. */
const PAGE = 4096;
const MAX_REGION = 1 << 30; // the kernel's limit for one registered buffer

/** The ring's backend and live handle (undefined once closed), through the ring's internal interface. */
function backendOf(ring: Ring): [Backend, BackendHandle | undefined] {
  const i = ringInternals();
  return [i.backend(ring), i.handle(ring)];
}

function errName(res: number): string {
  const name = util.getSystemErrorName(res);
  return res === -E.ENOMEM ? `${name} (RLIMIT_MEMLOCK too low? see ulimit -l)` : name;
}

// ---- buffer pool ---------------------------------------------------------------------

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

// ---- registered file table -----------------------------------------------------------

const TABLE_SIZES = [4096, 1024, 256, 64];

/** A ring's registered file table: which indices are free. */
class FileTable {
  readonly free: number[] = [];
  installed = 0;
  constructor(readonly size: number) {
    for (let i = size - 1; i >= 0; i--) this.free.push(i);
  }
}

const tables = new WeakMap<Ring, FileTable | null>();
/** Why a ring has no table (a negative errno). */
const tableErrors = new WeakMap<Ring, number>();
let warnedFull = false;

function tableOf(ring: Ring): FileTable | null {
  let t = tables.get(ring);
  if (t !== undefined) return t;
  t = null;
  const [backend, h] = backendOf(ring);
  if (h === undefined || backend.registerFiles === undefined || backend.updateFiles === undefined) {
    debug('registered files: not available on this backend; using plain fds');
  } else {
    let res = 0;
    for (const size of TABLE_SIZES) {
      res = backend.registerFiles(h, size);
      if (res === 0) {
        t = new FileTable(size);
        debug('registered files: a table of %d entries', size);
        break;
      }
      if (res !== -E.EMFILE && res !== -E.ENOMEM) break;
    }
    if (t === null) {
      tableErrors.set(ring, res < 0 ? res : -E.EOPNOTSUPP);
      debug('registered files: IORING_REGISTER_FILES failed: %s; using plain fds', errName(res));
    }
  }
  tables.set(ring, t);
  return t;
}

/**
 * Installs `fd` in the ring's file table; returns its index, or a negative
 * errno (then use the plain fd): -EOPNOTSUPP without a table, -ENFILE when
 * the table is full, or what IORING_REGISTER_FILES_UPDATE reported.
 */
export function installFile(ring: Ring, fd: number): number {
  const t = tableOf(ring);
  if (t === null) return tableErrors.get(ring) ?? -E.EOPNOTSUPP;
  const i = t.free.pop();
  if (i === undefined) {
    if (!warnedFull) debug('registered files: the table (%d entries) is full; using plain fds', t.size);
    warnedFull = true;
    return -E.ENFILE;
  }
  const [backend, h] = backendOf(ring);
  let res = h === undefined ? -E.EBADF : backend.updateFiles!(h, i, fd);
  if (res !== 1) {
    t.free.push(i);
    if (res >= 0) res = -E.EIO;
    debug('registered files: IORING_REGISTER_FILES_UPDATE failed: %s; using a plain fd', errName(res));
    return res;
  }
  t.installed++;
  return i;
}

/**
 * Clears table entry `index` in SQ order (before anything staged after this
 * call, after anything staged before it). The index is reused once the
 * update has completed; if it failed (the ring is closing), never.
 */
export function removeFile(ring: Ring, index: number): Promise<void> {
  const t = tables.get(ring);
  if (t === undefined || t === null) return Promise.resolve();
  return (ringInternals().run<number>(ring, OP_FILES_UPDATE, DescOp.FILES_UPDATE, -1, index, 0, undefined, undefined,
    { pin: Int32Array.of(-1) }) as Promise<number>).then(() => {
    t.installed--;
    t.free.push(index);
  }, (e: unknown) => {
    debug('registered files: clearing entry %d failed: %s', index, (e as Error).message);
  });
}

/** What `ring.fileTableStats()` returns. */
export interface FileTableStats {
  /** Entries in the ring's registered file table. */
  size: number;
  /** Entries holding an open File's fd. */
  installed: number;
  /** Entries ready for the next File (entries being cleared are neither installed nor free). */
  free: number;
}

/** Registered-file table figures for a ring (undefined: no table). */
export function fileTableStats(ring: Ring): FileTableStats | undefined {
  const t = tables.get(ring);
  if (!t) return undefined;
  return { size: t.size, installed: t.installed, free: t.free.length };
}

// ---- Ring methods -----------------------------------------------------------------------

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
    /** The registered file table's figures (undefined until a File registered its fd, or without a table). */
    fileTableStats(): FileTableStats | undefined;
  }
}

const proto = Ring.prototype as unknown as Record<string, unknown>;
proto.registerBuffers = function registerBuffers(this: Ring, options: BufferPoolOptions): BufferPool {
  if (ringInternals().handle(this) === undefined) throw new RingClosedError('registerBuffers');
  return new BufferPool(this, options);
};
proto.fileTableStats = function ringFileTableStats(this: Ring): FileTableStats | undefined {
  return fileTableStats(this);
};
Object.defineProperty(proto, 'bufferPool', {
  configurable: true,
  get(this: Ring) {
    return pools.get(this);
  },
});
