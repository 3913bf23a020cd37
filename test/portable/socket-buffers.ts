/**
 * Whether SO_SNDBUF / SO_RCVBUF really size the kernel's socket buffers in
 * this run. On io_uring they always do; on the portable backend only where the
 * native addon loads (it applies them on libuv's fd, docs/guides/portable.md):
 * Node has no setsockopt for TCP, so elsewhere the kernel's autotuning applies
 * and a bound computed from them does not hold.
 */
import { nativeBinding, Ring } from '../../src/index.js';

/** Undefined when the buffer sizes apply; otherwise the reason, for `test(name, { skip }, ...)`. */
export function socketBuffersSkipReason(ring: Ring = Ring.current()): string | undefined {
  if (ring.info.backend !== 'portable') return undefined;
  try {
    nativeBinding();
    return undefined;
  } catch (e) {
    return `SO_SNDBUF/SO_RCVBUF cannot be applied on the portable backend without the native addon (${(e as Error).message})`;
  }
}
