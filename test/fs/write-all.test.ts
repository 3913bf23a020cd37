/**
 * File.writeAll / File.readAll continuing short transfers (the one loop they
 * share): each continuation starts exactly where the previous operation
 * ended (file position and buffer offset), in order, one at a time; the
 * result is byte-exact; an error or an abort mid-way stops the loop (nothing
 * more is issued) and the call settles once with that error; a File closed
 * between two operations rejects with EBADF. On the mock backend (scripted
 * short transfers, errors and delays) and on a real file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { File, Ring } from '../../src/index.js';
import { withMock, type MockBackend, type MockRequest } from '../../src/testing.js';
import { pattern, tmpDir, type TmpDir } from '../helpers/fs-util.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

/** A fresh mock and ring for one test body; the ring is closed and fd leaks checked afterwards. */
function run(fn: (mock: MockBackend, ring: Ring) => Promise<void>): Promise<void> {
  return withMock({ diagnostic: (m) => console.error(m) }, fn, { seed: 7 });
}

interface Transfer {
  position: number;
  length: number;
  result: number;
}

/** Records every `op` request the mock runs (after any short-transfer fault), delegating to its model. */
function record(mock: MockBackend, op: 'read' | 'write'): Transfer[] {
  const seen: Transfer[] = [];
  mock.handle(op, (req: MockRequest) => {
    const res = req.default();
    const note = (n: number): number => {
      seen.push({ position: req.position, length: req.length, result: n });
      return n;
    };
    return typeof res === 'number' ? note(res) : res.then(note);
  });
  return seen;
}

/**
 * Asserts that the transfers are contiguous from file position `start`, each
 * beginning where the previous one ended and asking for no more than was
 * left of `total`; returns the bytes they moved.
 */
function assertContiguous(seen: readonly Transfer[], start: number, total: number): number {
  let pos = start;
  for (const [i, t] of seen.entries()) {
    assert.equal(t.position, pos, `transfer ${i} starts where the previous one ended`);
    assert.ok(t.length <= total - (pos - start), `transfer ${i} asks for no more than what is left`);
    pos += t.result;
  }
  return pos - start;
}

/** Whether `p` is still pending after the mock has run everything it can now. */
async function pending(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  return !settled;
}

