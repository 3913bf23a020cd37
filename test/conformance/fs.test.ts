/**
 * Conformance, file operations: the same bodies against io_uring (a real
 * temp directory) and the MockBackend (its in-memory file system).
 *
 * Known differences between the backends (also in
 * docs/guides/testing-with-mock.md), none of which these bodies depend on:
 *  - the mock's file system is its own: node:fs does not see it, and the
 *    mock does not see the disk (fds it did not open are EBADF);
 *  - no permission model in the mock (everything runs as root: no EACCES or
 *    EPERM from modes; use a fault or a handler to test those paths);
 *  - stat: the mock reports its own dev (0:0x4d), inode numbers, uid/gid
 *    (0 by default), blocks = ceil(stored bytes / 4096) × 8 and times from
 *    its clock (virtual: 2024-01-01T00:00:00Z + clock.now());
 *  - the mock applies umask 0o022 (option `fs.umask`), the kernel applies
 *    the process umask;
 *  - open flags other than the access mode, O_CREAT, O_EXCL, O_TRUNC,
 *    O_APPEND, O_DIRECTORY and O_NOFOLLOW are ignored by the mock (O_SYNC,
 *    O_DIRECT, O_NONBLOCK, O_NOATIME ...);
 *  - ftruncate: the mock always runs it on the ring (it reports
 *    IORING_OP_FTRUNCATE); on kernels before 6.9 the io_uring backend falls
 *    back to libuv's thread pool;
 *  - splice has no built-in model in the mock (it needs a handler).
 */
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { copyFile, File, readFile, type Ring, writeFile } from '../../src/index.js';
import { backends, describeBackend, outcome, shape } from './backends.js';

