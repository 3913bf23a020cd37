/**
 * Shared pieces of the reliability suites: hostile values and buffers, an
 * outcome classifier and a settlement driver that never lets an operation
 * outlive its case (whatever is still in flight is cancelled).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import fc from 'fast-check';

import { Ring } from '../../src/index.js';

// ---- hostile buffers ----------------------------------------------------------

type ResizableCtor = new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
type GrowableCtor = new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer;

export function resizableBuffer(n = 8, max = 16): ArrayBuffer {
  return new (ArrayBuffer as unknown as ResizableCtor)(n, { maxByteLength: max });
}

export function growableShared(n = 8, max = 16): SharedArrayBuffer {
  return new (SharedArrayBuffer as unknown as GrowableCtor)(n, { maxByteLength: max });
}

/** An ArrayBuffer whose contents moved to another ArrayBuffer (this one is detached, byteLength 0). */
export function detachedBuffer(n = 16): ArrayBuffer {
  const ab = new ArrayBuffer(n);
  structuredClone(ab, { transfer: [ab] });
  return ab;
}

export const BUFFER_KINDS = [
  'buffer', 'buffer-pool-slice', 'uint8', 'uint16', 'float64', 'bigint64', 'dataview', 'empty', 'empty-dataview',
  'detached-view', 'detached-dataview', 'shared', 'resizable', 'resizable-tracking', 'growable-shared', 'offset-subarray',
  'big', 'not-a-view', 'arraybuffer', 'string', 'array', 'null', 'undefined', 'number',
] as const;
export type BufferKind = (typeof BUFFER_KINDS)[number];

/** A fresh value of the given kind (mostly ArrayBufferViews, some not views at all). */
export function makeBuffer(kind: BufferKind, size: number): unknown {
  const n = Math.max(0, Math.min(size, 4096));
  switch (kind) {
    case 'buffer': return Buffer.alloc(n, 0x61);
    case 'buffer-pool-slice': return Buffer.from('pool-slice-' + 'x'.repeat(n % 64));
    case 'uint8': return new Uint8Array(n);
    case 'uint16': return new Uint16Array(Math.ceil(n / 2));
    case 'float64': return new Float64Array(Math.ceil(n / 8));
    case 'bigint64': return new BigInt64Array(Math.ceil(n / 8));
    case 'dataview': return new DataView(new ArrayBuffer(n));
    case 'empty': return Buffer.alloc(0);
    case 'empty-dataview': return new DataView(new ArrayBuffer(0));
    case 'detached-view': {
      const ab = new ArrayBuffer(n + 8);
      const v = new Uint8Array(ab, 4);
      structuredClone(ab, { transfer: [ab] });
      return v;
    }
    case 'detached-dataview': {
      const ab = new ArrayBuffer(n + 8);
      const v = new DataView(ab, 2, 4);
      structuredClone(ab, { transfer: [ab] });
      return v;
    }
    case 'shared': return new Uint8Array(new SharedArrayBuffer(n + 1));
    case 'resizable': return new Uint8Array(resizableBuffer(n + 1, 2 * n + 2), 0, n + 1);
    case 'resizable-tracking': return new Uint8Array(resizableBuffer(n + 1, 2 * n + 2));
    case 'growable-shared': return new Uint8Array(growableShared(n + 1, 2 * n + 2));
    case 'offset-subarray': return Buffer.alloc(n + 32).subarray(7, 7 + n);
    case 'big': return Buffer.alloc(64 * 1024);
    case 'not-a-view': return { byteLength: n, buffer: new ArrayBuffer(n) };
    case 'arraybuffer': return new ArrayBuffer(n);
    case 'string': return 'x'.repeat(n);
    case 'array': return [1, 2, 3];
    case 'null': return null;
    case 'undefined': return undefined;
    case 'number': return n;
  }
}

export const bufferArb: fc.Arbitrary<() => unknown> = fc
  .tuple(fc.constantFrom(...BUFFER_KINDS), fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(0, 1, 4095)))
  .map(([k, n]) => Object.assign(() => makeBuffer(k, n), { toString: () => `${k}(${n})` }));

// ---- hostile scalars ---------------------------------------------------------

export const HOSTILE_NUMBERS = [
  NaN, Infinity, -Infinity, -1, -0, 0, 1, 1.5, -1.5, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53,
  2 ** 64, -(2 ** 31), -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON,
];