describe('File.writeAll continues short writes (mock backend)', () => {
  test('short writes at a position: continued in order, byte-exact', () => run(async (mock, ring) => {
    mock.faults.add({ op: 'write', shortBy: 'random' });
    const seen = record(mock, 'write');
    mock.fs.writeFile('/w', Buffer.alloc(100, 0xee));
    const f = await File.open('/w', 'r+', 0o666, { ring });
    const data = pattern(20_000, 3);
    assert.equal(await f.writeAll(data, { position: 100 }), 20_000);
    assert.ok(seen.length > 3, `several short writes (${seen.length})`);
    assert.equal(assertContiguous(seen, 100, 20_000), 20_000);
    assert.deepEqual(mock.fs.readFile('/w'), Buffer.concat([Buffer.alloc(100, 0xee), data]));
    await f.close();
  }));

  test('short writes at the current file position (-1): each continues at the file position', () => run(async (mock, ring) => {
    mock.faults.add({ op: 'write', shortBy: 'random' });
    const seen = record(mock, 'write');
    const f = await File.open('/c', 'w', 0o666, { ring });
    const a = pattern(5_000, 5);
    const b = pattern(3_000, 9);
    assert.equal(await f.writeAll(a), 5_000);
    assert.equal(await f.writeAll(b, { position: null }), 3_000);
    assert.ok(seen.length > 2);
    for (const t of seen) assert.equal(t.position, -1, 'no explicit position: the fd position advances');
    assert.deepEqual(mock.fs.readFile('/c'), Buffer.concat([a, b]));
    await f.close();
  }));

  test('a window (offset, length) of the data, and a string with an encoding', () => run(async (mock, ring) => {
    mock.faults.add({ op: 'write', shortBy: 'random' });
    const f = await File.open('/s', 'w+', 0o666, { ring });
    const data = pattern(4_000, 1);
    assert.equal(await f.writeAll(data, { offset: 1_000, length: 2_500, position: 0 }), 2_500);
    assert.equal(await f.writeAll('ff00ff', { encoding: 'hex', position: 2_500 }), 3);
    assert.deepEqual(mock.fs.readFile('/s'), Buffer.concat([data.subarray(1_000, 3_500), Buffer.from([255, 0, 255])]));
    assert.equal(await f.writeAll(data, { length: 0, position: 0 }), 0, 'nothing to write: no operation');
    await f.close();
  }));

  test('an error mid-way rejects once with it; nothing more is issued', () => run(async (mock, ring) => {
    mock.faults.add({ op: 'write', errno: 'EIO', after: 2, times: 1 });
    mock.faults.add({ op: 'write', shortBy: 1_000 });
    const seen = record(mock, 'write');
    const f = await File.open('/e', 'w', 0o666, { ring });
    const data = pattern(10_000, 4);
    let settles = 0;
    const p = f.writeAll(data, { position: 0 });
    p.then(() => settles++, () => settles++);
    await assert.rejects(p, (e: NodeJS.ErrnoException) => e.code === 'EIO' && e.syscall === 'write');
    assert.equal(mock.calls('write').length, 3, 'two short writes, then the failing one; no fourth');
    assert.equal(seen.length, 2, 'the failing write had no effect');
    assert.deepEqual(seen.map((t) => t.result), [9_000, 1], 'each 1 000 bytes short of its ask (at least 1 byte moves)');
    assert.equal(assertContiguous(seen, 0, 10_000), 9_001);
    assert.deepEqual(mock.fs.readFile('/e'), data.subarray(0, 9_001), 'what was written before the error, exactly');
    await new Promise<void>((r) => setImmediate(r));
    assert.equal(settles, 1);
    await f.close();
  }));

  test('abort mid-way: rejects with the AbortError, the operation in flight is cancelled, nothing more is issued', () =>
    run(async (mock, ring) => {
      mock.faults.add({ op: 'write', shortBy: 500, delayMs: 10 });
      const f = await File.open('/a', 'w', 0o666, { ring });
      const ac = new AbortController();
      const data = pattern(2_000, 8);
      const p = f.writeAll(data, { position: 0, signal: ac.signal });
      assert.ok(await pending(p));
      mock.clock.advance(10); // the first write completes (1 500 bytes); the second is issued
      assert.ok(await pending(p));
      assert.equal(mock.calls('write').length, 2);
      ac.abort(new Error('stop'));
      await assert.rejects(p, (e: Error & { cause?: unknown }) =>
        e.name === 'AbortError' && (e.cause as Error).message === 'stop');
      mock.clock.advance(100);
      await new Promise<void>((r) => setImmediate(r));
      assert.equal(mock.calls('write').length, 2, 'nothing issued after the abort');
      assert.equal(mock.calls('write')[1]!.by, 'cancelled');
      assert.deepEqual(mock.fs.readFile('/a'), data.subarray(0, 1_500));
      await f.close();
    }));

  test('a File closed between two writes: the next continuation rejects with EBADF', () => run(async (mock, ring) => {
    mock.faults.add({ op: 'write', shortBy: 500, delayMs: 10 });
    const f = await File.open('/x', 'w', 0o666, { ring });
    const p = f.writeAll(pattern(2_000, 2), { position: 0 });
    p.catch(() => {});
    assert.ok(await pending(p));
    const closed = f.close(); // the write in flight keeps its buffer pinned and completes
    mock.clock.advance(10);
    await closed;
    await assert.rejects(p, (e: NodeJS.ErrnoException) => e.code === 'EBADF');
    assert.equal(mock.calls('write').length, 1);
  }));
});

