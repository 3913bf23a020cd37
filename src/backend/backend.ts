/**
 * The Backend interface: one shape for every implementation (libxev's rule).
 *
 * A backend receives descriptor records in the shared stage (see
 * docs/design.md, "The shared memory between JavaScript and C"), submits
 * them, and writes completion records into the shared out array. The io_uring
 * backend is the native addon (native/addon.c); the mock backend
 * (src/backend/mock.ts) implements the same protocol in JavaScript with no
 * syscalls. Ring talks to nothing else.
 */

/** An opaque ring instance of a backend. */
export type BackendHandle = object & { readonly __backendRing: unique symbol };

export interface Backend {
  /**
   * Creates a ring. `stage`, `out`, `stats` and `turn` are shared with the
   * backend for the ring's life; `onWake` is called (from the event loop)
   * when completions may be ready. Returns a handle, or a negative errno.
   */
  create(entries: number, cqEntries: number, wantFlags: number, stage: Int32Array, out: Int32Array,
    stats: Float64Array, turn: Int32Array, onWake: () => void): BackendHandle | number;
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
  readonly DESC_WORDS: number;
  readonly STAGE_HEADER_WORDS: number;
  readonly CQE_WORDS: number;
}
