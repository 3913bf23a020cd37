/**
 * Threads: cross-thread wake-ups and byte channels over the rings, workers
 * (thread-per-core), offloading to a pool, and process signals.
 */
export { Notifier, NotifierClosedError, NOTIFY_TAG } from './notifier.js';
export type { NotifierHandle } from './notifier.js';
export { Channel, ChannelClosedError } from './channel.js';
export type { ChannelHandle, ChannelOptions } from './channel.js';
export { startWorkers, allowedCpus } from './workers.js';
export type {
  StartWorkersOptions, StopOptions, StopResult, WorkerContext, WorkerInfo, WorkerMain, Workers, WorkerStats,
} from './workers.js';
export { offload, createOffloadPool, OffloadPool } from './offload.js';
export type { OffloadPoolOptions, OffloadRunOptions, OffloadTask } from './offload.js';
export { waitSignal } from './signals.js';
export type { WaitSignalOptions } from './signals.js';
