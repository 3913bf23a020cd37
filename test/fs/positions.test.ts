/**
 * File positions: end of file and short reads, the current file position
 * (null / -1 / -1n), readAll continuing short reads, positions at and beyond
 * 2^32 (number and bigint), and O_DIRECT misalignment.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { File, Ring, submitChannel, SystemError, type BigIntStats } from '../../src/index.js';
import { FORMS, call, directIoDir, pattern, rejection, tmpDir, type TmpDir } from '../helpers/fs-util.js';
import { nextTurn } from '../helpers/loop.js';

const ring = Ring.current();

let tmp: TmpDir;
before(() => {
  tmp = tmpDir('uringkit-pos-');
});
after(() => tmp.remove());

/**
 * A Ring whose reads are counted as they are submitted (the
 * `uringkit:op:submit` diagnostics channel), however they are issued
 * (ring.read, File, registered or not). `onRead` runs at each submission.
 */
function countingRing(onRead?: () => void): { ring: Ring; reads: () => number; stop: () => void } {
  const r = new Ring();
  let n = 0;
  const listener = (msg: unknown): void => {
    const m = msg as { ring: Ring; op: string };
    if (m.ring !== r || m.op !== 'read') return;
    n++;
    onRead?.();
  };
  submitChannel.subscribe(listener);
  return { ring: r, reads: () => n, stop: () => submitChannel.unsubscribe(listener) };
}

describe('end of file and short reads', () => {
  for (const form of FORMS) {
    test(`read at and past the end returns 0; near the end returns the remainder (${form})`, async () => {
      const data = pattern(10_000, 11);
      const p = tmp.file(`eof-${form}`);
      fs.writeFileSync(p, data);
      const fd = fs.openSync(p, 'r');
      try {
        const buf = Buffer.alloc(100, 0x55);
        assert.equal(await call<number>(form, ring, 'read', fd, buf, { position: 10_000 }), 0, 'at the end');
        assert.equal(await call<number>(form, ring, 'read', fd, buf, { position: 10_100 }), 0, 'past the end');
        assert.equal(await call<number>(form, ring, 'read', fd, buf, { position: 2 ** 40 }), 0, 'far past the end');
        assert.deepEqual(buf, Buffer.alloc(100, 0x55), 'untouched');

        const n = await call<number>(form, ring, 'read', fd, buf, { position: 10_000 - 10 });
        const expect = Buffer.alloc(100, 0x55);
        assert.equal(n, fs.readSync(fd, expect, 0, 100, 10_000 - 10));
        assert.equal(n, 10);
        assert.deepEqual(buf, expect);
        assert.deepEqual(buf.subarray(0, 10), data.subarray(9990));

        // readv across the end.
        const v = [Buffer.alloc(6), Buffer.alloc(6)];
        assert.equal(await call<number>(form, ring, 'readv', fd, v, { position: 9992 }), 8);
        assert.deepEqual(Buffer.concat(v).subarray(0, 8), data.subarray(9992));
      } finally {
        fs.closeSync(fd);
      }
      const empty = tmp.file(`empty-${form}`);
      fs.writeFileSync(empty, '');
      const efd = fs.openSync(empty, 'r');
      try {
        assert.equal(await call<number>(form, ring, 'read', efd, Buffer.alloc(10), { position: 0 }), 0);
        assert.equal(await call<number>(form, ring, 'read', efd, Buffer.alloc(10), { position: null }), 0);
      } finally {
        fs.closeSync(efd);
      }
    });

    test(`the current position (null, -1, -1n, omitted) advances and is shared with the fd (${form})`, async () => {
      const p = tmp.file(`cur-${form}`);
      fs.writeFileSync(p, 'abcdefghijklmnop');
      const fd = fs.openSync(p, 'r+');
      try {
        const b = Buffer.alloc(3);
        assert.equal(await call<number>(form, ring, 'read', fd, b, { position: null }), 3);
        assert.equal(b.toString(), 'abc');
        assert.equal(await call<number>(form, ring, 'read', fd, b, { position: -1 }), 3);
        assert.equal(b.toString(), 'def');
        // A positioned read does not move the current position.
        assert.equal(await call<number>(form, ring, 'read', fd, b, { position: 0 }), 3);
        assert.equal(b.toString(), 'abc');
        assert.equal(await call<number>(form, ring, 'read', fd, b, { position: -1n }), 3);
        assert.equal(b.toString(), 'ghi');
        assert.equal(await call<number>(form, ring, 'read', fd, b, undefined), 3);
        assert.equal(b.toString(), 'jkl');
        // node:fs sees the same position.
        const nb = Buffer.alloc(1);
        fs.readSync(fd, nb, 0, 1, null);
        assert.equal(nb.toString(), 'm');
        // A write at the current position, then readv at the current position.
        assert.equal(await call<number>(form, ring, 'write', fd, 'XY', { position: null }), 2);
        const v = [Buffer.alloc(1), Buffer.alloc(1)];
        assert.equal(await call<number>(form, ring, 'readv', fd, v, { position: null }), 1, 'one byte left');
        assert.equal(v[0]!.toString(), 'p');
        assert.equal(await call<number>(form, ring, 'writev', fd, [Buffer.from('Z')], { position: -1 }), 1);
        assert.equal(fs.readFileSync(p, 'utf8'), 'abcdefghijklmXYpZ');
      } finally {
        fs.closeSync(fd);
      }
    });
  }

  test('O_APPEND: positioned writes append, as pwrite does on Linux', async () => {
    const ours = tmp.file('append-ours');
    const theirs = tmp.file('append-node');
    fs.writeFileSync(ours, 'start');
    fs.writeFileSync(theirs, 'start');
    const a = await ring.open(ours, 'a');
    const b = fs.openSync(theirs, 'a');
    try {
      assert.equal(await ring.write(a, '-1', { position: 0 }), 2);
      fs.writeSync(b, '-1', 0);
      assert.equal(await ring.write(a, '-2', { position: null }), 2);
      fs.writeSync(b, '-2', null);
    } finally {
      fs.closeSync(a);
      fs.closeSync(b);
    }
    assert.equal(fs.readFileSync(ours, 'utf8'), fs.readFileSync(theirs, 'utf8'));
    assert.equal(fs.readFileSync(ours, 'utf8'), 'start-1-2');
  });
});

