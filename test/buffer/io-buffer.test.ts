import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants as bufferConstants } from 'node:buffer';
import fc from 'fast-check';
import { IoBuffer, IoBufferPinnedError } from '../../src/buffer/io-buffer.js';

// ---------------------------------------------------------------------------
// helpers

function hasCode(Ctor: new (...args: never[]) => Error, code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof Ctor, `expected ${Ctor.name}, got ${String(err)}`);
    assert.equal((err as { code?: unknown }).code, code);
    return true;
  };
}
const pinnedErr = hasCode(Error, 'ERR_IOBUFFER_PINNED');
const rangeErr = hasCode(RangeError, 'ERR_OUT_OF_RANGE');
const typeErr = hasCode(TypeError, 'ERR_INVALID_ARG_TYPE');
const tooLargeErr = hasCode(RangeError, 'ERR_BUFFER_TOO_LARGE');

interface Snapshot { readIndex: number; writeIndex: number; capacity: number; bytes: Buffer; pins: number }
function snapshot(b: IoBuffer): Snapshot {
  return { readIndex: b.readIndex, writeIndex: b.writeIndex, capacity: b.capacity, bytes: Buffer.from(b.readable()), pins: b.pinCount };
}

function naiveIndexOf(hay: Buffer, needle: Uint8Array, from: number): number {
  if (from > hay.length) return -1;
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// model-based property test

interface Model { bytes: Buffer; pins: number; maxCapacity: number }
type Cmd = fc.Command<Model, IoBuffer>;

function checkInvariants(m: Model, r: IoBuffer): void {
  assert.ok(r.readIndex >= 0);
  assert.ok(r.readIndex <= r.writeIndex, `readIndex ${r.readIndex} > writeIndex ${r.writeIndex}`);
  assert.ok(r.writeIndex <= r.capacity, `writeIndex ${r.writeIndex} > capacity ${r.capacity}`);
  assert.ok(r.capacity <= r.maxCapacity, `capacity ${r.capacity} > maxCapacity ${r.maxCapacity}`);
  assert.equal(r.maxCapacity, m.maxCapacity);
  assert.equal(r.length, m.bytes.length);
  assert.equal(r.writable().length, r.capacity - r.writeIndex);
  assert.deepEqual(Buffer.from(r.readable()), m.bytes);
  assert.equal(r.pinCount, m.pins);
  assert.equal(r.pinned, m.pins > 0);
}

function assertUnchanged(before: Snapshot, r: IoBuffer): void {
  assert.deepEqual(snapshot(r), before);
}

/** After a successful reserve of `n` (or append of n bytes): growth policy. */
function checkGrowth(before: Snapshot, n: number, r: IoBuffer, appended = false): void {
  const length = before.writeIndex - before.readIndex;
  const needed = length + n;
  if (!appended) assert.ok(r.writable().length >= n);
  if (before.capacity - before.writeIndex >= n) {
    // Enough room already: nothing moves.
    assert.equal(r.capacity, before.capacity);
    assert.equal(r.readIndex, before.readIndex);
  } else if (needed <= before.capacity && length <= before.capacity / 2) {
    // Compaction suffices and the unread part is small: no growth.
    assert.equal(r.capacity, before.capacity, 'should have compacted, not grown');
  } else if (r.capacity !== before.capacity) {
    assert.ok(r.capacity > before.capacity);
    assert.ok(r.capacity === r.maxCapacity || r.capacity <= 4 * needed,
      `grew from ${before.capacity} to ${r.capacity} for ${needed} bytes`);
  }
}

class AppendCmd implements Cmd {
  constructor(readonly data: Uint8Array | string, readonly encoding?: BufferEncoding) {}
  check(): boolean { return true; }
  run(m: Model, r: IoBuffer): void {
    const bytes = typeof this.data === 'string' ? Buffer.from(this.data, this.encoding) : Buffer.from(this.data);
    const before = snapshot(r);
    const call = () => typeof this.data === 'string' ? r.append(this.data, this.encoding) : r.append(this.data);
    if (m.pins > 0) {
      assert.throws(call, pinnedErr);
      assertUnchanged(before, r);
    } else if (m.bytes.length + bytes.length > m.maxCapacity) {
      assert.throws(call, tooLargeErr);
      assertUnchanged(before, r);
    } else {
      call();
      if (bytes.length > 0) checkGrowth(before, bytes.length, r, true);
      m.bytes = Buffer.concat([m.bytes, bytes]);
    }
    checkInvariants(m, r);
  }
  toString(): string {
    return typeof this.data === 'string'
      ? `append(${JSON.stringify(this.data)}, ${this.encoding})`
      : `append(<${Buffer.from(this.data).toString('hex')}>)`;
  }
}

/** Appends a view of the buffer's own readable bytes (aliasing). */
class AppendSelfCmd implements Cmd {
  constructor(readonly a: number, readonly b: number) {}
  check(m: Readonly<Model>): boolean { return m.bytes.length > 0; }
  run(m: Model, r: IoBuffer): void {
    const len = m.bytes.length;
    const start = Math.floor(this.a * len);
    const end = start + Math.floor(this.b * (len - start));
    const view = r.readable().subarray(start, end);
    const expected = Buffer.from(m.bytes.subarray(start, end));
    const before = snapshot(r);
    if (m.pins > 0) {
      assert.throws(() => r.append(view), pinnedErr);
      assertUnchanged(before, r);
    } else if (len + expected.length > m.maxCapacity) {
      assert.throws(() => r.append(view), tooLargeErr);
      assertUnchanged(before, r);
    } else {
      r.append(view);
      m.bytes = Buffer.concat([m.bytes, expected]);
    }
    checkInvariants(m, r);
  }
  toString(): string { return `appendSelf(${this.a.toFixed(2)}, ${this.b.toFixed(2)})`; }
}

/** reserve(n), write into writable(), commit(k): what a recv does. */
class ReserveWriteCommitCmd implements Cmd {
  constructor(readonly n: number, readonly data: Uint8Array, readonly commitFrac: number) {}
  check(): boolean { return true; }
  run(m: Model, r: IoBuffer): void {
    const before = snapshot(r);
    if (m.pins > 0) {
      assert.throws(() => r.reserve(this.n), pinnedErr);
      assertUnchanged(before, r);
    } else if (m.bytes.length + this.n > m.maxCapacity) {
      assert.throws(() => r.reserve(this.n), tooLargeErr);
      assertUnchanged(before, r);
    } else {
      r.reserve(this.n);
      checkGrowth(before, this.n, r);
      assert.deepEqual(Buffer.from(r.readable()), m.bytes, 'reserve lost data');
    }
    // Writing and committing are allowed while pinned (the kernel's read).
    const w = r.writable();
    const k = Math.min(this.data.length, w.length);
    w.set(this.data.subarray(0, k));
    const c = Math.floor(this.commitFrac * k);
    const capBefore = r.capacity;
    r.commit(c);
    assert.equal(r.capacity, capBefore, 'commit must not move storage');
    m.bytes = Buffer.concat([m.bytes, this.data.subarray(0, c)]);
    checkInvariants(m, r);
  }
  toString(): string {
    return `reserveWriteCommit(${this.n}, <${Buffer.from(this.data).toString('hex')}>, ${this.commitFrac.toFixed(2)})`;
  }
}

class ConsumeCmd implements Cmd {
  constructor(readonly frac: number) {}
  check(): boolean { return true; }
  run(m: Model, r: IoBuffer): void {
    const n = Math.floor(this.frac * m.bytes.length);
    const capBefore = r.capacity;
    const writeBefore = r.writeIndex;
    r.consume(n);
    m.bytes = Buffer.from(m.bytes.subarray(n));
    assert.equal(r.capacity, capBefore);
    if (m.bytes.length === 0 && m.pins === 0) {
      assert.equal(r.readIndex, 0, 'indexes reset on full consume');
      assert.equal(r.writeIndex, 0);
    } else {
      assert.equal(r.writeIndex, writeBefore, 'consume must not move the write index');
    }
    checkInvariants(m, r);
  }
  toString(): string { return `consume(${this.frac.toFixed(2)})`; }
}

class ClearCmd implements Cmd {
  check(): boolean { return true; }
  run(m: Model, r: IoBuffer): void {
    const capBefore = r.capacity;
    const writeBefore = r.writeIndex;
    r.clear();
    m.bytes = Buffer.alloc(0);
    assert.equal(r.capacity, capBefore);
    assert.equal(r.writeIndex, m.pins === 0 ? 0 : writeBefore);
    checkInvariants(m, r);
  }
  toString(): string { return 'clear()'; }
}

class CompactCmd implements Cmd {
  check(): boolean { return true; }
  run(m: Model, r: IoBuffer): void {
    const before = snapshot(r);
    if (m.pins > 0) {
      assert.throws(() => r.compact(), pinnedErr);
      assertUnchanged(before, r);
    } else {
      r.compact();
      assert.equal(r.capacity, before.capacity);
      assert.equal(r.readIndex, 0);
    }
    checkInvariants(m, r);
  }
  toString(): string { return 'compact()'; }
}

class IndexOfCmd implements Cmd {
  constructor(readonly needle: number | Uint8Array | string, readonly from: number) {}
  check(): boolean { return true; }
  run(m: Model, r: IoBuffer): void {
    const from = Math.min(this.from, m.bytes.length + 2);
    const needleBytes = typeof this.needle === 'number' ? Uint8Array.of(this.needle)
      : typeof this.needle === 'string' ? Buffer.from(this.needle) : this.needle;
    assert.equal(r.indexOf(this.needle, from), naiveIndexOf(m.bytes, needleBytes, from));
    checkInvariants(m, r);
  }
  toString(): string {
    const n = typeof this.needle === 'number' ? String(this.needle)
      : typeof this.needle === 'string' ? JSON.stringify(this.needle) : `<${Buffer.from(this.needle).toString('hex')}>`;
    return `indexOf(${n}, ${this.from})`;
  }
}

class ToStringCmd implements Cmd {
  check(): boolean { return true; }
  run(m: Model, r: IoBuffer): void {
    assert.equal(r.toString('latin1'), m.bytes.toString('latin1'));
    assert.equal(r.toString('hex'), m.bytes.toString('hex'));
    checkInvariants(m, r);
  }
  toString(): string { return 'toString()'; }
}

class PinCmd implements Cmd {
  check(m: Readonly<Model>): boolean { return m.pins < 3; }
  run(m: Model, r: IoBuffer): void {
    r.pin();
    m.pins++;
    checkInvariants(m, r);
  }
  toString(): string { return 'pin()'; }
}

class UnpinCmd implements Cmd {
  check(m: Readonly<Model>): boolean { return m.pins > 0; }
  run(m: Model, r: IoBuffer): void {
    const before = snapshot(r);
    r.unpin();
    m.pins--;
    assert.deepEqual({ ...snapshot(r), pins: before.pins }, before, 'unpin must not move anything');
    checkInvariants(m, r);
  }
  toString(): string { return 'unpin()'; }
}

/** Out-of-range commit/consume: RangeError, nothing changes. */
class BadCountCmd implements Cmd {
  constructor(readonly which: 'commit' | 'consume', readonly extra: number) {}
  check(): boolean { return true; }
  run(m: Model, r: IoBuffer): void {
    const before = snapshot(r);
    const limit = this.which === 'commit' ? r.writable().length : r.length;
    assert.throws(() => r[this.which](limit + this.extra), rangeErr);
    assertUnchanged(before, r);
    checkInvariants(m, r);
  }
  toString(): string { return `bad ${this.which}(+${this.extra})`; }
}

const byteArrays = fc.oneof(
  fc.uint8Array({ maxLength: 48 }),
  fc.array(fc.constantFrom(13, 10, 65, 66), { maxLength: 48 }).map((a) => Uint8Array.from(a)),
  fc.uint8Array({ minLength: 100, maxLength: 300 }),
);

const commandArbs: fc.Arbitrary<Cmd>[] = [
  byteArrays.map((b) => new AppendCmd(b)),
  fc.string({ maxLength: 24, unit: 'binary' }).map((s) => new AppendCmd(s)),
  fc.constantFrom('a\r\n', '\r\n', 'GET / HTTP/1.1\r\n', 'é€\r').map((s) => new AppendCmd(s, 'utf8')),
  fc.uint8Array({ maxLength: 16 }).map((b) => new AppendCmd(Buffer.from(b).toString('hex'), 'hex')),
  fc.uint8Array({ maxLength: 16 }).map((b) => new AppendCmd(Buffer.from(b).toString('base64'), 'base64')),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }))
    .map(([a, b]) => new AppendSelfCmd(a, b)),
  fc.tuple(fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 600 })), byteArrays,
    fc.double({ min: 0, max: 1, noNaN: true }))
    .map(([n, d, f]) => new ReserveWriteCommitCmd(n, d, f)),
  fc.double({ min: 0, max: 1, noNaN: true }).map((f) => new ConsumeCmd(f)),
  fc.constant(1).map(() => new ConsumeCmd(1)),
  fc.constant(null).map(() => new ClearCmd()),
  fc.constant(null).map(() => new CompactCmd()),
  fc.tuple(
    fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(13, 10), fc.constant('\r\n'), fc.constant(''),
      fc.uint8Array({ minLength: 1, maxLength: 3 }),
      fc.array(fc.constantFrom(13, 10, 65), { minLength: 1, maxLength: 3 }).map((a) => Uint8Array.from(a))),
    fc.nat({ max: 80 }),
  ).map(([needle, from]) => new IndexOfCmd(needle, from)),
  fc.constant(null).map(() => new ToStringCmd()),
  fc.constant(null).map(() => new PinCmd()),
  fc.constant(null).map(() => new UnpinCmd()),
  fc.tuple(fc.constantFrom('commit' as const, 'consume' as const), fc.integer({ min: 1, max: 1000 }))
    .map(([w, e]) => new BadCountCmd(w, e)),
];

