/**
 * The whole-file helpers (src/fs/whole-file.ts) at their size boundaries,
 * and the write-behind of write streams: the data that lands is the data
 * that was written, errors surface as node's do.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import nfs from 'node:fs';
import nodeFsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { copyFile, readFile, writeFile } from '../../src/index.js';
import ukFs, { createWriteStream, WRITE_BEHIND } from '../../src/fs/promises/index.js';
import { COPY_IN_KERNEL_MIN } from '../../src/fs/whole-file.js';

let dir: string;
before(() => {
  dir = nfs.mkdtempSync(path.join(os.tmpdir(), 'uk-fscompat-whole-'));
});
after(() => nfs.rmSync(dir, { recursive: true, force: true }));

describe('readFile at the first-read boundary (64 KiB) and beyond', () => {
  for (const size of [0, 1, 4095, 65535, 65536, 65537, 131072, 3 * 1024 * 1024 + 7]) {
    test(`${size} bytes: the same bytes as node's readFile, both APIs`, async () => {
      const p = path.join(dir, `r${size}`);
      const data = randomBytes(size);
      nfs.writeFileSync(p, data);
      assert.deepEqual(await readFile(p), data);
      assert.deepEqual(await ukFs.readFile(p), await nodeFsp.readFile(p));
    });
  }

  test('files the kernel reports with size 0 are read to the end (/proc)', async () => {
    const got = await readFile('/proc/self/maps', { encoding: 'utf8' });
    assert.ok(got.length > 0 && got.includes('\n'));
    const status = await ukFs.readFile('/proc/self/status', 'utf8');
    assert.match(status, /^Name:/);
  });

  test('a small result does not keep the 64 KiB first-read buffer alive', async () => {
    const p = path.join(dir, 'tiny');
    nfs.writeFileSync(p, 'abc');
    const b = await readFile(p);
    assert.equal(b.toString(), 'abc');
    assert.equal(b.buffer.byteLength, 3, 'the result has a backing store of its own size');
  });
});

describe('writeFile and copyFile (uringkit)', () => {
  test('writeFile of 20 MiB lands byte-exact', async () => {
    const p = path.join(dir, 'w20');
    const data = randomBytes(20 * 1024 * 1024);
    await writeFile(p, data);
    assert.deepEqual(nfs.readFileSync(p), data);
  });

  for (const size of [0, 5000, 3 * 1024 * 1024 + 11, COPY_IN_KERNEL_MIN + 4097]) {
    for (const path_ of ['in-kernel', 'ring'] as const) {
      test(`copyFile of ${size} bytes (${path_}): same bytes and mode; exclusive refuses an existing dest`, async () => {
        const src = path.join(dir, `c${size}`);
        const dst = path.join(dir, `c${size}.copy`);
        const data = randomBytes(size);
        nfs.writeFileSync(src, data, { mode: 0o640 });
        nfs.chmodSync(src, 0o640);
        // A signal keeps the copy on the ring (cancellable); without one a large copy is copy_file_range.
        const opts = path_ === 'ring' ? { signal: new AbortController().signal } : {};
        await copyFile(src, dst, opts);
        assert.deepEqual(nfs.readFileSync(dst), data);
        assert.equal(nfs.statSync(dst).mode & 0o777, 0o640);
        await assert.rejects(copyFile(src, dst, { ...opts, exclusive: true }), { code: 'EEXIST' });
        nfs.rmSync(dst);
      });
    }
  }

  test('copyFile with a signal stays on the ring and can be aborted', async () => {
    const src = path.join(dir, 'abort-src');
    nfs.writeFileSync(src, randomBytes(9 * 1024 * 1024));
    await assert.rejects(copyFile(src, path.join(dir, 'abort-dst'), { signal: AbortSignal.abort() }),
      { name: 'AbortError' });
  });

  test('copyFile open errors have one shape on both paths (syscall open, the failing path)', async () => {
    const src = path.join(dir, 'none');
    const dest = path.join(dir, 'x');
    await assert.rejects(copyFile(src, dest), { code: 'ENOENT', syscall: 'open', path: src });
    await assert.rejects(copyFile(src, dest, { timeout: 10_000 }), { code: 'ENOENT', syscall: 'open', path: src });
    const big = path.join(dir, 'big-src');
    nfs.writeFileSync(big, randomBytes(COPY_IN_KERNEL_MIN));
    await assert.rejects(copyFile(big, path.join(dir, 'no-dir', 'x')), { code: 'ENOENT', syscall: 'open' });
  });
});

describe('write stream write-behind', () => {
  test('a buffer reused and changed after each write callback: every version lands', async () => {
    const p = path.join(dir, 'reuse');
    const ws = createWriteStream(p);
    const buf = Buffer.alloc(65536);
    const expected: Buffer[] = [];
    for (let i = 0; i < 64; i++) {
      buf.fill(i);
      expected.push(Buffer.from(buf));
      await new Promise<void>((resolve, reject) => ws.write(buf, (e) => (e ? reject(e) : resolve())));
    }
    await new Promise<void>((resolve) => ws.end(resolve));
    assert.deepEqual(nfs.readFileSync(p), Buffer.concat(expected));
    assert.equal(ws.bytesWritten, 64 * 65536);
  });

  test(`'finish' comes after every write (${WRITE_BEHIND} in flight) has completed`, async () => {
    const p = path.join(dir, 'finish');
    const ws = createWriteStream(p);
    const chunk = randomBytes(256 * 1024);
    for (let i = 0; i < 16; i++) ws.write(chunk);
    await new Promise<void>((resolve) => ws.end(resolve));
    assert.equal(nfs.statSync(p).size, 16 * chunk.length);
    assert.equal(ws.bytesWritten, 16 * chunk.length);
  });

  for (const start of [undefined, 0]) {
    test(`a failing write errors the stream as node's (start ${start}), and closes the fd`, async () => {
      const p = path.join(dir, 'ro');
      nfs.writeFileSync(p, 'x');
      const run = async (h: { createWriteStream: (o?: object) => NodeJS.WritableStream }): Promise<string[]> => {
        const ws = h.createWriteStream(start === undefined ? {} : { start }) as NodeJS.WritableStream & { on: (e: string, f: (x?: unknown) => void) => void };
        const ev: string[] = [];
        const done = new Promise<void>((resolve) => ws.on('close', () => resolve()));
        ws.on('error', (e) => ev.push(`error ${(e as { code: string; syscall: string }).code} ${(e as { syscall: string }).syscall}`));
        ws.on('close', () => ev.push('close'));
        ws.write(Buffer.alloc(1000));
        ws.write(Buffer.alloc(1000));
        ws.end();
        await done;
        return ev;
      };
      const nh = await nodeFsp.open(p, 'r');
      const uh = await ukFs.open(p, 'r');
      const fd = uh.fd;
      const n = await run(nh as unknown as { createWriteStream: (o?: object) => NodeJS.WritableStream });
      const u = await run(uh);
      assert.deepEqual(u, n);
      assert.equal(uh.fd, -1);
      assert.throws(() => nfs.fstatSync(fd), { code: 'EBADF' });
    });
  }
});
