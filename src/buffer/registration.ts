/**
 * What registered resources share: the fixed buffer regions a read or write
 * looks up (set by BufferPool, read by src/ops/file.ts), and the ring's
 * backend as registration code reaches it (through the ring's internal interface).
 */
import os from 'node:os';
import util from 'node:util';

import type { Backend, BackendHandle } from '../backend/backend.js';
import { ringInternals, type Ring } from '../ring/ring.js';

const { errno: E } = os.constants;

/** A registered buffer region while it is registered: its ring and how many operations went fixed. */
export interface FixedRegion {
  readonly ring: Ring;
  reads: number;
  writes: number;
}

/**
 * The ArrayBuffers registered as a ring's fixed buffer region. A read or
 * write whose buffer lies in one (on the same ring) is issued as
 * READ_FIXED/WRITE_FIXED; C checks the window against the region again and
 * issues a plain READ/WRITE for anything outside it.
 */
export const fixedRegions = new WeakMap<ArrayBufferLike, FixedRegion>();
/** How many regions fixedRegions holds (none: reads and writes skip the lookup). */
export const fixedRegionCount = { value: 0 };

/** The ring's backend and live handle (undefined once closed), through the ring's internal interface. */
export function backendOf(ring: Ring): [Backend, BackendHandle | undefined] {
  const i = ringInternals();
  return [i.backend(ring), i.handle(ring)];
}

/** A registration failure's errno name, for NODE_DEBUG=uringkit (ENOMEM hints at RLIMIT_MEMLOCK). */
export function errName(res: number): string {
  const name = util.getSystemErrorName(res);
  return res === -E.ENOMEM ? `${name} (RLIMIT_MEMLOCK too low? see ulimit -l)` : name;
}
