/**
 * Registered resources: the buffer pool (READ_FIXED / WRITE_FIXED, O_DIRECT,
 * positions beyond 2^32, untransferable memory, arguments), the registered
 * file table behind File (index reuse, many opens and closes, no fd leaks,
 * strict `register: true`), aborting an in-flight fixed read, and ring close
 * with registered resources.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { after, before, describe, test } from 'node:test';

import { BufferPool, File, Ring } from '../../src/index.js';
import { MockBackend } from '../../src/testing.js';
import { directIoDir, fdSnapshot, fdsOpenedSince, FORMS, pattern, RANGE, TYPE, VALUE, assertThrowsCoded, rejection, tmpDir, type TmpDir }
  from '../helpers/fs-util.js';
import { makeFifo } from '../helpers/fifo.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

const HAS_TRANSFER = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';

let tmp: TmpDir;
before(() => {
  tmp = tmpDir('uringkit-reg-');
});
after(() => tmp.remove());

/** Reads or writes through the Promise or the callback form of ring.read / ring.write. */
function io(form: string, ring: Ring, method: 'read' | 'write', fd: number, buf: Buffer, opts: object): Promise<number> {
  if (form === 'promise') return (ring[method] as (...a: unknown[]) => Promise<number>)(fd, buf, opts);
  return new Promise((resolve, reject) => {
    (ring[method] as (...a: unknown[]) => void)(fd, buf, opts, (e: Error | null, n?: number) =>
      (e ? reject(e) : resolve(n!)));
  });
}

const REG_SKIP = skipUnlessIoUring('needs registered buffers and files (the portable backend emulates an unregistered pool, refuses register: true)');

