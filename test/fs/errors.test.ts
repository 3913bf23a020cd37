/**
 * System errors are shaped like node:fs errors: the same code, negative errno,
 * syscall, path (and dest for two-path operations) and message as the
 * synchronous node:fs call that fails the same way, in both forms.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { Ring, SystemError } from '../../src/index.js';
import { FORMS, call, nodeError, rejection, shapeOf, tmpDir, type Form, type TmpDir } from '../helpers/fs-util.js';

const ring = Ring.current();
const isRoot = process.geteuid?.() === 0;

let tmp: TmpDir;
let file: string;
let dir: string;
let fullDir: string;
before(() => {
  tmp = tmpDir('uringkit-errors-');
  file = tmp.file('file');
  fs.writeFileSync(file, 'data');
  dir = tmp.file('dir');
  fs.mkdirSync(dir);
  fullDir = tmp.file('full');
  fs.mkdirSync(fullDir);
  fs.writeFileSync(`${fullDir}/x`, '');
  fs.symlinkSync('loop-b', tmp.file('loop-a'));
  fs.symlinkSync('loop-a', tmp.file('loop-b'));
});
after(() => tmp.remove());

interface Case {
  name: string;
  code: string;
  /** Our operation, in the given form. */
  ours(form: Form): Promise<unknown>;
  /** The node:fs call that fails the same way (synchronously). */
  node(): unknown;
  /** Runs before each attempt (both ours and node's). */
  setup?(): void;
}

