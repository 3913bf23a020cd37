/**
 * Which backend the tests' rings run on, for tests that assert behaviour
 * only io_uring has (registered buffers, kernel backlog semantics, poll on
 * arbitrary fds, raw fd syscalls on sockets...). Usage:
 *
 *   test('...', { skip: needsUring() }, async () => { ... });
 *
 * The reason is "needs the io_uring backend" plus why the ring is elsewhere.
 */
import { Ring } from '../../src/index.js';

/** The backend Ring.current() runs on in this process. */
export function currentBackend(): string {
  return Ring.current().info.backend;
}

/** false on io_uring (run the test), else the skip reason. */
export function needsUring(ring: Ring = Ring.current()): string | false {
  const b = ring.info.backend;
  return b === 'io_uring' ? false : `needs the io_uring backend (this ring runs on the ${b} backend)`;
}