describe('buffer pool', { skip: REG_SKIP }, () => {
  let ring: Ring;
  let pool: BufferPool;
  before(() => {
    ring = new Ring();
    pool = ring.registerBuffers({ count: 8, size: 10_000 });
  });
  after(() => ring.close());

  test('registers: page-sized buffers, acquire / release, stats', () => {
    assert.equal(pool.registered, true, 'registration works on this host (root or enough RLIMIT_MEMLOCK)');
    assert.equal(ring.bufferPool, pool);
    assert.equal(pool.size, 12_288, 'rounded up to whole pages');
    assert.equal(pool.count, 8);
    const got: Buffer[] = [];
    for (let i = 0; i < 8; i++) {
      const b = pool.acquire();
      assert.ok(b instanceof Buffer);
      assert.equal(b.length, 12_288);
      got.push(b);
    }
    // Addresses are not visible from JS: the O_DIRECT test below proves the page alignment.
    const offsets = got.map((b) => b.byteOffset).sort((x, y) => x - y);
    for (let i = 1; i < 8; i++) assert.equal(offsets[i]! - offsets[i - 1]!, 12_288, 'buffers are one stride apart');
    assert.equal(pool.acquire(), undefined, 'exhausted');
    assert.equal(new Set(got.map((b) => b.byteOffset)).size, 8, 'distinct buffers');
    assert.equal(pool.stats().free, 0);
    for (const b of got) pool.release(b);
    assert.equal(pool.stats().free, 8);
  });

  test('release() refuses foreign, sliced and released buffers', () => {
    const b = pool.acquire()!;
    assertThrowsCoded(() => pool.release(Buffer.alloc(12_288)), VALUE, 'foreign buffer');
    assertThrowsCoded(() => pool.release(b.subarray(1)), VALUE, 'a slice');
    pool.release(b);
    assertThrowsCoded(() => pool.release(b), VALUE, 'double release');
  });

  test('bad options throw before anything is allocated', () => {
    const r = new Ring();
    try {
      assertThrowsCoded(() => r.registerBuffers(undefined as never), TYPE, 'no options');
      assertThrowsCoded(() => r.registerBuffers({ count: '1', size: 4096 } as never), TYPE, 'count type');
      assertThrowsCoded(() => r.registerBuffers({ count: 0, size: 4096 }), RANGE, 'count 0');
      assertThrowsCoded(() => r.registerBuffers({ count: 1.5, size: 4096 }), RANGE, 'count fraction');
      assertThrowsCoded(() => r.registerBuffers({ count: 1, size: 0 }), RANGE, 'size 0');
      assertThrowsCoded(() => r.registerBuffers({ count: 1024, size: 2 << 20 }), RANGE, 'over 1 GiB');
      assert.equal(r.bufferPool, undefined);
    } finally {
      void r.close();
    }
  });

  for (const form of FORMS) {
    test(`WRITE_FIXED / READ_FIXED round trip at positions beyond 2^32 (${form})`, async () => {
      const p = tmp.file(`big-${form}`);
      const fd = fs.openSync(p, 'w+');
      const b = pool.acquire()!;
      try {
        const before = pool.stats();
        const positions = [0, 2 ** 32 - 5000, 2 ** 32, 2 ** 32 + 12_345, 2 ** 33 + 1]; // disjoint windows
        for (const [k, pos] of positions.entries()) {
          const data = pattern(5000, 30 + k);
          data.copy(b, 100);
          assert.equal(await io(form, ring, 'write', fd, b, { offset: 100, length: 5000, position: pos }), 5000);
        }
        for (const [k, pos] of positions.entries()) {
          b.fill(0);
          assert.equal(await io(form, ring, 'read', fd, b, { offset: 7, length: 5000, position: pos }), 5000);
          assert.deepEqual(b.subarray(7, 5007), pattern(5000, 30 + k), `data at ${pos}`);
          const check = Buffer.alloc(5000);
          fs.readSync(fd, check, 0, 5000, pos);
          assert.deepEqual(check, pattern(5000, 30 + k), `fs sees the same at ${pos}`);
          assert.equal(b[6], 0, 'nothing before the window');
          assert.equal(b[5007], 0, 'nothing after the window');
        }
        assert.equal(fs.fstatSync(fd).size, 2 ** 33 + 1 + 5000);
        const s = pool.stats();
        assert.equal(s.fixedWrites - before.fixedWrites, positions.length);
        assert.equal(s.fixedReads - before.fixedReads, positions.length);
      } finally {
        pool.release(b);
        fs.closeSync(fd);
        fs.rmSync(p);
      }
    });
  }

  test('File with a pool buffer: readAll / writeAll, sync, and ordinary buffers alongside', async () => {
    const p = tmp.file('file-pool');
    const data = pattern(40_000, 5);
    const b = pool.acquire()!;
    const f = await File.open(p, 'w+');
    try {
      assert.equal(await f.writeAll(data, { position: 2 ** 32 }), 40_000, 'ordinary buffer');
      await f.datasync();
      assert.equal(await f.readAll(b, { position: 2 ** 32 + 1000 }), 12_288);
      assert.deepEqual(b, data.subarray(1000, 1000 + 12_288));
      b.fill(0x61);
      assert.equal(await f.writeAll(b, { position: 0, length: 4096 }), 4096);
      const check = Buffer.alloc(4096);
      const fd = fs.openSync(p, 'r');
      fs.readSync(fd, check, 0, 4096, 0);
      fs.closeSync(fd);
      assert.deepEqual(check, Buffer.alloc(4096, 0x61));
    } finally {
      await f.close();
      pool.release(b);
    }
  });

  test('a pool buffer cannot be transferred, idle or in use (refused on Node 22+, copied on Node 20)', async () => {
    const b = pool.acquire()!;
    const fifo = makeFifo();
    try {
      const ab = b.buffer as ArrayBuffer;
      const inUse = ring.read(fifo.fd, b, { length: 16 });
      await ring.nop(); // the read is parked in the kernel
      const { port1, port2 } = new MessageChannel();
      try {
        if (HAS_TRANSFER) {
          assert.throws(() => port1.postMessage(b, [ab]), { name: 'DataCloneError' });
          assert.throws(() => structuredClone(ab, { transfer: [ab] }), { name: 'DataCloneError' });
          assert.throws(() => (ab as ArrayBuffer & { transfer(): ArrayBuffer }).transfer(), { name: 'TypeError' });
        } else {
          port1.postMessage(b, [ab]); // Node 20: a copy is posted, the original stays ours
        }
      } finally {
        port1.close();
        port2.close();
      }
      assert.ok(ab.byteLength >= 12_288 * 8, 'the region is still attached');
      fifo.write('into-the-pool');
      assert.equal(await inUse, 13);
      assert.equal(b.subarray(0, 13).toString(), 'into-the-pool', 'the read landed in the pool buffer');
      assert.equal(b.length, 12_288, 'still attached');
      b[0] = 1;
      assert.equal(b[0], 1);
    } finally {
      fifo.close();
      pool.release(b);
    }
  });

  test('a second pool on the same ring is not registered but works', async () => {
    const second = ring.registerBuffers({ count: 1, size: 4096 });
    assert.equal(second.registered, false);
    assert.equal(ring.bufferPool, pool, 'the first stays the ring pool');
    const p = tmp.file('second');
    fs.writeFileSync(p, pattern(4096, 9));
    const fd = fs.openSync(p, 'r');
    try {
      const b = second.acquire()!;
      assert.equal(await ring.read(fd, b, { position: 0 }), 4096);
      assert.deepEqual(b, pattern(4096, 9));
      assert.equal(second.stats().fixedReads, 0);
    } finally {
      fs.closeSync(fd);
    }
  });
});

