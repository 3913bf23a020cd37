/**
 * startWorkers: thread-per-core. Runs an ES module's default export in N
 * worker_threads, each with its own ring (Ring.current()) and, by default,
 * pinned to one CPU; the returned handle stops, joins and inspects them.
 *
 * Structured like a TaskGroup of threads: `join()` waits for every worker and
 * reports failures; by default the first failure stops the others (their
 * AbortSignal fires with an AbortError whose `cause` is the failure).
 * A worker's life is its function: when it returns (or rejects because of
 * stop()), the worker closes its ring, cancelling whatever it left in flight,
 * and the thread ends once its event loop is empty.
 *
 * The workers' rings run on the backend of the calling thread's ring
 * (Ring.current()) when that is io_uring or the portable backend, also when
 * it was forced (`backend` option, setDefaultBackend, UK_BACKEND), so that
 * their ring messages reach it; under a mock or custom backend they select
 * their backend as any ring does.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';

import { AbortError, invalidArgType, invalidArgValue, outOfRange } from '../errors.js';
import { checkBusyPoll, Ring, type RingHandle, type RingStats } from '../ring/ring.js';
import { checkMaxIoWorkers, type MaxIoWorkers } from '../ring/setup.js';
import type { EntryData, FromWorker, ToWorker } from './worker-protocol.js';

/** What a worker module's default export receives. */
export interface WorkerContext<D = unknown> {
  /** 0 .. count - 1. */
  readonly index: number;
  readonly count: number;
  /** `options.data`, structured-cloned (SharedArrayBuffers stay shared; handles revive with .from()). */
  readonly data: D;
  /** Aborted by `stop(reason)` (reason = its reason), by the parent's signal, or when another worker failed. */
  readonly signal: AbortSignal;
  /** This worker's ring (Ring.current() in the worker). */
  readonly ring: Ring;
  /** The ring of the thread that called startWorkers (null when it has none that can receive messages). */
  readonly parentRing: RingHandle | null;
}

/** The default export of a worker module. */
export type WorkerMain<D = unknown> = (ctx: WorkerContext<D>) => unknown;

export interface StartWorkersOptions<D = unknown> {
  /** The worker module: a URL (file:, data:) or a file path (relative to the cwd). */
  module: string | URL;
  /** Number of workers; default os.availableParallelism(). */
  count?: number;
  /** Pin worker i to the i-th allowed CPU (modulo their number) with sched_setaffinity; default true. */
  pin?: boolean;
  /** Passed to every worker as ctx.data (structured clone). */
  data?: D;
  /** Options for each worker's ring (Ring.current() in the worker). */
  ring?: WorkerRingOptions;
  /** Aborting it stops the workers (like stop(signal.reason)). */
  signal?: AbortSignal;
  /** The first failure stops the other workers (default true). */
  cancelOnError?: boolean;
  /** Passed to each Worker. */
  resourceLimits?: ResourceLimits;
  /** Thread name prefix (Worker `name`, shown in diagnostics); default 'uringkit-worker'. */
  name?: string;
}

export interface WorkerRingOptions {
  /**
   * Set each worker's ring up with IORING_SETUP_ATTACH_WQ to the ring of the
   * thread that calls startWorkers (its Ring.current()). That ring must stay
   * open until the workers have created theirs: a worker that finds it closed
   * fails with ERR_RING_CLOSED. Default false. See docs/guides/threads.md for
   * what the kernel shares.
   */
  attachWq?: boolean;
  /** RingOptions.busyPollUs for each worker's ring (default 0: no busy poll). */
  busyPollUs?: number;
  /** RingOptions.bulkBusyPollUs for each worker's ring (default 50; 0: no busy poll while recv() takes bulk data). */
  bulkBusyPollUs?: number;
  /**
   * RingOptions.maxIoWorkers for each worker's ring: caps on the kernel's
   * io-wq threads per worker (default: bounded = the kernel's, unbounded = 64).
   */
  maxIoWorkers?: MaxIoWorkers;
  /**
   * RingOptions.entries for each worker's ring (SQ size, 1..32768; default
   * 1024). Smaller rings need less locked memory where RLIMIT_MEMLOCK is small.
   */
  entries?: number;
}