const configArb = fc.integer({ min: 0, max: 64 }).chain((initial) => fc.record({
  initial: fc.constant(initial),
  max: fc.option(fc.integer({ min: Math.max(1, initial), max: 700 }), { nil: undefined }),
}));

test('model-based: random operation sequences match a plain-Buffer model', () => {
  fc.assert(
    fc.property(configArb, fc.commands(commandArbs, { maxCommands: 60 }), (config, cmds) => {
      const opts = config.max === undefined ? undefined : { maxCapacity: config.max };
      const real = new IoBuffer(config.initial, opts);
      const model: Model = {
        bytes: Buffer.alloc(0),
        pins: 0,
        maxCapacity: config.max ?? bufferConstants.MAX_LENGTH,
      };
      assert.equal(real.capacity, config.initial);
      checkInvariants(model, real);
      fc.modelRun(() => ({ model, real }), cmds);
    }),
    { numRuns: 600, includeErrorInReport: true },
  );
});

// ---------------------------------------------------------------------------
// unit tests

test('defaults: capacity 4096, empty, unpinned, maxCapacity = buffer.constants.MAX_LENGTH', () => {
  const b = new IoBuffer();
  assert.equal(b.capacity, 4096);
  assert.equal(b.length, 0);
  assert.equal(b.writable().length, 4096);
  assert.equal(b.readable().length, 0);
  assert.equal(b.pinned, false);
  assert.equal(b.maxCapacity, bufferConstants.MAX_LENGTH);
  assert.equal(b.toString(), '');
});