describe('unregistering and ring close', { skip: REG_SKIP }, () => {
  test('unregister(): buffers keep working with plain reads; the ring can register again', async () => {
    const ring = new Ring();
    try {
      const pool = ring.registerBuffers({ count: 2, size: 4096 });
      assert.equal(pool.registered, true);
      const p = tmp.file('unreg');
      fs.writeFileSync(p, pattern(8192, 3));
      const fd = fs.openSync(p, 'r');
      const b = pool.acquire()!;
      try {
        // Staged before unregister, built after it: C issues a plain READ.
        const staged = ring.read(fd, b, { position: 0 });
        pool.unregister();
        assert.equal(await staged, 4096);
        assert.deepEqual(b, pattern(4096, 3));
        assert.equal(pool.registered, false);
        assert.equal(ring.bufferPool, undefined);
        const reads = pool.stats().fixedReads;
        assert.equal(await ring.read(fd, b, { position: 4096 }), 4096);
        assert.deepEqual(b, pattern(8192, 3).subarray(4096));
        assert.equal(pool.stats().fixedReads, reads, 'no longer fixed');
        pool.unregister(); // idempotent
        const again = ring.registerBuffers({ count: 1, size: 4096 });
        assert.equal(again.registered, true);
        const c = again.acquire()!;
        assert.equal(await ring.read(fd, c, { position: 0 }), 4096);
        assert.deepEqual(c, pattern(4096, 3));
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      await ring.close();
    }
  });

  test('closing a ring with a fixed read in flight and a registered file settles everything', async () => {
    const ring = new Ring();
    const fifo = makeFifo();
    const fds = fdSnapshot();
    try {
      const pool = ring.registerBuffers({ count: 1, size: 4096 });
      const f = await File.open(fifo.path, 'r+', 0o666, { ring, register: true });
      assert.equal(f.registered, true);
      const pending = f.read(pool.acquire()!);
      const closing = ring.close();
      const e = await rejection(pending, 'read in flight at close');
      // Cancelled by the close: an AbortError whose cause is the ring closing.
      assert.equal(e.name, 'AbortError');
      assert.equal((e as { cause?: { code?: string } }).cause?.code, 'ERR_RING_CLOSED');
      await closing;
      assert.throws(() => ring.registerBuffers({ count: 1, size: 4096 }), { code: 'ERR_RING_CLOSED' });
      await f.close().catch(() => undefined);
    } finally {
      fifo.close();
    }
    assert.deepEqual(fdsOpenedSince(fds), [], 'no fd left behind');
  });
});

describe('aborting an in-flight fixed read', { skip: REG_SKIP }, () => {
  for (const form of FORMS) {
    test(`AbortSignal cancels a READ_FIXED on a registered file (${form})`, async () => {
      const ring = new Ring();
      const fifo = makeFifo();
      try {
        const pool = ring.registerBuffers({ count: 1, size: 4096 });
        const f = await File.open(fifo.path, 'r+', 0o666, { ring, register: true });
        assert.equal(f.registered, true);
        const b = pool.acquire()!;
        const ac = new AbortController();
        let p: Promise<number>;
        if (form === 'promise') p = f.read(b, { signal: ac.signal });
        else {
          p = new Promise((resolve, reject) => {
            ring.read(f.fd, b, { signal: ac.signal }, (e, n) => (e ? reject(e) : resolve(n!)));
          });
        }
        setTimeout(() => ac.abort(new Error('stop')), 20);
        const e = await rejection(p, 'aborted read');
        assert.equal(e.name, 'AbortError');
        assert.equal((e as { cause?: Error }).cause?.message, 'stop');
        assert.equal(pool.stats().fixedReads, 1);
        // The buffer is free to reuse: the next read on it completes normally.
        fifo.write('hello');
        assert.equal(await f.read(b), 5);
        assert.equal(b.subarray(0, 5).toString(), 'hello');
        pool.release(b);
        await f.close();
        assert.equal(ring.stats().inFlight, 0);
      } finally {
        fifo.close();
        await ring.close();
      }
    });
  }
});

describe('registered file table', { skip: REG_SKIP }, () => {
  test('File.open registers by default; close clears the entry before the index is reused', async () => {
    const ring = new Ring();
    try {
      const a = tmp.file('a');
      const c = tmp.file('c');
      fs.writeFileSync(a, 'AAAA');
      fs.writeFileSync(c, 'CCCC');
      const fa = await File.open(a, 'r', 0o666, { ring });
      assert.equal(fa.registered, true);
      const stats = ring.fileTableStats()!;
      assert.equal(stats.installed, 1);
      // A read staged before the close, then the close: the read sees A (or EBADF), never another file.
      const buf = Buffer.alloc(4);
      const read = fa.read(buf, { position: 0 }).then((n) => buf.subarray(0, n).toString(), (e: Error) => e);
      const closed = fa.close();
      const fc = await File.open(c, 'r', 0o666, { ring });
      const got = await read;
      if (typeof got === 'string') assert.equal(got, 'AAAA');
      else assert.equal((got as { code?: string }).code, 'EBADF');
      await closed;
      const b2 = Buffer.alloc(4);
      assert.equal(await fc.read(b2, { position: 0 }), 4);
      assert.equal(b2.toString(), 'CCCC');
      await fc.close();
      assert.deepEqual(ring.fileTableStats(), { size: stats.size, installed: 0, free: stats.size });
      const plain = await File.open(a, 'r', 0o666, { ring, register: false });
      assert.equal(plain.registered, false);
      await plain.close();
    } finally {
      await ring.close();
    }
  });

  test('2,000 opens and closes (many concurrent): every File reads its own file, table and fds consistent', async () => {
    const files = Array.from({ length: 16 }, (_, i) => {
      const p = tmp.file(`many-${i}`);
      fs.writeFileSync(p, `file-${String(i).padStart(4, '0')}`);
      return p;
    });
    const fds = fdSnapshot();
    const ring = new Ring();
    try {
      for (let round = 0; round < 125; round++) {
        await Promise.all(files.map(async (p, i) => {
          const f = await File.open(p, 'r', 0o666, { ring });
          assert.equal(f.registered, true);
          const b = Buffer.alloc(9);
          const n = await f.read(b, { position: 0 });
          assert.equal(b.subarray(0, n).toString(), `file-${String(i).padStart(4, '0')}`);
          // Close half of them with a read still in flight.
          if (i % 2 === 0) {
            const late = f.read(Buffer.alloc(9), { position: 0 }).catch((e: Error) => e);
            await f.close();
            await late;
          } else {
            await f.close();
          }
        }));
      }
      const s = ring.fileTableStats()!;
      assert.equal(s.installed, 0);
      assert.equal(s.free, s.size);
    } finally {
      await ring.close();
    }
    assert.deepEqual(fdsOpenedSince(fds), [], 'no fd leaked');
  });

  test('register: true fails clearly where there is no table (mock backend) and closes the fd', async () => {
    const mock = new MockBackend({ autoAdvance: true });
    mock.fs.writeFile('/f', 'data');
    const ring = new Ring({ backend: mock });
    try {
      const e = await rejection(File.open('/f', 'r', 0o666, { ring, register: true }), 'strict register');
      assert.match(String((e as { code?: string }).code), /^(EOPNOTSUPP|ENOTSUP)$/); // one errno, two names
      const f = await File.open('/f', 'r', 0o666, { ring });
      assert.equal(f.registered, false, "'auto' falls back to the plain fd");
      const b = Buffer.alloc(4);
      assert.equal(await f.read(b, { position: 0 }), 4);
      await f.close();
      assert.equal(ring.stats().inFlight, 0);
    } finally {
      await ring.close();
    }
  });

  test('bad register option throws synchronously', () => {
    assertThrowsCoded(() => File.open(tmp.file('x'), 'r', 0o666, { register: 'yes' as never }), VALUE, 'register');
  });
});


describe('O_DIRECT with pool buffers', { skip: REG_SKIP }, () => {
  test('aligned fixed reads and writes bypass the page cache; a misaligned window is a clear EINVAL', async () => {
    const ring = new Ring();
    const dir = directIoDir();
    try {
      const pool = ring.registerBuffers({ count: 2, size: 65_536 });
      const b = pool.acquire()!;
      if (dir === undefined) {
        // No filesystem here takes O_DIRECT: opening with it is the clear error path.
        const e = await rejection(File.open(tmp.file('odirect'), fs.constants.O_RDWR | fs.constants.O_CREAT |
          fs.constants.O_DIRECT, 0o600, { ring }), 'O_DIRECT open');
        assert.equal((e as { code?: string }).code, 'EINVAL');
        return;
      }
      const p = path.join(dir, 'data');
      const f = await File.open(p, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_DIRECT, 0o600, { ring });
      try {
        const data = pattern(65_536, 21);
        data.copy(b);
        assert.equal(await f.write(b, { position: 0 }), 65_536);
        assert.equal(await f.write(b, { position: 2 ** 32, length: 4096 }), 4096);
        await f.datasync();
        b.fill(0);
        assert.equal(await f.read(b, { position: 0 }), 65_536);
        assert.deepEqual(b, data);
        b.fill(0);
        assert.equal(await f.read(b, { position: 2 ** 32, length: 4096 }), 4096);
        assert.deepEqual(b.subarray(0, 4096), data.subarray(0, 4096));
        assert.equal(pool.stats().fixedReads, 2);
        assert.equal(pool.stats().fixedWrites, 2);
        const disk = Buffer.alloc(65_536);
        const fd = fs.openSync(p, 'r');
        fs.readSync(fd, disk, 0, 65_536, 0);
        fs.closeSync(fd);
        assert.deepEqual(disk, data, 'on disk');
        // Misaligned: the buffer window (offset 1) and the position (1).
        const e1 = await rejection(f.read(b, { offset: 1, length: 4096, position: 0 }), 'misaligned buffer');
        assert.equal((e1 as { code?: string }).code, 'EINVAL');
        assert.match(e1.message, /^EINVAL: invalid argument, read/);
        const e2 = await rejection(f.read(b, { length: 4096, position: 1 }), 'misaligned position');
        assert.equal((e2 as { code?: string }).code, 'EINVAL');
      } finally {
        await f.close();
      }
    } finally {
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
      await ring.close();
    }
  });
});
