/**
 * offload: CPU-heavy or blocking work on a worker pool, with AbortSignal
 * cancellation. A thin layer over piscina (which does the pooling, queueing
 * and abort): uringkit adds argument checks, file-URL handling, and turns
 * piscina's abort rejection into uringkit's AbortError (`code` ABORT_ERR,
 * `cause` = the signal's reason), so TaskGroup counts an offloaded task that
 * reacted to the group's cancellation as cancelled, not failed:
 *
 *   group.spawn((signal) => offload({ filename, args }, { signal }));
 *
 * Aborting a queued task removes it from the queue; aborting a running task
 * terminates the pool thread running it (piscina replaces the thread).
 *
 * The task module is loaded by piscina: its default export (or the export
 * named `name`) is called with `args` and its (awaited) result is the
 * resolution value. Arguments and results are structured-cloned.
 *
 * piscina is loaded on a pool's first run, so importing uringkit does not
 * load it.
 */
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ResourceLimits, TransferListItem } from 'node:worker_threads';

import type { Piscina } from 'piscina';

import { AbortError, invalidArgType, outOfRange } from '../errors.js';

export interface OffloadPoolOptions {
  /** Default task module (path or URL); each run may name another. */
  filename?: string | URL;
  /** Default max(1, os.availableParallelism() - 1). */
  maxThreads?: number;
  /** Threads kept even when idle; default 0. */
  minThreads?: number;
  /** Milliseconds an idle thread above minThreads lives; default 1000. */
  idleTimeout?: number;
  resourceLimits?: ResourceLimits;
}

export interface OffloadRunOptions {
  signal?: AbortSignal;
  /** The export to call (default: the default export). */
  name?: string;
  /** Task module for this run (overrides the pool's). */
  filename?: string | URL;
  transferList?: readonly TransferListItem[];
}

export interface OffloadTask<A = unknown> {
  filename: string | URL;
  name?: string;
  args?: A;
  transferList?: readonly TransferListItem[];
}

function fileUrl(f: unknown, name: string): string {
  if (f instanceof URL) return f.href;
  if (typeof f !== 'string' || f === '') throw invalidArgType(name, 'a URL or a path string', f);
  if (/^(file|data):/.test(f)) return f;
  return pathToFileURL(path.resolve(f)).href;
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
  }
  return signal;
}

function threads(v: unknown, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 1024) throw outOfRange(name, `>= ${min} && <= 1024`, v);
  return v;
}

type PiscinaOptions = ConstructorParameters<typeof Piscina>[0];

/** A pool of worker threads for offloaded work (a piscina pool, created on the first run). */
export class OffloadPool implements AsyncDisposable {
  readonly #options: PiscinaOptions;
  #pool: Piscina | undefined;
  #loading: Promise<Piscina> | undefined;
  #closed = false;

  constructor(options: OffloadPoolOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    const maxThreads = threads(options.maxThreads, 'options.maxThreads', 1) ?? Math.max(1, os.availableParallelism() - 1);
    const minThreads = Math.min(threads(options.minThreads, 'options.minThreads', 0) ?? 0, maxThreads);
    const idleTimeout = options.idleTimeout ?? 1000;
    if (typeof idleTimeout !== 'number' || !(idleTimeout >= 0)) throw outOfRange('options.idleTimeout', '>= 0', idleTimeout);
    this.#options = {
      filename: options.filename !== undefined ? fileUrl(options.filename, 'options.filename') : null,
      maxThreads,
      minThreads,
      idleTimeout,
      ...(options.resourceLimits !== undefined ? { resourceLimits: options.resourceLimits } : {}),
    };
  }

  #get(): Promise<Piscina> {
    if (this.#pool !== undefined) return Promise.resolve(this.#pool);
    this.#loading ??= import('piscina').then(({ Piscina: P }) => (this.#pool = new P(this.#options)));
    return this.#loading;
  }

  /** Runs one task; `signal` cancels it (AbortError). */
  run<R = unknown, A = unknown>(args: A, options: OffloadRunOptions = {}): Promise<R> {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    const signal = checkSignal(options.signal);
    if (options.name !== undefined && typeof options.name !== 'string') {
      throw invalidArgType('options.name', 'of type string', options.name);
    }
    const filename = options.filename !== undefined ? fileUrl(options.filename, 'options.filename') : undefined;
    if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
    return this.#run<R>(args, {
      ...(signal !== undefined ? { signal } : {}),
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(filename !== undefined ? { filename } : {}),
      ...(options.transferList !== undefined ? { transferList: options.transferList as TransferListItem[] } : {}),
    }, signal);
  }

  async #run<R>(args: unknown, opts: Parameters<Piscina['run']>[1], signal: AbortSignal | undefined): Promise<R> {
    if (this.#closed) throw Object.assign(new Error('The offload pool is closed'), { code: 'ERR_OFFLOAD_POOL_CLOSED' });
    const pool = this.#pool ?? (await this.#get());
    try {
      return (await pool.run(args, opts)) as R;
    } catch (err) {
      if (signal?.aborted && (err as { name?: unknown }).name === 'AbortError') {
        throw new AbortError(undefined, { cause: signal.reason });
      }
      throw err;
    }
  }

  /** Threads currently in the pool. */
  get threads(): number {
    return this.#pool?.threads.length ?? 0;
  }

  /** Tasks waiting for a thread. */
  get queueSize(): number {
    return this.#pool?.queueSize ?? 0;
  }

  /** Tasks completed so far. */
  get completed(): number {
    return this.#pool?.completed ?? 0;
  }

  /** Waits for running and queued tasks, then ends the threads (`force`: abort them instead). Later runs reject. */
  async close(options?: { force?: boolean }): Promise<void> {
    this.#closed = true;
    const pool = this.#pool ?? (this.#loading !== undefined ? await this.#loading : undefined);
    await pool?.close(options);
  }

  /** Ends the threads now; running and queued tasks reject. Later runs reject. */
  async destroy(): Promise<void> {
    this.#closed = true;
    const pool = this.#pool ?? (this.#loading !== undefined ? await this.#loading : undefined);
    await pool?.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A pool for the module-level `offload()` and anyone else (see OffloadPool). */
export function createOffloadPool(options: OffloadPoolOptions = {}): OffloadPool {
  return new OffloadPool(options);
}

let shared: OffloadPool | undefined;

/**
 * Runs `task.filename`'s default export (or `task.name`) with `task.args` on
 * a shared pool (created on first use: max(1, availableParallelism - 1)
 * threads, idle threads end after 1 s and never keep the process alive).
 */
export function offload<R = unknown, A = unknown>(task: OffloadTask<A>, options: { signal?: AbortSignal } = {}):
  Promise<R> {
  if (task === null || typeof task !== 'object') throw invalidArgType('task', 'of type object', task);
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  const filename = fileUrl(task.filename, 'task.filename');
  const signal = checkSignal(options.signal);
  shared ??= new OffloadPool();
  return shared.run<R, A>(task.args as A, {
    filename,
    ...(task.name !== undefined ? { name: task.name } : {}),
    ...(signal !== undefined ? { signal } : {}),
    ...(task.transferList !== undefined ? { transferList: task.transferList } : {}),
  });
}
