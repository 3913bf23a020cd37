/**
 * The mock backend: handlers, the no-handler error, the in-memory file
 * system's errno semantics, seeded faults, the virtual clock, cancellation
 * (exactly once), fd accounting, withMock and liveness.
 */
import assert from 'node:assert/strict';
import { constants as fsc } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';

import {
  AbortError, copyFile, File, POLL, readFile, Ring, SystemError, TimeoutError, writeFile,
} from '../../src/index.js';
import { MockBackend, withMock, type MockRequest } from '../../src/testing.js';
import { describeChild, runModule } from '../helpers/child.js';
import { turns } from '../helpers/loop.js';
import { SettleLog } from '../helpers/settle.js';

const MOCK_URL = new URL('../../src/testing.js', import.meta.url).href;

type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error & Record<string, unknown> };

function outcome<T>(p: Promise<T>): Promise<Outcome<T>> {
  return p.then((value) => ({ ok: true as const, value }),
    (error: Error & Record<string, unknown>) => ({ ok: false as const, error }));
}

async function rejects(p: Promise<unknown>, expected: Record<string, unknown>): Promise<Error & Record<string, unknown>> {
  const o = await outcome(p);
  assert.ok(!o.ok, `expected a rejection with ${JSON.stringify(expected)}, got ${JSON.stringify(o.ok && o.value)}`);
  for (const [k, v] of Object.entries(expected)) assert.deepEqual(o.error[k], v, `error.${k} (${o.error.message})`);
  return o.error;
}

/** Whether a promise is still pending after the mock has gone quiet. */
async function isPending(mock: MockBackend, p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  await mock.idle();
  return !settled;
}

function fakeContext(): { diagnostics: string[]; diagnostic(m: string): void } {
  const diagnostics: string[] = [];
  return { diagnostics, diagnostic: (m: string) => diagnostics.push(m) };
}

/** A fresh mock + ring for one test body; the ring is closed and leaks checked afterwards. */
function run(fn: (mock: MockBackend, ring: Ring) => Promise<void>, options: ConstructorParameters<typeof MockBackend>[0] &
  { ring?: { entries?: number; cqEntries?: number; budget?: number } } = {}): Promise<void> {
  return withMock({ diagnostic: (m) => console.error(m) }, fn, { seed: 1, ...options });
}

describe('MockBackend: the Backend protocol', () => {
  test('nop, info, probe and stats', () => run(async (mock, ring) => {
    assert.equal(ring.info.fd, -1);
    assert.equal(ring.info.sqEntries, 1024);
    assert.ok(ring.supports(55), 'FTRUNCATE is supported: ring.ftruncate stays on the ring');
    assert.ok(!ring.supports(30), 'SPLICE has no model');
    await Promise.all([ring.nop(), ring.nop(), ring.nop()]);
    const s = ring.stats();
    assert.equal(s.enters, 1, 'one flush for one synchronous burst');
    assert.equal(s.sqes, 3);
    assert.equal(s.completed, 3);
    assert.equal(s.reapBatches, 1);
    await ring.nop({ timeout: 1000 });
    assert.equal(ring.stats().sqes, 5, 'an operation with a deadline is two SQEs');
    assert.equal(ring.stats().inFlight, 0, 'the linked-timeout CQE was delivered');
    assert.equal(mock.calls('nop').length, 4);
  }));

  test('a backlog beyond the stage and a small budget', () => run(async (_mock, ring) => {
    const all = await Promise.all(Array.from({ length: 300 }, () => ring.nop()));
    assert.equal(all.length, 300);
    assert.ok(ring.stats().backlogged > 0);
    assert.equal(ring.stats().inFlight, 0);
  }, { ring: { entries: 4, budget: 8 } }));

  test('callback form settles asynchronously, once', () => run(async (_mock, ring) => {
    const log = new SettleLog(50);
    for (let i = 0; i < 50; i++) log.issue(i, () => ring.nop(log.cb(i)));
    await log.whenAll(5000);
    log.assertExactlyOnce();
  }));
});