export const HOSTILE_OTHERS: unknown[] = [
  undefined, null, true, false, '', '0', '1', '-1', 'NaN', 'a\u0000b', {}, [], [1], () => 1, 0n, 1n, -1n, 2n ** 64n,
  Symbol('hostile'), new Date(0), /re/, Object.create(null), new Proxy({}, {}),
];

/** Any hostile scalar or object, plus integers and doubles of every size. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_NUMBERS) },
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_OTHERS) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.bigInt() },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);

/** A number-ish argument: mostly numbers (valid small ones too), sometimes anything. */
export const numberish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_NUMBERS) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 4096 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(2n ** 63n, -1n, 5n, '5', null, undefined, {}) },
);

/** Fds that are never open: a case may pass them to any operation, including closeFd. */
export const deadFd: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 200_000, max: 2 ** 31 - 1 }),
  fc.constantFrom<unknown>(-1, -100, NaN, Infinity, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, -0, '3', null, undefined, 3n, {}),
);

// ---- signals and options ------------------------------------------------------

export type SignalKind = 'none' | 'aborted' | 'abort-sync' | 'abort-microtask' | 'abort-immediate' | 'timeout0' | 'bogus';
export const signalArb = fc.constantFrom<SignalKind>(
  'none', 'none', 'none', 'aborted', 'abort-sync', 'abort-microtask', 'abort-immediate', 'timeout0', 'bogus');

export function makeSignal(kind: SignalKind): { signal: unknown; afterCall: () => void } {
  const ac = new AbortController();
  switch (kind) {
    case 'none': return { signal: undefined, afterCall: () => {} };
    case 'aborted': ac.abort(new Error('pre-aborted')); return { signal: ac.signal, afterCall: () => {} };
    case 'abort-sync': return { signal: ac.signal, afterCall: () => ac.abort() };
    case 'abort-microtask': return { signal: ac.signal, afterCall: () => queueMicrotask(() => ac.abort()) };
    case 'abort-immediate': return { signal: ac.signal, afterCall: () => setImmediate(() => ac.abort()) };
    case 'timeout0': return { signal: AbortSignal.timeout(0), afterCall: () => {} };
    case 'bogus': return { signal: { aborted: false, addEventListener() {} }, afterCall: () => {} };
  }
}

/** Raw material for an options object: the object itself is built per case (signals are stateful). */
export const optionsArb = fc.record({
  shape: fc.constantFrom('object', 'object', 'object', 'undefined', 'null', 'number', 'string', 'array', 'function-like'),
  timeout: fc.oneof(
    { weight: 3, arbitrary: fc.constant<unknown>(undefined) },
    { weight: 2, arbitrary: fc.constantFrom<unknown>(0, 1, 2, 5) },
    { weight: 2, arbitrary: fc.constantFrom<unknown>(...HOSTILE_NUMBERS, '5', null, 5n, {}) },
  ),
  ref: fc.constantFrom<unknown>(undefined, undefined, true, false, 1, 'yes', null),
  signal: signalArb,
  offset: fc.oneof({ weight: 3, arbitrary: fc.constant<unknown>(undefined) }, { weight: 2, arbitrary: numberish }),
  length: fc.oneof({ weight: 3, arbitrary: fc.constant<unknown>(undefined) }, { weight: 2, arbitrary: numberish }),
  position: fc.oneof(
    { weight: 3, arbitrary: fc.constant<unknown>(undefined) },
    { weight: 2, arbitrary: numberish },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(-1n, 0n, 2n ** 53n, 2n ** 40n, 2 ** 40) },
  ),
  flags: fc.oneof({ weight: 4, arbitrary: fc.constant<unknown>(undefined) }, { weight: 1, arbitrary: numberish }),
  extra: fc.constantFrom<Record<string, unknown>>({}, {}, { bigint: true }, { followSymlinks: false }, { recursive: true },
    { mode: 0o700 }, { mode: 'zz' }, { mode: 2 ** 40 }, { encoding: 'latin1' }, { encoding: 'nope' }, { zeroCopy: true },
    { exclusive: true }, { exclusive: 1 }, { ring: {} }, { flag: 'r+' }, { flag: 'zz' }, { recursive: 'yes' }),
});
export type OptionsSpec = typeof optionsArb extends fc.Arbitrary<infer T> ? T : never;