export interface WorkerInfo {
  readonly index: number;
  readonly threadId: number;
  /** The CPU it is pinned to; null when not pinned (pin: false, or pinning failed). */
  readonly cpu: number | null;
  /**
   * The worker's ring (the one its function gets as ctx.ring), to message it
   * from this thread with `Ring.current().sendMessage(handle, { tag, value })`; set
   * once the worker has started (after `ready()`), null before that or when
   * its backend cannot receive ring-to-ring messages. After the worker's
   * function returns, its ring is closed and sends to it reject with
   * ERR_RING_CLOSED.
   */
  readonly ring: RingHandle | null;
}

export interface WorkerStats extends WorkerInfo {
  /** The worker ring's stats, or null when the worker has already ended. */
  readonly stats: RingStats | null;
}

export interface StopOptions {
  /** The reason workers' signals abort with (structured-cloned); default an AbortError. */
  reason?: unknown;
  /** Workers still running this long after stop() are terminated (worker.terminate()). */
  timeoutMs?: number;
}

export interface StopResult {
  /** Indices of the workers that had to be terminated after `timeoutMs`. */
  terminated: number[];
}

export interface Workers extends AsyncDisposable {
  readonly workers: readonly WorkerInfo[];
  /**
   * Each worker's ring handle (`workers[i].ring`), by index: null until that
   * worker has started (await `ready()` first) or when it has none.
   */
  readonly handles: readonly (RingHandle | null)[];
  /** Workers that have not exited yet. */
  readonly running: number;
  /** Resolves when every worker has pinned itself and created its ring (rejects if one fails before). */
  ready(): Promise<void>;
  /**
   * Aborts every worker's signal and resolves when all have exited.
   * `stop(reason)` or `stop({ reason, timeoutMs })` (an object with only
   * `reason` and/or `timeoutMs` keys is read as options). Failures are
   * reported by join(), not here.
   */
  stop(reasonOrOptions?: unknown): Promise<StopResult>;
  /**
   * Resolves when all workers have exited normally; rejects with the failure
   * when one worker failed (threw, rejected, crashed or exited non-zero), with
   * an AggregateError of the failures (in order) when several did.
   * Workers terminated by stop({ timeoutMs }) are not failures.
   */
  join(): Promise<void>;
  /** Every worker's ring stats, gathered by message. */
  stats(): Promise<WorkerStats[]>;
}

function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.trim().split('-').map(Number);
    if (a === undefined || !Number.isInteger(a)) continue;
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

/** CPUs the calling thread may run on (its affinity mask), in order. */
export function allowedCpus(): number[] {
  for (const file of ['/proc/thread-self/status', '/proc/self/status']) {
    try {
      const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync(file, 'utf8'));
      if (m) {
        const cpus = parseCpuList(m[1]!);
        if (cpus.length > 0) return cpus;
      }
    } catch {
      // try the next
    }
  }
  return Array.from({ length: os.availableParallelism() }, (_, i) => i);
}

function workerRingOptions(o: unknown): EntryData['ring'] {
  if (o === undefined) return { attachWq: false, busyPollUs: 0, bulkBusyPollUs: undefined, maxIoWorkers: undefined, entries: undefined };
  if (o === null || typeof o !== 'object') throw invalidArgType('options.ring', 'of type object', o);
  const { attachWq = false, busyPollUs = 0, bulkBusyPollUs, maxIoWorkers, entries } = o as WorkerRingOptions;
  if (typeof attachWq !== 'boolean') throw invalidArgType('options.ring.attachWq', 'of type boolean', attachWq);
  checkBusyPoll(busyPollUs, 'options.ring.busyPollUs');
  if (bulkBusyPollUs !== undefined) checkBusyPoll(bulkBusyPollUs, 'options.ring.bulkBusyPollUs');
  if (maxIoWorkers !== undefined) checkMaxIoWorkers(maxIoWorkers, 'options.ring.maxIoWorkers');
  if (entries !== undefined) {
    if (typeof entries !== 'number') throw invalidArgType('options.ring.entries', 'of type number', entries);
    if (!Number.isInteger(entries) || entries < 1 || entries > 32768) {
      throw outOfRange('options.ring.entries', '>= 1 && <= 32768', entries);
    }
  }
  return { attachWq, busyPollUs, bulkBusyPollUs, maxIoWorkers: maxIoWorkers === undefined ? undefined : { ...maxIoWorkers },
    entries };
}

