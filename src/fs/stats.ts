/** Stats and BigIntStats (fs.Stats shape): defined beside the statx result parsing in src/ops/statx.ts. */
export { BigIntStats, Stats } from '../ops/statx.js';