describe('MockBackend: handlers', () => {
  test('a read handler fills the buffer; the request describes the call', () => run(async (mock, ring) => {
    const fd = mock.openPollable('socket-ish');
    let seen: MockRequest | undefined;
    mock.handle('read', (req) => {
      seen = req;
      return 'hello';
    });
    const buf = Buffer.alloc(16);
    assert.equal(await ring.read(fd, buf, { offset: 2 }), 5);
    assert.equal(buf.subarray(2, 7).toString(), 'hello');
    assert.equal(seen?.op, 'read');
    assert.equal(seen?.fd, fd);
    assert.equal(seen?.position, -1);
    assert.equal(seen?.length, 14);
    assert.equal(seen?.seq, 1);
    await ring.closeFd(fd);
  }));

  test('replies: res, errno, delay (mock clock), data', () => run(async (mock, ring) => {
    const fd = mock.openPollable();
    mock.handle('write', (req) => ({ res: req.length, delay: 50 }));
    const w = ring.write(fd, 'abc');
    assert.ok(await isPending(mock, w), 'delayed by 50 ms of mock time');
    mock.clock.advance(50);
    assert.equal(await w, 3);
    mock.handle('write', () => ({ errno: 'EPIPE' }));
    await rejects(ring.write(fd, 'x'), { code: 'EPIPE', syscall: 'write' });
    mock.handle('write', () => -32);
    await rejects(ring.write(fd, 'x'), { code: 'EPIPE' });
    mock.handle('read', async () => ({ data: Buffer.from([1, 2, 3]), res: 2 }));
    const b = Buffer.alloc(4);
    assert.equal(await ring.read(fd, b), 2);
    assert.deepEqual([...b], [1, 2, 3, 0]);
    mock.closeFd(fd);
  }));

  test('handlers given to the constructor; unhandle() restores the model', () => run(async (mock, ring) => {
    assert.equal(await outcome(ring.nop()).then((o) => o.ok), false);
    // The option-less awaited form (lean path) and the others reject alike.
    await rejects(ring.nop(), { code: 'EIO', errno: -5, syscall: 'nop' });
    await rejects(ring.nop({ timeout: 1000 }), { code: 'EIO', syscall: 'nop' });
    await rejects(new Promise((res, rej) => ring.nop((err) => (err ? rej(err) : res(undefined)))), { code: 'EIO' });
    mock.unhandle('nop');
    await ring.nop();
  }, { handlers: { nop: () => ({ errno: 'EIO' }) } }));

  test('req.default() runs the built-in model (wrap, then delegate)', () => run(async (mock, ring) => {
    const opened: string[] = [];
    mock.handle('open', (req) => {
      opened.push(req.path!);
      return req.default();
    });
    mock.fs.mkdir('/data');
    await writeFile('/data/a.txt', 'abc', { ring });
    assert.equal(await readFile('/data/a.txt', { ring, encoding: 'utf8' }), 'abc');
    assert.deepEqual(opened, ['/data/a.txt', '/data/a.txt']);
    mock.handle('sleep', async (req) => {
      const res = await req.default();
      return res;
    });
    const p = ring.sleep(10);
    mock.clock.advance(10);
    await p;
  }, { fs: { cwd: '/' } }));

  test('a thrown error with an errno code fails with it; any other error is EIO and recorded', () => withMock(
    fakeContext(), async (mock, ring) => {
      mock.handle('open', () => {
        throw Object.assign(new Error('no'), { code: 'EACCES' });
      });
      await rejects(ring.open('/secret'), { code: 'EACCES', syscall: 'open', path: '/secret' });
      mock.handle('open', () => Promise.reject(new Error('bug in the test double')));
      await rejects(ring.open('/x'), { code: 'EIO' });
      assert.equal(mock.errors.length, 1);
      assert.match(mock.errors[0]!.message, /mock handler for open \(#2\) threw: bug in the test double/);
      mock.errors.length = 0;
    }));

  test('a handler may use the ring (operations it issues during a flush are submitted after it)', () => run(
    async (mock, ring) => {
      mock.fs.writeFile('/src', 'payload');
      const fd = mock.openPollable();
      // ring.open runs inside the flush; readFile's own reads go to the model.
      mock.handle('read', async (req) => (req.fd === fd ? readFile('/src', { ring }) : req.default()));
      const b = Buffer.alloc(7);
      assert.equal(await ring.read(fd, b), 7);
      assert.equal(b.toString(), 'payload');
      mock.handle('write', (req) => {
        void ring.nop();
        return req.length;
      });
      assert.deepEqual(await Promise.all([ring.write(fd, 'ab'), ring.write(fd, 'c')]), [2, 1]);
      assert.equal(mock.calls('nop').length, 2);
      mock.closeFd(fd);
    }));

  test('statx replies fill Stats', () => run(async (mock, ring) => {
    mock.handle('statx', () => ({ stat: { type: 'directory', size: 1234, mode: 0o700, nlink: 3 } }));
    const st = await ring.statx('/anything');
    assert.ok(st.isDirectory());
    assert.equal(st.size, 1234);
    assert.equal(st.mode & 0o777, 0o700);
    assert.equal(st.nlink, 3);
  }));

  test('a handler sees cancellation on req.signal; one cancelled during a delay is never called', () => run(async (mock, ring) => {
    const fd = mock.openPollable();
    let signal: AbortSignal | undefined;
    let calls = 0;
    mock.handle('read', (req) => {
      calls++;
      signal = req.signal;
      return new Promise<number>(() => {});
    });
    const ac = new AbortController();
    const p = ring.read(fd, Buffer.alloc(1), { signal: ac.signal });
    await mock.idle();
    assert.equal(calls, 1);
    assert.equal(signal?.aborted, false);
    ac.abort(new Error('stop'));
    const err = await rejects(p, { name: 'AbortError' });
    assert.equal((err.cause as Error).message, 'stop');
    assert.equal(signal?.aborted, true);
    mock.faults.add({ op: 'read', delayMs: 10 });
    const ac2 = new AbortController();
    const q = ring.read(fd, Buffer.alloc(1), { signal: ac2.signal });
    await mock.idle();
    ac2.abort();
    await rejects(q, { name: 'AbortError' });
    mock.clock.advance(10);
    await mock.idle();
    assert.equal(calls, 1, 'cancelled during its delay: the handler never ran');
    mock.closeFd(fd);
  }));

  test('multishot handlers emit intermediate results', () => run(async (mock, ring) => {
    const fd = mock.openPollable();
    mock.handle('pollMultishot', (req) => {
      req.emit(POLL.IN);
      req.emit(POLL.OUT);
      return { delay: Infinity };
    });
    const seen: number[] = [];
    for await (const mask of ring.pollMultishot(fd, POLL.IN | POLL.OUT)) {
      seen.push(mask);
      if (seen.length === 2) break;
    }
    assert.deepEqual(seen, [POLL.IN, POLL.OUT]);
    await mock.idle();
    assert.equal(ring.stats().inFlight, 0);
    mock.closeFd(fd);
  }));

  test('socket operations on a pollable fd have no model: ENOSYS naming the operation', () => withMock(fakeContext(),
    async (mock, ring) => {
      const fd = mock.openPollable();
      await rejects(ring.shutdown(fd, 1), { code: 'ENOSYS', syscall: 'shutdown' });
      assert.match(mock.unhandled[0]!.message, /^no mock handler for shutdown \(fd \d+ is a pollable fd, not a mock socket\)/);
      mock.handle('shutdown', (req) => (req.fd === fd && req.flags === 1 ? 0 : -22));
      await ring.shutdown(fd, 1);
      mock.closeFd(fd);
    }, { allowUnhandled: true }));

  test('unknown operation names are rejected early', () => {
    const mock = new MockBackend();
    assert.throws(() => mock.handle('frobnicate' as 'nop', () => 0), /unknown mock operation 'frobnicate'/);
    assert.doesNotThrow(() => mock.handle('close', () => 0), 'aliases: close = closeFd');
  });
});

describe('MockBackend: operations without a handler', () => {
  test('fail with ENOSYS, are listed, and warn with the message', async () => {
    const mock = new MockBackend({ seed: 7 });
    const ring = new Ring({ backend: mock });
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const err = await rejects(ring.splice(5, null, 6, null, 10), { code: 'ENOSYS', syscall: 'splice' });
      assert.ok(err instanceof SystemError);
      assert.equal(mock.unhandled.length, 1);
      assert.match(mock.unhandled[0]!.message, /^no mock handler for splice/);
      await rejects(ring.splice(5, null, 6, null, 10), { code: 'ENOSYS' });
      await turns(2);
      const ours = warnings.filter((w) => (w as { code?: string }).code === 'URINGKIT_MOCK_UNHANDLED');
      assert.equal(ours.length, 1, 'one warning per operation name');
      assert.match(ours[0]!.message, /no mock handler for splice/);
      assert.match(mock.describe(), /unhandled:\n {4}no mock handler for splice/);
    } finally {
      process.off('warning', onWarning);
      await ring.close();
    }
  });

  test('withMock rejects with "no mock handler for <op>" (the ENOSYS error as cause) and the seed', async () => {
    const t = fakeContext();
    const o = await outcome(withMock(t, async (_mock, ring) => {
      await ring.open('/etc/hosts');
    }, { fs: false, seed: 99 }));
    assert.ok(!o.ok);
    assert.match(o.error.message, /^no mock handler for open \(the file system model is off\)/);
    assert.match(o.error.message, /uringkit mock seed 99/);
    assert.equal((o.error.cause as { code?: string }).code, 'ENOSYS');
    assert.match(t.diagnostics[0]!, /seed=99/);
  });

  test('reads on a pollable fd need a handler', () => withMock(fakeContext(), async (mock, ring) => {
    const fd = mock.openPollable();
    await rejects(ring.read(fd, Buffer.alloc(4)), { code: 'ENOSYS' });
    assert.match(mock.unhandled[0]!.message, /no mock handler for read \(fd \d+ is a pollable fd\)/);
    mock.closeFd(fd);
  }, { allowUnhandled: true }));
});

describe('MockBackend: the in-memory file system', () => {
  test('open/write/read with file positions', () => run(async (mock, ring) => {
    const fd = await ring.open('/f', 'w+');
    assert.equal(await ring.write(fd, 'hello '), 6);
    assert.equal(await ring.write(fd, 'world'), 5, 'position -1: after the previous write');
    assert.equal(await ring.write(fd, 'J', { position: 6 }), 1, 'pwrite does not move the position');
    assert.equal(await ring.write(fd, '!'), 1);
    assert.equal(mock.fs.readFile('/f', 'utf8'), 'hello Jorld!');
    const b = Buffer.alloc(5);
    assert.equal(await ring.read(fd, b, { position: 0 }), 5);
    assert.equal(b.toString(), 'hello');
    assert.equal(await ring.read(fd, b), 0, 'the current position is at the end');
    await ring.closeFd(fd);
    const r = await ring.open('/f');
    assert.equal(await ring.read(r, b), 5);
    assert.equal(await ring.read(r, b), 5);
    assert.equal(b.toString(), ' Jorl');
    assert.equal(await ring.read(r, b), 2);
    assert.equal(await ring.read(r, b), 0);
    await ring.closeFd(r);
  }));

  test('O_APPEND, O_TRUNC, O_EXCL, O_CREAT', () => run(async (mock, ring) => {
    mock.fs.writeFile('/d/log', 'a');
    const a = await ring.open('/d/log', 'a');
    await ring.write(a, 'b', { position: 0 });
    await ring.write(a, 'c');
    assert.equal(mock.fs.readFile('/d/log', 'utf8'), 'abc', 'O_APPEND writes at the end even with a position');
    await ring.closeFd(a);
    await rejects(ring.open('/d/log', 'wx'), { code: 'EEXIST', syscall: 'open', path: '/d/log' });
    await ring.closeFd(await ring.open('/d/log', 'w'));
    assert.equal(mock.fs.readFile('/d/log', 'utf8'), '', 'O_TRUNC');
    await rejects(ring.open('/nodir/x', 'w'), { code: 'ENOENT' });
    await rejects(ring.open('/missing'), { code: 'ENOENT', errno: -2 });
    await ring.closeFd(await ring.open('/d/new', fsc.O_CREAT | fsc.O_WRONLY, 0o640));
    assert.equal(mock.fs.stat('/d/new').mode & 0o777, 0o640 & ~0o022);
  }));

  test('directories and ENOTDIR/EISDIR', () => run(async (mock, ring) => {
    mock.fs.writeFile('/d/file', 'x');
    await rejects(ring.open('/d', 'r+'), { code: 'EISDIR' });
    const dfd = await ring.open('/d');
    await rejects(ring.read(dfd, Buffer.alloc(1)), { code: 'EISDIR' });
    assert.ok((await ring.statx(dfd)).isDirectory());
    await ring.closeFd(dfd);
    await rejects(ring.open('/d/file/x'), { code: 'ENOTDIR' });
    await rejects(ring.open('/d/file', fsc.O_RDONLY | fsc.O_DIRECTORY), { code: 'ENOTDIR' });
    await rejects(ring.open('/d/file/'), { code: 'ENOTDIR' });
    await rejects(ring.unlink('/d'), { code: 'EISDIR', syscall: 'unlink' });
    await rejects(ring.rmdir('/d/file'), { code: 'ENOTDIR', syscall: 'rmdir' });
    await rejects(ring.rmdir('/d'), { code: 'ENOTEMPTY' });
    await rejects(ring.unlink('/d/none'), { code: 'ENOENT' });
    await rejects(ring.mkdir('/d'), { code: 'EEXIST', syscall: 'mkdir', path: '/d' });
    await rejects(ring.mkdir('/x/y'), { code: 'ENOENT' });
    assert.equal(await ring.mkdir('/a/b/c', { recursive: true }), '/a');
    assert.equal(await ring.mkdir('/a/b/c', { recursive: true }), undefined);
    await ring.unlink('/d/file');
    await ring.rmdir('/d');
    assert.ok(!mock.fs.exists('/d'));
    assert.deepEqual(mock.fs.list('/a'), ['/a/b/', '/a/b/c/']);
  }, { fs: { cwd: '/' } }));

  test('EBADF: closed fds, wrong access mode', () => run(async (mock, ring) => {
    mock.fs.writeFile('/f', 'data');
    const r = await ring.open('/f', 'r');
    const w = await ring.open('/f', fsc.O_WRONLY);
    await rejects(ring.write(r, 'x'), { code: 'EBADF', syscall: 'write' });
    await rejects(ring.read(w, Buffer.alloc(1)), { code: 'EBADF', syscall: 'read' });
    await rejects(ring.ftruncate(r, 0), { code: 'EINVAL' });
    await ring.closeFd(r);
    await ring.closeFd(w);
    await rejects(ring.closeFd(w), { code: 'EBADF', syscall: 'close' });
    await rejects(ring.read(r, Buffer.alloc(1)), { code: 'EBADF' });
    await rejects(ring.fsync(1), { code: 'EBADF' }, );
  }));

  test('rename semantics', () => run(async (mock, ring) => {
    mock.fs.writeFile('/a', 'A');
    mock.fs.writeFile('/b', 'B');
    mock.fs.writeFile('/dir/inner', 'I');
    mock.fs.mkdir('/empty');
    await ring.rename('/a', '/b');
    assert.equal(mock.fs.readFile('/b', 'utf8'), 'A');
    assert.ok(!mock.fs.exists('/a'));
    await rejects(ring.rename('/a', '/c'), { code: 'ENOENT', syscall: 'rename', path: '/a', dest: '/c' });
    await rejects(ring.rename('/dir', '/dir/sub'), { code: 'EINVAL' });
    await rejects(ring.rename('/empty', '/dir'), { code: 'ENOTEMPTY' });
    await rejects(ring.rename('/b', '/empty'), { code: 'EISDIR' });
    await rejects(ring.rename('/empty', '/b'), { code: 'ENOTDIR' });
    await ring.rename('/dir', '/empty');
    assert.equal(mock.fs.readFile('/empty/inner', 'utf8'), 'I');
  }, { fs: { cwd: '/' } }));

  test('links: nlink, unlink while open, symlinks, loops', () => run(async (mock, ring) => {
    mock.fs.writeFile('/f', 'content');
    await ring.link('/f', '/g');
    assert.equal((await ring.statx('/f')).nlink, 2);
    await rejects(ring.link('/f', '/g'), { code: 'EEXIST', syscall: 'link' });
    const fd = await ring.open('/f');
    await ring.unlink('/f');
    await ring.unlink('/g');
    const b = Buffer.alloc(7);
    assert.equal(await ring.read(fd, b), 7, 'an unlinked file lives while open');
    assert.equal((await ring.statx(fd)).nlink, 0);
    await ring.closeFd(fd);
    mock.fs.writeFile('/t/target', '12345');
    await ring.symlink('target', '/t/link');
    const st = await ring.statx('/t/link');
    assert.ok(st.isFile());
    assert.equal(st.size, 5);
    const lst = await ring.statx('/t/link', { followSymlinks: false });
    assert.ok(lst.isSymbolicLink());
    assert.equal(mock.fs.readlink('/t/link'), 'target');
    await ring.symlink('/nowhere', '/t/dangling');
    await rejects(ring.statx('/t/dangling'), { code: 'ENOENT', syscall: 'stat' });
    await ring.symlink('/t/loop2', '/t/loop1');
    await ring.symlink('/t/loop1', '/t/loop2');
    await rejects(ring.open('/t/loop1'), { code: 'ELOOP' });
    // O_CREAT through a dangling link creates its target.
    await ring.closeFd(await ring.open('/t/dangling', 'w'));
    assert.ok(mock.fs.exists('/nowhere'));
  }));

  test('readv/writev, ftruncate, fallocate, fsync', () => run(async (mock, ring) => {
    const fd = await ring.open('/v', 'w+');
    assert.equal(await ring.writev(fd, [Buffer.from('ab'), Buffer.from('cde')]), 5);
    const x = Buffer.alloc(1), y = Buffer.alloc(10);
    assert.equal(await ring.readv(fd, [x, y], { position: 0 }), 5);
    assert.equal(x.toString() + y.subarray(0, 4).toString(), 'abcde');
    await ring.ftruncate(fd, 2);
    assert.equal(mock.fs.readFile('/v', 'utf8'), 'ab');
    await ring.ftruncate(fd, 4);
    assert.deepEqual([...mock.fs.readFile('/v')], [97, 98, 0, 0], 'extended with zeros');
    await ring.fallocate(fd, 0, 100);
    assert.equal((await ring.statx(fd)).size, 100);
    await ring.fallocate(fd, 0, 1000, { mode: 1 /* KEEP_SIZE */ });
    assert.equal((await ring.statx(fd)).size, 100);
    await ring.fsync(fd);
    await ring.fdatasync(fd);
    await ring.fadvise(fd, 0, 0, 0);
    await ring.closeFd(fd);
  }));

  test('stat times follow the virtual clock; the lowest free fd is reused', () => run(async (mock, ring) => {
    mock.clock.advance(5000);
    await writeFile('/f', 'x', { ring });
    const st = await ring.statx('/f');
    assert.equal(st.mtimeMs, Date.UTC(2024, 0, 1) + 5000);
    const a = await ring.open('/f');
    const b = await ring.open('/f');
    assert.equal(b, a + 1);
    await ring.closeFd(a);
    const c = await ring.open('/f');
    assert.equal(c, a, 'POSIX: the lowest free number');
    await ring.closeFd(b);
    await ring.closeFd(c);
  }, { fdBase: 10 }));

  test('File, readFile, writeFile, copyFile run unchanged; relative paths use the cwd', () => run(async (mock, ring) => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    await writeFile('big.bin', data, { ring });
    assert.ok(mock.fs.readFile('/home/u/big.bin').equals(data));
    await copyFile('big.bin', 'copy.bin', { ring });
    assert.ok((await readFile('/home/u/copy.bin', { ring })).equals(data));
    await writeFile('log.txt', 'a', { ring, flag: 'a' });
    await writeFile('log.txt', 'b', { ring, flag: 'a' });
    assert.equal(await readFile('log.txt', { ring, encoding: 'utf8' }), 'ab');
    const f = await File.open('/home/u/rw', 'w+', 0o600, { ring });
    assert.equal(await f.writeAll('0123456789'), 10);
    const b = Buffer.alloc(10);
    assert.equal(await f.readAll(b, { position: 0 }), 10);
    assert.equal(b.toString(), '0123456789');
    await f.truncate(3);
    assert.equal((await f.stat()).size, 3);
    await f.close();
    assert.deepEqual(mock.fs.readdir('/home/u'), ['big.bin', 'copy.bin', 'log.txt', 'rw']);
  }, { fs: { cwd: '/home/u' } }));
});

