/**
 * The bootstrap of every thread started by startWorkers() (not public API).
 * Pins the thread, creates its ring, imports the user's module and runs its
 * default export with the worker context; answers control messages (stop,
 * stats) on parentPort. A rejection of the module's function (other than the
 * reaction to stop()) or an uncaught exception reaches the parent as the
 * Worker's 'error' event.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { nativeBinding } from '../native/binding.js';
import { Ring, type RingHandle } from '../ring/ring.js';
import type { WorkerContext } from './workers.js';

/** What the parent passes as workerData (internal protocol). */
export interface EntryData {
  moduleUrl: string;
  index: number;
  count: number;
  data: unknown;
  parentRing: RingHandle | null;
  /** CPU to pin to, or -1. */
  cpu: number;
  /** Options for this worker's ring (validated by startWorkers). */
  ring: { attachWq: boolean; busyPollUs: number; maxIoWorkers: { bounded?: number; unbounded?: number } | undefined };
  /**
   * The backend of the parent thread's ring when it is 'io_uring' or
   * 'portable': the worker's ring runs on the same one, so that ring messages
   * reach the parent (a portable ring receives only from portable rings, an
   * io_uring ring only from io_uring rings), whatever UK_BACKEND says. Else
   * (a mock or custom backend) undefined: the worker's ring selects its
   * backend as any ring does.
   */
  backend: 'io_uring' | 'portable' | undefined;
}

/** Control messages (internal protocol). */
export type ToWorker = { uk: 'stop'; reason: unknown } | { uk: 'stats'; id: number };
export type FromWorker =
  | { uk: 'started'; pinned: number; ring: RingHandle | null }
  | { uk: 'stats'; id: number; stats: ReturnType<Ring['stats']> | null }
  | { uk: 'done' };

function isAbortLike(err: unknown): boolean {
  if (err === null || (typeof err !== 'object' && typeof err !== 'function')) return false;
  const e = err as { name?: unknown; code?: unknown };
  return e.name === 'AbortError' || e.code === 'ABORT_ERR';
}

const input = workerData as EntryData;
const port = parentPort!;
const controller = new AbortController();

let pinned = 0;
if (input.cpu >= 0) {
  pinned = nativeBinding().sys!.setAffinity(input.cpu);
  if (pinned !== 0) {
    process.emitWarning(`uringkit: worker ${input.index} could not be pinned to CPU ${input.cpu} (errno ${-pinned}); ` +
      'running unpinned', { code: 'UK_PIN_FAILED' });
  }
}
// The ring is created here, before the user's module runs, so that the
// module's Ring.current() is this one.
const ring = Ring.current({
  ...(input.backend !== undefined ? { backend: input.backend } : {}),
  ...(input.ring.attachWq && input.parentRing !== null ? { attachWq: input.parentRing } : {}),
  ...(input.ring.busyPollUs !== 0 ? { busyPollUs: input.ring.busyPollUs } : {}),
  ...(input.ring.maxIoWorkers !== undefined ? { maxIoWorkers: input.ring.maxIoWorkers } : {}),
});

const onMessage = (m: ToWorker): void => {
  if (m === null || typeof m !== 'object') return;
  if (m.uk === 'stop') {
    if (!controller.signal.aborted) controller.abort(m.reason);
  } else if (m.uk === 'stats') {
    let stats: ReturnType<Ring['stats']> | null = null;
    try {
      stats = ring.stats();
    } catch {
      // the ring was closed by the module
    }
    port.postMessage({ uk: 'stats', id: m.id, stats } satisfies FromWorker);
  }
};
port.on('message', onMessage);
let handle: RingHandle | null = null;
try {
  handle = ring.handle;
} catch {
  // a backend without ring-to-ring messages
}
port.postMessage({ uk: 'started', pinned, ring: handle } satisfies FromWorker);

const mod = (await import(input.moduleUrl)) as { default?: unknown };
const fn = mod.default;
if (typeof fn !== 'function') {
  throw new TypeError(`startWorkers: ${input.moduleUrl} has no default export function (got ${typeof fn})`);
}
const ctx: WorkerContext = {
  index: input.index,
  count: input.count,
  data: input.data,
  signal: controller.signal,
  ring,
  parentRing: input.parentRing,
};
try {
  await (fn as (ctx: WorkerContext) => unknown)(ctx);
} catch (err) {
  // Reacting to stop() (the signal's reason or an AbortError) is a normal end.
  const s = controller.signal;
  if (!(s.aborted && (err === s.reason || isAbortLike(err)))) throw err;
}
port.postMessage({ uk: 'done' } satisfies FromWorker);
// The function is over: cancel what it left on the ring, stop listening, and
// let the thread end when its loop is empty.
await ring.close();
port.off('message', onMessage);
port.unref();