describe('readAll continues short reads', () => {
  test('regular file: exact size, larger buffer (stops at EOF), current position', async () => {
    const data = pattern(300_000, 12);
    const p = tmp.file('readall');
    fs.writeFileSync(p, data);
    await using f = await File.open(p, 'r');
    const exact = Buffer.alloc(300_000);
    assert.equal(await f.readAll(exact, { position: 0 }), 300_000);
    assert.deepEqual(exact, data);
    const big = Buffer.alloc(400_000);
    assert.equal(await f.readAll(big, { position: 1000 }), 299_000);
    assert.deepEqual(big.subarray(0, 299_000), data.subarray(1000));
    // offset/length window and the current position.
    const win = Buffer.alloc(100);
    assert.equal(await f.readAll(win, { offset: 10, length: 50 }), 50);
    assert.deepEqual(win.subarray(10, 60), data.subarray(0, 50));
    assert.equal(await f.readAll(win, { offset: 0, length: 10 }), 10);
    assert.deepEqual(win.subarray(0, 10), data.subarray(50, 60));
  });

  test('FIFO fed one chunk per read: every read is short, readAll gathers them all in order', async () => {
    const fifo = tmp.file('chunked-fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = fs.openSync(fifo, fs.constants.O_RDWR); // never EOF: readAll must stop at `length`
    const CHUNK = 1000;
    const CHUNKS = 10;
    const data = pattern(CHUNK * CHUNKS, 13);
    let fed = 0;
    // Each read issued makes one more chunk available, on a later turn.
    const { ring: r, reads, stop } = countingRing(() => {
      setImmediate(() => {
        if (fed < CHUNKS) fs.writeSync(writer, data, fed++ * CHUNK, CHUNK);
      });
    });
    try {
      const f = await File.open(fifo, 'r', 0o666, { ring: r, register: false });
      try {
        const buf = Buffer.alloc(CHUNK * CHUNKS);
        assert.equal(await f.readAll(buf), CHUNK * CHUNKS);
        assert.deepEqual(buf, data);
        assert.equal(reads(), CHUNKS, 'one read per chunk: each one was short and was continued');
      } finally {
        await f.close();
      }
    } finally {
      stop();
      fs.closeSync(writer);
      await r.close();
    }
  });

  test('FIFO fed 1 MiB by a child process: reads are bounded by the pipe, readAll returns all of it', async () => {
    const fifo = tmp.file('child-fifo');
    execFileSync('mkfifo', [fifo]);
    const SIZE = 1 << 20;
    const expected = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i++) expected[i] = (i * 7) % 251;
    const child = spawn(process.execPath, ['-e', `
      const fs = require('fs');
      const b = Buffer.alloc(${SIZE});
      for (let i = 0; i < b.length; i++) b[i] = (i * 7) % 251;
      const fd = fs.openSync(process.argv[1], 'w');
      for (let off = 0; off < b.length; off += 100000) fs.writeSync(fd, b, off, Math.min(100000, b.length - off));
      fs.closeSync(fd);
    `, fifo], { stdio: ['ignore', 'inherit', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const { ring: r, reads, stop } = countingRing();
    try {
      // Opening a FIFO for reading waits for the writer (in the kernel's worker, not this thread).
      const f = await File.open(fifo, 'r', 0o666, { ring: r, timeout: 60_000, register: false });
      try {
        const buf = Buffer.alloc(SIZE + 4096);
        const n = await f.readAll(buf);
        assert.equal(n, SIZE, 'everything up to EOF');
        assert.ok(buf.subarray(0, SIZE).equals(expected), 'data in order');
        // A pipe holds at most 64 KiB by default: 1 MiB needs many reads.
        assert.ok(reads() >= 2, `reads: ${reads()}`);
      } finally {
        await f.close();
      }
      assert.equal(await exited, 0);
    } finally {
      stop();
      child.kill();
      await r.close();
    }
  });
});

describe('positions at and beyond 2^32', () => {
  const GiB = 2 ** 30;
  const MARKS = [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 4096, 5 * GiB];
  const mark = (pos: number) => Buffer.from(`<mark@${pos}>`.padEnd(24, '.'));

  for (const form of FORMS) {
    test(`sparse 5 GiB file: markers written and read back exactly, number and bigint (${form})`, async () => {
      const p = tmp.file(`sparse-${form}`);
      const fd = await call<number>(form, ring, 'open', p, 'w+', undefined, undefined);
      try {
        await call(form, ring, 'ftruncate', fd, 5 * GiB, undefined);
        assert.equal(fs.fstatSync(fd).size, 5 * GiB, 'ftruncate beyond 4 GiB');
        // The writes overlap (2^32-1 and 2^32 are one byte apart): a model of what the file holds.
        const model = new Map<number, number>();
        for (const [i, pos] of MARKS.entries()) {
          const position = i % 2 === 0 ? pos : BigInt(pos);
          assert.equal(await call<number>(form, ring, 'write', fd, mark(pos), { position }), 24);
          mark(pos).forEach((byte, k) => model.set(pos + k, byte));
        }
        const expectAt = (pos: number, len: number) =>
          Buffer.from(Array.from({ length: len }, (_, k) => model.get(pos + k) ?? 0));
        assert.equal(expectAt(2 ** 32 - 1, 2).toString(), '<<', 'precondition: the model');
        for (const pos of MARKS) {
          const theirs = Buffer.alloc(24);
          assert.equal(fs.readSync(fd, theirs, 0, 24, pos), 24);
          assert.deepEqual(theirs, expectAt(pos, 24), `node reads our marker at ${pos}`);
          for (const position of [pos, BigInt(pos)]) {
            const ours = Buffer.alloc(24);
            assert.equal(await call<number>(form, ring, 'read', fd, ours, { position }), 24);
            assert.deepEqual(ours, expectAt(pos, 24), `read at ${typeof position} ${pos}`);
          }
          // Around the marker: the sparse region reads as zeros.
          const around = Buffer.alloc(40, 1);
          assert.equal(await call<number>(form, ring, 'read', fd, around, { position: pos - 8 }),
            pos === 5 * GiB ? 32 : 40);
          assert.deepEqual(around.subarray(0, pos === 5 * GiB ? 32 : 40),
            expectAt(pos - 8, pos === 5 * GiB ? 32 : 40), `around ${pos}`);
        }
        assert.deepEqual(expectAt(2 ** 32 + 4096, 24), mark(2 ** 32 + 4096));
        assert.deepEqual(expectAt(5 * GiB, 24), mark(5 * GiB));

        const size = 5 * GiB + 24;
        const st = await call<{ size: number }>(form, ring, 'statx', fd, undefined);
        assert.equal(st.size, size);
        assert.equal(st.size, fs.fstatSync(fd).size);
        const big = await call<BigIntStats>(form, ring, 'statx', p, { bigint: true });
        assert.equal(big.size, BigInt(size));
        assert.equal(big.size, fs.statSync(p, { bigint: true }).size);

        // Vectored I/O beyond 4 GiB.
        const at = 2 ** 32 + 100_000;
        assert.equal(await call<number>(form, ring, 'writev', fd, [Buffer.from('vec'), Buffer.from('tor')],
          { position: BigInt(at) }), 6);
        const vb = Buffer.alloc(6);
        fs.readSync(fd, vb, 0, 6, at);
        assert.equal(vb.toString(), 'vector');
        const parts = [Buffer.alloc(2), Buffer.alloc(4)];
        assert.equal(await call<number>(form, ring, 'readv', fd, parts, { position: at }), 6);
        assert.equal(Buffer.concat(parts).toString(), 'vector');

        // Truncate back below 4 GiB: the high markers are gone.
        await call(form, ring, 'ftruncate', fd, 2 ** 32 + 1, undefined);
        assert.equal(await call<number>(form, ring, 'read', fd, Buffer.alloc(24), { position: 2 ** 32 + 4096 }), 0);
      } finally {
        fs.closeSync(fd);
        fs.rmSync(p, { force: true });
      }
    });
  }

  test('File: readAll / writeAll at bigint positions beyond 4 GiB', async () => {
    const p = tmp.file('sparse-file');
    await using f = await File.open(p, 'w+');
    const pos = 2n ** 32n + 12345n;
    const data = pattern(200_000, 14);
    assert.equal(await f.writeAll(data, { position: pos }), 200_000);
    const st = await f.stat({ bigint: true });
    assert.equal(st.size, pos + 200_000n);
    const back = Buffer.alloc(200_000);
    assert.equal(await f.readAll(back, { position: pos }), 200_000);
    assert.deepEqual(back, data);
    const theirs = Buffer.alloc(200_000);
    fs.readSync(f.fd, theirs, 0, 200_000, pos);
    assert.deepEqual(theirs, data);
  });
});


describe('O_DIRECT', () => {
  let dir: string | undefined;
  let file: string;
  const data = pattern(1 << 16, 15);
  before(() => {
    dir = directIoDir();
    if (dir === undefined) return;
    file = path.join(dir, 'dense');
    // Dense (allocated) blocks: reads of holes are not checked for alignment.
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  });
  after(() => {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const form of FORMS) {
    test(`misaligned reads and writes fail with EINVAL, a clear SystemError (${form})`, async (t) => {
      if (dir === undefined) {
        t.skip('no filesystem here accepts O_DIRECT (tmpdir, test dir and cwd all refuse it)');
        return;
      }
      const fd = await call<number>(form, ring, 'open', file, fs.constants.O_RDWR | fs.constants.O_DIRECT,
        undefined, undefined);
      try {
        const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
        const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(info)![1]!, 8);
        assert.equal(flags & fs.constants.O_DIRECT, fs.constants.O_DIRECT, 'the fd is O_DIRECT');

        const ab = new ArrayBuffer(1 << 16);
        const nodeRead = (view: Uint8Array, position: number): string => {
          try {
            fs.readSync(fd, view, 0, view.byteLength, position);
          } catch (e) {
            return String((e as NodeJS.ErrnoException).code);
          }
          return 'ok';
        };
        const assertEinval = (e: Error & { errno?: unknown }, syscall: string, label: string) => {
          assert.ok(e instanceof SystemError, label);
          assert.equal(e.code, 'EINVAL', label);
          assert.equal(e.errno, -os.constants.errno.EINVAL, label);
          assert.equal(e.syscall, syscall, label);
          assert.equal(e.message, `EINVAL: invalid argument, ${syscall}`, label);
        };
        // Misaligned whatever the buffer's address: the file position, the length.
        const certain: [string, Uint8Array, number][] = [
          ['position 1', new Uint8Array(ab, 0, 4096), 1],
          ['position 4097', new Uint8Array(ab, 0, 4096), 4097],
          ['length 100', new Uint8Array(ab, 0, 100), 0],
          ['length 4095', new Uint8Array(ab, 0, 4095), 0],
        ];
        for (const [label, view, position] of certain) {
          assert.equal(nodeRead(view, position), 'EINVAL', `precondition (${label}): node:fs gets EINVAL`);
          assertEinval(await rejection(call(form, ring, 'read', fd, view, { position }), label), 'read', label);
        }
        // The buffer's address: JS cannot choose it, but of two addresses one
        // byte apart at most one is aligned; each outcome must be node's.
        let einval = 0;
        for (const off of [0, 1]) {
          const view = new Uint8Array(ab, off, 4096);
          const theirs = nodeRead(view, 0);
          const label = `buffer at ArrayBuffer + ${off} (node: ${theirs})`;
          if (theirs === 'EINVAL') {
            einval++;
            assertEinval(await rejection(call(form, ring, 'read', fd, view, { position: 0 }), label), 'read', label);
          } else {
            assert.equal(await call<number>(form, ring, 'read', fd, view, { position: 0 }), 4096, label);
            assert.deepEqual(Buffer.from(view), data.subarray(0, 4096), label);
          }
        }
        assert.ok(einval >= 1, 'a misaligned buffer address was refused');

        assertEinval(await rejection(call(form, ring, 'write', fd, new Uint8Array(ab, 0, 100), { position: 0 }),
          'write len 100'), 'write', 'write len 100');
        assertEinval(await rejection(call(form, ring, 'write', fd, new Uint8Array(ab, 0, 4096), { position: 1 }),
          'write pos 1'), 'write', 'write pos 1');
        assertEinval(await rejection(call(form, ring, 'writev', fd, [new Uint8Array(ab, 0, 100)], { position: 0 }),
          'writev len 100'), 'write', 'writev len 100');
        assertEinval(await rejection(call(form, ring, 'readv', fd, [new Uint8Array(ab, 0, 4096)], { position: 3 }),
          'readv pos 3'), 'read', 'readv pos 3');
      } finally {
        fs.closeSync(fd);
      }
      await nextTurn();
      assert.deepEqual(fs.readFileSync(file), data, 'nothing was written');
    });
  }
});
