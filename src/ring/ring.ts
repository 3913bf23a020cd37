/**
 * Ring: one io_uring instance inside Node's event loop.
 *
 * Owns the slot table (one slot per operation activation, user_data = slot +
 * generation), submission batching, completion dispatch, the fairness
 * budget, liveness and stats. The only code that talks to the native layer.
 *
 * Contracts:
 *  - every operation settles exactly once (success, error, timeout, abort);
 *  - everything the kernel may touch is referenced by the slot until the
 *    activation's last CQE (op, linked timeout and cancel CQEs);
 *  - operations issued in one synchronous run of JavaScript are submitted by
 *    one io_uring_enter, from a microtask queued by the first of them;
 *  - completions are reaped right after each enter and when the ring's
 *    eventfd wakes libuv; at most `budget` completions are dispatched per
 *    loop turn before yielding to the loop (setImmediate).
 */
import fs from 'node:fs';
import os from 'node:os';
import { threadId } from 'node:worker_threads';

import {
  AbortError, invalidArgType, invalidArgValue, outOfRange, RingClosedError, StaleCredentialsError, SystemError,
  TimeoutError,
  UringUnavailableError, type SystemErrorContext,
} from '../errors.js';
import type { Backend, BackendHandle, SyscallBackend } from '../backend/backend.js';
import { fallBackAfterSetup, selectBackend } from '../backend/select.js';
import { nativeBinding } from '../backend/uring/binding.js';
import {
  callbackArg, checkCallback, checkOptions, checkUint32, type Callback, type OpOptions,
} from './checks.js';
import { Cqe, DescFlag, DescOp, Kind, Rec, SLOT_MESSAGE } from '../backend/protocol.js';
import {
  IORING_CQE_F_MORE, IORING_OP, IORING_SETUP_COOP_TASKRUN, IORING_SETUP_SINGLE_ISSUER,
  IORING_SETUP_SUBMIT_ALL, IORING_SETUP_TASKRUN_FLAG, NativeStat, TurnWord,
} from './constants.js';
import { Mailbox } from './mailbox.js';
import { MultishotIterator } from './multishot.js';
import { credentials } from './credentials.js';
import { completeChannel as completeChannelBinding, debug, HOOKS as HOOKS_BINDING, submitChannel as submitChannelBinding } from './diagnostics.js';
import {
  checkBusyPoll, parseAllow, parseRingOptions, type RingHandle, type RingInfo, type RingLogger,
  type RingMessage, type RingOptions, type RingStats,
} from './options.js';
import { opcodesOf, opIdOf, OPS as OPS_BINDING } from './registry.js';
import { applyMaxIoWorkers, checkMaxIoWorkers, createRing } from './setup.js';

export type { Callback, OpOptions } from './checks.js';
export { MultishotIterator } from './multishot.js';
export { completeChannel, submitChannel } from './diagnostics.js';

// Module-local copies of the imported constants the hot path reads per
// operation (#start, #startPlain, #settle, #complete). V8 reads an imported
// binding through the exporting module's cell (module -> imports -> cell ->
// value) on every use, even when it is a const; a local const is one context
// load. Measured with callgrind on bench/nop's nop-batch32-callback: see
// bench/nop/README.md.
const HOOKS = HOOKS_BINDING;
const submitChannel = submitChannelBinding;
const completeChannel = completeChannelBinding;
const OPS = OPS_BINDING;
export {
  checkBusyPoll, RESERVED_TAG, type AttachTarget, type RingHandle, type RingInfo, type RingLogger, type RingMessage,
  type RingOptions, type RingStats,
} from './options.js';
export { type OpInfo } from './registry.js';
export { DEFAULT_MAX_IO_WORKERS, MIN_RETRY_ENTRIES, type MaxIoWorkers } from './setup.js';

const { errno: E } = os.constants;
const NEG_ECANCELED = -E.ECANCELED;
const NEG_ETIME = -E.ETIME;
const NEG_EALREADY = -E.EALREADY;
/** The tick of the bulk busy poll's window: it ends at the first tick with no bulk receive since the one before. */
const BULK_SPIN_MS = 5;
/** ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK: what an interrupted kernel worker reports. */
function isInterrupted(res: number): boolean {
  return res === -E.EINTR || res === -512 || res === -513 || res === -514 || res === -516;
}

// ---- per-slot state ------------------------------------------------------

const enum St {
  ACTIVE = 1,
  SETTLED = 2,
  PROMISE = 4,
  ABORT_REQ = 8,
  HAS_TIMEOUT = 16,
  MULTISHOT = 32,
  REF = 64,
  ITER = 128,
  /** The linked timeout fired (its CQE said -ETIME). */
  TIMED_OUT = 256,
  /** The deadline is a separate timer that must be removed if the operation ends first. */
  SEPARATE_TIMER = 512,
  /** An AbortSignal listener is attached (removed on settlement). */
  SIGNAL = 1024,
}

/** The operations the engine issues itself, looked up by name once (the operation table registers them). */
/**
 * nop's id, read on the first nop (not at Ring creation: a ring may be
 * created, e.g. by a worker's bootstrap, before the operation table loads).
 */
let nopId = -1;
let engineIds: { nop: number; closeFd: number; msgRing: number } | undefined;
function opIds(): { nop: number; closeFd: number; msgRing: number } {
  return (engineIds ??= { nop: opIdOf('nop'), closeFd: opIdOf('closeFd'), msgRing: opIdOf('sendMessage') });
}

type Settler = (err: Error | null, value?: unknown, more?: boolean) => void;

/**
 * The memory and extra scalars of an operation that touches user memory:
 * `pin` is what C derives pointers from (a view, a NUL-terminated path, or an
 * array of them) and what the slot keeps alive until the final CQE.
 */
export interface OpExtra {
  pin?: unknown;
  /** File position (-1: the current position). */
  position?: number;
  /** Byte offset into the pinned view, or a second offset (fallocate length, splice off_out). */
  offset?: number;
  length?: number;
  arg2?: number;
  /** Context for error messages (path, dest). */
  ctx?: SystemErrorContext | undefined;
}

const kCurrent = Symbol('uringkit.currentRing');
type GlobalWithRing = typeof globalThis & { [kCurrent]?: Ring };

/**
 * The flush microtask is queued with a resolved promise's then(): Node's
 * queueMicrotask() wraps every callback in an AsyncResource, which costs more
 * than the whole rest of an operation's JavaScript path.
 */
const RESOLVED = Promise.resolve();

/** RingOptions.attachWq → the registry id of the target (0: none), checked before anything reaches C. */
function attachTarget(target: unknown, native: Backend): number {
  if (target === undefined) return 0;
  let id: unknown;
  if (target instanceof Ring) {
    if (target.closed) throw new RingClosedError('attachWq');
    id = target.handle.id;
  } else if (target !== null && typeof target === 'object' && typeof (target as RingHandle).id === 'number') {
    const h = target as RingHandle;
    if (h.pid !== process.pid) {
      throw invalidArgValue('options.attachWq', h, 'is the handle of a ring in another process');
    }
    id = h.id;
  } else {
    throw invalidArgType('options.attachWq', 'a Ring or a RingHandle (ring.handle)', target);
  }
  if (!Number.isInteger(id) || (id as number) < 1 || (id as number) > 0xffffffff) {
    throw invalidArgValue('options.attachWq', target, 'is not a valid ring handle');
  }
  if (native.ringFd === undefined) {
    throw invalidArgValue('options.attachWq', target, 'needs a backend with ring handles (the io_uring addon)');
  }
  return id as number;
}

/** What io_uring_setup with IORING_SETUP_ATTACH_WQ answered. */
function attachError(errno: number): Error {
  const EBADFD = 77; // not in os.constants.errno
  const { ENXIO, EINVAL } = E;
  if (errno === -EBADFD || errno === -ENXIO) {
    const e = new RingClosedError('attachWq');
    e.message = 'Cannot attach to the ring (IORING_SETUP_ATTACH_WQ): the ring is closed';
    return e;
  }
  if (errno === -EINVAL) {
    return new SystemError(errno, 'io_uring_setup (IORING_SETUP_ATTACH_WQ)');
  }
  return new UringUnavailableError(errno);
}

