/**
 * Public types of the mock backend: operation names, the request a handler
 * (or a fault's `match`) sees, and what a handler may return.
 */
import type { InodeType } from './fs.js';

/**
 * The operation names a test uses (`mock.handle(name)`, `faults.add({ op })`,
 * `mock.calls(name)`, `req.op`): the names of the operation table
 * (src/ops/table.ts). uringkit/testing fills this interface in from the
 * table (src/testing/operation-names.ts), so the type is derived, not kept.
 */
export interface MockOperationNames {}

/** An operation name of the table (`read`, `fstat`, `sendMessage`, ...). */
export type MockOpName = [keyof MockOperationNames] extends [never] ? string : keyof MockOperationNames & string;

/**
 * Older names still accepted wherever a name is: `close` (closeFd),
 * `timeout` (sleep), `stat` (statx), and, deprecated, `msgRing`
 * (sendMessage; see the README changelog).
 */
export type MockOpAlias = 'close' | 'timeout' | 'stat' | 'msgRing';

/** One operation as the mock received it. Read-only except for the memory an operation fills. */
export interface MockRequest {
  readonly op: MockOpName;
  /** Issue order within this MockBackend (1, 2, ...). */
  readonly seq: number;
  /** The fd (AT_FDCWD = -100 for path operations, -1 for nop/sleep). */
  readonly fd: number;
  /** open/statx/unlink/rmdir/mkdir: the path; rename/link: the old path; symlink: the target. As passed to the ring. */
  readonly path?: string;
  /** rename/link: the new path; symlink: the link's path. */
  readonly dest?: string;
  /** connect/sendmsg: the destination ('127.0.0.1:8080', '[::1]:53', '/run/app.sock'). */
  readonly address?: string;
  /** open: O_* flags; statx: AT_* flags; rename: RENAME_* flags; poll: the events; fsync: 1 for fdatasync; send/recv: MSG_* flags; shutdown: how; sendMessage: the target CQE's high word (tag in the low 16 bits); any other operation (syncFileRange: SYNC_FILE_RANGE_*): the record's first argument. */
  readonly flags: number;
  /** open/mkdir: the mode; fallocate: the FALLOC_FL_* mode; fadvise: the advice; statx: the STATX_* mask; splice: fd_out; sendMessage: the value; any other operation: the record's second argument. */
  readonly mode: number;
  /** read/write/readv/writev: the file position (-1: the fd's current position); fallocate/fadvise: offset; ftruncate: length. */
  readonly position: number;
  /** read/write/send/recv: bytes asked for (after a `shortBy` fault); fallocate/fadvise: length; splice: length. */
  readonly length: number;
  /** read/recv/recvmsg: the window of the caller's buffer to fill; write/send/sendmsg: the bytes to send. */
  readonly buffer?: Uint8Array;
  /** readv/writev: the caller's buffers (after a `shortBy` fault: trimmed views). */
  readonly buffers?: readonly Uint8Array[];
  /** sleep: the duration in ms. */
  readonly ms: number;
  /** The `timeout` option (linked timeout) in ms, if any. */
  readonly timeout?: number;
  /** Aborted when the operation is cancelled or its deadline passes (a handler may stop early). */
  readonly signal: AbortSignal;
  /**
   * Runs the mock's built-in model of this operation (the in-memory file
   * system, the virtual clock, poll readiness) and returns its result: a
   * number, or a Promise for sleep and poll. Throws when there is no model.
   */
  default(): number | Promise<number>;
  /** pollMultishot: posts an intermediate result (IORING_CQE_F_MORE). */
  emit(res: number): void;
}

/** Values for statx results produced by a handler (missing fields: a 0644 regular file of size 0). */
export interface MockStatInit {
  type?: InodeType;
  /** Permission bits (the file type comes from `type`). */
  mode?: number;
  size?: number;
  nlink?: number;
  ino?: number;
  uid?: number;
  gid?: number;
  /** Applied to atime, mtime, ctime and birthtime. */
  mtimeMs?: number;
}

/** A handler's detailed answer. */
export interface MockReply {
  /** The completion's result: >= 0 success (bytes, fd, mask ...), negative: -errno. */
  res?: number;
  /** Fail with this errno (name such as 'EIO' or a number). */
  errno?: string | number;
  /** read/readv: bytes copied into the caller's buffer(s); `res` defaults to the count copied. */
  data?: string | Uint8Array;
  /** statx: what the caller's Stats will say. */
  stat?: MockStatInit;
  /** Complete after this many ms of mock clock (Infinity: only cancellation or a deadline ends it). */
  delay?: number;
  /** A cancel (abort, timeout, cancelAll, close) arriving before completion gets -EALREADY; the operation completes normally. */
  uncancellable?: boolean;
  /**
   * sendZc only: the kernel's notification CQE (the buffer is free again) is
   * posted when this Promise settles; without it, right after the result.
   * (The result CQE carries IORING_CQE_F_MORE, as the kernel's does.)
   */
  notify?: Promise<unknown>;
}

/**
 * What a handler returns (or resolves with): a number (the result; negative
 * = -errno), a string or bytes (read: the data), a MockReply, or nothing
 * (result 0). A thrown error with a `code` such as 'ENOENT' (or a negative
 * `errno`) fails the operation with that errno; any other thrown error fails
 * it with EIO and is recorded in `mock.errors`.
 */
export type MockResult = number | string | Uint8Array | MockReply | void | undefined;

export type MockHandler = (req: MockRequest) => MockResult | Promise<MockResult>;

/** One line of `mock.log`. */
export interface MockLogEntry {
  readonly seq: number;
  readonly op: MockOpName;
  readonly fd: number;
  readonly path?: string;
  /** Clock time (ms) at submission. */
  readonly at: number;
  /** The final result (undefined while in flight). */
  res?: number;
  /** Id of the fault rule applied, if any. */
  fault?: number;
  /** 'handler' | 'model' | 'fault' | 'unhandled' | 'cancelled' | 'timeout'. */
  by?: string;
}
