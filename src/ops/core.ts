/**
 * The ring's own operations: nop, sleep, poll (one-shot and multishot),
 * closeFd and the ring-to-ring message. Plain functions (`this` is the
 * ring); src/ops/methods.ts puts them on Ring.
 */
import os from 'node:os';

import { invalidArgType, outOfRange, UnsupportedOperationError } from '../errors.js';
import { DescOp } from '../backend/protocol.js';
import { MultishotIterator } from '../ring/multishot.js';
import { ringInternals, RESERVED_TAG, type Ring, type RingHandle, type RingMessage } from '../ring/ring.js';
import { OP } from './table.js';
import { checkCallback, checkFd, checkMs, checkOptions, checkUint32, type Callback, type OpOptions } from './validate.js';

type MaybeP<T> = Promise<T> | void;
const engine = ringInternals();
/** Ids read once (OP is built from the table at load; module constants keep the hot path to one load). */
const ID_NOP = OP.nop!;
const ID_SLEEP = OP.sleep!;
const ID_POLL = OP.poll!;
const ID_POLL_MULTI = OP.pollMultishot!;
const ID_CLOSE = OP.closeFd!;

/** Throws UnsupportedOperationError when the running kernel is older than major.minor. */
export function requireKernel(what: string, feature: string, major: number, minor: number): void {
  const [ma = 0, mi = 0] = os.release().split('.').map((x) => parseInt(x, 10));
  if (ma < major || (ma === major && mi < minor)) {
    throw new UnsupportedOperationError(what, feature, `${major}.${minor}`);
  }
}

/** IORING_OP_NOP: completes with nothing. Useful to measure the ring itself. */
export function nop(this: Ring, a?: OpOptions | Callback<void>, b?: Callback<void>): MaybeP<void> {
  if (a === undefined && b === undefined) return engine.nop(this);
  return engine.run<void>(this, ID_NOP, DescOp.NOP, -1, 0, 0, a, b);
}

/** Resolves after `ms` milliseconds (IORING_OP_TIMEOUT; no JS timer). */
export function sleep(this: Ring, ms: number, a?: OpOptions | Callback<void>, b?: Callback<void>): MaybeP<void> {
  checkMs(ms, 'ms');
  return engine.run<void>(this, ID_SLEEP, DescOp.TIMEOUT, -1, 0, 0, a, b, undefined, ms);
}

/** Waits until `fd` is ready for `events`; resolves with the ready mask. */
export function poll(this: Ring, fd: number, events: number, a?: OpOptions | Callback<number>,
  b?: Callback<number>): MaybeP<number> {
  checkFd(fd);
  checkUint32(events, 'events');
  return engine.run<number>(this, ID_POLL, DescOp.POLL, fd, events, 0, a, b);
}

/** Multishot poll: an iterator of ready masks, or `callback(err, mask, more)` per event with a cancel handle. */
export function pollMultishot(this: Ring, fd: number, events: number, a?: OpOptions,
  b?: (err: Error | null, mask?: number, more?: boolean) => void): MultishotIterator<number> | { cancel(): void } {
  checkFd(fd);
  checkUint32(events, 'events');
  const opts = checkOptions(a);
  if (opts?.timeout !== undefined) {
    throw invalidArgType('options.timeout', 'undefined for a multishot operation (use signal)', opts.timeout);
  }
  requireKernel('pollMultishot', 'IORING_POLL_ADD_MULTI', 5, 13);
  if (b !== undefined) {
    checkCallback(b);
    return engine.multishot<number>(this, ID_POLL_MULTI, DescOp.POLL_MULTI, fd, events, 0, opts, undefined, b);
  }
  const it = new MultishotIterator<number>();
  engine.multishot(this, ID_POLL_MULTI, DescOp.POLL_MULTI, fd, events, 0, opts, it, undefined);
  return it;
}

/** Closes a file descriptor through the ring (IORING_OP_CLOSE). */
export function closeFd(this: Ring, fd: number, a?: OpOptions | Callback<void>, b?: Callback<void>): MaybeP<void> {
  checkFd(fd);
  return engine.run<void>(this, ID_CLOSE, DescOp.CLOSE, fd, 0, 0, a, b);
}

/**
 * Posts `{ tag, value }` into the target ring's completion queue with
 * IORING_OP_MSG_RING (no syscall on the receiving side, wakes its thread).
 * Resolves once the kernel delivered it; a closed target rejects with
 * ERR_RING_CLOSED.
 */
export function sendMessage(this: Ring, target: RingHandle, message: RingMessage, a?: OpOptions | Callback<void>,
  b?: Callback<void>): MaybeP<void> {
  if (target === null || typeof target !== 'object' || typeof target.id !== 'number') {
    throw invalidArgType('target', 'a RingHandle (ring.handle)', target);
  }
  if (message === null || typeof message !== 'object') throw invalidArgType('message', 'an object { tag, value }', message);
  const { tag, value } = message;
  if (typeof tag !== 'number' || !Number.isInteger(tag) || tag < 0 || tag >= RESERVED_TAG) {
    throw outOfRange('message.tag', `an integer >= 0 && < ${RESERVED_TAG}`, tag);
  }
  return engine.message(this, target, tag, value, a, b);
}

declare module '../ring/ring.js' {
  interface Ring {
    /** IORING_OP_NOP: completes with nothing. Useful to measure the ring itself. */
    nop(options?: OpOptions): Promise<void>;
    nop(callback: Callback<void>): void;
    nop(options: OpOptions | undefined, callback: Callback<void>): void;
    /** Resolves after `ms` milliseconds (IORING_OP_TIMEOUT; no JS timer). */
    sleep(ms: number, options?: OpOptions): Promise<void>;
    sleep(ms: number, callback: Callback<void>): void;
    sleep(ms: number, options: OpOptions | undefined, callback: Callback<void>): void;
    /**
     * Waits until `fd` is ready for `events` (POLLIN, POLLOUT, ... from
     * node:os constants or the POLL object) and resolves with the ready mask.
     */
    poll(fd: number, events: number, options?: OpOptions): Promise<number>;
    poll(fd: number, events: number, callback: Callback<number>): void;
    poll(fd: number, events: number, options: OpOptions | undefined, callback: Callback<number>): void;
    /**
     * Multishot poll: yields the ready mask each time `fd` becomes ready, until
     * the iterator's `return()` (or `break`) cancels it. The callback form calls
     * `callback(err, mask, more)` per event and returns a handle with `cancel()`.
     */
    pollMultishot(fd: number, events: number, options?: OpOptions): MultishotIterator<number>;
    pollMultishot(fd: number, events: number, options: OpOptions | undefined,
      callback: (err: Error | null, mask?: number, more?: boolean) => void): { cancel(): void };
    /** Closes a file descriptor through the ring (IORING_OP_CLOSE). */
    closeFd(fd: number, options?: OpOptions): Promise<void>;
    closeFd(fd: number, callback: Callback<void>): void;
    closeFd(fd: number, options: OpOptions | undefined, callback: Callback<void>): void;
    /**
     * Posts `{ tag, value }` into the target ring's completion queue with
     * IORING_OP_MSG_RING (no syscall on the receiving side, wakes its thread).
     * Resolves once the kernel delivered it; a closed target rejects with
     * ERR_RING_CLOSED.
     */
    sendMessage(target: RingHandle, message: RingMessage, options?: OpOptions): Promise<void>;
    sendMessage(target: RingHandle, message: RingMessage, options: OpOptions | undefined, callback: Callback<void>): void;
  }
}
