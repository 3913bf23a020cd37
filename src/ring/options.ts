/**
 * Ring set-up: the public option and result types, and their validation
 * (checked before anything reaches a backend).
 */
import { invalidArgType, invalidArgValue, outOfRange } from '../errors.js';
import type { BackendChoice, BackendName } from '../backend/select.js';
import type { MaxIoWorkers } from './setup.js';
import { checkUint32 } from './checks.js';
import { ALLOW_ALWAYS } from './constants.js';
import { allowGroups, allowOpcodes } from './registry.js';

/** A live ring to attach to (a Ring satisfies it). */
export interface AttachTarget {
  readonly closed: boolean;
  readonly handle: RingHandle;
}

/** Options for `new Ring()`. */
export interface RingOptions {
  /** Submission queue size (rounded up to a power of two). Default 1024. */
  entries?: number;
  /** Completion queue size; default 4 × entries. */
  cqEntries?: number;
  /** Completions dispatched per event-loop turn before yielding. Default 1024. */
  budget?: number;
  /** Flush policy: 'microtask' (default) or 'immediate' (once per loop turn, from setImmediate). */
  flush?: 'microtask' | 'immediate';
  /**
   * Restrict the ring to these operations (names as in ALLOW_OPS: 'read',
   * 'write', 'open', 'accept', 'send', 'message', ...). Registered with
   * IORING_REGISTER_RESTRICTIONS: the kernel itself refuses anything else
   * (the operation fails with EACCES). Cancellation and deadlines stay allowed.
   */
  allow?: readonly string[];
  /** Logger for ring lifecycle events and anomalies (pino or compatible); default: silent. */
  logger?: RingLogger;
  /**
   * The backend: chosen automatically by default (io_uring where it works,
   * else the portable backend over Node's own I/O; see src/backend/select.ts),
   * 'io_uring' or 'portable' to force one (forcing io_uring where it cannot run
   * throws UringUnavailableError), or a Backend object (a mock, another build
   * of the addon).
   */
  backend?: BackendChoice;
  /**
   * IORING_SETUP_ATTACH_WQ: set the ring up attached to another live ring of
   * this process (a Ring, or its `handle` from another thread). The target
   * must still be open (else ERR_RING_CLOSED). See docs/guides/threads.md for
   * what the kernel shares (since Linux 5.12 the async worker pool is per
   * thread; the attachment matters for SQPOLL rings).
   */
  attachWq?: AttachTarget | RingHandle;
  /**
   * Busy poll (opt-in, default 0): before the event loop would sleep while
   * this ring has something in flight or a message consumer waiting, spin up
   * to this many microseconds on the completion queue (never while other
   * work is ready, never past the next timer). Trades CPU for wake-up
   * latency, like SO_BUSY_POLL. 0..1000000; also settable as `ring.busyPollUs`.
   */
  busyPollUs?: number;
  /**
   * Busy poll while bulk data is being received (default 50): after a
   * `socket.recv(buffer)` on this ring brings 64 KiB or more (into the
   * caller's own memory), the ring busy-polls this many microseconds, as
   * `busyPollUs` does, so the sender finds the receiver awake instead of
   * having to wake it (on a VM a wake-up is a hypervisor round trip). It
   * ends 5 to 10 ms after the last such receive. Iteration does not turn it on (its fresh chunks
   * keep the garbage collector's threads busy, and a spin would take their
   * CPU). `busyPollUs`, when set, takes precedence. 0 turns it off;
   * 0..1000000; also settable as `ring.bulkBusyPollUs`. The io_uring
   * backend only (accepted, with no effect, elsewhere).
   */
  bulkBusyPollUs?: number;
  /**
   * Caps on the kernel's io-wq worker threads serving this ring
   * (IORING_REGISTER_IOWQ_MAX_WORKERS, Linux 5.15+): `bounded` for regular
   * files and block devices, `unbounded` for the rest (splice to sockets and
   * pipes, files that cannot be polled). Each an integer 1..65536; omitted:
   * `bounded` keeps the kernel's default (min(SQ entries, 4 x CPUs)),
   * `unbounded` is 64. Work over the cap waits in the kernel's queue, where
   * a deadline or an abort still cancels it. io-wq belongs to the submitting
   * thread, so with one ring per thread this is per ring (a second ring on
   * the same thread sets the same pool: the last one set wins).
   */
  maxIoWorkers?: MaxIoWorkers;
}

/** What `ring.stats()` returns. All counters are cumulative except inFlight. */
export interface RingStats {
  submitted: number;
  completed: number;
  failed: number;
  timedOut: number;
  cancelled: number;
  inFlight: number;
  maxInFlight: number;
  enters: number;
  reapBatches: number;
  backlogged: number;
  cqOverflows: number;
  sqes: number;
  cqesDropped: number;
  staleCqes: number;
}

