/**
 * The File class (an fd bound to a ring, closed by close() or `await using`)
 * and the readFile / writeFile / copyFile helpers: round trips checked
 * against node:fs, /proc files whose stat size is 0, exclusive copies, and
 * no fd left open on any path, success or failure.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { AbortError, BigIntStats, File, Ring, Stats, copyFile, readFile, writeFile } from '../../src/index.js';
import { fdSnapshot, fdsOpenedSince, isOpen, pattern, rejection, tmpDir, type TmpDir } from '../helpers/fs-util.js';

const ring = Ring.current();

let tmp: TmpDir;
before(() => {
  tmp = tmpDir('uringkit-file-');
});
after(() => tmp.remove());


/** The error of `fn`, whether thrown synchronously or as a rejection. */
async function failure(fn: () => unknown): Promise<Error & { code?: unknown; syscall?: unknown; path?: unknown }> {
  try {
    await fn();
  } catch (e) {
    return e as Error & { code?: unknown };
  }
  assert.fail('expected a failure');
}

describe('File', () => {
  test('open, read, write, readv, writev, stat, sync, datasync, truncate, allocate, close', async () => {
    const p = tmp.file('methods');
    const base = fdSnapshot();
    const f = await File.open(p, 'w+', 0o600);
    assert.ok(f.fd >= 0 && isOpen(f.fd));
    assert.equal(f.ring, ring);
    assert.equal(fs.statSync(p).mode & 0o777, 0o600 & ~process.umask());

    const data = pattern(10_000, 21);
    assert.equal(await f.write(data, { position: 0 }), 10_000);
    assert.equal(await f.writev([Buffer.from('ab'), Buffer.from('cd')], { position: 10_000 }), 4);
    assert.deepEqual(fs.readFileSync(p), Buffer.concat([data, Buffer.from('abcd')]));

    const b = Buffer.alloc(100);
    assert.equal(await f.read(b, { position: 50 }), 100);
    assert.deepEqual(b, data.subarray(50, 150));
    const v = [Buffer.alloc(3), Buffer.alloc(3)];
    assert.equal(await f.readv(v, { position: 9_998 }), 6);
    assert.deepEqual(Buffer.concat(v), Buffer.concat([data.subarray(9_998), Buffer.from('abcd')]));

    const st = await f.stat();
    assert.ok(st instanceof Stats);
    assert.equal(st.size, 10_004);
    assert.equal(st.ino, fs.statSync(p).ino);
    const bst = await f.stat({ bigint: true });
    assert.ok(bst instanceof BigIntStats);
    assert.equal(bst.size, 10_004n);

    await f.sync();
    await f.datasync();
    await f.truncate(5);
    assert.deepEqual(fs.readFileSync(p), data.subarray(0, 5));
    await f.truncate();
    assert.equal(fs.statSync(p).size, 0);
    await f.allocate(0, 8192);
    assert.equal(fs.statSync(p).size, 8192);

    const fd = f.fd;
    await f.close();
    assert.equal(f.fd, -1);
    assert.equal(isOpen(fd), false, 'close() closed the descriptor');
    await f.close(); // idempotent
    assert.deepEqual(fdsOpenedSince(base), []);
  });

  test('methods of a closed File fail with EBADF and submit nothing', async () => {
    const f = await File.open(tmp.file('methods'), 'w+');
    await f.close();
    const before = ring.stats().submitted;
    const calls: [string, () => unknown][] = [
      ['read', () => f.read(Buffer.alloc(1))],
      ['write', () => f.write('x')],
      ['readv', () => f.readv([Buffer.alloc(1)])],
      ['writev', () => f.writev([Buffer.from('x')])],
      ['readAll', () => f.readAll(Buffer.alloc(1))],
      ['writeAll', () => f.writeAll('x')],
      ['stat', () => f.stat()],
      ['sync', () => f.sync()],
      ['datasync', () => f.datasync()],
      ['truncate', () => f.truncate(0)],
      ['allocate', () => f.allocate(0, 1)],
    ];
    for (const [name, fn] of calls) {
      const e = await failure(fn);
      assert.equal(e.code, 'EBADF', `${name}: ${e.message}`);
    }
    assert.equal(ring.stats().submitted, before);
  });

  test('Symbol.asyncDispose closes the fd, also when the block throws', async () => {
    const p = tmp.file('dispose');
    fs.writeFileSync(p, 'disposable');
    const base = fdSnapshot();
    let fd = -1;
    let file: File | undefined;
    {
      await using f = await File.open(p);
      fd = f.fd;
      file = f;
      assert.ok(isOpen(fd));
      const b = Buffer.alloc(10);
      assert.equal(await f.readAll(b, { position: 0 }), 10);
      assert.equal(b.toString(), 'disposable');
    }
    assert.equal(file.fd, -1);
    assert.equal(isOpen(fd), false, 'closed when the block ended');
    assert.deepEqual(fdsOpenedSince(base), []);

    const boom = new Error('boom');
    await assert.rejects(async () => {
      await using f = await File.open(p);
      fd = f.fd;
      file = f;
      throw boom;
    }, (e) => e === boom);
    assert.equal(file.fd, -1);
    assert.equal(isOpen(fd), false, 'closed when the block threw');
    assert.deepEqual(fdsOpenedSince(base), []);

    assert.equal(typeof File.prototype[Symbol.asyncDispose], 'function');
  });

  test('options: ring, signal, timeout; the File uses the ring it was opened with', async () => {
    const p = tmp.file('opts');
    fs.writeFileSync(p, 'ring');
    const own = new Ring();
    try {
      const s0 = own.stats().submitted;
      await using f = await File.open(p, 'r', 0o666, { ring: own });
      assert.equal(f.ring, own);
      assert.equal(await f.read(Buffer.alloc(4), { position: 0 }), 4);
      assert.ok(own.stats().submitted - s0 >= 2, 'open and read went to the given ring');
    } finally {
      await own.close();
    }
    const ac = new AbortController();
    const reason = new Error('no');
    ac.abort(reason);
    const e = await rejection(File.open(p, 'r', 0o666, { signal: ac.signal }));
    assert.ok(e instanceof AbortError);
    assert.equal((e as Error & { cause?: unknown }).cause, reason);
    const te = await rejection(File.open(tmp.file('missing'), 'r', 0o666, { timeout: 10_000 }));
    assert.equal(te.code, 'ENOENT');
    assert.equal(te.path, tmp.file('missing'));
  });

  test('new File(fd) wraps an open fd and closes it', async () => {
    const p = tmp.file('wrap');
    fs.writeFileSync(p, 'wrapped');
    const fd = fs.openSync(p, 'r');
    const f = new File(fd);
    assert.equal(f.fd, fd);
    const b = Buffer.alloc(7);
    assert.equal(await f.read(b, { position: 0 }), 7);
    assert.equal(b.toString(), 'wrapped');
    await f.close();
    assert.equal(isOpen(fd), false);
  });

  test('writeAll / readAll: windows, current position, strings with encodings', async () => {
    const p = tmp.file('all');
    await using f = await File.open(p, 'w+');
    const data = pattern(3 << 20, 22);
    assert.equal(await f.writeAll(data, { position: 0 }), 3 << 20);
    assert.equal(await f.writeAll(data, { offset: 100, length: 50, position: 10 }), 50);
    assert.equal(await f.writeAll('68656c6c6f', { encoding: 'hex', position: 1000 }), 5);
    const expect = Buffer.from(data);
    data.copy(expect, 10, 100, 150);
    Buffer.from('hello').copy(expect, 1000);
    assert.ok(fs.readFileSync(p).equals(expect));
    // Current position: starts at 0 (nothing moved it), advances.
    assert.equal(await f.writeAll('AB'), 2);
    assert.equal(await f.writeAll('CD', { position: null }), 2);
    expect.write('ABCD', 0);
    const back = Buffer.alloc(expect.length);
    assert.equal(await f.readAll(back, { position: 0 }), expect.length);
    assert.ok(back.equals(expect));
  });
});