test('views are zero-copy and commit/consume move the indexes', () => {
  const b = new IoBuffer(16);
  const w = b.writable();
  w.write('hello world');
  b.commit(11);
  assert.equal(b.toString(), 'hello world');
  b.readable()[0] = 0x48; // 'H'
  assert.equal(b.toString(), 'Hello world');
  b.consume(6);
  assert.equal(b.toString(), 'world');
  assert.equal(b.readIndex, 6);
  assert.equal(b.writeIndex, 11);
  assert.equal(b.writable().length, 5);
});

test('reset on full consume and on clear: both indexes back to 0, capacity kept', () => {
  const b = new IoBuffer(32);
  b.append('abcdefgh');
  b.consume(3);
  assert.equal(b.readIndex, 3);
  b.consume(5);
  assert.equal(b.length, 0);
  assert.equal(b.readIndex, 0);
  assert.equal(b.writeIndex, 0);
  assert.equal(b.writable().length, 32);
  b.append('xyz');
  b.clear();
  assert.equal(b.readIndex, 0);
  assert.equal(b.writeIndex, 0);
  assert.equal(b.capacity, 32);
});

test('compaction: reserve moves the unread bytes to the front instead of growing', () => {
  const b = new IoBuffer(16);
  b.append('0123456789abcdef'); // full
  b.consume(12);                // 4 unread at [12, 16)
  assert.equal(b.writable().length, 0);
  const storageBefore = b.readable().buffer;
  b.reserve(10);
  assert.equal(b.capacity, 16, 'capacity unchanged');
  assert.equal(b.readIndex, 0);
  assert.equal(b.writeIndex, 4);
  assert.equal(b.toString(), 'cdef', 'data preserved');
  assert.equal(b.readable().buffer, storageBefore, 'same storage');
  assert.ok(b.writable().length >= 10);
  // append compacts the same way
  b.append('ghijklmnop');
  b.consume(12);
  b.append('qrstuvwxyz');
  assert.equal(b.capacity, 16);
  assert.equal(b.toString(), 'opqrstuvwxyz');
});