describe('MockBackend: faults', () => {
  test('errno once, then normal; the log names the fault', () => run(async (mock, ring) => {
    mock.fs.writeFile('/f', 'abc');
    const fault = mock.faults.add({ op: 'read', errno: 'EIO', times: 1 });
    const fd = await ring.open('/f');
    await rejects(ring.read(fd, Buffer.alloc(3)), { code: 'EIO', syscall: 'read' });
    assert.equal(await ring.read(fd, Buffer.alloc(3)), 3, 'the failed read had no effect on the position');
    assert.equal(fault.hits, 1);
    assert.equal(fault.remaining, 0);
    assert.equal(mock.calls('read')[0]!.fault, fault.id);
    await ring.closeFd(fd);
  }));

  test('path, fd, match and after select operations; errno numbers and socket errnos', () => run(async (mock, ring) => {
    mock.fs.writeFile('/a', '');
    mock.fs.writeFile('/b', '');
    mock.faults.add({ op: 'open', path: '/b', errno: 'EACCES' });
    await ring.closeFd(await ring.open('/a'));
    await rejects(ring.open('/b'), { code: 'EACCES', path: '/b' });
    const fd = mock.openPollable();
    mock.handle('read', () => 'x');
    mock.faults.add({ op: ['read', 'write'], fd, after: 2, times: 1, errno: 'ECONNRESET' });
    mock.faults.add({ op: 'write', match: (req) => req.length > 3, errno: 11 });
    mock.handle('write', (req) => req.length);
    assert.equal(await ring.read(fd, Buffer.alloc(1)), 1);
    assert.equal(await ring.write(fd, 'ab'), 2);
    await rejects(ring.read(fd, Buffer.alloc(1)), { code: 'ECONNRESET' });
    assert.equal(await ring.read(fd, Buffer.alloc(1)), 1);
    await rejects(ring.write(fd, 'abcd'), { code: 'EAGAIN' });
    mock.closeFd(fd);
  }));

  test('short reads and writes; File.readAll / writeAll continue them', () => run(async (mock, ring) => {
    mock.fs.writeFile('/f', '0123456789');
    const short = mock.faults.add({ op: 'read', shortBy: 3 });
    const fd = await ring.open('/f');
    assert.equal(await ring.read(fd, Buffer.alloc(10), { position: 0 }), 7);
    await ring.closeFd(fd);
    assert.equal(await readFile('/f', { ring, encoding: 'utf8' }), '0123456789');
    short.remove();
    mock.faults.add({ op: 'write', shortBy: 'random' });
    const data = Buffer.alloc(5000, 7);
    await writeFile('/g', data, { ring });
    assert.ok(mock.fs.readFile('/g').equals(data));
    assert.ok(mock.calls('write').length > 1, 'several short writes');
  }));

  test('delays run on the mock clock; the effect happens at completion', () => run(async (mock, ring) => {
    mock.faults.add({ op: 'mkdir', delayMs: 100 });
    const p = ring.mkdir('/late');
    assert.ok(await isPending(mock, p));
    assert.ok(!mock.fs.exists('/late'));
    mock.clock.advance(100);
    await p;
    assert.ok(mock.fs.exists('/late'));
  }));

  test('the same seed replays the same outcomes', async () => {
    async function scenario(seed: number): Promise<string[]> {
      const results: string[] = [];
      await withMock(fakeContext(), async (mock, ring) => {
        mock.faults.add({ op: 'nop', errno: 'EAGAIN', probability: 0.3 });
        mock.faults.add({ op: 'read', shortBy: 'random', probability: 0.5 });
        mock.fs.writeFile('/f', Buffer.alloc(1000, 1));
        const fd = await ring.open('/f');
        for (let i = 0; i < 40; i++) {
          const o = await outcome(ring.nop());
          results.push(o.ok ? 'ok' : String(o.error.code));
          results.push(String(await ring.read(fd, Buffer.alloc(100), { position: 0 })));
        }
        await ring.closeFd(fd);
        assert.equal(mock.seed, seed);
      }, { seed });
      return results;
    }
    const a = await scenario(42);
    const b = await scenario(42);
    const c = await scenario(43);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.ok(a.includes('EAGAIN') && a.includes('ok'));
  });

  test('URINGKIT_MOCK_SEED sets the default seed', () => {
    const old = process.env.URINGKIT_MOCK_SEED;
    process.env.URINGKIT_MOCK_SEED = '12345';
    try {
      assert.equal(new MockBackend().seed, 12345);
    } finally {
      if (old === undefined) delete process.env.URINGKIT_MOCK_SEED;
      else process.env.URINGKIT_MOCK_SEED = old;
    }
    assert.equal(new MockBackend({ seed: 5 }).seed, 5);
  });

  test('CQ overflow: counted in stats.cqOverflows, every completion still delivered', () => run(async (mock, ring) => {
    mock.faults.add({ op: 'nop', overflow: true, times: 1 });
    await ring.nop();
    assert.equal(ring.stats().cqOverflows, 1);
    // A real overflow: more completions at once than the CQ holds.
    const sleeps = Array.from({ length: 32 }, () => ring.sleep(10));
    mock.clock.advance(10);
    await Promise.all(sleeps);
    assert.equal(ring.stats().cqOverflows, 2);
    assert.equal(ring.stats().inFlight, 0);
  }, { ring: { entries: 4, cqEntries: 8 } }));

  test('busy: a refused submission is retried', () => run(async (mock, ring) => {
    const busy = mock.faults.add({ op: 'nop', busy: true });
    await Promise.all([ring.nop(), ring.nop()]);
    assert.equal(busy.hits, 1);
    assert.ok(ring.stats().enters >= 2);
    assert.equal(mock.calls('nop').length, 2);
  }));

  test('invalid fault specs are refused', () => {
    const mock = new MockBackend();
    assert.throws(() => mock.faults.add({ errno: 'EFOO' }), /unknown errno name 'EFOO'/);
    assert.throws(() => mock.faults.add({ op: 'read' }), /needs an effect/);
    assert.throws(() => mock.faults.add({ errno: 'EIO', probability: 2 }), RangeError);
    assert.throws(() => mock.faults.add({ shortBy: 0 }), RangeError);
    mock.faults.add({ errno: 'EIO' });
    assert.equal(mock.faults.list.length, 1);
    mock.faults.clear();
    assert.equal(mock.faults.list.length, 0);
  });
});