function moduleUrl(m: unknown): string {
  if (m instanceof URL) return m.href;
  if (typeof m !== 'string' || m === '') throw invalidArgType('options.module', 'a URL or a path string', m);
  if (/^(file|data):/.test(m)) return m;
  return pathToFileURL(path.resolve(m)).href;
}

/**
 * A worker inherits the parent's execArgv, including what only makes sense
 * for the main script (`--input-type`, `-e`/`--eval`, `-p`/`--print`): with
 * `--input-type=module` a worker refuses to load a file. When the parent has
 * such flags, the worker gets the parent's execArgv without them (and
 * without flags a worker may not be given); otherwise it inherits as usual
 * (undefined).
 */
function workerExecArgv(): string[] | undefined {
  const out: string[] = [];
  const a = process.execArgv;
  let stripped = false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (x === '-e' || x === '--eval' || x === '-p' || x === '--print' || x === '--input-type') {
      i++;
      stripped = true;
      continue;
    }
    if (x.startsWith('--eval=') || x.startsWith('--print=') || x.startsWith('--input-type=')) {
      stripped = true;
      continue;
    }
    out.push(x);
  }
  if (!stripped) return undefined;
  return out.filter((x) => process.allowedNodeEnvironmentFlags.has(x.split('=')[0]!));
}

function isStopOptions(x: unknown): x is StopOptions {
  if (x === null || typeof x !== 'object') return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(x);
  return keys.length > 0 && keys.every((k) => k === 'reason' || k === 'timeoutMs');
}

interface Slot {
  info: { index: number; threadId: number; cpu: number | null; ring: RingHandle | null };
  worker: Worker;
  exited: boolean;
  exitPromise: Promise<void>;
  started: Promise<void>;
  terminatedByStop: boolean;
  /** Its function has returned (it no longer answers control messages). */
  done: boolean;
  statsWaiters: Map<number, (s: RingStats | null) => void>;
}