/**
 * A transferable description of a ring (plain data: pass it with
 * postMessage). Other threads' rings send to it with `ring.sendMessage(handle, msg)`.
 */
export interface RingHandle {
  readonly id: number;
  readonly pid: number;
  readonly threadId: number;
}

/** A ring-to-ring message: a 16-bit tag and a 32-bit signed value (as ourio's). */
export interface RingMessage {
  tag: number;
  value: number;
}

/** Tags at or above this are reserved for uringkit's own wake-ups (Notifier, Channel). */
export const RESERVED_TAG = 0xff00;

/** How the ring was set up on this kernel. */
export interface RingInfo {
  /** Which backend runs this ring: 'io_uring', 'portable' (Node's own I/O), 'mock' or 'custom'. */
  backend: BackendName;
  sqEntries: number;
  cqEntries: number;
  setupFlags: number;
  features: number;
  fd: number;
  flags: string[];
  /** The io-wq worker caps in effect (RingOptions.maxIoWorkers); null when the backend cannot cap io-wq. */
  maxIoWorkers: { bounded: number; unbounded: number } | null;
}

/** A pino-compatible logger (pino's Logger satisfies it). uringkit is silent without one. */
export interface RingLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** RingOptions.bulkBusyPollUs's default. */
export const DEFAULT_BULK_BUSY_POLL_US = 50;

/** @internal A busy-poll duration in µs (RingOptions.busyPollUs; startWorkers' ring.busyPollUs). */
export function checkBusyPoll(us: unknown, name: string): asserts us is number {
  if (typeof us !== 'number') throw invalidArgType(name, 'of type number', us);
  if (!Number.isInteger(us) || us < 0 || us > 1_000_000) throw outOfRange(name, 'an integer >= 0 && <= 1000000', us);
}


/** The validated scalar options of `new Ring(options)`, in the order they are checked. */
export interface ParsedRingOptions {
  entries: number;
  cqEntries: number;
  budget: number;
  immediateFlush: boolean;
  logger: RingLogger | undefined;
  busyPollUs: number;
  bulkBusyPollUs: number;
}

export function parseRingOptions(options: RingOptions): ParsedRingOptions {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  const entries = options.entries ?? 1024;
  checkUint32(entries, 'options.entries');
  if (entries < 1 || entries > 32768) throw outOfRange('options.entries', '>= 1 && <= 32768', entries);
  const cqEntries = options.cqEntries ?? entries * 4;
  checkUint32(cqEntries, 'options.cqEntries');
  if (cqEntries < entries || cqEntries > 131072) {
    throw outOfRange('options.cqEntries', `>= entries (${entries}) && <= 131072`, cqEntries);
  }
  const budget = options.budget ?? 1024;
  checkUint32(budget, 'options.budget');
  if (budget < 1) throw outOfRange('options.budget', '>= 1', budget);
  if (options.flush !== undefined && options.flush !== 'microtask' && options.flush !== 'immediate') {
    throw invalidArgType('options.flush', "'microtask' or 'immediate'", options.flush);
  }
  const logger = options.logger;
  if (logger !== undefined && (logger === null || typeof logger !== 'object' ||
    typeof logger.debug !== 'function' || typeof logger.warn !== 'function')) {
    throw invalidArgType('options.logger', 'a logger with debug() and warn() (pino or compatible)', logger);
  }
  const busyPollUs = options.busyPollUs ?? 0;
  checkBusyPoll(busyPollUs, 'options.busyPollUs');
  const bulkBusyPollUs = options.bulkBusyPollUs ?? DEFAULT_BULK_BUSY_POLL_US;
  checkBusyPoll(bulkBusyPollUs, 'options.bulkBusyPollUs');
  return { entries, cqEntries, budget, immediateFlush: options.flush === 'immediate', logger, busyPollUs, bulkBusyPollUs };
}

/** RingOptions.allow → the 256-entry opcode mask for IORING_REGISTER_RESTRICTIONS (undefined: unrestricted). */
export function parseAllow(list: unknown): Uint8Array | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) throw invalidArgType('options.allow', 'an array of operation names', list);
  const allow = new Uint8Array(256);
  for (const op of ALLOW_ALWAYS) allow[op] = 1;
  for (const name of list) {
    // The groups come from the operation table (src/ops/table.ts, `allow`).
    const ops = typeof name === 'string' ? allowOpcodes(name) : undefined;
    if (ops === undefined) {
      throw invalidArgValue('options.allow', name, `is not an operation name (${allowGroups().join(', ')})`);
    }
    for (const op of ops) allow[op] = 1;
  }
  return allow;
}