function throwLater(err: unknown): void {
  process.nextTick(() => {
    throw err;
  });
}

let defaultBackendOverride: Backend | undefined;

/**
 * Friend access for operation families (src/ops/*): issue an operation on a
 * ring with the Promise-or-callback plumbing. Not part of the public API.
 */
export interface RingInternals {
  run<T>(ring: Ring, op: number, desc: number, fd: number, arg0: number, arg1: number,
    a: OpOptions | Callback<T> | undefined, b: Callback<T> | undefined, extra?: OpExtra, ms?: number): Promise<T> | void;
  /** An awaited nop with no options (the lean path: no closure per operation). */
  nop(ring: Ring): Promise<void>;
  /** A multishot operation: values go to `it` (or to `cb(err, value, more)`). Returns the slot or -1. */
  multishot<T>(ring: Ring, op: number, desc: number, fd: number, arg0: number, arg1: number,
    opts: OpOptions | undefined, it: MultishotIterator<T> | undefined,
    cb: ((err: Error | null, value?: T, more?: boolean) => void) | undefined, extra?: OpExtra): { cancel(): void };
  /** A record that takes no SQE and produces no CQE (buffer recycling). */
  stageRaw(ring: Ring, desc: number, arg0: number, arg1: number): void;
  backend(ring: Ring): Backend;
  handle(ring: Ring): BackendHandle | undefined;
  /**
   * Whether the ring's backend is the io_uring addon (it works on real fds and
   * paths, so libuv may work on the same ones). False for the mock, the
   * portable backend, or when the addon cannot load in this process.
   */
  kernelBacked(ring: Ring): boolean;
  /** Reserved-tag wake-ups (Notifier, Channel). */
  onTag(ring: Ring, tag: number, handler: ((value: number) => void) | undefined): void;
  sendTag(ring: Ring, target: RingHandle, tag: number, value: number): Promise<void>;
  /** A ring-to-ring message with the Promise-or-callback plumbing (tag and target checked by the caller). */
  message(ring: Ring, target: RingHandle, tag: number, value: number, a: OpOptions | Callback<void> | undefined,
    b: Callback<void> | undefined): Promise<void> | void;
  /** The backend's set-up syscalls (sockets, names, options, pipes, affinity); throws when it has none. */
  sys(ring: Ring): SyscallBackend;
  /** Keeps the loop alive (on) or not, counted like an operation. */
  hold(ring: Ring, on: boolean): void;
  /** A socket received bulk data: RingOptions.bulkBusyPollUs applies until a BULK_SPIN_MS tick sees none since the last. */
  bulkReceived(ring: Ring): void;
}

let internals: RingInternals | undefined;

/** @internal */
export function ringInternals(): RingInternals {
  return internals!;
}

/** A per-thread io_uring instance driven by Node's own event loop. */
export class Ring {
  static {
    internals = {
      run: (ring, op, desc, fd, arg0, arg1, a, b, extra, ms = 0) =>
        ring.#simple(op, desc as DescOp, fd, arg0, ms, a, b, arg1, extra),
      nop: (ring) => {
        if (nopId < 0) nopId = opIds().nop;
        return new Promise(ring.#nopExecutor) as Promise<void>;
      },
      multishot: (ring, op, desc, fd, arg0, arg1, opts, it, cb, extra) =>
        ring.#multishot(op, desc as DescOp, fd, arg0, arg1, opts, it as MultishotIterator<unknown> | undefined,
          cb as Settler | undefined, extra),
      stageRaw: (ring, desc, arg0, arg1) => ring.#stageRecord(desc, 0, 0, -1, arg0, arg1, 0, 0),
      backend: (ring) => ring.#native,
      handle: (ring) => ring.#h,
      kernelBacked: (ring) => {
        try {
          return ring.#native === nativeBinding();
        } catch {
          return false; // no addon in this process: not the io_uring backend
        }
      },
      onTag: (ring, tag, handler) => {
        ring.#mailbox.onTag(tag, handler);
      },
      sendTag: (ring, target, tag, value) => ring.#sendTagged(target, tag, value) as Promise<void>,
      message: (ring, target, tag, value, a, b) => ring.#sendTagged(target, tag, value, a, b),
      sys: (ring) => {
        const sys = ring.#native.sys;
        if (sys === undefined) throw new Error('this backend has no socket syscalls');
        return sys;
      },
      hold: (ring, on) => ring.#hold(on),
      bulkReceived: (ring) => ring.#bulkReceived(),
    };
  }

  readonly #native: Backend;
  #h: BackendHandle | undefined;
  readonly #stage: Int32Array;
  readonly #stageF64: Float64Array;
  readonly #stageCap: number;
  readonly #descWords: number;
  readonly #hdrWords: number;
  readonly #out: Int32Array;
  readonly #outCap: number;
  readonly #nstats: Float64Array;
  readonly #turn: Int32Array;
  readonly #budget: number;
  readonly #immediateFlush: boolean;
  readonly #info: RingInfo;
  readonly #probe: Uint8Array | undefined;
  readonly #logger: RingLogger | undefined;
  readonly #id: number;
  #busyPollUs = 0;
  /** RingOptions.bulkBusyPollUs (also settable as ring.bulkBusyPollUs). */
  #bulkBusyPollUs: number;
  /** The bulk busy poll is on (#bulkReceived); a bulk receive came since the window's timer last looked. */
  #bulkOn = false;
  #bulkSeen = false;
  #bulkTimer: ReturnType<typeof setTimeout> | undefined;
  /** The busy poll the backend has now (µs). */
  #appliedBusyPollUs = 0;
  readonly #credEpoch = credentials.epoch;
  #closeError: ((what: string) => Error) | undefined;
  readonly #mailbox: Mailbox;
  #droppedSeen = 0;

  // slot table (struct of arrays; grows by doubling)
  #cap = 0;
  #gen = new Uint32Array(0);
  #pending = new Uint16Array(0);
  #state = new Uint16Array(0);
  #op = new Uint8Array(0);
  #timeoutMs = new Float64Array(0);
  #t0 = new Float64Array(0);
  #fdOf = new Int32Array(0);
  #settler: (Settler | ((v: unknown) => void) | MultishotIterator<unknown> | undefined)[] = [];
  #reject: (((e: unknown) => void) | undefined)[] = [];
  #pins: unknown[] = [];
  #ctx: (SystemErrorContext | undefined)[] = [];
  #signal: (AbortSignal | undefined)[] = [];
  #listener: ((() => void) | undefined)[] = [];
  #reason: unknown[] = [];
  #free: number[] = [];

  // submission
  #backlog: unknown[] = [];
  #stagePins: unknown[] = [];
  #pinsStaged = false;
  #backlogHead = 0;
  #flushScheduled = false;
  #driving = false;
  #lastTurn = -1;
  #turnCompletions = 0;
  #immediate: NodeJS.Immediate | undefined;

  // liveness and lifecycle
  #inFlight = 0;
  #refCount = 0;
  #ringRef = true;
  #closing = false;
  #closed: Promise<void> | undefined;
  #closeResolve: (() => void) | undefined;

  // stats
  #submitted = 0;
  #completed = 0;
  #failed = 0;
  #timedOut = 0;
  #cancelled = 0;
  #maxInFlight = 0;
  #backlogged = 0;
  #stale = 0;

  /**
   * The ring of the calling thread (main thread or worker), created on first
   * use; `options` apply only when this call creates it.
   */
  static current(options?: RingOptions): Ring {
    const g = globalThis as GlobalWithRing;
    let r = g[kCurrent];
    if (r === undefined || r.#closing) {
      r = new Ring(defaultBackendOverride ? { ...options, backend: defaultBackendOverride } : options);
      g[kCurrent] = r;
    }
    return r;
  }