for (const b of backends()) {
  describeBackend(b, 'file operations', () => {
    let ring: Ring;
    let dir: string;
    beforeEach(() => {
      ring = b.makeRing();
      dir = b.dir();
    });

    /** Rejection of `p`, as a shape. */
    async function failure(p: Promise<unknown>): Promise<Record<string, unknown>> {
      const o = await outcome(p);
      assert.ok(!o.ok, 'expected a rejection');
      return shape(o.error);
    }

    test('open / write / read / close round trip, with file positions', async () => {
      const p = `${dir}/a.txt`;
      const fd = await ring.open(p, 'w+', 0o644);
      assert.ok(Number.isInteger(fd) && fd >= 0);
      assert.equal(await ring.write(fd, 'hello '), 6);
      assert.equal(await ring.write(fd, Buffer.from('world')), 5);
      assert.equal(await ring.write(fd, 'W', { position: 6 }), 1);
      const buf = Buffer.alloc(32);
      assert.equal(await ring.read(fd, buf, { position: 0 }), 11);
      assert.equal(buf.toString('utf8', 0, 11), 'hello World');
      assert.equal(await ring.read(fd, buf), 0, 'the current position is at the end');
      await ring.closeFd(fd);
      assert.equal(b.readFile(p).toString(), 'hello World');
      const r = await ring.open(p);
      assert.equal(await ring.read(r, buf, { length: 5 }), 5);
      assert.equal(await ring.read(r, buf, { length: 6 }), 6);
      assert.equal(buf.toString('utf8', 0, 6), ' World');
      await ring.closeFd(r);
    });

    test('append and truncate flags', async () => {
      const p = `${dir}/log`;
      b.writeFile(p, 'a');
      const fd = await ring.open(p, 'a');
      await ring.write(fd, 'b');
      await ring.write(fd, 'c');
      await ring.closeFd(fd);
      assert.equal(b.readFile(p).toString(), 'abc');
      await ring.closeFd(await ring.open(p, 'w'));
      assert.equal(b.readFile(p).length, 0);
    });

    test('statx: files, directories, fds, symlinks, bigint', async () => {
      b.writeFile(`${dir}/f`, '12345');
      const st = await ring.statx(`${dir}/f`);
      assert.ok(st.isFile() && !st.isDirectory());
      assert.equal(st.size, 5);
      assert.equal(st.nlink, 1);
      assert.ok(st.mtime instanceof Date);
      assert.ok((await ring.statx(dir)).isDirectory());
      const fd = await ring.open(`${dir}/f`);
      assert.equal((await ring.statx(fd)).size, 5);
      await ring.closeFd(fd);
      const big = await ring.statx(`${dir}/f`, { bigint: true });
      assert.equal(big.size, 5n);
      await ring.symlink('f', `${dir}/l`);
      assert.ok((await ring.statx(`${dir}/l`)).isFile());
      assert.ok((await ring.statx(`${dir}/l`, { followSymlinks: false })).isSymbolicLink());
    });

    test('unlink, mkdir, rmdir, rename, link round trips', async () => {
      b.writeFile(`${dir}/f`, 'data');
      await ring.rename(`${dir}/f`, `${dir}/g`);
      assert.ok(!b.exists(`${dir}/f`));
      assert.equal(b.readFile(`${dir}/g`).toString(), 'data');
      await ring.link(`${dir}/g`, `${dir}/h`);
      assert.equal((await ring.statx(`${dir}/g`)).nlink, 2);
      await ring.unlink(`${dir}/g`);
      assert.equal(b.readFile(`${dir}/h`).toString(), 'data');
      await ring.mkdir(`${dir}/d`);
      assert.ok((await ring.statx(`${dir}/d`)).isDirectory());
      await ring.rename(`${dir}/h`, `${dir}/d/h`);
      assert.equal(await ring.mkdir(`${dir}/x/y/z`, { recursive: true }), `${dir}/x`);
      assert.equal(await ring.mkdir(`${dir}/x/y/z`, { recursive: true }), undefined);
      await ring.rmdir(`${dir}/x/y/z`);
      assert.ok(!b.exists(`${dir}/x/y/z`));
      await ring.unlink(`${dir}/d/h`);
      await ring.rmdir(`${dir}/d`);
      assert.ok(!b.exists(`${dir}/d`));
    });

    test('ENOENT: shape (code, errno, syscall, path, dest)', async () => {
      const missing = `${dir}/missing`;
      const E = { name: 'Error', code: 'ENOENT', errno: -2 };
      assert.deepEqual(await failure(ring.open(missing)), { ...E, syscall: 'open', path: missing });
      assert.deepEqual(await failure(ring.statx(missing)), { ...E, syscall: 'stat', path: missing });
      assert.deepEqual(await failure(ring.unlink(missing)), { ...E, syscall: 'unlink', path: missing });
      assert.deepEqual(await failure(ring.rmdir(missing)), { ...E, syscall: 'rmdir', path: missing });
      assert.deepEqual(await failure(ring.mkdir(`${missing}/sub`)), { ...E, syscall: 'mkdir', path: `${missing}/sub` });
      assert.deepEqual(await failure(ring.rename(missing, `${dir}/to`)),
        { ...E, syscall: 'rename', path: missing, dest: `${dir}/to` });
      const o = await outcome(ring.open(missing));
      assert.ok(!o.ok);
      assert.equal(o.error.message, `ENOENT: no such file or directory, open '${missing}'`);
    });

    test('EEXIST, EISDIR, ENOTDIR, ENOTEMPTY', async () => {
      b.writeFile(`${dir}/f`, 'x');
      b.mkdir(`${dir}/d/sub`);
      assert.deepEqual(await failure(ring.mkdir(`${dir}/d`)),
        { name: 'Error', code: 'EEXIST', errno: -17, syscall: 'mkdir', path: `${dir}/d` });
      assert.deepEqual(await failure(ring.open(`${dir}/f`, 'wx')),
        { name: 'Error', code: 'EEXIST', errno: -17, syscall: 'open', path: `${dir}/f` });
      assert.deepEqual(await failure(ring.symlink('f', `${dir}/f`)),
        { name: 'Error', code: 'EEXIST', errno: -17, syscall: 'symlink', path: 'f', dest: `${dir}/f` });
      assert.equal((await failure(ring.open(`${dir}/d`, 'w'))).code, 'EISDIR');
      assert.equal((await failure(ring.unlink(`${dir}/d`))).code, 'EISDIR');
      assert.equal((await failure(ring.open(`${dir}/f/x`))).code, 'ENOTDIR');
      assert.equal((await failure(ring.rmdir(`${dir}/f`))).code, 'ENOTDIR');
      assert.equal((await failure(ring.rmdir(`${dir}/d`))).code, 'ENOTEMPTY');
    });

    test('EBADF: shape; wrong access mode', async () => {
      assert.deepEqual(await failure(ring.read(2 ** 30, Buffer.alloc(4))),
        { name: 'Error', code: 'EBADF', errno: -9, syscall: 'read' });
      assert.deepEqual(await failure(ring.write(2 ** 30, 'x')),
        { name: 'Error', code: 'EBADF', errno: -9, syscall: 'write' });
      assert.deepEqual(await failure(ring.statx(2 ** 30)),
        { name: 'Error', code: 'EBADF', errno: -9, syscall: 'fstat' });
      b.writeFile(`${dir}/f`, 'x');
      const r = await ring.open(`${dir}/f`, 'r');
      assert.equal((await failure(ring.write(r, 'y'))).code, 'EBADF');
      await ring.closeFd(r);
      assert.equal((await failure(ring.closeFd(r))).code, 'EBADF');
    });

    test('readv / writev, ftruncate, fallocate, fsync', async () => {
      const fd = await ring.open(`${dir}/v`, 'w+');
      assert.equal(await ring.writev(fd, [Buffer.from('ab'), Buffer.from('cde')]), 5);
      const x = Buffer.alloc(2), y = Buffer.alloc(8);
      assert.equal(await ring.readv(fd, [x, y], { position: 0 }), 5);
      assert.equal(`${x.toString()}${y.toString('utf8', 0, 3)}`, 'abcde');
      await ring.ftruncate(fd, 3);
      assert.equal((await ring.statx(fd)).size, 3);
      await ring.fallocate(fd, 0, 4096);
      assert.equal((await ring.statx(fd)).size, 4096);
      await ring.fsync(fd);
      await ring.fdatasync(fd);
      await ring.closeFd(fd);
      const data = b.readFile(`${dir}/v`);
      assert.equal(data.length, 4096);
      assert.equal(data.toString('utf8', 0, 3), 'abc');
      assert.ok(data.subarray(3).every((c) => c === 0));
    });

    test('File: readAll / writeAll, stat, truncate, close', async () => {
      const data = Buffer.alloc(300_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
      const f = await File.open(`${dir}/big`, 'w+', 0o600, { ring });
      assert.equal(await f.writeAll(data), data.length);
      const back = Buffer.alloc(data.length + 10);
      assert.equal(await f.readAll(back, { position: 0 }), data.length);
      assert.ok(back.subarray(0, data.length).equals(data));
      assert.equal((await f.stat()).size, data.length);
      await f.truncate(10);
      assert.equal((await f.stat()).size, 10);
      await f.close();
      await f.close();
      assert.equal(f.fd, -1);
      assert.ok(b.readFile(`${dir}/big`).equals(data.subarray(0, 10)));
    });

    test('deadlines on file operations that finish in time leave nothing behind', async () => {
      b.writeFile(`${dir}/f`, 'abc');
      const fd = await ring.open(`${dir}/f`, 'r', 0o666, { timeout: 5000 });
      assert.equal((await ring.statx(fd, { timeout: 5000 })).size, 3);
      assert.equal(await ring.read(fd, Buffer.alloc(3), { timeout: 5000 }), 3);
      await ring.fsync(fd, { timeout: 5000 });
      await ring.closeFd(fd, { timeout: 5000 });
      await ring.nop();
      const s = ring.stats();
      assert.equal(s.timedOut, 0);
      assert.equal(s.failed, 0);
      assert.equal(s.inFlight, 0);
      assert.equal(s.staleCqes, 0);
    });

    test('readFile / writeFile / copyFile', async () => {
      const p = `${dir}/text`;
      await writeFile(p, 'héllo', { ring });
      assert.equal(await readFile(p, { ring, encoding: 'utf8' }), 'héllo');
      await writeFile(p, ' world', { ring, flag: 'a' });
      assert.equal(b.readFile(p).toString(), 'héllo world');
      assert.ok((await readFile(p, { ring })).equals(Buffer.from('héllo world')));
      await copyFile(p, `${dir}/copy`, { ring });
      assert.equal(b.readFile(`${dir}/copy`).toString(), 'héllo world');
      const o = await outcome(copyFile(p, `${dir}/copy`, { ring, exclusive: true }));
      assert.ok(!o.ok);
      assert.equal(o.error.code, 'EEXIST');
      const m = await outcome(readFile(`${dir}/none`, { ring }));
      assert.ok(!m.ok);
      assert.deepEqual(shape(m.error), { name: 'Error', code: 'ENOENT', errno: -2, syscall: 'open', path: `${dir}/none` });
    });
  });
}
