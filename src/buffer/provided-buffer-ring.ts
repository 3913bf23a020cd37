/**
 * The provided-buffer ring (IORING_REGISTER_PBUF_RING) that multishot recv
 * fills: one per ring, registered lazily. Not the registered-buffer pool
 * (`BufferPool`, src/fs/registered.ts: READ_FIXED/WRITE_FIXED memory): here
 * the kernel picks a buffer per completion and the CQE names it.
 */
import { DescOp } from '../backend/protocol.js';
import { IORING_OP } from '../ring/constants.js';
import { Ring, ringInternals } from '../ring/ring.js';

/** A ring's provided buffers: group id, buffer size and count, and the memory they live in. */
export interface ProvidedBufferRing {
  readonly bgid: number;
  readonly size: number;
  readonly count: number;
  readonly memory: ArrayBuffer;
}

const pools = new WeakMap<Ring, ProvidedBufferRing | null>();
let nextBgid = 1;

/** Default: 512 buffers of 16 KiB (8 MiB) per ring. */
export const DEFAULT_POOL = { count: 512, size: 16 * 1024 };

/**
 * The ring's provided-buffer pool for multishot recv, registered on first use;
 * null where the kernel has no buffer rings (before 5.19) or registration failed
 * (then sockets receive with one-shot recv).
 */
export function providedBufferRing(ring: Ring): ProvidedBufferRing | null {
  let pool = pools.get(ring);
  if (pool !== undefined) return pool;
  pool = null;
  const backend = ringInternals().backend(ring);
  const h = ringInternals().handle(ring);
  // Buffer rings came in 5.19 and multishot recv in 6.0, with SEND_ZC: probe for that.
  if (backend.registerBufRing !== undefined && h !== undefined && ring.supports(IORING_OP.SEND_ZC)) {
    const memory = new ArrayBuffer(DEFAULT_POOL.count * DEFAULT_POOL.size);
    const bgid = nextBgid++ & 0xffff;
    const r = backend.registerBufRing(h, bgid, DEFAULT_POOL.count, DEFAULT_POOL.size, memory);
    if (r === 0) pool = { bgid, size: DEFAULT_POOL.size, count: DEFAULT_POOL.count, memory };
  }
  pools.set(ring, pool);
  return pool;
}

/** Hands buffer `bid` back to the kernel (a record that takes no SQE). */
export function recycle(ring: Ring, pool: ProvidedBufferRing, bid: number): void {
  ringInternals().stageRaw(ring, DescOp.PBUF_RECYCLE, pool.bgid, bid);
}