/** Starts the workers (see the module comment). */
export function startWorkers<D = unknown>(options: StartWorkersOptions<D>): Workers {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  const url = moduleUrl(options.module);
  const count = options.count ?? os.availableParallelism();
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1024) {
    throw outOfRange('options.count', '>= 1 && <= 1024', count);
  }
  const pin = options.pin ?? true;
  if (typeof pin !== 'boolean') throw invalidArgType('options.pin', 'of type boolean', pin);
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
  }
  const ringOptions = workerRingOptions(options.ring);
  const cancelOnError = options.cancelOnError ?? true;
  const cpus = pin ? allowedCpus() : [];
  let parentRing: RingHandle | null = null;
  const current = Ring.current();
  try {
    parentRing = current.handle;
  } catch {
    // a backend without ring-to-ring messages
  }
  // Workers run their rings on the backend of this thread's ring (see EntryData.backend).
  const parentBackend = current.info.backend;
  const backend = parentBackend === 'portable' || parentBackend === 'io_uring' ? parentBackend : undefined;
  if (ringOptions.attachWq && parentRing === null) {
    throw invalidArgValue('options.ring.attachWq', true, "needs a parent ring with a handle (this thread's backend has none)");
  }
  const entry = new URL('./worker-entry.js', import.meta.url);
  const failures: unknown[] = [];
  let stopping = false;
  let statsId = 0;
  const slots: Slot[] = [];

  const stopAll = (reason: unknown): void => {
    stopping = true;
    for (const s of slots) {
      if (s.exited) continue;
      try {
        s.worker.postMessage({ uk: 'stop', reason } satisfies ToWorker);
      } catch {
        // not cloneable: send its description
        s.worker.postMessage({ uk: 'stop', reason: new AbortError(String(reason)) } satisfies ToWorker);
      }
    }
  };

  const fail = (s: Slot, err: unknown): void => {
    failures.push(err);
    if (cancelOnError && !stopping) {
      stopAll(new AbortError(`startWorkers: worker ${s.info.index} failed`, { cause: err }));
    }
  };

  for (let index = 0; index < count; index++) {
    const cpu = pin ? cpus[index % cpus.length]! : -1;
    const data: EntryData = { moduleUrl: url, index, count, data: options.data, parentRing, cpu, ring: ringOptions,
      backend };
    const execArgv = workerExecArgv();
    const worker = new Worker(entry, {
      workerData: data,
      ...(execArgv !== undefined ? { execArgv } : {}),
      name: `${options.name ?? 'uringkit-worker'}-${index}`,
      ...(options.resourceLimits !== undefined ? { resourceLimits: options.resourceLimits } : {}),
    });
    let onStarted!: () => void;
    let onStartFailed!: (e: unknown) => void;
    const started = new Promise<void>((resolve, reject) => {
      onStarted = resolve;
      onStartFailed = reject;
    });
    started.catch(() => {});
    const slot: Slot = {
      info: { index, threadId: worker.threadId, cpu: pin ? cpu : null, ring: null },
      worker,
      exited: false,
      exitPromise: undefined as unknown as Promise<void>,
      started,
      terminatedByStop: false,
      done: false,
      statsWaiters: new Map(),
    };
    let errored = false;
    worker.on('message', (m: FromWorker) => {
      if (m === null || typeof m !== 'object') return;
      if (m.uk === 'started') {
        if (m.pinned !== 0) slot.info.cpu = null;
        slot.info.ring = m.ring;
        onStarted();
      } else if (m.uk === 'stats') {
        const w = slot.statsWaiters.get(m.id);
        slot.statsWaiters.delete(m.id);
        w?.(m.stats);
      } else if (m.uk === 'done') {
        slot.done = true;
        for (const w of slot.statsWaiters.values()) w(null);
        slot.statsWaiters.clear();
      }
    });
    worker.on('error', (err) => {
      errored = true;
      fail(slot, err);
    });
    slot.exitPromise = new Promise<void>((resolve) => {
      worker.once('exit', (code) => {
        slot.exited = true;
        onStartFailed(new Error(`worker ${index} exited (code ${code}) before it started`));
        if (!errored && code !== 0 && !slot.terminatedByStop) {
          fail(slot, Object.assign(new Error(`worker ${index} exited with code ${code}`), { exitCode: code }));
        }
        for (const w of slot.statsWaiters.values()) w(null);
        slot.statsWaiters.clear();
        resolve();
      });
    });
    slots.push(slot);
  }

  const allExited = Promise.all(slots.map((s) => s.exitPromise)).then(() => undefined);
  if (signal !== undefined) {
    const onAbort = (): void => stopAll(signal.reason);
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      void allExited.then(() => signal.removeEventListener('abort', onAbort));
    }
  }

  const infos = slots.map((s) => s.info);
  const handle: Workers = {
    get workers() {
      return infos.map((i) => ({ ...i }));
    },
    get handles() {
      return infos.map((i) => i.ring);
    },
    get running() {
      return slots.filter((s) => !s.exited).length;
    },
    ready() {
      return Promise.all(slots.map((s) => s.started)).then(() => undefined);
    },
    async stop(reasonOrOptions?: unknown) {
      let reason: unknown = reasonOrOptions;
      let timeoutMs: number | undefined;
      if (isStopOptions(reasonOrOptions)) {
        reason = reasonOrOptions.reason;
        timeoutMs = reasonOrOptions.timeoutMs;
        if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs >= 0 && timeoutMs <= 2 ** 31 - 1))) {
          throw outOfRange('options.timeoutMs', '>= 0 && <= 2147483647', timeoutMs);
        }
      }
      stopAll(reason !== undefined ? reason : new AbortError('startWorkers: stop() was called'));
      const terminated: number[] = [];
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          for (const s of slots) {
            if (s.exited) continue;
            s.terminatedByStop = true;
            terminated.push(s.info.index);
            void s.worker.terminate();
          }
        }, timeoutMs);
      }
      try {
        await allExited;
      } finally {
        if (timer !== undefined) clearTimeout(timer);
      }
      return { terminated };
    },
    async join() {
      await allExited;
      if (failures.length === 1) throw failures[0];
      if (failures.length > 1) {
        throw new AggregateError(failures, `startWorkers: ${failures.length} workers failed`);
      }
    },
    async stats() {
      return Promise.all(slots.map((s) => new Promise<WorkerStats>((resolve) => {
        const done = (stats: RingStats | null): void => resolve({ ...s.info, stats });
        if (s.exited || s.done) return done(null);
        const id = ++statsId;
        s.statsWaiters.set(id, done);
        s.worker.postMessage({ uk: 'stats', id } satisfies ToWorker);
      })));
    },
    async [Symbol.asyncDispose]() {
      await handle.stop();
      await handle.join();
    },
  };
  return handle;
}
