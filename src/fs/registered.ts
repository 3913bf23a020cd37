/**
 * Registered resources, as the fs layer and the package entry name them:
 * BufferPool (src/buffer/buffer-pool.ts) and the registered file table
 * (src/ops/file-table.ts). The Ring methods (registerBuffers, bufferPool,
 * fileTableStats) are put on Ring by the one method list, src/ops/methods.ts.
 */
export { BufferPool } from '../buffer/buffer-pool.js';
export type { BufferPoolOptions, BufferPoolStats } from '../buffer/buffer-pool.js';
export { fileTableStats, installFile, removeFile } from '../ops/file-table.js';
export type { FileTableStats } from '../ops/file-table.js';
