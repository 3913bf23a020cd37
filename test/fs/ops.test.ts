/**
 * Every file operation of the ring, in its promise form and its callback
 * form, with the result checked against node:fs (what is on disk, what
 * fs.stat says, what fs.readSync reads).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { BigIntStats, Ring, Stats } from '../../src/index.js';
import { FORMS, call, isOpen, pattern, rejection, tmpDir, type TmpDir } from '../helpers/fs-util.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

const ring = Ring.current();
const O_CLOEXEC = 0o2000000;
const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;

let tmp: TmpDir;
before(() => {
  tmp = tmpDir('uringkit-ops-');
});
after(() => tmp.remove());

let seq = 0;
/** A new file in the temp dir holding `data` (default: 64 KiB pattern). */
function fixture(data: Buffer | string = pattern(65536, ++seq)): string {
  const p = tmp.file(`f${++seq}`);
  fs.writeFileSync(p, data);
  return p;
}

function fdFlags(fd: number): number {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const m = /^flags:\s+([0-7]+)$/m.exec(info);
  assert.ok(m, info);
  return parseInt(m[1]!, 8);
}


/** Field-by-field comparison of our Stats with node's. */
function assertSameStats(ours: Stats | BigIntStats, theirs: fs.Stats | fs.BigIntStats, label: string,
  times = true): void {
  const pick = (s: object, keys: readonly string[]) =>
    Object.fromEntries(keys.map((k) => [k, (s as Record<string, unknown>)[k]]));
  const keys = ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blksize', 'blocks'];
  if (times) keys.push('atimeMs', 'mtimeMs', 'ctimeMs', 'birthtimeMs');
  if (times && ours instanceof BigIntStats) keys.push('atimeNs', 'mtimeNs', 'ctimeNs', 'birthtimeNs');
  assert.deepEqual(pick(ours, keys), pick(theirs, keys), label);
  for (const d of times ? ['atime', 'mtime', 'ctime', 'birthtime'] as const : []) {
    assert.ok(ours[d] instanceof Date, `${label}: ${d} is a Date`);
    // Within a millisecond here; the exact (rounded) value has its own test below.
    const diff = Math.abs(ours[d].getTime() - theirs[d].getTime());
    assert.ok(diff <= 1, `${label}: ${d} ${ours[d].toISOString()} vs ${theirs[d].toISOString()}`);
  }
  for (const m of ['isFile', 'isDirectory', 'isSymbolicLink', 'isFIFO', 'isCharacterDevice', 'isBlockDevice',
    'isSocket'] as const) {
    assert.equal(ours[m](), theirs[m](), `${label}: ${m}()`);
  }
}