describe('MockBackend: the virtual clock', () => {
  test('an hour-long sleep without waiting', () => run(async (mock, ring) => {
    const t0 = performance.now();
    const p = ring.sleep(3_600_000);
    assert.ok(await isPending(mock, p));
    assert.equal(mock.clock.pending(), 1);
    assert.equal(mock.clock.nextDue(), 3_600_000);
    mock.clock.advance(3_599_999);
    assert.ok(await isPending(mock, p));
    mock.clock.advance(1);
    await p;
    assert.equal(mock.clock.now(), 3_600_000);
    assert.ok(performance.now() - t0 < 2000);
  }));

  test('tick() lets chained sleeps run within the interval', () => run(async (mock, ring) => {
    let done = 0;
    const loop = (async () => {
      for (let i = 0; i < 5; i++) {
        await ring.sleep(10);
        done++;
      }
    })();
    await mock.clock.tick(50);
    assert.equal(done, 5);
    await loop;
    assert.equal(mock.clock.now(), 50);
  }));

  test('a deadline fires: ETIMEDOUT, counted; one that does not fire is harmless', () => run(async (mock, ring) => {
    const fd = mock.openPollable();
    const p = ring.poll(fd, POLL.IN, { timeout: 100 });
    mock.clock.advance(99);
    assert.ok(await isPending(mock, p));
    mock.clock.advance(1);
    const err = await rejects(p, { code: 'ETIMEDOUT', errno: -110, syscall: 'poll' });
    assert.ok(err instanceof TimeoutError);
    assert.equal(ring.stats().timedOut, 1);
    const q = ring.sleep(50, { timeout: 100 });
    mock.clock.advance(50);
    await q;
    mock.clock.advance(100);
    await mock.idle();
    assert.equal(ring.stats().inFlight, 0);
    assert.equal(ring.stats().staleCqes, 0);
    mock.closeFd(fd);
  }));

  test('deadlines of file operations are separate timers: removed when the operation ends first', () => run(
    async (mock, ring) => {
      mock.fs.writeFile('/f', 'x');
      const fd = await ring.open('/f', 'r', 0o666, { timeout: 100 });
      assert.equal((await ring.statx(fd, { timeout: 100 })).size, 1);
      await mock.idle();
      assert.equal(mock.clock.pending(), 0, 'no timer left behind');
      mock.faults.add({ op: 'fsync', delayMs: 500, times: 1 });
      const p = ring.fsync(fd, { timeout: 100 });
      mock.clock.advance(100);
      const err = await rejects(p, { code: 'ETIMEDOUT', syscall: 'fsync' });
      assert.ok(err instanceof TimeoutError);
      await mock.idle();
      assert.equal(mock.clock.pending(), 0);
      assert.equal(ring.stats().inFlight, 0);
      assert.equal(ring.stats().staleCqes, 0);
      await ring.closeFd(fd);
    }));

  test('autoAdvance: sleeps and deadlines complete as soon as nothing else is runnable', () => run(async (mock, ring) => {
    const t0 = performance.now();
    await ring.sleep(86_400_000);
    await Promise.all([ring.sleep(10), ring.sleep(20), ring.sleep(5)]);
    assert.equal(mock.clock.now(), 86_400_020);
    const fd = mock.openPollable();
    await rejects(ring.poll(fd, POLL.IN, { timeout: 5000 }), { code: 'ETIMEDOUT' });
    assert.ok(performance.now() - t0 < 2000);
    mock.closeFd(fd);
  }, { autoAdvance: true }));

  test('an uncancellable operation outlives its deadline (-EALREADY) and completes normally', () => run(async (mock, ring) => {
    const fd = mock.openPollable();
    mock.handle('read', () => ({ res: 7, delay: 200, uncancellable: true }));
    const p = ring.read(fd, Buffer.alloc(8), { timeout: 100 });
    await mock.clock.tick(100);
    assert.ok(await isPending(mock, p));
    mock.clock.advance(100);
    assert.equal(await p, 7);
    mock.closeFd(fd);
  }));

  test("clock: 'real' uses real timers", () => run(async (mock, ring) => {
    const t0 = performance.now();
    await ring.sleep(30);
    assert.ok(performance.now() - t0 >= 25);
    assert.throws(() => mock.clock.advance(1), /needs a virtual clock/);
  }, { clock: 'real' }));
});