describe('File.writeAll / readAll of a view over 2 GiB (mock backend)', () => {
  test('split into operations of at most 2 GiB - 4 KiB (the kernel\'s MAX_RW_COUNT), contiguous', () =>
    run(async (mock, ring) => {
      const MAX_RW = 0x7ffff000;
      const size = 2 ** 31 + 10;
      // Never written to or read: the handlers below only report lengths, so the pages stay uncommitted.
      const big = Buffer.allocUnsafe(size);
      const seen: Record<'read' | 'write', Transfer[]> = { read: [], write: [] };
      for (const op of ['read', 'write'] as const) {
        mock.handle(op, (req: MockRequest) => {
          seen[op].push({ position: req.position, length: req.length, result: req.length });
          return req.length;
        });
      }
      const f = await File.open('/big', 'w+', 0o666, { ring });
      assert.equal(await f.writeAll(big, { position: 5 }), size);
      assert.deepEqual(seen.write.map((t) => t.length), [MAX_RW, size - MAX_RW]);
      assert.equal(assertContiguous(seen.write, 5, size), size);
      assert.equal(await f.readAll(big, { offset: 10, position: 0 }), size - 10);
      assert.deepEqual(seen.read.map((t) => t.length), [MAX_RW, size - 10 - MAX_RW]);
      await f.close();
    }));
});

describe('File.readAll continues short reads (mock backend)', () => {
  test('short reads continued in order up to the end of the file; byte-exact', () => run(async (mock, ring) => {
    const data = pattern(9_000, 6);
    mock.fs.writeFile('/r', data);
    mock.faults.add({ op: 'read', shortBy: 'random' });
    const seen = record(mock, 'read');
    const f = await File.open('/r', 'r', 0o666, { ring });
    const buf = Buffer.alloc(12_000, 0x55);
    assert.equal(await f.readAll(buf, { offset: 10, position: 500 }), 8_500, 'stops at the end of the file');
    assert.deepEqual(buf.subarray(10, 8_510), data.subarray(500));
    assert.deepEqual(buf.subarray(0, 10), Buffer.alloc(10, 0x55));
    assert.deepEqual(buf.subarray(8_510), Buffer.alloc(12_000 - 8_510, 0x55));
    const last = seen.at(-1)!;
    assert.equal(last.result, 0, 'the last read found the end');
    assert.equal(assertContiguous(seen, 500, 12_000 - 10), 8_500);
    assert.equal(last.position, 9_000);
    await f.close();
  }));

  test('an error mid-way rejects with it; nothing more is issued', () => run(async (mock, ring) => {
    mock.fs.writeFile('/re', pattern(9_000, 6));
    mock.faults.add({ op: 'read', errno: 'EIO', after: 1, times: 1 });
    mock.faults.add({ op: 'read', shortBy: 2_000 });
    const f = await File.open('/re', 'r', 0o666, { ring });
    await assert.rejects(f.readAll(Buffer.alloc(9_000), { position: 0 }),
      (e: NodeJS.ErrnoException) => e.code === 'EIO' && e.syscall === 'read');
    assert.equal(mock.calls('read').length, 2);
    await f.close();
  }));
});

describe('File.writeAll / readAll on a real file', () => {
  let tmp: TmpDir;
  before(() => {
    tmp = tmpDir('uringkit-write-all-');
  });
  after(() => tmp.remove());

  const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

  for (const register of [true, false]) {
    const skip = register ? skipUnlessIoUring('registered files are an io_uring feature') : undefined;
    test(`8 MiB + 3 bytes at a position and at the file position, read back byte-exact (register: ${register})`, { skip }, async () => {
      const ring = new Ring();
      try {
        const p = tmp.file(`big-${register}`);
        const data = pattern(8 * 1024 * 1024 + 3, 12);
        const f = await File.open(p, 'w+', 0o600, { ring, register });
        assert.equal(f.registered, register);
        assert.equal(await f.writeAll(data.subarray(0, 7)), 7, 'at the file position');
        assert.equal(await f.writeAll(data, { position: 7 }), data.length);
        const onDisk = fs.readFileSync(p);
        assert.equal(onDisk.length, 7 + data.length);
        assert.deepEqual(onDisk.subarray(0, 7), data.subarray(0, 7));
        assert.equal(sha(onDisk.subarray(7)), sha(data));
        const back = Buffer.alloc(data.length + 100);
        assert.equal(await f.readAll(back, { position: 7 }), data.length, 'stops at the end of the file');
        assert.equal(sha(back.subarray(0, data.length)), sha(data));
        await f.close();
      } finally {
        await ring.close();
      }
    });
  }
});