for (const form of FORMS) {
  describe(`file operations (${form} form)`, () => {
    test('open: flags strings and numbers, mode, O_CLOEXEC always', async () => {
      const p = fixture('hello');
      const fd = await call<number>(form, ring, 'open', p, 'r', undefined, undefined);
      try {
        assert.ok(Number.isInteger(fd) && fd >= 0);
        assert.equal(fs.fstatSync(fd).ino, fs.statSync(p).ino, 'the fd is the file');
        assert.equal(fdFlags(fd) & O_CLOEXEC, O_CLOEXEC, 'O_CLOEXEC is set');
        assert.equal(fdFlags(fd) & 3, fs.constants.O_RDONLY);
        const b = Buffer.alloc(5);
        assert.equal(fs.readSync(fd, b, 0, 5, 0), 5);
        assert.equal(b.toString(), 'hello');
      } finally {
        fs.closeSync(fd);
      }

      // 'wx' creates with the mode (less the umask), exclusive.
      const created = tmp.file(`created-${form}`);
      const umask = process.umask();
      const wfd = await call<number>(form, ring, 'open', created, 'wx', 0o640, undefined);
      try {
        assert.equal(fs.statSync(created).mode & 0o777, 0o640 & ~umask);
        assert.equal(fdFlags(wfd) & 3, fs.constants.O_WRONLY);
        assert.equal(fdFlags(wfd) & O_CLOEXEC, O_CLOEXEC);
      } finally {
        fs.closeSync(wfd);
      }
      const e = await rejection(call(form, ring, 'open', created, 'wx', 0o640, undefined));
      assert.equal(e.code, 'EEXIST');

      // Numeric flags; 'a' appends.
      const nfd = await call<number>(form, ring, 'open', p, fs.constants.O_RDWR | fs.constants.O_APPEND, 0o666, {});
      try {
        assert.equal(fdFlags(nfd) & (3 | fs.constants.O_APPEND), fs.constants.O_RDWR | fs.constants.O_APPEND);
        fs.writeSync(nfd, '!');
        assert.equal(fs.readFileSync(p, 'utf8'), 'hello!');
      } finally {
        fs.closeSync(nfd);
      }
      // A URL and a Buffer path name the same file.
      for (const alias of [new URL(`file://${p}`), Buffer.from(p)]) {
        const afd = await call<number>(form, ring, 'open', alias, 'r', undefined, undefined);
        assert.equal(fs.fstatSync(afd).ino, fs.statSync(p).ino);
        fs.closeSync(afd);
      }
    });

    test('read: positioned, into offset/length windows of Buffers, typed arrays and DataViews', async () => {
      const data = pattern(65536, 1);
      const p = fixture(data);
      const fd = fs.openSync(p, 'r');
      try {
        const buf = Buffer.alloc(1000, 0xee);
        const n = await call<number>(form, ring, 'read', fd, buf, { offset: 100, length: 500, position: 12345 });
        assert.equal(n, 500);
        const expect = Buffer.alloc(1000, 0xee);
        fs.readSync(fd, expect, 100, 500, 12345);
        assert.deepEqual(buf, expect);
        assert.deepEqual(buf.subarray(100, 600), data.subarray(12345, 12845));

        // Whole buffer, bigint position.
        const whole = Buffer.alloc(4096);
        assert.equal(await call<number>(form, ring, 'read', fd, whole, { position: 4096n }), 4096);
        assert.deepEqual(whole, data.subarray(4096, 8192));

        // A Uint16Array over part of a larger ArrayBuffer: offsets are in bytes.
        const ab = new ArrayBuffer(64);
        const u16 = new Uint16Array(ab, 16, 8);
        assert.equal(await call<number>(form, ring, 'read', fd, u16, { offset: 2, length: 10, position: 7 }), 10);
        const bytes = new Uint8Array(ab);
        assert.deepEqual(Buffer.from(bytes.subarray(18, 28)), data.subarray(7, 17));
        assert.ok(bytes.subarray(0, 18).every((x) => x === 0) && bytes.subarray(28).every((x) => x === 0),
          'nothing outside the window is written');

        const dv = new DataView(new ArrayBuffer(32), 8, 16);
        assert.equal(await call<number>(form, ring, 'read', fd, dv, { position: 100 }), 16);
        assert.deepEqual(Buffer.from(dv.buffer, 8, 16), data.subarray(100, 116));

        // length 0 reads nothing.
        assert.equal(await call<number>(form, ring, 'read', fd, Buffer.alloc(8), { length: 0, position: 0 }), 0);
      } finally {
        fs.closeSync(fd);
      }
    });

    test('write: Buffers, windows, strings with encodings; data matches fs.readFileSync', async () => {
      const p = fixture(Buffer.alloc(0));
      const fd = fs.openSync(p, 'r+');
      try {
        const data = pattern(8192, 2);
        assert.equal(await call<number>(form, ring, 'write', fd, data, { position: 0 }), 8192);
        assert.equal(await call<number>(form, ring, 'write', fd, data, { offset: 10, length: 20, position: 100 }), 20);
        assert.equal(await call<number>(form, ring, 'write', fd, 'héllo', { position: 8192 }), 6, 'utf8 by default');
        assert.equal(await call<number>(form, ring, 'write', fd, 'cafe', { position: 8198, encoding: 'hex' }), 2);
        assert.equal(await call<number>(form, ring, 'write', fd, 'ÿ', { position: 8200, encoding: 'latin1' }), 1);
        assert.equal(await call<number>(form, ring, 'write', fd, new Uint32Array([0x04030201]), { position: 8201 }), 4);
        const expect = Buffer.concat([data, Buffer.from('héllo'), Buffer.from([0xca, 0xfe, 0xff, 1, 2, 3, 4])]);
        data.copy(expect, 100, 10, 30);
        assert.deepEqual(fs.readFileSync(p), expect);
      } finally {
        fs.closeSync(fd);
      }
    });

    test('readv / writev: several buffers, positioned', async () => {
      const p = fixture(Buffer.alloc(0));
      const fd = fs.openSync(p, 'r+');
      try {
        const parts = [pattern(100, 3), Buffer.alloc(0), pattern(5000, 4), new Uint8Array(pattern(7, 5))];
        const total = 5107;
        assert.equal(await call<number>(form, ring, 'writev', fd, parts, { position: 10 }), total);
        const onDisk = fs.readFileSync(p);
        assert.equal(onDisk.length, 10 + total);
        assert.deepEqual(onDisk.subarray(10), Buffer.concat(parts));
        assert.ok(onDisk.subarray(0, 10).every((x) => x === 0));

        const outs = [Buffer.alloc(3), Buffer.alloc(4000), new Uint16Array(10)];
        assert.equal(await call<number>(form, ring, 'readv', fd, outs, { position: 20 }), 4023);
        const got = Buffer.concat([outs[0] as Buffer, outs[1] as Buffer, Buffer.from((outs[2] as Uint16Array).buffer)]);
        assert.deepEqual(got, onDisk.subarray(20, 20 + 4023));

        // Past the end: short, then 0.
        const tail = [Buffer.alloc(8), Buffer.alloc(8)];
        assert.equal(await call<number>(form, ring, 'readv', fd, tail, { position: onDisk.length - 12 }), 12);
        assert.deepEqual(Buffer.concat(tail).subarray(0, 12), onDisk.subarray(onDisk.length - 12));
        assert.equal(await call<number>(form, ring, 'readv', fd, tail, { position: onDisk.length }), 0);
      } finally {
        fs.closeSync(fd);
      }
    });

    test('fsync / fdatasync: resolve on a file, reach the kernel (EBADF on a closed fd)', async () => {
      const p = fixture('x');
      const fd = fs.openSync(p, 'r+');
      fs.writeSync(fd, 'y', 0);
      assert.equal(await call(form, ring, 'fsync', fd, undefined), undefined);
      assert.equal(await call(form, ring, 'fdatasync', fd, undefined), undefined);
      fs.closeSync(fd);
      for (const op of ['fsync', 'fdatasync']) {
        const e = await rejection(call(form, ring, op, fd, undefined), op);
        assert.equal(e.code, 'EBADF', op);
        assert.equal(e.syscall, op);
      }
    });

    test('fallocate: extends, KEEP_SIZE keeps the size, PUNCH_HOLE zeroes',
      { skip: skipUnlessIoUring('needs fallocate(2) reserving blocks and punching holes (portable: ftruncate, EOPNOTSUPP)') }, async () => {
      const p = fixture(Buffer.alloc(0));
      const fd = fs.openSync(p, 'r+');
      try {
        await call(form, ring, 'fallocate', fd, 0, 1 << 20, undefined);
        let st = fs.fstatSync(fd);
        assert.equal(st.size, 1 << 20);
        assert.ok(st.blocks * 512 >= 1 << 20, `blocks ${st.blocks}`);

        await call(form, ring, 'fallocate', fd, 1 << 20, 1 << 20, { mode: FALLOC_FL_KEEP_SIZE });
        st = fs.fstatSync(fd);
        assert.equal(st.size, 1 << 20, 'KEEP_SIZE');
        assert.ok(st.blocks * 512 >= 2 << 20, `blocks ${st.blocks}`);

        fs.writeSync(fd, Buffer.alloc(65536, 0xab), 0, 65536, 0);
        await call(form, ring, 'fallocate', fd, 4096, 8192, { mode: FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE });
        const back = Buffer.alloc(65536);
        fs.readSync(fd, back, 0, 65536, 0);
        const expect = Buffer.alloc(65536, 0xab);
        expect.fill(0, 4096, 12288);
        assert.deepEqual(back, expect);
      } finally {
        fs.closeSync(fd);
      }
    });

    test('ftruncate: shrinks, extends with zeros, default length 0', async () => {
      const data = pattern(10000, 6);
      const p = fixture(data);
      const fd = fs.openSync(p, 'r+');
      try {
        await call(form, ring, 'ftruncate', fd, 1234, undefined);
        assert.deepEqual(fs.readFileSync(p), data.subarray(0, 1234));
        await call(form, ring, 'ftruncate', fd, 3000, undefined);
        assert.deepEqual(fs.readFileSync(p), Buffer.concat([data.subarray(0, 1234), Buffer.alloc(3000 - 1234)]));
        await call(form, ring, 'ftruncate', fd, undefined, undefined);
        assert.equal(fs.statSync(p).size, 0);
      } finally {
        fs.closeSync(fd);
      }
      const ro = fs.openSync(p, 'r');
      fs.closeSync(ro);
      const e = await rejection(call(form, ring, 'ftruncate', ro, 0, undefined));
      assert.equal(e.code, 'EBADF');
    });

    test('fadvise: every advice on a file; ESPIPE on a pipe', async () => {
      const p = fixture();
      const fd = fs.openSync(p, 'r');
      try {
        for (let advice = 0; advice <= 5; advice++) {
          assert.equal(await call(form, ring, 'fadvise', fd, 0, 4096, advice, undefined), undefined, `advice ${advice}`);
        }
        assert.equal(await call(form, ring, 'fadvise', fd, 2 ** 33, 0, 0, undefined), undefined);
      } finally {
        fs.closeSync(fd);
      }
      const fifo = tmp.file(`fifo-fadvise-${form}`);
      execFileSync('mkfifo', [fifo]);
      const pfd = fs.openSync(fifo, fs.constants.O_RDWR);
      try {
        const e = await rejection(call(form, ring, 'fadvise', pfd, 0, 0, 0, undefined));
        assert.equal(e.code, 'ESPIPE');
        assert.equal(e.syscall, 'fadvise');
      } finally {
        fs.closeSync(pfd);
      }
    });

    test('statx: path, fd, lstat, bigint; fields equal fs.stat / fs.lstat / fs.fstat', async () => {
      const p = fixture(pattern(12345, 7));
      const link = tmp.file(`link-${form}`);
      fs.symlinkSync(p, link);
      const s1 = await call<Stats>(form, ring, 'statx', p, undefined);
      assert.ok(s1 instanceof Stats);
      assertSameStats(s1, fs.statSync(p), 'stat(file)');
      assert.equal(s1.size, 12345);
      assert.ok(s1.isFile());

      assertSameStats(await call<Stats>(form, ring, 'statx', link, {}), fs.statSync(link), 'stat(symlink) follows');
      const ls = await call<Stats>(form, ring, 'statx', link, { followSymlinks: false });
      assertSameStats(ls, fs.lstatSync(link), 'lstat(symlink)');
      assert.ok(ls.isSymbolicLink());

      const big = await call<BigIntStats>(form, ring, 'statx', p, { bigint: true });
      assert.ok(big instanceof BigIntStats);
      assert.equal(typeof big.size, 'bigint');
      assertSameStats(big, fs.statSync(p, { bigint: true }), 'stat(file, bigint)');

      const fd = fs.openSync(p, 'r');
      try {
        assertSameStats(await call<Stats>(form, ring, 'statx', fd, undefined), fs.fstatSync(fd), 'fstat');
        assertSameStats(await call<BigIntStats>(form, ring, 'statx', fd, { bigint: true }),
          fs.fstatSync(fd, { bigint: true }), 'fstat bigint');
      } finally {
        fs.closeSync(fd);
      }
      assertSameStats(await call<Stats>(form, ring, 'statx', tmp.dir, undefined), fs.statSync(tmp.dir), 'stat(dir)');
      const dn = await call<Stats>(form, ring, 'statx', '/dev/null', undefined);
      // Other processes write to /dev/null: its times may move between the two stats.
      assertSameStats(dn, fs.statSync('/dev/null'), 'stat(/dev/null)', false);
      assert.ok(dn.isCharacterDevice() && dn.rdev !== 0);
    });

    test('unlink / rmdir / mkdir / rename / symlink / link', async () => {
      const base = tmp.file(`paths-${form}`);
      fs.mkdirSync(base);
      const a = `${base}/a`;
      fs.writeFileSync(a, 'content-a');

      await call(form, ring, 'link', a, `${base}/hard`, undefined);
      assert.equal(fs.statSync(`${base}/hard`).ino, fs.statSync(a).ino);
      assert.equal(fs.statSync(a).nlink, 2);

      await call(form, ring, 'symlink', 'a', `${base}/soft`, undefined);
      assert.equal(fs.readlinkSync(`${base}/soft`), 'a');
      assert.equal(fs.readFileSync(`${base}/soft`, 'utf8'), 'content-a');

      await call(form, ring, 'rename', a, `${base}/b`, undefined);
      assert.equal(fs.existsSync(a), false);
      assert.equal(fs.readFileSync(`${base}/b`, 'utf8'), 'content-a');

      await call(form, ring, 'unlink', `${base}/b`, undefined);
      assert.equal(fs.existsSync(`${base}/b`), false);
      assert.equal(fs.statSync(`${base}/hard`).nlink, 1);

      const umask = process.umask();
      assert.equal(await call(form, ring, 'mkdir', `${base}/d`, { mode: 0o750 }), undefined);
      const st = fs.statSync(`${base}/d`);
      assert.ok(st.isDirectory());
      assert.equal(st.mode & 0o777, 0o750 & ~umask);
      assert.equal(await call(form, ring, 'mkdir', `${base}/e`, undefined), undefined);
      assert.equal(fs.statSync(`${base}/e`).mode & 0o777, 0o777 & ~umask, 'default mode 0o777');

      await call(form, ring, 'rmdir', `${base}/d`, undefined);
      assert.equal(fs.existsSync(`${base}/d`), false);
      const e = await rejection(call(form, ring, 'rmdir', `${base}/hard`, undefined));
      assert.equal(e.code, 'ENOTDIR');
    });

    test('splice: file -> pipe -> file, with offsets', async () => {
      const data = pattern(50000, 8);
      const src = fixture(data);
      const dst = fixture(Buffer.alloc(0));
      const fifo = tmp.file(`fifo-splice-${form}`);
      execFileSync('mkfifo', [fifo]);
      const pipe = fs.openSync(fifo, fs.constants.O_RDWR);
      const inFd = fs.openSync(src, 'r');
      const outFd = fs.openSync(dst, 'r+');
      try {
        const n = await call<number>(form, ring, 'splice', inFd, 1000, pipe, null, 30000, undefined);
        assert.ok(n > 0 && n <= 30000, `moved ${n}`);
        const m = await call<number>(form, ring, 'splice', pipe, null, outFd, 7, n, undefined);
        assert.equal(m, n);
        const out = fs.readFileSync(dst);
        assert.equal(out.length, 7 + n);
        assert.deepEqual(out.subarray(7), data.subarray(1000, 1000 + n));
        // Neither side is a pipe: EINVAL from the kernel.
        const e = await rejection(call(form, ring, 'splice', inFd, 0, outFd, 0, 10, undefined));
        assert.equal(e.code, 'EINVAL');
        assert.equal(e.syscall, 'splice');
      } finally {
        fs.closeSync(pipe);
        fs.closeSync(inFd);
        fs.closeSync(outFd);
      }
    });

    test('closeFd: the descriptor is closed; closing it again is EBADF', async () => {
      const fd = fs.openSync(fixture('z'), 'r');
      assert.ok(isOpen(fd));
      assert.equal(await call(form, ring, 'closeFd', fd, undefined), undefined);
      assert.equal(isOpen(fd), false);
      const e = await rejection(call(form, ring, 'closeFd', fd, undefined));
      assert.equal(e.code, 'EBADF');
      assert.equal(e.syscall, 'close');
    });
  });
}