test('compact() moves data to the front explicitly', () => {
  const b = new IoBuffer(8);
  b.append('abcdef');
  b.consume(4);
  b.compact();
  assert.equal(b.readIndex, 0);
  assert.equal(b.writeIndex, 2);
  assert.equal(b.toString(), 'ef');
  assert.equal(b.capacity, 8);
});

test('growth: doubles (repeatedly as needed), keeps data, caps at maxCapacity', () => {
  const b = new IoBuffer(8, { maxCapacity: 100 });
  b.append('abcdefgh');
  b.reserve(1);
  assert.equal(b.capacity, 16);
  assert.equal(b.toString(), 'abcdefgh');
  b.reserve(50); // 58 needed: 16 -> 32 -> 64
  assert.equal(b.capacity, 64);
  b.reserve(80); // 88 needed: 128 capped to 100
  assert.equal(b.capacity, 100);
  assert.equal(b.toString(), 'abcdefgh');
  assert.throws(() => b.reserve(93), tooLargeErr);
  assert.equal(b.capacity, 100);
  b.reserve(92); // exactly maxCapacity
  assert.ok(b.writable().length >= 92);
  assert.throws(() => b.append(Buffer.alloc(93)), tooLargeErr);
  assert.equal(b.toString(), 'abcdefgh');
});

