/**
 * Closing, without the ring, an fd that the ring's backend made: a closed
 * ring cannot run IORING_OP_CLOSE, yet a File, Socket or pooled pipe it made
 * must still release its fd when closed afterwards (or when collected).
 *
 * Fd numbers of the mock (and of any backend with its own handles) are NOT
 * fds of the process: node:fs must never see them, or it would close
 * libuv's or the user's real fd that happens to have the same number.
 *  - the backend's own synchronous close, `sys.close`, where it has one (the
 *    portable backend's virtual socket and pipe fds); on the portable
 *    backend an fd it does not know is a real fd of the process (its files
 *    are opened with node:fs), closed with close(2);
 *  - the io_uring backend (kernel fds): close(2), after telling its teardown
 *    tracker to forget the fd (`forgetFd`, where the backend has it);
 *  - the mock: its `closeFd(fd)`;
 *  - any other backend: not closed (its numbers go with the backend).
 * The closer holds the backend weakly: its fds die with it.
 */
import { closeSync } from 'node:fs';
import os from 'node:os';

import type { Backend, SyscallBackend } from '../backend/backend.js';
import { ringInternals, type Ring } from '../ring/ring.js';
import './core.js'; // ring.closeFd

/** Closes one fd the ring's backend made, synchronously; errors (already closed) are ignored. */
export type SyncClose = (fd: number) => void;

/** The optional members other backends add (declared here until Backend names them). */
type BackendExtras = Backend & { forgetFd?(fd: number): void; closeFd?(fd: number): unknown };
type SysExtras = SyscallBackend & { close?(fd: number): number };

const EBADF = os.constants.errno.EBADF;

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already gone */
  }
}

export function syncCloser(ring: Ring): SyncClose {
  const backend = ringInternals().backend(ring) as BackendExtras;
  const sys = backend.sys as SysExtras | undefined;
  if (typeof sys?.close === 'function') {
    const ref = new WeakRef(sys);
    const realOtherwise = ring.info.backend === 'portable';
    return (fd) => {
      const s = ref.deref();
      if (s?.close?.(fd) === -EBADF && realOtherwise) closeQuietly(fd);
    };
  }
  if (ringInternals().kernelBacked(ring)) {
    return (fd) => {
      backend.forgetFd?.(fd);
      closeQuietly(fd);
    };
  }
  if (typeof backend.closeFd === 'function') {
    const ref = new WeakRef(backend);
    return (fd) => void ref.deref()?.closeFd?.(fd);
  }
  return () => {};
}

/**
 * Closes `fd` on the ring (IORING_OP_CLOSE); when the ring refuses because
 * it is closed (nothing was submitted), closes it synchronously instead, so
 * the fd is released either way.
 */
export async function closeOnRing(ring: Ring, fd: number): Promise<void> {
  try {
    await ring.closeFd(fd);
  } catch (e) {
    if ((e as { code?: unknown } | null)?.code !== 'ERR_RING_CLOSED') throw e;
    syncCloser(ring)(fd);
  }
}