export function makeOptions(spec: OptionsSpec): { options: unknown; afterCall: () => void } {
  const { signal, afterCall } = makeSignal(spec.signal);
  switch (spec.shape) {
    case 'undefined': return { options: undefined, afterCall };
    case 'null': return { options: null, afterCall };
    case 'number': return { options: 7, afterCall };
    case 'string': return { options: 'utf8', afterCall };
    case 'array': return { options: [1], afterCall };
    case 'function-like': return { options: Object.assign(Object.create(null) as object, { timeout: spec.timeout }), afterCall };
  }
  const o: Record<string, unknown> = { ...spec.extra };
  for (const k of ['timeout', 'ref', 'offset', 'length', 'position', 'flags'] as const) {
    if (spec[k] !== undefined) o[k] = spec[k];
  }
  if (signal !== undefined) o.signal = signal;
  return { options: o, afterCall };
}

// ---- paths -------------------------------------------------------------------

/**
 * A path argument that can only name something inside `dir` (random strings
 * are sanitised into one path component; '.' and '..' never reach the kernel
 * alone), or a non-path value.
 */
export function pathArb(dir: string): fc.Arbitrary<unknown> {
  const component = fc.string({ unit: 'binary', maxLength: 24 }).map((s) => {
    const c = s.replace(/\//g, '_');
    return c === '' || c === '.' || c === '..' ? 'empty' : c;
  });
  return fc.oneof(
    { weight: 4, arbitrary: component.map((c) => path.join(dir, c)) },
    { weight: 2, arbitrary: fc.constantFrom('a', 'b', 'c', 'd/e', 'a/b/c/d').map((c) => path.join(dir, c)) },
    { weight: 1, arbitrary: component.map((c) => Buffer.from(path.join(dir, c))) },
    { weight: 1, arbitrary: component.map((c) => fileUrl(path.join(dir, c.replace(/[%?#\\]/g, '_')))) },
    {
      weight: 1, arbitrary: fc.constantFrom<unknown>(
        path.join(dir, 'nul\u0000byte'), Buffer.from(`${dir}/nul\u0000b`), path.join(dir, 'x'.repeat(300)),
        `${dir}/${'d/'.repeat(3000)}f`, `${dir}/${'y'.repeat(70_000)}`, new URL('http://example.com/x'),
        new Uint8Array([0]), '', Buffer.alloc(0), 42, null, undefined, {}, [dir], Symbol('p'),
      ),
    },
  );
}

function fileUrl(p: string): URL {
  try {
    return new URL(`file://${encodeURI(p)}`);
  } catch {
    return new URL(`file://${encodeURI(p.replace(/[\ud800-\udfff]/g, '_'))}`);
  }
}

// ---- outcome checking -----------------------------------------------------------

export function describeValue(v: unknown): string {
  try {
    if (typeof v === 'symbol' || typeof v === 'bigint') return String(v);
    if (v instanceof Error) return `${v.name}(${String((v as { code?: unknown }).code)}): ${v.message.slice(0, 200)}`;
    return String(v).slice(0, 200);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** null when `e` is an acceptable failure: TypeError, RangeError, or an Error with a string code. */
export function unacceptable(e: unknown): string | null {
  if (e instanceof TypeError || e instanceof RangeError) return null;
  if (e instanceof Error && typeof (e as { code?: unknown }).code === 'string') return null;
  // TaskGroup.join reports task failures as an AggregateError of them.
  if (e instanceof AggregateError && e.errors.every((x) => unacceptable(x) === null)) return null;
  return `unacceptable failure: ${describeValue(e)} ${e instanceof Error ? e.stack : ''}`;
}

/** Releases what a successful call returned (fds, Files, sockets, listeners, rings). */
export async function dispose(method: string, value: unknown): Promise<void> {
  if (value === null || value === undefined) return;
  if (typeof value === 'number' && (method === 'open' || method === 'accept' || method === 'acceptMultishot') && value > 2) {
    try {
      fs.closeSync(value);
    } catch {
      // closed already
    }
    return;
  }
  if (typeof value === 'object') {
    const o = value as { close?: () => unknown; return?: () => unknown; [Symbol.asyncIterator]?: unknown };
    if (typeof o.return === 'function' && o[Symbol.asyncIterator] !== undefined) {
      await o.return();
      return;
    }
    if (typeof o.close === 'function' && !(value instanceof Ring)) await o.close();
  }
}

// ---- the settlement driver -----------------------------------------------------------

export interface CaseResult {
  failure: string | null;
}

const ticks = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Runs one call: `call(cb)` issues the operation (with `cb` appended as the
 * trailing callback when `withCallback`). Whatever the call does, the case
 * ends with every operation settled: after a nop round trip, what is still in
 * flight on `ring` is cancelled (cancelAll) until nothing is. Returns a
 * failure description, or null.
 */
export async function runCase(ring: Ring, method: string, call: (cb: ((...a: unknown[]) => void) | undefined) => unknown,
  withCallback: boolean, afterCall: () => void, deadlineMs = 20_000): Promise<string | null> {
  // Operations issued with { ref: false } do not keep the loop alive, and neither does awaiting
  // cancelAll() for them: the case itself holds the loop open until everything has settled.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    return await runCaseInner(ring, method, call, withCallback, afterCall, deadlineMs);
  } finally {
    clearInterval(keepAlive);
  }
}

async function runCaseInner(ring: Ring, method: string, call: (cb: ((...a: unknown[]) => void) | undefined) => unknown,
  withCallback: boolean, afterCall: () => void, deadlineMs: number): Promise<string | null> {
  let cbCalls = 0;
  let promiseSettles = 0;
  let inside = true;
  let syncCallback = false;
  let outcome: { ok: boolean; value: unknown } | undefined;
  const values: unknown[] = [];
  const cb = withCallback
    ? (err: unknown, value?: unknown, more?: unknown) => {
      if (inside) syncCallback = true;
      // A multishot callback: intermediate values carry more === true; only the last call settles.
      if (!err && more === true) {
        values.push(value);
        return;
      }
      cbCalls++;
      outcome ??= err ? { ok: false, value: err } : { ok: true, value };
    }
    : undefined;
  let ret: unknown;
  try {
    ret = call(cb);
  } catch (e) {
    inside = false;
    afterCall();
    const bad = unacceptable(e);
    if (bad) return `${method}: sync throw: ${bad}`;
    if (cbCalls !== 0) return `${method}: threw synchronously AND called back`;
    await ticks();
    if (cbCalls !== 0) return `${method}: threw synchronously AND called back later`;
    return null;
  }
  inside = false;
  afterCall();
  if (syncCallback) return `${method}: callback ran synchronously`;
  let isPromise = false;
  if (ret instanceof Promise) {
    isPromise = true;
    ret.then(
      (v: unknown) => {
        promiseSettles++;
        outcome ??= { ok: true, value: v };
      },
      (e: unknown) => {
        promiseSettles++;
        outcome ??= { ok: false, value: e };
      },
    );
  } else if (ret !== undefined && typeof ret === 'object' && Symbol.asyncIterator in (ret as object)) {
    // A multishot iterator: end it; it must end (settle) promptly.
    await dispose(method, ret);
  }
  // The callback form of a multishot operation returns a handle with cancel(): the final call must come.
  const multishotHandle = !isPromise && withCallback && ret !== null && typeof ret === 'object' &&
    typeof (ret as { cancel?: unknown }).cancel === 'function';
  if (multishotHandle) (ret as { cancel(): void }).cancel();
  const expectSettle = isPromise || (withCallback && (ret === undefined || multishotHandle));
  const settled = (): boolean => !expectSettle || cbCalls + promiseSettles > 0;
  const deadline = Date.now() + deadlineMs;
  await ring.nop().catch(() => {});
  for (;;) {
    await ticks();
    if (settled() && ring.stats().inFlight === 0) break;
    if (ring.stats().inFlight > 0) await ring.cancelAll();
    else await new Promise((r) => setTimeout(r, 1)); // a libuv-pool fallback (e.g. ftruncate) or a chain between ops
    if (Date.now() > deadline) {
      return `${method}: not settled within ${deadlineMs} ms (callback ${cbCalls}, promise ${promiseSettles}, ` +
        `inFlight ${ring.stats().inFlight})`;
    }
  }
  await ticks();
  if (cbCalls > 1) return `${method}: callback called ${cbCalls} times`;
  if (isPromise && cbCalls > 0) return `${method}: returned a promise AND called the callback`;
  if (expectSettle && cbCalls + promiseSettles !== 1) return `${method}: settled ${cbCalls + promiseSettles} times`;
  if (outcome !== undefined) {
    if (!outcome.ok) {
      const bad = unacceptable(outcome.value);
      if (bad) return `${method}: async failure: ${bad}`;
    } else {
      await dispose(method, outcome.value);
    }
  } else if (!isPromise && ret !== undefined && !multishotHandle) {
    await dispose(method, ret);
  }
  return null;
}

export function tmpDir(prefix: string): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    remove: () => {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { fdCount, fdSnapshot, fdsOpenedSince } from '../helpers/fds.js';
