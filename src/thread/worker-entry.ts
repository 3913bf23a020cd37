/**
 * The bootstrap of every thread started by startWorkers() (not public API).
 * Pins the thread, creates its ring, imports the user's module and runs its
 * default export with the worker context; answers control messages (stop,
 * stats) on parentPort. A rejection of the module's function (other than the
 * reaction to stop()) or an uncaught exception reaches the parent as the
 * Worker's 'error' event.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { Ring } from '../ops/methods.js';
import { ringInternals, type RingHandle } from '../ring/ring.js';
import type { WorkerContext } from './workers.js';
import type { EntryData, FromWorker, ToWorker } from './worker-protocol.js';

export type { EntryData, FromWorker, ToWorker } from './worker-protocol.js';

function isAbortLike(err: unknown): boolean {
  if (err === null || (typeof err !== 'object' && typeof err !== 'function')) return false;
  const e = err as { name?: unknown; code?: unknown };
  return e.name === 'AbortError' || e.code === 'ABORT_ERR';
}

const input = workerData as EntryData;
const port = parentPort!;
const controller = new AbortController();

// The ring is created here, before the user's module runs, so that the
// module's Ring.current() is this one.
const ring = Ring.current({
  ...(input.backend !== undefined ? { backend: input.backend } : {}),
  ...(input.ring.attachWq && input.parentRing !== null ? { attachWq: input.parentRing } : {}),
  ...(input.ring.busyPollUs !== 0 ? { busyPollUs: input.ring.busyPollUs } : {}),
  ...(input.ring.bulkBusyPollUs !== undefined ? { bulkBusyPollUs: input.ring.bulkBusyPollUs } : {}),
  ...(input.ring.maxIoWorkers !== undefined ? { maxIoWorkers: input.ring.maxIoWorkers } : {}),
  ...(input.ring.entries !== undefined ? { entries: input.ring.entries } : {}),
});
// Pinned through the ring's backend (set-up syscalls never bypass it), before
// any operation: the kernel's async workers for this ring start on demand
// and inherit the thread's affinity.
let pinned = 0;
if (input.cpu >= 0) {
  pinned = ringInternals().sys(ring).setAffinity(input.cpu);
  if (pinned !== 0) {
    process.emitWarning(`uringkit: worker ${input.index} could not be pinned to CPU ${input.cpu} (errno ${-pinned}); ` +
      'running unpinned', { code: 'UK_PIN_FAILED' });
  }
}

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