describe('short callback forms', () => {
  test('open(path, cb), open(path, flags, cb), read(fd, buf, cb), write(fd, data, cb), statx(path, cb)', async () => {
    const p = fixture('abcdef');
    const fd = await new Promise<number>((resolve, reject) => {
      const r = ring.open(p, (err, v) => (err ? reject(err) : resolve(v!)));
      assert.equal(r, undefined);
    });
    const buf = Buffer.alloc(3);
    const n = await new Promise<number>((resolve, reject) => {
      ring.read(fd, buf, (err, v) => (err ? reject(err) : resolve(v!)));
    });
    assert.equal(n, 3);
    assert.equal(buf.toString(), 'abc');
    // The current position advanced.
    assert.equal(await new Promise<number>((resolve, reject) => {
      ring.read(fd, buf, (err, v) => (err ? reject(err) : resolve(v!)));
    }), 3);
    assert.equal(buf.toString(), 'def');
    fs.closeSync(fd);

    const wfd = await new Promise<number>((resolve, reject) => {
      ring.open(p, 'a', (err, v) => (err ? reject(err) : resolve(v!)));
    });
    assert.equal(await new Promise<number>((resolve, reject) => {
      ring.write(wfd, 'ghi', (err, v) => (err ? reject(err) : resolve(v!)));
    }), 3);
    fs.closeSync(wfd);
    assert.equal(fs.readFileSync(p, 'utf8'), 'abcdefghi');

    const st = await new Promise<Stats>((resolve, reject) => {
      (ring.statx as (t: string, cb: (e: Error | null, s?: Stats) => void) => void)(p,
        (err, v) => (err ? reject(err) : resolve(v!)));
    });
    assert.equal(st.size, 9);
  });
});

describe('Stats dates', () => {
  test('atime/mtime Date objects equal fs.Stats\' (ms rounded to nearest, as node does)', async () => {
    const p = fixture('dates');
    // 0.7 ms past a whole millisecond: node's Date is rounded up, a truncating one is 1 ms early.
    const t = 1_700_000_000.0007;
    fs.utimesSync(p, t, t);
    const theirs = fs.statSync(p);
    assert.equal(theirs.mtime.getTime(), 1_700_000_000_001, 'node rounds (precondition)');
    for (const form of FORMS) {
      const ours = await call<Stats>(form, ring, 'statx', p, undefined);
      assert.equal(ours.mtimeMs, theirs.mtimeMs, `${form}: mtimeMs`);
      assert.equal(ours.atime.getTime(), theirs.atime.getTime(), `${form}: atime`);
      assert.equal(ours.mtime.getTime(), theirs.mtime.getTime(), `${form}: mtime`);
    }
  });
});
