/**
 * Every error uringkit creates, and the errno mapping, in one place.
 *
 * Shapes follow Node.js: system errors carry `code`, a negative `errno`,
 * `syscall` and, where they apply, `path`, `dest`, `address` and `port`;
 * argument errors are TypeError / RangeError with Node's `ERR_*` codes;
 * aborts are `AbortError` (`code` 'ABORT_ERR', `cause` = the signal's reason).
 */
import os from 'node:os';
import util from 'node:util';

const errnoMap = util.getSystemErrorMap();

/** Extra context attached to a system error. */
export interface SystemErrorContext {
  path?: string | undefined;
  dest?: string | undefined;
  address?: string | undefined;
  port?: number | undefined;
}

/** A failed system call, shaped like the errors `node:fs` and `node:net` produce. */
export class SystemError extends Error {
  declare code: string;
  declare errno: number;
  declare syscall: string;
  declare path?: string;
  declare dest?: string;
  declare address?: string;
  declare port?: number;

  constructor(errno: number, syscall: string, context?: SystemErrorContext) {
    const neg = errno > 0 ? -errno : errno;
    const entry = errnoMap.get(neg);
    const code = entry ? entry[0] : `Unknown system error ${neg}`;
    const description = entry ? entry[1] : 'unknown error';
    let message = `${code}: ${description}, ${syscall}`;
    if (context?.path !== undefined) message += ` '${context.path}'`;
    if (context?.dest !== undefined) message += ` -> '${context.dest}'`;
    if (context?.address !== undefined) {
      message += ` ${context.address}`;
      if (context.port !== undefined) message += `:${context.port}`;
    }
    super(message);
    this.name = 'Error';
    this.code = code;
    this.errno = neg;
    this.syscall = syscall;
    if (context) {
      if (context.path !== undefined) this.path = context.path;
      if (context.dest !== undefined) this.dest = context.dest;
      if (context.address !== undefined) this.address = context.address;
      if (context.port !== undefined) this.port = context.port;
    }
  }
}

/** Rejection of an operation whose AbortSignal fired (or that was cancelled). */
export class AbortError extends Error {
  declare code: 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
    this.code = 'ABORT_ERR';
  }
}

/** The AbortError for `signal` having fired (its reason as the cause). */
export function abortError(signal: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal.reason });
}

/** Throws the AbortError when `signal` has fired. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Rejection of an operation whose `timeout` elapsed first. */
export class TimeoutError extends SystemError {
  constructor(syscall: string, ms: number, context?: SystemErrorContext) {
    super(os.constants.errno.ETIMEDOUT, syscall, context);
    this.message = this.message.replace(/^ETIMEDOUT: [^,]*,/, `ETIMEDOUT: operation timed out after ${ms} ms,`);
  }
}

/** A Node-style error with a `code` (ERR_*) and a chosen base class. */
function coded<T extends Error>(Base: new (message: string) => T, code: string, message: string): T & { code: string } {
  const err = new Base(message) as T & { code: string };
  err.code = code;
  return err;
}

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError & { code: string } {
  return coded(TypeError, 'ERR_INVALID_ARG_TYPE',
    `The "${name}" ${name.includes('.') ? 'property' : 'argument'} must be ${expected}. Received ${describe(actual)}`);
}

/** Node's wording: "The argument 'x' ..." (or "The property 'o.x'") and the value inspected, cut at 128 characters. */
export function invalidArgValue(name: string, actual: unknown, reason = 'is invalid'): TypeError & { code: string } {
  let shown = safeInspect(actual);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  return coded(TypeError, 'ERR_INVALID_ARG_VALUE',
    `The ${name.includes('.') ? 'property' : 'argument'} '${name}' ${reason}. Received ${shown}`);
}

/** Node's wording: integers past 2^32 with `_` separators, bigints with `n`, anything else inspected. */
export function outOfRange(name: string, range: string, actual: unknown): RangeError & { code: string } {
  return coded(RangeError, 'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${describeRangeValue(actual)}`);
}

function describeRangeValue(v: unknown): string {
  if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) > 2 ** 32) return numericSeparators(String(v));
  if (typeof v === 'bigint') {
    const s = String(v);
    return `${v > 2n ** 32n || v < -(2n ** 32n) ? numericSeparators(s) : s}n`;
  }
  return safeInspect(v);
}