test('growth instead of compaction when the unread part is large', () => {
  const b = new IoBuffer(16);
  b.append('0123456789abcdef');
  b.consume(4); // 12 unread > half the capacity
  b.reserve(3); // compaction would fit, but the buffer is mostly full: grow
  assert.equal(b.capacity, 32);
  assert.equal(b.toString(), '456789abcdef');
  assert.equal(b.readIndex, 0);
});

test('at maxCapacity, compaction is used even when the unread part is large', () => {
  const b = new IoBuffer(16, { maxCapacity: 16 });
  b.append('0123456789abcdef');
  b.consume(4);
  const storageBefore = b.readable().buffer;
  b.reserve(4);
  assert.equal(b.capacity, 16);
  assert.equal(b.readable().buffer, storageBefore, 'compacted in place, not reallocated');
  assert.equal(b.toString(), '456789abcdef');
  assert.throws(() => b.reserve(5), tooLargeErr);
});

test('initial capacity 0 grows on demand', () => {
  const b = new IoBuffer(0);
  assert.equal(b.capacity, 0);
  assert.equal(b.writable().length, 0);
  b.append('a');
  assert.equal(b.capacity, 2);
  b.append('bcdefghij');
  assert.equal(b.capacity, 16);
  assert.equal(b.toString(), 'abcdefghij');
});

test('append: strings with encodings, Uint8Array, and views of its own storage', () => {
  const b = new IoBuffer(4);
  b.append('68656c6c6f', 'hex');
  b.append(' ');
  b.append(new Uint8Array([0x77, 0x6f]));
  b.append('cmxk', 'base64');
  assert.equal(b.toString(), 'hello world');
  b.consume(6);
  b.append(b.readable()); // aliasing: copied before the storage moves
  assert.equal(b.toString(), 'worldworld');
  b.append(new Uint8Array(0));
  b.append('');
  assert.equal(b.toString(), 'worldworld');
  // Self-append that compacts with overlapping ranges: [4, 12) -> [0, 8).
  const c = new IoBuffer(16);
  c.append('xxxx01234567');
  c.consume(4);
  c.append(c.readable().subarray(0, 6));
  assert.equal(c.capacity, 16, 'compacted');
  assert.equal(c.toString(), '01234567012345');
  const u = new IoBuffer(8);
  u.append('é€');
  assert.equal(u.length, 5);
  assert.equal(u.toString('utf8'), 'é€');
});

