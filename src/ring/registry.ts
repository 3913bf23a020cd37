/**
 * The operation registry: what the ring needs to know about each operation
 * (its name and syscall for errors, how a result becomes the user's value).
 * Operation families (src/ops/*) register themselves at load time.
 */
import os from 'node:os';

import { RingClosedError } from '../errors.js';

const { errno: E } = os.constants;

/** What the ring needs to know about an operation family member. */
export interface OpInfo {
  /** The public name, for messages. */
  readonly name: string;
  /** The syscall named in a SystemError. */
  readonly syscall: string;
  /** Turns a successful CQE result (and the slot's pin) into the user's value; default: undefined. */
  readonly shape?: ((res: number, pin: unknown) => unknown) | undefined;
  /** Multishot: turns each CQE (result, CQE flags) into a yielded value; default: the result. */
  readonly shapeMore?: ((res: number, cqeFlags: number, pin: unknown) => unknown) | undefined;
  /** The result is a new fd: if the operation was aborted but completed anyway, close it and reject. */
  readonly resultIsFd?: boolean | undefined;
  /**
   * The kernel runs it on a worker thread (forced async: open with O_CREAT,
   * statx, unlink, mkdir, rename, fsync, ...). Its deadline is a separate
   * timer: a linked timeout is not reliably armed for such work.
   */
  readonly forceAsync?: boolean | undefined;
  /** A more specific error for some negative results (default: SystemError). */
  readonly mapError?: ((res: number) => Error | undefined) | undefined;
  /** Success results (e.g. -ETIME for a timeout) that are not errors. */
  readonly okResult?: number | undefined;
}

/**
 * Every entry gets the same keys in the same order (one hidden class), so the
 * completion path's loads (`info.shape`, `info.okResult`, ...) stay
 * monomorphic however many operation families are registered.
 */
function normalize(info: OpInfo): OpInfo {
  return {
    name: info.name,
    syscall: info.syscall,
    shape: info.shape,
    shapeMore: info.shapeMore,
    resultIsFd: info.resultIsFd,
    forceAsync: info.forceAsync,
    mapError: info.mapError,
    okResult: info.okResult,
  };
}

export const OPS: OpInfo[] = ([
  { name: 'nop', syscall: 'nop' },
  { name: 'sleep', syscall: 'timeout', okResult: -E.ETIME },
  { name: 'poll', syscall: 'poll', shape: (res) => res },
  { name: 'pollMultishot', syscall: 'poll', shape: (res) => res },
  { name: 'closeFd', syscall: 'close' },
  {
    name: 'send', syscall: 'msg_ring',
    // EBADFD: the target id names no live ring (closed, or another process's).
    mapError: (res) => (res === -77 ? new RingClosedError('send (the target ring is closed or belongs to another process)')
      : undefined),
  },
] as OpInfo[]).map(normalize);

/** Registers an operation (ops/ modules, at load time); returns its id. */
export function registerOp(info: OpInfo): number {
  if (OPS.length >= 255) throw new Error('too many operations');
  OPS.push(normalize(info));
  return OPS.length - 1;
}