/** util.inspect, or the plain description where inspecting throws (a DataView over a detached buffer). */
function safeInspect(v: unknown): string {
  try {
    return util.inspect(v);
  } catch {
    return describe(v);
  }
}

/** '-1234567' → '-1_234_567' (as Node prints large numbers in range errors). */
function numericSeparators(s: string): string {
  const start = s.startsWith('-') ? 1 : 0;
  let out = '';
  let i = s.length;
  for (; i >= start + 4; i -= 3) out = `_${s.slice(i - 3, i)}${out}`;
  return `${s.slice(0, i)}${out}`;
}

/** io_uring cannot be used in this process: one clear error at ring creation. */
export class UringUnavailableError extends Error {
  declare code: 'ERR_IO_URING_UNAVAILABLE';
  declare errno: number;
  constructor(errno: number) {
    const neg = errno > 0 ? -errno : errno;
    const name = errnoMap.get(neg)?.[0] ?? String(neg);
    super(`io_uring is unavailable (${name}): ${unavailableReason(neg)}`);
    this.name = 'Error';
    this.code = 'ERR_IO_URING_UNAVAILABLE';
    this.errno = neg;
  }
}

function unavailableReason(errno: number): string {
  const E = os.constants.errno;
  switch (-errno) {
    case E.ENOSYS:
      return `this kernel (${os.release()}) has no io_uring (Linux 5.15 or newer is required, built with CONFIG_IO_URING).`;
    case E.EPERM:
    case E.EACCES:
      return 'io_uring_setup was refused. Either the sysctl kernel.io_uring_disabled is set ' +
        '(0 allows it; 1 limits it to the group in kernel.io_uring_group) or a seccomp profile blocks it ' +
        '(containers: allow io_uring_setup, io_uring_enter and io_uring_register).';
    case E.EOPNOTSUPP:
      return 'io_uring is not supported in this environment (for example gVisor or a restricted sandbox).';
    case E.ENOMEM:
      return 'the kernel could not allocate the ring: raise RLIMIT_MEMLOCK (ulimit -l) or ask for fewer entries.';
    case E.EMFILE:
    case E.ENFILE:
      return 'out of file descriptors while creating the ring.';
    default:
      return 'io_uring_setup failed.';
  }
}

/** The running kernel lacks an operation and there is no fallback. */
export class UnsupportedOperationError extends Error {
  declare code: 'ERR_IO_URING_UNSUPPORTED_OP';
  constructor(operation: string, kernelOp: string, needs: string) {
    super(`${operation} needs ${kernelOp} (Linux ${needs} or newer); this kernel is ${os.release()}`);
    this.name = 'Error';
    this.code = 'ERR_IO_URING_UNSUPPORTED_OP';
  }
}

/** An operation was issued on a ring that is closing or closed. */
export class RingClosedError extends Error {
  declare code: 'ERR_RING_CLOSED';
  constructor(what = 'operation') {
    super(`Cannot run ${what}: the ring is closed`);
    this.name = 'Error';
    this.code = 'ERR_RING_CLOSED';
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return `function ${v.name || '<anonymous>'}`;
  if (typeof v === 'object') {
    const ctor = (v as object).constructor?.name;
    return ctor ? `an instance of ${ctor}` : util.inspect(v, { depth: -1 });
  }
  let shown = util.inspect(v);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof v} (${shown})`;
}

/**
 * The process changed its credentials (setuid, setgid, setgroups, ...) after
 * this ring was created. Kernel worker threads of that ring may still carry
 * the old credentials, so the ring refuses to submit anything more; the
 * thread's next `Ring.current()` is a new ring.
 */
export class StaleCredentialsError extends Error {
  declare code: 'ERR_RING_STALE_CREDENTIALS';
  constructor(what = 'operation') {
    super(`Cannot run ${what}: the process changed its credentials after this ring was created; ` +
      'use a new ring (Ring.current() makes one)');
    this.name = 'Error';
    this.code = 'ERR_RING_STALE_CREDENTIALS';
  }
}
