/**
 * mkdir({ recursive: true }) has fs.mkdir's semantics: it resolves with the
 * first directory it created (undefined if none), fails with EEXIST when the
 * target is a file and ENOTDIR when a file is in the way, and applies the mode
 * to every directory it creates. Each case runs against node:fs on a twin tree.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Ring } from '../../src/index.js';
import { FORMS, call, nodeError, rejection, shapeOf, tmpDir, type TmpDir } from '../helpers/fs-util.js';

const ring = Ring.current();

let tmp: TmpDir;
before(() => {
  tmp = tmpDir('uringkit-mkdir-');
});
after(() => tmp.remove());

let seq = 0;
/** Two identical fresh roots: one for us, one for node:fs. */
function twins(): { ours: string; theirs: string } {
  const n = ++seq;
  const ours = tmp.file(`ours-${n}`);
  const theirs = tmp.file(`node-${n}`);
  fs.mkdirSync(ours);
  fs.mkdirSync(theirs);
  return { ours, theirs };
}

/** node's result with its root replaced by ours, for comparison. */
function mapped(result: string | undefined, from: string, to: string): string | undefined {
  return result === undefined ? undefined : to + result.slice(from.length);
}

describe('mkdir recursive', () => {
  for (const form of FORMS) {
    test(`returns the first directory created, as fs.mkdirSync does (${form})`, async () => {
      const { ours, theirs } = twins();
      for (const rel of ['a/b/c', 'a/b/c', 'a/b/d/e', 'a', 'f']) {
        const expected = mapped(fs.mkdirSync(path.join(theirs, rel), { recursive: true }), theirs, ours);
        const got = await call<string | undefined>(form, ring, 'mkdir', path.join(ours, rel), { recursive: true });
        assert.equal(got, expected, rel);
        assert.ok(fs.statSync(path.join(ours, rel)).isDirectory(), rel);
      }
      assert.equal(await call(form, ring, 'mkdir', ours, { recursive: true }), undefined, 'existing dir');
      assert.equal(await call(form, ring, 'mkdir', '/', { recursive: true }), undefined, 'the root');
    });

    test(`a file as the target: EEXIST; a file in the way: ENOTDIR; both as node reports them (${form})`, async () => {
      const { ours, theirs } = twins();
      for (const root of [ours, theirs]) fs.writeFileSync(path.join(root, 'file'), 'x');
      for (const rel of ['file', 'file/sub', 'file/sub/deeper']) {
        const theirsErr = nodeError(() => fs.mkdirSync(path.join(theirs, rel), { recursive: true }));
        const e = await rejection(call(form, ring, 'mkdir', path.join(ours, rel), { recursive: true }), rel);
        const expected = { ...theirsErr };
        expected.path = mapped(theirsErr.path as string, theirs, ours);
        expected.message = String(theirsErr.message).replace(theirs, ours);
        assert.deepEqual(shapeOf(e), expected, rel);
      }
      assert.equal(fs.readFileSync(path.join(ours, 'file'), 'utf8'), 'x');
    });

    test(`the mode applies to every directory created (${form})`, async () => {
      const { ours } = twins();
      const umask = process.umask();
      const first = await call<string>(form, ring, 'mkdir', path.join(ours, 'm/n/o'), { recursive: true, mode: 0o750 });
      assert.equal(first, path.join(ours, 'm'));
      for (const rel of ['m', 'm/n', 'm/n/o']) {
        assert.equal(fs.statSync(path.join(ours, rel)).mode & 0o777, 0o750 & ~umask, rel);
      }
    });
  }

  test('a relative path: the result is in the form given, as fs.mkdirSync returns it', async () => {
    const { ours, theirs } = twins();
    const relOurs = path.relative(process.cwd(), path.join(ours, 'r/s'));
    const relTheirs = path.relative(process.cwd(), path.join(theirs, 'r/s'));
    assert.ok(!path.isAbsolute(relOurs));
    const expected = fs.mkdirSync(relTheirs, { recursive: true });
    assert.equal(expected, path.relative(process.cwd(), path.join(theirs, 'r')), 'precondition: node keeps it relative');
    const got = await ring.mkdir(relOurs, { recursive: true });
    assert.equal(got, path.relative(process.cwd(), path.join(ours, 'r')));
  });

  test('concurrent recursive mkdirs sharing parents: each reports only what it created itself', async () => {
    const { ours, theirs } = twins();
    const N = 20;
    const theirResults = await Promise.all(Array.from({ length: N },
      (_, i) => fs.promises.mkdir(path.join(theirs, `x/y/z${i}`), { recursive: true })));
    const results = await Promise.all(Array.from({ length: N },
      (_, i) => ring.mkdir(path.join(ours, `x/y/z${i}`), { recursive: true })));
    for (let i = 0; i < N; i++) assert.ok(fs.statSync(path.join(ours, `x/y/z${i}`)).isDirectory());
    // Whatever the interleaving: every directory is created by exactly one call,
    // so no two calls can report the same first directory, and each call
    // created at least its own leaf.
    const reported = results.map((r) => r?.slice(ours.length));
    assert.equal(new Set(reported).size, N, `distinct first directories: ${JSON.stringify(reported)}`);
    assert.equal(reported.filter((r) => r === '/x').length, 1, 'one call created x');
    assert.equal(new Set(theirResults).size, N, 'precondition: node agrees');
  });
});
