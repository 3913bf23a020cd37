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
  ring: { attachWq: boolean; busyPollUs: number; maxIoWorkers: { bounded?: number; unbounded?: number } | undefined;
    entries: number | undefined };
  /**
   * 'portable' when the parent's ring runs on the portable backend: the
   * worker's ring does too, so that ring messages reach the parent (a
   * portable ring receives only from portable rings). Else undefined: the
   * worker's ring selects its backend as any ring does.
   */
  backend: 'portable' | undefined;
}

/** Control messages (internal protocol). */
export type ToWorker = { uk: 'stop'; reason: unknown } | { uk: 'stats'; id: number };
export type FromWorker =
  | { uk: 'started'; pinned: number; ring: RingHandle | null }
  | { uk: 'stats'; id: number; stats: ReturnType<Ring['stats']> | null }
  | { uk: 'done' };