describe('MockBackend: cancellation', () => {
  test('abort, cancelAll and close each settle every operation exactly once', () => run(async (mock, ring) => {
    const fd = mock.openPollable();
    mock.handle('read', () => ({ res: 1, delay: 30 }));
    const N = 300;
    const log = new SettleLog(N);
    const controllers: AbortController[] = [];
    for (let i = 0; i < N; i++) {
      const ac = new AbortController();
      controllers.push(ac);
      const kind = i % 4;
      const opts = { signal: ac.signal };
      if (kind === 0) log.track(i, ring.sleep(10 + (i % 50), opts));
      else if (kind === 1) log.track(i, ring.read(fd, Buffer.alloc(1), opts));
      else if (kind === 2) log.track(i, ring.poll(fd, POLL.IN, { ...opts, timeout: 30 }));
      else log.issue(i, () => ring.nop(opts, log.cb(i)));
      if (i % 3 === 0) ac.abort(new Error(`abort ${i}`));
    }
    await mock.clock.tick(25);
    for (let i = 1; i < N; i += 5) controllers[i]!.abort();
    await mock.clock.tick(10);
    const cancelled = await ring.cancelAll();
    assert.ok(cancelled > 0);
    await log.whenAll(5000);
    log.assertExactlyOnce();
    let aborted = 0, ok = 0, timedOut = 0;
    for (const o of log.outcomes) {
      if (o!.ok) ok++;
      else if (o!.error instanceof AbortError) aborted++;
      else if (o!.error instanceof TimeoutError) timedOut++;
      else assert.fail(`unexpected ${String(o!.error)}`);
    }
    assert.equal(ok + aborted + timedOut, N);
    assert.ok(ok > 0 && aborted > 0 && timedOut > 0, `ok=${ok} aborted=${aborted} timedOut=${timedOut}`);
    const s = ring.stats();
    assert.equal(s.inFlight, 0);
    assert.equal(s.staleCqes, 0);
    mock.closeFd(fd);
  }));

  test('cancelAll resolves with the count; the completion wins a race', () => run(async (mock, ring) => {
    const fd = mock.openPollable();
    const polls = [ring.poll(fd, POLL.IN), ring.poll(fd, POLL.IN), ring.poll(fd, POLL.OUT)];
    const ac = new AbortController();
    const nop = ring.nop({ signal: ac.signal });
    ac.abort(); // staged after the nop: the nop completes first (the cancel gets -ENOENT)
    await nop;
    assert.equal(await ring.cancelAll(), 3);
    for (const p of polls) {
      const err = await rejects(p, { name: 'AbortError' });
      assert.match((err.cause as Error).message, /cancelAll/);
    }
    mock.closeFd(fd);
  }));

  test('an uncancellable operation resolves despite an abort', () => run(async (mock, ring) => {
    mock.handle('fsync', () => ({ delay: 50, uncancellable: true }));
    mock.fs.writeFile('/f', '');
    const fd = await ring.open('/f');
    const ac = new AbortController();
    const p = ring.fsync(fd, { signal: ac.signal });
    await mock.idle();
    ac.abort();
    await mock.idle();
    mock.clock.advance(50);
    await p;
    await ring.closeFd(fd);
  }));

  test('an aborted open that completed first is closed (no leaked fd)', () => run(async (mock, ring) => {
    mock.fs.writeFile('/f', '');
    const ac = new AbortController();
    const p = ring.open('/f', 'r', 0o666, { signal: ac.signal });
    ac.abort();
    await rejects(p, { name: 'AbortError' });
    assert.deepEqual(mock.openFds(), []);
  }));

  test('close() cancels what is in flight; later operations fail with ERR_RING_CLOSED', async () => {
    const mock = new MockBackend();
    const ring = new Ring({ backend: mock });
    const fd = mock.openPollable();
    const p = ring.poll(fd, POLL.IN);
    const s = ring.sleep(1000);
    await ring.close();
    const err = await rejects(p, { name: 'AbortError' });
    assert.equal((err.cause as { code?: string }).code, 'ERR_RING_CLOSED');
    await rejects(s, { name: 'AbortError' });
    await rejects(ring.nop(), { code: 'ERR_RING_CLOSED' });
    assert.equal(mock.inFlight().length, 0);
    assert.equal(mock.clock.pending(), 0, 'the cancelled sleep left no timer');
    mock.closeFd(fd);
  });

  test('poll readiness: single-shot and multishot', () => run(async (mock, ring) => {
    const fd = mock.openPollable();
    const p = ring.poll(fd, POLL.IN);
    assert.ok(await isPending(mock, p));
    mock.setReady(fd, POLL.OUT);
    assert.ok(await isPending(mock, p), 'POLLOUT is not what it waits for');
    mock.setReady(fd, POLL.IN | POLL.OUT);
    assert.equal(await p, POLL.IN);
    assert.equal(await ring.poll(fd, POLL.OUT), POLL.OUT, 'level-triggered: ready now');
    mock.setReady(fd, 0);
    const it = ring.pollMultishot(fd, POLL.IN);
    const seen: number[] = [];
    const consumer = (async () => {
      for await (const m of it) {
        seen.push(m);
        if (seen.length === 3) break;
      }
    })();
    for (let i = 0; i < 3; i++) {
      await mock.idle();
      mock.setReady(fd, POLL.IN);
    }
    await consumer;
    assert.deepEqual(seen, [POLL.IN, POLL.IN, POLL.IN]);
    const f = await ring.open('/tmp/x', 'w');
    assert.equal(await ring.poll(f, POLL.IN | POLL.OUT), POLL.IN | POLL.OUT, 'files are always ready');
    await ring.closeFd(f);
    mock.closeFd(fd);
    assert.throws(() => mock.setReady(fd, 1), /not open/);
  }));
});

