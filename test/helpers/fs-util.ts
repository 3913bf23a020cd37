/**
 * Helpers for the file-operation suites (test/fs): temporary directories,
 * calling an operation in its promise or callback form, and comparing
 * errors with the ones node:fs produces.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Ring } from '../../src/index.js';
import { nextTurn } from './loop.js';
import { makeTempDir } from './tmp.js';

/** A fresh directory under os.tmpdir(); remove() deletes it and everything in it. */
export interface TmpDir {
  readonly dir: string;
  file(name: string): string;
  remove(): void;
}

export function tmpDir(prefix = 'uringkit-fs-'): TmpDir {
  const { dir, remove } = makeTempDir(prefix);
  return { dir, file: (name) => path.join(dir, name), remove };
}

export type Form = 'promise' | 'callback';
export const FORMS: readonly Form[] = ['promise', 'callback'];

type AnyFn = (...args: unknown[]) => unknown;

/**
 * Calls `ring[method](...args)` in the promise form, or with a trailing
 * Node-style callback. Checks the form's contract: the promise form returns a
 * Promise; the callback form returns undefined, never calls back
 * synchronously, and calls back exactly once.
 */
export async function call<T>(form: Form, target: object, method: string, ...args: unknown[]): Promise<T> {
  const fn = (target as Record<string, AnyFn>)[method];
  assert.equal(typeof fn, 'function', `${method} is not a method`);
  if (form === 'promise') {
    const p = fn!.apply(target, args);
    assert.ok(p instanceof Promise, `${method}: the promise form must return a Promise`);
    return p as Promise<T>;
  }
  let calls = 0;
  let inside = true;
  let syncCall = false;
  const result = await new Promise<T>((resolve, reject) => {
    const ret = fn!.apply(target, [...args, (err: Error | null, value?: T) => {
      calls++;
      if (inside) syncCall = true;
      if (err) reject(err);
      else resolve(value as T);
    }]);
    inside = false;
    assert.equal(ret, undefined, `${method}: the callback form must return undefined`);
  }).catch((e: unknown) => {
    assert.equal(syncCall, false, `${method}: callback ran synchronously`);
    throw e;
  });
  assert.equal(syncCall, false, `${method}: callback ran synchronously`);
  await nextTurn();
  assert.equal(calls, 1, `${method}: callback called ${calls} times`);
  return result;
}

/** The fields a Node system error is compared on. */
export interface ErrShape {
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  path?: unknown;
  dest?: unknown;
  message?: unknown;
}

export function shapeOf(e: unknown): ErrShape {
  const x = e as ErrShape;
  const out: ErrShape = { code: x.code, errno: x.errno, syscall: x.syscall, message: x.message };
  if (x.path !== undefined) out.path = x.path;
  if (x.dest !== undefined) out.dest = x.dest;
  return out;
}

/** The error a synchronous node:fs call throws (fails if it does not throw). */
export function nodeError(fn: () => unknown): ErrShape {
  try {
    fn();
  } catch (e) {
    return shapeOf(e);
  }
  assert.fail('the node:fs call was expected to fail');
}

/** Awaits `p`, which must reject with an Error; returns the error. */
export async function rejection(p: Promise<unknown>, label = 'operation'): Promise<Error & ErrShape> {
  try {
    const v = await p;
    assert.fail(`${label}: expected a rejection, got ${String(v)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof Error, `${label}: rejected with a non-Error`);
    return e as Error & ErrShape;
  }
}

/** A pseudo-random pattern of `len` bytes, distinct for each `seed`. */
export function pattern(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  let x = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

export { fdCount, fdSnapshot, fdsLeftOpen, fdsOpenedSince, isOpen } from './fds.js';

/** The open fds of this process that point at `file`. */
export function fdsPointingAt(file: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${name}`) === file) out.push(Number(name));
    } catch {
      // closed in between
    }
  }
  return out;
}

/** The `submitted` counter of a ring. */
export function submitted(ring: Ring): number {
  return ring.stats().submitted;
}

export type Expect = { name: 'TypeError' | 'RangeError'; code: string | RegExp };
export const TYPE: Expect = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };
export const VALUE: Expect = { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' };
export const RANGE: Expect = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' };

/**
 * `fn` must throw synchronously (not return a rejected promise) an error of
 * the expected class and code.
 */
export function assertThrowsCoded(fn: () => unknown, expect: Expect, label: string): void {
  let thrown: unknown;
  let returned: unknown;
  try {
    returned = fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) {
    if (returned instanceof Promise) {
      returned.catch(() => {});
      assert.fail(`${label}: did not throw synchronously (returned a Promise)`);
    }
    assert.fail(`${label}: did not throw (returned ${String(returned)})`);
  }
  const e = thrown as Error & { code?: unknown };
  assert.ok(e instanceof Error, `${label}: threw a non-Error ${String(thrown)}`);
  assert.equal(e.name, expect.name, `${label}: ${e.name}: ${e.message}`);
  assert.ok(expect.name === 'TypeError' ? e instanceof TypeError : e instanceof RangeError, label);
  if (typeof expect.code === 'string') assert.equal(e.code, expect.code, `${label}: code ${String(e.code)}: ${e.message}`);
  else assert.match(String(e.code), expect.code, `${label}: code ${String(e.code)}`);
  assert.ok(e.message.length > 0, `${label}: an empty message`);
}

/**
 * A fresh directory on a filesystem that accepts O_DIRECT (tmpdir, /var/tmp,
 * the test directory or the cwd, in that order), or undefined if none does.
 */
export function directIoDir(): string | undefined {
  for (const base of [os.tmpdir(), '/var/tmp', path.dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    let dir: string | undefined;
    try {
      dir = fs.mkdtempSync(path.join(base, 'uringkit-odirect-'));
      const fd = fs.openSync(path.join(dir, 'probe'), fs.constants.O_RDWR | fs.constants.O_CREAT |
        fs.constants.O_DIRECT);
      fs.closeSync(fd);
      return dir;
    } catch {
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return undefined;
}