test('indexOf: byte, string, bytes, fromOffset, relative to the readable bytes', () => {
  const b = new IoBuffer(64);
  b.append('xxGET / HTTP/1.1\r\nHost: a\r\n\r\n');
  b.consume(2);
  assert.equal(b.indexOf('\r\n'), 14);
  assert.equal(b.indexOf('\r\n', 15), 23);
  assert.equal(b.indexOf(Buffer.from('\r\n\r\n')), 23);
  assert.equal(b.indexOf(0x0a), 15);
  assert.equal(b.indexOf(0x0a, 16), 24);
  assert.equal(b.indexOf('nope'), -1);
  assert.equal(b.indexOf('', 3), 3);
  assert.equal(b.indexOf('', b.length), b.length);
  assert.equal(b.indexOf('', b.length + 1), -1);
  assert.equal(b.indexOf(0x0a, 1000), -1);
  assert.equal(b.indexOf('GET'), 0);
  assert.equal(b.indexOf('x'), -1, 'consumed bytes are not searched');
  assert.equal(b.indexOf('474554', 0, 'hex'), 0);
});

test('pin semantics: counted; reserve/append/compact throw; commit, consume, reads allowed', () => {
  const b = new IoBuffer(8, { maxCapacity: 64 });
  b.append('ab');
  const view = b.writable();
  b.pin();
  b.pin();
  assert.equal(b.pinned, true);
  assert.equal(b.pinCount, 2);
  const before = snapshot(b);
  assert.throws(() => b.reserve(1), pinnedErr);
  assert.throws(() => b.reserve(0), pinnedErr, 'throws even when nothing would move');
  assert.throws(() => b.append('x'), pinnedErr);
  assert.throws(() => b.append(new Uint8Array(0)), pinnedErr);
  assert.throws(() => b.compact(), pinnedErr);
  assert.throws(() => b.reserve(1), (e: unknown) => e instanceof IoBufferPinnedError);
  assertUnchanged(before, b);

  // Parser drains everything while a read is in flight: no reset.
  b.consume(2);
  assert.equal(b.length, 0);
  assert.equal(b.writeIndex, 2, 'write index stays where the kernel is writing');
  b.clear();
  assert.equal(b.writeIndex, 2);
  assert.equal(b.toString(), '');
  assert.equal(b.indexOf('a'), -1);

  // The "kernel" fills the pinned view; the completion unpins and commits.
  view.write('cdef');
  b.unpin();
  assert.equal(b.pinned, true);
  assert.throws(() => b.append('x'), pinnedErr);
  b.unpin();
  assert.equal(b.pinned, false);
  assert.equal(b.writeIndex, 2, 'unpin does not reset');
  b.commit(4);
  assert.equal(b.toString(), 'cdef');
  b.append('ghijkl'); // moves again once unpinned
  assert.equal(b.toString(), 'cdefghijkl');

  // Unbalanced unpin.
  assert.throws(() => b.unpin(), hasCode(Error, 'ERR_INVALID_STATE'));
  assert.equal(b.pinCount, 0);
});

test('commit is allowed while pinned and never moves storage', () => {
  const b = new IoBuffer(8);
  b.pin();
  b.writable().write('abc');
  b.commit(3);
  assert.equal(b.toString(), 'abc');
  b.unpin();
});