describe('readFile / writeFile / copyFile', () => {
  test('round trips: empty, small string, 3 MiB; same bytes as node:fs', async () => {
    const base = fdSnapshot();
    const cases: [string, Buffer][] = [
      ['empty', Buffer.alloc(0)],
      ['small', Buffer.from('hello, world\n')],
      ['3MiB', pattern(3 << 20, 23)],
      ['2MiB', pattern(2 << 20, 24)], // a multiple of copyFile's 1 MiB chunk
    ];
    for (const [name, data] of cases) {
      const p = tmp.file(`rt-${name}`);
      await writeFile(p, data);
      assert.ok(fs.readFileSync(p).equals(data), `writeFile ${name}`);
      const back = await readFile(p);
      assert.ok(Buffer.isBuffer(back));
      assert.ok(back.equals(data), `readFile ${name}`);
      const copy = tmp.file(`rt-${name}-copy`);
      await copyFile(p, copy);
      assert.ok(fs.readFileSync(copy).equals(data), `copyFile ${name}`);
    }
    assert.deepEqual(fdsOpenedSince(base), []);
  });

  test('encodings, modes, flags', async () => {
    const p = tmp.file('enc');
    await writeFile(p, 'héllo wörld');
    assert.equal(await readFile(p, { encoding: 'utf8' }), 'héllo wörld');
    assert.equal(await readFile(p, { encoding: 'base64' }), fs.readFileSync(p).toString('base64'));
    await writeFile(p, 'aGk=', { encoding: 'base64' });
    assert.equal(fs.readFileSync(p, 'utf8'), 'hi');
    await writeFile(p, new Uint16Array([0x6968]));
    assert.equal(fs.readFileSync(p, 'utf8'), 'hi');

    // Overwrites and truncates a longer file.
    fs.writeFileSync(p, 'a much longer previous content');
    await writeFile(p, 'short');
    assert.equal(fs.readFileSync(p, 'utf8'), 'short');
    // flag 'a' appends, 'wx' refuses an existing file.
    await writeFile(p, '+more', { flag: 'a' });
    assert.equal(fs.readFileSync(p, 'utf8'), 'short+more');
    const e = await rejection(writeFile(p, 'x', { flag: 'wx' }));
    assert.equal(e.code, 'EEXIST');
    assert.equal(e.path, p);
    assert.equal(fs.readFileSync(p, 'utf8'), 'short+more');
    // mode for a new file.
    const m = tmp.file('mode');
    await writeFile(m, 'x', { mode: 0o640 });
    assert.equal(fs.statSync(m).mode & 0o777, 0o640 & ~process.umask());
  });

  test('/proc files with stat size 0: /proc/self/status, and one larger than the first 64 KiB read', async () => {
    assert.equal((await ring.statx('/proc/self/status')).size, 0, 'precondition: stat size 0');
    const status = await readFile('/proc/self/status', { encoding: 'utf8' });
    assert.match(status, /^Name:\t/);
    assert.ok(status.includes(`\nPid:\t${process.pid}\n`), 'our own status');
    assert.ok(status.endsWith('\n'));
    const theirs = fs.readFileSync('/proc/self/status', 'utf8');
    const keys = (s: string) => s.split('\n').map((l) => l.split(':')[0]);
    assert.deepEqual(keys(status), keys(theirs), 'the same lines as node reads');

    // smaps is far larger than 64 KiB: the buffer must grow.
    const smaps = await readFile('/proc/self/smaps');
    assert.ok(smaps.length > 65536, `smaps: ${smaps.length} bytes`);
    const text = smaps.toString('latin1');
    assert.match(text, /^[0-9a-f]+-[0-9a-f]+ /);
    assert.ok(text.endsWith('\n'));
    assert.ok(!text.includes('\0'), 'no uninitialised bytes');
    const mappings = text.split('\n').filter((l) => /^[0-9a-f]+-[0-9a-f]+ /.test(l)).length;
    assert.ok(mappings > 10, `${mappings} mappings`);
  });

  test('copyFile: mode copied, overwrite truncates, exclusive on an existing dest -> EEXIST', async () => {
    const base = fdSnapshot();
    const src = tmp.file('csrc');
    fs.writeFileSync(src, pattern(1_500_000, 25));
    fs.chmodSync(src, 0o640);
    const dest = tmp.file('cdest');
    fs.writeFileSync(dest, Buffer.alloc(2_000_000, 1));
    await copyFile(src, dest);
    assert.ok(fs.readFileSync(dest).equals(fs.readFileSync(src)), 'overwritten and truncated');

    const fresh = tmp.file('cfresh');
    await copyFile(src, fresh, { exclusive: true });
    assert.ok(fs.readFileSync(fresh).equals(fs.readFileSync(src)));
    assert.equal(fs.statSync(fresh).mode & 0o777, 0o640 & ~process.umask());

    fs.writeFileSync(dest, 'keep me');
    const e = await rejection(copyFile(src, dest, { exclusive: true }));
    assert.equal(e.code, 'EEXIST');
    assert.equal(e.syscall, 'open');
    assert.equal(e.path, dest);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'keep me', 'dest untouched');
    // node's exclusive copy agrees.
    assert.throws(() => fs.copyFileSync(src, dest, fs.constants.COPYFILE_EXCL), { code: 'EEXIST' });

    const missing = await rejection(copyFile(tmp.file('nope'), tmp.file('nope2')));
    assert.equal(missing.code, 'ENOENT');
    assert.equal(missing.path, tmp.file('nope'));
    assert.equal(fs.existsSync(tmp.file('nope2')), false);
    assert.deepEqual(fdsOpenedSince(base), [], 'no fd left open by the failures');
  });

  test('close() after the ring closed still closes the fd (plain and registered)', async () => {
    const p = tmp.file('orphan');
    fs.writeFileSync(p, 'x');
    const own = new Ring();
    const base = fdSnapshot();
    const plain = await File.open(p, 'r', 0o666, { ring: own });
    const registered = await File.open(p, 'r', 0o666, { ring: own, register: 'auto' });
    assert.equal(fdsOpenedSince(base).length, 2);
    await own.close();
    assert.equal(plain.fd >= 0 && isOpen(plain.fd), true, 'the ring does not close the files it opened');
    await plain.close();
    await registered.close();
    assert.equal(plain.fd, -1);
    assert.deepEqual(fdsOpenedSince(base), [], 'both fds closed without the ring');
    assert.equal((await failure(() => plain.stat())).code, 'EBADF');
    await plain.close(); // idempotent
  });

  test('failures leave no fd open: readFile of a directory, writeFile into a missing directory', async () => {
    const base = fdSnapshot();
    const e = await rejection(readFile(tmp.dir));
    assert.equal(e.code, 'EISDIR');
    const w = await rejection(writeFile(tmp.file('no/such/file'), 'x'));
    assert.equal(w.code, 'ENOENT');
    assert.equal(w.path, tmp.file('no/such/file'));
    assert.deepEqual(fdsOpenedSince(base), []);
  });
});