  constructor(options: RingOptions = {}) {
    const { entries, cqEntries, budget, immediateFlush, logger, busyPollUs, bulkBusyPollUs } = parseRingOptions(options);
    this.#bulkBusyPollUs = bulkBusyPollUs;
    this.#budget = budget;
    this.#immediateFlush = immediateFlush;

    const choice = options.backend;
    if (choice !== undefined && choice !== 'io_uring' && choice !== 'portable' &&
      (choice === null || typeof choice !== 'object')) {
      throw invalidArgType('options.backend', "'io_uring', 'portable' or a Backend object", choice);
    }
    let selection = selectBackend(choice);
    let native = selection.backend;
    const attachWqId = attachTarget(options.attachWq, native);
    this.#descWords = native.DESC_WORDS;
    this.#hdrWords = native.STAGE_HEADER_WORDS;
    const ioWorkers = checkMaxIoWorkers(options.maxIoWorkers, 'options.maxIoWorkers');
    this.#nstats = new Float64Array(NativeStat.COUNT);
    this.#turn = new Int32Array(4); // [loop turn, wantRef, isRefed, -]
    const want = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
      IORING_SETUP_SUBMIT_ALL;
    // At least two SQ entries: an operation and its linked timeout go in together.
    const allow = parseAllow(options.allow);
    // The stage holds one SQ's worth of records; the out buffer at least as many CQEs.
    const create = (b: Backend): ReturnType<typeof createRing> => {
      if (allow !== undefined && selection.name === 'portable') {
        throw invalidArgValue('options.allow', options.allow,
          'needs the io_uring backend (the kernel enforces restrictions; this ring runs on the portable backend)');
      }
      return createRing(b, {
        entries, cqEntries, wantFlags: want, stats: this.#nstats, turn: this.#turn, onWake: () => this.#drive(), allow,
        attachWqId,
      });
    };
    let made = create(native);
    if (typeof made.handle === 'number' && attachWqId === 0 && !selection.forced) {
      // io_uring_setup failed (seccomp, sysctl, memlock): the portable backend takes over.
      selection = fallBackAfterSetup(made.handle);
      native = selection.backend;
      made = create(native);
    }
    const { handle: h, memory } = made;
    this.#stage = memory.stage;
    this.#stageF64 = memory.stageF64;
    this.#stageCap = memory.stageCap;
    this.#out = memory.out;
    this.#outCap = memory.outCap;
    if (typeof h === 'number') {
      if (attachWqId !== 0) throw attachError(h);
      throw new UringUnavailableError(h);
    }
    this.#native = native;
    this.#h = h;
    const [setupFlags, features, sqEntries, cq, fd] = native.info(h);
    const names: string[] = [];
    if (setupFlags & IORING_SETUP_SINGLE_ISSUER) names.push('SINGLE_ISSUER');
    if (setupFlags & IORING_SETUP_COOP_TASKRUN) names.push('COOP_TASKRUN');
    if (setupFlags & IORING_SETUP_TASKRUN_FLAG) names.push('TASKRUN_FLAG');
    if (setupFlags & IORING_SETUP_SUBMIT_ALL) names.push('SUBMIT_ALL');
    this.#info = { backend: selection.name, sqEntries, cqEntries: cq, setupFlags, features, fd, flags: names,
      maxIoWorkers: applyMaxIoWorkers(native, h, ioWorkers) };
    const probe = native.probe(h);
    this.#probe = typeof probe === 'number' ? undefined : probe;
    this.#logger = logger;
    let id = 0;
    if (native.registerRing !== undefined) {
      id = (Math.random() * 0xffffffff) >>> 0 || 1;
      if (native.registerRing(h, id) !== 0) id = 0;
    }
    this.#id = id;
    this.#mailbox = new Mailbox(id, (on) => this.#hold(on), () => this.#closing);
    if (busyPollUs !== 0) this.busyPollUs = busyPollUs;
    if (attachWqId !== 0) names.push('ATTACH_WQ');
    debug('ring created: fd %d, %d SQ / %d CQ entries, flags %s', fd, sqEntries, cq, names.join('|'));
    this.#logger?.debug({ fd, sqEntries, cqEntries: cq, flags: names }, 'uringkit ring created');
    this.#grow(64);
  }

  /** How this ring was set up on the running kernel. */
  get info(): RingInfo {
    const w = this.#info.maxIoWorkers;
    return { ...this.#info, flags: [...this.#info.flags], maxIoWorkers: w === null ? null : { ...w } };
  }

  /** Busy-poll microseconds (see RingOptions.busyPollUs); 0 = off. */
  get busyPollUs(): number {
    return this.#busyPollUs;
  }

  set busyPollUs(us: number) {
    checkBusyPoll(us, 'busyPollUs');
    if (this.#h === undefined) throw new RingClosedError('busyPollUs');
    if (us !== 0 && this.#native.setBusyPoll === undefined) {
      throw invalidArgValue('busyPollUs', us, 'needs a backend with busy poll (the io_uring addon)');
    }
    this.#busyPollUs = us;
    this.#applyBusyPoll();
  }

  /** Gives the backend the busy poll in force: busyPollUs when set, else bulkBusyPollUs while bulk data is received. */
  #applyBusyPoll(): void {
    const h = this.#h;
    const us = this.#busyPollUs !== 0 ? this.#busyPollUs : this.#bulkOn ? this.#bulkBusyPollUs : 0;
    if (us === this.#appliedBusyPollUs || h === undefined || this.#native.setBusyPoll === undefined) return;
    this.#native.setBusyPoll(h, us);
    this.#appliedBusyPollUs = us;
  }

  /**
   * A receive brought bulk data (net/socket.ts recv()): the ring busy-polls
   * bulkBusyPollUs until a BULK_SPIN_MS tick of its timer finds no new one
   * (so 1 to 2 ticks after the last; no clock read per receive). A window, not
   * a per-socket on/off: nothing to pair up or leak, and a peer that sends
   * one burst and then idles keeps the spin for milliseconds, not for as
   * long as its connection stays open.
   */
  #bulkReceived(): void {
    if (this.#bulkOn) {
      this.#bulkSeen = true;
      return;
    }
    if (this.#bulkBusyPollUs === 0) return;
    this.#bulkOn = true;
    this.#applyBusyPoll();
    this.#armBulkTimer();
  }

  #armBulkTimer(): void {
    this.#bulkTimer = setTimeout(this.#bulkTick, BULK_SPIN_MS);
    this.#bulkTimer.unref();
  }

  /** The bulk window's tick: another window while bulk receives keep coming, else the spin ends. */
  readonly #bulkTick = (): void => {
    this.#bulkTimer = undefined;
    if (this.#bulkSeen && this.#h !== undefined) {
      this.#bulkSeen = false;
      return this.#armBulkTimer();
    }
    this.#bulkSeen = false;
    this.#bulkOn = false;
    this.#applyBusyPoll();
  };

  /** RingOptions.bulkBusyPollUs: the busy poll (µs) while a socket's recv() takes bulk data; 0 = off. */
  get bulkBusyPollUs(): number {
    return this.#bulkBusyPollUs;
  }

  set bulkBusyPollUs(us: number) {
    checkBusyPoll(us, 'bulkBusyPollUs');
    if (this.#h === undefined) throw new RingClosedError('bulkBusyPollUs');
    this.#bulkBusyPollUs = us;
    this.#applyBusyPoll();
  }

  /** Busy polls started and those that found a completion (see busyPollUs). */
  busyPollStats(): { spins: number; hits: number } {
    const h = this.#h;
    const r = h !== undefined ? this.#native.busyPollStats?.(h) : undefined;
    return { spins: r?.[0] ?? 0, hits: r?.[1] ?? 0 };
  }

  /** True once close() has been called. */
  get closed(): boolean {
    return this.#closing;
  }

  /**
   * Whether the running kernel supports an IORING_OP_* opcode (from
   * IORING_REGISTER_PROBE), or, given an operation's name ('read',
   * 'openat2', ...), every opcode that operation may submit (src/ops/table.ts).
   */
  supports(operation: number | string): boolean {
    if (typeof operation === 'string') {
      const ops = opcodesOf(operation);
      if (ops === undefined) throw invalidArgValue('operation', operation, 'is not an operation name');
      return ops.every((n) => this.#supportsOpcode(n));
    }
    checkUint32(operation, 'opcode');
    return this.#supportsOpcode(operation);
  }

  #supportsOpcode(opcode: number): boolean {
    return this.#probe !== undefined ? this.#probe[opcode] === 1 : opcode <= IORING_OP.CLOSE;
  }

  // ---- issuing (the operations themselves are in src/ops/, put on Ring by src/ops/methods.ts) ----

  /** Starts a multishot operation delivering to an iterator or a callback. */
  #multishot(op: number, desc: DescOp, fd: number, arg0: number, arg1: number, opts: OpOptions | undefined,
    it: MultishotIterator<unknown> | undefined, cb?: Settler, extra?: OpExtra): { cancel(): void } {
    if (it !== undefined) {
      const slot = this.#start(op, desc, fd, arg0, arg1, 0, opts, it, undefined, St.MULTISHOT | St.ITER, extra);
      if (slot < 0) return { cancel: () => {} };
      const gen = this.#gen[slot]!;
      const control = {
        cancel: () => this.#requestCancel(slot, gen, undefined),
        setRef: (on: boolean) => this.#setSlotRef(slot, gen, on),
      };
      it.attach(control);
      return control;
    }
    const slot = this.#start(op, desc, fd, arg0, arg1, 0, opts, cb!, undefined, St.MULTISHOT, extra);
    const gen = slot >= 0 ? this.#gen[slot]! : -1;
    return { cancel: () => this.#requestCancel(slot, gen, new Error('cancel() was called')) };
  }

  /**
   * Cancels every operation in flight on this ring (each rejects with an
   * AbortError). Resolves, once they have all settled, with how many were
   * cancelled in the kernel rather than completing first.
   */
  cancelAll(): Promise<number>;
  cancelAll(callback: Callback<number>): void;
  cancelAll(callback?: Callback<number>): Promise<number> | void {
    if (callback !== undefined) checkCallback(callback);
    const reason = new Error('Ring.cancelAll() was called');
    const tally = { n: 0 };
    this.#tallies.set(reason, tally);
    const targets: number[] = [];
    for (let slot = 0; slot < this.#cap; slot++) {
      const st = this.#state[slot]!;
      if ((st & St.ACTIVE) !== 0 && (st & St.SETTLED) === 0) {
        targets.push(slot, this.#gen[slot]!);
        this.#requestCancel(slot, this.#gen[slot]!, reason);
      }
    }
    const done = this.#whenSettled(targets).then(() => tally.n);
    if (callback === undefined) return done;
    done.then((n) => callback(null, n), (e: Error) => callback(e));
  }

  // ---- ring-to-ring messages ------------------------------------------------

  /** This ring's transferable handle (pass it to other threads with postMessage). */
  get handle(): RingHandle {
    if (this.#id === 0) throw new Error('this backend cannot receive ring-to-ring messages');
    return { id: this.#id, pid: process.pid, threadId };
  }

  /**
   * IORING_OP_MSG_RING: `{ tag, value }` into the target ring's CQ (the
   * mailbox's encoding). Arguments but `value` are checked by the caller
   * (ops/core.ts sendMessage; Notifier and Channel for reserved tags).
   */
  #sendTagged(target: RingHandle, tag: number, value: number, a?: OpOptions | Callback<void>,
    b?: Callback<void>): Promise<void> | void {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
      throw outOfRange('message.value', 'a 32-bit signed integer', value);
    }
    // The target's fd is resolved in C when the SQE is built (no lookup
    // here, no window for the fd to be reused); an unknown id is EBADFD,
    // which settles as ERR_RING_CLOSED.
    const hi = (tag & 0xffff) | ((target.id & 0xffff) << 16);
    return this.#simple(opIds().msgRing, DescOp.MSG_RING, target.id | 0, hi | 0, 0, a, b, value | 0, undefined);
  }

  /**
   * Messages sent to this ring, in arrival order. One consumer at a time;
   * messages that arrive while nobody iterates are queued. While a consumer
   * waits, the event loop is kept alive.
   *
   * `{ batch: true }` yields arrays instead: every message queued or reaped
   * by the time the consumer resumes, in order (never an empty array); one
   * promise per batch instead of one per message.
   */
  messages(): AsyncIterableIterator<RingMessage>;
  messages(options: { batch: true }): AsyncIterableIterator<RingMessage[]>;
  messages(options: { batch?: false }): AsyncIterableIterator<RingMessage>;
  messages(options?: { batch?: boolean }): AsyncIterableIterator<RingMessage> | AsyncIterableIterator<RingMessage[]> {
    return this.#mailbox.iterate(options);
  }

  /** Counts of messages received and dropped (addressed to a previous ring that had this fd). */
  messageStats(): { received: number; dropped: number; queued: number } {
    return this.#mailbox.stats();
  }

  // ---- lifecycle ----------------------------------------------------------

  /**
   * Cancels everything in flight, waits until every operation has settled and
   * every CQE has been reaped, then releases the ring. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closing = true;
    const g = globalThis as GlobalWithRing;
    if (g[kCurrent] === this) g[kCurrent] = undefined;
    this.#closed = new Promise<void>((resolve) => {
      this.#closeResolve = resolve;
    });
    const reason = new RingClosedError('the operation');
    clearTimeout(this.#bulkTimer);
    this.#mailbox.close();
    this.#updateRef();
    for (let slot = 0; slot < this.#cap; slot++) {
      const st = this.#state[slot]!;
      if ((st & St.ACTIVE) !== 0 && (st & St.SETTLED) === 0) this.#requestCancel(slot, this.#gen[slot]!, reason);
    }
    this.#maybeFinishClose();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The ring no longer keeps the event loop alive (operations still complete). */
  unref(): this {
    this.#ringRef = false;
    this.#updateRef();
    return this;
  }

  /** Undoes unref(). */
  ref(): this {
    this.#ringRef = true;
    this.#updateRef();
    return this;
  }

  /** Counters; cheap (no syscall). */
  stats(): RingStats {
    const n = this.#nstats;
    return {
      submitted: this.#submitted,
      completed: this.#completed,
      failed: this.#failed,
      timedOut: this.#timedOut,
      cancelled: this.#cancelled,
      inFlight: this.#inFlight,
      maxInFlight: this.#maxInFlight,
      enters: n[NativeStat.ENTERS]!,
      reapBatches: n[NativeStat.REAP_BATCHES]!,
      backlogged: this.#backlogged,
      cqOverflows: n[NativeStat.CQ_OVERFLOWS]!,
      sqes: n[NativeStat.SQES]!,
      cqesDropped: n[NativeStat.CQES_DROPPED]!,
      staleCqes: this.#stale,
    };
  }

  // ---- internals: issuing ------------------------------------------------

  /**
   * The executor of an option-less awaited nop, made once per ring: issuing
   * one allocates no closure (the ring's own measurement primitive; its id
   * comes from the operation table like every other).
   */
  readonly #nopExecutor = (resolve: (v: unknown) => void, reject: (e: unknown) => void): void => {
    this.#startPlain(nopId, DescOp.NOP, -1, 0, 0, resolve, reject, St.PROMISE);
  };

  /**
   * Promise-or-callback plumbing for single-shot descriptor operations.
   *
   * Hot path (bench/nop's nop-batch32-callback goes through here): this
   * function must hold no closure and no default parameter. V8 allocates a
   * function's context on entry when any of its variables is captured, and a
   * second (block) context when its parameters have defaults; both were paid
   * per operation on the callback path while the Promise executor lived here.
   * The executor is in #promised, which only the Promise form calls.
   */
  #simple<T>(op: number, desc: DescOp, fd: number, arg0: number, ms: number,
    a: OpOptions | Callback<T> | undefined, b: Callback<T> | undefined, arg1: number,
    extra: OpExtra | undefined): Promise<T> | void {
    const cb = callbackArg(a, b);
    const opts = typeof a === 'function' ? undefined : checkOptions(a);
    if (cb !== undefined) {
      this.#start(op, desc, fd, arg0, arg1, ms, opts, cb as Settler, undefined, 0, extra);
      return;
    }
    return this.#promised<T>(op, desc, fd, arg0, arg1, ms, opts, extra);
  }

  /** The Promise form of #simple (its executor is the only closure). */
  #promised<T>(op: number, desc: DescOp, fd: number, arg0: number, arg1: number, ms: number,
    opts: OpOptions | undefined, extra: OpExtra | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#start(op, desc, fd, arg0, arg1, ms, opts, resolve as (v: unknown) => void, reject, St.PROMISE, extra);
    });
  }

  /**
   * Allocates a slot, wires signal/timeout/ref and stages the descriptor.
   * Returns the slot, or -1 when the operation was settled up front (aborted
   * signal, closed ring): then it was settled asynchronously, never twice.
   */
  #start(op: number, desc: DescOp, fd: number, arg0: number, arg1: number, ms: number, opts: OpOptions | undefined,
    settler: Settler | ((v: unknown) => void) | MultishotIterator<unknown>, reject: ((e: unknown) => void) | undefined,
    flags: number, extra?: OpExtra): number {
    if (this.#closing) {
      this.#settleEarly(settler, reject, flags, (this.#closeError ?? ((w) => new RingClosedError(w)))(OPS[op]!.name));
      return -1;
    }
    const signal = opts?.signal;
    if (signal !== undefined && signal.aborted) {
      this.#settleEarly(settler, reject, flags, new AbortError(undefined, { cause: signal.reason }));
      return -1;
    }
    let slot = this.#free.pop();
    if (slot === undefined) {
      this.#grow(this.#cap * 2);
      slot = this.#free.pop()!;
    }
    const timeout = opts?.timeout;
    let st = St.ACTIVE | flags;
    let descFlags = 0;
    if (timeout !== undefined) {
      st |= St.HAS_TIMEOUT;
      descFlags = DescFlag.LINK_TIMEOUT;
      if (OPS[op]!.forceAsync === true) {
        st |= St.SEPARATE_TIMER;
        descFlags |= DescFlag.SEPARATE_TIMER;
      }
      this.#timeoutMs[slot] = timeout;
      this.#pending[slot] = 2;
    } else {
      this.#pending[slot] = 1;
    }
    if (opts?.ref !== false) {
      st |= St.REF;
      if (this.#refCount++ === 0) this.#updateRef();
    }
    this.#state[slot] = st;
    this.#op[slot] = op;
    this.#settler[slot] = settler;
    this.#reject[slot] = reject;
    const gen = this.#gen[slot]!;
    if (signal !== undefined) {
      this.#state[slot] = st | St.SIGNAL;
      const listener = () => this.#requestCancel(slot, gen, undefined);
      this.#signal[slot] = signal;
      this.#listener[slot] = listener;
      signal.addEventListener('abort', listener, { once: true });
    }
    if (++this.#inFlight > this.#maxInFlight) this.#maxInFlight = this.#inFlight;
    this.#submitted++;
    if (HOOKS && (submitChannel.hasSubscribers || completeChannel.hasSubscribers)) this.#traceStart(slot, op, fd);
    if (extra === undefined) {
      this.#stageRecord(desc | (descFlags << 8), slot, gen << 2, fd, arg0, arg1, ms, timeout ?? 0);
    } else {
      this.#pins[slot] = extra.pin;
      this.#ctx[slot] = extra.ctx;
      this.#stageExtended(desc | (descFlags << 8), slot, gen << 2, fd, arg0, arg1, ms, timeout ?? 0,
        extra.position ?? 0, extra.offset ?? 0, extra.length ?? 0, extra.arg2 ?? 0, extra.pin);
    }
    return slot;
  }

  /**
   * #start for an operation issued without options (no signal, deadline or
   * ref change) on an open ring: the common case, kept lean.
   */
  #startPlain(op: number, desc: DescOp, fd: number, arg0: number, ms: number,
    settler: Settler | ((v: unknown) => void), reject: ((e: unknown) => void) | undefined, flags: number): void {
    if (this.#closing || (HOOKS && (submitChannel.hasSubscribers || completeChannel.hasSubscribers))) {
      this.#start(op, desc, fd, arg0, 0, ms, undefined, settler, reject, flags);
      return;
    }
    let slot = this.#free.pop();
    if (slot === undefined) {
      this.#grow(this.#cap * 2);
      slot = this.#free.pop()!;
    }
    this.#pending[slot] = 1;
    if (this.#refCount++ === 0) this.#updateRef();
    this.#state[slot] = St.ACTIVE | St.REF | flags;
    this.#op[slot] = op;
    // Only the resolve function is kept (one store of a young function into
    // the slot table, not two): a failure resolves with a rejected promise.
    this.#settler[slot] = settler;
    if (++this.#inFlight > this.#maxInFlight) this.#maxInFlight = this.#inFlight;
    this.#submitted++;
    this.#stageRecord(desc, slot, this.#gen[slot]! << 2, fd, arg0, 0, ms, 0);
  }

  /**
   * The scalar-record hot path (nop, timeout, poll, close, cancel, msg_ring):
   * writes only words 0-9, which is all C reads for these operations; records
   * with memory or the extended fields go through #stageExtended/#writeRecord.
   */
  #stageRecord(word0: number, slot: number, hi: number, fd: number, arg0: number, arg1: number,
    opMs: number, linkMs: number): void {
    const stage = this.#stage;
    const count = stage[0]!;
    if (count === this.#stageCap || this.#backlogHead < this.#backlog.length) {
      this.#backlog.push(word0, slot, hi, fd, arg0, arg1, opMs, linkMs, 0, 0, 0, 0, undefined);
      this.#backlogged++;
    } else {
      const base = this.#hdrWords + count * this.#descWords;
      stage[base + Rec.OP_FLAGS] = word0;
      stage[base + Rec.SLOT] = slot;
      stage[base + Rec.HI] = hi;
      stage[base + Rec.FD] = fd;
      stage[base + Rec.ARG0] = arg0;
      stage[base + Rec.ARG1] = arg1;
      const f = this.#stageF64;
      f[(base + Rec.OP_MS) >> 1] = opMs;
      f[(base + Rec.LINK_MS) >> 1] = linkMs;
      stage[0] = count + 1;
    }
    if (!this.#flushScheduled && !this.#driving) this.#scheduleFlush();
  }

  /** A record with memory (pin) and the extended fields. Same ordering rules. */
  #stageExtended(word0: number, slot: number, hi: number, fd: number, arg0: number, arg1: number, opMs: number,
    linkMs: number, position: number, offset: number, length: number, arg2: number, pin: unknown): void {
    const stage = this.#stage;
    const count = stage[0]!;
    if (count === this.#stageCap || this.#backlogHead < this.#backlog.length) {
      this.#backlog.push(word0, slot, hi, fd, arg0, arg1, opMs, linkMs, position, offset, length, arg2, pin);
      this.#backlogged++;
    } else {
      this.#writeRecord(count, word0, slot, hi, fd, arg0, arg1, opMs, linkMs, position, offset, length, arg2, pin);
      stage[0] = count + 1;
    }
    if (!this.#flushScheduled && !this.#driving) this.#scheduleFlush();
  }

  #writeRecord(index: number, word0: number, slot: number, hi: number, fd: number, arg0: number, arg1: number,
    opMs: number, linkMs: number, position: number, offset: number, length: number, arg2: number,
    pin: unknown): void {
    const stage = this.#stage;
    const f = this.#stageF64;
    const base = this.#hdrWords + index * this.#descWords;
    stage[base + Rec.OP_FLAGS] = word0;
    stage[base + Rec.SLOT] = slot;
    stage[base + Rec.HI] = hi;
    stage[base + Rec.FD] = fd;
    stage[base + Rec.ARG0] = arg0;
    stage[base + Rec.ARG1] = arg1;
    f[(base + Rec.OP_MS) >> 1] = opMs;
    f[(base + Rec.LINK_MS) >> 1] = linkMs;
    f[(base + Rec.POSITION) >> 1] = position;
    f[(base + Rec.OFFSET) >> 1] = offset;
    stage[base + Rec.LENGTH] = length;
    stage[base + Rec.ARG2] = arg2;
    if (pin !== undefined) {
      this.#stagePins[index] = pin;
      this.#pinsStaged = true;
    }
  }

  /** The first operation of a synchronous run queues the flush (a microtask, or setImmediate). */
  #scheduleFlush(): void {
    this.#flushScheduled = true;
    if (this.#immediateFlush) this.#scheduleImmediate();
    else RESOLVED.then(this.#flushTask);
  }

  readonly #flushTask = (): void => {
    this.#flushScheduled = false;
    this.#drive();
  };

  #scheduleImmediate(): void {
    // While an immediate is pending, new operations wait for it (no microtask flush).
    this.#flushScheduled = true;
    if (this.#immediate === undefined) {
      this.#immediate = setImmediate(() => {
        this.#immediate = undefined;
        this.#flushScheduled = false;
        this.#turnCompletions = 0;
        this.#drive();
      });
    }
  }

  #refillStage(): void {
    const backlog = this.#backlog;
    let head = this.#backlogHead;
    if (head >= backlog.length) return;
    const stage = this.#stage;
    let count = stage[0]!;
    while (head < backlog.length && count < this.#stageCap) {
      const b = backlog as number[];
      this.#writeRecord(count, b[head]!, b[head + 1]!, b[head + 2]!, b[head + 3]!, b[head + 4]!, b[head + 5]!,
        b[head + 6]!, b[head + 7]!, b[head + 8]!, b[head + 9]!, b[head + 10]!, b[head + 11]!, backlog[head + 12]);
      head += 13;
      count++;
    }
    stage[0] = count;
    if (head >= backlog.length) {
      backlog.length = 0;
      head = 0;
    }
    this.#backlogHead = head;
  }

  /** After a flush: drop the transport references of consumed records, keep the rest aligned. */
  #settleStagePins(before: number): void {
    const pins = this.#stagePins;
    const left = this.#stage[0]!;
    const consumed = before - left;
    for (let i = 0; i < left; i++) pins[i] = pins[i + consumed];
    for (let i = left; i < before; i++) pins[i] = undefined;
    this.#pinsStaged = left > 0;
  }

  /**
   * Submits what is staged and dispatches completions until there is nothing
   * left to submit or reap, or the turn's budget is spent.
   */
  #drive(): void {
    const h = this.#h;
    if (h === undefined || this.#driving) return;
    if (this.#credEpoch !== credentials.epoch && this.#closeError === undefined) {
      this.#refuseStaleCredentials();
      return;
    }
    const turn = this.#turn[TurnWord.COUNT]!;
    if (turn !== this.#lastTurn) {
      this.#lastTurn = turn;
      this.#turnCompletions = 0;
    }
    if (this.#turnCompletions >= this.#budget) {
      // This turn's budget is spent (e.g. an await chain of inline
      // completions): let timers and other I/O run first.
      this.#scheduleImmediate();
      return;
    }
    const native = this.#native;
    const stage = this.#stage;
    this.#driving = true;
    let deferred = false;
    try {
      for (;;) {
        this.#refillStage();
        let n: number;
        if (this.#pinsStaged) {
          const before = stage[0]!;
          n = native.flush(h, this.#stagePins);
          this.#settleStagePins(before);
        } else {
          n = native.flush(h);
        }
        const refused = stage[0]! > 0 ? stage[2]! : 0;
        let reaped = 0;
        while (n > 0) {
          this.#dispatch(n);
          reaped += n;
          this.#turnCompletions += n;
          if (this.#turnCompletions >= this.#budget) break;
          // Fewer than a full buffer: C saw the CQ empty and re-armed the eventfd.
          n = n === this.#outCap ? native.reap(h) : 0;
        }
        if (this.#turnCompletions >= this.#budget) {
          deferred = true;
          break;
        }
        if (stage[0] === 0 && this.#backlogHead >= this.#backlog.length) break;
        if (refused !== 0 && reaped === 0) {
          // The kernel refused submission (CQ overflow on older kernels):
          // completions must come first. Retry on the next turn.
          deferred = true;
          break;
        }
      }
    } finally {
      this.#driving = false;
    }
    if (deferred) this.#scheduleImmediate();
    if (this.#nstats[NativeStat.CQES_DROPPED] !== this.#droppedSeen) this.#reportDropped();
    if (this.#closing) this.#maybeFinishClose();
  }

  /**
   * The process changed credentials since this ring was created: nothing
   * staged is submitted (it settles with ERR_RING_STALE_CREDENTIALS), what is
   * in flight is cancelled, and the ring closes.
   */
  #refuseStaleCredentials(): void {
    this.#closeError = (what) => new StaleCredentialsError(what);
    const err = new StaleCredentialsError('the operation');
    const stage = this.#stage;
    const records: number[][] = [];
    for (let i = 0; i < stage[0]!; i++) {
      const base = this.#hdrWords + i * this.#descWords;
      records.push([stage[base + Rec.OP_FLAGS]!, stage[base + Rec.SLOT]!, stage[base + Rec.ARG0]!]);
    }
    for (let i = this.#backlogHead; i < this.#backlog.length; i += 13) {
      records.push([this.#backlog[i] as number, this.#backlog[i + 1] as number, this.#backlog[i + 4] as number]);
    }
    stage[0] = 0;
    this.#backlog.length = 0;
    this.#backlogHead = 0;
    this.#stagePins.fill(undefined);
    for (const [word0, slot, arg0] of records) {
      const op = word0 & 0xff;
      if (op === DescOp.PBUF_RECYCLE) continue;
      const target = op === DescOp.CANCEL ? arg0 : slot;
      // The CQEs these SQEs would have produced will never come.
      const expected = op === DescOp.CANCEL ? 1 : (word0 >> 8) & DescFlag.LINK_TIMEOUT ? 2 : 1;
      const st = this.#state[target]!;
      if ((st & St.ACTIVE) === 0) continue;
      if (op !== DescOp.CANCEL && (st & St.SETTLED) === 0) {
        this.#state[target] = st | St.SETTLED;
        this.#cancelled++;
        this.#settle(target, st, err, -1);
      }
      this.#pending[target] = Math.max(0, this.#pending[target]! - expected);
      if (this.#pending[target] === 0 && (this.#state[target]! & St.SETTLED) !== 0) this.#release(target);
    }
    debug('ring fd %d: credentials changed since creation; refusing to submit, closing', this.#info.fd);
    this.#logger?.warn({ fd: this.#info.fd }, 'uringkit ring: credentials changed since creation; closing');
    void this.close();
  }

  /** The kernel dropped CQEs (it could not even park them): operations may never settle. */
  #reportDropped(): void {
    const dropped = this.#nstats[NativeStat.CQES_DROPPED]!;
    const msg = `uringkit: the kernel dropped ${dropped - this.#droppedSeen} completion(s) (CQ overflow without room)`;
    this.#droppedSeen = dropped;
    debug(msg);
    if (this.#logger) this.#logger.warn({ fd: this.#info.fd, dropped }, msg);
    else process.emitWarning(msg, { code: 'UK_CQ_DROPPED' });
  }

  // ---- internals: completion ---------------------------------------------

  #dispatch(n: number): void {
    const out = this.#out;
    const traced = completeChannel.hasSubscribers;
    // The slot arrays are re-read every iteration: a callback may grow them.
    for (let i = 0, o = 0; i < n; i++, o += 4) {
      const slot = out[o + Cqe.SLOT]!;
      const hi = out[o + Cqe.HI]!;
      const res = out[o + Cqe.RES]!;
      if (slot === SLOT_MESSAGE) {
        this.#mailbox.deliver(hi, res);
        continue;
      }
      if (slot < 0 || slot >= this.#cap) {
        this.#stale++;
        continue;
      }
      const st = this.#state[slot]!;
      if ((st & St.ACTIVE) === 0 || this.#gen[slot] !== hi >>> 2) {
        this.#stale++;
        continue;
      }
      const kind = hi & 3;
      if (kind === Kind.OP) {
        const more = (out[o + Cqe.FLAGS]! & IORING_CQE_F_MORE) !== 0;
        if (more && (st & St.MULTISHOT) !== 0) {
          this.#deliverMore(slot, st, res, out[o + Cqe.FLAGS]!);
          continue;
        }
        // Single-shot: the first kind-0 CQE settles. A zero-copy send posts its
        // result with F_MORE and a notification CQE later: the slot (and the
        // buffer it pins) lives until that final CQE.
        if ((st & ~St.REF) === (St.ACTIVE | St.PROMISE) && res >= 0 && !more && !traced) {
          // Fast path: a plain awaited single-shot operation that succeeded
          // (no signal, deadline or multishot): settle and release inline.
          this.#settlePromiseOk(slot, st, res);
          continue;
        }
        if ((st & St.SETTLED) === 0) {
          this.#complete(slot, st, res, out[o + Cqe.FLAGS]!);
          // A separate deadline timer still armed: remove it.
          if ((st & (St.SEPARATE_TIMER | St.TIMED_OUT)) === St.SEPARATE_TIMER) this.#removeTimer(slot);
        }
        if (more) continue;
      } else if (kind === Kind.LINK_TIMEOUT && (st & St.SETTLED) === 0 &&
        ((st & St.SEPARATE_TIMER) !== 0 ? res === NEG_ETIME : res === NEG_EALREADY)) {
        // The deadline passed and nothing stopped the operation: a separate
        // timer fired (-ETIME), or a linked timeout found the operation
        // already running on a kernel worker (-EALREADY). Cancel it
        // explicitly, as an abort would; it settles with ETIMEDOUT. (A linked
        // timeout that fired with -ETIME has cancelled the operation itself.)
        this.#state[slot] = st | St.TIMED_OUT;
        this.#cancelForTimeout(slot);
      }
      if (--this.#pending[slot]! === 0 && (this.#state[slot]! & St.SETTLED) !== 0) this.#release(slot);
    }
  }

  #deliverMore(slot: number, st: number, res: number, cqeFlags: number): void {
    const s = this.#settler[slot];
    const shape = OPS[this.#op[slot]!]!.shapeMore;
    const value = shape !== undefined ? shape(res, cqeFlags, this.#pins[slot]) : res;
    if ((st & St.ITER) !== 0) (s as MultishotIterator<unknown>).push(value);
    else {
      try {
        (s as Settler)(null, value, true);
      } catch (e) {
        throwLater(e);
      }
    }
  }

  /** The activation's final CQE: settle exactly once. */
  #complete(slot: number, st: number, res: number, cqeFlags = 0): void {
    const op = this.#op[slot]!;
    let err: Error | null = null;
    const info = OPS[op]!;
    if (res < 0 && res !== info.okResult) {
      if (res === NEG_ECANCELED || ((st & (St.ABORT_REQ | St.TIMED_OUT)) !== 0 && isInterrupted(res))) {
        if ((st & St.ABORT_REQ) !== 0 && (st & St.TIMED_OUT) === 0) {
          const reason = this.#reason[slot];
          err = new AbortError(undefined, { cause: reason });
          this.#cancelled++;
          const tally = this.#tallies.get(reason as object);
          if (tally !== undefined) tally.n++;
        } else if ((st & St.HAS_TIMEOUT) !== 0) {
          err = new TimeoutError(info.syscall, this.#timeoutMs[slot]!, this.#ctx[slot]);
          this.#timedOut++;
        } else {
          err = new AbortError('The operation was cancelled');
          this.#cancelled++;
        }
      } else {
        err = info.mapError?.(res) ?? new SystemError(res, info.syscall, this.#ctx[slot]);
        this.#failed++;
      }
    } else if (info.resultIsFd === true && (st & St.ABORT_REQ) !== 0) {
      // Completed despite the abort: close the new fd first, then reject, so
      // that when the caller sees the AbortError the fd is already gone.
      this.#pending[slot]!++;
      const gen = this.#gen[slot]!;
      this.#simple<void>(opIds().closeFd, DescOp.CLOSE, res, 0, 0, (closeErr) => {
        if (this.#gen[slot] !== gen) return;
        const e = new AbortError(undefined, { cause: this.#reason[slot] });
        if (closeErr) {
          // The ring is closing: release the fd through libuv instead.
          if ((closeErr as { code?: string }).code === 'ERR_RING_CLOSED') {
            this.#native.forgetFd?.(res); // closed without IORING_OP_CLOSE: the teardown tracker must forget it
            fs.close(res, () => {});
          }
          else (e as Error & { closeError?: Error }).closeError = closeErr;
        }
        this.#cancelled++;
        this.#state[slot] = this.#state[slot]! | St.SETTLED;
        this.#settle(slot, st, e, res);
        if (--this.#pending[slot]! === 0) this.#release(slot);
      }, undefined, 0, undefined);
      return;
    } else {
      this.#completed++;
    }
    this.#state[slot] = st | St.SETTLED;
    this.#settle(slot, st, err, res, cqeFlags);
  }

  #traceStart(slot: number, op: number, fd: number): void {
    this.#t0[slot] = performance.now();
    this.#fdOf[slot] = fd;
    if (submitChannel.hasSubscribers) submitChannel.publish({ ring: this, op: OPS[op]!.name, fd });
  }

  #traceEnd(slot: number, err: Error | null, res: number): void {
    const t0 = this.#t0[slot]!;
    this.#t0[slot] = 0;
    completeChannel.publish({
      ring: this, op: OPS[this.#op[slot]!]!.name, fd: this.#fdOf[slot], result: res, error: err,
      durationMs: t0 > 0 ? performance.now() - t0 : Number.NaN,
    });
  }

  /**
   * #complete + #settle + #release for the common case (an awaited
   * single-shot operation with no signal, deadline or cancel that succeeded:
   * its only CQE is in), used by #dispatch's fast path.
   */
  #settlePromiseOk(slot: number, st: number, res: number): void {
    const resolve = this.#settler[slot] as (v: unknown) => void;
    const shape = OPS[this.#op[slot]!]!.shape;
    const value = shape === undefined ? undefined : shape(res, this.#pins[slot]);
    this.#settler[slot] = undefined;
    this.#reject[slot] = undefined;
    this.#completed++;
    if ((st & St.REF) !== 0 && --this.#refCount === 0) this.#updateRef();
    this.#pending[slot] = 0;
    this.#release(slot);
    resolve(value);
  }

  #settle(slot: number, st: number, err: Error | null, res: number, cqeFlags = 0): void {
    if (HOOKS && completeChannel.hasSubscribers) this.#traceEnd(slot, err, res);
    const s = this.#settler[slot];
    const reject = this.#reject[slot];
    this.#settler[slot] = undefined;
    this.#reject[slot] = undefined;
    const signal = this.#signal[slot];
    if (signal !== undefined) {
      signal.removeEventListener('abort', this.#listener[slot]!);
      this.#signal[slot] = undefined;
      this.#listener[slot] = undefined;
    }
    if ((st & St.REF) !== 0) {
      this.#state[slot]! &= ~St.REF;
      if (--this.#refCount === 0) this.#updateRef();
    }
    const info = OPS[this.#op[slot]!]!;
    let value: unknown;
    if (err === null) {
      if ((st & St.MULTISHOT) !== 0 && info.shapeMore !== undefined) value = res >= 0 ? info.shapeMore(res, cqeFlags, this.#pins[slot]) : undefined;
      else if (info.shape !== undefined) value = info.shape(res, this.#pins[slot]);
    }
    if ((st & St.PROMISE) !== 0) {
      if (err === null) (s as (v: unknown) => void)(value);
      else if (reject !== undefined) reject(err);
      else (s as (v: unknown) => void)(Promise.reject(err)); // issued by #startPlain
    } else if ((st & St.ITER) !== 0) {
      const it = s as MultishotIterator<unknown>;
      if (err === null && res >= 0) it.push(value);
      // A multishot ended by return() (or cancelAll/close) ends quietly.
      it.end(err !== null && !(err instanceof AbortError) ? err : undefined);
    } else {
      try {
        if (err !== null) (s as Settler)(err);
        else if ((st & St.MULTISHOT) !== 0) (s as Settler)(null, value, false);
        else (s as Settler)(null, value);
      } catch (e) {
        throwLater(e);
      }
    }
  }

  #release(slot: number): void {
    this.#state[slot] = 0;
    this.#gen[slot] = (this.#gen[slot]! + 1) & 0x3fffffff;
    this.#pins[slot] = undefined;
    this.#ctx[slot] = undefined;
    this.#reason[slot] = undefined;
    this.#free.push(slot);
    this.#inFlight--;
    const waiters = this.#settleWaiters;
    if (waiters.length !== 0) this.#checkWaiters();
  }

  /** An early settlement (before any SQE): always asynchronous. */
  #settleEarly(settler: Settler | ((v: unknown) => void) | MultishotIterator<unknown>,
    reject: ((e: unknown) => void) | undefined, flags: number, err: Error): void {
    if ((flags & St.PROMISE) !== 0) reject!(err);
    else if ((flags & St.ITER) !== 0) {
      const it = settler as MultishotIterator<unknown>;
      queueMicrotask(() => it.end(err));
    } else process.nextTick(settler as Settler, err);
  }

  // ---- internals: cancellation ---------------------------------------------

  /** Asks the kernel to cancel one exact activation (slot + generation). */
  #requestCancel(slot: number, gen: number, reason: unknown): void {
    if (slot < 0 || this.#h === undefined) return;
    const st = this.#state[slot]!;
    if ((st & St.ACTIVE) === 0 || (st & (St.SETTLED | St.ABORT_REQ)) !== 0 || this.#gen[slot] !== gen) return;
    this.#state[slot] = st | St.ABORT_REQ;
    this.#reason[slot] = reason !== undefined ? reason : this.#signal[slot]?.reason;
    this.#stageCancel(slot, Kind.OP);
  }

  /** Stages an ASYNC_CANCEL aimed at one exact SQE of this activation (its CQE is awaited). */
  #stageCancel(slot: number, targetKind: Kind): void {
    const gen = this.#gen[slot]!;
    this.#pending[slot]!++;
    this.#stageRecord(DescOp.CANCEL, slot, gen << 2, -1, slot, (gen << 2) | targetKind, 0, 0);
  }

  /** Cancels a slot's separate deadline timer (its CQE then says -ECANCELED). */
  #removeTimer(slot: number): void {
    this.#stageCancel(slot, Kind.LINK_TIMEOUT);
  }

  /** Cancels an activation whose deadline passed; it settles with ETIMEDOUT. */
  #cancelForTimeout(slot: number): void {
    this.#stageCancel(slot, Kind.OP);
  }

  #setSlotRef(slot: number, gen: number, on: boolean): void {
    const st = this.#state[slot]!;
    if ((st & St.ACTIVE) === 0 || (st & St.SETTLED) !== 0 || this.#gen[slot] !== gen) return;
    if (on && (st & St.REF) === 0) {
      this.#state[slot] = st | St.REF;
      if (this.#refCount++ === 0) this.#updateRef();
    } else if (!on && (st & St.REF) !== 0) {
      this.#state[slot] = st & ~St.REF;
      if (--this.#refCount === 0) this.#updateRef();
    }
  }

  readonly #tallies = new WeakMap<object, { n: number }>();

  #settleWaiters: { targets: number[]; resolve: () => void }[] = [];

  /** Resolves when every (slot, gen) pair in `targets` has been released. */
  #whenSettled(targets: number[]): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#settleWaiters.push({ targets, resolve });
      this.#checkWaiters();
    });
  }

  #checkWaiters(): void {
    const waiters = this.#settleWaiters;
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i]!;
      let live = false;
      for (let k = 0; k < w.targets.length; k += 2) {
        const slot = w.targets[k]!;
        if ((this.#state[slot]! & St.ACTIVE) !== 0 && this.#gen[slot] === w.targets[k + 1]) {
          live = true;
          break;
        }
      }
      if (!live) {
        waiters.splice(i--, 1);
        w.resolve();
      }
    }
  }

  // ---- internals: liveness and lifecycle -----------------------------------

  /** Keeps the loop alive (on) or not, counted like an operation (message consumers, Notifier). */
  #hold(on: boolean): void {
    if (on) {
      if (this.#refCount++ === 0) this.#updateRef();
    } else if (--this.#refCount === 0) this.#updateRef();
  }

  /**
   * Liveness. Ref'ing is eager (an operation issued in any loop phase must
   * keep the loop alive before libuv next checks); un-ref'ing is lazy: C's
   * uv_prepare hook drops the ref when `wantRef` is still 0 at the start of
   * the next poll phase, so an await chain does not cross into C twice per
   * operation.
   */
  #updateRef(): void {
    const want = (this.#refCount > 0 && this.#ringRef) || (this.#closing && this.#inFlight > 0);
    const turn = this.#turn;
    turn[TurnWord.WANT_REF] = want ? 1 : 0;
    if (want && turn[TurnWord.REFFED] === 0 && this.#h !== undefined) this.#native.setRef(this.#h, true);
  }

  #maybeFinishClose(): void {
    if (this.#inFlight !== 0 || this.#h === undefined || this.#driving) return;
    const h = this.#h;
    this.#h = undefined;
    if (this.#immediate !== undefined) {
      clearImmediate(this.#immediate);
      this.#immediate = undefined;
    }
    this.#native.destroy(h);
    debug('ring closed: fd %d', this.#info.fd);
    this.#logger?.debug({ fd: this.#info.fd, stats: this.stats() }, 'uringkit ring closed');
    this.#closeResolve?.();
  }

  #grow(cap: number): void {
    const old = this.#cap;
    const grow32 = <T extends Uint32Array | Uint16Array | Uint8Array | Float64Array | Int32Array>(a: T,
      C: new (n: number) => T): T => {
      const b = new C(cap);
      b.set(a);
      return b;
    };
    this.#gen = grow32(this.#gen, Uint32Array);
    this.#pending = grow32(this.#pending, Uint16Array);
    this.#state = grow32(this.#state, Uint16Array);
    this.#op = grow32(this.#op, Uint8Array);
    this.#timeoutMs = grow32(this.#timeoutMs, Float64Array);
    this.#t0 = grow32(this.#t0, Float64Array);
    this.#fdOf = grow32(this.#fdOf, Int32Array);
    for (let i = cap - 1; i >= old; i--) this.#free.push(i);
    this.#cap = cap;
  }
}

/**
 * Makes `Ring.current()` create its rings on another backend (for example a
 * MockBackend in a test), or restores the io_uring backend with `undefined`.
 * Affects rings created afterwards.
 */
export function setDefaultBackend(b: Backend | undefined): void {
  defaultBackendOverride = b;
}