test('ERR_INVALID_ARG_TYPE for wrong types', () => {
  assert.throws(() => new IoBuffer('8' as unknown as number), typeErr);
  assert.throws(() => new IoBuffer(8, 5 as unknown as object), typeErr);
  assert.throws(() => new IoBuffer(8, null as unknown as object), typeErr);
  assert.throws(() => new IoBuffer(8, { maxCapacity: '9' as unknown as number }), typeErr);
  const b = new IoBuffer(8);
  assert.throws(() => b.commit('1' as unknown as number), typeErr);
  assert.throws(() => b.consume(undefined as unknown as number), typeErr);
  assert.throws(() => b.reserve(1n as unknown as number), typeErr);
  assert.throws(() => b.append(42 as unknown as string), typeErr);
  assert.throws(() => b.append([1, 2] as unknown as Uint8Array), typeErr);
  assert.throws(() => b.append(new Uint16Array(2) as unknown as Uint8Array), typeErr);
  assert.throws(() => b.append('x', 5 as unknown as BufferEncoding), typeErr);
  assert.throws(() => b.indexOf({} as unknown as string), typeErr);
  assert.throws(() => b.indexOf('x', '0' as unknown as number), typeErr);
  assert.throws(() => b.toString(1 as unknown as BufferEncoding), typeErr);
  assert.throws(() => b.append('x', 'nope' as BufferEncoding), hasCode(TypeError, 'ERR_UNKNOWN_ENCODING'));
  assert.throws(() => b.toString('nope' as BufferEncoding), hasCode(TypeError, 'ERR_UNKNOWN_ENCODING'));
  assert.equal(b.length, 0);
});

test('ERR_OUT_OF_RANGE for bad numbers', () => {
  for (const bad of [-1, NaN, 1.5, Infinity, -Infinity, 2 ** 60]) {
    assert.throws(() => new IoBuffer(bad), rangeErr, `initialCapacity ${bad}`);
    assert.throws(() => new IoBuffer(8, { maxCapacity: bad }), rangeErr, `maxCapacity ${bad}`);
  }
  assert.throws(() => new IoBuffer(8, { maxCapacity: 0 }), rangeErr);
  assert.throws(() => new IoBuffer(9, { maxCapacity: 8 }), rangeErr, 'initial > max');
  const b = new IoBuffer(8);
  b.append('abc');
  for (const bad of [-1, NaN, 0.5, Infinity]) {
    assert.throws(() => b.commit(bad), rangeErr);
    assert.throws(() => b.consume(bad), rangeErr);
    assert.throws(() => b.reserve(bad), rangeErr);
    assert.throws(() => b.indexOf('a', bad), rangeErr);
  }
  assert.throws(() => b.commit(6), rangeErr, 'more than writable');
  assert.throws(() => b.consume(4), rangeErr, 'more than readable');
  assert.throws(() => b.indexOf(256), rangeErr);
  assert.throws(() => b.indexOf(-1), rangeErr);
  assert.throws(() => b.indexOf(1.5), rangeErr);
  b.commit(5);
  b.consume(8);
  assert.equal(b.length, 0);
});

test('ERR_BUFFER_TOO_LARGE leaves the buffer unchanged', () => {
  const b = new IoBuffer(4, { maxCapacity: 10 });
  b.append('abcdef');
  const before = snapshot(b);
  assert.throws(() => b.reserve(5), tooLargeErr);
  assert.throws(() => b.append('01234'), tooLargeErr);
  assert.throws(() => b.reserve(Number.MAX_SAFE_INTEGER), tooLargeErr);
  assertUnchanged(before, b);
  b.append('0123');
  assert.equal(b.toString(), 'abcdef0123');
});

test('CRLF line parsing from arbitrary chunk boundaries (guide example)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.stringMatching(/^[a-z ]{0,12}$/), { maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 10 }),
      (lines, cuts) => {
        const wire = Buffer.from(lines.map((l) => `${l}\r\n`).join(''));
        const buf = new IoBuffer(8);
        const got: string[] = [];
        let pos = 0;
        for (let i = 0; pos < wire.length; i++) {
          const chunk = wire.subarray(pos, pos + cuts[i % cuts.length]!);
          pos += chunk.length;
          // Like a recv: reserve, fill writable(), commit.
          buf.reserve(chunk.length);
          buf.writable().set(chunk);
          buf.commit(chunk.length);
          let eol: number;
          while ((eol = buf.indexOf('\r\n')) !== -1) {
            got.push(buf.readable().toString('utf8', 0, eol));
            buf.consume(eol + 2);
          }
        }
        assert.deepEqual(got, lines);
        assert.equal(buf.length, 0);
      },
    ),
    { numRuns: 500, includeErrorInReport: true },
  );
});
