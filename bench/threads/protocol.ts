/** Message tags and worker data shared by bench/threads/main.ts and worker.ts. */
import type { RingHandle } from '../../src/index.js';

export const PING = 1;
export const SINK = 2;
export const END = 3;
export const STOP = 4;
/** value: busy-poll µs for the worker's ring; acknowledged with { tag: CONFIG, value }. */
export const CONFIG = 5;

export interface BenchWorkerData {
  mode: 'ring' | 'port' | 'atomics';
  cpu: number;
  parentRing?: RingHandle;
  sab?: SharedArrayBuffer;
}
