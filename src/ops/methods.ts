/**
 * The one method list: every public Ring operation is put on Ring.prototype
 * here, in one list, from the plain functions of the operation modules
 * (ops/core.ts, ops/file.ts, ops/socket.ts). Each name is a `method` of the
 * operation table (src/ops/table.ts); a test checks the two agree.
 *
 * Modules that call operations on a ring import `Ring` from here (or from the
 * package entry), which guarantees the list ran: nothing depends on which
 * module happened to load first.
 */
import { bufferPoolOf, registerBuffers } from '../buffer/buffer-pool.js';
import { Ring } from '../ring/ring.js';
import { closeFd, nop, poll, pollMultishot, sendMessage, sleep } from './core.js';
import {
  fadvise, fallocate, fdatasync, fsync, ftruncate, link, mkdir, open, openat2, read, readv, rename, rmdir, splice,
  statx, symlink, unlink, write, writev,
} from './file.js';
import { ringFileTableStats } from './file-table.js';
import { accept, acceptMultishot, connect, recv, recvmsg, recvMultishot, send, sendmsg, shutdown } from './socket.js';

/**
 * The issuing function of every public method, by name (`this` is the ring).
 * Its type names each function, so the package's declaration files reach
 * every module's `declare module` overloads of Ring from here.
 */
const METHOD_FUNCTIONS = {
  // ring core
  nop, sleep, poll, pollMultishot, closeFd, sendMessage,
  // files
  open, openat2, read, write, readv, writev, fsync, fdatasync, fallocate, fadvise, ftruncate, statx, unlink, rmdir,
  mkdir, rename, symlink, link, splice,
  // sockets
  accept, acceptMultishot, connect, send, recv, recvMultishot, sendmsg, recvmsg, shutdown,
};
/** Public method name → issuing function (`this` is the ring). */
export const METHODS: Readonly<typeof METHOD_FUNCTIONS> = Object.freeze(METHOD_FUNCTIONS);

/**
 * The registered-resource methods: not operations of the table (they issue
 * no operation of their own), but on Ring through this same list.
 */
export const RESOURCE_METHODS = Object.freeze({ registerBuffers, fileTableStats: ringFileTableStats });
/** Read-only properties of Ring computed by a function of the ring. */
export const GETTERS = Object.freeze({ bufferPool: bufferPoolOf });

for (const [name, fn] of [...Object.entries(METHODS), ...Object.entries(RESOURCE_METHODS)]) {
  Object.defineProperty(Ring.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
}
for (const [name, get] of Object.entries(GETTERS)) {
  Object.defineProperty(Ring.prototype, name, { get, configurable: true, enumerable: false });
}

export { Ring };