const cases: Case[] = [
  {
    name: 'open a missing file', code: 'ENOENT',
    ours: (f) => call(f, ring, 'open', tmp.file('missing'), 'r', undefined, undefined),
    node: () => fs.openSync(tmp.file('missing'), 'r'),
  },
  {
    name: 'open a path through a file (file/child)', code: 'ENOTDIR',
    ours: (f) => call(f, ring, 'open', `${file}/child`, 'r', undefined, undefined),
    node: () => fs.openSync(`${file}/child`, 'r'),
  },
  {
    name: 'open a directory for writing (r+)', code: 'EISDIR',
    ours: (f) => call(f, ring, 'open', dir, 'r+', undefined, undefined),
    node: () => fs.openSync(dir, 'r+'),
  },
  {
    name: 'open a directory with w (create + truncate)', code: 'EISDIR',
    ours: (f) => call(f, ring, 'open', dir, 'w', undefined, undefined),
    node: () => fs.openSync(dir, 'w'),
  },
  {
    name: 'open with wx on an existing file', code: 'EEXIST',
    ours: (f) => call(f, ring, 'open', file, 'wx', undefined, undefined),
    node: () => fs.openSync(file, 'wx'),
  },
  {
    name: 'open a symlink loop', code: 'ELOOP',
    ours: (f) => call(f, ring, 'open', tmp.file('loop-a'), 'r', undefined, undefined),
    node: () => fs.openSync(tmp.file('loop-a'), 'r'),
  },
  {
    name: 'open a name longer than NAME_MAX', code: 'ENAMETOOLONG',
    ours: (f) => call(f, ring, 'open', tmp.file('n'.repeat(300)), 'r', undefined, undefined),
    node: () => fs.openSync(tmp.file('n'.repeat(300)), 'r'),
  },
  {
    name: 'stat a missing path', code: 'ENOENT',
    ours: (f) => call(f, ring, 'statx', tmp.file('missing'), undefined),
    node: () => fs.statSync(tmp.file('missing')),
  },
  {
    name: 'lstat a missing path', code: 'ENOENT',
    ours: (f) => call(f, ring, 'statx', tmp.file('missing'), { followSymlinks: false }),
    node: () => fs.lstatSync(tmp.file('missing')),
  },
  {
    name: 'unlink a missing path', code: 'ENOENT',
    ours: (f) => call(f, ring, 'unlink', tmp.file('missing'), undefined),
    node: () => fs.unlinkSync(tmp.file('missing')),
  },
  {
    name: 'unlink a directory', code: 'EISDIR',
    ours: (f) => call(f, ring, 'unlink', dir, undefined),
    node: () => fs.unlinkSync(dir),
  },
  {
    name: 'rmdir a non-empty directory', code: 'ENOTEMPTY',
    ours: (f) => call(f, ring, 'rmdir', fullDir, undefined),
    node: () => fs.rmdirSync(fullDir),
  },
  {
    name: 'rmdir a file', code: 'ENOTDIR',
    ours: (f) => call(f, ring, 'rmdir', file, undefined),
    node: () => fs.rmdirSync(file),
  },
  {
    name: 'mkdir an existing path', code: 'EEXIST',
    ours: (f) => call(f, ring, 'mkdir', dir, undefined),
    node: () => fs.mkdirSync(dir),
  },
  {
    name: 'mkdir under a missing parent (not recursive)', code: 'ENOENT',
    ours: (f) => call(f, ring, 'mkdir', tmp.file('no/such'), undefined),
    node: () => fs.mkdirSync(tmp.file('no/such')),
  },
  {
    name: 'rename a missing path (path and dest)', code: 'ENOENT',
    ours: (f) => call(f, ring, 'rename', tmp.file('missing'), tmp.file('elsewhere'), undefined),
    node: () => fs.renameSync(tmp.file('missing'), tmp.file('elsewhere')),
  },
  {
    name: 'rename a directory onto a non-empty directory', code: 'ENOTEMPTY',
    ours: (f) => call(f, ring, 'rename', dir, fullDir, undefined),
    node: () => fs.renameSync(dir, fullDir),
  },
  {
    name: 'rename a file onto a directory', code: 'EISDIR',
    ours: (f) => call(f, ring, 'rename', file, dir, undefined),
    node: () => fs.renameSync(file, dir),
  },
  {
    name: 'link onto an existing path', code: 'EEXIST',
    ours: (f) => call(f, ring, 'link', file, dir, undefined),
    node: () => fs.linkSync(file, dir),
  },
  {
    name: 'link a missing path', code: 'ENOENT',
    ours: (f) => call(f, ring, 'link', tmp.file('missing'), tmp.file('new-link'), undefined),
    node: () => fs.linkSync(tmp.file('missing'), tmp.file('new-link')),
  },
  {
    name: 'link a directory', code: 'EPERM',
    ours: (f) => call(f, ring, 'link', dir, tmp.file('dir-link'), undefined),
    node: () => fs.linkSync(dir, tmp.file('dir-link')),
  },
  {
    name: 'symlink onto an existing path', code: 'EEXIST',
    ours: (f) => call(f, ring, 'symlink', 'anything', file, undefined),
    node: () => fs.symlinkSync('anything', file),
  },
  {
    name: 'symlink in a missing directory', code: 'ENOENT',
    ours: (f) => call(f, ring, 'symlink', file, tmp.file('no/such/link'), undefined),
    node: () => fs.symlinkSync(file, tmp.file('no/such/link')),
  },
];

// EACCES: a mode-000 file for an unprivileged user. Root (CAP_DAC_OVERRIDE)
// bypasses file modes, but not the /proc/sys permission check: a read-only
// sysctl (mode 0444) cannot be opened for writing, even by root.
const eaccesPath = (): string => (isRoot ? '/proc/sys/kernel/osrelease' : tmp.file('noaccess'));
cases.push({
  name: `open for writing without permission (${isRoot ? 'read-only sysctl, as root' : 'mode 000 file'})`,
  code: 'EACCES',
  setup() {
    if (!isRoot) {
      const p = eaccesPath();
      if (!fs.existsSync(p)) fs.writeFileSync(p, 'secret');
      fs.chmodSync(p, 0o000);
    }
  },
  ours: (f) => call(f, ring, 'open', eaccesPath(), 'r+', undefined, undefined),
  node: () => fs.openSync(eaccesPath(), 'r+'),
});

function assertNodeShaped(e: Error, label: string): void {
  assert.ok(e instanceof SystemError, `${label}: a SystemError (${e.constructor.name})`);
  assert.equal(e.name, 'Error', label);
  const x = e as SystemError;
  assert.equal(typeof x.errno, 'number', label);
  assert.ok(x.errno < 0, `${label}: errno ${x.errno} is negative`);
}

