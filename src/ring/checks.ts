/**
 * Argument checking shared by the ring and every operation family (at the
 * ring layer, so that Ring itself never imports from ops/). Public functions check
 * here first and throw TypeError / RangeError with Node-style codes; nothing
 * invalid is ever staged for the kernel.
 */
import { invalidArgType, outOfRange } from '../errors.js';

/** Options every operation accepts. */
export interface OpOptions {
  /** Abort the operation: it is cancelled in the kernel and rejects with an AbortError. */
  signal?: AbortSignal | undefined;
  /** Deadline in milliseconds, enforced by a linked timeout in the same submission. */
  timeout?: number | undefined;
  /** `false`: this operation alone does not keep the event loop alive. */
  ref?: boolean | undefined;
}

/** Node-style completion callback. */
export type Callback<T> = (err: Error | null, value?: T) => void;

export const MAX_TIMEOUT_MS = 2 ** 53 / 1e3; // far beyond any real deadline, still exact in a double

export function checkFd(fd: unknown, name = 'fd'): asserts fd is number {
  if (typeof fd !== 'number') throw invalidArgType(name, 'of type number', fd);
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw outOfRange(name, '>= 0 && <= 2147483647', fd);
}

export function checkMs(ms: unknown, name: string): asserts ms is number {
  if (typeof ms !== 'number') throw invalidArgType(name, 'of type number', ms);
  if (!(ms >= 0 && ms <= MAX_TIMEOUT_MS)) throw outOfRange(name, `>= 0 && <= ${MAX_TIMEOUT_MS}`, ms);
}

export function checkUint32(v: unknown, name: string): asserts v is number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw outOfRange(name, '>= 0 && <= 4294967295', v);
}

/**
 * Whether an ArrayBuffer was detached (transferred away). Node 22+ has
 * `ArrayBuffer.prototype.detached`; on Node 20 a detached buffer is the one
 * zero-length buffer that cannot be viewed.
 */
export function isDetached(ab: ArrayBufferLike): boolean {
  const d = (ab as { detached?: boolean }).detached;
  if (d !== undefined) return d;
  if (ab.byteLength !== 0 || ab instanceof SharedArrayBuffer) return false;
  try {
    new Uint8Array(ab);
    return false;
  } catch {
    return true;
  }
}

export function checkCallback(cb: unknown): asserts cb is (...args: never[]) => unknown {
  if (typeof cb !== 'function') throw invalidArgType('callback', 'of type function', cb);
}

/** Validates an options object; returns it (or undefined) typed. */
/**
 * The callback of an operation's trailing `(options?, callback?)` pair: `a`
 * when it is a function (no options given), else `b`, checked. The options
 * are then `a` unless it was the callback (ops/args.ts splitArgs, Ring#simple).
 */
export function callbackArg<T>(a: unknown, b: Callback<T> | undefined): Callback<T> | undefined {
  if (typeof a === 'function') return a as Callback<T>;
  if (b !== undefined) checkCallback(b);
  return b;
}

export function checkOptions(opts: unknown): OpOptions | undefined {
  if (opts === undefined || opts === null) return undefined;
  if (typeof opts !== 'object') throw invalidArgType('options', 'of type object', opts);
  const o = opts as OpOptions;
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', o.signal);
  }
  if (o.timeout !== undefined) checkMs(o.timeout, 'options.timeout');
  if (o.ref !== undefined && typeof o.ref !== 'boolean') throw invalidArgType('options.ref', 'of type boolean', o.ref);
  return o;
}
