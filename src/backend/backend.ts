/**
 * The Backend interface: one shape for every implementation (libxev's rule).
 *
 * A backend receives descriptor records in the shared stage (see
 * docs/design.md, "The shared memory between JavaScript and C"), submits
 * them, and writes completion records into the shared out array. The io_uring
 * backend is the native addon (native/addon.c); the mock backend
 * (src/backend/mock/index.ts) implements the same protocol in JavaScript with no
 * syscalls; the portable backend (src/backend/portable/index.ts) implements it
 * over Node's own I/O. Ring talks to nothing else.
 */

/** An opaque ring instance of a backend. */
export type BackendHandle = object & { readonly __backendRing: unique symbol };

export interface Backend {
  /**
   * Creates a ring. `stage`, `out`, `stats` and `turn` are shared with the
   * backend for the ring's life; `onWake` is called (from the event loop)
   * when completions may be ready. `allow` (256 entries) restricts the ring to
   * those IORING_OP_* numbers. `attachWqId` (non-zero) is the registry id of
   * a live ring whose async worker pool to attach to (IORING_SETUP_ATTACH_WQ;
   * -EBADFD when no live ring has that id). Returns a handle, or a negative errno.
   */
  create(entries: number, cqEntries: number, wantFlags: number, stage: Int32Array, out: Int32Array,
    stats: Float64Array, turn: Int32Array, onWake: () => void, allow?: Uint8Array,
    attachWqId?: number): BackendHandle | number;
  /** [setupFlags, features, sqEntries, cqEntries, fd]. */
  info(h: BackendHandle): [setupFlags: number, features: number, sqEntries: number, cqEntries: number, fd: number];
  /** Supported IORING_OP_* opcodes (1 = supported), or a negative errno. */
  probe(h: BackendHandle): Uint8Array | number;
  /**
   * Submits every staged record (pins[i] holds the memory of record i) and
   * writes ready completions into `out`; returns how many. Records it could
   * not take stay staged (stage[0]) with the reason in stage[2].
   */
  flush(h: BackendHandle, pins?: unknown[]): number;
  /** Writes further ready completions into `out`; returns how many. */
  reap(h: BackendHandle): number;
  /** Whether the ring keeps the event loop alive. */
  setRef(h: BackendHandle, on: boolean): void;
  /** Releases the ring. Only called with nothing in flight. */
  destroy(h: BackendHandle): void;
  /** Provided-buffer ring (IORING_REGISTER_PBUF_RING) over `buffers`; 0 or -errno. Optional. */
  registerBufRing?(h: BackendHandle, bgid: number, entries: number, bufSize: number, buffers: ArrayBuffer): number;
  unregisterBufRing?(h: BackendHandle, bgid: number): number;
  /** The offset of the first 4 KiB boundary in `memory` (registered buffers must be page-aligned). Optional. */
  alignOffset?(memory: ArrayBuffer): number;
  /** IORING_REGISTER_BUFFERS over one region of `memory`; 0 or -errno. Optional. */
  registerBuffers?(h: BackendHandle, memory: ArrayBuffer, offset: number, length: number): number;
  unregisterBuffers?(h: BackendHandle): number;
  /** A sparse registered file table of `count` entries (IORING_REGISTER_FILES); 0 or -errno. Optional. */
  registerFiles?(h: BackendHandle, count: number): number;
  /** Sets table entry `index` to `fd` (-1 clears) synchronously; 0 or -errno. Optional. */
  updateFiles?(h: BackendHandle, index: number, fd: number): number;
  unregisterFiles?(h: BackendHandle): number;
  /** Makes the ring reachable for ring-to-ring messages under `id` (process-wide). Optional. */
  registerRing?(h: BackendHandle, id: number): number;
  /** The fd of the live ring registered under `id`, or a negative errno. Optional. */
  ringFd?(id: number): number;
  /** Busy poll: spin up to `us` µs before the event loop would sleep (0: off). Optional. */
  setBusyPoll?(h: BackendHandle, us: number): number;
  /** [busy polls started, busy polls that saw a completion]. Optional. */
  busyPollStats?(h: BackendHandle): [spins: number, hits: number];
  /**
   * IORING_REGISTER_IOWQ_MAX_WORKERS: caps the ring's io-wq workers (0 leaves
   * a count unchanged); returns the caps now in effect, or a negative errno. Optional.
   */
  setMaxIoWorkers?(h: BackendHandle, bounded: number, unbounded: number): [bounded: number, unbounded: number] | number;
  /** The fds this thread opened through the backend and would close at its teardown. Optional (diagnostics). */
  trackedFds?(): number[];
  /** Stops tracking `fd` (it was closed without IORING_OP_CLOSE, e.g. by node:fs). Optional. */
  forgetFd?(fd: number): void;
  /**
   * Non-blocking socket set-up syscalls (sockets, names, options, pipes).
   * The io_uring backend makes them directly; a mock simulates them.
   */
  readonly sys?: SyscallBackend;
  readonly DESC_WORDS: number;
  readonly STAGE_HEADER_WORDS: number;
  readonly CQE_WORDS: number;
}

/** Set-up syscalls that never block; each returns a value or a negative errno. */
export interface SyscallBackend {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, sockaddr: Buffer, len: number): number;
  listen(fd: number, backlog: number): number;
  setsockopt(fd: number, level: number, name: number, value: number): number;
  setlinger(fd: number, on: number, seconds: number): number;
  /** [value or -errno, ok]. */
  getsockopt(fd: number, level: number, name: number): [number, boolean];
  /** sockaddr_storage bytes (128) or -errno. */
  sockname(fd: number, peer: boolean): Buffer | number;
  /** 132 bytes: sockaddr_storage + its length (u32 LE), or -errno. */
  sockaddrEncode(family: number, address: string, port: number, flowinfo: number, scopeId: number): Buffer | number;
  sockaddrDecode(sockaddr: Uint8Array, length?: number):
    [family: number, address: string, port: number, flowinfo: number, scopeId: number] | number;
  pipe(size: number): [number, number] | number;
  setAffinity(cpu: number): number;
  /**
   * Closes an fd this SyscallBackend made (a socket or pipe) synchronously:
   * 0 or -errno. Optional: where absent, its fds are kernel fds (close(2)).
   * The portable backend's fds are its own handles: closing them with
   * fs.closeSync would fail with EBADF and leave the handle open.
   */
  close?(fd: number): number;
  /**
   * Sets or clears O_NONBLOCK on a kernel fd: the previous state (0 or 1) or
   * -errno. Optional: pipeTo's splice drains use it where present (io_uring
   * backend) so no io-wq worker blocks on a full send buffer.
   */
  setNonBlocking?(fd: number, on: boolean): number;
}