describe('MockBackend: fd accounting and withMock', () => {
  test('openFds and assertNoLeaks', () => run(async (mock, ring) => {
    const a = await ring.open('/tmp/a', 'w');
    const p = mock.openPollable('peer');
    assert.deepEqual(mock.openFds(), [
      { fd: a, kind: 'file', path: '/tmp/a', flags: fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC },
      { fd: p, kind: 'pollable', path: 'peer', flags: fsc.O_RDWR },
    ]);
    assert.throws(() => mock.assertNoLeaks(), (e: Error) => {
      assert.match(e.message, /2 file descriptors leaked \(seed 1\)/);
      assert.match(e.message, new RegExp(`fd ${a}: file /tmp/a \\(opened by open #1\\)`));
      assert.match(e.message, new RegExp(`fd ${p}: pollable peer`));
      return true;
    });
    await ring.closeFd(a);
    mock.closeFd(p);
    mock.assertNoLeaks();
  }));

  test('withMock fails a test that leaks, naming the fd, the path and the seed', async () => {
    const t = fakeContext();
    const o = await outcome(withMock(t, async (_mock, ring) => {
      await ring.open('/tmp/leaky', 'w');
      return 1;
    }, { seed: 31337 }));
    assert.ok(!o.ok);
    assert.match(o.error.message, /1 file descriptor leaked/);
    assert.match(o.error.message, /\/tmp\/leaky/);
    assert.match(o.error.message, /seed 31337/);
    assert.match(t.diagnostics[0]!, /MockBackend seed=31337/);
    assert.ok(t.diagnostics.includes('  open fds (1):'), t.diagnostics.join('\n'));
  });

  test('withMock reports a failing body with its seed; a passing one returns its value', async () => {
    const t = fakeContext();
    const o = await outcome(withMock(t, () => {
      assert.equal(1, 2);
    }, { seed: 8 }));
    assert.ok(!o.ok);
    assert.equal(o.error.name, 'AssertionError', 'the original error, annotated');
    assert.equal(o.error.mockSeed, 8);
    assert.match(o.error.message, /URINGKIT_MOCK_SEED=8/);
    assert.equal(await withMock(fakeContext(), async (_m, ring) => {
      await ring.nop();
      return 'value';
    }), 'value');
  });

  test("withMock finishes uncancellable operations on the virtual clock; fails (not hangs) when nothing can", async () => {
    let settled: unknown;
    await withMock(fakeContext(), async (mock, ring) => {
      mock.handle('nop', () => ({ res: 0, delay: 60_000, uncancellable: true }));
      ring.nop().then((v) => (settled = v), (e: unknown) => (settled = e));
    });
    assert.equal(settled, undefined, 'it completed normally while the ring closed');
    const o = await outcome(withMock(fakeContext(), async (mock, ring) => {
      mock.handle('nop', () => ({ delay: Infinity, uncancellable: true }));
      void ring.nop().catch(() => {});
      await mock.idle();
    }));
    assert.ok(!o.ok);
    assert.match(o.error.message, /ring.close\(\) cannot finish: .*#1 nop/);
  });

  test('withMock setDefault: code that uses Ring.current() runs on the mock', () => withMock(fakeContext(),
    async (mock) => {
      await writeFile('/tmp/current.txt', 'via Ring.current()');
      const f = await File.open('/tmp/current.txt');
      assert.equal(f.ring, Ring.current());
      assert.equal(f.ring.info.fd, -1);
      await f.close();
      assert.equal(mock.fs.readFile('/tmp/current.txt', 'utf8'), 'via Ring.current()');
    }, { setDefault: true }));
});

describe('MockBackend: liveness', () => {
  const prelude = `import { Ring } from __LIB__; import { MockBackend } from ${JSON.stringify(MOCK_URL)};`;

  test('an operation in flight keeps the process alive; it exits right after', async () => {
    const r = await runModule(`${prelude}
      const mock = new MockBackend({ clock: 'real' });
      const ring = new Ring({ backend: mock });
      const t0 = Date.now();
      ring.sleep(200).then(() => console.log('slept', Date.now() - t0 >= 190));
      process.on('exit', () => console.log('exit', Date.now() - t0 < 3000));
    `, 20_000);
    assert.equal(r.code, 0, describeChild(r));
    assert.equal(r.stdout, 'slept true\nexit true\n', describeChild(r));
  });

  test('unref: ref:false operations and ring.unref() do not keep it alive', async () => {
    const r = await runModule(`${prelude}
      const mock = new MockBackend();
      const ring = new Ring({ backend: mock });
      await ring.nop();
      ring.sleep(1e9, { ref: false }).then(() => console.log('never'));
      const ring2 = new Ring({ backend: mock });
      ring2.sleep(1e9).then(() => console.log('never 2'));
      ring2.unref();
      const fd = mock.openPollable();
      ring.poll(fd, 1).then(() => console.log('never 3'));
      ring.unref();
      setTimeout(() => console.log('timer'), 20);
    `, 20_000);
    assert.equal(r.killed, false, describeChild(r));
    assert.equal(r.code, 0, describeChild(r));
    assert.equal(r.stdout, 'timer\n', describeChild(r));
  });

  test('autoAdvance advances unref\'d timers while the process lives, without keeping it alive', async () => {
    const lives = await runModule(`${prelude}
      const mock = new MockBackend({ autoAdvance: true });
      const ring = new Ring({ backend: mock });
      ring.sleep(1e9, { ref: false }).then(() => console.log('fired'));
      setTimeout(() => console.log('timer'), 300);
    `, 20_000);
    assert.equal(lives.code, 0, describeChild(lives));
    assert.equal(lives.stdout, 'fired\ntimer\n', describeChild(lives));
    const exits = await runModule(`${prelude}
      const mock = new MockBackend({ autoAdvance: true });
      const ring = new Ring({ backend: mock });
      ring.sleep(1e9, { ref: false }).then(() => console.log('fired'));
    `, 20_000);
    assert.equal(exits.code, 0, describeChild(exits));
    assert.equal(exits.killed, false, describeChild(exits));
    assert.equal(exits.stdout, '', describeChild(exits));
  });

  test('autoAdvance does not spin once nothing is pending', async () => {
    const r = await runModule(`${prelude}
      const mock = new MockBackend({ autoAdvance: true });
      const ring = new Ring({ backend: mock });
      for (let i = 0; i < 3; i++) await ring.sleep(60_000);
      console.log(mock.clock.now());
    `, 20_000);
    assert.equal(r.code, 0, describeChild(r));
    assert.equal(r.stdout, '180000\n', describeChild(r));
  });
});
