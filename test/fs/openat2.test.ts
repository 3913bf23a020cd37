/**
 * ring.openat2: RESOLVE_* restrictions enforced by the kernel (escapes via
 * `..` and symlinks refused with EXDEV / ELOOP), O_CLOEXEC always, argument
 * errors before anything reaches the kernel, struct open_how kept alive in
 * the slot's native memory until the final CQE (many in flight at once).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';

import { Ring, RESOLVE } from '../../src/index.js';
import { tmpDir } from '../helpers/fs-util.js';

const ring = Ring.current();
const have = ring.supports('openat2');
const skip = have ? false : 'the running kernel has no IORING_OP_OPENAT2 (Linux 5.6+)';

function fdFlags(fd: number): number {
  // /proc/self/fdinfo/N: "flags:\t0100002" (octal)
  const m = /flags:\s+([0-7]+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  return parseInt(m![1]!, 8);
}

test('openat2', { skip }, async (t) => {
  const tmp = tmpDir('uringkit-openat2-');
  t.after(() => tmp.remove());
  fs.mkdirSync(tmp.file('root'));
  fs.writeFileSync(tmp.file('root/inside.txt'), 'inside');
  fs.writeFileSync(tmp.file('outside.txt'), 'outside');
  fs.symlinkSync('../outside.txt', tmp.file('root/escape'));
  fs.symlinkSync('inside.txt', tmp.file('root/link'));
  const dirfd = fs.openSync(tmp.file('root'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  t.after(() => fs.closeSync(dirfd));

  await t.test('opens beneath a directory fd; O_CLOEXEC always', async () => {
    const fd = await ring.openat2('inside.txt', { dirfd, resolve: ['RESOLVE_BENEATH'] });
    try {
      assert.equal(fs.readFileSync(fd, 'utf8'), 'inside');
      assert.ok((fdFlags(fd) & 0o2000000) !== 0, 'O_CLOEXEC');
    } finally {
      fs.closeSync(fd);
    }
  });

  await t.test('RESOLVE_BENEATH refuses `..` and a symlink out of the tree with EXDEV', async () => {
    for (const p of ['../outside.txt', 'escape']) {
      await assert.rejects(ring.openat2(p, { dirfd, resolve: ['RESOLVE_BENEATH'] }),
        (e: Error & { code?: string; syscall?: string; path?: string }) => {
          assert.equal(e.code, 'EXDEV', p);
          assert.equal(e.syscall, 'openat2');
          assert.equal(e.path, p);
          return true;
        });
    }
    // Without the restriction the same paths open (the refusal is the kernel's RESOLVE_BENEATH).
    const fd = await ring.openat2('escape', { dirfd });
    fs.closeSync(fd);
  });

  await t.test('RESOLVE_NO_SYMLINKS refuses any symlink with ELOOP (numeric mask too)', async () => {
    await assert.rejects(ring.openat2('link', { dirfd, resolve: ['RESOLVE_NO_SYMLINKS'] }), { code: 'ELOOP' });
    await assert.rejects(ring.openat2('link', { dirfd, resolve: RESOLVE.RESOLVE_NO_SYMLINKS }), { code: 'ELOOP' });
  });

  await t.test('RESOLVE_IN_ROOT: `..` stays inside the root', async () => {
    const fd = await ring.openat2('../../inside.txt', { dirfd, resolve: ['RESOLVE_IN_ROOT'] });
    try {
      assert.equal(fs.readFileSync(fd, 'utf8'), 'inside');
    } finally {
      fs.closeSync(fd);
    }
  });

  await t.test('creates with a mode; callback form', async () => {
    const fd = await new Promise<number>((resolve, reject) => {
      ring.openat2('made.txt', { dirfd, flags: 'wx', mode: 0o600, resolve: ['RESOLVE_BENEATH'] }, undefined,
        (err, v) => (err ? reject(err) : resolve(v!)));
    });
    fs.closeSync(fd);
    assert.equal(fs.statSync(tmp.file('root/made.txt')).mode & 0o777, 0o600 & ~process.umask());
  });

  await t.test('many in flight at once: each slot keeps its own open_how', async () => {
    const how = (i: number) => (i % 2 === 0
      ? { dirfd, resolve: ['RESOLVE_BENEATH' as const] }
      : { dirfd, resolve: ['RESOLVE_NO_SYMLINKS' as const] });
    const results = await Promise.allSettled(
      Array.from({ length: 64 }, (_, i) => ring.openat2(i % 2 === 0 ? 'escape' : 'link', how(i))));
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 'rejected', `#${i}`);
      assert.equal((r as PromiseRejectedResult).reason.code, i % 2 === 0 ? 'EXDEV' : 'ELOOP', `#${i}`);
    }
  });

  await t.test('bad arguments throw before the kernel', () => {
    assert.throws(() => ring.openat2('x', { resolve: ['RESOLVE_NOPE' as never] }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => ring.openat2('x', { resolve: 0x100 }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => ring.openat2('x', { resolve: 'RESOLVE_BENEATH' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => ring.openat2('x', { mode: 0o600 }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => ring.openat2('x', { dirfd: -5 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => ring.openat2('x', 5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => ring.openat2('x\u0000y'), { code: 'ERR_INVALID_ARG_VALUE' });
  });
});
