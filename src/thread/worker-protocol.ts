/**
 * The messages between startWorkers() (workers.ts) and each worker's
 * bootstrap (worker-entry.ts): their own file, so that neither imports the other.
 */
import type { Ring, RingHandle } from '../ring/ring.js';

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
  ring: { attachWq: boolean; busyPollUs: number; bulkBusyPollUs: number | undefined;
    maxIoWorkers: { bounded?: number; unbounded?: number } | undefined; entries: number | undefined };
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