describe('system errors match node:fs', () => {
  for (const c of cases) {
    for (const form of FORMS) {
      test(`${c.name}: ${c.code} (${form})`, async () => {
        c.setup?.();
        const theirs = nodeError(c.node);
        assert.equal(theirs.code, c.code, `precondition: node:fs fails with ${c.code}`);
        c.setup?.();
        const e = await rejection(c.ours(form), c.name);
        assertNodeShaped(e, c.name);
        assert.deepEqual(shapeOf(e), theirs);
        assert.ok(typeof e.path === 'string' && e.path.length > 0, 'the error names the path');
      });
    }
  }
});

describe('descriptor errors match node:fs', () => {
  for (const form of FORMS) {
    test(`read on a closed fd: EBADF, syscall read (${form})`, async () => {
      const fd = fs.openSync(file, 'r');
      fs.closeSync(fd);
      const theirs = nodeError(() => fs.readSync(fd, Buffer.alloc(4), 0, 4, 0));
      const e = await rejection(call(form, ring, 'read', fd, Buffer.alloc(4), { position: 0 }));
      assertNodeShaped(e, 'read closed');
      assert.deepEqual(shapeOf(e), theirs);
      assert.equal(e.code, 'EBADF');
      assert.equal(e.syscall, 'read');
    });

    test(`read on a directory fd: EISDIR; write to it: EBADF (${form})`, async () => {
      const dfd = fs.openSync(dir, 'r');
      try {
        const r = await rejection(call(form, ring, 'read', dfd, Buffer.alloc(4), { position: 0 }));
        assertNodeShaped(r, 'read dir');
        assert.deepEqual(shapeOf(r), nodeError(() => fs.readSync(dfd, Buffer.alloc(4), 0, 4, 0)));
        assert.equal(r.code, 'EISDIR');
        const w = await rejection(call(form, ring, 'write', dfd, Buffer.from('x'), { position: 0 }));
        assertNodeShaped(w, 'write dir');
        assert.deepEqual(shapeOf(w), nodeError(() => fs.writeSync(dfd, Buffer.from('x'), 0, 1, 0)));
        assert.equal(w.code, 'EBADF');
        assert.equal(w.syscall, 'write');
      } finally {
        fs.closeSync(dfd);
      }
    });

    test(`write to a read-only fd, read from a write-only fd: EBADF (${form})`, async () => {
      const ro = fs.openSync(file, 'r');
      const wo = fs.openSync(file, 'a');
      try {
        const w = await rejection(call(form, ring, 'write', ro, 'x', { position: 0 }));
        assert.deepEqual(shapeOf(w), nodeError(() => fs.writeSync(ro, 'x', 0)));
        const r = await rejection(call(form, ring, 'read', wo, Buffer.alloc(1), { position: 0 }));
        assert.deepEqual(shapeOf(r), nodeError(() => fs.readSync(wo, Buffer.alloc(1), 0, 1, 0)));
        const v = await rejection(call(form, ring, 'writev', ro, [Buffer.from('x')], { position: 0 }));
        assert.deepEqual(shapeOf(v), nodeError(() => fs.writevSync(ro, [Buffer.from('x')], 0)));
        const rv = await rejection(call(form, ring, 'readv', wo, [Buffer.alloc(1)], { position: 0 }));
        assert.deepEqual(shapeOf(rv), nodeError(() => fs.readvSync(wo, [Buffer.alloc(1)], 0)));
      } finally {
        fs.closeSync(ro);
        fs.closeSync(wo);
      }
      assert.equal(fs.readFileSync(file, 'utf8'), 'data', 'nothing was written');
    });

    test(`fstat on a closed fd: EBADF, syscall fstat (${form})`, async () => {
      const fd = fs.openSync(file, 'r');
      fs.closeSync(fd);
      const e = await rejection(call(form, ring, 'statx', fd, undefined));
      assertNodeShaped(e, 'fstat');
      assert.deepEqual(shapeOf(e), nodeError(() => fs.fstatSync(fd)));
    });
  }
});
