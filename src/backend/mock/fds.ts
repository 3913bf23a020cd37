/**
 * The mock backend's fd table (shared by every ring of one MockBackend, as a
 * process's table is shared by its threads). Lowest free number first, as
 * POSIX requires, so fd reuse after close behaves as it does for real.
 *
 * Kinds: 'file' and 'directory' (opened on the in-memory file system) and
 * 'pollable' (an fd whose readiness the test drives with setReady), 'socket'
 * and 'pipe' (in-memory, see net.ts: the entry carries the MockSocket, whose
 * changes update the entry's `ready` mask).
 */
import type { Inode } from './fs.js';
import type { MockSocket } from './socket.js';

export type MockFdKind = 'file' | 'directory' | 'pollable' | 'socket' | 'pipe';

/** POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM: what a regular file always reports. */
export const FILE_READY = 0x001 | 0x004 | 0x040 | 0x100;

/** @internal */
export interface FdEntry {
  readonly fd: number;
  readonly kind: MockFdKind;
  /** Absolute path (files, directories) or the label of a pollable. */
  readonly path: string;
  /** open(2) flags. */
  readonly flags: number;
  readonly node: Inode | undefined;
  /** The file position. */
  pos: number;
  /** Poll readiness mask. */
  ready: number;
  /** Poll operations waiting for readiness (backend-owned objects). */
  readonly pollers: Set<unknown>;
  /** Which operation opened it (log seq), for leak reports. */
  readonly openedBy: number;
  /** Sockets and pipes: the in-memory socket. */
  sock?: MockSocket;
  /** How it was opened when not by an `open` operation ('socket()', 'accept on fd 3' ...), for leak reports. */
  origin?: string;
}

/** What `mock.openFds()` lists. */
export interface MockOpenFd {
  fd: number;
  kind: MockFdKind;
  path: string;
  flags: number;
}

export class FdTable {
  readonly #entries = new Map<number, FdEntry>();
  #lowFree: number;

  constructor(base: number) {
    this.#lowFree = base;
  }

  open(kind: MockFdKind, path: string, flags: number, node: Inode | undefined, ready: number, openedBy: number): FdEntry {
    let fd = this.#lowFree;
    while (this.#entries.has(fd)) fd++;
    const e: FdEntry = { fd, kind, path, flags, node, pos: 0, ready, pollers: new Set(), openedBy };
    this.#entries.set(fd, e);
    this.#lowFree = fd + 1;
    return e;
  }

  get(fd: number): FdEntry | undefined {
    return this.#entries.get(fd);
  }

  close(fd: number): FdEntry | undefined {
    const e = this.#entries.get(fd);
    if (e === undefined) return undefined;
    this.#entries.delete(fd);
    if (fd < this.#lowFree) this.#lowFree = fd;  // never below the base: only opened fds are closed
    return e;
  }

  list(): FdEntry[] {
    return [...this.#entries.values()].sort((a, b) => a.fd - b.fd);
  }

  get size(): number {
    return this.#entries.size;
  }
}
