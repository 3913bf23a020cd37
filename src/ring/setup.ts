/**
 * Ring set-up policy that the Ring constructor delegates to:
 *
 *  - the shared memory (stage, out) sized for a given SQ;
 *  - creation with a retry on ENOMEM: kernels before 5.12 charge ring memory
 *    to RLIMIT_MEMLOCK, often 64 KiB in containers, which a 1024-entry ring
 *    exceeds; the ring is then asked again with half the entries, down to
 *    MIN_RETRY_ENTRIES, before failing (a NODE_DEBUG=uringkit line says
 *    which size was used);
 *  - the io-wq worker caps (RingOptions.maxIoWorkers).
 */
import os from 'node:os';
import util from 'node:util';

import { invalidArgType, outOfRange } from '../errors.js';
import type { Backend, BackendHandle } from '../backend/backend.js';

const debug = util.debuglog('uringkit');
const NEG_ENOMEM = -os.constants.errno.ENOMEM;

/** The smallest SQ the ENOMEM retry goes down to (a ring needs at least 2; 16 keeps batching useful). */
export const MIN_RETRY_ENTRIES = 16;

/**
 * io-wq worker caps for one ring (see RingOptions.maxIoWorkers). `bounded`:
 * work on regular files and block devices (kernel default: min(SQ entries,
 * 4 x CPUs)). `unbounded`: everything else that lands on io-wq — splice to a
 * socket or pipe, I/O on files that cannot be polled (kernel default:
 * RLIMIT_NPROC).
 */
export interface MaxIoWorkers {
  bounded?: number;
  unbounded?: number;
}

/**
 * The default caps: `bounded` stays the kernel's own (0 = unchanged),
 * `unbounded` is 64 per ring. Rationale in docs/design.md ("io-wq workers").
 */
export const DEFAULT_MAX_IO_WORKERS: Readonly<Required<MaxIoWorkers>> = Object.freeze({ bounded: 0, unbounded: 64 });

/** Largest accepted cap (the kernel clamps unbounded further to RLIMIT_NPROC). */
export const MAX_IO_WORKERS_LIMIT = 65536;

/** Validates RingOptions.maxIoWorkers (or startWorkers' ring.maxIoWorkers); returns both counts (0 = kernel default). */
export function checkMaxIoWorkers(v: unknown, name: string): Required<MaxIoWorkers> {
  if (v === undefined) return { ...DEFAULT_MAX_IO_WORKERS };
  if (v === null || typeof v !== 'object') throw invalidArgType(name, 'of type object', v);
  const o = v as MaxIoWorkers;
  const count = (x: unknown, key: 'bounded' | 'unbounded'): number => {
    if (x === undefined) return DEFAULT_MAX_IO_WORKERS[key];
    if (typeof x !== 'number') throw invalidArgType(`${name}.${key}`, 'of type number', x);
    if (!Number.isInteger(x) || x < 1 || x > MAX_IO_WORKERS_LIMIT) {
      throw outOfRange(`${name}.${key}`, `an integer >= 1 && <= ${MAX_IO_WORKERS_LIMIT}`, x);
    }
    return x;
  };
  return { bounded: count(o.bounded, 'bounded'), unbounded: count(o.unbounded, 'unbounded') };
}

/**
 * Applies the caps to a fresh ring. Returns what is in effect, or null when
 * the backend cannot cap io-wq (a mock, or a kernel before 5.15: then a
 * debug line says so and the kernel's defaults stay).
 */
export function applyMaxIoWorkers(native: Backend, h: BackendHandle, caps: Required<MaxIoWorkers>):
  { bounded: number; unbounded: number } | null {
  if (native.setMaxIoWorkers === undefined) return null;
  const r = native.setMaxIoWorkers(h, caps.bounded, caps.unbounded);
  if (typeof r === 'number') {
    debug('IORING_REGISTER_IOWQ_MAX_WORKERS failed (errno %d): io-wq keeps the kernel defaults', -r);
    return null;
  }
  return { bounded: r[0], unbounded: r[1] };
}

/** The memory shared with the backend for one ring: one SQ's worth of records, and the completion array. */
export interface RingMemory {
  readonly stage: Int32Array;
  readonly stageF64: Float64Array;
  /** Records the stage holds (the SQ size). */
  readonly stageCap: number;
  readonly out: Int32Array;
  /** Completion records `out` holds. */
  readonly outCap: number;
}

function ringMemory(native: Backend, entries: number): RingMemory {
  const sqSize = 2 ** Math.ceil(Math.log2(Math.max(entries, 2)));
  const stageBuf = new ArrayBuffer((native.STAGE_HEADER_WORDS + sqSize * native.DESC_WORDS) * 4);
  const outCap = Math.max(2 * sqSize, 256); // room for two synthetic completions per staged record
  return {
    stage: new Int32Array(stageBuf),
    stageF64: new Float64Array(stageBuf),
    stageCap: sqSize,
    out: new Int32Array(outCap * native.CQE_WORDS),
    outCap,
  };
}

export interface CreateRequest {
  entries: number;
  cqEntries: number;
  wantFlags: number;
  stats: Float64Array;
  turn: Int32Array;
  onWake: () => void;
  allow: Uint8Array | undefined;
  attachWqId: number;
}

/**
 * Creates the backend ring, halving the SQ (and CQ) on ENOMEM down to
 * MIN_RETRY_ENTRIES. Returns the handle (or the last negative errno) and the
 * memory that goes with the size that was used.
 */
export function createRing(native: Backend, req: CreateRequest): { handle: BackendHandle | number; memory: RingMemory } {
  let entries = req.entries;
  let cq = req.cqEntries;
  const asked = entries;
  for (;;) {
    const memory = ringMemory(native, entries);
    const handle = native.create(Math.max(entries, 2), Math.max(cq, 2), req.wantFlags, memory.stage, memory.out,
      req.stats, req.turn, req.onWake, req.allow, req.attachWqId);
    if (handle !== NEG_ENOMEM || entries <= MIN_RETRY_ENTRIES) {
      if (entries !== asked) {
        debug(typeof handle === 'number'
          ? 'io_uring_setup: ENOMEM down to %d SQ entries (asked %d); RLIMIT_MEMLOCK is probably too low'
          : 'ring created with %d SQ entries instead of %d: io_uring_setup said ENOMEM for larger rings ' +
            '(kernels before 5.12 charge ring memory to RLIMIT_MEMLOCK)', entries, asked);
      }
      return { handle, memory };
    }
    entries = Math.max(MIN_RETRY_ENTRIES, Math.floor(entries / 2));
    cq = Math.max(entries, Math.floor(cq / 2));
  }
}
